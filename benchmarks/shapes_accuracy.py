"""Shapes-world accuracy of a reward model: pair accuracy with and without ties, point-score Spearman.

The numbers come from `unireward.bench.runner.shapes_predictions` and `compute_metrics`, the code behind
`unireward bench --suite shapes`, so both agree for the same model, --n and --seed. The test split holds
colour x shape combinations never seen in training (see `unireward.data.shapes.HELD_OUT`).

    python benchmarks/shapes_accuracy.py --model rm/ --n 200   # -> benchmarks/results/shapes_accuracy.json

    python benchmarks/shapes_accuracy.py --split train --seed 7  # -> results/shapes_accuracy_train_split.json

`--predictions rows.jsonl` also keeps every item's prediction (the rows of `unireward bench`'s
predictions.jsonl), so two models judged on the same --n and --seed can be compared item by item with
`unireward.bench.runner.paired_bootstrap`, whose interval of the difference is far narrower than two
separate intervals.

`--split train --seed 7` is a diagnostic, not the held-out score: fresh draws (new seed, new renders) under
the training rules, so colour x shape combinations are ones seen in training. The gap to the test split
measures compositional generalisation. Both result files record the command that wrote them; `make bench`
runs both.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _results import result_header, write_result

from unireward.bench.loaders import BENCH_FRAME_POLICY
from unireward.bench.runner import compute_metrics, shapes_predictions
from unireward.judge import load_judge

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="checkpoint directory or hub id (default: the shipped model)")
    parser.add_argument(
        "--n", type=int, default=200, help="pairs and points per task (50 leaves about ±7 points of noise)"
    )
    parser.add_argument("--seed", type=int, default=0, help="shapes-world seed")
    parser.add_argument("--protocol", default=None)
    parser.add_argument(
        "--decision",
        default=None,
        choices=("logits", "generate", "reason"),
        help="default: the model's recorded choice, else logits",
    )
    parser.add_argument(
        "--swap",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also judge each pair as (b, a) and combine the two (2 calls per pair; see Judge.rank); "
        "default: as the model records (with no --decision), else off",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--samples",
        type=int,
        default=1,
        help="answers sampled per item and averaged, where the decision generates (1: greedy; see "
        "unireward.judge.core); costs that many times the generation",
    )
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature for --samples")
    parser.add_argument(
        "--split",
        default="test",
        choices=("test", "train"),
        help="test: held-out colour x shape pairs (the score); train: fresh draws of seen pairs (diagnostic)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default: results/shapes_accuracy[_<split>_split].json"
    )
    parser.add_argument(
        "--predictions", type=Path, default=None, help="also write every item's prediction row here (JSONL)"
    )
    args = parser.parse_args(argv)
    if args.out is None:
        suffix = "" if args.split == "test" else f"_{args.split}_split"
        args.out = RESULTS / f"shapes_accuracy{suffix}.json"

    judge = load_judge(
        args.model,
        protocol=args.protocol,
        decision=args.decision,
        swap=args.swap,
        batch_size=args.batch_size,
        frame_policy=BENCH_FRAME_POLICY,
        samples=args.samples,
        temperature=args.temperature,
    )
    start = time.perf_counter()
    suite, rows = shapes_predictions(judge, args.n, args.seed, split=args.split)
    metrics = compute_metrics(suite, rows)
    result = result_header(__file__, argv, judge, start, n_per_task=args.n, seed=args.seed, split=args.split)
    result["metrics"] = metrics
    how = result["model"]  # the judge's describe(), as recorded
    print(
        f"model {how.get('model')}  protocol {how['protocol']}  decision {how['decision']}  "
        f"swap {how['swap']}  points {how['point_decision']}"
    )
    print(f"{'task':<10} {'pair w/o ties':>14} {'pair w/ ties':>13} {'eps':>7} {'spearman':>9}")
    for task in dict.fromkeys(k.split("/")[0] for k in metrics):
        wo = metrics.get(f"{task}/pair_without_ties", {})
        wt = metrics.get(f"{task}/pair_with_ties", {})
        sp = metrics.get(f"{task}/point_spearman", {})

        def pct(e: dict) -> str:
            return "n/a" if e.get("value") is None else f"{100 * e['value']:.1f}%"

        rho = "n/a" if sp.get("value") is None else f"{sp['value']:.3f}"
        print(f"{task:<10} {pct(wo):>14} {pct(wt):>13} {wt.get('epsilon', float('nan')):>7.3f} {rho:>9}")
    write_result(args.out, result)
    if args.predictions:
        args.predictions.parent.mkdir(parents=True, exist_ok=True)
        args.predictions.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
    return result


if __name__ == "__main__":
    main()
