"""What a judge needs from a model backend: generate text, or score short continuations.

A backend receives conversations whose media are already loaded and validated (`Prepared`), so it
never sees a broken item. `hf` (transformers, in process) lives in `hf.py`; server backends (vLLM /
SGLang through the OpenAI API) implement the same two methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol as TypingProtocol

from PIL import Image


@dataclass
class Prepared:
    """A conversation with its media loaded: `images` and `videos` (lists of frames) in placeholder order."""

    messages: list[dict]
    images: list[Image.Image] = field(default_factory=list)
    videos: list[list[Image.Image]] = field(default_factory=list)

    def cost(self) -> int:
        """A rough size used for length bucketing: text characters plus pixels, in comparable units."""
        text = sum(len(p.get("text", "")) for m in self.messages for p in _parts(m))
        pixels = sum(i.width * i.height for i in self.images)
        pixels += sum(f.width * f.height for v in self.videos for f in v)
        return text + pixels // 64


def _parts(message: dict) -> list[dict]:
    content = message["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


# Tokens chat models emit after an answer, most common first. Training ends every target with the first
# one a tokenizer has and the judge ends every scored continuation with it, so both must read this list.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_utterance>", "<end_of_turn>")


def end_of_turn_id(tokenizer) -> int:
    """The token a chat model emits after its answer (so that "1" and "10" are different answers)."""
    for token in END_OF_TURN_TOKENS:
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            return tid
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no end-of-turn or eos token; the model could not learn to stop")
    return tokenizer.eos_token_id


class Backend(TypingProtocol):
    name: str
    frame_multiple: int  # videos must have a multiple of this many frames (2 for Qwen-VL)

    def generate(
        self, batch: list[Prepared], max_new_tokens: int, temperature: float = 0.0, seed: int | None = None
    ) -> list[str]:
        """One answer per conversation: greedy at temperature 0, else sampled (seeded when `seed` is given).
        The judge passes temperature and seed only when it samples, so a greedy-only backend still works."""
        ...

    def continuation_logprobs(
        self, batch: list[Prepared], continuations: list[list[str]]
    ) -> list[list[float]]:
        """log P(continuation | conversation) for each conversation's candidate continuations.

        Only the tokens needed to tell the candidates apart are scored (see hf.py), which is what a
        decision between them needs and costs one forward pass for verdicts.
        """
        ...

    def describe(self) -> dict:
        """Model identity for provenance (name or path, architecture, dtype)."""
        ...
