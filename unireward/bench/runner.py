"""Run a reward benchmark: judge a suite, keep every prediction as it comes, resume, and summarise.

    suite = load_suite("genai-bench-image", "data/GenAI-Bench")
    summary = run_bench("CodeGoat24/UnifiedReward-qwen-7b", suite, "runs/genai-image", BenchConfig(swap=True))

Why it is built this way: published numbers differ between scripts mostly in bookkeeping (how ties, swaps and
unparsable answers are counted, and which items a resumed run silently skipped). So every item gets one line
in `predictions.jsonl` (raw text, probabilities, failure, presentation order), written and flushed chunk by
chunk; a rerun skips the ids already there and redoes a line cut off mid-write; the summary is computed from
that file alone with `unireward.bench.metrics`, and states each metric's rule in words next to its value.

Score difference of a pair (used by tie calibration and tie thresholds): d = P(A) - P(B) of the verdict; for
2.0 pair scores without probabilities, the mean over dimensions of score(A) - score(B); else +1 / -1 / 0 from
the verdict (A / B / tie). A failure has no difference and counts as wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from unireward.bench import metrics as M
from unireward.bench.loaders import BenchItem, BenchSuite, load_shapes
from unireward.media import FramePolicy
from unireward.tasks import Score, Verdict

PREDICTIONS = "predictions.jsonl"
SUMMARY = "summary.json"
RUN = "run.json"
CALIBRATION_BINS = 10


@dataclass
class BenchConfig:
    """How a benchmark run judges. `decision` None uses the judge's own; `limit` judges the first N items
    (a later run without it resumes); `randomize_order` presents a seeded half of the pairs as (B, A) and
    maps verdicts back, recording which; `chunk_size` items are judged and flushed at a time."""

    decision: str | None = None
    swap: bool | None = None  # None: the judge's own setting (a model may record it), else as given
    limit: int | None = None
    randomize_order: bool = False
    seed: int = 0
    chunk_size: int = 32
    plot: bool = False
    progress: bool = True
    echo: bool = True

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1 (or None for every item)")


# ------------------------------------------------------------------------------------------------ judging
def _chunks(items: Sequence[BenchItem], size: int) -> Iterator[list[BenchItem]]:
    for k in range(0, len(items), size):
        yield list(items[k : k + size])


def pair_diff(
    winner: str | None, probs: Mapping[str, float] | None, scores: Mapping[str, Sequence[float]] | None
) -> float | None:
    """score(A) - score(B) of one verdict, by the rule in the module docstring."""
    if winner is None:
        return None
    if probs:
        return float(probs["A"]) - float(probs["B"])
    if scores:
        return sum(float(a) - float(b) for a, b in scores.values()) / len(scores)
    return {"A": 1.0, "B": -1.0, "tie": 0.0}[winner]


def _pair_row(bi: BenchItem, v: Verdict, swapped: bool) -> dict[str, Any]:
    winner, probs, scores = v.winner, v.probs, v.scores
    if swapped:  # presented as (B, A): map back to the stored order
        winner = M.swap_outcome(winner)
        probs = {"A": probs["B"], "B": probs["A"], "tie": probs.get("tie", 0.0)} if probs else probs
        scores = {k: (b, a) for k, (a, b) in scores.items()} if scores else scores
    return {
        "id": bi.id,
        "mode": "pair",
        "task": bi.item.task.value,
        "category": bi.category,
        "label": bi.label,
        "labels": bi.labels or None,
        "winner": winner,
        "correct": winner is not None and winner == bi.label,
        "probs": probs,
        "diff": pair_diff(winner, probs, scores),
        "scores": scores,
        "presented": "BA" if swapped else "AB",
        "swap_consistent": v.swap_consistent,
        "raw_text": v.raw_text,  # as the model saw the pair (see `presented`)
        "failure": dataclasses.asdict(v.failure) if v.failure else None,
        "meta": bi.meta or None,
    }


def _point_row(bi: BenchItem, s: Score) -> dict[str, Any]:
    return {
        "id": bi.id,
        "mode": "point",
        "task": bi.item.task.value,
        "category": bi.category,
        "label": bi.label,
        "score": s.value,
        "scale": list(s.scale) if s.scale else None,
        "dimensions": s.dimensions or None,
        "probs": s.probs,
        "raw_text": s.raw_text,
        "failure": dataclasses.asdict(s.failure) if s.failure else None,
        "meta": bi.meta or None,
    }


def predict(
    judge: Any, items: Sequence[BenchItem], *, decision: str | None, swap: bool, order: Mapping[str, bool]
) -> list[dict[str, Any]]:
    """Prediction rows for `items`, in their order. `order[id]` True presents that pair as (B, A); `decision`
    None leaves it to the judge's config (its `point_decision` for points)."""
    pairs = [bi for bi in items if bi.mode == "pair"]
    points = [bi for bi in items if bi.mode == "point"]
    rows: dict[str, dict] = {}
    if pairs:
        shown = [bi.item.swapped() if order.get(bi.id) else bi.item for bi in pairs]
        verdicts = judge.rank(shown, decision=decision, swap=swap)
        for bi, v in zip(pairs, verdicts):
            rows[bi.id] = _pair_row(bi, v, bool(order.get(bi.id)))
    if points:
        for bi, s in zip(points, judge.score([bi.item for bi in points], decision=decision)):
            rows[bi.id] = _point_row(bi, s)
    return [rows[bi.id] for bi in items]


