"""The fields every judge benchmark's result file records beside its numbers."""

from __future__ import annotations

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
