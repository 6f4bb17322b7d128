"""Preference datasets other tools read, built from a pairs run's per-prompt records.

One dataset per task, each as JSONL (media as paths) and as a Hugging Face dataset on disk (media embedded):
- understanding (`dpo_image_und`, `dpo_video_und`): TRL's conversational preference format —
  `prompt` [{"role": "user", "content": question}], `chosen` / `rejected` [{"role": "assistant", ...}] and
  `images`. TRL's DPO collator takes images only, so a video question's frames (chosen by the run's frame
  policy) are its `images` on disk; the JSONL keeps the video path under `videos`.
- image generation (`pickapic_image_gen`): Pick-a-Pic style `caption`, `image_0`, `image_1`, `label_0`
  (1.0 when image_0 is the chosen one). Which side holds the chosen image is fixed by a hash of the pair,
  so "always pick image_0" is not a shortcut for anything trained or evaluated on it.
- video generation (`pickapic_video_gen`): the same with `video_0`, `video_1` (paths; videos are not
  embedded).
Every row keeps its provenance: prompt id, strategy, chosen/rejected indices and scores, all candidate
scores, the prompt's verdicts, the reward model, the frame policy and the manifest's meta (JSON strings
where the shape varies).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from unireward.tasks import Task

FORMATS = {
    Task.IMAGE_UND: "dpo_image_und",
    Task.VIDEO_UND: "dpo_video_und",
    Task.IMAGE_GEN: "pickapic_image_gen",
    Task.VIDEO_GEN: "pickapic_video_gen",
}


def _chosen_first(key: str) -> bool:
    return hashlib.sha256(key.encode()).digest()[0] % 2 == 0


def _compact_verdicts(verdicts: list[dict]) -> list[dict]:
    return [
        {
            "a": v["a"],
            "b": v["b"],
            "winner": v["winner"],
            "probs": v.get("probs"),
            "failure": (v.get("failure") or {}).get("message"),
        }
        for v in verdicts
    ]


def _frame_policy(run: dict, task: Task) -> dict | None:
    """The frame policy behind a video row: the judge's, or for video questions judged without one (a
    simulated judge) the default that extracts the exported frames."""
    if not task.is_video:
        return None
    if run.get("frame_policy") is None and task == Task.VIDEO_UND:
        from unireward.media import FramePolicy

        return FramePolicy().to_dict()
    return run.get("frame_policy")


def pair_rows(record: dict, run: dict) -> list[dict]:
    """The export rows (JSONL form, media as paths) of one prompt record."""
    task = Task.parse(record["task"])
    cands = record["candidates"]
    all_scores: list[float | None] = [None] * len(cands)
    for s in record["scores"]:
        all_scores[s["candidate"]] = s["value"]
    common = {
        "prompt_id": record["id"],
        "task": task.value,
        "strategy": record["strategy"],
        "scores": all_scores,
        "verdicts": json.dumps(_compact_verdicts(record["verdicts"])),
        "reward_model": json.dumps(run.get("reward_model")),
        "frame_policy": json.dumps(_frame_policy(run, task)) if _frame_policy(run, task) else None,
        "meta": json.dumps(record.get("meta") or {}),
    }
    rows = []
    for rank, pair in enumerate(record["pairs"]):
        c, r = pair["chosen"], pair["rejected"]
        prov = {
            "pair_rank": rank,
            "chosen_index": c,
            "rejected_index": r,
            "chosen_score": pair.get("chosen_score"),
            "rejected_score": pair.get("rejected_score"),
            "confidence": pair.get("confidence"),
        }
        if task.is_generation:
            word = "video" if task.is_video else "image"
            first = _chosen_first(f"{record['id']}#{c}-{r}")
            x, y = (cands[c], cands[r]) if first else (cands[r], cands[c])
            row = {
                "caption": record["prompt"],
                f"{word}_0": x,
                f"{word}_1": y,
                "label_0": 1.0 if first else 0.0,
            }
        else:
            row = {
                "prompt": [{"role": "user", "content": record["prompt"]}],
                "chosen": [{"role": "assistant", "content": cands[c]}],
                "rejected": [{"role": "assistant", "content": cands[r]}],
            }
            row["videos" if task.is_video else "images"] = [record["media"]]
        rows.append({**row, **prov, **common})
    return rows


def _features(task: Task):
    from datasets import Features, Image, List, Value

    prov = {
        "pair_rank": Value("int32"),
        "chosen_index": Value("int32"),
        "rejected_index": Value("int32"),
        "chosen_score": Value("float64"),
        "rejected_score": Value("float64"),
        "confidence": Value("float64"),
        "prompt_id": Value("string"),
        "task": Value("string"),
        "strategy": Value("string"),
        "scores": List(Value("float64")),
        "verdicts": Value("string"),
        "reward_model": Value("string"),
        "frame_policy": Value("string"),
        "meta": Value("string"),
    }
    if task.is_generation:
        media = Image() if task == Task.IMAGE_GEN else Value("string")
        word = "video" if task.is_video else "image"
        head = {
            "caption": Value("string"),
            f"{word}_0": media,
            f"{word}_1": media,
            "label_0": Value("float64"),
        }
    else:
        message = List({"role": Value("string"), "content": Value("string")})
        head = {"prompt": message, "chosen": message, "rejected": message, "images": List(Image())}
        if task.is_video:
            head["videos"] = List(Value("string"))
    return Features({**head, **prov})


def _embedded(path: str) -> dict:
    """Image bytes inside the dataset, so it does not depend on the candidate files staying in place."""
    if "://" in path or not Path(path).is_file():
        raise FileNotFoundError(
            f"candidate image {path!r} is not a local file: the datasets embed image bytes, so candidates "
            "must stay on disk until the export (re-run with `--export-only` once they are back)"
        )
    return {"bytes": Path(path).read_bytes(), "path": Path(path).name}


def _dataset_row(row: dict, task: Task, frame_policy: dict | None) -> dict:
    """A JSONL row with its media embedded (images as bytes, a video question's frames as images)."""
    row = dict(row)
    if task == Task.IMAGE_GEN:
        row["image_0"], row["image_1"] = _embedded(row["image_0"]), _embedded(row["image_1"])
    elif task == Task.IMAGE_UND:
        row["images"] = [_embedded(p) for p in row["images"]]
    elif task == Task.VIDEO_UND:
        from unireward.media import FramePolicy, load_video

        row["images"] = load_video(row["videos"][0], FramePolicy.from_dict(frame_policy))
    return row


def write_exports(
    records: list[dict], run: dict, out_dir: str | Path, *, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """Write every task's JSONL and dataset under `out_dir`; returns {format name: {"jsonl", "dataset",
    "rows"}}. Records are taken in prompt order, so the output does not depend on how the run was split."""
    from datasets import Dataset
    from datasets.utils import logging as ds_logging

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_task: dict[Task, list[dict]] = {}
    for rec in sorted(records, key=lambda r: r["index"]):
        by_task.setdefault(Task.parse(rec["task"]), []).extend(pair_rows(rec, run))
    written = {}
    for task, rows in sorted(by_task.items(), key=lambda kv: kv[0].value):
        name = FORMATS[task]
        jsonl = out / f"{name}.jsonl"
        tmp = jsonl.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows))
        tmp.replace(jsonl)
        ds_dir = out / name
        if ds_dir.exists():
            shutil.rmtree(ds_dir)
        data = [_dataset_row(r, task, _frame_policy(run, task)) for r in rows]
        was_enabled = ds_logging.is_progress_bar_enabled()
        if not progress:
            ds_logging.disable_progress_bar()
        try:
            features = _features(task)
            columns = {k: [row[k] for row in data] for k in features}  # keeps the schema when empty
            Dataset.from_dict(columns, features=features).save_to_disk(str(ds_dir))
        finally:
            if was_enabled:
                ds_logging.enable_progress_bar()
        written[name] = {"jsonl": jsonl, "dataset": ds_dir, "rows": len(rows)}
    return written
