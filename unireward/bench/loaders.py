"""Reward-benchmark loaders: each benchmark's published layout read into one `BenchSuite`.

Why one loader per benchmark: the field's scripts disagree on how to read labels (which side won, what a tie
is, which group an item belongs to), so each loader writes its benchmark's rule down once, as a checked
constant, and fails with a message that names the missing field instead of guessing.

Input (`data`) is a local directory, a single file or a local Hugging Face `datasets` copy
(`save_to_disk`). A directory is searched recursively for JSON / JSONL / Parquet / CSV files, so a
hub snapshot (`image_generation/train-00000-of-00001.parquet`, `data/test-*.parquet`) reads as it is.
Files named like hub shards (`<split>-00000-of-00001.*`) or inside a `train/` / `test/` folder belong to that
split; when splits are present one is read: `split`, else "test", else the only one. Media given as paths are
read relative to the data file's folder, then to `data`; a URL is looked up locally by its file name (in
the folder, `videos/`, `images/`, or as a folder of frames named after it); media missing locally fail
per item when judged (a counted media failure), never silently downloaded or dropped.

Suites and their rules (the runner computes them with `unireward.bench.metrics`):

- vl-rewardbench: image_und pairs; human_ranking [0, 1] = A better, [1, 0] = B better; accuracy per group
  (general / hallucination / reasoning), overall and macro.
- genai-bench-image / genai-bench-video: image_gen / video_gen pairs; leftvote = A, rightvote = B, tievote and
  bothbad_vote = tie; tau (ties counted) and diff (ties excluded).
- videogen-rewardbench: video_gen pairs; Overall / VQ / MQ / TA labels A, B, same (= tie); tie-calibrated
  accuracy and accuracy without ties, per dimension.
- mj-bench: image_gen pairs; label_0 1 = A, 0 = B, 0.5 = tie; accuracy with a fixed tie threshold.
- shapes: all four tasks, pair and point, labelled by the shapes-world oracle; pair accuracy with and
  without ties, Spearman correlation of point scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from unireward.media import FramePolicy
from unireward.tasks import Outcome, PairItem, PointItem, Task

MetricRule = Literal["group_accuracy", "tau_diff", "tie_calibrated", "tie_threshold", "shapes"]

# The protocol's frame count for benchmarks: 8 frames sampled uniformly over each clip.
BENCH_FRAME_POLICY = FramePolicy(num_frames=8)
DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
# Metadata files of a `save_to_disk` copy or a hub snapshot; never data.
_METADATA_FILES = frozenset({"dataset_info.json", "dataset_dict.json", "state.json", "dataset_infos.json"})
KNOWN_SPLITS = ("train", "test", "validation", "valid", "val", "dev", "eval")
_SHARD = re.compile(r"^(?P<split>.+?)-\d{5}-of-\d{5}$")


class LayoutError(ValueError):
    """The data is not laid out as the benchmark publishes it; the message names the field and the row."""


@dataclass
class BenchItem:
    """One judged item with its human (or oracle) label.

    `label` is an outcome ("A" / "B" / "tie") for pair items and the oracle score for point items; `labels`
    holds extra per-dimension labels (VideoGen-RewardBench: Overall, VQ, MQ, TA; None = not annotated);
    `category` is what accuracy is broken down by; `meta` keeps provenance (file, source, raw label)."""

    item: PairItem | PointItem
    label: Outcome | float
    category: str
    labels: dict[str, Outcome | None] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.item.id)

    @property
    def mode(self) -> str:
        return "pair" if isinstance(self.item, PairItem) else "point"


@dataclass
class BenchSuite:
    """A benchmark ready to judge: items, the metric rule (key and words), and the frame policy for video
    (None when the suite has no video). `info` records loader decisions (files read, rows skipped, ...)."""

    name: str
    items: list[BenchItem]
    metric: MetricRule
    rule: str
    frame_policy: FramePolicy | None
    source: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.items:
            raise LayoutError(f"{self.name}: no items found in {self.source}")
        counts = Counter(bi.id for bi in self.items)
        dupes = [i for i, c in counts.items() if c > 1]
        if dupes:
            raise LayoutError(f"{self.name}: item ids must be unique; repeated: {dupes[:5]}")

    def fingerprint(self) -> str:
        """A hash of the ids and labels in order: a resumed run must be over the very same items."""
        keys = [json.dumps([bi.id, bi.label, bi.labels], sort_keys=True) for bi in self.items]
        return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ reading files
def read_records(
    data: str | Path, *, config: str | None = None, split: str | None = None
) -> tuple[list[dict], list[Path], dict[str, Any]]:
    """Rows of a local benchmark copy, each tagged with `_file` (its file, relative to the data root) and
    `_base` (the folder its relative media paths start from). Returns (rows, media roots, info)."""
    path = Path(data).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"benchmark data not found at {path}; pass --data <local directory or file>")
    if path.is_dir() and config and (path / config).is_dir():
        path = path / config
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        return _read_hf_disk(path, split)
    roots = [path if path.is_dir() else path.parent]
    top = Path(data).expanduser()
    if top.is_dir() and top not in roots:
        roots.append(top)
    if path.is_file():
        files = [path]
    else:
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in DATA_SUFFIXES
            and p.name not in _METADATA_FILES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise LayoutError(f"no {'/'.join(DATA_SUFFIXES)} files under {path}")
        files = _select_split(files, path, split)
    rows: list[dict] = []
    for f in files:
        rel = str(f.relative_to(roots[0])) if f != path else f.name
        for row in _read_file(f):
            if not isinstance(row, dict):
                raise LayoutError(
                    f"{f}: each record must be an object with named fields, got {type(row).__name__}"
                )
            row["_file"], row["_base"] = rel, f.parent
            rows.append(row)
    return rows, roots, {"files": [str(f) for f in files]}


def _split_of(rel: Path) -> str | None:
    m = _SHARD.match(rel.stem)
    if m:
        return m.group("split")
    if len(rel.parts) > 1 and rel.parts[-2] in KNOWN_SPLITS:
        return rel.parts[-2]
    return None


def _select_split(files: list[Path], root: Path, split: str | None) -> list[Path]:
    tagged = {f: _split_of(f.relative_to(root)) for f in files}
    present = sorted({s for s in tagged.values() if s})
    if not present:
        if split:
            raise LayoutError(f"split {split!r} requested but no file under {root} is tagged with a split")
        return files
    if split is None:
        if "test" in present:
            split = "test"
        elif len(present) == 1:
            split = present[0]
        else:
            raise LayoutError(f"{root} holds several splits {present}; choose one with split= (--split)")
    if split not in present:
        raise LayoutError(f"split {split!r} not found under {root}; present: {present}")
    return [f for f in files if tagged[f] in (split, None)]


def _read_file(f: Path) -> list[Any]:
    suffix = f.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise LayoutError(f"{f} line {n}: not valid JSON ({e})") from None
        return rows
    if suffix == ".json":
        obj = json.loads(f.read_text())
        if isinstance(obj, dict) and len(obj) == 1 and isinstance(next(iter(obj.values())), list):
            obj = next(iter(obj.values()))
        if not isinstance(obj, list):
            raise LayoutError(f"{f}: a .json data file must hold a list of records")
        return obj
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(f).to_pylist()
    import pyarrow.csv as pcsv

    # Labels stay strings ("A", "B", "same"); empty cells become None.
    table = pcsv.read_csv(f, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    return table.to_pylist()


def _read_hf_disk(path: Path, split: str | None) -> tuple[list[dict], list[Path], dict[str, Any]]:
    """A `datasets.save_to_disk` copy. Image/video columns are read undecoded ({bytes, path}), so decoding
    happens per item in the judge, where a broken file fails alone."""
    import datasets

    ds = datasets.load_from_disk(str(path))
    chosen = None
    if isinstance(ds, datasets.DatasetDict):
        names = list(ds)
        chosen = split or ("test" if "test" in names else (names[0] if len(names) == 1 else None))
        if chosen not in ds:
            raise LayoutError(f"{path} holds splits {names}; choose one with split= (--split)")
        ds = ds[chosen]
    elif split:
        raise LayoutError(f"{path} is a single split; drop split={split!r}")
    for name, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            ds = ds.cast_column(name, datasets.Image(decode=False))
        elif hasattr(datasets, "Video") and isinstance(feature, datasets.Video):
            ds = ds.cast_column(name, datasets.Video(decode=False))
    rows = ds.to_list()
    tag = f"hf:{chosen or 'dataset'}"
    for row in rows:
        row["_file"], row["_base"] = tag, path
    return rows, [path], {"files": [str(path)], "hf_split": chosen}


# ---------------------------------------------------------------------------------------- row helpers
def _where(suite: str, row: dict, index: int) -> str:
    return f"{suite}: {row.get('_file', '?')} row {index}"


def _get(row: dict, names: Sequence[str], where: str, *, required: bool = True) -> Any:
    """The first of `names` present in `row` (accepted aliases, in order of preference)."""
    for n in names:
        if n in row:
            return row[n]
    if not required:
        return None
    fields = sorted(k for k in row if not k.startswith("_"))
    alias = f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
    raise LayoutError(f"{where}: missing field {names[0]!r}{alias}; fields present: {fields}")


def _media(value: Any, row: dict, roots: list[Path], where: str) -> Any:
    """A media value as the judge can load it: HF image structs become bytes or a path, relative paths are
    resolved locally, a URL becomes its local copy (or the local path it should have, which then fails as a
    media failure naming it)."""
    if value is None:
        raise LayoutError(f"{where}: a media field is empty")
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path"):
            return _media(value["path"], row, roots, where)
        raise LayoutError(f"{where}: a media struct has neither bytes nor path")
    if isinstance(value, (list, tuple)):
        return [_media(v, row, roots, where) for v in value]
    if not isinstance(value, str):
        return value  # bytes, PIL image, array: loadable as is
    bases = [row.get("_base"), *roots]
    bases = [b for i, b in enumerate(bases) if b is not None and b not in bases[:i]]
    if "://" in value:
        name = value.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        stem = Path(name).stem
        for b in bases:
            for cand in (b / name, b / "videos" / name, b / "images" / name, b / stem, b / "frames" / stem):
                if cand.exists():
                    return str(cand)
        return str(bases[0] / name)
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    for b in bases:
        if (b / p).exists():
            return str(b / p)
    return str(bases[0] / p)


def _row_id(row: dict, prefix: str, index: int) -> str:
    value = row.get("id")
    return str(value) if value not in (None, "") else f"{prefix}-{index}"


# ------------------------------------------------------------------------------------------ VL-RewardBench
VL_REWARDBENCH_FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "query": ("query",),
    "response": ("response",),
    "human_ranking": ("human_ranking",),
    "image": ("image", "image_path"),
}
VL_REWARDBENCH_GROUPS = ("general", "hallucination", "reasoning")
# Source dataset -> group, as in the benchmark's own evaluation (`group_mapping`). Keys are lower case with
# spaces/underscores as "-" (so query_source "MMMU-Pro" -> "mmmu-pro"); "reasoning_tasks" is the file/folder
# name of the reasoning subset in the release.
VL_REWARDBENCH_SOURCES: dict[str, str] = {
    "vlfeedback": "general",
    "wildvision": "general",
    "wildvision-battle": "general",
    "povid": "hallucination",
    "rlaif-v": "hallucination",
    "rlhf-v": "hallucination",
    "reasoning-tasks": "reasoning",
    "mmmu-pro": "reasoning",
    "mathverse": "reasoning",
}
# Id prefix (text before the first "_" or "-") -> source, for copies that keep only the id. POVID ids start
# with "hallucination_pair"; the public UnifiedReward scripts send them to "vlfeedback" (general) by falling
# through, we send them to POVID (hallucination), as the benchmark does. Any other prefix is "vlfeedback",
# as in those scripts; such items are counted in info["groups_by_fallback"].
VL_REWARDBENCH_ID_PREFIXES: dict[str, str] = {
    "RLAIF": "rlaif-v",
    "RLHF": "rlhf-v",
    "mathverse": "mathverse",
    "mmmu": "mmmu-pro",
    "wildvision": "wildvision-battle",
    "hallucination": "povid",
}


def _source_key(s: str) -> str:
    return re.sub(r"[\s_]+", "-", s.strip().lower())


def vl_rewardbench_group(row: dict, where: str) -> tuple[str, str]:
    """(group, how it was found). Order: an explicit `category`/`group` column, `query_source`, a source
    name among the `image_path` folders, the data file's name, the id prefix, else vlfeedback (general)."""
    explicit = _get(row, ("category", "group"), where, required=False)
    if explicit:
        group = str(explicit).strip().lower()
        if group not in VL_REWARDBENCH_GROUPS:
            raise LayoutError(f"{where}: category {explicit!r} is not one of {VL_REWARDBENCH_GROUPS}")
        return group, "category column"
    source = row.get("query_source")
    if source:
        key = _source_key(str(source))
        if key not in VL_REWARDBENCH_SOURCES:
            raise LayoutError(
                f"{where}: unknown query_source {source!r}; known: {sorted(VL_REWARDBENCH_SOURCES)}"
            )
        return VL_REWARDBENCH_SOURCES[key], "query_source"
    image_path = row.get("image_path")
    if isinstance(image_path, str):
        for part in Path(image_path).parts[:-1]:
            if _source_key(part) in VL_REWARDBENCH_SOURCES:
                return VL_REWARDBENCH_SOURCES[_source_key(part)], "image_path folder"
    stem = _source_key(Path(str(row.get("_file", ""))).stem)
    if stem in VL_REWARDBENCH_SOURCES:
        return VL_REWARDBENCH_SOURCES[stem], "file name"
    rid = str(row.get("id", ""))
    cut = min((i for i in (rid.find("_"), rid.find("-")) if i >= 0), default=len(rid))
    prefix = rid[:cut]
    if prefix in VL_REWARDBENCH_ID_PREFIXES:
        return VL_REWARDBENCH_SOURCES[VL_REWARDBENCH_ID_PREFIXES[prefix]], "id prefix"
    return "general", "fallback (vlfeedback)"


