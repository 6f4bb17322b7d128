"""The Hugging Face backend: any `AutoModelForImageTextToText` checkpoint, in process.

Works with Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision and other image-text-to-text models whose
processor has a chat template, from a local path or a hub id (hub ids need network access the first time).
Batches are left-padded so every row's prompt ends at the same position.
"""

from __future__ import annotations

from pathlib import Path

import torch

from unireward.judge.backend import Prepared, end_of_turn_id


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model: str | Path,
        *,
        dtype: str = "auto",
        device: str = "auto",
        device_map: str | dict | None = None,
        attn_implementation: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        torch_dtype = getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
        kwargs: dict = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        if device_map is not None:
            kwargs["device_map"] = device_map
        self.model = AutoModelForImageTextToText.from_pretrained(str(model), **kwargs)
        if device_map is None:
            self.model.to(device)
        self.model.eval()
        self.processor = AutoProcessor.from_pretrained(str(model), trust_remote_code=trust_remote_code)
        self.tokenizer = self.processor.tokenizer
        self._setup(str(model), dtype, torch.device(device if device_map is None else self.model.device))

    @classmethod
    def from_model(cls, model, processor, *, name: str = "in-memory") -> HFBackend:
        """Wrap a model already in memory (a checkpoint being trained, an RL policy) without reloading it."""
        backend = cls.__new__(cls)
        backend.model, backend.processor = model, processor
        backend.tokenizer = processor.tokenizer
        param = next(model.parameters())
        backend._setup(name, str(param.dtype).removeprefix("torch."), param.device)
        return backend

    def _setup(self, name: str, dtype: str, device: torch.device) -> None:
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if getattr(self.processor, "chat_template", None) is None:
            raise ValueError(
                f"{name}: the processor has no chat template; unireward needs one to build prompts"
            )
        self.model_name = name
        self.dtype = dtype
        self.device = device
        video_processor = getattr(self.processor, "video_processor", None)
        # Processors without a video path (Idefics3, ...) get each video as its frames, in place.
        self.supports_video = video_processor is not None
        self.frame_multiple = int(getattr(video_processor, "temporal_patch_size", 1) or 1)
        self.end_token_id = end_of_turn_id(self.tokenizer)
        self._continuation_cache: dict[str, list[int]] = {}

    def describe(self) -> dict:
        return {
            "backend": self.name,
            "model": self.model_name,
            "architecture": type(self.model).__name__,
            "dtype": self.dtype,
        }

    def _continuation_ids(self, text: str) -> list[int]:
        """Token ids of a continuation plus the end-of-turn token (cached: the same few verdict strings
        recur for every item)."""
        cache = self._continuation_cache
        if text in cache:
            return list(cache[text])
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.end_token_id]
        if len(text) <= 64:  # verdicts and scores; not the per-item reasoning of decision="reason"
            cache[text] = ids
        return list(ids)

    # -- encoding -----------------------------------------------------------------------------------------

    def _prompt_text(self, conv: Prepared) -> str:
        return self.processor.apply_chat_template(conv.messages, add_generation_prompt=True, tokenize=False)

    def _encode(self, batch: list[Prepared]) -> dict:
        if not self.supports_video:
            batch = [videos_as_images(c) for c in batch]
        texts = [self._prompt_text(c) for c in batch]
        images = [im for c in batch for im in c.images]
        videos = [v for c in batch for v in c.videos]
        kwargs: dict = {"text": texts, "padding": True, "return_tensors": "pt"}
        if images:
            kwargs["images"] = images
        if videos:
            # Frames were already chosen by the judge's FramePolicy; a checkpoint's own video config
            # must not sample them again, or the hf and server backends would see different frames.
            kwargs["videos"] = videos
            kwargs["do_sample_frames"] = False
        enc = self.processor(**kwargs)
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in enc.items()}

    # -- decisions -----------------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(
        self, batch: list[Prepared], max_new_tokens: int, temperature: float = 0.0, seed: int | None = None
    ) -> list[str]:
        enc = self._encode(batch)
        # Sampling draws from the whole distribution at `temperature` (no top-k / top-p cut, whatever the
        # checkpoint's generation config says), from a seeded generator that leaves the global one as it was.
        sampling = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            out = self.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                eos_token_id=self.end_token_id,
                pad_token_id=self.tokenizer.pad_token_id,
                **sampling,
            )
        new_tokens = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    @torch.inference_mode()
    def continuation_logprobs(
        self, batch: list[Prepared], continuations: list[list[str]]
    ) -> list[list[float]]:
        """Score each candidate continuation by the tokens that tell it apart from the others.

        Every continuation gets the end-of-turn token appended, then is cut at its shortest prefix that no
        other candidate shares (`decisive_prefixes`). The remaining tokens are the same for every candidate
        up to that point or follow deterministically after it, so they do not change the decision. The
        prefixes are grouped into as few teacher-forced paths as possible: for the three v1 verdicts this is
        a single path ("Image"), i.e. one forward pass per item.
        """
        if len(batch) != len(continuations):
            raise ValueError("one list of continuations per conversation is required")
        token_lists = [[self._continuation_ids(c) for c in conts] for conts in continuations]
        prefixes = [decisive_prefixes(toks) for toks in token_lists]
        rows: list[tuple[int, list[int]]] = []  # (conversation index, teacher-forced path)
        for i, pref in enumerate(prefixes):
            for path in covering_paths([p[:-1] for p in pref]):
                rows.append((i, path))
        enc = self._encode([batch[i] for i, _ in rows])
        width = max(len(p) for _, p in rows)
        pad = self.tokenizer.pad_token_id
        extra = torch.full((len(rows), width), pad, dtype=enc["input_ids"].dtype)
        extra_mask = torch.zeros((len(rows), width), dtype=enc["attention_mask"].dtype)
        for r, (_, path) in enumerate(rows):
            extra[r, : len(path)] = torch.tensor(path, dtype=extra.dtype)
            extra_mask[r, : len(path)] = 1
        # Right-padding the short paths is harmless: positions after a path are never read.
        enc["input_ids"] = torch.cat([enc["input_ids"], extra.to(self.device)], dim=1)
        enc["attention_mask"] = torch.cat([enc["attention_mask"], extra_mask.to(self.device)], dim=1)
        if "mm_token_type_ids" in enc:
            zeros = torch.zeros((len(rows), width), dtype=enc["mm_token_type_ids"].dtype, device=self.device)
            enc["mm_token_type_ids"] = torch.cat([enc["mm_token_type_ids"], zeros], dim=1)
        logits = self.model(**enc, logits_to_keep=width + 1).logits.float()
        logp = torch.log_softmax(logits, dim=-1)  # position j predicts the token after path[:j]
        results: list[list[float]] = []
        for i, pref in enumerate(prefixes):
            my_rows = [(r, path) for r, (ci, path) in enumerate(rows) if ci == i]
            scores = []
            for p in pref:
                r = next(r for r, path in my_rows if path[: len(p) - 1] == p[:-1])
                scores.append(float(sum(logp[r, j, tok] for j, tok in enumerate(p))))
            results.append(scores)
        return results


