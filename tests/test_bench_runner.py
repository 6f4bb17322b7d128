"""The benchmark runner: exact metric plumbing with scripted judges, resume, plots, compare, and the CLI.

Scripted backends answer by the item's prompt text, so every expected number below is worked out by hand.
"""

from __future__ import annotations

import collections
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from tests.test_bench_loaders import (
    GENAI_LABELS,
    VL_LABELS,
    make_genai_image,
    make_mj_bench,
    make_videogen,
    make_vl_rewardbench,
)
from unireward.bench.loaders import (
    load_genai_bench,
    load_mj_bench,
    load_videogen_rewardbench,
    load_vl_rewardbench,
)
from unireward.bench.metrics import randomize_order
from unireward.bench.runner import (
    PREDICTIONS,
    BenchConfig,
    compare_runs,
    compute_metrics,
    paired_bootstrap,
    read_predictions,
    run_bench,
)
from unireward.cli import app
from unireward.judge import Judge, JudgeConfig, load_judge

QUIET = {"progress": False, "echo": False}


def _benchmark(name: str):
    """A script of `benchmarks/` imported as a module (they import `_results` from their own folder)."""
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _text(prepared) -> str:
    parts = []
    for m in prepared.messages:
        content = m["content"]
        parts += [content] if isinstance(content, str) else [p.get("text", "") for p in content]
    return "\n".join(parts)


class PromptBackend:
    """Logit decisions from a table: prompt substring -> (P(A), P(B), P(tie)); unlisted prompts get `default`.
    Generate decisions from `answers`: prompt substring -> text."""

    name = "scripted"
    frame_multiple = 1

    def __init__(self, probs=None, default=(0.98, 0.01, 0.01), answers=None):
        self.probs, self.default, self.answers = probs or {}, default, answers or {}

    def _lookup(self, table, prepared, default):
        text = _text(prepared)
        hits = [v for k, v in table.items() if k in text]
        return hits[0] if hits else default

    def continuation_logprobs(self, batch, continuations):
        out = []
        for prepared, conts in zip(batch, continuations):
            p = self._lookup(self.probs, prepared, self.default)[: len(conts)]
            out.append([math.log(x) for x in p])
        return out

    def generate(self, batch, max_new_tokens):
        return [self._lookup(self.answers, p, "no verdict here") for p in batch]

    def describe(self):
        return {"backend": self.name, "model": "scripted"}


def scripted(decision="logits", **kw) -> Judge:
    return Judge(PromptBackend(**kw), JudgeConfig(decision=decision))


# ------------------------------------------------------------------------------------- metric plumbing
def test_bench_swap_follows_the_judge_unless_given(tmp_path):
    """None takes the judge's own swap (a model may record it); False turns a recorded swap off."""
    genai = load_genai_bench(make_genai_image(tmp_path / "genai"), "image_generation")

    def swapping():
        return Judge(PromptBackend(), JudgeConfig(decision="logits", swap=True))

    own = run_bench(swapping(), genai, tmp_path / "own", BenchConfig(**QUIET))
    off = run_bench(swapping(), genai, tmp_path / "off", BenchConfig(swap=False, **QUIET))
    on = run_bench(scripted(), genai, tmp_path / "on", BenchConfig(swap=True, **QUIET))
    assert (own["swap"], off["swap"], on["swap"]) == (True, False, True)
    consistent = [
        [json.loads(x)["swap_consistent"] for x in (tmp_path / d / PREDICTIONS).read_text().splitlines()]
        for d in ("own", "off")
    ]
    assert all(c is not None for c in consistent[0]) and all(c is None for c in consistent[1])


