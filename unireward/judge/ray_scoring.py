"""Offline scoring of many records with Ray Data: an actor pool of judges, each loaded once per actor.

    ds = score_dataset_with_ray("data/shapes-test", "/ckpt/judge", num_actors=8, batch_size=256,
                                num_gpus_per_actor=1, judge_kwargs={"decision": "logits"})
    ds.write_parquet("scores/")

Input: rows in the unified record schema (`unireward.data.records`: id, task, mode, prompt, media,
candidates; other columns pass through), as a dataset directory or Parquet file, a `ray.data.Dataset`, a
Hugging Face `datasets.Dataset` or a list of dicts. Pair rows are ranked, point rows scored. Output: the
input rows plus `judge_*` columns. A row that cannot become an item, whose media are broken, or whose
batch raised (server error, NaN) gets `judge_failure` and a message instead of stopping the job: a
failing batch is retried item by item so that only the bad items fail. Ray Data does not keep row order;
join results on `id`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from unireward.data.records import DATA_FILE, Record, record_to_item
from unireward.tasks import PairItem

OUTPUT_COLUMNS = (
    "judge_winner",
    "judge_value",
    "judge_probs",
    "judge_details",
    "judge_raw_text",
    "judge_failure",
    "judge_failure_message",
)


def score_dataset_with_ray(
    dataset_or_path: Any,
    model: str | Path | None = None,
    *,
    num_actors: int = 1,
    batch_size: int = 64,
    root: str | Path | None = None,
    num_cpus_per_actor: float = 1.0,
    num_gpus_per_actor: float = 0.0,
    judge_kwargs: dict | None = None,
):
    """A lazy `ray.data.Dataset` of the input rows plus judge columns (see OUTPUT_COLUMNS).

    model and judge_kwargs go to `load_judge` in each actor (backend, protocol, decision, swap,
    batch_size, base_url, ...); batch_size is the number of rows handed to an actor at a time.
    root: the directory relative media paths start from (default: the dataset directory for a path,
    else the current directory). Ray is started locally if it is not running.
    """
    try:
        import ray
        import ray.data
    except ImportError:
        raise ImportError("score_dataset_with_ray needs Ray: pip install 'unireward[ray]'") from None
    if num_actors < 1 or batch_size < 1:
        raise ValueError("num_actors and batch_size must be at least 1")
    ds, default_root = _as_ray_dataset(dataset_or_path)
    root = Path(root if root is not None else default_root).resolve()  # actors may run elsewhere
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    return ds.map_batches(
        _JudgeActor,
        fn_constructor_kwargs={
            "model": None if model is None else str(model),
            "root": str(root),
            "judge_kwargs": dict(judge_kwargs or {}),
        },
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        batch_size=batch_size,
        batch_format="pandas",
        num_cpus=num_cpus_per_actor,
        num_gpus=num_gpus_per_actor,
        udf_modifying_row_count=False,
    )


def _as_ray_dataset(src: Any):
    import ray.data

    if isinstance(src, ray.data.Dataset):
        return src, "."
    if isinstance(src, (str, Path)):
        path = Path(src)
        if path.is_dir():
            if not (path / DATA_FILE).exists():
                raise FileNotFoundError(f"{path}: no {DATA_FILE}; pass a dataset directory or a Parquet file")
            return ray.data.read_parquet(str(path / DATA_FILE)), path
        if path.suffix == ".parquet" and path.exists():
            return ray.data.read_parquet(str(path)), path.parent
        raise FileNotFoundError(f"{path}: not a dataset directory or a .parquet file")
    if isinstance(src, list):
        return ray.data.from_items(src), "."
    from datasets import Dataset

    if isinstance(src, Dataset):
        return ray.data.from_huggingface(src), "."
    raise TypeError(
        f"cannot score a {type(src).__name__}; pass a dataset directory, a Parquet file, a ray.data.Dataset, "
        "a datasets.Dataset or a list of record dicts"
    )


class _JudgeActor:
    """One judge per actor, loaded once; called with pandas batches of records."""

    def __init__(self, model: str | None, root: str, judge_kwargs: dict) -> None:
        from unireward.judge import load_judge

        self.judge = load_judge(model, **judge_kwargs)
        self.root = Path(root)

    def __call__(self, df):
        rows = df.to_dict("records")
        out: list[dict] = [{}] * len(rows)
        pairs: list[tuple[int, Any]] = []
        points: list[tuple[int, Any]] = []
        for i, row in enumerate(rows):
            try:
                item = row_to_item(row, self.root)
            except (ValueError, KeyError, TypeError) as e:
                out[i] = _failure_columns("error", f"bad record: {e}")
                continue
            (pairs if isinstance(item, PairItem) else points).append((i, item))
        for group, judge in ((pairs, self.judge.rank), (points, self.judge.score)):
            if group:
                for (i, _), columns in zip(group, _judge_all(judge, [item for _, item in group])):
                    out[i] = columns
        import pandas as pd

        # Typed columns, so that a batch with no pair (or no failure) still has the same Arrow schema.
        columns = {c: pd.array([o.get(c) for o in out], dtype="string") for c in OUTPUT_COLUMNS}
        columns["judge_value"] = pd.array([o.get("judge_value") for o in out], dtype="Float64")
        return df.assign(**columns)


def row_to_item(row: dict, root: Path):
    """The judge item of a unified record row (media paths made absolute against root). Labels and scores
    are not needed (unlike `Record.validate`, which checks training rows)."""
    mode, candidates = row["mode"], list(row["candidates"])
    want = {"pair": 2, "point": 1}.get(mode)
    if want is None:
        raise ValueError(f"record {row['id']!r}: mode must be 'pair' or 'point', got {mode!r}")
    if len(candidates) != want:
        raise ValueError(
            f"record {row['id']!r}: a {mode} record needs {want} candidate(s), got {len(candidates)}"
        )
    media = row.get("media")
    record = Record(
        id=str(row["id"]),
        task=row["task"],
        mode=mode,
        prompt=row["prompt"],
        candidates=[str(c) for c in candidates],
        media="" if media is None or (isinstance(media, float) and math.isnan(media)) else str(media),
    )
    return record_to_item(record, root)


def _judge_all(judge, items: list) -> list[dict]:
    """Judge a batch; if the batch raises, judge its items one by one so only the bad ones fail."""
    try:
        return [_result_columns(r) for r in judge(items)]
    except Exception:  # recorded per item below, never swallowed
        pass
    out = []
    for item in items:
        try:
            out.append(_result_columns(judge([item])[0]))
        except Exception as e:  # a scoring job records the failure and goes on
            kind = "nan" if isinstance(e, FloatingPointError) else "error"
            out.append(_failure_columns(kind, f"{type(e).__name__}: {e}"))
    return out


def _result_columns(result) -> dict:
    details = getattr(result, "scores", None) or getattr(result, "dimensions", None) or None
    return {
        "judge_winner": getattr(result, "winner", None),
        "judge_value": getattr(result, "value", None),
        "judge_probs": json.dumps(result.probs) if result.probs is not None else None,
        "judge_details": json.dumps(details) if details else None,
        "judge_raw_text": result.raw_text,
        "judge_failure": result.failure.kind if result.failure else None,
        "judge_failure_message": result.failure.message if result.failure else None,
    }


def _failure_columns(kind: str, message: str) -> dict:
    return {c: None for c in OUTPUT_COLUMNS} | {"judge_failure": kind, "judge_failure_message": message}