def load_vl_rewardbench(data: str | Path, *, split: str | None = None) -> BenchSuite:
    rows, roots, info = read_records(data, split=split)
    items, how = [], Counter()
    f = VL_REWARDBENCH_FIELDS
    for i, row in enumerate(rows):
        where = _where("vl-rewardbench", row, i)
        rid = str(_get(row, f["id"], where))
        response = _get(row, f["response"], where)
        ranking = _get(row, f["human_ranking"], where)
        if not isinstance(response, (list, tuple)) or len(response) != 2:
            raise LayoutError(f"{where} (id {rid}): `response` must be a list of 2 answers")
        if list(ranking or []) == [0, 1]:
            label: Outcome = "A"
        elif list(ranking or []) == [1, 0]:
            label = "B"
        else:
            raise LayoutError(f"{where} (id {rid}): human_ranking must be [0, 1] or [1, 0], got {ranking!r}")
        group, found = vl_rewardbench_group(row, where)
        how[found] += 1
        image = _media(_get(row, f["image"], where), row, roots, where)
        item = PairItem(
            Task.IMAGE_UND,
            str(_get(row, f["query"], where)),
            str(response[0]),
            str(response[1]),
            media=image,
            id=rid,
        )
        items.append(BenchItem(item, label, group, meta={"file": row["_file"], "group_from": found}))
    info.update(groups_found_by=dict(how), groups_by_fallback=how["fallback (vlfeedback)"])
    return BenchSuite(
        "vl-rewardbench",
        items,
        "group_accuracy",
        "accuracy per group (general / hallucination / reasoning), overall = all items pooled, macro = mean "
        "of the three group accuracies; a verdict is correct when it names the human-preferred answer; "
        "parse failures and tie verdicts count as wrong and failures are reported",
        None,
        str(data),
        info,
    )