def test_always_a_judge_gives_the_known_numbers(tmp_path):
    genai = load_genai_bench(make_genai_image(tmp_path / "genai"), "image_generation")
    s = run_bench(scripted(), genai, tmp_path / "run-genai", BenchConfig(**QUIET))
    # labels A B tie tie A B: "A" is right on 2 of 6 (tau) and on 2 of the 4 non-ties (diff)
    assert s["metrics"]["tau"]["value"] == pytest.approx(2 / 6) and s["metrics"]["tau"]["n"] == 6
    assert s["metrics"]["diff"]["value"] == pytest.approx(2 / 4) and s["metrics"]["diff"]["excluded"] == 2
    assert (
        s["per_category"]["tievote"]["accuracy"] == 0.0 and s["per_category"]["leftvote"]["accuracy"] == 1.0
    )
    assert s["failures"]["failures"] == 0 and s["counts"] == {
        "suite_items": 6,
        "evaluated": 6,
        "pairs": 6,
        "points": 0,
    }

    vl = load_vl_rewardbench(make_vl_rewardbench(tmp_path / "vl"))
    s = run_bench(scripted(), vl, tmp_path / "run-vl", BenchConfig(**QUIET))
    m = s["metrics"]
    # groups: hallucination A,B -> 1/2; reasoning A,B -> 1/2; general A,A -> 2/2
    assert m["group/hallucination"]["value"] == 0.5 and m["group/reasoning"]["value"] == 0.5
    assert m["group/general"]["value"] == 1.0
    assert m["overall"]["value"] == pytest.approx(VL_LABELS.count("A") / 6)
    assert m["macro"]["value"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert "rule" in m["macro"] and "pooled" in m["overall"]["rule"]
    rows = [json.loads(x) for x in (tmp_path / "run-vl" / PREDICTIONS).read_text().splitlines()]
    assert [r["winner"] for r in rows] == ["A"] * 6 and [r["label"] for r in rows] == VL_LABELS
    assert all(abs(r["probs"]["A"] - 0.98 / 0.99) < 1e-9 for r in rows)  # understanding: no tie verdict


def test_videogen_tie_calibration_per_dimension(tmp_path):
    suite = load_videogen_rewardbench(make_videogen(tmp_path / "vg"))
    # Overall labels A, B, tie, A; differences P(A) - P(B) = 0.8, -0.6, 0.05, -0.1
    probs = {
        "videogen prompt 0": (0.85, 0.05, 0.10),
        "videogen prompt 1": (0.10, 0.70, 0.20),
        "videogen prompt 2": (0.45, 0.40, 0.15),
        "videogen prompt 3": (0.30, 0.40, 0.30),
    }
    s = run_bench(scripted(probs=probs), suite, tmp_path / "run", BenchConfig(**QUIET))
    m = s["metrics"]
    # eps = 0.05 ties only pair 2 (a human tie): C = 2 (pairs 0, 1), T_hm = 1, D = 1 (pair 3) -> 3/4
    assert m["Overall/with_ties"]["value"] == pytest.approx(0.75)
    assert m["Overall/with_ties"]["epsilon"] == pytest.approx(0.05)
    assert m["Overall/with_ties"]["counts"] == {"C": 2, "D": 1, "T_h": 0, "T_m": 0, "T_hm": 1}
    # without ties: pairs 0, 1, 3 at eps 0 -> A, B, B against A, B, A -> 2/3
    assert m["Overall/without_ties"]["value"] == pytest.approx(2 / 3)
    # VQ: labels A, (missing), tie, B -> pair 1 left out; eps 0.05: A right, tie right, B right -> 3/3
    assert m["VQ/with_ties"]["n"] == 3 and m["VQ/with_ties"]["value"] == pytest.approx(1.0)
    # MQ: labels B, B, A, A against 0.8, -0.6, 0.05, -0.1: eps 0 decides A, B, A, B -> 2/4, the best
    assert m["MQ/with_ties"]["value"] == pytest.approx(0.5)
    assert set(m) == {
        f"{d}/{k}" for d in ("Overall", "VQ", "MQ", "TA") for k in ("with_ties", "without_ties")
    }


def test_mj_bench_tie_threshold_comes_from_the_suite(tmp_path):
    root = make_mj_bench(tmp_path / "mj")
    probs = {
        "mj caption 0": (0.85, 0.05, 0.10),
        "mj caption 1": (0.10, 0.70, 0.20),
        "mj caption 2": (0.45, 0.40, 0.15),
        "mj safety": (0.2, 0.7, 0.1),
    }
    # labels A, B, tie, B; differences 0.8, -0.6, 0.05, -0.5
    wide = run_bench(
        scripted(probs=probs), load_mj_bench(root, tie_epsilon=0.1), tmp_path / "r1", BenchConfig(**QUIET)
    )
    assert wide["metrics"]["with_ties"]["value"] == 1.0 and wide["metrics"]["with_ties"]["epsilon"] == 0.1
    assert wide["metrics"]["category/alignment"]["value"] == 1.0
    narrow = run_bench(scripted(probs=probs), load_mj_bench(root), tmp_path / "r0", BenchConfig(**QUIET))
    assert narrow["metrics"]["with_ties"]["value"] == 0.75  # the tie pair is now decided "A"
    assert (
        narrow["metrics"]["without_ties"]["value"] == 1.0
        and narrow["metrics"]["without_ties"]["excluded"] == 1
    )


def test_generate_failures_are_counted_with_raw_text(tmp_path):
    suite = load_genai_bench(make_genai_image(tmp_path / "g"), "image_generation")
    answers = {
        "caption 0": "Image 1 is better than Image 2.",
        "caption 1": "Image 2 is better than Image 1.",
        "caption 2": "Both images are equally good.",
        "caption 3": "I like both.",
    }
    s = run_bench(scripted("generate", answers=answers), suite, tmp_path / "run", BenchConfig(**QUIET))
    # right on 0, 1, 2; caption 3 and the unscripted 4, 5 fail to parse (counted wrong)
    assert s["metrics"]["tau"]["value"] == pytest.approx(3 / 6) and s["metrics"]["tau"]["failures"] == 3
    assert s["failures"]["failures"] == 3 and s["failures"]["by_kind"] == {"parse": 3}
    assert s["parse_failure_rate"] == pytest.approx(0.5)
    assert s["calibration"] is None  # generate without swap gives no probabilities
    rows = {r["id"]: r for r in read_predictions(tmp_path / "run" / PREDICTIONS).values()}
    bad = rows[suite.items[3].id]
    assert bad["winner"] is None and bad["raw_text"] == "I like both." and bad["failure"]["kind"] == "parse"
    assert bad["diff"] is None and rows[suite.items[2].id]["diff"] == 0.0


def test_randomized_order_is_recorded_and_mapped_back(tmp_path):
    suite = load_genai_bench(make_genai_image(tmp_path / "g"), "image_generation")
    s = run_bench(scripted(), suite, tmp_path / "run", BenchConfig(randomize_order=True, seed=7, **QUIET))
    plan = randomize_order(6, 7)
    rows = [json.loads(x) for x in (tmp_path / "run" / PREDICTIONS).read_text().splitlines()]
    assert [r["presented"] == "BA" for r in rows] == plan and s["order"]["presented_swapped"] == 3
    # the judge always picks the first shown, which is the stored B when swapped
    expected = ["B" if sw else "A" for sw in plan]
    assert [r["winner"] for r in rows] == expected
    assert s["metrics"]["tau"]["correct"] == sum(w == lab for w, lab in zip(expected, GENAI_LABELS))
    assert s["order"] == {**s["order"], "randomized": True, "seed": 7}


def test_broken_media_fails_that_item_only(tmp_path):
    root = make_genai_image(tmp_path / "g")
    (root / "image_generation" / "more.jsonl").write_text(
        json.dumps(
            {
                "prompt": "caption 9",
                "left_image": "missing.png",
                "right_image": "missing.png",
                "vote_type": "leftvote",
                "id": "broken",
            }
        )
        + "\n"
    )
    suite = load_genai_bench(root, "image_generation")
    s = run_bench(scripted(), suite, tmp_path / "run", BenchConfig(**QUIET))
    assert s["failures"]["by_kind"] == {"media": 1} and s["metrics"]["tau"]["n"] == 7
    assert s["metrics"]["tau"]["correct"] == 2 and s["parse_failure_rate"] == 0.0


# --------------------------------------------------------------------------------- resume and settings
def test_resume_after_interruption_equals_one_run(tiny_model_dir, tmp_path):
    judge = load_judge(tiny_model_dir("qwen2_vl"), batch_size=1)  # one item per call: chunking cannot matter
    suite = load_genai_bench(make_genai_image(tmp_path / "g"), "image_generation")
    full = run_bench(judge, suite, tmp_path / "full", BenchConfig(chunk_size=4, plot=True, **QUIET))

    calls: list[int] = []
    rank = judge.rank
    judge.rank = lambda items, **kw: calls.append(len(items)) or rank(items, **kw)
    part = tmp_path / "part"
    first = run_bench(judge, suite, part, BenchConfig(limit=3, chunk_size=2, **QUIET))
    assert first["counts"]["evaluated"] == 3 and sum(calls) == 3
    pred = part / PREDICTIONS
    text = pred.read_text()
    pred.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])  # cut the last line mid-way
    calls.clear()
    resumed = run_bench(judge, suite, part, BenchConfig(chunk_size=2, **QUIET))
    assert sum(calls) == 4  # 6 items - 2 intact lines
    lines = pred.read_text().splitlines()
    assert len(lines) == 6 and len({json.loads(x)["id"] for x in lines}) == 6
    for key in ("metrics", "counts", "failures", "per_category", "calibration"):
        assert resumed[key] == full[key], key
    assert (tmp_path / "full" / "accuracy_by_category.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "full" / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "full" / "summary.json").read_text())["metrics"] == full["metrics"]

    with pytest.raises(RuntimeError, match="decision"):
        run_bench(judge, suite, part, BenchConfig(decision="generate", **QUIET))
    pred.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match="line 2"):
        run_bench(judge, suite, part, BenchConfig(**QUIET))