def videos_as_images(conv: Prepared) -> Prepared:
    """The same conversation with every video replaced by its frames as consecutive images, keeping the
    order of all media (for models whose processor only takes images)."""
    if not conv.videos:
        return conv
    images, videos = iter(conv.images), iter(conv.videos)
    new_images: list = []
    messages = []
    for message in conv.messages:
        content = message["content"]
        if isinstance(content, str):
            messages.append(message)
            continue
        parts = []
        for part in content:
            if part.get("type") == "image":
                new_images.append(next(images))
                parts.append(part)
            elif part.get("type") == "video":
                frames = next(videos)
                new_images.extend(frames)
                parts.extend({"type": "image"} for _ in frames)
            else:
                parts.append(part)
        messages.append({**message, "content": parts})
    return Prepared(messages, new_images, [])


def decisive_prefixes(token_lists: list[list[int]]) -> list[list[int]]:
    """For each token list, its shortest prefix that is not a prefix of any other list.

    Lists must be distinct and none a prefix of another (ending each with an end token ensures this).
    """
    if len({tuple(t) for t in token_lists}) != len(token_lists):
        raise ValueError("candidate continuations must be distinct")
    out = []
    for i, toks in enumerate(token_lists):
        others = [t for j, t in enumerate(token_lists) if j != i]
        n = 1
        while any(o[:n] == toks[:n] for o in others):
            n += 1
            if n > len(toks):
                raise ValueError(
                    "a candidate continuation is a prefix of another; end them with a stop token"
                )
        out.append(toks[:n])
    return out


def covering_paths(contexts: list[list[int]]) -> list[list[int]]:
    """The fewest paths such that every context is a prefix of one of them (drop contexts that are
    prefixes of others); each path is one teacher-forced sequence."""
    unique = sorted({tuple(c) for c in contexts}, key=len, reverse=True)
    paths: list[tuple[int, ...]] = []
    for c in unique:
        if not any(p[: len(c)] == c for p in paths):
            paths.append(c)
    return [list(p) for p in paths]
