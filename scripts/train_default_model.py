"""Train the default reward model that ships inside the package, from scratch, on the shapes world.

    python scripts/train_default_model.py                    # ~2 CPU-hours budget, writes the assets
    python scripts/train_default_model.py --minutes 10 --out /tmp/rm   # a short trial

What it does, all through unireward's public pieces:
1. `export_shapes(..., explain=True)`: shapes-world records of all four tasks in both modes, each target
   preceded by the oracle's reasoning (see `unireward.data.shapes.explanation`; a one-token verdict teaches
   a from-scratch model too little, as ../shared/DESIGN.md's probes found).
2. `build_tiny_model("qwen2_vl", ...)` with the sizes below.
3. `train_reward_model` (TRL SFTTrainer, answer-only loss) under a wall-clock budget, evaluating the
   in-training model every --eval-every steps on the held-out test split with `shapes_report`, the code
   behind `unireward bench --suite shapes`; the curve is saved as JSONL and PNG.
4. The final model, its `unireward.json` (protocol, decision="generate"), the curve and a model card are
   written to --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "unireward" / "assets" / "default_model"
PROTOCOL = "v1-qwen"  # short verdicts: a tiny model cannot contradict itself ("Image 2 is better than Image 2")


def model_spec():
    from unireward.tiny import TinySpec

    return TinySpec(
        hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=256,
        vision_hidden_size=96, vision_layers=2, vision_heads=4, vocab_size=1024, image_size=112, seed=0,
    )


def headline(metrics: dict) -> dict:
    """The few numbers the curve and the model card show, per task."""
    out = {}
    for key, entry in metrics.items():
        task, _, name = key.partition("/")
        if name in ("pair_without_ties", "pair_with_ties", "point_spearman") and isinstance(entry, dict):
            out[f"{task}/{name}"] = entry.get("value")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "default-model")
    parser.add_argument("--n", type=int, default=3000, help="training records per task and mode")
    parser.add_argument("--minutes", type=float, default=110.0, help="wall-clock training budget")
    parser.add_argument("--max-steps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--eval-n", type=int, default=16, help="held-out pairs and points per task per eval")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoProcessor, TrainerCallback

    from unireward.bench.runner import shapes_report
    from unireward.data.records import Record, export_shapes, load_records, record_example
    from unireward.judge import Judge, JudgeConfig
    from unireward.judge.hf import HFBackend
    from unireward.media import FramePolicy
    from unireward.protocols import get_protocol
    from unireward.tiny import build_tiny_model
    from unireward.train.sft import RewardSFTConfig, train_reward_model

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    frames = FramePolicy(num_frames=8)
    data = args.work / "data"
    if not (data / "records.parquet").exists():
        export_shapes(data, args.n, seed=args.seed, split="train", explain=True)
    protocol = get_protocol(PROTOCOL)
    examples = [record_example(Record.from_row(r), data, protocol) for r in load_records(data)]
    base = build_tiny_model("qwen2_vl", args.work / "base", model_spec())
    processor = AutoProcessor.from_pretrained(base)
    curve_path = args.work / "curve.jsonl"
    curve_path.unlink(missing_ok=True)
    start = time.perf_counter()

    class EvalAndBudget(TrainerCallback):
        """Held-out accuracy against training time; stops training when the budget is spent."""

        def on_step_end(self, targs, state, control, model=None, **kw):
            minutes = (time.perf_counter() - start) / 60
            if state.global_step % args.eval_every == 0 or minutes >= args.minutes:
                model.eval()
                judge = Judge(HFBackend.from_model(model, processor), JudgeConfig(
                    protocol=PROTOCOL, decision="generate", batch_size=16, max_new_tokens=160,
                    frame_policy=frames))
                with torch.no_grad():
                    metrics = shapes_report(judge, args.eval_n, seed=args.seed + 1)
                model.train()
                point = {"step": state.global_step, "minutes": round(minutes, 2), **headline(metrics)}
                with curve_path.open("a") as fh:
                    fh.write(json.dumps(point) + "\n")
                print(json.dumps(point), flush=True)
            if minutes >= args.minutes:
                control.should_training_stop = True

    config = RewardSFTConfig(
        model=str(base), output_dir=str(args.work / "model"), protocol=PROTOCOL, learning_rate=args.lr,
        max_steps=args.max_steps, per_device_batch_size=args.batch_size, lr_scheduler_type="constant_with_warmup",
        warmup_ratio=0.0, logging_steps=50, save_steps=2000, save_total_limit=1, frame_policy=frames,
        seed=args.seed,
    )
    trained = train_reward_model(config, examples, callbacks=[EvalAndBudget()])
    minutes = (time.perf_counter() - start) / 60
    write_assets(Path(trained), args, minutes, curve_path)


def write_assets(trained: Path, args, minutes: float, curve_path: Path) -> None:
    """Copy the model to --out with its metadata, learning curve (JSONL + PNG) and model card."""
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for f in trained.iterdir():
        if f.is_file() and not f.name.startswith(("training_args", "train_log", "log_history")):
            shutil.copy2(f, out / f.name)
    meta = json.loads((trained / "unireward.json").read_text())
    meta.update({
        "protocol": PROTOCOL, "decision": "generate", "training_minutes": round(minutes, 1),
        "command": " ".join(["python", "scripts/train_default_model.py", *sys.argv[1:]]),
        "records_per_task_mode": args.n, "base": "unireward.tiny qwen2_vl (see scripts/train_default_model.py)",
    })
    (out / "unireward.json").write_text(json.dumps(meta, indent=2) + "\n")
    curve = [json.loads(x) for x in curve_path.read_text().splitlines()] if curve_path.exists() else []
    (out / "learning_curve.jsonl").write_text("".join(json.dumps(p) + "\n" for p in curve))
    plot_curve(curve, out / "learning_curve.png")
    last = curve[-1] if curve else {}
    rows = "\n".join(
        f"| {t} | {_pct(last.get(f'{t}/pair_without_ties'))} | {_pct(last.get(f'{t}/pair_with_ties'))} | "
        f"{_num(last.get(f'{t}/point_spearman'))} |"
        for t in ("image_gen", "image_und", "video_gen", "video_und")
    )
    (out / "README.md").write_text(f"""# unireward default model (shapes world)

A tiny Qwen2-VL-architecture reward model trained from scratch on unireward's synthetic shapes world, so
that `load_judge()` and `make demo` work with no downloads. It judges shapes-world images, videos and
answers only: it is a demonstration and test model, not a general reward model.

- protocol `{PROTOCOL}`, decision `generate` (it writes its reasoning, then the verdict or score)
- training: `{meta['command']}`, {minutes:.1f} minutes of CPU, {meta.get('steps')} steps,
  {args.n} records per task and mode (train split), learning rate {args.lr}, batch {args.batch_size}
- accuracy on the held-out test split at the last evaluation ({args.eval_n} pairs and points per task;
  the full figures are in `benchmarks/results/shapes_accuracy.json`):

| task | pair accuracy without ties | with ties | point Spearman |
|---|---|---|---|
{rows}

![learning curve](learning_curve.png)
""")


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def plot_curve(curve: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for task in ("image_gen", "image_und", "video_gen", "video_und"):
        pts = [(p["minutes"], p.get(f"{task}/pair_without_ties")) for p in curve]
        pts = [(m, v) for m, v in pts if v is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=f"{task} pair accuracy")
    ax.axhline(0.95, color="grey", linestyle="--", linewidth=1, label="target 0.95")
    ax.set_xlabel("training minutes (CPU)")
    ax.set_ylabel("held-out pair accuracy (no ties)")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
