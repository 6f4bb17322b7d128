"""HTTP reward server (`unireward serve`) and RL integrations (TRL GRPO reward function).

`create_app`, `ServeConfig` and `MicroBatcher` load FastAPI on first use, so the command line starts
without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MicroBatcher", "ServeConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from unireward.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'unireward.serve' has no attribute {name!r}")