# ------------------------------------------------------------------------------------------------ metrics
def _entry(result: Any, rule: str, kind: str = "accuracy") -> dict[str, Any]:
    return {"value": result.accuracy, "kind": kind, **result.to_dict(), "rule": rule}


def _undefined(rule: str, note: str, kind: str = "accuracy") -> dict[str, Any]:
    return {"value": None, "kind": kind, "note": note, "rule": rule}


def _pairs(rows: Sequence[dict]) -> list[dict]:
    return [r for r in rows if r["mode"] == "pair"]


_WITH_TIES = "correct when the verdict equals the label, ties included; failures count as wrong"
_WITHOUT_TIES = "human ties left out; correct when the verdict names the better side; failures count as wrong"
_CALIBRATED = (
    "tie calibration (Deutsch et al. 2023): the model ties when |P(A) - P(B)| <= eps, eps chosen on these "
    "items to maximise (C + T_hm) / n and reported (optimistic); failures count as wrong"
)
_DIFF_NO_TIES = (
    "human ties left out; decision from P(A) - P(B) at the stated eps; accuracy = C / (C + D + T_m)"
)


def _group_accuracy(info: Mapping[str, Any], rows: Sequence[dict]) -> dict[str, dict]:
    pr = _pairs(rows)
    g = M.group_accuracy([r["label"] for r in pr], [r["winner"] for r in pr], [r["category"] for r in pr])
    out = {
        "macro": {
            "value": g.macro,
            "kind": "accuracy",
            "n": g.overall.n,
            "failures": g.failures,
            "groups": [str(k) for k in g.per_group],
            "rule": "unweighted mean of the group accuracies below",
        },
        "overall": _entry(g.overall, "all items pooled (micro); " + _WITH_TIES),
    }
    for name, r in g.per_group.items():
        out[f"group/{name}"] = _entry(r, f"the {name} items; " + _WITH_TIES)
    return out


def _tau_diff(info: Mapping[str, Any], rows: Sequence[dict]) -> dict[str, dict]:
    pr = _pairs(rows)
    labels, preds = [r["label"] for r in pr], [r["winner"] for r in pr]
    out = {"tau": _entry(M.accuracy_with_ties(labels, preds), "tau: every pair; " + _WITH_TIES)}
    try:
        out["diff"] = _entry(M.accuracy_without_ties(labels, preds), "diff: " + _WITHOUT_TIES)
    except ValueError as e:
        out["diff"] = _undefined("diff: " + _WITHOUT_TIES, str(e))
    return out