# --------------------------------------------------------------------------------------------- GenAI-Bench
GENAI_BENCH_CONFIGS: dict[str, Task] = {
    "image_generation": Task.IMAGE_GEN,
    "video_generation": Task.VIDEO_GEN,
}
GENAI_BENCH_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "image_generation": {
        "prompt": ("prompt",),
        "a": ("left_image",),
        "b": ("right_image",),
        "vote": ("vote_type",),
    },
    "video_generation": {
        "prompt": ("prompt",),
        "a": ("left_video",),
        "b": ("right_video",),
        "vote": ("vote_type",),
    },
}
# "bothbad_vote" is a tie: neither side was preferred.
GENAI_BENCH_VOTES: dict[str, Outcome] = {
    "leftvote": "A",
    "rightvote": "B",
    "tievote": "tie",
    "bothbad_vote": "tie",
}


def load_genai_bench(
    data: str | Path, config: str = "image_generation", *, split: str | None = None
) -> BenchSuite:
    if config not in GENAI_BENCH_CONFIGS:
        raise ValueError(f"GenAI-Bench config must be one of {list(GENAI_BENCH_CONFIGS)}, got {config!r}")
    task = GENAI_BENCH_CONFIGS[config]
    rows, roots, info = read_records(data, config=config, split=split)
    f = GENAI_BENCH_FIELDS[config]
    name = "genai-bench-image" if task == Task.IMAGE_GEN else "genai-bench-video"
    items = []
    for i, row in enumerate(rows):
        where = _where(name, row, i)
        vote = _get(row, f["vote"], where)
        if vote not in GENAI_BENCH_VOTES:
            raise LayoutError(f"{where}: vote_type {vote!r} is not one of {list(GENAI_BENCH_VOTES)}")
        rid = _row_id(row, name, i)
        a = _media(_get(row, f["a"], where), row, roots, where)
        b = _media(_get(row, f["b"], where), row, roots, where)
        item = PairItem(task, str(_get(row, f["prompt"], where)), a, b, id=rid)
        items.append(BenchItem(item, GENAI_BENCH_VOTES[vote], str(vote), meta={"file": row["_file"]}))
    return BenchSuite(
        name,
        items,
        "tau_diff",
        "tau = accuracy over all pairs counting ties (tievote and bothbad_vote are ties: the verdict must be "
        "a tie); diff = accuracy over the pairs humans did not tie (a tie verdict there is wrong); parse "
        "failures count as wrong and are reported; categories are the human vote types",
        BENCH_FRAME_POLICY if task.is_video else None,
        str(data),
        info,
    )


