"""RL integrations: a TRL GRPO reward function backed by `unireward serve` or by a local judge.

    reward = make_grpo_reward(url="http://127.0.0.1:8000", task="image_und")
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=dataset, args=GRPOConfig(...))

The reward is an async callable with TRL's reward signature `(prompts, completions, **kwargs) -> list[float]`
(TRL runs async rewards on its own event loop). Understanding tasks only: TRL completions are texts.

- point mode: each completion is scored alone against its prompt and the row's image (or video); the reward
  is the score on the protocol's scale.
- pair mode (Pref-GRPO style): completions of one prompt form a group (TRL repeats each prompt
  `num_generations` times in a row); every pair in a group is ranked and a completion's reward is its mean
  win share (P(win) + P(tie)/2 with logit decisions, 1 / 0.5 / 0 with generate).

Media come from the `images` (or `image`, `videos`, `video`) column, else from image parts of a
conversational prompt. A NaN reward raises; a failed item raises unless `on_failure="none"` (the reward is
then None, which TRL leaves out of that row's sum).
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
import os
from collections.abc import Sequence
from typing import Any

from unireward.tasks import PairItem, PointItem, Task

ON_FAILURE = ("raise", "none")
MODES = ("point", "pair")
_RETRY_STATUS = (429, 502, 503, 504)


class RewardClient:
    """Async client of `unireward serve`: chunks items into requests, bounded concurrency, retries with
    exponential backoff on connection errors, timeouts and 429/502/503/504; other HTTP errors raise."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        concurrency: int = 8,
        request_items: int = 16,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        if concurrency < 1 or request_items < 1 or retries < 0:
            raise ValueError("concurrency and request_items must be >= 1 and retries >= 0")
        self.url = url.rstrip("/")
        self.token = token
        self.concurrency, self.request_items = concurrency, request_items
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s

    async def score(self, items: Sequence[PointItem], decision: str | None = None) -> list[dict]:
        return await self._send("/v1/score", [point_payload(it) for it in items], {"decision": decision})

    async def rank(self, items: Sequence[PairItem], decision: str | None = None) -> list[dict]:
        return await self._send("/v1/rank", [pair_payload(it) for it in items], {"decision": decision})

    async def _send(self, path: str, payloads: list[dict], extra: dict) -> list[dict]:
        import httpx

        extra = {k: v for k, v in extra.items() if v is not None}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        chunks = [payloads[k : k + self.request_items] for k in range(0, len(payloads), self.request_items)]
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=self.timeout_s, limits=limits
        ) as c:

            async def post(chunk: list[dict]) -> list[dict]:
                async with gate:
                    return await self._post(c, path, {"items": chunk, **extra}, len(chunk))

            parts = await asyncio.gather(*(post(ch) for ch in chunks))
        return [r for part in parts for r in part]

    async def _post(self, client: Any, path: str, body: dict, n: int) -> list[dict]:
        import httpx

        error = ""
        for attempt in range(self.retries + 1):
            try:
                response = await client.post(path, json=body)
            except httpx.TransportError as e:  # connection refused / reset, timeouts
                error = f"{type(e).__name__}: {e}"
            else:
                if response.status_code == 200:
                    results = response.json()["results"]
                    if len(results) != n:
                        raise RuntimeError(f"{self.url}{path} answered {len(results)} results for {n} items")
                    return results
                error = f"HTTP {response.status_code}: {_detail(response)}"
                if response.status_code not in _RETRY_STATUS:
                    raise RuntimeError(f"unireward server {self.url}{path} refused the request: {error}")
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        raise RuntimeError(
            f"unireward server {self.url}{path} failed {self.retries + 1} times (last: {error}); "
            "is `unireward serve` running and reachable?"
        )


def _detail(response: Any) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:500]


# ----------------------------------------------------------------------------------------------------------
# Items to JSON