def _tie_calibrated(info: Mapping[str, Any], rows: Sequence[dict]) -> dict[str, dict]:
    pr = _pairs(rows)
    dims = list(pr[0]["labels"] or {"label": None}) if pr else []
    out: dict[str, dict] = {}
    for dim in dims:
        sel = [(r["labels"][dim] if r["labels"] else r["label"], r["diff"]) for r in pr]
        sel = [(lab, d) for lab, d in sel if lab is not None]
        if not sel:
            continue
        labels, diffs = [s[0] for s in sel], [s[1] for s in sel]
        out[f"{dim}/with_ties"] = _entry(M.tie_calibrated_accuracy(labels, diffs), f"{dim}: " + _CALIBRATED)
        try:
            wo = M.accuracy_without_ties_from_diffs(labels, diffs)
            out[f"{dim}/without_ties"] = _entry(wo, f"{dim}: " + _DIFF_NO_TIES)
        except ValueError as e:
            out[f"{dim}/without_ties"] = _undefined(f"{dim}: " + _DIFF_NO_TIES, str(e))
    return out


def _tie_threshold(info: Mapping[str, Any], rows: Sequence[dict]) -> dict[str, dict]:
    pr = _pairs(rows)
    eps = float(info.get("tie_epsilon", 0.0))
    rule = f"the model ties when |P(A) - P(B)| <= eps = {eps:g}; correct when that decision equals the label"
    labels, diffs = [r["label"] for r in pr], [r["diff"] for r in pr]
    out = {"with_ties": _entry(M.tie_threshold_accuracy(labels, diffs, eps), rule + "; failures count wrong")}
    try:
        out["without_ties"] = _entry(M.accuracy_without_ties_from_diffs(labels, diffs, eps), _DIFF_NO_TIES)
    except ValueError as e:
        out["without_ties"] = _undefined(_DIFF_NO_TIES, str(e))
    for cat in dict.fromkeys(r["category"] for r in pr):
        sub = [r for r in pr if r["category"] == cat]
        res = M.tie_threshold_accuracy([r["label"] for r in sub], [r["diff"] for r in sub], eps)
        out[f"category/{cat}"] = _entry(res, f"the {cat} items; " + rule)
    return out


def _spearman(truth: Sequence[float], scores: Sequence[float | None]) -> dict[str, Any]:
    rule = "Spearman rank correlation of the judge's point scores with the oracle scores; failures left out"
    ok = [(t, s) for t, s in zip(truth, scores) if s is not None]
    failures = len(scores) - len(ok)
    if len(ok) < 2 or len({t for t, _ in ok}) < 2 or len({s for _, s in ok}) < 2:
        note = "undefined: fewer than two scored items, or a constant side"
        return {**_undefined(rule, note, "correlation"), "n": len(ok), "failures": failures}
    from scipy.stats import spearmanr

    res = spearmanr([t for t, _ in ok], [s for _, s in ok])
    rho, p = float(res.statistic), float(res.pvalue)
    return {
        "value": rho,
        "kind": "correlation",
        "n": len(ok),
        "failures": failures,
        "p_value": p,
        "rule": rule,
    }