# ------------------------------------------------------------------------------------ VideoGen-RewardBench
VIDEOGEN_FIELDS: dict[str, tuple[str, ...]] = {"prompt": ("prompt",), "a": ("path_A",), "b": ("path_B",)}
VIDEOGEN_DIMENSIONS: tuple[str, ...] = ("Overall", "VQ", "MQ", "TA")
VIDEOGEN_LABELS: dict[str, Outcome] = {"A": "A", "B": "B", "same": "tie"}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def load_videogen_rewardbench(data: str | Path, *, split: str | None = None) -> BenchSuite:
    rows, roots, info = read_records(data, split=split)
    items, skipped = [], 0
    for i, row in enumerate(rows):
        where = _where("videogen-rewardbench", row, i)
        labels: dict[str, Outcome | None] = {}
        for dim in VIDEOGEN_DIMENSIONS:
            value = _get(row, (dim,), where)
            if _missing(value):
                labels[dim] = None
            elif value in VIDEOGEN_LABELS:
                labels[dim] = VIDEOGEN_LABELS[value]
            else:
                raise LayoutError(f"{where}: {dim} = {value!r} is not one of {list(VIDEOGEN_LABELS)}")
        if labels["Overall"] is None:  # not annotated: the benchmark's own loader drops these rows too
            skipped += 1
            continue
        a = _media(_get(row, VIDEOGEN_FIELDS["a"], where), row, roots, where)
        b = _media(_get(row, VIDEOGEN_FIELDS["b"], where), row, roots, where)
        rid = _row_id(row, "videogen", i)
        item = PairItem(Task.VIDEO_GEN, str(_get(row, VIDEOGEN_FIELDS["prompt"], where)), a, b, id=rid)
        meta = {"file": row["_file"], "A_model": row.get("A_model"), "B_model": row.get("B_model")}
        items.append(BenchItem(item, labels["Overall"], str(row["Overall"]), labels=labels, meta=meta))
    info["skipped_rows_without_overall_label"] = skipped
    return BenchSuite(
        "videogen-rewardbench",
        items,
        "tie_calibrated",
        "per dimension (Overall, VQ, MQ, TA; a pair without that label is left out): accuracy with ties "
        "by tie calibration (Deutsch et al. 2023: the threshold eps that maximises (C+T_hm)/n is fitted on "
        "these items and reported) and accuracy without ties (human ties excluded, C/(C+D+T_m) at eps = 0); "
        "the score difference is P(A) - P(B) of the verdict (mean per-dimension score difference for 2.0 "
        "pair scores, +1/-1/0 from the verdict when the decision gives no probabilities); the same "
        "difference serves every dimension",
        BENCH_FRAME_POLICY,
        str(data),
        info,
    )


