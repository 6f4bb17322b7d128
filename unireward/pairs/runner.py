"""The pairs runner: candidates in, preference pairs out, over thousands of prompts, safe to kill.

    config = PairsConfig(candidates="manifest.jsonl", output_dir="runs/pairs", strategy="paper")
    summary = run_pairs(config)

Output directory:
- `run.json`: what produced the run (candidates, strategy and options, reward model, frame policy, shard
  count). A resumed run must match it, so one output never mixes two settings.
- `records-<i>-of-<n>.jsonl`: one line per prompt of shard i — candidates, every verdict and score, the
  pairs or why there are none, counts of calls, ties and failures (what a report is built from). Lines are
  appended in prompt order and fsynced one by one. On start, a torn last line (a kill during a write) is cut
  off and prompts already recorded are skipped, so a run killed at any moment, even by SIGKILL, resumes
  with nothing lost and nothing duplicated. Records hold no timings, so a resumed run's files equal an
  uninterrupted run's byte for byte (with a deterministic judge: a real model's batched float results can
  differ in the last bits when a kill splits a batch).
- `export/`: the datasets (`unireward.pairs.export`), written at the end of an unsharded run, or by
  `export_run(output_dir)` once every shard is done.

Prompts are taken in chunks of `prompts_per_batch` aligned to fixed positions in the shard; one chunk's
rounds are single judge calls (full batches). Each candidate is decoded once per prompt (with the judge's
frame policy) and the decoded object enters every comparison and score, however many. `ray=True` runs the
chunks on Ray actors (one judge each); the driver alone writes, in order, so the guarantees hold (with a
generator, actors save sampled media under the output directory: on a cluster it must be shared storage).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unireward.media import FramePolicy, MediaError, load_media
from unireward.pairs.sources import (
    PromptCandidates,
    PromptSpec,
    SimulatedJudge,
    SimulatedNoise,
    TextToImageSampler,
    TextToVideoSampler,
    VLMSampler,
    read_candidates,
    read_prompts,
    save_candidates,
)
from unireward.pairs.strategies import JudgeLike, Strategy, get_strategy, judge_swap, select_many

JUDGES = ("model", "oracle")
GENERATORS = ("vlm", "text_to_image", "text_to_video")


@dataclass
class PairsConfig:
    """One pairs run.

    Input: `candidates` (a manifest or a folder per prompt, see `sources.read_candidates`), or `prompts`
    plus a `generator` ("vlm" | "text_to_image" | "text_to_video", model `generator_model`) that samples
    `num_candidates` per prompt inside the run (media saved under `<output_dir>/media`, resumable with it).
    `judge="oracle"` answers from the manifest's "oracle" scores with `oracle_noise` (SimulatedNoise
    fields): a simulation for shapes-world candidates, never a real reward.
    """

    output_dir: str
    candidates: str | None = None
    task: str | None = None
    strategy: str = "paper"
    strategy_options: dict = field(default_factory=dict)
    # the reward model
    judge: str = "model"
    model: str | None = None
    protocol: str | None = None
    decision: str | None = None  # None: the model's recorded choice (unireward.json), else logits
    swap: bool | None = None  # None: the judge's own setting (a model may record it), else off
    batch_size: int = 8
    num_frames: int = 8
    device: str = "auto"
    dtype: str = "auto"
    oracle_noise: dict = field(default_factory=dict)
    oracle_seed: int = 0
    # candidate generation (instead of `candidates`)
    prompts: str | None = None
    generator: str | None = None
    generator_model: str | None = None
    num_candidates: int = 10
    temperature: float = 0.7
    max_new_tokens: int = 256
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    video_num_frames: int = 16
    video_format: str = "mp4"
    generator_seed: int = 0
    # the run
    shard: str = "0/1"
    prompts_per_batch: int = 8
    export: bool = True
    progress: bool = True
    ray: bool = False
    ray_address: str | None = None
    ray_workers: int = 1
    ray_gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        if self.judge not in JUDGES:
            raise ValueError(f"judge must be one of {JUDGES}, got {self.judge!r}")
        if (self.candidates is None) == (self.prompts is None):
            raise ValueError("give either candidates (a manifest or folder) or prompts with a generator")
        if self.prompts is not None:
            if self.generator not in GENERATORS or not self.generator_model:
                raise ValueError(f"prompts need generator ({' | '.join(GENERATORS)}) and generator_model")
            if self.judge == "oracle":
                raise ValueError(
                    "the oracle judge needs shapes-world candidates with oracle scores, not prompts"
                )
        if self.prompts_per_batch < 1:
            raise ValueError("prompts_per_batch must be >= 1")
        parse_shard(self.shard)
        get_strategy(self.strategy, **self.strategy_options)  # fail now, not after loading a model


def parse_shard(shard: str) -> tuple[int, int]:
    """ "i/n" -> (i, n) with 0 <= i < n: shard i takes prompts i, i+n, i+2n, ... of the manifest."""
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise ValueError(f"shard must look like 0/4, got {shard!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"shard {shard!r}: need 0 <= i < n")
    return i, n


# ------------------------------------------------------------------------------------------ append-only log


def read_log(path: Path, *, repair: bool = True) -> list[dict]:
    """The complete records of an append-only JSONL log. A torn last line (a kill mid-write) is cut off
    the file when `repair`, so appending continues on a clean line boundary."""
    if not path.exists():
        return []
    data = path.read_bytes()
    good = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
    records = []
    for line in data[:good].splitlines():
        if line.strip():
            records.append(json.loads(line))
    if repair and good < len(data):
        with path.open("r+b") as fh:
            fh.truncate(good)
            fh.flush()
            os.fsync(fh.fileno())
    return records


def append_record(fh, record: dict) -> None:
    """One record as one line, written and fsynced before the next prompt starts."""
    fh.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


# ------------------------------------------------------------------------------------------ judging


def build_judge(config: PairsConfig, prompts: list[PromptCandidates]) -> JudgeLike:
    if config.judge == "oracle":
        noise = SimulatedNoise(**config.oracle_noise)
        return SimulatedJudge.from_prompts(prompts, noise=noise, seed=config.oracle_seed)
    from unireward.judge import load_judge

    return load_judge(
        config.model,
        protocol=config.protocol,
        decision=config.decision,
        swap=config.swap,
        batch_size=config.batch_size,
        frame_policy=FramePolicy(num_frames=config.num_frames),
        device=config.device,
        dtype=config.dtype,
    )


def build_sampler(config: PairsConfig) -> Any:
    """The candidate sampler a config names (None when candidates are read from disk)."""
    if config.prompts is None:
        return None
    common = {"seed": config.generator_seed, "device": config.device, "dtype": config.dtype}
    if config.generator == "vlm":
        return VLMSampler(
            config.generator_model,
            temperature=config.temperature,
            max_new_tokens=config.max_new_tokens,
            frame_policy=FramePolicy(num_frames=config.num_frames),
            **common,
        )
    steps, guidance = config.num_inference_steps, config.guidance_scale
    if config.generator == "text_to_image":
        return TextToImageSampler(
            config.generator_model,
            num_inference_steps=1 if steps is None else steps,
            guidance_scale=0.0 if guidance is None else guidance,
            **common,
        )
    return TextToVideoSampler(
        config.generator_model,
        num_inference_steps=4 if steps is None else steps,
        guidance_scale=7.5 if guidance is None else guidance,
        num_frames=config.video_num_frames,
        **common,
    )


def _load_once(kind: str, src: Any, policy: FramePolicy | None) -> Any:
    """Decode a candidate once; the decoded object is what every comparison and score receives.

    Left as is when the judge loads nothing (simulated), for videos under an fps policy (decoded frames
    have lost their timing; the judge then decodes once per call), and when the media is broken (the judge
    reports the failure for each item that needs it)."""
    if policy is None or src is None or (kind == "video" and policy.fps is not None):
        return src
    try:
        return load_media(kind, src, policy)
    except MediaError:
        return src


def _with_media(p: PromptCandidates, policy: FramePolicy | None) -> PromptCandidates:
    kind = "video" if p.task.is_video else "image"
    if p.task.is_generation:
        return dataclasses.replace(p, candidates=[_load_once(kind, c, policy) for c in p.candidates])
    return dataclasses.replace(p, media=_load_once(kind, p.media, policy))


def _sampled(sampler: Any, index: int, spec: PromptSpec, config: PairsConfig) -> PromptCandidates:
    """Sample a prompt's candidates and save their media under <output_dir>/media/<index>. Seeds depend on
    the prompt id only, so a prompt resampled after a kill gets the same candidates."""
    out = Path(config.output_dir).resolve()
    cands = sampler.sample(spec, config.num_candidates)
    saved = save_candidates(cands, spec.task, out / "media" / f"{index:06d}", out, config.video_format)
    if spec.task.is_generation:
        saved = [str(out / s) for s in saved]
    return PromptCandidates(spec.id, spec.task, spec.prompt, saved, spec.media, spec.meta)


def process_chunk(
    judge: JudgeLike,
    strategy: Strategy,
    chunk: list[tuple[int, Any]],
    swap: bool | None,
    sampler: Any = None,
    config: PairsConfig | None = None,
) -> list[dict]:
    """Select pairs for one chunk of (index, prompt); returns the records, in chunk order. With a sampler
    the prompts are PromptSpecs whose candidates are sampled first."""
    if sampler is not None:
        chunk = [(index, _sampled(sampler, index, spec, config)) for index, spec in chunk]
    policy = getattr(judge, "frame_policy", None)
    loaded = [_with_media(p, policy) for _, p in chunk]
    selections = select_many(strategy, judge, loaded, swap=swap)
    return [
        {
            "index": index,
            "id": p.id,
            "task": p.task.value,
            "prompt": p.prompt,
            "media": p.media,
            "candidates": p.candidates,
            "meta": p.meta,
            **sel.to_dict(),
        }
        for (index, p), sel in zip(chunk, selections)
    ]


# ------------------------------------------------------------------------------------------ the run


@dataclass
class RunSummary:
    prompts: int
    pairs: int
    calls: int
    ties: int
    failures: int
    dropped: dict[str, int]
    new_prompts: int
    wall_s: float
    records: Path
    exports: dict[str, dict] | None = None


@dataclass
class _JudgeInfo:
    """What run.json records about a judge that lives elsewhere (a Ray actor)."""

    info: dict
    frame_policy: FramePolicy | None

    def describe(self) -> dict:
        return self.info


def _records_path(out: Path, i: int, n: int) -> Path:
    return out / f"records-{i:05d}-of-{n:05d}.jsonl"


def _describe(obj: Any) -> dict:
    return obj.describe() if hasattr(obj, "describe") else {"class": type(obj).__name__}


def _run_info(
    config: PairsConfig, judge: JudgeLike, sampler_info: dict | None, strategy: Strategy, total: int, n: int
) -> dict:
    policy = getattr(judge, "frame_policy", None)
    source = config.candidates if config.candidates is not None else config.prompts
    return {
        "input": str(Path(source).resolve()),
        "task": config.task,
        "num_prompts": total,
        "num_shards": n,
        "strategy": strategy.name,
        "strategy_options": strategy.options(),
        "swap": judge_swap(judge, config.swap),
        "reward_model": _describe(judge),
        "frame_policy": policy.to_dict() if policy is not None else None,
        "sampler": sampler_info,
        "num_candidates": config.num_candidates if sampler_info else None,
    }


def _check_run_info(out: Path, info: dict) -> None:
    path = out / "run.json"
    info = json.loads(json.dumps(info))  # as it reads back (tuples become lists)
    if path.exists():
        old = json.loads(path.read_text())
        diff = sorted(k for k in set(old) | set(info) if old.get(k) != info.get(k))
        if diff:
            raise ValueError(
                f"{out} holds a run with different settings ({', '.join(diff)}); resume with the same "
                "settings or choose a new output directory"
            )
        return
    tmp = out / f"run.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _read_inputs(config: PairsConfig) -> list[Any]:
    if config.candidates is not None:
        return read_candidates(config.candidates, config.task)
    return read_prompts(config.prompts, config.task)


def run_pairs(config: PairsConfig, judge: JudgeLike | None = None) -> RunSummary:
    """Run (or resume) one shard of a pairs run; export the datasets at the end of an unsharded run.
    `judge` replaces the one the config describes (a custom or simulated judge; local runs only)."""
    start = time.perf_counter()
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    i, n = parse_shard(config.shard)
    prompts = _read_inputs(config)
    mine = [(k, p) for k, p in enumerate(prompts) if k % n == i]
    strategy = get_strategy(config.strategy, **config.strategy_options)
    if config.ray:
        if judge is not None:
            raise ValueError("a Ray run builds its judges from the config; do not pass one")
        pool, judge_info, sampler_info = _start_ray(config, prompts)
    else:
        judge = judge if judge is not None else build_judge(config, prompts)
        sampler = build_sampler(config)
        judge_info, sampler_info = judge, (_describe(sampler) if sampler is not None else None)
    _check_run_info(out, _run_info(config, judge_info, sampler_info, strategy, len(prompts), n))

    path = _records_path(out, i, n)
    done_records = read_log(path)
    done = {r["id"] for r in done_records}
    chunks = [mine[k : k + config.prompts_per_batch] for k in range(0, len(mine), config.prompts_per_batch)]
    todo = [c for c in ([(k, p) for k, p in chunk if p.id not in done] for chunk in chunks) if c]

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(mine), initial=len(done), desc=f"pairs {i}/{n}", unit="prompt", disable=not config.progress
    )
    new: list[dict] = []
    pairs_so_far = sum(len(r["pairs"]) for r in done_records)
    with path.open("a", encoding="utf-8") as fh:
        if config.ray:
            results = pool.map(lambda w, chunk: w.run.remote(chunk), todo)  # in submission order
        else:
            results = (process_chunk(judge, strategy, c, config.swap, sampler, config) for c in todo)
        for records in results:
            for rec in records:
                append_record(fh, rec)
                new.append(rec)
                pairs_so_far += len(rec["pairs"])
            bar.update(len(records))
            bar.set_postfix(pairs=pairs_so_far)
    bar.close()

    summary = _summarise(done_records + new, len(new), time.perf_counter() - start, path)
    if config.export and n == 1:
        summary.exports = export_run(out, progress=config.progress)
    return summary


def _summarise(records: list[dict], new: int, wall_s: float, path: Path) -> RunSummary:
    dropped = Counter(r["dropped"] for r in records if r["dropped"])
    return RunSummary(
        prompts=len(records),
        pairs=sum(len(r["pairs"]) for r in records),
        calls=sum(r["calls"] for r in records),
        ties=sum(r["ties"] for r in records),
        failures=sum(r["failures"] for r in records),
        dropped=dict(sorted(dropped.items())),
        new_prompts=new,
        wall_s=wall_s,
        records=path,
    )


def export_run(
    output_dir: str | Path, *, allow_partial: bool = False, progress: bool = True
) -> dict[str, dict]:
    """Merge every shard's records (in prompt order, each prompt once) and write the datasets to
    `<output_dir>/export`. Refuses an unfinished run unless `allow_partial`."""
    from unireward.pairs.export import write_exports

    out = Path(output_dir)
    info_path = out / "run.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{out} holds no pairs run (no run.json)")
    run = json.loads(info_path.read_text())
    total, n = run["num_prompts"], run["num_shards"]
    by_id: dict[str, dict] = {}
    missing = []
    for i in range(n):
        recs = read_log(_records_path(out, i, n), repair=False)
        expected = len(range(i, total, n))
        if len(recs) < expected:
            missing.append(f"shard {i}/{n}: {len(recs)} of {expected} prompts")
        for r in recs:
            by_id.setdefault(r["id"], r)
    if missing and not allow_partial:
        raise RuntimeError("the run is not finished: " + "; ".join(missing) + " (run those shards again)")
    return write_exports(list(by_id.values()), run, out / "export", progress=progress)


# ------------------------------------------------------------------------------------------ Ray


class _Worker:
    """A Ray actor: one judge (and sampler), many chunks."""

    def __init__(self, config: PairsConfig, oracle_prompts: list[PromptCandidates] | None) -> None:
        self.config = config
        self.judge = build_judge(config, oracle_prompts or [])
        self.sampler = build_sampler(config)
        self.strategy = get_strategy(config.strategy, **config.strategy_options)

    def info(self) -> tuple[dict, dict | None, dict | None]:
        policy = getattr(self.judge, "frame_policy", None)
        sampler = _describe(self.sampler) if self.sampler is not None else None
        return _describe(self.judge), (policy.to_dict() if policy is not None else None), sampler

    def run(self, chunk: list[tuple[int, Any]]) -> list[dict]:
        return process_chunk(self.judge, self.strategy, chunk, self.config.swap, self.sampler, self.config)


def _start_ray(config: PairsConfig, prompts: list[Any]) -> tuple[Any, _JudgeInfo, dict | None]:
    """Actors with one judge each. `ActorPool.map` returns results in submission order and only the
    driver writes, so the records file is exactly what a local run writes."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise ImportError("ray=True needs Ray: pip install 'ray[default]'") from None
    if not ray.is_initialized():
        ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False)
    worker_cls = ray.remote(num_gpus=config.ray_gpus_per_worker)(_Worker)
    oracle_prompts = prompts if config.judge == "oracle" else None
    workers = [worker_cls.remote(config, oracle_prompts) for _ in range(max(1, config.ray_workers))]
    info, policy, sampler = ray.get(workers[0].info.remote())
    frame_policy = FramePolicy.from_dict(policy) if policy is not None else None
    return ActorPool(workers), _JudgeInfo(info, frame_policy), sampler