def test_read_predictions_keeps_a_complete_last_line_without_newline(tmp_path):
    p = tmp_path / PREDICTIONS
    p.write_text('{"id": "a"}\n{"id": "b"}')
    assert list(read_predictions(p)) == ["a", "b"] and p.read_text().endswith('"b"}\n')
    p.write_text('{"id": "a"}\n{"id": "b", "wi')
    assert list(read_predictions(p)) == ["a"] and p.read_text() == '{"id": "a"}\n'


# -------------------------------------------------------------------------------------- compare and CLI
def test_compare_runs_side_by_side(tmp_path):
    suite = load_genai_bench(make_genai_image(tmp_path / "g"), "image_generation")
    a = run_bench(scripted(), suite, tmp_path / "a", BenchConfig(**QUIET))
    b = run_bench(scripted(default=(0.01, 0.98, 0.01)), suite, tmp_path / "b", BenchConfig(**QUIET))
    assert b["metrics"]["tau"]["value"] == pytest.approx(2 / 6)  # always B: same tau, by symmetry of labels
    text = compare_runs(tmp_path / "a" / "summary.json", tmp_path / "b")
    tau = next(line for line in text.splitlines() if line.startswith("tau"))
    assert tau.split()[:4] == ["tau", "33.33%", "33.33%", "+0.00"]
    # both runs kept predictions.jsonl: a paired interval, which is wide here (they disagree on every pair)
    low, high = (float(x.strip("[],")) for x in tau.split()[4:6])
    assert low < 0 < high and "paired bootstrap" in text
    assert compare_runs(tmp_path / "a", tmp_path / "b", replicates=0).splitlines()[-2].split() == [
        "diff",
        "50.00%",
        "50.00%",
        "+0.00",
    ]
    other = run_bench(
        scripted(),
        load_vl_rewardbench(make_vl_rewardbench(tmp_path / "vl")),
        tmp_path / "c",
        BenchConfig(**QUIET),
    )
    assert "not comparable" in compare_runs(a, other)
    assert "not comparable" not in text


def test_cli_bench_shapes_equals_shapes_accuracy_script(tiny_model_dir, tmp_path):
    model = tiny_model_dir("qwen2_vl")
    runner = CliRunner()
    out = tmp_path / "cli"
    same = ["--model", model, "--n", "3", "--seed", "1"]
    result = runner.invoke(app, ["bench", "--suite", "shapes", *same, "--out", str(out), "--plot"])
    assert result.exit_code == 0, result.output
    assert "image_gen/pair_with_ties" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["evaluated"] == 24 and (out / "calibration.png").exists()

    shapes_accuracy = _benchmark("shapes_accuracy")
    rows_path = tmp_path / "rows.jsonl"
    script = shapes_accuracy.main([*same, "--out", str(tmp_path / "s.json"), "--predictions", str(rows_path)])
    assert script["metrics"] == summary["metrics"]
    kept = read_predictions(rows_path)
    assert kept.keys() == read_predictions(out / PREDICTIONS).keys() and len(kept) == 24
    assert [r["winner"] for r in kept.values() if r["mode"] == "pair"] == [
        r["winner"] for r in read_predictions(out / PREDICTIONS).values() if r["mode"] == "pair"
    ]
    written = json.loads((tmp_path / "s.json").read_text())
    assert written["metrics"] == summary["metrics"]
    assert written["command"] == (
        f"python benchmarks/shapes_accuracy.py --model {model} --n 3 --seed 1 --out {tmp_path / 's.json'}"
        f" --predictions {rows_path}"
    )
    assert set(summary["metrics"]) == {
        f"{t}/{k}"
        for t in ("image_gen", "image_und", "video_gen", "video_und")
        for k in ("pair_without_ties", "pair_with_ties", "point_spearman")
    } | {"mean/pair_without_ties"}

    result = runner.invoke(app, ["bench", "--compare", str(out / "summary.json"), str(out)])
    assert result.exit_code == 0 and "video_und/point_spearman" in result.output
    help_text = runner.invoke(app, ["bench", "--help"], terminal_width=200).output
    for name in (
        "vl-rewardbench",
        "genai-bench-image",
        "genai-bench-video",
        "videogen-rewardbench",
        "mj-bench",
        "shapes",
        "human_ranking",
        "vote_type",
        "path_A",
        "label_0",
    ):
        assert name in help_text, name
    bad = runner.invoke(app, ["bench", "--suite", "mj-bench", "--model", model])
    assert bad.exit_code != 0 and "--data" in bad.output


