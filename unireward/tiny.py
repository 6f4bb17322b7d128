"""Build tiny, randomly initialised vision-language models of the real architectures, offline.

The released reward models are multi-GB checkpoints on a hub this project cannot reach in tests. These
builders produce the same model classes (Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision) at a few MB, with a
byte-level BPE tokenizer trained locally, processors with tiny pixel budgets and a chat template, saved
with `save_pretrained` so everything downstream loads them exactly like a real checkpoint:

    path = build_tiny_model("qwen2_vl", "/tmp/tiny-qwen2vl")
    judge = load_judge(path)

Sizes are knobs so the shapes-world training can make a slightly larger model with the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ARCHITECTURES = ("qwen2_vl", "qwen2_5_vl", "llava_onevision")

# ChatML template shared by all tiny models: content may be a string or a list of parts; image/video
# parts become the architecture's placeholder, which the processor expands to the right token count.
_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ IMAGE }}"
    "{% elif part['type'] == 'video' %}{{ VIDEO }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_QWEN_SPECIAL = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
_LLAVA_SPECIAL = ["<image>", "<video>"]
_CHAT_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@dataclass
class TinySpec:
    """Sizes of a tiny model. Defaults give ~1 MB of weights; the default reward model uses larger ones."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    vision_hidden_size: int = 32
    vision_layers: int = 1
    vision_heads: int = 2
    vocab_size: int = 1024
    image_size: int = 56  # pixels per side the processor resizes to (multiple of 28)
    # Frames per vision patch (Qwen family). 2 is Qwen's own; the default reward model uses 8 so one patch
    # holds a whole 8-frame clip and the vision tower itself can see motion, flicker and change.
    temporal_patch_size: int = 2
    patch_size: int = 14  # Qwen family: pixels per patch side
    spatial_merge_size: int = 2  # Qwen family: patches per visual token side
    seed: int = 0


def tokenizer_corpus() -> list[str]:
    """Text the tiny BPE is trained on: the protocols' words plus general English, so any prompt encodes
    into few tokens. Byte-level BPE can still encode any string."""
    words = (
        "Image Video Answer 1 2 is better than Both images videos are equally good Final Score Overall "
        "Judgment Alignment Coherence Style Physics Score caption question answer which of the two "
        "red green blue yellow purple orange white black circle square triangle star left right above "
        "below of moving slowly quickly one two three visual quality temporal consistency dynamic degree "
        "text-to-video alignment factual consistency object relation count color colour shape generated "
        "You are a reward model judging how well the image matches the caption and how good it is. "
        "the a an and or not with in on at to for by from as that this it be was were has have "
        "What Where How many Which Does appear first direction move change "
        "0 1 2 3 4 5 6 7 8 9 10 100 . , : ; ? ! ( ) - <think> </think> <answer> </answer>"
    )
    lines = [words] * 20
    lines += [f"Final Score: {i}" for i in range(0, 101)]
    lines += [f"Image {a} is better than Image {b}." for a, b in ((1, 2), (2, 1))] * 10
    lines += [f"Video {a} is better than Video {b}." for a, b in ((1, 2), (2, 1))] * 10
    lines += [f"Overall Judgment: Answer {a} is better than Answer {b}." for a, b in ((1, 2), (2, 1))] * 10
    return lines


def _train_tokenizer(extra_special: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = _CHAT_SPECIAL + extra_special
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=extra_special,
    )
    fast.padding_side = "left"
    return fast


