"""Where candidates come from: files on disk, the shapes world, or a model sampled per prompt.

Most users start from candidates they already have, so the pairs runner reads **candidates on disk**:
- a JSONL manifest, one prompt per line:
  `{"id": "p1", "task": "image_gen", "prompt": "a red circle", "candidates": ["p1/0.png", "p1/1.png", ...]}`
  `{"id": "q1", "task": "image_und", "prompt": "Its colour?", "media": "q1.png", "candidates": ["Red.", ...]}`
  Relative media paths are relative to the manifest; any other keys travel into the run's records as `meta`.
- a folder per prompt: `<root>/<prompt id>/prompt.txt` plus the candidates — image or video files, or
  sub-folders of frames (generation tasks) — or, for understanding tasks, `media.<ext>` (or a `media/`
  frame folder) and `answers.json` (a JSON list of answer texts). The task is given by the caller.

Generators write such a manifest (`unireward.pairs.runner.generate_candidates`), one sampler per kind:
- `VLMSampler`: sampled answers of a vision-language model (transformers `generate`, temperature).
- `TextToImageSampler`: a diffusers text-to-image pipeline (the paper: SDXL-Turbo, 1 step, guidance 0).
- `TextToVideoSampler`: a diffusers text-to-video pipeline (the paper: T2V-Turbo, 16 frames, 4 steps, 7.5).
Every sampler seeds each prompt from (seed, prompt id), so a resumed run samples what a fresh one would.

`write_shapes_candidates` writes shapes-world candidates with their exact oracle scores, and
`SimulatedJudge` answers from those oracle scores with controlled noise: a stand-in reward model for
benchmarks and tests of the selection logic (documented, never a default).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from unireward.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, FramePolicy, load_media, write_video
from unireward.pairs.strategies import PromptCandidates
from unireward.tasks import Failure, PairItem, PointItem, Score, Task, Verdict

# ------------------------------------------------------------------------------------------ on disk

_MANIFEST_KEYS = ("id", "task", "prompt", "media", "candidates")


def read_candidates(path: str | Path, task: Task | str | None = None) -> list[PromptCandidates]:
    """Prompts with their candidates from a JSONL manifest or a folder-per-prompt directory.

    `task` is required for folders and is the default for manifest lines without a "task". Ids must be
    unique: the runner resumes by id.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no candidates at {path}: give a JSONL manifest or a folder per prompt")
    prompts = _read_folders(path, task) if path.is_dir() else _read_manifest(path, task)
    seen: set[str] = set()
    for p in prompts:
        if p.id in seen:
            raise ValueError(f"{path}: prompt id {p.id!r} appears twice; ids must be unique")
        seen.add(p.id)
    return prompts


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, list):
        return [_resolve(v, base) for v in value]
    if isinstance(value, str) and "://" not in value and not Path(value).is_absolute():
        return str(base / value)
    return value


def _read_manifest(path: Path, task: Task | str | None) -> list[PromptCandidates]:
    out = []
    with path.open() as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                t = Task.parse(row.get("task") or task)
                cands = row["candidates"]
                if not isinstance(cands, list):
                    raise ValueError("'candidates' must be a list")
                media = _resolve(row["media"], path.parent) if row.get("media") is not None else None
                if t.is_generation:
                    cands = _resolve(cands, path.parent)
                meta = {k: v for k, v in row.items() if k not in _MANIFEST_KEYS}
                out.append(
                    PromptCandidates(str(row.get("id", f"line-{n}")), t, row["prompt"], cands, media, meta)
                )
            except (KeyError, ValueError, TypeError) as e:
                what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
                raise ValueError(f"{path}:{n}: {what}") from None
    return out


def _natural(s: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _read_folders(root: Path, task: Task | str | None) -> list[PromptCandidates]:
    if task is None:
        raise ValueError(f"{root}: a folder of candidates needs the task (e.g. --task image_gen)")
    t = Task.parse(task)
    media_ext = VIDEO_EXTENSIONS if t.is_video else IMAGE_EXTENSIONS
    out = []
    for d in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: _natural(p.name)):
        prompt_file = d / "prompt.txt"
        if not prompt_file.exists():
            raise ValueError(f"{d}: missing prompt.txt (the caption or question)")
        prompt = prompt_file.read_text().strip()
        if t.is_generation:
            entries = [
                p
                for p in d.iterdir()
                if (p.is_file() and p.suffix.lower() in media_ext) or (t.is_video and p.is_dir())
            ]
            cands: list[Any] = [str(p) for p in sorted(entries, key=lambda p: _natural(p.name))]
            media = None
        else:
            answers = d / "answers.json"
            if not answers.exists():
                raise ValueError(f"{d}: missing answers.json (a JSON list of candidate answers)")
            cands = json.loads(answers.read_text())
            found = [
                p for p in d.iterdir() if p.stem == "media" and (p.suffix.lower() in media_ext or p.is_dir())
            ]
            if len(found) != 1:
                raise ValueError(f"{d}: expected exactly one media file or folder named media.*")
            media = str(found[0])
        out.append(PromptCandidates(d.name, t, prompt, cands, media))
    return out


