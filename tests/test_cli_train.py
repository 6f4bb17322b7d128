"""`unireward data shapes` -> mix -> `unireward train` -> a judge that loads the result."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from unireward.cli import app
from unireward.data.records import load_records
from unireward.judge import load_judge
from unireward.tasks import PairItem

runner = CliRunner()


def test_data_then_train_then_judge(tiny_model_dir, tmp_path):
    data = tmp_path / "shapes"
    result = runner.invoke(app, ["data", "shapes", str(data), "--n", "2", "--num-frames", "4"])
    assert result.exit_code == 0, result.output
    assert len(load_records(data)) == 16
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"seed": 0, "sources": [{"path": "shapes", "sample": "random:6"}]}))
    out = tmp_path / "rm"
    threads = torch.get_num_threads()
    result = runner.invoke(
        app,
        [
            "train",
            "--mix",
            str(mix),
            "--model",
            tiny_model_dir("qwen2_vl"),
            "-o",
            str(out),
            "--max-steps",
            "3",
            "--lr",
            "1e-3",
            "--batch-size",
            "2",
            "--num-frames",
            "2",
        ],
    )
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert "6 training examples" in result.output
    meta = json.loads((out / "unireward.json").read_text())
    assert meta["protocol"] == "v1" and meta["steps"] == 3
    judge = load_judge(out)
    item = PairItem(
        "image_gen",
        "a red circle",
        str(data / load_records(data)[0]["candidates"][0]),
        str(data / load_records(data)[0]["candidates"][1]),
    )
    assert judge.rank([item])[0].ok


def test_train_rejects_a_bad_mix(tmp_path):
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"sources": [{"path": "x", "sample": "lots"}]}))
    result = runner.invoke(app, ["train", "--mix", str(mix), "--model", "m", "-o", str(tmp_path / "o")])
    assert result.exit_code != 0 and "random:N" in str(result.exception)