# ------------------------------------------------------------------------------------------------ MJ-Bench
MJ_BENCH_FIELDS: dict[str, tuple[str, ...]] = {
    "caption": ("caption",),
    "a": ("image_0", "image0", "jpg_0"),
    "b": ("image_1", "image1", "jpg_1"),
    "label": ("label_0", "label0"),
}


def _mj_label(value: Any, where: str) -> Outcome:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if x == 1.0:
        return "A"
    if x == 0.0:
        return "B"
    if x == 0.5:
        return "tie"
    raise LayoutError(
        f"{where}: label_0 = {value!r} must be 1 (image_0 better), 0 (image_1 better) or 0.5 (tie)"
    )


def _mj_category(rel: Path) -> str:
    """The subset (alignment, safety, quality, bias) from the layout: the first folder that is not a split
    or `data`, else the file name unless it is a shard name, else "all"."""
    for part in rel.parts[:-1]:
        if part not in KNOWN_SPLITS and part != "data":
            return part
    return "all" if _SHARD.match(rel.stem) or rel.stem in KNOWN_SPLITS else rel.stem


def load_mj_bench(data: str | Path, *, split: str | None = None, tie_epsilon: float = 0.0) -> BenchSuite:
    if not tie_epsilon >= 0:
        raise ValueError(f"tie_epsilon must be >= 0, got {tie_epsilon}")
    rows, roots, info = read_records(data, split=split)
    items = []
    for i, row in enumerate(rows):
        where = _where("mj-bench", row, i)
        label = _mj_label(_get(row, MJ_BENCH_FIELDS["label"], where), where)
        category = row.get("category") or _mj_category(Path(row["_file"]))
        a = _media(_get(row, MJ_BENCH_FIELDS["a"], where), row, roots, where)
        b = _media(_get(row, MJ_BENCH_FIELDS["b"], where), row, roots, where)
        rid = _row_id(row, "mj-bench", i)
        item = PairItem(Task.IMAGE_GEN, str(_get(row, MJ_BENCH_FIELDS["caption"], where)), a, b, id=rid)
        items.append(BenchItem(item, label, str(category), meta={"file": row["_file"]}))
    info["tie_epsilon"] = float(tie_epsilon)
    return BenchSuite(
        "mj-bench",
        items,
        "tie_threshold",
        f"accuracy with ties at a fixed tie threshold eps = {tie_epsilon:g}: the model ties when "
        "|P(A) - P(B)| <= eps (+1/-1/0 from the verdict when the decision gives no probabilities), correct "
        "when that decision equals the label (label_0 0.5 = tie); also without ties (human ties excluded) "
        "and per category; failures count as wrong",
        None,
        str(data),
        info,
    )