# ------------------------------------------------------------------------------------------ generation


def generate_candidates(
    sampler: Any,
    prompts: list[PromptSpec],
    output_dir: str | Path,
    *,
    n: int = 10,
    shard: str = "0/1",
    video_format: str = "mp4",
    progress: bool = True,
) -> Path:
    """Sample n candidates per prompt and append them to a manifest the pairs runner reads
    (`<output_dir>/candidates.jsonl`, or one file per shard; media under `media/`), resumable like the
    pairs records. Use it to sample once and try several strategies or reward models on the result."""
    from tqdm.auto import tqdm

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    i, k = parse_shard(shard)
    path = out / ("candidates.jsonl" if k == 1 else f"candidates-{i:05d}-of-{k:05d}.jsonl")
    done = {r["id"] for r in read_log(path)}
    mine = [(j, p) for j, p in enumerate(prompts) if j % k == i]
    bar = tqdm(total=len(mine), initial=len(done), desc="candidates", unit="prompt", disable=not progress)
    describe = _describe(sampler)
    with path.open("a", encoding="utf-8") as fh:
        for j, spec in mine:
            if spec.id in done:
                continue
            cands = sampler.sample(spec, n)
            saved = save_candidates(cands, spec.task, out / "media" / f"{j:06d}", out, video_format)
            media = None if spec.media is None else str(Path(spec.media).resolve())
            row = {
                "id": spec.id,
                "task": spec.task.value,
                "prompt": spec.prompt,
                "media": media,
                "candidates": saved,
                "sampler": describe,
                **spec.meta,
            }
            append_record(fh, row)
            bar.update(1)
    bar.close()
    return path
