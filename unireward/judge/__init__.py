"""Judges: a reward model behind a backend, asked through a protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unireward.judge.core import DECISIONS, Judge, JudgeConfig
from unireward.media import FramePolicy

BACKENDS = ("hf", "openai")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "default_model"


def default_model_path() -> Path:
    """The reward model shipped inside the package (trained on the shapes world)."""
    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        raise FileNotFoundError(
            f"no default model at {DEFAULT_MODEL_DIR}; pass model=<path or hub id>, "
            "e.g. load_judge('CodeGoat24/UnifiedReward-qwen-7b', protocol='v1-qwen')"
        )
    return DEFAULT_MODEL_DIR


def load_judge(
    model: str | Path | None = None,
    *,
    backend: str = "hf",
    protocol: str | None = None,
    decision: str | None = None,
    swap: bool | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 512,
    frame_policy: FramePolicy | None = None,
    samples: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    **backend_kwargs: Any,
) -> Judge:
    """Load a reward model and wrap it in a Judge.

    model: a local checkpoint directory or a hub id; None loads the shipped default model.
    backend: "hf" (transformers in process; options dtype, device, device_map, attn_implementation,
    trust_remote_code pass through) or "openai" (a vLLM / SGLang server: `model` is the served model name,
    `base_url` one URL or a list to shard over; OpenAIBackend options such as api_key, concurrency,
    timeout_s, retries, frame_multiple=2 for Qwen-VL pass through).
    protocol: "v1", "v1-qwen", "v2" or "think"; None reads `unireward.json` next to the model if present,
    else "v1".
    decision: "logits", "generate" or "reason" (see unireward.judge.core); None takes the model's recorded
    choice (a model trained to reason before its verdict records "generate" or "reason"), else "logits".
    The recorded choice is a whole: with decision None, the model's recorded `point_decision` and `swap`
    come with it (the shipped model ranks by "reason" in both orders and scores by "generate"); a decision
    passed here is used for ranking and scoring alike, with `swap` as passed (default off).
    samples, temperature, seed: test-time agreement where the decision generates: `samples` answers per
    item drawn at `temperature` and averaged (see unireward.judge.core); 1 keeps greedy decoding.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = default_model_path() if model is None and backend == "hf" else model
    meta = model_meta(path) if path is not None else {}
    protocol = protocol or meta.get("protocol") or "v1"
    recorded = meta if decision is None else {}
    config = JudgeConfig(
        protocol=protocol,
        decision=decision or recorded.get("decision") or "logits",
        point_decision=recorded.get("point_decision"),
        swap=bool(recorded.get("swap", False)) if swap is None else swap,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        frame_policy=frame_policy or FramePolicy(),
        samples=samples,
        temperature=temperature,
        seed=seed,
    )
    if backend == "openai":
        from unireward.judge.openai import OpenAIBackend

        urls = backend_kwargs.pop("base_url", None) or backend_kwargs.pop("base_urls", None)
        if not urls or model is None:
            raise ValueError(
                "backend='openai' needs model=<served model name> and base_url=<URL or list of URLs>"
            )
        return Judge(OpenAIBackend(urls, str(model), **backend_kwargs), config)
    from unireward.judge.hf import HFBackend

    return Judge(HFBackend(path, **backend_kwargs), config)


def model_meta(path: str | Path) -> dict:
    """Models trained by unireward record how they should be asked (protocol, decision) in unireward.json."""
    import json

    meta = Path(path) / "unireward.json"
    return json.loads(meta.read_text()) if meta.exists() else {}


__all__ = [
    "DECISIONS",
    "DEFAULT_MODEL_DIR",
    "Judge",
    "JudgeConfig",
    "load_judge",
    "default_model_path",
    "model_meta",
]