def encode_media(value: Any) -> Any:
    """A media value as a server media field: PIL images and arrays as PNG base64, bytes as base64, `data:`
    URLs as they are, other strings and paths as `{"path": ...}` (read under the server's media root)."""
    from PIL import Image

    if isinstance(value, (list, tuple)):
        return [encode_media(v) for v in value]
    if hasattr(value, "__array__") and not isinstance(value, Image.Image):
        import numpy as np

        value = Image.fromarray(np.asarray(value))
    if isinstance(value, Image.Image):
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        value = buf.getvalue()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, str) and value.startswith("data:"):
        return value
    if isinstance(value, (str, os.PathLike)):
        return {"path": os.fspath(value)}
    raise TypeError(f"cannot send media of type {type(value).__name__}; pass a PIL image, bytes or a path")


def point_payload(item: PointItem) -> dict:
    gen = item.task.is_generation
    return {
        "task": item.task.value,
        "prompt": item.prompt,
        "candidate": encode_media(item.candidate) if gen else item.candidate,
        "media": None if item.media is None else encode_media(item.media),
        "id": item.id,
    }


def pair_payload(item: PairItem) -> dict:
    gen = item.task.is_generation
    return {
        "task": item.task.value,
        "prompt": item.prompt,
        "a": encode_media(item.a) if gen else item.a,
        "b": encode_media(item.b) if gen else item.b,
        "media": None if item.media is None else encode_media(item.media),
        "id": item.id,
    }


# ----------------------------------------------------------------------------------------------------------
# TRL inputs


def _text(message: Any) -> str:
    """Plain text of a TRL prompt or completion: a string, or a conversation (the last user turn of a prompt,
    the assistant turns of a completion)."""
    if isinstance(message, str):
        return message
    if isinstance(message, list):
        turns = [m for m in message if isinstance(m, dict)]
        users = [m for m in turns if m.get("role") == "user"]
        picked = users[-1:] if users else [m for m in turns if m.get("role") == "assistant"] or turns
        return "\n".join(_content_text(m.get("content")) for m in picked).strip()
    raise TypeError(f"expected a string or a list of messages, got {type(message).__name__}")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text"
    )


def _prompt_images(prompt: Any) -> list:
    if not isinstance(prompt, list):
        return []
    return [
        p["image"]
        for m in prompt
        if isinstance(m, dict) and isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and p.get("type") == "image" and p.get("image") is not None
    ]


def _row_media(task: Task, prompt: Any, kwargs: dict, i: int) -> Any:
    names = ("videos", "video") if task.is_video else ("images", "image")
    for name in names:
        column = kwargs.get(name)
        if column is None:
            continue
        value = column[i]
        if name in ("images", "videos") and isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise ValueError(
                    f"row {i}: the {name!r} column holds {len(value)} entries; the {task.value} protocol "
                    "judges one image or video per item"
                )
            value = value[0]
        if value is not None:
            return value
    found = _prompt_images(prompt)
    if len(found) == 1 and not task.is_video:
        return found[0]
    raise ValueError(
        f"row {i}: no {'video' if task.is_video else 'image'} for {task.value}; add an "
        f"{names[0]!r} column to the dataset (or one image part in the prompt)"
    )


# ----------------------------------------------------------------------------------------------------------
# The reward function


