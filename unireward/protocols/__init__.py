"""Protocol families: how to prompt a reward model and how to read its answer.

- "v1": UnifiedReward v1 (LLaVA checkpoints), long verdicts `Image 1 is better than Image 2.`
- "v1-qwen": the same formats with the Qwen family's short verdicts `Image 1 is better.`
- "v2": UnifiedReward 2.0 pair-score and point-score formats (understanding tasks use v1)
- "think": UnifiedReward-Think `<think>…</think><answer>…</answer>` pairs (point mode uses v1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unireward.protocols.base import Conversation, ParsedPair, ParsedPoint, PointChoices, Protocol
from unireward.protocols.parsing import ParseError
from unireward.protocols.think import ThinkProtocol, format_ok
from unireward.protocols.v1 import V1Protocol
from unireward.protocols.v2 import V2Protocol

DEFAULT_PROTOCOL = "v1"

_PROTOCOLS: dict[str, Callable[..., Protocol]] = {
    "v1": lambda **options: V1Protocol(verdicts="long", **options),
    "v1-qwen": lambda **options: V1Protocol(verdicts="short", **options),
    "v2": V2Protocol,
    "think": ThinkProtocol,
}
PROTOCOL_NAMES: tuple[str, ...] = tuple(_PROTOCOLS)


def get_protocol(name: str, **options: Any) -> Protocol:
    """A protocol by name; `options` go to its constructor (e.g. v1's `image_gen_point_scale=(1, 10)`)."""
    try:
        factory = _PROTOCOLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown protocol {name!r}; choose one of: {', '.join(PROTOCOL_NAMES)}") from None
    return factory(**options)


__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOL_NAMES",
    "Conversation",
    "ParseError",
    "ParsedPair",
    "ParsedPoint",
    "PointChoices",
    "Protocol",
    "ThinkProtocol",
    "V1Protocol",
    "V2Protocol",
    "format_ok",
    "get_protocol",
]
