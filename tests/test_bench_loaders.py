"""Benchmark loaders read fixture files laid out like each benchmark's release, and refuse other layouts.

The `make_*` builders are also used by tests/test_bench_runner.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import random_image, random_video
from unireward.bench.loaders import (
    BenchSuite,
    LayoutError,
    load_genai_bench,
    load_mj_bench,
    load_shapes,
    load_suite,
    load_videogen_rewardbench,
    load_vl_rewardbench,
    read_records,
)
from unireward.media import load_image, write_video
from unireward.tasks import PairItem, PointItem, Task

SIZE = 32


def _png(path: Path, seed: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    random_image(seed, SIZE).save(path)
    return str(path)


def _png_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    random_image(seed, SIZE).save(buf, format="PNG")
    return buf.getvalue()


def _mp4(path: Path, seed: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(random_video(seed, frames=4, size=SIZE), path)
    return str(path)


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ----------------------------------------------------------------------------------------------- builders
# (id, image folder = source, human_ranking)
VL_ROWS = [
    ("RLAIF-V-001", "rlaif-v", [0, 1]),
    ("hallucination_pair-7", "povid", [1, 0]),
    ("mathverse_12", "reasoning_tasks", [0, 1]),
    ("mmmu_pro-3", "reasoning_tasks", [1, 0]),
    ("wildvision-battle-9", "wildvision-battle", [0, 1]),
    ("vlf_abc", "vlfeedback", [0, 1]),
]
VL_GROUPS = ["hallucination", "hallucination", "reasoning", "reasoning", "general", "general"]
VL_LABELS = ["A", "B", "A", "B", "A", "A"]


def make_vl_rewardbench(root: Path) -> Path:
    """The evaluation-script layout: JSONL records with image_path under images/<source>/."""
    rows = []
    for k, (rid, source, ranking) in enumerate(VL_ROWS):
        _png(root / "images" / source / f"{k}.png", k)
        rows.append(
            {
                "id": rid,
                "image_path": f"images/{source}/{k}.png",
                "query": f"question {k}: what is in the image?",
                "response": [f"answer {k} one", f"answer {k} two"],
                "human_ranking": ranking,
            }
        )
    _jsonl(root / "vl_rewardbench.jsonl", rows)
    return root


GENAI_VOTES = ["leftvote", "rightvote", "tievote", "bothbad_vote", "leftvote", "rightvote"]
GENAI_LABELS = ["A", "B", "tie", "tie", "A", "B"]


def make_genai_image(root: Path) -> Path:
    """The hub snapshot layout: image_generation/train-00000-of-00001.parquet with embedded images."""
    rows = [
        {
            "prompt": f"caption {k}: a red circle",
            "left_model": "m1",
            "left_image": {"bytes": _png_bytes(2 * k), "path": None},
            "right_model": "m2",
            "right_image": {"bytes": _png_bytes(2 * k + 1), "path": None},
            "vote_type": vote,
        }
        for k, vote in enumerate(GENAI_VOTES)
    ]
    out = root / "image_generation" / "train-00000-of-00001.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out)
    return root


def make_genai_video(root: Path) -> Path:
    """video_generation rows whose videos are local files; one given as a URL, found by its file name."""
    rows = []
    for k, vote in enumerate(GENAI_VOTES[:4]):
        _mp4(root / "video_generation" / "videos" / f"l{k}.mp4", 10 + k)
        _mp4(root / "video_generation" / "videos" / f"r{k}.mp4", 20 + k)
        left = f"https://example.org/arena/l{k}.mp4" if k == 0 else f"videos/l{k}.mp4"
        rows.append(
            {
                "prompt": f"video caption {k}",
                "left_video": left,
                "right_video": f"videos/r{k}.mp4",
                "vote_type": vote,
            }
        )
    _jsonl(root / "video_generation" / "test.jsonl", rows)
    return root


# Overall labels and the per-dimension labels (VQ missing on row 1); row 4 has no Overall label.
VIDEOGEN_ROWS = [
    {"Overall": "A", "VQ": "A", "MQ": "B", "TA": "A"},
    {"Overall": "B", "VQ": "", "MQ": "B", "TA": "same"},
    {"Overall": "same", "VQ": "same", "MQ": "A", "TA": "same"},
    {"Overall": "A", "VQ": "B", "MQ": "A", "TA": "A"},
    {"Overall": "", "VQ": "A", "MQ": "A", "TA": "A"},
]


def make_videogen(root: Path) -> Path:
    """The release layout: a CSV with path_A / path_B into videos/ and A / B / same labels."""
    lines = ["path_A,path_B,A_model,B_model,prompt,VQ,MQ,TA,Overall"]
    for k, lab in enumerate(VIDEOGEN_ROWS):
        _mp4(root / "videos" / f"{k}_a.mp4", 30 + k)
        _mp4(root / "videos" / f"{k}_b.mp4", 40 + k)
        lines.append(
            f"videos/{k}_a.mp4,videos/{k}_b.mp4,ma,mb,videogen prompt {k},{lab['VQ']},{lab['MQ']},"
            f"{lab['TA']},{lab['Overall']}"
        )
    (root / "videogen-rewardbench.csv").write_text("\n".join(lines) + "\n")
    return root


MJ_LABELS = [1, 0, 0.5]


def make_mj_bench(root: Path) -> Path:
    """Pick-a-Pic style rows in per-subset folders; the safety subset uses the image0/label0 spelling."""
    rows = []
    for k, lab in enumerate(MJ_LABELS):
        _png(root / "alignment" / "img" / f"{k}_0.png", 50 + k)
        _png(root / "alignment" / "img" / f"{k}_1.png", 60 + k)
        rows.append(
            {
                "caption": f"mj caption {k}",
                "image_0": f"img/{k}_0.png",
                "image_1": f"img/{k}_1.png",
                "label_0": lab,
            }
        )
    _jsonl(root / "alignment" / "data.jsonl", rows)
    _png(root / "safety" / "s0.png", 70)
    _png(root / "safety" / "s1.png", 71)
    _jsonl(
        root / "safety" / "data.jsonl",
        [{"caption": "mj safety caption", "image0": "s0.png", "image1": "s1.png", "label0": 0}],
    )
    return root


# --------------------------------------------------------------------------------------------------- tests
def test_vl_rewardbench_jsonl_layout(tmp_path):
    suite = load_vl_rewardbench(make_vl_rewardbench(tmp_path))
    assert (
        isinstance(suite, BenchSuite) and suite.name == "vl-rewardbench" and suite.metric == "group_accuracy"
    )
    assert [bi.id for bi in suite.items] == [r[0] for r in VL_ROWS]
    assert [bi.label for bi in suite.items] == VL_LABELS
    assert [bi.category for bi in suite.items] == VL_GROUPS
    assert suite.frame_policy is None  # images only
    first = suite.items[0].item
    assert first.task == Task.IMAGE_UND and first.a == "answer 0 one" and first.b == "answer 0 two"
    assert Path(first.media).exists()
    assert suite.items[0].meta["group_from"] == "image_path folder"


def test_vl_rewardbench_hub_parquet_reads_test_split_and_query_source(tmp_path):
    sources = ["RLAIF-V", "POVID", "MathVerse", "MMMU-Pro", "WildVision", "VLFeedback"]
    rows = [
        {
            "id": f"x{k}",
            "query": f"q{k}",
            "response": ["r1", "r2"],
            "human_ranking": VL_ROWS[k][2],
            "image": {"bytes": _png_bytes(k), "path": None},
            "query_source": src,
        }
        for k, src in enumerate(sources)
    ]
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), data / "test-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:2]), data / "train-00000-of-00001.parquet")
    suite = load_vl_rewardbench(tmp_path)
    assert len(suite.items) == 6  # the train split is not mixed in
    assert [bi.category for bi in suite.items] == VL_GROUPS
    assert isinstance(suite.items[0].item.media, bytes)
    assert load_image(suite.items[0].item.media).size == (SIZE, SIZE)
    assert len(load_vl_rewardbench(tmp_path, split="train").items) == 2


def test_vl_rewardbench_save_to_disk_copy_groups_by_id_prefix(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict(
        {
            "id": [r[0] for r in VL_ROWS],
            "query": [f"q{k}" for k in range(len(VL_ROWS))],
            "response": [["r1", "r2"]] * len(VL_ROWS),
            "human_ranking": [r[2] for r in VL_ROWS],
            "image": [random_image(k, SIZE) for k in range(len(VL_ROWS))],
        },
        features=datasets.Features(
            {
                "id": datasets.Value("string"),
                "query": datasets.Value("string"),
                "response": datasets.List(datasets.Value("string")),
                "human_ranking": datasets.List(datasets.Value("int64")),
                "image": datasets.Image(),
            }
        ),
    )
    datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "hf"))
    suite = load_vl_rewardbench(tmp_path / "hf")
    assert [bi.category for bi in suite.items] == VL_GROUPS
    assert [bi.meta["group_from"] for bi in suite.items][:5] == ["id prefix"] * 5
    assert suite.info["groups_by_fallback"] == 1  # "vlf_abc": general, as the public scripts do, and counted
    assert load_image(suite.items[0].item.media).size == (SIZE, SIZE)


def test_vl_rewardbench_layout_errors_name_the_field(tmp_path):
    root = make_vl_rewardbench(tmp_path / "a")
    rows = [json.loads(x) for x in (root / "vl_rewardbench.jsonl").read_text().splitlines()]
    del rows[2]["human_ranking"]
    _jsonl(root / "vl_rewardbench.jsonl", rows)
    with pytest.raises(LayoutError, match=r"row 2: missing field 'human_ranking'"):
        load_vl_rewardbench(root)
    rows[2]["human_ranking"] = [0, 0]
    _jsonl(root / "vl_rewardbench.jsonl", rows)
    with pytest.raises(LayoutError, match=r"human_ranking must be \[0, 1\] or \[1, 0\]"):
        load_vl_rewardbench(root)
    rows[2] = {**rows[1], "id": "z", "query_source": "NotABench"}
    _jsonl(root / "vl_rewardbench.jsonl", rows)
    with pytest.raises(LayoutError, match="unknown query_source 'NotABench'"):
        load_vl_rewardbench(root)


def test_genai_bench_image_snapshot_layout(tmp_path):
    root = make_genai_image(tmp_path)
    make_genai_video(tmp_path)  # the other config next to it must not be read
    suite = load_genai_bench(root, "image_generation")
    assert suite.name == "genai-bench-image" and suite.metric == "tau_diff" and suite.frame_policy is None
    assert [bi.label for bi in suite.items] == GENAI_LABELS
    assert [bi.category for bi in suite.items] == GENAI_VOTES
    assert all(bi.item.task == Task.IMAGE_GEN and isinstance(bi.item.a, bytes) for bi in suite.items)
    assert suite.items[0].item.prompt == "caption 0: a red circle"
    assert len({bi.id for bi in suite.items}) == 6


def test_genai_bench_video_local_files_and_urls(tmp_path):
    suite = load_suite("genai-bench-video", make_genai_video(tmp_path))
    assert suite.name == "genai-bench-video" and suite.frame_policy.num_frames == 8
    assert [bi.label for bi in suite.items] == GENAI_LABELS[:4]
    first = suite.items[0].item
    assert first.task == Task.VIDEO_GEN
    assert Path(first.a) == tmp_path / "video_generation" / "videos" / "l0.mp4"  # the URL's local copy
    assert all(Path(bi.item.a).exists() and Path(bi.item.b).exists() for bi in suite.items)


def test_genai_bench_unknown_vote_is_an_error(tmp_path):
    _jsonl(
        tmp_path / "image_generation" / "x.jsonl",
        [
            {"prompt": "p", "left_image": "a.png", "right_image": "b.png", "vote_type": "leftvote"},
            {"prompt": "p", "left_image": "a.png", "right_image": "b.png", "vote_type": "both_good"},
        ],
    )
    with pytest.raises(LayoutError, match="vote_type 'both_good'"):
        load_genai_bench(tmp_path, "image_generation")
    with pytest.raises(ValueError, match="config"):
        load_genai_bench(tmp_path, "image_edition")


def test_videogen_rewardbench_csv(tmp_path):
    suite = load_videogen_rewardbench(make_videogen(tmp_path))
    assert suite.metric == "tie_calibrated" and suite.frame_policy.num_frames == 8
    assert len(suite.items) == 4 and suite.info["skipped_rows_without_overall_label"] == 1
    assert [bi.label for bi in suite.items] == ["A", "B", "tie", "A"]
    assert suite.items[1].labels == {"Overall": "B", "VQ": None, "MQ": "B", "TA": "tie"}
    assert suite.items[2].labels["MQ"] == "A"
    assert all(Path(bi.item.a).exists() for bi in suite.items)
    csv = tmp_path / "videogen-rewardbench.csv"
    header, *body = csv.read_text().splitlines()
    csv.write_text("\n".join([header.replace(",TA,", ",T_A,"), *body]) + "\n")
    with pytest.raises(LayoutError, match="missing field 'TA'"):
        load_videogen_rewardbench(tmp_path)


def test_mj_bench_labels_categories_and_aliases(tmp_path):
    suite = load_mj_bench(make_mj_bench(tmp_path), tie_epsilon=0.1)
    assert suite.metric == "tie_threshold" and suite.info["tie_epsilon"] == 0.1
    assert [bi.label for bi in suite.items] == ["A", "B", "tie", "B"]
    assert [bi.category for bi in suite.items] == ["alignment"] * 3 + ["safety"]
    assert all(Path(bi.item.a).exists() and Path(bi.item.b).exists() for bi in suite.items)
    _jsonl(
        tmp_path / "safety" / "data.jsonl",
        [{"caption": "c", "image0": "s0.png", "image1": "s1.png", "label0": 0.7}],
    )
    with pytest.raises(LayoutError, match="label_0 = 0.7"):
        load_mj_bench(tmp_path)
    _jsonl(tmp_path / "safety" / "data.jsonl", [{"caption": "c", "image0": "s0.png", "label0": 1}])
    with pytest.raises(LayoutError, match=r"missing field 'image_1' \(or 'image1', 'jpg_1'\)"):
        load_mj_bench(tmp_path)


def test_shapes_suite():
    suite = load_shapes(n_per_task=2, seed=3)
    assert suite.metric == "shapes" and len(suite.items) == 16 and suite.frame_policy.num_frames == 8
    assert [bi.category for bi in suite.items[::4]] == [t.value for t in Task]
    pairs = [bi for bi in suite.items if isinstance(bi.item, PairItem)]
    points = [bi for bi in suite.items if isinstance(bi.item, PointItem)]
    assert len(pairs) == len(points) == 8
    assert all(bi.label in ("A", "B", "tie") for bi in pairs)
    assert all(isinstance(bi.label, float) for bi in points)
    assert [bi.id for bi in load_shapes(2, 3).items] == [bi.id for bi in suite.items]  # deterministic


def test_read_records_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data"):
        read_records(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LayoutError, match="no .jsonl"):
        read_records(empty)
    _jsonl(tmp_path / "s" / "train-00000-of-00001.jsonl", [{"x": 1}])
    _jsonl(tmp_path / "s" / "validation-00000-of-00001.jsonl", [{"x": 2}])
    with pytest.raises(LayoutError, match="several splits"):
        read_records(tmp_path / "s")
    rows, _, _ = read_records(tmp_path / "s", split="validation")
    assert [r["x"] for r in rows] == [2]
    with pytest.raises(ValueError, match="unknown suite"):
        load_suite("rewardbench-2")
    with pytest.raises(ValueError, match="--data"):
        load_suite("mj-bench")


def test_shapes_suite_train_split_draws_seen_combos():
    from unireward.data.shapes import HELD_OUT

    test = load_shapes(n_per_task=3, seed=3)
    train = load_shapes(n_per_task=3, seed=3, split="train")
    assert train.info["split"] == "train" and test.info["split"] == "test"
    assert {bi.id for bi in train.items}.isdisjoint({bi.id for bi in test.items})
    assert all("-train-" in bi.id for bi in train.items)
    with pytest.raises(ValueError, match="split"):
        load_shapes(1, 3, split="dev")
    held_out_words = [f"{colour} {shape}" for colour, shape in HELD_OUT]
    assert not any(w in bi.item.prompt for bi in train.items for w in held_out_words)
    assert any(w in bi.item.prompt for bi in test.items for w in held_out_words)
