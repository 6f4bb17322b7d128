"""Preference-pair quality per selection strategy, on shapes-world candidates whose true scores are known.

For each strategy: reward calls per prompt, pairs per prompt, pairs per call, oracle agreement (share of
emitted pairs whose chosen candidate is truly better, with a 95% Wilson interval), the mean true margin of
the pairs, drop reasons and wall time.

The reward model. The shipped trained model does not exist yet, so by default the judge is SIMULATED:
`unireward.pairs.SimulatedJudge` answers from the shapes oracle with controlled noise — a per-candidate
bias shared by every call on that candidate (a real judge is consistently wrong about some candidates),
independent per-call noise on point scores and on comparisons, a tie band for generation tasks, 2%
unparsable answers and integer point scores (as generate decisions give). Three noise levels are run
(`NOISE_LEVELS`); the simulated judge's own single-call accuracy is reported with each, so the figures can
be read against a real model's benchmark accuracy. Wall time under the simulated judge is the selection
overhead only: with a model, cost is the number of calls. `--model` runs the same comparison with a real
judge on rendered candidates (fewer prompts; slow on CPU).

    python benchmarks/pairs_quality.py                 # writes benchmarks/results/pairs_quality.json
    python benchmarks/pairs_quality.py --model CodeGoat24/UnifiedReward-qwen-7b --protocol v1-qwen \
        --prompts 50
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections import Counter
from pathlib import Path

from unireward.data.shapes import scale
from unireward.pairs import SimulatedJudge, SimulatedNoise, get_strategy, select_many, shapes_prompts
from unireward.tasks import PairItem, PointItem

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = ("image_gen", "image_und", "video_gen", "video_und")
NOISE_LEVELS = {
    "low": SimulatedNoise(bias=0.05, point=0.10, pair=0.05),
    "mid": SimulatedNoise(bias=0.15, point=0.25, pair=0.20),
    "high": SimulatedNoise(bias=0.25, point=0.35, pair=0.35),
}
# (label, strategy, options)
STRATEGIES = (
    ("paper", "paper", {}),
    ("paper[score_break]", "paper", {"tie_policy": "score_break"}),
    ("best_worst", "best_worst", {}),
    ("swiss", "swiss", {}),
    ("swiss[max_pairs=2]", "swiss", {"max_pairs": 2}),
    ("round_robin", "round_robin", {}),
)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(centre - half, 4), round(centre + half, 4))


def evaluate(prompts, judge, label: str, name: str, options: dict, chunk: int = 64) -> dict:
    strategy = get_strategy(name, **options)
    start = time.perf_counter()
    selections = []
    for k in range(0, len(prompts), chunk):
        selections += select_many(strategy, judge, prompts[k : k + chunk])
    wall = time.perf_counter() - start
    agree = ties = pairs = 0
    margins = []
    for p, sel in zip(prompts, selections):
        lo, hi = scale(p.task)
        truth = p.meta["oracle"]
        for cp in sel.pairs:
            pairs += 1
            agree += truth[cp.chosen] > truth[cp.rejected]
            ties += truth[cp.chosen] == truth[cp.rejected]
            margins.append((truth[cp.chosen] - truth[cp.rejected]) / (hi - lo))
    calls = [s.calls for s in selections]
    n = len(prompts)
    return {
        "strategy": label,
        "options": strategy.options(),
        "prompts": n,
        "calls_per_prompt": round(sum(calls) / n, 4),
        "max_calls_per_prompt": max(calls),
        "pairs_per_prompt": round(pairs / n, 4),
        "pairs_per_call": round(pairs / max(1, sum(calls)), 5),
        "oracle_agreement": round(agree / pairs, 4) if pairs else None,
        "agreement_ci95": wilson(agree, pairs),
        "oracle_ties": round(ties / pairs, 4) if pairs else None,
        "mean_true_margin": round(sum(margins) / len(margins), 4) if margins else None,
        "dropped": dict(sorted(Counter(s.dropped for s in selections if s.dropped).items())),
        "ties_seen": sum(s.ties for s in selections),
        "failures_seen": sum(s.failures for s in selections),
        "wall_s": round(wall, 3),
        "ms_per_prompt": round(1000 * wall / n, 3),
    }


def judge_accuracy(prompts, judge) -> dict:
    """Single-call accuracy of the judge on this prompt set: a comparison of two candidates with different
    true scores (ties and failures count as wrong), and the order of two point scores (equal scores wrong)."""
    pair_items, point_items, truth = [], [], []
    for p in prompts:
        o = p.meta["oracle"]
        for a in range(0, len(o) - 1, 2):
            b = a + 1
            if o[a] != o[b]:
                pair_items.append(
                    PairItem(p.task, p.prompt, p.candidates[a], p.candidates[b], p.media, f"{p.id}#{a}-{b}")
                )
                point_items += [
                    PointItem(p.task, p.prompt, p.candidates[i], p.media, f"{p.id}#{i}") for i in (a, b)
                ]
                truth.append("A" if o[a] > o[b] else "B")
    verdicts = judge.rank(pair_items)
    scores = judge.score(point_items)
    pair_ok = sum(v.winner == t for v, t in zip(verdicts, truth))
    point_ok = 0
    for k, t in enumerate(truth):
        sa, sb = scores[2 * k].value, scores[2 * k + 1].value
        if sa is not None and sb is not None and sa != sb:
            point_ok += ("A" if sa > sb else "B") == t
    return {
        "pairs": len(truth),
        "pair_accuracy": round(pair_ok / len(truth), 4),
        "point_order_accuracy": round(point_ok / len(truth), 4),
    }


def pooled(rows: list[dict]) -> dict:
    """Strategy figures pooled over tasks (weighted by prompts and pairs)."""
    out = {}
    for label, _, _ in STRATEGIES:
        mine = [r for r in rows if r["strategy"] == label]
        n = sum(r["prompts"] for r in mine)
        pairs = sum(r["pairs_per_prompt"] * r["prompts"] for r in mine)
        calls = sum(r["calls_per_prompt"] * r["prompts"] for r in mine)
        agree = sum((r["oracle_agreement"] or 0) * r["pairs_per_prompt"] * r["prompts"] for r in mine)
        out[label] = {
            "calls_per_prompt": round(calls / n, 3),
            "pairs_per_prompt": round(pairs / n, 3),
            "pairs_per_call": round(pairs / calls, 4),
            "oracle_agreement": round(agree / pairs, 4) if pairs else None,
            "agreement_ci95": wilson(round(agree), round(pairs)),
        }
    return out


def print_table(title: str, table: dict) -> None:
    print(f"\n{title}")
    head = ("strategy", "calls/prompt", "pairs/prompt", "pairs/call", "agreement", "95% CI")
    print(f"{head[0]:22s} {head[1]:>12s} {head[2]:>12s} {head[3]:>10s} {head[4]:>10s} {head[5]:>14s}")
    for label, r in table.items():
        ci = f"{r['agreement_ci95'][0]:.3f}-{r['agreement_ci95'][1]:.3f}"
        agree = f"{r['oracle_agreement']:.4f}" if r["oracle_agreement"] is not None else "-"
        print(
            f"{label:22s} {r['calls_per_prompt']:12.2f} {r['pairs_per_prompt']:12.3f} "
            f"{r['pairs_per_call']:10.4f} {agree:>10s} {ci:>14s}"
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=400, help="prompts per task (10 candidates each)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--levels", nargs="+", default=list(NOISE_LEVELS), choices=list(NOISE_LEVELS))
    parser.add_argument("--model", default=None, help="a real reward model instead of the simulated judge")
    parser.add_argument("--protocol", default=None)
    parser.add_argument("--decision", default="logits")
    parser.add_argument("--output", default=str(RESULTS / "pairs_quality.json"))
    args = parser.parse_args(argv)

    result: dict = {
        "benchmark": "pairs_quality",
        "candidates": f"shapes world, seed {args.seed}, train split, 10 candidates per prompt",
        "prompts_per_task": args.prompts,
        "tasks": args.tasks,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "runs": [],
    }
    if args.model:
        from unireward.judge import load_judge

        judge = load_judge(args.model, protocol=args.protocol, decision=args.decision)
        prompts = {t: shapes_prompts(t, args.prompts, seed=args.seed) for t in args.tasks}
        settings = [("model", judge, prompts)]
        result["judge"] = judge.describe()
    else:
        prompts = {t: shapes_prompts(t, args.prompts, seed=args.seed, render=False) for t in args.tasks}
        settings = []
        for level in args.levels:
            judges = {
                t: SimulatedJudge.from_prompts(prompts[t], noise=NOISE_LEVELS[level], seed=args.seed)
                for t in args.tasks
            }
            settings.append((level, judges, prompts))
        result["judge"] = {"simulated": {k: vars(v) for k, v in NOISE_LEVELS.items() if k in args.levels}}

    for level, judges, prompt_sets in settings:
        rows, accuracy = [], {}
        for task in args.tasks:
            judge = judges if args.model else judges[task]
            accuracy[task] = judge_accuracy(prompt_sets[task], judge)
            for label, name, options in STRATEGIES:
                row = evaluate(prompt_sets[task], judge, label, name, options)
                row["task"] = task
                rows.append(row)
                if name == "paper":
                    assert row["max_calls_per_prompt"] == 15 and row["calls_per_prompt"] == 15
        table = pooled(rows)
        result["runs"].append({"judge": level, "judge_accuracy": accuracy, "pooled": table, "per_task": rows})
        acc = ", ".join(
            f"{t} {a['pair_accuracy']:.2f}/{a['point_order_accuracy']:.2f}" for t, a in accuracy.items()
        )
        print_table(f"judge: {level}  (single-call pair / point-order accuracy: {acc})", table)

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n-> {out}")
    return result


if __name__ == "__main__":
    main()