def test_image_gen_checks_score_the_oracle_targets_perfect_and_a_blind_judge_at_chance():
    import collections

    from unireward.data.records import shapes_labels, target_text
    from unireward.data.shapes import ShapesWorld, describe_image, explanation, quality_word
    from unireward.protocols import get_protocol
    from unireward.train.shapes import PROTOCOL

    image_gen_checks = _benchmark("image_gen_checks")
    proto, world = get_protocol(PROTOCOL), ShapesWorld(2)
    oracle_counts, blind_counts = collections.Counter(), collections.Counter()
    for _ in range(60):
        ex = world.point_example("image_gen")
        labels = shapes_labels("image_gen", ex, explain=True, describe="shows")
        text = target_text(proto, "image_gen", "point", *labels)
        c = ex.spec["candidate"]
        quality = quality_word(c)
        image_gen_checks.tally(oracle_counts, ex.details["elements"], quality, text, describe_image(c))
        image_gen_checks.tally(blind_counts, ex.details["elements"], quality, text.replace(": 0", ": 1"))
    perfect, blind = image_gen_checks.summary(oracle_counts), image_gen_checks.summary(blind_counts)
    assert perfect["quality_right"] == perfect["candidates"] == 60
    described = perfect["description"]
    assert described["exact"] == described["written"] == 60
    assert described["objects_named"] == described["objects_true"] > 60
    assert "description" not in blind  # no true description given
    for kind in ("object", "relation"):
        assert perfect[kind]["0"]["n"] > 5 and perfect[kind]["not_written"] == 0
        assert perfect[kind]["balanced_accuracy"] == 1.0
        assert blind[kind]["balanced_accuracy"] == 0.5 and blind[kind]["0"]["rate"] == 0.0
    line = "Image 1: shows blue circle, red square; red cross (object): 0, above (relation): 1, quality"
    assert image_gen_checks.written_checks(line) == {
        "red cross": ("object", 0),
        "above": ("relation", 1),
    }
    from unireward.data.shapes import caption_objects, sees

    counts = collections.Counter()
    for _ in range(40):
        ex = world.pair_example("image_gen")
        cap, c = ex.spec["prompt"], ex.spec["a"]
        text = explanation("image_gen", ex, describe="lookup").splitlines()[0]
        truth = [sees(c, shape) for _, shape in caption_objects(cap)]
        image_gen_checks.tally(
            counts, ex.details_a["elements"], quality_word(c), text, describe_image(c), truth
        )
    lookups = image_gen_checks.summary(counts)["lookups"]
    assert lookups["exact"] == lookups["true"] == lookups["written"] >= 40
    follows = lookups["check_follows"]
    assert follows["none"]["n"] > 5 and follows["other_colour"]["n"] > 0
    assert all(f["followed"] == f["n"] for f in follows.values())
    assert image_gen_checks.summary(counts)["object"]["balanced_accuracy"] == 1.0
    contradicts, wrong = "red crosses (object): sees blue cross so 1, quality", collections.Counter()
    image_gen_checks.tally(wrong, [("red crosses", "object", 0)], "", contradicts, None, ["blue cross"])
    assert image_gen_checks.summary(wrong)["lookups"]["check_follows"]["other_colour"] == {
        "n": 1,
        "followed": 0,
    }
    kinds = [image_gen_checks.lookup_kind("red cross", said) for said in ("blue cross and red cross", "none")]
    assert kinds + [image_gen_checks.lookup_kind("red cross", "red circle")] == [
        "names_it",
        "none",
        "other_shape",
    ]
    colours = collections.Counter()  # judges trained with describe="colours" write colours, not objects
    for _ in range(40):
        ex = world.pair_example("image_gen")
        cap, c = ex.spec["prompt"], ex.spec["b"]
        text = explanation("image_gen", ex, describe="colours").splitlines()[1]
        truth = [sees(c, shape) for _, shape in caption_objects(cap)]
        image_gen_checks.tally(
            colours, ex.details_b["elements"], quality_word(c), text, describe_image(c), truth
        )
    by_colour = image_gen_checks.summary(colours)
    assert by_colour["lookups"]["exact"] == by_colour["lookups"]["true"] >= 40
    assert by_colour["object"]["balanced_accuracy"] == 1.0 and by_colour["object"]["not_written"] == 0
    own = by_colour["lookups"]["follows_description"]  # the oracle's lookups follow its description
    assert own["followed"] == own["n"] == by_colour["lookups"]["written"]
    # 21a's kind of slip: it describes a cyan triangle, then looks up no triangle of any colour.
    slip = "Image 1: shows cyan triangle; cyan triangle (object): colours none, asked cyan: 0, quality"
    slipped = collections.Counter()
    truth = [("cyan triangle", "object", 1)]
    image_gen_checks.tally(slipped, truth, "", slip, "cyan triangle", ["cyan triangle"])
    assert image_gen_checks.summary(slipped)["lookups"]["follows_description"] == {"n": 1, "followed": 0}
    assert image_gen_checks.own_lookup("cyan cross, red square, blue cross", "red cross") == (
        "cyan cross and blue cross"
    )
    assert image_gen_checks.written_lookups("red crosses (object): colours blue and red, asked red: 1") == [
        "blue cross and red cross"
    ]
    looked_up = "red crosses (object): sees red cross and blue cross so 1, two (count): sees none so 0, "
    assert image_gen_checks.written_checks(looked_up) == {"red crosses": ("object", 1), "two": ("count", 0)}
    sided = "red cross (object): colours red, asked red: 1, "
    sided += "above (relation): red cross left, blue circle right: 0"
    assert image_gen_checks.written_checks(sided) == {"red cross": ("object", 1), "above": ("relation", 0)}


