"""Ray Data batch scoring: an actor pool of judges gives the plain judge's results, failures per row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import random_image
from unireward.data.records import Record, save_records
from unireward.judge import load_judge
from unireward.judge.ray_scoring import _judge_all, row_to_item, score_dataset_with_ray
from unireward.tasks import Failure, Verdict

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def make_dataset(directory: Path) -> Path:
    media = directory / "media"
    media.mkdir(parents=True)
    for k in range(6):
        random_image(k, 56).save(media / f"{k}.png")
    records = [
        Record("p0", "image_gen", "pair", "a red circle", ["media/0.png", "media/1.png"], label="A"),
        Record("p1", "image_gen", "pair", "a blue square", ["media/2.png", "media/3.png"], label="B"),
        Record("p2", "image_und", "pair", "What colour?", ["Red.", "Blue."], media="media/4.png", label="A"),
        Record("s0", "image_gen", "point", "a green star", ["media/5.png"], score=3.0),
        Record("s1", "image_und", "point", "What shape?", ["A star."], media="media/0.png", score=40.0),
        Record(
            "broken", "image_gen", "pair", "a red circle", ["media/0.png", "media/missing.png"], label="A"
        ),
    ]
    return save_records(records, directory)


def test_ray_scores_equal_the_plain_judge(tmp_path, tiny_model_dir, local_ray):
    model = tiny_model_dir("qwen2_vl")
    data = make_dataset(tmp_path / "data")
    ds = score_dataset_with_ray(data, model, num_actors=1, batch_size=4, num_cpus_per_actor=1)
    rows = {r["id"]: r for r in ds.take_all()}
    assert set(rows) == {"p0", "p1", "p2", "s0", "s1", "broken"}
    assert rows["p0"]["label"] == "A" and rows["s0"]["score"] == 3.0  # input columns pass through

    judge = load_judge(model)
    items = {i: row_to_item(rows[i], data) for i in rows}
    verdicts = judge.rank([items[i] for i in ("p0", "p1", "p2", "broken")])
    scores = judge.score([items[i] for i in ("s0", "s1")])
    for v in verdicts[:3]:
        row = rows[v.id]
        assert row["judge_winner"] == v.winner and row["judge_failure"] is None
        got = json.loads(row["judge_probs"])
        assert got == pytest.approx(v.probs, abs=1e-5)
    for s in scores:
        assert rows[s.id]["judge_value"] == pytest.approx(s.value, abs=1e-5)
        assert json.loads(rows[s.id]["judge_probs"]) == pytest.approx(s.probs, abs=1e-5)
        assert rows[s.id]["judge_winner"] is None
    broken = rows["broken"]
    assert verdicts[3].failure.kind == "media"
    assert broken["judge_failure"] == "media" and "missing.png" in broken["judge_failure_message"]
    assert broken["judge_winner"] is None and broken["judge_probs"] is None


def test_bad_records_and_raising_batches_fail_alone(tmp_path):
    with pytest.raises(ValueError):
        row_to_item(
            {"id": "x", "task": "image_gen", "mode": "pair", "prompt": "p", "candidates": ["a"]}, tmp_path
        )

    def judge(items):  # raises for a batch holding the poisoned item, like a server error would
        if any(it.prompt == "poison" for it in items):
            raise FloatingPointError("NaN log-probabilities")
        return [Verdict(winner="A", probs={"A": 1.0, "B": 0.0, "tie": 0.0}, id=it.id) for it in items]

    rows = [
        {
            "id": str(k),
            "task": "image_und",
            "mode": "pair",
            "prompt": p,
            "media": "m.png",
            "candidates": ["1", "2"],
        }
        for k, p in enumerate(["fine", "poison", "fine too"])
    ]
    out = _judge_all(judge, [row_to_item(r, tmp_path) for r in rows])
    assert [o["judge_winner"] for o in out] == ["A", None, "A"]
    assert out[1]["judge_failure"] == "nan" and "NaN" in out[1]["judge_failure_message"]
    media_failure = Verdict(winner=None, failure=Failure("media", "bad file"))
    assert _judge_all(lambda items: [media_failure], [None])[0]["judge_failure"] == "media"


def test_rejects_unknown_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="records.parquet"):
        score_dataset_with_ray(tmp_path, "model")
    with pytest.raises(TypeError, match="cannot score"):
        score_dataset_with_ray(42, "model")
