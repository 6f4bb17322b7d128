"""Supervised fine-tuning of a vision-language model into a generative reward model (TRL SFTTrainer).

    examples = [(PairItem("image_gen", "a red circle", "a.png", "b.png"), "Image 1 is better than Image 2."),
                (PointItem("video_und", "Which way?", "Left.", media="clip.mp4"), "Final Score: 4")]
    out = train_reward_model(RewardSFTConfig(model="Qwen/Qwen2-VL-2B-Instruct", output_dir="rm", lora=True),
                             examples)
    judge = load_judge(out)          # reads the protocol from out/unireward.json

Each example is an item and the answer text the model should give. The protocol turns the item into the
user turn (`pair_conversation` / `point_conversation`); the answer is the assistant turn. Every answer is
parsed back with the protocol before training, so a model is never trained on an answer its own judge
could not read. The loss is on the answer tokens and the end-of-turn token only.

Media route: `sft_examples` stores each media *source* in the dataset, not pixels: paths and URLs as
strings, raw bytes as bytes, and in-memory pictures (PIL images, arrays, frame lists of them) as PNG bytes
(the `datasets` Image storage `{"path", "bytes"}`, not decoded). `RewardSFTCollator` loads them with
`unireward.media.load_media` under the training `FramePolicy` when a batch is built, exactly as the judge
does at inference, then calls the processor with `images=` and `videos=`. TRL's own vision collator takes
images only (no videos), so this collator is ours; everything else (loop, LoRA, checkpoints, resume, fused
loss) is TRL's SFTTrainer, given the dataset unprepared (`skip_prepare_dataset`) and `max_length=None`.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from unireward.judge.backend import end_of_turn_id
from unireward.media import FramePolicy, load_media
from unireward.protocols import DEFAULT_PROTOCOL, get_protocol
from unireward.protocols.base import Protocol
from unireward.tasks import PairItem, PointItem

# The language model's attention projections, not the vision tower's: Qwen-VL towers name theirs `qkv`
# / `proj`, but SigLIP (LLaVA-OneVision) also says `q_proj`, hence the `language_model` anchor.
DEFAULT_LORA_TARGET = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)"
# Keys the processor returns per text token (batch × sequence); everything else is per image / video.
_PER_TOKEN_KEYS = ("mm_token_type_ids", "token_type_ids")
META_FILE = "unireward.json"
LOG_FILE = "log_history.json"
LIVE_LOG_FILE = "train_log.jsonl"


@dataclass
class RewardSFTConfig:
    """What to train and how. Unset fields follow TRL/transformers defaults for SFT.

    `max_steps > 0` overrides `num_epochs`. `bf16=None` means bf16 on a CUDA GPU that supports it, else
    fp32 (always fp32 on CPU); `dtype="auto"` loads the weights in bf16 exactly when bf16 is on.
    `lora=True` trains LoRA adapters on `lora_target_modules` (a regex or a list of module names; None is the
    language model's attention projections) and saves the merged model. `resume_from_checkpoint` is a
    checkpoint directory, True (the last checkpoint in `output_dir`) or None. `frame_policy` chooses the
    training frames (up to `max_frames`, 32 by default); the judge's Qwen rule (an even frame count) is
    applied on top, as at inference. `freeze_vision=True` trains only the language model and keeps the
    vision tower (and its merger) as loaded, e.g. after `unireward.train.vision.pretrain_vision`;
    `vision_unfrozen_blocks=n` still trains its last n blocks and what follows them (Qwen's merger).
    Whatever of the tower trains does so at `learning_rate * vision_lr_scale`, so a tower taught in its
    own stage can be adjusted gently rather than overwritten at the language model's rate.
    """

    model: str | os.PathLike
    output_dir: str | os.PathLike
    protocol: str = DEFAULT_PROTOCOL
    learning_rate: float = 1e-5
    num_epochs: float = 1.0
    max_steps: int = -1
    per_device_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str | list[str] | None = None
    frame_policy: FramePolicy = field(default_factory=FramePolicy)
    seed: int = 42
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = None
    eval_steps: int | None = None
    resume_from_checkpoint: str | bool | None = None
    gradient_checkpointing: bool = False
    freeze_vision: bool = False
    vision_unfrozen_blocks: int = 0
    vision_lr_scale: float = 1.0
    dataloader_num_workers: int = 0
    bf16: bool | None = None
    dtype: str = "auto"
    report_to: str | list[str] = "none"

    def __post_init__(self) -> None:
        get_protocol(self.protocol)  # unknown names fail here, before any model is loaded
        if not isinstance(self.frame_policy, FramePolicy):
            raise TypeError(f"frame_policy must be a FramePolicy, got {type(self.frame_policy).__name__}")
        if self.max_steps <= 0 and not self.num_epochs > 0:
            raise ValueError("set max_steps > 0 or num_epochs > 0")
        for name in ("per_device_batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.lora and (self.lora_r < 1 or self.lora_alpha <= 0):
            raise ValueError(
                f"LoRA needs lora_r >= 1 and lora_alpha > 0, got {self.lora_r}, {self.lora_alpha}"
            )
        if self.vision_unfrozen_blocks < 0 or (self.vision_unfrozen_blocks and not self.freeze_vision):
            raise ValueError(
                "vision_unfrozen_blocks counts blocks left training in a frozen tower: set "
                f"freeze_vision=True with it (or 0 for the whole tower), got {self.vision_unfrozen_blocks}"
            )
        if not self.vision_lr_scale > 0:
            raise ValueError(f"vision_lr_scale must be positive, got {self.vision_lr_scale}")
        if self.lora and (self.vision_unfrozen_blocks or self.vision_lr_scale != 1):
            raise ValueError(
                "LoRA trains its adapters only (the vision tower stays as loaded), so vision_unfrozen_blocks "
                "and vision_lr_scale would do nothing: leave them at 0 and 1, or train without lora"
            )
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")

    def use_bf16(self) -> bool:
        if self.bf16 is not None:
            return self.bf16
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()

    def torch_dtype(self) -> torch.dtype:
        if self.dtype == "auto":
            return torch.bfloat16 if self.use_bf16() else torch.float32
        return getattr(torch, self.dtype)


# ----------------------------------------------------------------------------------------------------------
# Examples → dataset


def sft_features(unlearnt: bool = False):
    """The columns of `sft_row` rows; `unlearnt` adds a JSON string of character spans of the completion
    to take no loss on (a stream's rows whose answer the model reads in part, `RewardSFTCollator`)."""
    from datasets import Features, List, Value
    from datasets import Image as ImageFeature

    media = {
        "kind": Value("string"),
        "path": Value("string"),  # a path, a directory of frames or a URL
        "data": Value("binary"),  # an encoded image or video file
        "frames": List(ImageFeature(decode=False)),  # in-memory pictures as PNG (one for an image kind)
    }
    columns = {
        "id": Value("string"),
        "task": Value("string"),
        "mode": Value("string"),
        "prompt": Value("string"),  # JSON: the protocol's messages (the user turn), media not loaded
        "completion": Value("string"),  # the answer text (assistant turn)
        "media": List(media),
    }
    if unlearnt:
        columns["unlearnt"] = Value("string")
    return Features(columns)


def _png(picture: Any) -> dict:
    if isinstance(picture, np.ndarray):
        if picture.dtype != np.uint8:
            raise ValueError(f"array media must be uint8, got {picture.dtype}")
        picture = Image.fromarray(np.ascontiguousarray(picture))
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return {"path": None, "bytes": buf.getvalue()}


def _frame_source(frame: Any) -> dict:
    if isinstance(frame, (str, os.PathLike)):
        return {"path": os.fspath(frame), "bytes": None}
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return {"path": None, "bytes": bytes(frame)}
    if isinstance(frame, (Image.Image, np.ndarray)):
        return _png(frame)
    raise TypeError(f"unsupported frame source {type(frame).__name__}")


def encode_source(kind: str, src: Any) -> dict:
    """One media source as a dataset row entry: exactly one of `path`, `data` and `frames` is set."""
    row: dict = {"kind": kind, "path": None, "data": None, "frames": []}
    if isinstance(src, (str, os.PathLike)):
        row["path"] = os.fspath(src)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        row["data"] = bytes(src)
    elif isinstance(src, Image.Image) or (isinstance(src, np.ndarray) and kind == "image"):
        row["frames"] = [_png(src)]
    elif kind == "video" and isinstance(src, np.ndarray):
        if src.ndim != 4:
            raise ValueError(f"a video array must be T×H×W×3, got shape {src.shape}")
        row["frames"] = [_png(frame) for frame in src]
    elif kind == "video" and isinstance(src, (list, tuple)):
        row["frames"] = [_frame_source(frame) for frame in src]
    else:
        raise TypeError(f"unsupported {kind} source {type(src).__name__}")
    if kind == "image" and len(row["frames"]) > 1:
        raise ValueError("an image source must be one picture")
    return row


def decode_source(entry: dict) -> Any:
    """The source `encode_source` stored, in a form `unireward.media.load_media` takes."""
    if entry.get("path") is not None:
        return entry["path"]
    if entry.get("data") is not None:
        return entry["data"]
    frames = [f["bytes"] if f.get("bytes") is not None else f["path"] for f in entry.get("frames") or []]
    if entry["kind"] == "image":
        if len(frames) != 1:
            raise ValueError(f"a stored image needs exactly one picture, found {len(frames)}")
        return frames[0]
    if not frames:
        raise ValueError("a stored video has no path, data or frames")
    return frames


def _example_name(index: int, item: Any) -> str:
    item_id = getattr(item, "id", None)
    return f"example {index}" + (f" (id {item_id!r})" if item_id is not None else "")


def sft_examples(
    examples: Sequence[tuple[PairItem | PointItem, str]], protocol: str | Protocol = DEFAULT_PROTOCOL
):
    """A `datasets.Dataset` of protocol conversations and answer texts, one row per (item, target).

    Every target is parsed back with the protocol (`parse_pair` / `parse_point`); one that fails is a
    ValueError naming the example. Columns: id, task, mode, prompt (JSON messages), completion, media
    (sources, see the module docstring).
    """
    from datasets import Dataset

    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    examples = list(examples)
    if not examples:
        raise ValueError("no training examples: pass a non-empty list of (PairItem | PointItem, target_text)")
    return Dataset.from_list(
        [sft_row(i, example, proto) for i, example in enumerate(examples)], features=sft_features()
    )


def sft_row(index: int, example: Any, protocol: Protocol) -> dict:
    """One `sft_examples` row from an (item, target) example; ValueError naming the example if it is bad."""
    if not (isinstance(example, (tuple, list)) and len(example) == 2):
        raise ValueError(f"example {index}: expected (item, target_text), got {type(example).__name__}")
    item, target = example
    name = _example_name(index, item)
    if not isinstance(target, str) or not target.strip():
        raise ValueError(f"{name}: the target must be a non-empty string, got {target!r}")
    if isinstance(item, PairItem):
        mode, conv, parsed = "pair", protocol.pair_conversation(item), protocol.parse_pair(item.task, target)
    elif isinstance(item, PointItem):
        mode, conv, parsed = (
            "point",
            protocol.point_conversation(item),
            protocol.parse_point(item.task, target),
        )
    else:
        raise ValueError(f"{name}: expected a PairItem or PointItem, got {type(item).__name__}")
    if parsed.failure is not None:
        raise ValueError(
            f"{name}: the target {target!r} does not parse back under protocol {protocol.name!r} "
            f"({parsed.failure.message}); build targets with protocol.{mode}_target(...)"
        )
    try:
        media = [encode_source(kind, src) for kind, src in conv.media]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: {e}") from None
    return {
        "id": item.id if item.id is not None else str(index),
        "task": item.task.value,
        "mode": mode,
        "prompt": json.dumps(conv.messages),
        "completion": target,
        "media": media,
    }


# Characters of this project's byte-level tokenizers that one image or video costs in a row's length: a tiny
# model's visual tokens per item (16 for a 112 px image; 16-32 for a clip) fitted against collated lengths.
MEDIA_CHARS = 70


def row_length(row: dict) -> int:
    """A cheap estimate of a row's collated length, in characters: its prompt and answer text plus
    `MEDIA_CHARS` per image or video. Used only to group rows of similar length into batches."""
    return len(row["prompt"]) + len(row["completion"]) + MEDIA_CHARS * len(row["media"])


def length_grouped(rows: Iterable[dict], batch_size: int, window: int, seed: int = 0) -> Iterator[dict]:
    """The same rows, regrouped so that each run of `batch_size` rows has similar lengths.

    Rows are read `window` batches at a time, sorted by `row_length`, cut into batches, and the batches of a
    window are yielded in a seeded random order. A batch is padded to its longest row, so mixed batches of a
    stream whose rows range from short text drills to video pairs waste about 40% of their tokens; with
    attention quadratic in the padded length that cost is time (research log, session 29). The data loader
    takes consecutive rows as a batch, so its batch size must be `batch_size`. A last partial window is
    yielded in sorted order, its short batch last, so the batches before it stay whole. `window=1` keeps
    the stream's order.
    """
    if batch_size < 1 or window < 1:
        raise ValueError(f"batch_size and window must be >= 1, got {batch_size} and {window}")
    rng = np.random.default_rng(seed)
    rows = iter(rows)
    while True:
        chunk = list(itertools.islice(rows, batch_size * window))
        if not chunk:
            return
        if window == 1:
            yield from chunk
            continue
        chunk.sort(key=row_length)
        if len(chunk) < batch_size * window:
            yield from chunk
            return
        batches = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        for b in rng.permutation(len(batches)):
            yield from batches[b]


# ----------------------------------------------------------------------------------------------------------
# Collator


class RewardSFTCollator:
    """Rows of `sft_examples` → a training batch with the loss on the answer only.

    Per row: the media are loaded with the frame policy (the frame count rounded up to the video
    processor's temporal patch, as the judge does); the prompt is the chat template with the generation
    prompt, encoded by the processor together with the media (so image/video placeholders expand); the
    completion is what the template adds for the assistant turn, tokenized alone and cut right after the
    end-of-turn token (appended if the template has none). Prompt ids + completion ids form the sequence,
    exactly the tokens the judge scores or generates at inference. Batches are right-padded; `labels` are
    -100 on the prompt and the padding. Per-token processor outputs (`mm_token_type_ids`) are extended with
    zeros; pixel tensors and grids pass through.

    `input_noise` (optional) takes each row and returns its completion rewritten, with the character spans
    to take no loss on (the shapes recipe wraps `shapes.name_noise`); it sees the whole row, so it can
    leave some tasks alone. The model reads the rewritten words, takes no loss on those spans, and every
    other answer token keeps its label, so it learns to answer without trusting those words. A row may
    also carry its own spans (`unlearnt`, JSON, as the shapes stream's misread rows do); such a row is
    left as written.
    """

    def __init__(
        self,
        processor,
        frame_policy: FramePolicy | None = None,
        input_noise: Callable[[dict], tuple[str, list[tuple[int, int]]]] | None = None,
    ) -> None:
        if getattr(processor, "chat_template", None) is None:
            raise ValueError(
                "the processor has no chat template; give it one (unireward builds prompts with it)"
            )
        self.processor = processor
        self.tokenizer = processor.tokenizer
        policy = frame_policy or FramePolicy()
        video_processor = getattr(processor, "video_processor", None)
        multiple = max(int(getattr(video_processor, "temporal_patch_size", 1) or 1), policy.multiple_of)
        self.frame_policy = dataclasses.replace(policy, multiple_of=multiple)
        self.end_token_id = end_of_turn_id(self.tokenizer)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.tokenizer.eos_token_id
        if input_noise is not None and not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(
                "input_noise needs a fast tokenizer (its character offsets say which tokens to leave "
                "unlearnt); load the processor with use_fast=True"
            )
        self.input_noise = input_noise

    def render(self, messages: list[dict], completion: str) -> tuple[str, str]:
        """(prompt text with the generation prompt, the text the template adds for the answer)."""
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        answer = {"role": "assistant", "content": [{"type": "text", "text": completion}]}
        full = self.processor.apply_chat_template([*messages, answer], tokenize=False)
        if not full.startswith(prompt):
            raise ValueError(
                "the chat template does not continue its generation prompt with the assistant turn, so the "
                f"answer cannot be told apart from the prompt:\nprompt ends {prompt[-200:]!r}\n"
                f"full text ends {full[-300:]!r}"
            )
        tail = full[len(prompt) :]
        if completion not in tail:
            raise ValueError(f"the chat template changed the answer: {completion!r} is not in {tail!r}")
        return prompt, tail

    def completion_tokens(
        self, tail: str, unlearnt: Sequence[tuple[int, int]] = ()
    ) -> tuple[list[int], list[int]]:
        """(ids, labels) of the answer `tail`, cut after the end-of-turn token (appended if missing);
        labels are the ids, but -100 on tokens that overlap a character span of `unlearnt`."""
        enc = self.tokenizer(tail, add_special_tokens=False, return_offsets_mapping=bool(unlearnt))
        ids = enc["input_ids"]
        labels = list(ids)
        for i, (start, end) in enumerate(enc["offset_mapping"] if unlearnt else ()):
            if any(start < b and a < end for a, b in unlearnt):
                labels[i] = -100
        if self.end_token_id in ids:
            cut = ids.index(self.end_token_id) + 1
            return ids[:cut], labels[:cut]
        return [*ids, self.end_token_id], [*labels, self.end_token_id]

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("empty batch")
        prompts, completions, images, videos = [], [], [], []
        for i, row in enumerate(rows):
            name = row.get("id") or f"row {i}"
            for entry in row["media"]:
                loaded = load_media(entry["kind"], decode_source(entry), self.frame_policy, name=name)
                (videos if entry["kind"] == "video" else images).append(loaded)
            completion, unlearnt = row["completion"], json.loads(row.get("unlearnt") or "[]")
            if self.input_noise is not None and not unlearnt:  # noise would move the row's own spans
                completion, unlearnt = self.input_noise(row)
            prompt, tail = self.render(json.loads(row["prompt"]), completion)
            at = tail.index(completion)
            prompts.append(prompt)
            completions.append(self.completion_tokens(tail, [(a + at, b + at) for a, b in unlearnt]))
        kwargs: dict = {"text": prompts, "padding": True, "return_tensors": "pt"}
        if images:
            kwargs["images"] = images
        if videos:
            kwargs["videos"] = videos
        enc = self.processor(**kwargs)
        per_token = [k for k in _PER_TOKEN_KEYS if k in enc]
        seqs = []
        for b, (comp, comp_labels) in enumerate(completions):
            keep = enc["attention_mask"][b].bool()  # works for left or right prompt padding
            prompt_ids = enc["input_ids"][b][keep]
            comp_t = torch.tensor(comp, dtype=prompt_ids.dtype)
            extra = {
                k: torch.cat([enc[k][b][keep], torch.zeros_like(comp_t, dtype=enc[k].dtype)])
                for k in per_token
            }
            comp_labels = torch.tensor(comp_labels, dtype=torch.long)
            labels = torch.cat([torch.full_like(prompt_ids, -100), comp_labels])
            seqs.append((torch.cat([prompt_ids, comp_t]), labels, extra))
        width = max(len(s[0]) for s in seqs)
        n = len(seqs)
        out = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask", *per_token)}
        input_ids = torch.full((n, width), self.pad_token_id, dtype=enc["input_ids"].dtype)
        attention = torch.zeros((n, width), dtype=enc["attention_mask"].dtype)
        labels = torch.full((n, width), -100, dtype=torch.long)
        extras = {k: torch.zeros((n, width), dtype=enc[k].dtype) for k in per_token}
        for b, (ids, lab, extra) in enumerate(seqs):
            input_ids[b, : len(ids)] = ids
            attention[b, : len(ids)] = 1
            labels[b, : len(ids)] = lab
            for k in per_token:
                extras[k][b, : len(ids)] = extra[k]
        out.update(input_ids=input_ids, attention_mask=attention, labels=labels, **extras)
        return out


# ----------------------------------------------------------------------------------------------------------
# Training


def _live_log_callback(path: Path):
    from transformers import TrainerCallback

    class LiveLog(TrainerCallback):
        """Append every log (loss, lr, eval loss) to a JSONL file as it happens, for long runs."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                with open(path, "a") as f:
                    f.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    return LiveLog()


def _as_dataset(examples: Any, protocol: Protocol, what: str):
    from datasets import Dataset, IterableDataset

    if isinstance(examples, (Dataset, IterableDataset)):
        missing = {"prompt", "completion", "media"} - set(examples.column_names or ())
        if missing:
            raise ValueError(
                f"{what} dataset lacks columns {sorted(missing)}; build it with sft_examples() (or, for a "
                "stream, IterableDataset.from_generator(..., features=sft_features()) of sft_row() rows)"
            )
        if isinstance(examples, Dataset) and len(examples) == 0:
            raise ValueError(f"the {what} dataset is empty")
        return examples
    try:
        return sft_examples(examples, protocol)
    except ValueError as e:
        raise ValueError(f"{what} set: {e}") from None


def train_reward_model(
    config: RewardSFTConfig,
    train_examples: Sequence[tuple[PairItem | PointItem, str]] | Any,
    eval_examples: Sequence[tuple[PairItem | PointItem, str]] | Any | None = None,
    *,
    callbacks: list | None = None,
    input_noise: Callable[[dict], tuple[str, list[tuple[int, int]]]] | None = None,
) -> Path:
    """Fine-tune `config.model` on (item, target) examples (or datasets from `sft_examples`) and save it.

    Writes to `config.output_dir`: checkpoints (`checkpoint-N/`, every `save_steps`), the final model and
    processor (LoRA merged into the weights, so `load_judge(output_dir)` works), `unireward.json` (protocol,
    frame policy, steps), `log_history.json` (every logged loss / eval loss) and `train_log.jsonl` (the
    same, appended live). `callbacks` are extra transformers TrainerCallbacks; `input_noise` rewrites a
    row's answer words that the model then reads but is not trained to write (`RewardSFTCollator`).
    Returns the output directory.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    protocol = get_protocol(config.protocol)
    train_ds = _as_dataset(train_examples, protocol, "training")
    eval_ds = _as_dataset(eval_examples, protocol, "evaluation") if eval_examples is not None else None
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    model = AutoModelForImageTextToText.from_pretrained(str(config.model), dtype=config.torch_dtype())
    processor = AutoProcessor.from_pretrained(str(config.model))
    collator = RewardSFTCollator(processor, config.frame_policy, input_noise)
    if config.freeze_vision:
        vision_tower(model).requires_grad_(False)
        for module in vision_head(model, config.vision_unfrozen_blocks):
            module.requires_grad_(True)
    peft_config = None
    if config.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules or DEFAULT_LORA_TARGET,
            task_type="CAUSAL_LM",
        )
    bf16 = config.use_bf16()
    args = SFTConfig(
        output_dir=str(out),
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if eval_ds is not None else "no",
        eval_steps=(config.eval_steps or config.save_steps) if eval_ds is not None else None,
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        activation_checkpointing=config.gradient_checkpointing,
        dataloader_num_workers=config.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to=config.report_to,
        max_length=None,  # never truncate: cutting image/video tokens breaks the forward pass
        remove_unused_columns=False,  # the collator needs the raw columns
        dataset_kwargs={"skip_prepare_dataset": True},  # the collator tokenizes and loads media per batch
        completion_only_loss=None,
    )
    trainer_cls = (
        SFTTrainer if config.vision_lr_scale == 1 else _vision_rate_trainer(SFTTrainer, model, config)
    )
    trainer = trainer_cls(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=processor,
        peft_config=peft_config,
        callbacks=[_live_log_callback(out / LIVE_LOG_FILE), *(callbacks or [])],
    )
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)

    final = trainer.accelerator.unwrap_model(trainer.model)
    if config.lora:
        final = final.merge_and_unload()
    final.save_pretrained(out)
    processor.save_pretrained(out)
    steps = trainer.state.global_step
    history = trainer.state.log_history
    (out / LOG_FILE).write_text(json.dumps(history, indent=2))
    meta = {
        "protocol": protocol.name,
        "frame_policy": config.frame_policy.to_dict(),
        "trained_by": "unireward.train.sft",
        "steps": steps,
        "base_model": str(config.model),
        "lora": config.lora,
        "freeze_vision": config.freeze_vision,
        "vision_unfrozen_blocks": config.vision_unfrozen_blocks,
        "vision_lr_scale": config.vision_lr_scale,
        "train_examples": len(train_ds) if hasattr(train_ds, "__len__") else "stream",
        "final_loss": _last(history, "loss"),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    return out


def vision_tower(model) -> torch.nn.Module:
    """The vision encoder (with its projector) of a transformers VLM, whatever the family calls it."""
    inner = getattr(model, "model", model)
    for name in ("visual", "vision_tower", "vision_model"):
        if isinstance(getattr(inner, name, None), torch.nn.Module):
            return getattr(inner, name)
    raise ValueError(f"{type(model).__name__} has no vision tower under .model.visual/.vision_tower")


def vision_head(model, n: int) -> list[torch.nn.Module]:
    """The last `n` blocks of the vision tower and the modules after them (Qwen: the merger; SigLIP: the
    post-layernorm); empty for n = 0."""
    if n == 0:
        return []
    tower = vision_tower(model)
    inner = getattr(tower, "vision_model", tower)  # SigLIP wraps its encoder once more
    blocks = getattr(inner, "blocks", None)
    if blocks is None:
        blocks = getattr(getattr(inner, "encoder", None), "layers", None)
    if blocks is None:
        raise ValueError(f"{type(tower).__name__} has no .blocks or .encoder.layers to unfreeze")
    if n > len(blocks):
        raise ValueError(f"vision_unfrozen_blocks={n}, but the vision tower has only {len(blocks)} blocks")
    after = [getattr(inner, name) for name in ("merger", "post_layernorm") if hasattr(inner, name)]
    return [*blocks[-n:], *after]


def _vision_rate_trainer(base, model, config: RewardSFTConfig):
    """`base` (a Trainer class) whose optimizer gives the vision tower's parameters their own group at
    `learning_rate * vision_lr_scale`; the schedule then scales every group from its own rate."""
    vision_ids = {id(p) for p in vision_tower(model).parameters()}

    class VisionRateTrainer(base):
        def create_optimizer(self, model=None):
            if self.optimizer is not None:  # made (and split) already
                return super().create_optimizer(model)
            optimizer = super().create_optimizer(model)
            groups = list(optimizer.param_groups)
            optimizer.param_groups.clear()
            for group in groups:
                for wanted_vision in (False, True):
                    params = [p for p in group["params"] if (id(p) in vision_ids) == wanted_vision]
                    if params:
                        lr = group["lr"] * (config.vision_lr_scale if wanted_vision else 1.0)
                        optimizer.add_param_group({**group, "params": params, "lr": lr})
            return optimizer

    return VisionRateTrainer


def _last(history: list[dict], key: str) -> float | None:
    values = [h[key] for h in history if key in h and math.isfinite(h[key])]
    return values[-1] if values else None