def _shapes(info: Mapping[str, Any], rows: Sequence[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        pr = [r for r in rows if r["task"] == task and r["mode"] == "pair"]
        pt = [r for r in rows if r["task"] == task and r["mode"] == "point"]
        if pr:
            labels = [r["label"] for r in pr]
            try:
                res = M.accuracy_without_ties(labels, [r["winner"] for r in pr])
                out[f"{task}/pair_without_ties"] = _entry(res, _WITHOUT_TIES)
            except ValueError as e:
                out[f"{task}/pair_without_ties"] = _undefined(_WITHOUT_TIES, str(e))
            res = M.tie_calibrated_accuracy(labels, [r["diff"] for r in pr])
            out[f"{task}/pair_with_ties"] = _entry(res, _CALIBRATED)
        if pt:
            out[f"{task}/point_spearman"] = _spearman([r["label"] for r in pt], [r["score"] for r in pt])
    accs = [e["value"] for k, e in out.items() if k.endswith("/pair_without_ties")]
    if len(accs) > 1 and None not in accs:
        out["mean/pair_without_ties"] = {
            "value": sum(accs) / len(accs),
            "kind": "accuracy",
            "tasks": len(accs),
            "rule": "unweighted mean of the tasks' pair accuracies without ties above",
        }
    return out


_RULES = {
    "group_accuracy": _group_accuracy,
    "tau_diff": _tau_diff,
    "tie_calibrated": _tie_calibrated,
    "tie_threshold": _tie_threshold,
    "shapes": _shapes,
}


def compute_metrics(suite: BenchSuite, rows: Sequence[dict]) -> dict[str, dict]:
    """Every metric of the suite's rule, each as {"value", "kind", counts..., "rule": words}."""
    return _RULES[suite.metric](suite.info, rows)


def paired_bootstrap(
    metric_rule: str,
    rows_a: Sequence[dict],
    rows_b: Sequence[dict],
    *,
    info: Mapping[str, Any] | None = None,
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict]:
    """B - A for every metric of `metric_rule`, with a percentile interval from a paired bootstrap.

    Why paired: two judges scored on the same items share most of their sampling noise (the hard items are
    hard for both), so the interval of their difference is much narrower than two separate intervals
    suggest. Each replicate redraws the items with replacement, within each (task, mode) so every task keeps
    its size, and scores both runs on the very same draw. The runs must hold the same item ids with the same
    labels. Returns {metric: {"a", "b", "delta", "low", "high", "replicates"}}; "low"/"high" are None when
    the metric is undefined in too many replicates to give an interval."""
    if replicates < 1 or not 0 < level < 1:
        raise ValueError("replicates must be at least 1 and level inside (0, 1)")
    rule, info = _RULES[metric_rule], info or {}
    a, b = {str(r["id"]): r for r in rows_a}, {str(r["id"]): r for r in rows_b}
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b))[:3], sorted(set(b) - set(a))[:3]
        raise ValueError(
            f"a paired comparison needs the same items in both runs; ids only in A: {only_a}, only in B: "
            f"{only_b}. Judge both models on the same suite (same --n and --seed for shapes)."
        )
    differ = [i for i in a if json.dumps(a[i]["label"]) != json.dumps(b[i]["label"])]
    if differ:
        raise ValueError(f"the two runs give different labels to the same items (e.g. {differ[:3]})")
    strata: dict[tuple, list[str]] = {}
    for i, r in a.items():
        strata.setdefault((r.get("task"), r.get("mode")), []).append(i)
    full_a, full_b = rule(info, list(a.values())), rule(info, [b[i] for i in a])
    rng = np.random.default_rng(seed)
    deltas: dict[str, list[float]] = {name: [] for name in full_a}
    for _ in range(replicates):
        draw = [i for ids in strata.values() for i in (ids[k] for k in rng.integers(0, len(ids), len(ids)))]
        ma, mb = rule(info, [a[i] for i in draw]), rule(info, [b[i] for i in draw])
        for name, values in deltas.items():
            va, vb = ma.get(name, {}).get("value"), mb.get(name, {}).get("value")
            if va is not None and vb is not None and not (math.isnan(va) or math.isnan(vb)):
                values.append(vb - va)
    out = {}
    for name, values in deltas.items():
        va, vb = full_a[name].get("value"), full_b.get(name, {}).get("value")
        enough = len(values) >= 0.9 * replicates
        lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2]) if enough else (None, None)
        out[name] = {
            "a": va,
            "b": vb,
            "delta": None if va is None or vb is None else vb - va,
            "low": None if lo is None else float(lo),
            "high": None if hi is None else float(hi),
            "level": level,
            "replicates": len(values),
        }
    return out


