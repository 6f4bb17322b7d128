"""Training mixes: which record datasets, how many examples of each.

A mix is a small JSON (or dict) in the spirit of the paper's data recipes:

    {"seed": 0,
     "sources": [
        {"path": "data/shapes-train", "sample": "all"},
        {"path": "data/llava-critic-point", "sample": "random:25000"},
        {"path": "data/videofeedback", "sample": "first:5000", "tasks": ["video_gen"]}]}

`sample`: "all", "random:N" (N rows drawn without replacement, seeded), "first:N", "last:N" or "P%"
(a seeded random share). `tasks` / `modes` optionally filter a source before sampling.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from unireward.tasks import Task

_SAMPLE = re.compile(r"^(all|(random|first|last):(\d+)|(\d+(?:\.\d+)?)%)$")


@dataclass
class MixSource:
    path: str
    sample: str = "all"
    tasks: list[str] | None = None
    modes: list[str] | None = None

    def validate(self, where: str) -> None:
        if not _SAMPLE.match(self.sample):
            raise ValueError(
                f"{where}: sample {self.sample!r} is not one of all, random:N, first:N, last:N or P%"
            )
        for t in self.tasks or []:
            Task.parse(t)
        for m in self.modes or []:
            if m not in ("pair", "point"):
                raise ValueError(f"{where}: mode {m!r} is not 'pair' or 'point'")


@dataclass
class MixConfig:
    sources: list[MixSource] = field(default_factory=list)
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> MixConfig:
        unknown = set(d) - {"sources", "seed"}
        if unknown:
            raise ValueError(f"mix config: unknown keys {sorted(unknown)}; expected 'sources' and 'seed'")
        if not d.get("sources"):
            raise ValueError("mix config: 'sources' must list at least one source")
        sources = []
        for k, s in enumerate(d["sources"]):
            if not isinstance(s, dict) or "path" not in s:
                raise ValueError(f"mix config: source {k} needs a 'path'")
            extra = set(s) - {"path", "sample", "tasks", "modes"}
            if extra:
                raise ValueError(f"mix config: source {k} has unknown keys {sorted(extra)}")
            sources.append(MixSource(**s))
        config = cls(sources=sources, seed=int(d.get("seed", 0)))
        for k, s in enumerate(config.sources):
            s.validate(f"mix config: source {k} ({s.path})")
        return config

    @classmethod
    def from_file(cls, path: str | Path) -> MixConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def build_mix(config: MixConfig, base_dir: str | Path = "."):
    """Load, filter, sample and concatenate the sources. A `root` column records the directory each row's
    relative media paths are relative to."""
    from datasets import concatenate_datasets

    from unireward.data.records import load_records

    parts = []
    for k, src in enumerate(config.sources):
        where = f"mix source {k} ({src.path})"
        path = Path(src.path)
        path = path if path.is_absolute() else Path(base_dir) / path
        ds = load_records(path)
        if src.tasks:
            ds = ds.filter(lambda t, keep=set(src.tasks): t in keep, input_columns="task")
        if src.modes:
            ds = ds.filter(lambda m, keep=set(src.modes): m in keep, input_columns="mode")
        ds = _sample(ds, src.sample, config.seed + k, where)
        parts.append(ds.add_column("root", [str(path)] * len(ds)))
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def _sample(ds, spec: str, seed: int, where: str):
    m = _SAMPLE.match(spec)
    if spec == "all":
        return ds
    if m.group(4) is not None:
        share = float(m.group(4))
        if not 0 < share <= 100:
            raise ValueError(f"{where}: a share must be in (0, 100]%, got {spec}")
        n = max(1, round(len(ds) * share / 100))
        return ds.shuffle(seed=seed).select(range(n))
    how, n = m.group(2), int(m.group(3))
    if n > len(ds):
        raise ValueError(f"{where}: asks for {spec} but the source has only {len(ds)} rows (after filters)")
    if how == "random":
        return ds.shuffle(seed=seed).select(range(n))
    if how == "first":
        return ds.select(range(n))
    return ds.select(range(len(ds) - n, len(ds)))
