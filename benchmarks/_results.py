"""The fields every judge benchmark's result file records beside its numbers."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any


def rerun_command(script: str, argv: list[str] | None) -> str:
    """The command that reruns a benchmark: `python benchmarks/<script> <its arguments>`."""
    args = argv if argv is not None else sys.argv[1:]
    return " ".join(["python", f"benchmarks/{Path(script).name}", *args])


def result_header(script: str, argv: list[str] | None, judge: Any, start: float, **fields: Any) -> dict:
    """`benchmark`, the `command` that reruns it (`python benchmarks/<script> ...`), the judge's `model`,
    then `fields`, the `seconds` since `start` (a `time.perf_counter()` reading) and the `platform`."""
    return {
        "benchmark": Path(script).stem,
        "command": rerun_command(script, argv),
        "model": judge.describe(),
        **fields,
        "seconds": round(time.perf_counter() - start, 2),
        "platform": platform.platform(),
    }


def write_result(out: Path, result: dict) -> None:
    """Write `result` as indented JSON to `out` (making its folder) and say where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")


def shapes_probe_parser(doc: str, name: str, *, n: int, n_help: str, seed: int) -> argparse.ArgumentParser:
    """The arguments every shapes-world probe of a judge takes (`--model`, `--n`, `--seed`, `--split`,
    `--out`, the last by default `results/<name>.json`), with the script's docstring as its help; each
    script adds its own after them."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint directory (default: the shipped model)")
    parser.add_argument("--n", type=int, default=n, help=n_help)
    parser.add_argument("--seed", type=int, default=seed, help="shapes-world seed")
    parser.add_argument("--split", default="test", choices=("test", "train"))
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / f"{name}.json"
    )
    return parser
