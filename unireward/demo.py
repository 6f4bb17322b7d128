"""`make demo`: judge shapes-world examples of all four tasks and print verdicts next to the truth.

Uses the shipped default model when it exists. Until it does, a tiny *untrained* model is built on the
spot so the whole path (media, protocol, batching, both decisions) runs; its verdicts are chance-level
and the output says so.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from unireward.data.shapes import ShapesWorld
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="checkpoint to use instead of the default model")
    parser.add_argument("--per-task", type=int, default=4, help="examples per task and mode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from unireward.judge import load_judge

    model, trained = _model(args.model)
    if not trained:
        print(
            "NOTE: no trained default model is shipped yet; using a tiny UNTRAINED model.\n"
            "      Verdicts below are chance-level: this run shows the pipeline, not judgement.\n"
        )
    judge = load_judge(model)
    print(f"model: {model}  protocol: {judge.protocol.name}  decision: {judge.config.decision}\n")
    world = ShapesWorld(seed=args.seed)
    start = time.perf_counter()
    agree = total = 0
    for task in Task:
        examples = [world.pair_example(task) for _ in range(args.per_task)]
        verdicts = judge.rank([e.item for e in examples], swap=True)
        asked = "caption" if task.is_generation else "question"
        print(f"== {task.value}: pair ranking ({asked} | truth | verdict)")
        for e, v in zip(examples, verdicts):
            probs = " ".join(f"{k}={p:.2f}" for k, p in (v.probs or {}).items())
            print(f"  {e.item.prompt[:48]:48s} | {e.label:3s} | {v.winner or 'FAILED'} ({probs})")
            agree += v.winner == e.label
            total += 1
        points = [world.point_example(task) for _ in range(args.per_task)]
        scores = judge.score([p.item for p in points])
        lo, hi = judge.protocol.scale(task)
        print(f"== {task.value}: point scoring on {lo:g}-{hi:g} (truth -> score)")
        for p, s in zip(points, scores):
            value = f"{s.value:.2f}" if s.ok else f"FAILED: {s.failure.message}"
            print(f"  {p.item.prompt[:48]:48s} | {p.score:g} -> {value}")
        print()
    print(f"pair verdicts agreeing with the oracle: {agree}/{total}; {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