def calibration(rows: Sequence[dict], bins: int = CALIBRATION_BINS) -> dict[str, Any] | None:
    """Verdict probability P(winner) in equal-width bins against how often that verdict was right."""
    pts = [
        (r["probs"][r["winner"]], r["winner"] == r["label"])
        for r in _pairs(rows)
        if r["probs"] and r["winner"]
    ]
    if not pts:
        return None
    table = []
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        sel = [(p, c) for p, c in pts if lo <= p < hi or (k == bins - 1 and p == hi)]
        if sel:
            conf = sum(p for p, _ in sel) / len(sel)
            acc = sum(c for _, c in sel) / len(sel)
            table.append({"lo": lo, "hi": hi, "n": len(sel), "confidence": conf, "accuracy": acc})
    ece = sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in table) / len(pts)
    return {
        "n": len(pts),
        "ece": ece,
        "bins": table,
        "rule": f"pairs with verdict probabilities, binned by P(winner) into {bins} equal bins; accuracy = "
        "share of verdicts equal to the label; ece = sum over bins of n_bin / n * |accuracy - confidence|",
    }


def per_category(rows: Sequence[dict]) -> dict[str, dict]:
    pr = _pairs(rows)
    out = {}
    for cat in dict.fromkeys(r["category"] for r in pr):
        sub = [r for r in pr if r["category"] == cat]
        out[str(cat)] = M.accuracy_with_ties([r["label"] for r in sub], [r["winner"] for r in sub]).to_dict()
    return out