def test_description_objects_count_held_out_pairs_named_with_another_shape_or_colour():
    import collections

    descriptions = _benchmark("_descriptions")
    counts = collections.Counter()
    descriptions.tally_objects(counts, "yellow circle, red square", "yellow square, red square")
    descriptions.tally_objects(counts, "cyan triangle", "blue triangle")  # shape right, colour not
    descriptions.tally_objects(  # a video's `becomes blue circle` is a change, not an object
        counts,
        "purple square moving left slowly, becomes blue circle; then red cross static",
        "purple square moving left slowly, becomes blue circle",
    )
    summary = descriptions.objects_summary(counts)
    assert summary["held_out"] == {
        "objects": 4,
        "right": 1,
        "colour_right_other_shape": 1,
        "shape_right_other_colour": 1,
    }
    assert summary["seen"] == {
        "objects": 1,
        "right": 1,
        "colour_right_other_shape": 0,
        "shape_right_other_colour": 0,
    }
    assert descriptions.objects_line(summary) == (
        "held-out objects right 1/4 (colour right, other shape 1; shape right, other colour 1), "
        "seen 1/1 (0; 0)"
    )


def test_reasoning_checks_read_a_video_judges_own_change_words_and_whether_factual_follows():
    import collections
    import re

    from unireward.data.records import shapes_labels, target_text
    from unireward.data.shapes import ShapesWorld, video_changes
    from unireward.protocols import get_protocol
    from unireward.train.shapes import PROTOCOL

    rc = _benchmark("reasoning_checks")
    proto, world = get_protocol(PROTOCOL), ShapesWorld(4)
    for style in ("colours+videos-ends", "colours+videos-ends-checked-changes"):
        oracle, flat = collections.Counter(), collections.Counter()
        while oracle["change/changed/n"] < 6:
            point = world.point_example("video_gen")
            labels = shapes_labels("video_gen", point, explain=True, describe=style)
            text = target_text(proto, "video_gen", "point", *labels)
            changed = video_changes(point.spec["candidate"])
            assert rc.said_video_change(text) == changed
            rc.tally_video(oracle, point.details["dimensions"], text, changed=changed)
            # a judge that writes its change words right, then rates factual consistency 4 whatever they say
            rc.tally_video(
                flat,
                point.details["dimensions"],
                re.sub(r"factual consistency: \d", "factual consistency: 4", text),
                changed=changed,
            )
        s, blind = rc.video_summary(oracle)["change_words"], rc.video_summary(flat)["change_words"]
        assert s["changed"]["said_right"] == s["changed"]["n"] == s["said_changed"]["n"] >= 6
        assert s["said_changed"]["factual_follows"] == s["said_changed"]["n"]
        assert s["said_steady"]["factual_follows"] == s["said_steady"]["n"] == s["steady"]["n"] > 0
        assert blind["said_changed"]["factual_follows"] == 0 and blind["changed"]["said_right"] >= 6
        if style.endswith("changes"):  # the oracle's yes/no always follows its two words
            assert s["words_differ"]["follows"] == s["words_differ"]["n"] >= 6
            assert s["words_same"]["follows"] == s["words_same"]["n"] > 0
        else:
            assert s["words_differ"]["n"] == s["words_same"]["n"] == 0
    # a judge that copies two different looks onto its change line and still writes no
    copied, line = collections.Counter(), "Change: colour red, ends blue: no, shape square, ends square: no."
    rc.tally_said_change(copied, True, {}, "Video shows: red square static, ends blue square.\n" + line)
    words = rc.video_summary(copied)["change_words"]
    assert words["words_differ"] == {"n": 1, "follows": 0} and words["words_same"] == {"n": 1, "follows": 1}
    steady = "Video shows: red square static, ends red square.\nChange: colour red, ends red: no, shape "
    assert rc.said_video_change(steady + "square, ends circle: yes.") is True  # the change line decides
    assert rc.said_video_change("Video shows: red square static.") is None  # no last look written