def build_tiny_model(architecture: str, path: str | Path, spec: TinySpec | None = None) -> Path:
    """Build, save and return the path of a tiny random model + processor of `architecture`."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    import torch

    spec = spec or TinySpec()
    if spec.image_size % 28:
        raise ValueError(f"TinySpec.image_size must be a multiple of 28, got {spec.image_size}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(spec.seed)
    if architecture in ("qwen2_vl", "qwen2_5_vl"):
        model, processor = _build_qwen(architecture, spec)
    else:
        model, processor = _build_llava_onevision(spec)
    model.generation_config.eos_token_id = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.save_pretrained(path)
    processor.save_pretrained(path)
    (path / "unireward.json").write_text(json.dumps({"tiny": architecture, "spec": spec.__dict__}, indent=2))
    return path


def _text_kwargs(spec: TinySpec, vocab: int, tok) -> dict:
    return dict(
        vocab_size=vocab,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=4096,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )


def _build_qwen(architecture: str, spec: TinySpec):
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tok = _train_tokenizer(_QWEN_SPECIAL, spec.vocab_size)
    vocab = len(tok)
    head_dim = spec.hidden_size // spec.num_heads
    # mrope sections (temporal, height, width) must sum to head_dim / 2.
    half = head_dim // 2
    mrope = [half - 2 * (half // 3), half // 3, half // 3]
    text = _text_kwargs(spec, vocab, tok)
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope}
    ids = {
        "image_token_id": tok.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
    }
    vision = dict(
        depth=spec.vision_layers,
        num_heads=spec.vision_heads,
        patch_size=spec.patch_size,
        spatial_merge_size=spec.spatial_merge_size,
        temporal_patch_size=spec.temporal_patch_size,
    )
    if architecture == "qwen2_vl":
        vision.update(embed_dim=spec.vision_hidden_size, hidden_size=spec.hidden_size, mlp_ratio=2)
        config = Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)
        model = Qwen2VLForConditionalGeneration(config)
    else:
        vision.update(
            hidden_size=spec.vision_hidden_size,
            out_hidden_size=spec.hidden_size,
            intermediate_size=spec.vision_hidden_size * 2,
            fullatt_block_indexes=[spec.vision_layers - 1],
            window_size=56,
        )
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)
        model = Qwen2_5_VLForConditionalGeneration(config)
    pixels = spec.image_size * spec.image_size
    size = {"shortest_edge": pixels, "longest_edge": pixels}
    layout = dict(
        size=size,
        min_pixels=pixels,
        max_pixels=pixels,
        temporal_patch_size=spec.temporal_patch_size,
        patch_size=spec.patch_size,
        merge_size=spec.spatial_merge_size,
    )
    image_processor = Qwen2VLImageProcessor(**layout)
    video_processor = Qwen2VLVideoProcessor(**layout, do_sample_frames=False, cap_pixels_per_frame=True)
    template = _CHAT_TEMPLATE.replace("{{ IMAGE }}", "<|vision_start|><|image_pad|><|vision_end|>").replace(
        "{{ VIDEO }}", "<|vision_start|><|video_pad|><|vision_end|>"
    )
    processor = Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=video_processor,
        chat_template=template,
    )
    return model, processor


def _build_llava_onevision(spec: TinySpec):
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    tok = _train_tokenizer(_LLAVA_SPECIAL, spec.vocab_size)
    vocab = len(tok)
    side = spec.image_size
    text = _text_kwargs(spec, vocab, tok)
    text["model_type"] = "qwen2"
    vision = dict(
        model_type="siglip_vision_model",
        hidden_size=spec.vision_hidden_size,
        intermediate_size=spec.vision_hidden_size * 2,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=side,
        patch_size=14,
    )
    config = LlavaOnevisionConfig(
        text_config=text,
        vision_config=vision,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=[[side, side]],
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_1",
        tie_word_embeddings=True,
    )
    model = LlavaOnevisionForConditionalGeneration(config)
    size = {"height": side, "width": side}
    image_processor = LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=[[side, side]])
    video_processor = LlavaOnevisionVideoProcessor(size=size, do_sample_frames=False)
    template = _CHAT_TEMPLATE.replace("{{ IMAGE }}", "<image>").replace("{{ VIDEO }}", "<video>")
    processor = LlavaOnevisionProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=video_processor,
        num_image_tokens=(side // 14) ** 2,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_1",
        chat_template=template,
    )
    return model, processor
