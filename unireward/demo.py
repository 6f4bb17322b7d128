"""`make demo`: the main job end to end on the shapes world, where the truth is known.

For each of the four tasks: shapes-world prompts with 10 candidates each (held-out test split), DPO pairs
built with the paper's procedure (5 pair rankings + 10 point scores per prompt) by the reward model,
datasets exported, an HTML report written, and a summary of how often the chosen candidate is truly better
by the world's exact oracle.

Uses the shipped default model (unireward/assets/default_model; its card gives its measured accuracy). If
that folder is missing, a tiny *untrained* model is built on the spot so the whole path still runs; its
pairs are chance-level and the output says so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from unireward.tasks import Task


def _model(path: str | None) -> tuple[str, bool]:
    if path:
        return path, True
    from unireward.judge import DEFAULT_MODEL_DIR

    if (DEFAULT_MODEL_DIR / "config.json").exists():
        return str(DEFAULT_MODEL_DIR), True
    from unireward.tiny import build_tiny_model

    cache = Path(".cache/unireward/tiny-untrained-qwen2_vl")
    if not (cache / "config.json").exists():
        build_tiny_model("qwen2_vl", cache)
    return str(cache), False


def oracle_agreement(records: list[dict]) -> tuple[int, int]:
    """(pairs whose chosen candidate has a strictly higher oracle score, pairs)."""
    good = total = 0
    for r in records:
        truth = r["meta"]["oracle"]
        for p in r["pairs"]:
            total += 1
            good += truth[p["chosen"]] > truth[p["rejected"]]
    return good, total


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="reward model checkpoint instead of the default model")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per task (10 candidates each)")
    parser.add_argument("--strategy", default="paper", help="paper | best_worst | swiss | round_robin")
    parser.add_argument("--out", default="runs/demo", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--resume", action="store_true", help="continue the runs in --out instead of starting them afresh"
    )
    args = parser.parse_args(argv)

    import torch

    from unireward.judge import load_judge
    from unireward.pairs import PairsConfig, run_pairs, write_report, write_shapes_candidates
    from unireward.pairs.runner import read_log

    torch.set_num_threads(1)  # tiny models: a second thread only adds contention
    model, trained = _model(args.model)
    if not trained:
        print(
            "NOTE: no default model found (unireward/assets/default_model); using a tiny UNTRAINED model.\n"
            "      Pairs below are chance-level: this run shows the pipeline, not judgement.\n"
        )
    judge = load_judge(model, batch_size=16)
    out = Path(args.out)
    start = time.perf_counter()
    summary: dict = {"model": model, "trained": trained, "strategy": args.strategy, "tasks": {}}
    cfg = judge.config
    print(f"reward model: {model} (protocol {cfg.protocol}, decision {cfg.decision}, swap {cfg.swap})")
    print(
        f"{'task':10s} {'prompts':>7s} {'pairs':>5s} {'calls/prompt':>12s} {'ties':>4s} {'failed':>6s} "
        f"{'chosen truly better':>20s}"
    )
    for task in Task:
        task_dir = out / task.value
        if not args.resume and (task_dir / "pairs").exists():
            shutil.rmtree(task_dir / "pairs")  # the demo's own output: a rerun starts afresh
        manifest = write_shapes_candidates(
            task_dir / "candidates", task, args.prompts, seed=args.seed, split="test"
        )
        config = PairsConfig(
            output_dir=str(task_dir / "pairs"),
            candidates=str(manifest),
            strategy=args.strategy,
            model=model,
            progress=False,
        )
        result = run_pairs(config, judge=judge)
        records = read_log(result.records, repair=False)
        good, total = oracle_agreement(records)
        share = f"{good}/{total} ({good / total:.0%})" if total else "no pairs"
        per_prompt = result.calls / max(1, result.prompts)
        print(
            f"{task.value:10s} {result.prompts:7d} {result.pairs:5d} {per_prompt:12.1f} "
            f"{result.ties:4d} {result.failures:6d} {share:>20s}"
        )
        summary["tasks"][task.value] = {
            "prompts": result.prompts,
            "pairs": result.pairs,
            "calls": result.calls,
            "ties": result.ties,
            "failures": result.failures,
            "chosen_truly_better": good,
            "dropped": result.dropped,
            "exports": str(task_dir / "pairs" / "export"),
        }
        summary["tasks"][task.value]["report"] = str(write_report(task_dir / "pairs"))
    summary["seconds"] = round(time.perf_counter() - start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    reports = [t["report"] for t in summary["tasks"].values()]
    print(f"\n{summary['seconds']} s. Datasets under {out}/<task>/pairs/export; summary {out}/summary.json")
    print("HTML reports: " + ", ".join(reports))
    return summary


if __name__ == "__main__":
    main()