def test_reasoning_checks_score_the_oracle_targets_perfect_and_catch_a_wrong_step():
    import collections
    import re

    from unireward.data.records import shapes_labels, target_text
    from unireward.data.shapes import ShapesWorld, answer_checks, true_answer
    from unireward.protocols import get_protocol
    from unireward.train.shapes import PROTOCOL

    rc = _benchmark("reasoning_checks")
    proto, world = get_protocol(PROTOCOL), ShapesWorld(3)
    video, flat = collections.Counter(), collections.Counter()
    for _ in range(40):
        ex = world.pair_example("video_gen")
        text = target_text(proto, "video_gen", "pair", *shapes_labels("video_gen", ex, explain=True))
        lines = rc._lines(text, "Video")
        rc.tally_video(video, ex.details_a["dimensions"], lines["1"])
        point = world.point_example("video_gen")
        text = target_text(proto, "video_gen", "point", *shapes_labels("video_gen", point, explain=True))
        rc.tally_video(video, point.details["dimensions"], text)
        # A judge that rates every dimension 4: right only where the oracle says 4.
        rc.tally_video(
            flat,
            point.details["dimensions"],
            re.sub(r"(quality|consistency|degree|alignment): \d", r"\1: 4", text),
        )
    perfect, blind = rc.video_summary(video), rc.video_summary(flat)
    assert perfect["score_follows_own_ratings"] == {"n": 80, "followed": 80}
    for name in ("visual quality", "text-to-video alignment"):
        assert perfect[name]["exact"] == perfect[name]["balanced_accuracy"] == 1.0
        assert len(blind[name]["by_value"]) >= 2 and blind[name]["balanced_accuracy"] < 1.0
        assert blind[name]["by_value"]["4"]["right"] == blind[name]["by_value"]["4"]["n"]
    assert blind["score_follows_own_ratings"]["followed"] < 40  # the final score was left as written
    from unireward.data.shapes import describe_image, describe_video, video_alignment_checks

    described = collections.Counter()
    for _ in range(30):  # judges trained with describe="...+videos"
        ex = world.pair_example("video_gen")
        labels = shapes_labels("video_gen", ex, explain=True, describe="+videos")
        line = rc._lines(target_text(proto, "video_gen", "pair", *labels), "Video")["2"]
        checks = video_alignment_checks(ex.spec["prompt"], ex.spec["b"])
        rc.tally_video(described, ex.details_b["dimensions"], line, checks)
        rc.tally_description(described, describe_video(ex.spec["b"]), line)
        point = world.point_example("video_gen")
        text = target_text(
            proto, "video_gen", "point", *shapes_labels("video_gen", point, explain=True, describe="+videos")
        )
        rc.tally_description(described, describe_video(point.spec["candidate"]), text)
        wrong = video_alignment_checks(point.spec["prompt"], ex.spec["b"])  # another video's checks
        rc.tally_video(described, point.details["dimensions"], text.replace("colour ", "colour x", 1), wrong)
    s = rc.video_summary(described)
    d = s["description"]
    assert (d["written"], d["exact"]) == (60, 60) and d["seen"]["right"] == d["seen"]["objects"] >= 60
    colour, shape = s["caption_checks"]["colour"], s["caption_checks"]["shape"]
    assert colour["n"] == shape["n"] == 60 and shape["follows"] == 60 and colour["follows"] < 60
    assert 30 <= shape["seen_right"] < 60  # the points were checked against another video's truth

    und = collections.Counter()
    for task in ("image_und", "video_und"):
        for _ in range(30):
            ex = world.pair_example(task)
            text = target_text(
                proto, task, "pair", *shapes_labels(task, ex, explain=True, describe="shows+videos")
            )
            media = ex.spec["prompt"].media
            rc.tally_description(
                und, (describe_image if task == "image_und" else describe_video)(media), text
            )
            rc.tally_correct_answer(
                und, true_answer(ex.spec["prompt"]), text, ex.spec["prompt"].question.kind
            )
            for k, side in (("1", "a"), ("2", "b")):
                line = rc._check_part(rc._lines(text, "Answer")[k])
                rc.tally_answer(und, answer_checks(ex.spec["prompt"], ex.spec[side]), line)
    s = rc.answer_summary(und)
    d = s["description"]
    assert s["correct_answer"] == {"n": 60, "exact": 60} and (d["written"], d["exact"]) == (60, 60)
    by_question = s["correct_answer_by_question"]
    assert len(by_question) >= 4 and sum(c["n"] for c in by_question.values()) == 60
    assert all(c["exact"] == c["n"] for c in by_question.values())
    wrong_kind = collections.Counter()
    rc.tally_correct_answer(
        wrong_kind, "The red circle moves up.", "Correct answer: The red circle moves up.", "direction"
    )
    rc.tally_correct_answer(wrong_kind, "Yes.", "Correct answer: No.", "direction")
    assert rc.answer_summary(wrong_kind)["correct_answer_by_question"] == {"direction": {"n": 2, "exact": 1}}
    assert d["seen"]["right"] == d["seen"]["objects"] >= 60
    assert (
        s["check_exact"]
        == s["truth_right"]
        == s["verdict_follows_own_claim_and_truth"]
        == s["answers"]
        == 120
    )
    by = s["verdict_follows_by_case"]  # oracle text: every verdict follows, in both cases
    match, differ = by["match"], by["differ"]
    assert match["followed"] == match["n"] > 0 and differ["followed"] == differ["n"] > 0
    assert match["n"] + differ["n"] == 120
    wrong = collections.Counter()
    rc.tally_answer(wrong, "claim left, truth down: wrong", "claim left, truth left: wrong")
    rc.tally_answer(wrong, "hedged red or blue, truth red: right", "hedged red or blue, truth red: right.")
    rc.tally_answer(wrong, "claim two, truth two: right", "the answer is fine")
    none = {"objects": 0, "right": 0, "colour_right_other_shape": 0, "shape_right_other_colour": 0}
    assert rc.answer_summary(wrong) == {
        "description": {"written": 0, "exact": 0, "held_out": none, "seen": none},
        "correct_answer": {"n": 0, "exact": 0},
        "correct_answer_by_question": {},
        "change_questions": None,
        "answers": 3,
        "check_exact": 1,
        "check_unparsed": 1,
        "truth_right": 1,
        "verdict_follows_own_claim_and_truth": 1,
        "first_departure": None,
        "verdict_follows_by_case": {"match": {"n": 2, "followed": 1}, "differ": {"n": 0, "followed": 0}},
    }