@dataclass
class PromptSpec:
    """A prompt to sample candidates for: a caption (generation) or a question about media (understanding)."""

    id: str
    task: Task
    prompt: str
    media: Any = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.task = Task.parse(self.task)


def read_prompts(path: str | Path, task: Task | str | None = None) -> list[PromptSpec]:
    """Prompts from JSONL (`{"id", "task", "prompt", "media"}`) or a .txt file of captions (one a line)."""
    path = Path(path)
    out: list[PromptSpec] = []
    if path.suffix == ".txt":
        if task is None:
            raise ValueError(f"{path}: a text file of prompts needs the task")
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        return [PromptSpec(f"line-{n}", task, text) for n, text in enumerate(lines, 1)]
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        media = _resolve(row["media"], path.parent) if row.get("media") is not None else None
        meta = {k: v for k, v in row.items() if k not in _MANIFEST_KEYS}
        out.append(
            PromptSpec(str(row.get("id", f"line-{n}")), row.get("task") or task, row["prompt"], media, meta)
        )
    if len({p.id for p in out}) != len(out):
        raise ValueError(f"{path}: prompt ids must be unique")
    return out


def seed_for(seed: int, key: str) -> int:
    """A 63-bit seed from a run seed and a key (a prompt id): stable across processes and runs."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# ------------------------------------------------------------------------------------------ samplers


@dataclass
class VLMSampler:
    """Sampled answers of a vision-language model to image or video questions (understanding tasks).

    The paper samples 10 answers at temperature 0.7. Any `AutoModelForImageTextToText` checkpoint with a
    chat template works (loaded like the judge's HF backend). Videos are fed as frames by `frame_policy`.
    """

    model: str | Path
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    frame_policy: FramePolicy = field(default_factory=FramePolicy)

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 to sample distinct answers")
        from unireward.judge.hf import HFBackend

        self._backend = HFBackend(self.model, dtype=self.dtype, device=self.device)

    def describe(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "frame_policy"}
        return {"sampler": "vlm", **d, "model": str(self.model), "frame_policy": self.frame_policy.to_dict()}

    def sample(self, spec: PromptSpec, n: int) -> list[str]:
        import torch

        from unireward.judge.backend import Prepared
        from unireward.protocols.v1 import make_conversation

        if spec.task.is_generation:
            raise ValueError(
                f"{spec.id}: a VLM answers questions; {spec.task.value} needs an image/video model"
            )
        kind = "video" if spec.task.is_video else "image"
        multiple = max(self._backend.frame_multiple, self.frame_policy.multiple_of)
        policy = FramePolicy(**{**self.frame_policy.to_dict(), "multiple_of": multiple})
        loaded = load_media(kind, spec.media, policy, name=spec.id)
        conv = make_conversation([(kind, spec.media)], spec.prompt)
        prepared = Prepared(
            conv.messages, [] if kind == "video" else [loaded], [loaded] if kind == "video" else []
        )
        backend = self._backend
        enc = backend._encode([prepared])
        torch.manual_seed(seed_for(self.seed, spec.id))
        with torch.inference_mode():
            out = backend.model.generate(
                **enc,
                do_sample=True,
                temperature=self.temperature,
                top_p=self.top_p,
                num_return_sequences=n,
                max_new_tokens=self.max_new_tokens,
                eos_token_id=backend.end_token_id,
                pad_token_id=backend.tokenizer.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in backend.tokenizer.batch_decode(new, skip_special_tokens=True)]


def _load_pipeline(pipeline: Any, auto_class: str, device: str, dtype: str) -> Any:
    """A diffusers pipeline from a path / hub id, or one already built (passed through)."""
    import torch

    if not isinstance(pipeline, (str, Path)):
        return pipeline
    import diffusers

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "float16" if device.startswith("cuda") else "float32"
    pipe = getattr(diffusers, auto_class).from_pretrained(str(pipeline), dtype=getattr(torch, dtype))
    return pipe.to(device)


def _to_pil(frame: Any) -> Image.Image:
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(arr)


@dataclass
class TextToImageSampler:
    """Images from a diffusers text-to-image pipeline (a path, a hub id or a built pipeline).

    Defaults follow the paper's SDXL-Turbo setting: 1 step, guidance 0. `call_kwargs` reach the pipeline
    call (height, width, negative_prompt, ...). Candidate k of a prompt uses its own generator seeded from
    (seed, prompt id, k), so a candidate never depends on how many were drawn with it.
    """

    pipeline: Any
    num_inference_steps: int = 1
    guidance_scale: float = 0.0
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    call_kwargs: dict = field(default_factory=dict)
    auto_class: str = "AutoPipelineForText2Image"

    def __post_init__(self) -> None:
        self._name = (
            str(self.pipeline) if isinstance(self.pipeline, (str, Path)) else type(self.pipeline).__name__
        )
        self._pipe = _load_pipeline(self.pipeline, self.auto_class, self.device, self.dtype)
        if hasattr(self._pipe, "set_progress_bar_config"):
            self._pipe.set_progress_bar_config(disable=True)  # one bar per candidate would drown the run's

    def describe(self) -> dict:
        return {
            "sampler": "text_to_image",
            "pipeline": self._name,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "seed": self.seed,
            **self.call_kwargs,
        }

    def _generator(self, key: str):
        import torch

        return torch.Generator(device="cpu").manual_seed(seed_for(self.seed, key))

    def sample(self, spec: PromptSpec, n: int) -> list[Image.Image]:
        if spec.task != Task.IMAGE_GEN:
            raise ValueError(
                f"{spec.id}: a text-to-image pipeline makes image_gen candidates, not {spec.task.value}"
            )
        out = []
        for k in range(n):
            result = self._pipe(
                spec.prompt,
                num_inference_steps=self.num_inference_steps,
                guidance_scale=self.guidance_scale,
                generator=self._generator(f"{spec.id}#{k}"),
                **self.call_kwargs,
            )
            out.append(_to_pil(result.images[0]))
        return out


@dataclass
class TextToVideoSampler(TextToImageSampler):
    """Videos (lists of frames) from a diffusers text-to-video pipeline. Defaults follow the paper's
    T2V-Turbo setting: 16 frames, 4 steps, guidance 7.5."""

    num_inference_steps: int = 4
    guidance_scale: float = 7.5
    num_frames: int = 16
    auto_class: str = "DiffusionPipeline"

    def describe(self) -> dict:
        return {**super().describe(), "sampler": "text_to_video", "num_frames": self.num_frames}

    def sample(self, spec: PromptSpec, n: int) -> list[list[Image.Image]]:
        if spec.task != Task.VIDEO_GEN:
            raise ValueError(
                f"{spec.id}: a text-to-video pipeline makes video_gen candidates, not {spec.task.value}"
            )
        out = []
        for k in range(n):
            result = self._pipe(
                spec.prompt,
                num_frames=self.num_frames,
                num_inference_steps=self.num_inference_steps,
                guidance_scale=self.guidance_scale,
                generator=self._generator(f"{spec.id}#{k}"),
                **self.call_kwargs,
            )
            out.append([_to_pil(f) for f in result.frames[0]])
        return out


def save_candidates(
    candidates: list[Any], task: Task, directory: Path, base: Path, video_format: str = "mp4"
) -> list[Any]:
    """Write sampled media under `directory` (answers pass through); returns what a manifest lists:
    media paths relative to `base` (the manifest's folder), the texts for answers."""
    if not task.is_generation:
        return list(candidates)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for k, c in enumerate(candidates):
        if task.is_video:
            if video_format == "frames":
                frame_dir = directory / f"{k}"
                frame_dir.mkdir(exist_ok=True)
                for j, frame in enumerate(c):
                    _to_pil(frame).save(frame_dir / f"{j:04d}.png")
                target = frame_dir
            elif video_format in ("mp4", "webm", "gif"):
                target = write_video([_to_pil(f) for f in c], directory / f"{k}.{video_format}")
            else:
                raise ValueError(f"video_format must be frames, mp4, webm or gif, got {video_format!r}")
        else:
            target = directory / f"{k}.png"
            _to_pil(c).save(target)
        out.append(str(target.relative_to(base)))
    return out


# ------------------------------------------------------------------------------------------ shapes world


def write_shapes_candidates(
    out_dir: str | Path,
    task: Task | str,
    num_prompts: int,
    *,
    n: int = 10,
    seed: int = 0,
    split: str = "train",
    video_format: str = "frames",
) -> Path:
    """Shapes-world prompts with n candidates each, written as a manifest (`manifest.jsonl`) with every
    candidate's exact oracle score under "oracle": candidates whose truth is known, for benchmarks, tests
    and demos of the pairs pipeline."""
    from unireward.data.shapes import ShapesWorld

    task = Task.parse(task)
    out = Path(out_dir)
    (out / "media").mkdir(parents=True, exist_ok=True)
    world = ShapesWorld(seed)
    lines = []
    for k in range(num_prompts):
        cs = world.candidates(task, n, split)
        pid = f"shapes-{seed}-{split}-{task.value}-{k}"
        row: dict[str, Any] = {"id": pid, "task": task.value, "prompt": cs.prompt}
        sub = out / "media" / f"{k:06d}"
        if task.is_generation:
            row["candidates"] = save_candidates(cs.candidates, task, sub, out, video_format)
        else:
            sub.mkdir(parents=True, exist_ok=True)
            if task.is_video:
                row["media"] = save_candidates([cs.media], Task.VIDEO_GEN, sub, out, video_format)[0]
            else:
                cs.media.save(sub / "media.png")
                row["media"] = str((sub / "media.png").relative_to(out))
            row["candidates"] = list(cs.candidates)
        row["oracle"] = [float(s) for s in cs.scores]
        lines.append(json.dumps(row))
    path = out / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def shapes_prompts(
    task: Task | str,
    num_prompts: int,
    *,
    n: int = 10,
    seed: int = 0,
    split: str = "train",
    render: bool = True,
) -> list[PromptCandidates]:
    """In-memory shapes candidates (no files) with meta["oracle"], for fast benchmarks. With
    `render=False` media candidates are left as their specs (enough for a SimulatedJudge, which never looks
    at media, and much faster)."""
    from unireward.data.shapes import ShapesWorld, answer_text, oracle_score

    task = Task.parse(task)
    world = ShapesWorld(seed)
    out = []
    for k in range(num_prompts):
        pid = f"shapes-{seed}-{split}-{task.value}-{k}"
        if render:
            cs = world.candidates(task, n, split)
            text, media, cands, scores = cs.prompt, cs.media, list(cs.candidates), list(cs.scores)
        else:
            spec, specs = world.candidate_specs(task, n, split)
            text, scores = spec.text, [oracle_score(task, spec, c) for c in specs]
            media = None if task.is_generation else spec.media
            cands = list(specs) if task.is_generation else [answer_text(spec.question, c) for c in specs]
        out.append(PromptCandidates(pid, task, text, cands, media, {"oracle": [float(s) for s in scores]}))
    return out


# ------------------------------------------------------------------------------------------ simulated judge


@dataclass
class SimulatedNoise:
    """How a simulated reward model errs, in fractions of the task's score range.

    bias: a per-candidate misjudgement shared by every call on that candidate (a real judge is consistently
    wrong about some candidates, so repeated calls do not average it away). point / pair: independent
    per-call noise of a score / of a comparison's perceived difference. tie_band: a comparison whose
    perceived difference is smaller is a tie (generation tasks only; understanding protocols have no tie).
    position_bias: added to candidate A's side. failure_rate: share of calls that fail to parse.
    integer_scores: round scores to the scale's integers, as generate decisions do (ties in scores then
    happen, as in the paper's pipeline).
    """

    bias: float = 0.10
    point: float = 0.15
    pair: float = 0.10
    tie_band: float = 0.03
    position_bias: float = 0.0
    failure_rate: float = 0.02
    integer_scores: bool = True


class SimulatedJudge:
    """A judge-like object answering from known true scores with controlled noise.

    It reads the prompt id and candidate indices from the item ids `select_many` sets ("<id>#<i>-<j>",
    "<id>#<i>"), so it never looks at media, and it draws every number from (seed, item id): answers do not
    depend on batching or order, so a resumed run matches an uninterrupted one exactly.
    `delay_s` sleeps per call to imitate model latency (e.g. to interrupt a run mid-way in a test).
    """

    def __init__(
        self,
        truth: dict[str, list[float]],
        tasks: dict[str, Task],
        noise: SimulatedNoise | None = None,
        seed: int = 0,
        delay_s: float = 0.0,
    ) -> None:
        from unireward.data.shapes import scale

        self.truth, self.tasks = truth, tasks
        self.noise = noise or SimulatedNoise()
        self.seed, self.delay_s = seed, delay_s
        self._scales = {t: scale(t) for t in Task}
        self._bias: dict[tuple[str, int], float] = {}

    @classmethod
    def from_prompts(cls, prompts: list[PromptCandidates], **kwargs: Any) -> SimulatedJudge:
        """From prompts whose meta carries "oracle" scores (the shapes world's manifests do)."""
        missing = [p.id for p in prompts if "oracle" not in p.meta]
        if missing:
            raise ValueError(f"the simulated judge needs oracle scores; prompt {missing[0]!r} has none")
        return cls({p.id: p.meta["oracle"] for p in prompts}, {p.id: p.task for p in prompts}, **kwargs)

    def describe(self) -> dict:
        return {
            "backend": "simulated",
            "model": "oracle+noise",
            "noise": asdict(self.noise),
            "seed": self.seed,
        }

    def _rng(self, key: str) -> np.random.Generator:
        return np.random.default_rng(seed_for(self.seed, key))

    def _perceived(self, pid: str, i: int) -> float:
        """True score plus this candidate's own, fixed misjudgement."""
        if (pid, i) not in self._bias:
            lo, hi = self._scales[self.tasks[pid]]
            self._bias[pid, i] = self.noise.bias * (hi - lo) * self._rng(f"bias:{pid}#{i}").normal()
        return self.truth[pid][i] + self._bias[pid, i]

    def _sleep(self) -> None:
        if self.delay_s:
            import time

            time.sleep(self.delay_s)

    def _failed(self, rng: np.random.Generator) -> bool:
        return bool(rng.random() < self.noise.failure_rate)

    def _compare(self, item: PairItem, order: str) -> Verdict:
        pid, rest = item.id.rsplit("#", 1)
        a, b = (int(x) for x in rest.split("-"))
        rng = self._rng(f"pair:{order}:{item.id}")
        if self._failed(rng):
            return Verdict(
                None, protocol="simulated", decision="simulated", failure=_PARSE_FAILURE, id=item.id
            )
        lo, hi = self._scales[self.tasks[pid]]
        qa, qb = self._perceived(pid, a), self._perceived(pid, b)
        if order == "BA":
            qa, qb = qb, qa
        d = (qa - qb) / (hi - lo) + self.noise.pair * rng.normal() + self.noise.position_bias
        if item.task.is_generation and abs(d) < self.noise.tie_band:
            winner = "tie"
        else:
            winner = "A" if d > 0 else "B"
        return Verdict(winner, protocol="simulated", decision="simulated", id=item.id)

    def rank(self, items: list[PairItem], *, swap: bool | None = None, **_: Any) -> list[Verdict]:
        self._sleep()
        out = []
        for item in items:
            v = self._compare(item, "AB")
            if swap:
                back = self._compare(item, "BA")
                if not v.ok or not back.ok:
                    v = Verdict(
                        None, protocol="simulated", decision="simulated", failure=_PARSE_FAILURE, id=item.id
                    )
                else:
                    flipped = {"A": "B", "B": "A", "tie": "tie"}[back.winner]
                    v = Verdict(
                        v.winner if v.winner == flipped else "tie",
                        protocol="simulated",
                        decision="simulated",
                        swap_consistent=v.winner == flipped,
                        id=item.id,
                    )
            out.append(v)
        return out

    def score(self, items: list[PointItem], **_: Any) -> list[Score]:
        self._sleep()
        out = []
        for item in items:
            pid, i = item.id.rsplit("#", 1)
            rng = self._rng(f"point:{item.id}")
            lo, hi = self._scales[self.tasks[pid]]
            if self._failed(rng):
                out.append(
                    Score(
                        None,
                        (lo, hi),
                        protocol="simulated",
                        decision="simulated",
                        failure=_PARSE_FAILURE,
                        id=item.id,
                    )
                )
                continue
            v = self._perceived(pid, int(i)) + self.noise.point * (hi - lo) * rng.normal()
            v = min(hi, max(lo, v))
            v = float(math.floor(v + 0.5)) if self.noise.integer_scores else round(v, 9)
            out.append(Score(v, (lo, hi), protocol="simulated", decision="simulated", id=item.id))
        return out


_PARSE_FAILURE = Failure("parse", "simulated unparsable answer")