class GRPOReward:
    """TRL reward function (async, picklable when it talks to a server). Build it with `make_grpo_reward`."""

    __name__ = "unireward"

    def __init__(
        self,
        *,
        url: str | None,
        judge: Any,
        task: str,
        mode: str,
        token: str | None,
        concurrency: int,
        decision: str | None,
        on_failure: str,
        timeout_s: float,
        retries: int,
        backoff_s: float,
    ) -> None:
        if (url is None) == (judge is None):
            raise ValueError(
                "give exactly one of url= (a running `unireward serve`) or judge= (a local Judge)"
            )
        self.task = Task.parse(task)
        if self.task.is_generation:
            raise ValueError(
                f"{self.task.value}: TRL GRPO completions are texts, so the reward judges answers; use "
                "image_und or video_und (for image generation RL see docs/rl.md, Flow-GRPO)"
            )
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if on_failure not in ON_FAILURE:
            raise ValueError(f"on_failure must be one of {ON_FAILURE}, got {on_failure!r}")
        self.judge, self.mode, self.decision, self.on_failure = judge, mode, decision, on_failure
        self.client = None
        if url is not None:
            self.client = RewardClient(
                url,
                token=token,
                concurrency=concurrency,
                timeout_s=timeout_s,
                retries=retries,
                backoff_s=backoff_s,
            )

    async def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        questions = [_text(p) for p in prompts]
        answers = [_text(c) for c in completions]
        media = [_row_media(self.task, p, kwargs, i) for i, p in enumerate(prompts)]
        if self.mode == "point":
            items = [
                PointItem(self.task, q, a, m, str(i))
                for i, (q, a, m) in enumerate(zip(questions, answers, media))
            ]
            results = await self._judge("point", items)
            return [self._value(r, r.get("value")) for r in results]
        groups = _groups(questions)
        pairs, owners = [], []
        for group in groups:
            for x, i in enumerate(group):
                for j in group[x + 1 :]:
                    pairs.append(
                        PairItem(self.task, questions[i], answers[i], answers[j], media[i], f"{i}:{j}")
                    )
                    owners.append((i, j))
        verdicts = await self._judge("pair", pairs)
        wins: list[list[float]] = [[] for _ in prompts]
        for (i, j), v in zip(owners, verdicts):
            share = self._value(v, _win_share(v))
            if share is not None:
                wins[i].append(share)
                wins[j].append(1.0 - share)
        return [sum(w) / len(w) if w else None for w in wins]

    async def _judge(self, kind: str, items: list) -> list[dict]:
        if self.client is not None:
            call = self.client.rank if kind == "pair" else self.client.score
            return await call(items, decision=self.decision)
        method = self.judge.rank if kind == "pair" else self.judge.score
        results = await asyncio.to_thread(method, items, decision=self.decision)
        return [r.to_dict() for r in results]

    def _value(self, result: dict, value: float | None) -> float | None:
        failure = result.get("failure") or {}
        if (value is not None and math.isnan(value)) or failure.get("kind") == "nan":
            raise FloatingPointError(
                f"NaN reward for item {result.get('id')} ({failure.get('message', 'NaN value')}): "
                "the reward model is broken"
            )
        if value is None or failure:
            if self.on_failure == "raise":
                kind, message = failure.get("kind"), failure.get("message")
                raise RuntimeError(
                    f"reward item {result.get('id')} failed ({kind}: {message}); fix the input"
                    ", or pass on_failure='none' to leave failed items out of the reward"
                )
            return None
        return float(value)


def _groups(questions: list[str]) -> list[list[int]]:
    """Runs of consecutive rows with the same prompt (TRL repeats each prompt num_generations times)."""
    groups: list[list[int]] = []
    for i, q in enumerate(questions):
        if groups and questions[groups[-1][0]] == q:
            groups[-1].append(i)
        else:
            groups.append([i])
    if any(len(g) < 2 for g in groups):
        raise ValueError("pair mode compares completions of one prompt: set num_generations >= 2")
    return groups


def _win_share(verdict: dict) -> float | None:
    """A's share of the win: P(A) + P(tie)/2 when probabilities are known, else from the winner."""
    probs = verdict.get("probs")
    if probs:
        return probs["A"] + probs.get("tie", 0.0) / 2
    return {"A": 1.0, "B": 0.0, "tie": 0.5}.get(verdict.get("winner"))


def make_grpo_reward(
    url: str | None = None,
    judge: Any = None,
    task: str = "image_und",
    mode: str = "point",
    token: str | None = None,
    concurrency: int = 8,
    *,
    decision: str | None = None,
    on_failure: str = "raise",
    timeout_s: float = 120.0,
    retries: int = 3,
    backoff_s: float = 0.5,
) -> GRPOReward:
    """A TRL GRPO reward function judging completions with unireward.

    url: a running `unireward serve` (e.g. "http://127.0.0.1:8000"), or judge: a local Judge (in a thread).
    task: image_und | video_und. mode: "point" (score each completion) | "pair" (win share within its group).
    token: the server's bearer token. concurrency: requests in flight at once. decision: logits | generate
    (default: the judge's). on_failure: "raise" | "none" (failed items get None, which TRL skips).
    """
    return GRPOReward(
        url=url, judge=judge, task=task, mode=mode, token=token, concurrency=concurrency, decision=decision,
        on_failure=on_failure, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
    )  # fmt: skip