def test_first_departure_names_the_first_step_off_the_oracles_reasoning():
    from unireward.data.records import shapes_labels, target_text
    from unireward.data.shapes import ShapesWorld
    from unireward.protocols import get_protocol
    from unireward.train.shapes import PROTOCOL

    rc = _benchmark("reasoning_checks")
    proto, world = get_protocol(PROTOCOL), ShapesWorld(5)
    ex = world.pair_example("video_und")
    oracle = target_text(proto, "video_und", "pair", *shapes_labels("video_und", ex, True, "colours+videos"))
    lines = oracle.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "Video shows",
        "Correct answer",
        "Answer 1",
        "Answer 2",
        "Overall Judgment",
    ]

    def edited(k: int, new: str) -> str:
        return "\n".join(lines[:k] + [new] + lines[k + 1 :])

    assert rc.first_departure(oracle, oracle) == "none"

    def oracle_for(kind: str, style: str) -> tuple[str, str]:
        """The oracle answer to a pair with a `kind` question in `style`, and its line after the video."""
        found = world.pair_example("video_und")
        while found.spec["prompt"].question.kind != kind:
            found = world.pair_example("video_und")
        text = target_text(proto, "video_und", "pair", *shapes_labels("video_und", found, True, style))
        return text, text.splitlines()[1]

    relation_pair = world.pair_example("image_und")
    while relation_pair.spec["prompt"].question.kind != "relation":
        relation_pair = world.pair_example("image_und")
    checked, change = oracle_for("change", "colours+videos-ends-checked")
    assert change.startswith("Change: ") and rc.first_departure(checked, checked) == "none"
    flipped = change[:-4] + ("no." if change.endswith("yes.") else "yes.")
    assert rc.first_departure(checked.replace(change, flipped), checked) == "change"
    ordered, order = oracle_for("order", "colours+videos-ends-checked-order")
    assert order.startswith("Order: ") and rc.first_departure(ordered, ordered) == "none"
    assert rc.first_departure(ordered.replace(order, "Order: none."), ordered) == "order"
    sided = target_text(
        proto, "image_und", "pair", *shapes_labels("image_und", relation_pair, True, "colours-sides")
    )
    sides = sided.splitlines()[1]
    assert sides.startswith("Sides: ") and rc.first_departure(sided, sided) == "none"
    assert rc.first_departure(sided.replace(sides, "Sides: none."), sided) == "sides"
    assert rc.first_departure(edited(0, "Video shows: a red cross moving up slowly."), oracle) == "none"
    assert rc.first_departure(edited(1, "Correct answer: Yes."), oracle) == "correct_answer"
    check, score = lines[2].rsplit(", score: ", 1)
    assert (
        rc.first_departure(edited(2, f"{check}, score: {int(score.rstrip('.')) % 5 + 1}."), oracle) == "score"
    )
    assert rc.first_departure(edited(2, "Answer 1: claim x, truth y: wrong, score: 1."), oracle) == "check"
    assert (
        rc.first_departure(edited(4, "Overall Judgment: Answer 1 is better than Answer 1."), oracle)
        == "verdict"
    )
    assert (
        rc.first_departure("\n".join(lines[:2]), oracle) == "check"
    )  # a cut-off answer departs where it ends
    assert rc.first_departure("\n".join(lines[1:]), oracle) == "none"  # no description: matched by label


def test_change_reading_follows_the_oracle_descriptions_in_both_video_styles_and_catches_a_yes_prior():
    from unireward.data.records import shapes_labels, target_text
    from unireward.data.shapes import ShapesWorld, und_truth
    from unireward.protocols import get_protocol
    from unireward.train.shapes import PROTOCOL

    rc = _benchmark("reasoning_checks")
    proto = get_protocol(PROTOCOL)
    for describe, ends in (("colours+videos", False), ("colours+videos-ends", True)):
        world, oracle, prior = ShapesWorld(6), collections.Counter(), collections.Counter()
        while oracle["change_changing_n"] < 12 or oracle["change_not_changing_n"] < 12:
            ex = world.pair_example("video_und")
            q = ex.spec["prompt"].question
            if q.kind != "change":
                continue
            text = target_text(proto, "video_und", "pair", *shapes_labels("video_und", ex, True, describe))
            (truth,) = und_truth(ex.spec["prompt"])[0]
            rc.tally_change_reading(oracle, q, truth, text, ends)
            # a judge whose answer is always yes, whatever its description says
            rc.tally_change_reading(
                prior, q, truth, text.replace("Correct answer: No,", "Correct answer: Yes,"), ends
            )
        s, p = rc.change_summary(oracle), rc.change_summary(prior)
        assert s["changing"]["said_change"] == s["changing"]["n"] and s["not_changing"]["said_change"] == 0
        assert s["changing"]["unfound"] == s["not_changing"]["unfound"] == 0
        assert s["answer_follows_description"]["followed"] == s["answer_follows_description"]["n"] >= 24
        followed = p["answer_follows_description"]["followed"]
        assert followed == p["answer_follows_description"]["n"] - s["not_changing"]["n"]
    assert rc.change_summary(collections.Counter()) is None
    from unireward.data.shapes import Question

    q = Question(kind="change", colour=None, shape="square", other=None, attr="colour")
    assert (
        rc.said_change("red circle static; then blue square moving up slowly, ends red square", q, True)
        == "yes"
    )
    assert rc.said_change("blue square static, ends blue circle", q, True) == "no"  # shape, not colour
    assert rc.said_change("blue square static, becomes red", q, False) == "yes"
    assert rc.said_change("blue square static, becomes circle", q, False) == "no"  # shape, not colour
    assert rc.said_change("blue square static, becomes red circle", q, False) == "yes"
    assert rc.said_change("red circle static", q, False) == "unfound"