# -------------------------------------------------------------------------------------------------- shapes
def load_shapes(
    n_per_task: int = 50, seed: int = 0, tasks: Sequence[str | Task] | None = None, split: str = "test"
) -> BenchSuite:
    """The shapes world's test split: n pair and n point examples of each task (all four unless `tasks`
    names some), labelled by the oracle. `split="train"` draws fresh examples under the training rules
    instead (colour×shape pairs seen in training): a diagnostic of compositional generalisation, not a
    held-out score."""
    from unireward.data.shapes import ShapesWorld

    if n_per_task < 1:
        raise ValueError("n_per_task must be >= 1")
    world = ShapesWorld(seed=seed)
    items: list[BenchItem] = []
    for task in [Task.parse(t) for t in tasks] if tasks else list(Task):
        for ex in world.examples(task, "pair", n_per_task, split=split):
            items.append(BenchItem(ex.item, ex.label, task.value, meta={"scores": list(ex.scores)}))
        for ex in world.examples(task, "point", n_per_task, split=split):
            items.append(BenchItem(ex.item, float(ex.score), task.value))
    return BenchSuite(
        "shapes",
        items,
        "shapes",
        "per task: pair accuracy without ties (human ties excluded; the verdict must name the better side), "
        "pair accuracy with ties by tie calibration of P(A) - P(B) (eps fitted and reported), and the "
        "Spearman correlation of point scores with the oracle score (failures left out of the correlation "
        "and counted)",
        FramePolicy(num_frames=world.num_frames),
        f"shapes world seed={seed}, {split} split, {n_per_task} pairs + {n_per_task} points per task",
        {
            "n_per_task": n_per_task,
            "seed": seed,
            "split": split,
            "image_size": world.image_size,
            "num_frames": world.num_frames,
        },
    )


