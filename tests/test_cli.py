"""The command line: one item from options, many from JSONL, errors written not raised."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.conftest import random_image, random_video
from unireward.cli import app
from unireward.media import write_video

runner = CliRunner()


def test_help_shows_an_example_per_task():
    for command in ("rank", "score"):
        result = runner.invoke(app, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0
        for task in ("image_gen", "image_und", "video_gen", "video_und"):
            assert f"--task {task}" in result.output, (command, task)
        assert "jsonl" in result.output.lower()


def test_rank_single_pair(tiny_model_dir, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    random_image(1).save(a)
    random_image(2).save(b)
    out = tmp_path / "v.jsonl"
    result = runner.invoke(
        app,
        [
            "rank",
            "--task",
            "image_gen",
            "--prompt",
            "a red circle",
            "--a",
            str(a),
            "--b",
            str(b),
            "--model",
            tiny_model_dir("qwen2_vl"),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text())
    assert row["winner"] in ("A", "B", "tie") and abs(sum(row["probs"].values()) - 1) < 1e-6


def test_rank_jsonl_bad_lines_and_media_fail_alone(tiny_model_dir, tmp_path):
    random_image(1).save(tmp_path / "a.png")
    random_image(2).save(tmp_path / "b.png")
    write_video(random_video(3), tmp_path / "v1.mp4")
    write_video(random_video(4), tmp_path / "v2.mp4")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    lines = [
        {"task": "image_gen", "prompt": "a red circle", "a": "a.png", "b": "b.png", "id": "ok-image"},
        "this is not json",
        {"task": "image_gen", "prompt": "a red circle", "a": "broken.png", "b": "b.png", "id": "bad-media"},
        {
            "task": "video_und",
            "prompt": "Which way?",
            "a": "Left.",
            "b": "Right.",
            "media": "v1.mp4",
            "id": "vu",
        },
        {"task": "image_und", "prompt": "What?", "a": "x", "b": "y", "id": "no-media"},
        {"task": "video_gen", "prompt": "a cat", "a": "v1.mp4", "b": "v2.mp4", "id": "vg"},
    ]
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["rank", "-i", str(src), "-o", str(out), "--model", tiny_model_dir("qwen2_vl"), "--swap"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6]  # every input line accounted for, in order
    by_line = {r["line"]: r for r in rows}
    assert by_line[2]["failure"]["kind"] == "input"
    assert by_line[3]["failure"]["kind"] == "media" and "broken.png" in by_line[3]["failure"]["message"]
    assert by_line[5]["failure"]["kind"] == "input" and "media" in by_line[5]["failure"]["message"]
    for n in (1, 4, 6):
        assert by_line[n]["failure"] is None and by_line[n]["swap_consistent"] in (True, False)
    assert by_line[6]["frame_policy"]["num_frames"] == 8
    assert "6 items, 3 failed" in result.output


def test_score_jsonl(tiny_model_dir, tmp_path):
    random_image(1).save(tmp_path / "a.png")
    src = tmp_path / "items.jsonl"
    src.write_text(
        json.dumps({"task": "image_gen", "prompt": "a red circle", "candidate": "a.png"})
        + "\n"
        + json.dumps({"task": "image_und", "prompt": "What?", "candidate": "Red.", "media": "a.png"})
    )
    out = tmp_path / "s.jsonl"
    result = runner.invoke(
        app, ["score", "-i", str(src), "-o", str(out), "--model", tiny_model_dir("llava_onevision")]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert 1 <= rows[0]["value"] <= 5 and 0 <= rows[1]["value"] <= 100


def test_rank_requires_arguments():
    result = runner.invoke(app, ["rank", "--task", "image_gen"])
    assert result.exit_code != 0 and "--input" in result.output


def test_rank_swaps_as_the_model_records_unless_told(tiny_model_dir, tmp_path):
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir("qwen2_vl"), model)
    (model / "unireward.json").write_text(json.dumps({"decision": "logits", "swap": True}))
    random_image(1).save(tmp_path / "a.png")
    random_image(2).save(tmp_path / "b.png")
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"task": "image_gen", "prompt": "a red circle", "a": "a.png", "b": "b.png"}))
    runner = CliRunner()
    for extra, swapped in (([], True), (["--no-swap"], False), (["--decision", "logits"], False)):
        out = tmp_path / "out.jsonl"
        result = runner.invoke(app, ["rank", "-i", str(src), "-o", str(out), "--model", str(model), *extra])
        assert result.exit_code == 0, result.output
        (row,) = [json.loads(x) for x in out.read_text().splitlines()]
        assert (row["swap_consistent"] is not None) is swapped, extra


def test_score_samples_answers_when_asked(tiny_model_dir, tmp_path):
    random_image(1).save(tmp_path / "a.png")
    src = tmp_path / "items.jsonl"
    src.write_text(json.dumps({"task": "image_gen", "prompt": "a red circle", "candidate": "a.png"}))
    out = tmp_path / "s.jsonl"
    args = ["score", "-i", str(src), "-o", str(out), "--model", tiny_model_dir("qwen2_vl")]
    result = runner.invoke(app, [*args, "--decision", "reason", "--samples", "3", "--temperature", "0.8"])
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text())
    assert row["samples"] == 3 and row["failed_samples"] == 0 and row["raw_text"].count("[sample ") == 3
    assert 1 <= row["value"] <= 5

    bad = runner.invoke(app, [*args, "--samples", "2", "--temperature", "0"])
    assert bad.exit_code != 0 and "temperature above 0" in bad.output
