"""Unified training/evaluation records for all tasks × modes, stored with Hugging Face `datasets`.

One row per example, the same columns for every task and mode, so datasets from different sources can
be concatenated and mixed:

| column     | meaning                                                                                  |
|------------|------------------------------------------------------------------------------------------|
| id         | unique within the dataset                                                                |
| task       | image_gen / image_und / video_gen / video_und                                            |
| mode       | pair / point                                                                             |
| prompt     | caption (generation) or question (understanding)                                         |
| media      | understanding tasks: the image or video asked about (path); "" for generation            |
| candidates | generation: media paths (an image file, a video file or a folder of frames); understanding: |
|            | answer texts. Two for pairs, one for points                                              |
| label      | pairs: "A" / "B" / "tie"; "" for points                                                  |
| score      | points: the score on the protocol's scale; NaN for pairs                                 |
| details    | JSON: what target texts need (elements, dimensions, explanation)                         |
| source     | where the example came from (for mixing and reports)                                     |

Media live as files next to the Parquet file and paths are stored relative to the dataset directory,
so a dataset directory can be moved or shared as a whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unireward.tasks import Mode, PairItem, PointItem, Task

COLUMNS = ("id", "task", "mode", "prompt", "media", "candidates", "label", "score", "details", "source")
DATA_FILE = "records.parquet"


@dataclass
class Record:
    id: str
    task: str
    mode: str
    prompt: str
    candidates: list[str]
    media: str = ""
    label: str = ""
    score: float = math.nan
    details: dict = field(default_factory=dict)
    source: str = ""

    def validate(self) -> None:
        """Raise ValueError naming the record when it cannot become a training example."""
        where = f"record {self.id!r}"
        task = Task.parse(self.task)
        if self.mode not in (Mode.PAIR.value, Mode.POINT.value):
            raise ValueError(f"{where}: mode must be 'pair' or 'point', got {self.mode!r}")
        want = 2 if self.mode == "pair" else 1
        if len(self.candidates) != want:
            raise ValueError(
                f"{where}: a {self.mode} record needs {want} candidate(s), got {len(self.candidates)}"
            )
        if self.mode == "pair":
            allowed = ("A", "B", "tie") if task.is_generation else ("A", "B")
            if self.label not in allowed:
                raise ValueError(
                    f"{where}: label must be one of {allowed} for {task.value}, got {self.label!r}"
                )
        elif not isinstance(self.score, (int, float)) or math.isnan(self.score):
            raise ValueError(f"{where}: a point record needs a numeric score")
        if not task.is_generation and not self.media:
            raise ValueError(f"{where}: {task.value} needs `media` (the image or video asked about)")

    def to_row(self) -> dict:
        row = {k: getattr(self, k) for k in COLUMNS}
        row["details"] = json.dumps(self.details, sort_keys=True)
        row["score"] = float(self.score)
        return row

    @classmethod
    def from_row(cls, row: dict) -> Record:
        kw = {k: row[k] for k in COLUMNS}
        kw["details"] = json.loads(row["details"] or "{}")
        kw["candidates"] = list(row["candidates"])
        return cls(**kw)


def record_to_item(record: Record, root: str | Path) -> PairItem | PointItem:
    """The judge-facing item of a record, media paths made absolute against the dataset directory."""
    task = Task.parse(record.task)
    root = Path(root)

    def media_path(p: str) -> str:
        return str(root / p) if p and not Path(p).is_absolute() else p

    cands = [media_path(c) for c in record.candidates] if task.is_generation else list(record.candidates)
    media = media_path(record.media) if record.media else None
    if record.mode == "pair":
        return PairItem(task, record.prompt, cands[0], cands[1], media, record.id)
    return PointItem(task, record.prompt, cands[0], media, record.id)


def save_records(records: Iterable[Record], directory: str | Path) -> Path:
    """Validate and write records as a `datasets` Parquet file in `directory` (media already there)."""
    from datasets import Dataset

    rows = []
    seen: set[str] = set()
    for r in records:
        r.validate()
        if r.id in seen:
            raise ValueError(f"duplicate record id {r.id!r}")
        seen.add(r.id)
        rows.append(r.to_row())
    if not rows:
        raise ValueError("no records to save")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows).to_parquet(str(directory / DATA_FILE))
    return directory


def load_records(directory: str | Path):
    """The records of a dataset directory as a `datasets.Dataset`."""
    from datasets import Dataset

    path = Path(directory) / DATA_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{directory}: no {DATA_FILE}; create one with save_records() or `unireward data`"
        )
    ds = Dataset.from_parquet(str(path))
    missing = set(COLUMNS) - set(ds.column_names)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}; expected {list(COLUMNS)}")
    return ds


def _save_media(media: Any, path_stem: Path) -> str:
    """Write an image (PNG) or a video (folder of PNG frames) and return the path written."""
    if isinstance(media, list):
        path_stem.mkdir(parents=True, exist_ok=True)
        for k, frame in enumerate(media):
            frame.save(path_stem / f"frame{k:03d}.png")
        return str(path_stem)
    path = path_stem.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    media.save(path)
    return str(path)


def export_shapes(
    directory: str | Path,
    n_per_task_mode: int,
    *,
    seed: int = 0,
    split: str = "train",
    tasks: Iterable[Task | str] = tuple(Task),
    modes: Iterable[str] = ("pair", "point"),
    image_size: int = 64,
    num_frames: int = 8,
    explain: bool = False,
    balanced_checks: bool = False,
    describe: str = "",
) -> Path:
    """Draw shapes-world examples and save them as a records dataset (media as PNG files). With `explain`,
    each record's details carry the oracle's reasoning (`shapes.explanation`) for the target text;
    `balanced_checks` is `ShapesWorld`'s training mix of image-generation errors; `describe` see
    `shapes.explanation`."""
    from unireward.data.shapes import ShapesWorld

    directory = Path(directory)
    world = ShapesWorld(seed, image_size, num_frames, balanced_checks=balanced_checks)
    records = []
    for task in map(Task.parse, tasks):
        for mode in modes:
            examples = world.examples(task, mode, n_per_task_mode, split=split)
            for k, ex in enumerate(examples):
                rid = f"shapes-{split}-{task.value}-{mode}-{k:06d}"
                item = ex.item
                rel = Path("media") / rid

                def save(m: Any, name: str, rel: Path = rel) -> str:
                    return str(Path(_save_media(m, directory / rel / name)).relative_to(directory))

                media = "" if task.is_generation else save(item.media, "media")
                cands = [item.a, item.b] if mode == "pair" else [item.candidate]
                if task.is_generation:
                    cands = [save(c, f"cand{j}") for j, c in enumerate(cands)]
                label, score, details = shapes_labels(task, ex, explain, describe)
                records.append(
                    Record(
                        rid,
                        task.value,
                        mode,
                        item.prompt,
                        cands,
                        media,
                        label,
                        score,
                        details,
                        f"shapes-{split}",
                    )
                )
    return save_records(records, directory)


def shapes_labels(
    task: Task | str, example: Any, explain: bool = False, describe: str = ""
) -> tuple[str, float, dict]:
    """(label, score, details) of a shapes-world pair or point example, as a record stores them; with
    `explain`, details carry the oracle's reasoning (`shapes.explanation`, which `describe` — a style of
    `shapes.DESCRIBE_STYLES`, optionally + "+videos" — opens with what each image or video shows) for the
    target text."""
    from unireward.data.shapes import PairExample, explanation

    if isinstance(example, PairExample):
        details = {"a": example.details_a, "b": example.details_b, "scores": list(example.scores)}
        label, score = example.label, math.nan
    else:
        details, label, score = dict(example.details), "", float(example.score)
    if explain and (text := explanation(task, example, describe)):
        details["explanation"] = text
    return label, score, details


def target_text(protocol, task: Task | str, mode: str, label: str, score: float, details: dict) -> str:
    """The answer a model is trained to give: the protocol renders the label or score, with the details
    (elements, dimensions, explanation) where its format uses them."""
    task = Task.parse(task)
    if mode == "pair":
        keep = {k: v for k, v in details.items() if k in ("explanation", "scores")}
        if "scores" in keep and not isinstance(keep["scores"], dict):
            keep.pop("scores")  # oracle scores of A and B, not the 2.0 per-dimension format
        return protocol.pair_target(task, label, **keep)
    return protocol.point_target(task, score, **details)


def record_example(record: Record, root: str | Path, protocol) -> tuple[PairItem | PointItem, str]:
    """(item, target answer text) for supervised training (see `target_text`)."""
    target = target_text(protocol, record.task, record.mode, record.label, record.score, record.details)
    return record_to_item(record, root), target