def test_shapes_accuracy_swap_judges_both_orders_as_the_cli_does(tiny_model_dir, tmp_path):
    """--swap reaches the judge (it was fixed to one order before): the script's numbers equal
    `unireward bench --suite shapes --swap`, the result records it, and the pair numbers change."""
    model = tiny_model_dir("qwen2_vl")
    out = tmp_path / "cli"
    args = ["bench", "--suite", "shapes", "--model", model, "--n", "3", "--seed", "1", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--swap"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    shapes_accuracy = _benchmark("shapes_accuracy")
    common = ["--model", model, "--n", "3", "--seed", "1"]
    swapped = shapes_accuracy.main([*common, "--swap", "--out", str(tmp_path / "s.json")])
    assert swapped["metrics"] == summary["metrics"] and swapped["model"]["swap"] is True
    plain = shapes_accuracy.main([*common, "--out", str(tmp_path / "p.json")])
    assert plain["model"]["swap"] is False
    pair_keys = [k for k in plain["metrics"] if k.endswith("pair_with_ties")]
    assert any(plain["metrics"][k] != swapped["metrics"][k] for k in pair_keys)
    for k in plain["metrics"]:  # points are judged once either way
        if k.endswith("point_spearman"):
            assert plain["metrics"][k] == swapped["metrics"][k]


def test_relation_probe_reads_a_linear_direction_and_tells_a_copying_judge_from_a_reading_one():
    import numpy as np

    probe = _benchmark("relation_probe")
    rng = np.random.default_rng(0)
    labels = rng.integers(4, size=400)
    # a feature per class, plus noise: linearly readable; the same noise with shuffled labels: chance
    readable = np.eye(4)[labels] * 3 + rng.normal(size=(400, 4))
    assert probe.linear_probe(readable, labels, 4)["accuracy"] > 0.9
    shuffled = probe.linear_probe(rng.normal(size=(400, 4)), labels, 4)
    assert shuffled["accuracy"] < 0.4 and shuffled["n_fit"] == shuffled["n_scored"] == 200

    assert probe.written_relation(
        "Image shows: a, b.\nCorrect answer: The red cross is above the blue square."
    )
    assert probe.written_relation("Correct answer: The red cross is below the blue square.") == "below"
    assert probe.written_relation("Correct answer: There are two circles.") is None
    truths = ["left of", "above", "below", "right of"] * 10
    claims = ["right of", "below", "above", "left of"] * 5 + truths[20:]  # half wrong (flipped), half right
    answered = [c == t for c, t in zip(claims, truths)]
    copier = probe.tally_written(list(zip(truths, claims, answered)))  # writes the judged answer's claim
    reader = probe.tally_written(list(zip(truths, truths, answered)))
    assert (
        copier["answer_right"]
        == reader["answer_right"]
        == {"n": 20, "right": 20, "axis_right": 20, "unwritten": 0}
    )
    assert copier["answer_wrong"] == {"n": 20, "right": 0, "axis_right": 20, "unwritten": 0}
    assert reader["answer_wrong"]["right"] == 20
    assert probe.tally_written([("above", None, False)])["answer_wrong"]["unwritten"] == 1


# ------------------------------------------------------------------------------- paired bootstrap
def _shapes_rows(correct: dict[str, list[bool]], scores: dict[str, list[float]] | None = None) -> list[dict]:
    """Prediction rows in the shapes rule's format: pairs labelled A and B in turn, judged right or not;
    points with oracle scores 1..n and the given judge scores."""
    rows = []
    for task, hits in correct.items():
        for k, hit in enumerate(hits):
            label = "AB"[k % 2]
            winner = label if hit else "BA"[k % 2]
            diff = 0.8 if winner == "A" else -0.8
            rows.append(
                {
                    "id": f"{task}/pair/{k}",
                    "task": task,
                    "mode": "pair",
                    "label": label,
                    "winner": winner,
                    "diff": diff,
                    "category": None,
                }
            )
        for k, s in enumerate((scores or {}).get(task, [])):
            rows.append(
                {
                    "id": f"{task}/point/{k}",
                    "task": task,
                    "mode": "point",
                    "label": float(k + 1),
                    "score": s,
                    "category": None,
                }
            )
    return rows


def test_paired_bootstrap_difference_and_interval():
    base = [k % 5 != 0 for k in range(100)]  # 80% right
    a = _shapes_rows({"image_gen": base, "video_und": base}, {"image_gen": [1, 2, 3, 5, 4, 6]})
    better = [True] * 100  # B is right wherever A is, and on 20 more
    b = _shapes_rows({"image_gen": better, "video_und": base}, {"image_gen": [1, 2, 3, 4, 5, 6]})
    out = paired_bootstrap("shapes", a, b, replicates=400)
    ig = out["image_gen/pair_without_ties"]
    assert ig["a"] == pytest.approx(0.8) and ig["b"] == 1.0 and ig["delta"] == pytest.approx(0.2)
    assert 0.1 < ig["low"] < 0.2 < ig["high"] < 0.3  # B never loses an item, so the interval stays above 0
    same = out["video_und/pair_without_ties"]
    assert same["delta"] == 0 and same["low"] == same["high"] == 0  # identical verdicts: no noise at all
    mean = out["mean/pair_without_ties"]
    assert mean["a"] == pytest.approx(0.8) and mean["delta"] == pytest.approx(0.1)
    assert out["image_gen/point_spearman"]["delta"] == pytest.approx(1 - (1 - 6 * 2 / (6 * 35)))
    assert paired_bootstrap("shapes", a, b, replicates=400) == out  # seeded


def test_paired_bootstrap_refuses_unpaired_runs():
    a = _shapes_rows({"image_gen": [True, False]})
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap("shapes", a, a[:1])
    relabelled = [{**r, "label": "B"} for r in a]
    with pytest.raises(ValueError, match="different labels"):
        paired_bootstrap("shapes", a, relabelled)
    with pytest.raises(ValueError, match="replicates"):
        paired_bootstrap("shapes", a, a, replicates=0)


def test_shapes_rule_reports_the_mean_of_task_accuracies():
    rows = _shapes_rows({"image_gen": [True, True, False, True], "video_gen": [True, False]})
    m = compute_metrics(SimpleNamespace(metric="shapes", info={}), rows)
    assert m["mean/pair_without_ties"]["value"] == pytest.approx((0.75 + 0.5) / 2)
    assert "mean/pair_without_ties" not in compute_metrics(
        SimpleNamespace(metric="shapes", info={}), _shapes_rows({"image_gen": [True]})
    )
