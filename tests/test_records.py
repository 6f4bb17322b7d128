"""Unified records, the shapes export and training mixes."""

from __future__ import annotations

import json
import math

import pytest

from unireward.data.mix import MixConfig, build_mix
from unireward.data.records import Record, export_shapes, load_records, record_example, record_to_item
from unireward.media import load_media
from unireward.protocols import get_protocol


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return export_shapes(tmp_path_factory.mktemp("shapes"), 3, seed=1)


def test_export_covers_every_task_and_mode(shapes_dir):
    ds = load_records(shapes_dir)
    assert len(ds) == 4 * 2 * 3
    combos = {(r["task"], r["mode"]) for r in ds}
    assert len(combos) == 8
    for row in ds:
        rec = Record.from_row(row)
        rec.validate()
        if rec.mode == "pair":
            assert rec.label in ("A", "B", "tie") and math.isnan(rec.score)
        else:
            assert rec.label == "" and not math.isnan(rec.score)


def test_media_round_trip_and_paths_are_relative(shapes_dir):
    from unireward.media import FramePolicy

    for row in load_records(shapes_dir):
        rec = Record.from_row(row)
        item = record_to_item(rec, shapes_dir)
        for p in rec.candidates if rec.task.endswith("_gen") else [rec.media]:
            assert not p.startswith("/")
        if rec.task == "video_gen" and rec.mode == "pair":
            frames = load_media("video", item.a, FramePolicy(num_frames=8))
            assert len(frames) == 8
        if rec.task == "image_und":
            assert load_media("image", item.media, FramePolicy()).size == (64, 64)


def test_examples_render_targets_that_parse_back(shapes_dir):
    protocol = get_protocol("v1")
    for row in load_records(shapes_dir):
        rec = Record.from_row(row)
        item, target = record_example(rec, shapes_dir, protocol)
        if rec.mode == "pair":
            assert protocol.parse_pair(item.task, target).winner == rec.label
        else:
            assert protocol.parse_point(item.task, target).value == pytest.approx(rec.score)


def test_export_is_deterministic(tmp_path):
    a = load_records(export_shapes(tmp_path / "a", 2, seed=5, tasks=["image_gen"]))
    b = load_records(export_shapes(tmp_path / "b", 2, seed=5, tasks=["image_gen"]))
    assert json.dumps(a.to_list()) == json.dumps(b.to_list())  # NaN scores compare equal as text
    assert (tmp_path / "a" / a[0]["candidates"][0]).read_bytes() == (
        tmp_path / "b" / b[0]["candidates"][0]
    ).read_bytes()


def test_record_validation_errors():
    with pytest.raises(ValueError, match="label"):
        Record("x", "image_und", "pair", "q?", ["a", "b"], media="m.png", label="tie").validate()
    with pytest.raises(ValueError, match="2 candidate"):
        Record("x", "image_gen", "pair", "c", ["a.png"], label="A").validate()
    with pytest.raises(ValueError, match="numeric score"):
        Record("x", "image_gen", "point", "c", ["a.png"]).validate()
    with pytest.raises(ValueError, match="media"):
        Record("x", "video_und", "point", "q?", ["answer"], score=3).validate()
    with pytest.raises(ValueError, match="unknown task"):
        Record("x", "audio", "point", "q?", ["answer"], score=3).validate()


def test_mix_sampling_and_filters(shapes_dir, tmp_path):
    cfg = MixConfig.from_dict(
        {
            "seed": 3,
            "sources": [
                {"path": str(shapes_dir), "sample": "random:2", "tasks": ["video_gen"], "modes": ["pair"]},
                {"path": str(shapes_dir), "sample": "first:4"},
                {"path": str(shapes_dir), "sample": "50%"},
            ],
        }
    )
    mixed = build_mix(cfg)
    assert len(mixed) == 2 + 4 + 12
    assert {(r["task"], r["mode"]) for r in mixed.select(range(2))} == {("video_gen", "pair")}
    assert mixed["id"][2:6] == load_records(shapes_dir)["id"][:4]
    assert set(mixed["root"]) == {str(shapes_dir)}
    again = build_mix(cfg)
    assert again["id"] == mixed["id"]  # seeded
    path = tmp_path / "mix.json"
    path.write_text(json.dumps({"sources": [{"path": str(shapes_dir), "sample": "last:1"}]}))
    assert build_mix(MixConfig.from_file(path))["id"] == load_records(shapes_dir)["id"][-1:]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({}, "at least one source"),
        ({"sources": [{"sample": "all"}]}, "needs a 'path'"),
        ({"sources": [{"path": "x", "sample": "some"}]}, "random:N"),
        ({"sources": [{"path": "x", "tasks": ["audio"]}]}, "unknown task"),
        ({"sources": [{"path": "x", "modes": ["triple"]}]}, "'pair' or 'point'"),
        ({"sources": [{"path": "x", "weight": 2}]}, "unknown keys"),
        ({"sources": [{"path": "x"}], "epochs": 2}, "unknown keys"),
    ],
)
def test_mix_config_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        MixConfig.from_dict(bad)


def test_mix_asks_for_more_than_available(shapes_dir):
    with pytest.raises(ValueError, match="only 24 rows"):
        build_mix(MixConfig.from_dict({"sources": [{"path": str(shapes_dir), "sample": "random:100"}]}))
    with pytest.raises(FileNotFoundError, match="records.parquet"):
        build_mix(MixConfig.from_dict({"sources": [{"path": "/nonexistent", "sample": "all"}]}))


def test_explained_targets_carry_reasoning_and_still_parse(tmp_path):
    directory = export_shapes(tmp_path / "x", 4, seed=2, explain=True)
    protocol = get_protocol("v1-qwen")
    seen = set()
    for row in load_records(directory):
        rec = Record.from_row(row)
        item, target = record_example(rec, directory, protocol)
        if rec.mode == "pair":
            assert protocol.parse_pair(item.task, target).winner == rec.label
            assert target.startswith(
                "Correct answer:" if not item.task.is_generation else f"{item.task.media_word} 1:"
            )
            scores = rec.details["scores"]
            assert f"score {scores[0]:g}" in target or f"score: {scores[0]:g}" in target
            seen.add((rec.task, "pair"))
        else:
            assert protocol.parse_point(item.task, target).value == pytest.approx(rec.score)
            if rec.task in ("image_und", "video_und"):
                assert target.startswith("Correct answer:")
                seen.add((rec.task, "point"))
    assert len(seen) == 6