def summarize(suite: BenchSuite, rows: Sequence[dict], run: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a finished run: provenance, counts, failures, every metric with its rule."""
    kinds = Counter(r["failure"]["kind"] for r in rows if r["failure"])
    outcomes = [r["winner"] if r["mode"] == "pair" else r["score"] for r in rows]
    failures = M.parse_failure_rate(outcomes)
    return {
        "suite": suite.name,
        "source": suite.source,
        "metric_rule": suite.metric,
        "rule": suite.rule,
        **{k: run[k] for k in ("model", "protocol", "decision", "swap")},
        "frame_policy": run["frame_policy"],
        "suite_frame_policy": suite.frame_policy.to_dict() if suite.frame_policy else None,
        "order": {
            "randomized": run["randomize_order"],
            "seed": run["seed"],
            "presented_swapped": sum(r.get("presented") == "BA" for r in rows),
            "rule": "metrics.randomize_order(len(suite), seed): a seeded, balanced half of the pairs shown "
            "as (B, A); verdicts mapped back to the stored order before scoring",
        },
        "counts": {
            "suite_items": len(suite.items),
            "evaluated": len(rows),
            "pairs": len(_pairs(rows)),
            "points": len(rows) - len(_pairs(rows)),
        },
        "failures": {
            **failures.to_dict(),
            "by_kind": dict(kinds),
            "rule": "items without a verdict or score (kinds: parse, media, error); each counted wrong",
        },
        "parse_failure_rate": kinds.get("parse", 0) / len(rows),
        "metrics": compute_metrics(suite, rows),
        "per_category": per_category(rows),
        "per_category_rule": "pairs per category: " + _WITH_TIES,
        "calibration": calibration(rows),
        "suite_info": suite.info,
        "unireward_version": _version(),
    }


# -------------------------------------------------------------------------------------------------- files
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("unireward")
    except PackageNotFoundError:
        return "unknown"


def read_predictions(path: Path) -> dict[str, dict]:
    """Rows by id. A last line cut off mid-write is removed from the file (so it is judged again); an
    unreadable line anywhere else means the file is corrupt, which raises rather than skipping items."""
    if not path.exists():
        return {}
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    rows: dict[str, dict] = {}
    keep = 0  # characters of `text` that hold whole, valid lines
    for k, line in enumerate(lines):
        last = k == len(lines) - 1 or all(not x.strip() for x in lines[k + 1 :])
        if line.strip():
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "id" not in row:
                    raise ValueError("not a prediction row")
            except ValueError:
                if last:
                    break
                raise ValueError(
                    f"{path} line {k + 1} is not a valid prediction row; the file is corrupt"
                ) from None
            rows[str(row["id"])] = row
        keep += len(line) + 1
    good = text[: min(keep, len(text))]
    if good and not good.endswith("\n"):
        good += "\n"  # a complete last row that lost only its newline
    if good != text:
        path.write_text(good)
    return rows


def _run_record(suite: BenchSuite, judge: Any, cfg: BenchConfig, decision: str) -> dict[str, Any]:
    """What must match for a resumed run to continue this one."""
    model = {
        k: v for k, v in judge.describe().items() if k not in ("decision", "swap", "frame_policy", "protocol")
    }
    record = {
        "suite": suite.name,
        "fingerprint": suite.fingerprint(),
        "model": model,
        "protocol": judge.protocol.name,
        "decision": decision,
        "swap": cfg.swap,
        "randomize_order": cfg.randomize_order,
        "seed": cfg.seed if cfg.randomize_order else None,
        "frame_policy": judge.frame_policy.to_dict(),
    }
    return json.loads(json.dumps(record, default=str))


def _check_run(path: Path, record: dict[str, Any]) -> None:
    if path.exists():
        old = json.loads(path.read_text())
        if old != record:
            diff = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
            raise RuntimeError(
                f"{path.parent} holds a run with other settings ({', '.join(diff)}); resuming would mix "
                "them. Use another --out directory, or delete this one to start over."
            )
    else:
        path.write_text(json.dumps(record, indent=2) + "\n")


def _policy_key(fp: FramePolicy) -> dict:
    return {k: v for k, v in fp.to_dict().items() if k != "multiple_of"}


def run_bench(
    judge_or_model: Any, suite: BenchSuite, out_dir: str | Path, config: BenchConfig | None = None
) -> dict[str, Any]:
    """Judge `suite` into `out_dir` (predictions.jsonl, run.json, summary.json, optional PNGs), resuming
    from what is already there; returns the summary. A model path or hub id is loaded with the suite's
    frame policy."""
    from unireward.judge import Judge, load_judge

    cfg = config or BenchConfig()
    if isinstance(judge_or_model, Judge):
        judge = judge_or_model
    else:
        kw = {"decision": cfg.decision} if cfg.decision else {}
        judge = load_judge(judge_or_model, frame_policy=suite.frame_policy or FramePolicy(), **kw)
    decision = cfg.decision or judge.config.decision
    cfg = dataclasses.replace(cfg, swap=judge.config.swap if cfg.swap is None else cfg.swap)
    if suite.frame_policy and _policy_key(judge.frame_policy) != _policy_key(suite.frame_policy):
        warnings.warn(
            f"the judge samples video frames as {_policy_key(judge.frame_policy)}, the {suite.name} suite "
            f"states {_policy_key(suite.frame_policy)}; the judge's policy is used and both are recorded",
            stacklevel=2,
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = _run_record(suite, judge, cfg, decision)
    _check_run(out / RUN, record)

    items = suite.items[: cfg.limit] if cfg.limit else suite.items
    plan = (
        M.randomize_order(len(suite.items), cfg.seed) if cfg.randomize_order else [False] * len(suite.items)
    )
    order = {bi.id: s for bi, s in zip(suite.items, plan) if bi.mode == "pair"}
    pred_path = out / PREDICTIONS
    done = read_predictions(pred_path)
    pending = [bi for bi in items if bi.id not in done]
    with (
        pred_path.open("a") as fh,
        tqdm(
            total=len(items),
            initial=len(items) - len(pending),
            desc=f"bench {suite.name}",
            unit="item",
            disable=not cfg.progress,
        ) as bar,
    ):
        for chunk in _chunks(pending, cfg.chunk_size):
            for row in predict(judge, chunk, decision=cfg.decision, swap=cfg.swap, order=order):
                fh.write(json.dumps(row, default=str) + "\n")
            fh.flush()
            bar.update(len(chunk))

    by_id = read_predictions(pred_path)
    rows = [by_id[bi.id] for bi in items]
    summary = summarize(suite, rows, record)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if cfg.plot:
        summary["plots"] = [str(p) for p in plot_summary(summary, out)]
        (out / SUMMARY).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if cfg.echo:
        print(format_table(summary))
    return summary


def shapes_report(judge: Any, n_per_task: int = 50, seed: int = 0, **options: Any) -> dict[str, dict]:
    """The shapes-world metrics of `judge` (test split, n pairs and n points per task, world `seed`;
    `options` as `shapes_predictions`: chunk_size, tasks, split).

    `unireward bench --suite shapes` and `benchmarks/shapes_accuracy.py` both come down to the same suite,
    the same chunks, the same rows and `compute_metrics`, so their numbers agree by construction.
    The judge's own config decides how (`decision`, `point_decision`, and `swap`: each pair also judged as
    (b, a))."""
    return compute_metrics(*shapes_predictions(judge, n_per_task, seed, **options))


def shapes_predictions(
    judge: Any,
    n_per_task: int = 50,
    seed: int = 0,
    *,
    chunk_size: int = 32,
    tasks: Sequence[str] | None = None,
    split: str = "test",
) -> tuple[BenchSuite, list[dict]]:
    """The shapes suite and the judge's prediction rows on it (the rows `predictions.jsonl` holds), so a
    caller can keep them and compare two judges item by item (`paired_bootstrap`)."""
    suite = load_shapes(n_per_task, seed, tasks, split)
    rows: list[dict] = []
    for chunk in _chunks(suite.items, chunk_size):
        rows += predict(judge, chunk, decision=None, swap=judge.config.swap, order={})
    return suite, rows


# ------------------------------------------------------------------------------------------------- output
def _fmt(entry: Mapping[str, Any]) -> str:
    v = entry.get("value")
    if v is None:
        return "n/a"
    return f"{100 * v:.2f}%" if entry.get("kind", "accuracy") == "accuracy" else f"{v:.4f}"


def _note(entry: Mapping[str, Any]) -> str:
    notes = []
    if "epsilon" in entry:
        notes.append(f"eps={entry['epsilon']:.4g}")
    if entry.get("excluded"):
        notes.append(f"{entry['excluded']} ties excluded")
    if entry.get("note"):
        notes.append(entry["note"])
    return ", ".join(notes)


def format_table(summary: Mapping[str, Any]) -> str:
    """A plain-text table of a summary's metrics."""
    f, counts, cal = summary["failures"], summary["counts"], summary.get("calibration")
    swap = "yes" if summary["swap"] else "no"
    order = "randomized" if summary["order"]["randomized"] else "as stored"
    lines = [
        f"suite {summary['suite']}  model {summary['model'].get('model', '?')}  "
        f"protocol {summary['protocol']}  decision {summary['decision']}  swap {swap}  order {order}",
        f"items {counts['evaluated']}/{counts['suite_items']}  failures {f['failures']} "
        f"({100 * f['rate']:.1f}%) {f['by_kind'] or ''}".rstrip(),
        f"{'metric':<28} {'value':>9} {'n':>6} {'fail':>5}  note",
    ]
    for name, e in summary["metrics"].items():
        lines.append(
            f"{name:<28} {_fmt(e):>9} {e.get('n', ''):>6} {e.get('failures', ''):>5}  {_note(e)}".rstrip()
        )
    if cal:
        lines.append(f"calibration: ece {cal['ece']:.4f} over {cal['n']} verdicts")
    return "\n".join(lines)