# --------------------------------------------------------------------------------------------------- index
@dataclass(frozen=True)
class SuiteSpec:
    loader: Callable[..., BenchSuite]
    needs_data: bool
    layout: str  # for --help


SUITES: dict[str, SuiteSpec] = {
    "vl-rewardbench": SuiteSpec(
        load_vl_rewardbench,
        True,
        "id, query, response[2], human_ranking[2] (0 = better), image or image_path",
    ),
    "genai-bench-image": SuiteSpec(
        lambda data, **kw: load_genai_bench(data, "image_generation", **kw),
        True,
        "prompt, left_image, right_image, vote_type (optionally under image_generation/)",
    ),
    "genai-bench-video": SuiteSpec(
        lambda data, **kw: load_genai_bench(data, "video_generation", **kw),
        True,
        "prompt, left_video, right_video, vote_type; video files local (optionally under video_generation/)",
    ),
    "videogen-rewardbench": SuiteSpec(
        load_videogen_rewardbench, True, "prompt, path_A, path_B, Overall, VQ, MQ, TA (A / B / same)"
    ),
    "mj-bench": SuiteSpec(load_mj_bench, True, "caption, image_0, image_1, label_0 (1 / 0 / 0.5)"),
    "shapes": SuiteSpec(load_shapes, False, "generated: ShapesWorld(seed) test split, all four tasks"),
}


def load_suite(name: str, data: str | Path | None = None, **kwargs: Any) -> BenchSuite:
    """Load a suite by name: `data` for the published benchmarks; `n_per_task`, `seed` for shapes; `split`
    for file layouts with several splits; `tie_epsilon` for mj-bench."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; choose one of: {', '.join(SUITES)}")
    spec = SUITES[name]
    if not spec.needs_data:
        return spec.loader(**kwargs)
    if data is None:
        raise ValueError(f"suite {name!r} reads a local copy of the benchmark: pass data=<dir> (--data DIR)")
    return spec.loader(data, **kwargs)


__all__ = [
    "BENCH_FRAME_POLICY",
    "BenchItem",
    "BenchSuite",
    "LayoutError",
    "SUITES",
    "load_genai_bench",
    "load_mj_bench",
    "load_shapes",
    "load_suite",
    "load_videogen_rewardbench",
    "load_vl_rewardbench",
    "read_records",
]