def _load_summary(x: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(x, Mapping):
        return x
    p = Path(x)
    if p.is_dir():
        p = p / SUMMARY
    return json.loads(p.read_text())


def _predictions_beside(x: str | Path | Mapping[str, Any]) -> Path | None:
    if isinstance(x, Mapping):
        return None
    p = Path(x)
    p = (p if p.is_dir() else p.parent) / PREDICTIONS
    return p if p.exists() else None


def _signed(v: float, pct: bool) -> str:
    """A difference as compare_runs prints it: points for accuracies, four decimals otherwise."""
    return f"{100 * v:+.2f}" if pct else f"{v:+.4f}"


def compare_runs(
    a: str | Path | Mapping[str, Any], b: str | Path | Mapping[str, Any], *, replicates: int = 1000
) -> str:
    """Two runs side by side (summary.json paths, run directories or summaries): each metric, and B - A.
    When both runs keep their predictions.jsonl and judged the same items, B - A also gets a 95% interval
    from a paired bootstrap (`paired_bootstrap`, `replicates` draws; 0 for none)."""
    sa, sb = _load_summary(a), _load_summary(b)
    head = []
    for tag, s in (("A", sa), ("B", sb)):
        head.append(
            f"{tag}: {s['suite']}  model {s['model'].get('model', '?')}  protocol {s['protocol']}  decision "
            f"{s['decision']}  swap {'yes' if s['swap'] else 'no'}  items {s['counts']['evaluated']}"
        )
    if sa["suite"] != sb["suite"] or sa["counts"]["evaluated"] != sb["counts"]["evaluated"]:
        head.append("WARNING: different suites or item counts; the numbers are not comparable")
    for key in ("decision", "swap", "protocol"):
        if sa[key] != sb[key]:
            head.append(f"note: {key} differs ({sa[key]} vs {sb[key]})")
    paired: dict[str, dict] = {}
    pa, pb = _predictions_beside(a), _predictions_beside(b)
    if replicates and pa and pb and sa["suite"] == sb["suite"]:
        try:
            paired = paired_bootstrap(
                sa["metric_rule"],
                list(read_predictions(pa).values()),
                list(read_predictions(pb).values()),
                info=sa.get("suite_info"),
                replicates=replicates,
            )
            head.append(f"interval: 95% paired bootstrap of B - A over the shared items, {replicates} draws")
        except ValueError as e:
            head.append(f"no interval: {e}")
    lines = [*head, f"{'metric':<28} {'A':>9} {'B':>9} {'B - A':>9}" + ("  95% interval" if paired else "")]
    names = list(dict.fromkeys([*sa["metrics"], *sb["metrics"]]))
    for name in names:
        ea, eb = sa["metrics"].get(name, {}), sb["metrics"].get(name, {})
        va, vb = ea.get("value"), eb.get("value")
        pct = (ea or eb).get("kind", "accuracy") == "accuracy"
        delta = "" if va is None or vb is None else _signed(vb - va, pct)
        ci = paired.get(name, {})
        interval = (
            f"  [{_signed(ci['low'], pct)}, {_signed(ci['high'], pct)}]" if ci.get("low") is not None else ""
        )
        lines.append(
            f"{name:<28} {_fmt(ea) if ea else '-':>9} {_fmt(eb) if eb else '-':>9} {delta:>9}{interval}"
        )
    fa, fb = sa["failures"], sb["failures"]
    lines.append(
        f"{'failure rate':<28} {100 * fa['rate']:>8.2f}% {100 * fb['rate']:>8.2f}% "
        f"{100 * (fb['rate'] - fa['rate']):>+9.2f}"
    )
    return "\n".join(lines)


def plot_summary(summary: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """accuracy_by_category.png and, when verdicts carry probabilities, calibration.png (Agg, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out, written = Path(out_dir), []
    cats = summary["per_category"]
    if cats:
        fig = Figure(figsize=(max(4.0, 0.9 * len(cats) + 2), 3.5))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        names = list(cats)
        ax.bar(range(len(names)), [100 * cats[c]["accuracy"] for c in names], color="tab:blue")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{summary['suite']}: accuracy per category")
        fig.tight_layout()
        written.append(out / "accuracy_by_category.png")
        fig.savefig(written[-1], dpi=100)
    cal = summary.get("calibration")
    if cal:
        fig = Figure(figsize=(4, 4))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
        ax.plot(
            [b["confidence"] for b in cal["bins"]], [b["accuracy"] for b in cal["bins"]], "o-", label="judge"
        )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("verdict probability P(winner)")
        ax.set_ylabel("observed accuracy")
        ax.set_title(f"calibration (ece {cal['ece']:.3f}, n {cal['n']})")
        ax.legend(loc="upper left")
        fig.tight_layout()
        written.append(out / "calibration.png")
        fig.savefig(written[-1], dpi=100)
    return written


__all__ = [
    "BenchConfig",
    "calibration",
    "compare_runs",
    "compute_metrics",
    "format_table",
    "pair_diff",
    "plot_summary",
    "paired_bootstrap",
    "predict",
    "read_predictions",
    "run_bench",
    "shapes_predictions",
    "shapes_report",
    "summarize",
]
