"""An HTML report of a pairs run, for a person to check what a run chose and why.

    write_report("runs/pairs")  # -> runs/pairs/report.html

One self-contained file: inline CSS, thumbnails as base64 PNG (videos as animated GIFs of a few frames),
histograms as inline SVG, no scripts and no external URLs (a Content-Security-Policy forbids both), so it
opens offline and can be attached anywhere. The header covers every recorded prompt; the per-prompt part
shows the first `max_prompts` (in prompt order) and says how many it leaves out.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

from PIL import Image

from unireward.media import FramePolicy, load_image, load_video
from unireward.pairs.runner import read_log

VIDEO_FRAMES = 6  # frames in a video's animated thumbnail
GIF_FRAME_MS = 250
GIF_COLOURS = 128  # per frame; fewer than 256 keeps noisy clips small
ANSWER_CHARS = 2000  # longer answer texts are cut (the records keep them whole)

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:20px 0 6px}
table.settings td{padding:1px 10px 1px 0;vertical-align:top}table.settings td:first-child{color:#666}
code{font-size:12px;word-break:break-all}
.counts span{display:inline-block;margin:0 14px 4px 0}.counts b{font-size:16px}
.hists{display:flex;flex-wrap:wrap;gap:24px}
svg.hist{background:#fafafa;border:1px solid #ddd}svg.hist .bar{fill:#4a7bd0}
svg.hist text{font:11px system-ui,sans-serif;fill:#444}
.note{color:#666;font-style:italic}
section.prompt{border-top:1px solid #ccc;padding:10px 0}
section.prompt h3{font-size:13px;margin:0;color:#555;font-weight:normal}
.ptext{font-size:15px;margin:4px 0;white-space:pre-wrap}
.status{margin:4px 0}.kept{color:#1e7a34;font-weight:bold}.dropped{color:#a15c00;font-weight:bold}
.cands{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
figure.cand{margin:0;padding:3px;border:4px solid #e4e4e4;border-radius:4px;background:#fff}
figure.cand.chosen{border-color:#1fa33a;background:#e8f7eb}
figure.cand.rejected{border-color:#d62828;background:#fcebeb}
figure.cand figcaption{font-size:12px;text-align:center;line-height:1.3}
img.thumb{display:block;margin:0 auto}img.media{display:block;margin:4px 0}
.answer{width:220px;max-height:9em;overflow:auto;font-size:12px;white-space:pre-wrap}
.missing{font-size:11px;color:#a00;word-break:break-all}
.mark{font-weight:bold;padding:0 4px;border-radius:3px;color:#fff}
.mark.chosen{background:#1fa33a}.mark.rejected{background:#d62828}
table.verdicts{border-collapse:collapse;font-size:12px;margin-top:4px}
table.verdicts td,table.verdicts th{border:1px solid #ddd;padding:1px 6px;text-align:left}
tr.failed td{background:#fff4e0}
pre.raw{margin:2px 0;max-height:8em;overflow:auto;white-space:pre-wrap;font-size:11px;background:#f4f4f4}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def read_records(run_dir: str | Path) -> list[dict]:
    """Every shard's complete records, each prompt once, in prompt order."""
    by_id: dict[str, dict] = {}
    for path in sorted(Path(run_dir).glob("records-*-of-*.jsonl")):
        for r in read_log(path, repair=False):
            by_id.setdefault(r["id"], r)
    return sorted(by_id.values(), key=lambda r: r["index"])


def write_report(
    run_dir: str | Path,
    out_html: str | Path | None = None,
    *,
    max_prompts: int | None = None,
    thumb_size: int = 96,
) -> Path:
    """Write the run's report (default `<run_dir>/report.html`) and return its path. `max_prompts` caps the
    prompts shown one by one (None: all); thumbnails fit in `thumb_size` pixels."""
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{run_dir} holds no pairs run (no run.json)")
    run = json.loads(info_path.read_text())
    records = read_records(run_dir)
    shown = records if max_prompts is None else records[: max(0, max_prompts)]
    out = Path(out_html) if out_html is not None else run_dir / "report.html"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>Pairs report: {escape(run_dir.name)}</title><style>{CSS}</style></head><body>",
        _header(run_dir, run, records),
        _histograms(records),
        f"<h2>Prompts ({len(shown)} shown)</h2>",
    ]
    if len(shown) < len(records):
        parts.append(
            f'<p class="note omitted">Showing the first {len(shown)} of {len(records)} prompts; '
            f"{len(records) - len(shown)} omitted (counts and histograms above cover all).</p>"
        )
    parts += [_prompt(r, run_dir, thumb_size) for r in shown]
    parts.append("</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(out)
    return out


# ------------------------------------------------------------------------------------------ header


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3g}" if math.isfinite(x) else str(x)
    return str(x)


def _json(x: Any) -> str:
    return escape(json.dumps(x, sort_keys=True, ensure_ascii=False))


def _failure_kinds(records: list[dict]) -> Counter:
    return Counter(
        item["failure"]["kind"]
        for r in records
        for item in (*r["verdicts"], *r["scores"])
        if item.get("failure")
    )


def _header(run_dir: Path, run: dict, records: list[dict]) -> str:
    opts = ", ".join(f"{k}={v}" for k, v in sorted(run.get("strategy_options", {}).items()))
    rows = [
        ("Input", escape(str(run.get("input")))),
        ("Task", escape(str(run.get("task") or ", ".join(sorted({r["task"] for r in records})) or "-"))),
        ("Strategy", f"<b>{escape(str(run.get('strategy')))}</b> ({escape(opts)})"),
        ("Reward model", f"<code>{_json(run.get('reward_model'))}</code>"),
        ("Frame policy", f"<code>{_json(run.get('frame_policy'))}</code>"),
        ("Swap", escape(str(run.get("swap")))),
        ("Sampler", f"<code>{_json(run.get('sampler'))}</code>"),
        ("Shards", escape(str(run.get("num_shards")))),
    ]
    dropped = Counter(r["dropped"] for r in records if r["dropped"])
    kinds = _failure_kinds(records)
    total = run.get("num_prompts", len(records))

    def count(cls: str, label: str, value: Any, extra: str = "") -> str:
        return f'<span class="{cls}">{label} <b>{escape(_fmt(value))}</b>{extra}</span>'

    why = ", ".join(f"{escape(k)} {v}" for k, v in sorted(dropped.items()))
    kind_text = ", ".join(f"{escape(k)} {v}" for k, v in sorted(kinds.items()))
    counts = [
        count("n-prompts", "prompts", len(records), "" if total == len(records) else f" of {total} recorded"),
        count("n-pairs", "pairs", sum(len(r["pairs"]) for r in records)),
        count("n-dropped", "dropped prompts", sum(dropped.values()), f" ({why})" if why else ""),
        count("n-ties", "ties", sum(r["ties"] for r in records)),
        count("n-parse", "parse failures", kinds.get("parse", 0)),
        count(
            "n-failures",
            "all failures",
            sum(r["failures"] for r in records),
            f" ({kind_text})" if kinds else "",
        ),
        count("n-calls", "reward calls", sum(r["calls"] for r in records)),
    ]
    table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return (
        f"<h1>Pairs run: {escape(str(run_dir.resolve()))}</h1>"
        f'<table class="settings">{table}</table><p class="counts">{"".join(counts)}</p>'
    )


# ------------------------------------------------------------------------------------------ histograms


def _bins(
    values: list[float], span: tuple[float, float] | None = None, max_bins: int = 12
) -> list[tuple[str, int]]:
    """(label, count) per bar on a numeric axis over `span` widened to the values: one bar per integer for
    integer values (scores on an integer scale) spanning at most 2 * max_bins, else max_bins equal-width
    bins."""
    lo, hi = min(values), max(values)
    if span is not None:
        lo, hi = min(lo, span[0]), max(hi, span[1])
    if all(float(v).is_integer() for v in values) and hi - lo < 2 * max_bins:
        c = Counter(int(v) for v in values)
        return [(str(k), c[k]) for k in range(int(lo), int(hi) + 1)]
    if lo == hi:
        return [(_fmt(lo), len(values))]
    width = (hi - lo) / max_bins
    counts = [0] * max_bins
    for v in values:
        counts[min(max_bins - 1, int((v - lo) / width))] += 1
    return [(f"{_fmt(lo + k * width)}–{_fmt(lo + (k + 1) * width)}", n) for k, n in enumerate(counts)]


def _svg_hist(values: list[float], title: str, css_id: str, span: tuple[float, float] | None = None) -> str:
    """A bar chart of `values` (bars carry their count in data-count and a tooltip with their range)."""
    bins = _bins(values, span)
    w, h, pad, top = 460, 170, 30, 18
    bar_w = min(60, (w - 2 * pad) / len(bins))
    peak = max(n for _, n in bins)
    every = math.ceil(len(bins) / 12)  # axis labels on every bar, or on every k-th when crowded
    out = [
        f'<svg class="hist" id="{escape(css_id)}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">'
        f"<title>{escape(title)}</title>",
        f'<text x="{pad}" y="13">{escape(title)} ({len(values)} pairs)</text>',
    ]
    for k, (label, n) in enumerate(bins):
        bh = (h - 2 * pad - top) * n / peak
        x, y = pad + k * bar_w, h - pad - bh
        cx = x + bar_w / 2
        out.append(
            f'<rect class="bar" data-count="{n}" x="{x + 1:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{bh:.1f}"><title>{escape(label)}: {n}</title></rect>'
        )
        if n:
            out.append(f'<text x="{cx:.1f}" y="{y - 3:.1f}" text-anchor="middle">{n}</text>')
        if k % every == 0:
            short = label.split("–")[0] if "–" in label else label
            out.append(f'<text x="{cx:.1f}" y="{h - pad + 13}" text-anchor="middle">{escape(short)}</text>')
    out.append(f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/></svg>')
    return "".join(out)


def _scale(rec: dict) -> tuple[float, float] | None:
    scales = {tuple(s["scale"]) for s in rec["scores"] if s.get("scale")}
    return scales.pop() if len(scales) == 1 else None


def _histograms(records: list[dict]) -> str:
    """Score margins per task (tasks score on different scales), and the Bradley–Terry win probabilities
    of pairwise strategies' pairs."""
    margins: dict[str, list[float]] = {}
    scales: dict[str, tuple[float, float] | None] = {}
    pairs = [p for r in records for p in r["pairs"]]
    for r in records:
        for p in r["pairs"]:
            if p.get("chosen_score") is not None and p.get("rejected_score") is not None:
                margins.setdefault(r["task"], []).append(p["chosen_score"] - p["rejected_score"])
                scales.setdefault(r["task"], _scale(r))
    confidences = [p["confidence"] for p in pairs if p.get("confidence") is not None]
    out = ["<h2>Score margins</h2>", '<div class="hists">']
    for task, values in sorted(margins.items()):
        title, scale = f"{task}: score margin, chosen − rejected", scales[task]
        if scale is not None:  # the axis spans every possible positive margin
            title += f" (scale {_fmt(scale[0])}–{_fmt(scale[1])})"
        span = None if scale is None else (0.0, scale[1] - scale[0])
        out.append(_svg_hist(values, title, f"margins-{task}", span))
    if not margins:
        out.append(f'<p class="note">No pair carries both point scores ({len(pairs)} pairs).</p>')
    if confidences:
        out.append(_svg_hist(confidences, "Bradley–Terry win probability of chosen", "confidence"))
    unscored = len(pairs) - sum(len(v) for v in margins.values())
    if margins and unscored:
        out.append(f'<p class="note">{unscored} pairs without both scores are not in the margins.</p>')
    out.append("</div>")
    return "".join(out)


# ------------------------------------------------------------------------------------------ thumbnails


def _data_uri(fmt: str, save: Any) -> str:
    buf = io.BytesIO()
    save(buf)
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _small(img: Image.Image, size: int) -> Image.Image:
    img = img.convert("RGB")
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    return img


def _local(src: Any, run_dir: Path) -> Any:
    """A local source as given, or relative to the run directory when that is where it exists; None for
    remote URLs (the report never fetches anything)."""
    if isinstance(src, list):
        items = [_local(s, run_dir) for s in src]
        return None if any(s is None for s in items) else items
    if not isinstance(src, str):
        return src
    if "://" in src and not src.startswith("file://"):
        return None
    path = Path(src.removeprefix("file://"))
    if not path.is_absolute() and not path.exists() and (run_dir / path).exists():
        return str(run_dir / path)
    return str(path)


def _thumb(src: Any, kind: str, run_dir: Path, size: int, css: str, alt: str) -> str:
    """An <img> with the media embedded, or a note saying why there is none."""
    local = _local(src, run_dir)
    if local is None:
        return f'<div class="missing">{escape(alt)}: remote media, not embedded</div>'
    try:
        if kind == "video":
            frames = load_video(local, FramePolicy(num_frames=VIDEO_FRAMES, max_pixels=None))
            frames = [_small(f, size).quantize(GIF_COLOURS, dither=Image.Dither.NONE) for f in frames]
            uri = _data_uri(
                "gif",
                lambda fh: frames[0].save(
                    fh, "GIF", save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0
                ),
            )
            img = frames[0]
            css += " video"
        else:
            img = _small(load_image(local), size)
            uri = _data_uri("png", lambda fh: img.save(fh, "PNG", optimize=True))
    except Exception as err:  # a broken file must not stop the report
        return f'<div class="missing">{escape(alt)}: {escape(f"{type(err).__name__}: {err}")}</div>'
    return f'<img class="{css}" src="{uri}" width="{img.width}" height="{img.height}" alt="{escape(alt)}">'


# ------------------------------------------------------------------------------------------ one prompt


def _score_text(s: dict | None) -> str:
    if s is None:
        return "not scored"
    if s.get("failure"):
        return f"score failed ({escape(s['failure']['kind'])})"
    return f"score <b>{escape(_fmt(s['value']))}</b>"


def _probs(probs: dict | None) -> str:
    if not probs:
        return ""
    return " · ".join(f"{escape(str(k))} {v:.2f}" for k, v in probs.items())


def _raw(text: str | None) -> str:
    return f'<pre class="raw">{escape(text)}</pre>' if text else ""


def _verdicts(rec: dict) -> str:
    if not rec["verdicts"]:
        return ""
    with_probs = any(v.get("probs") for v in rec["verdicts"])
    rows = []
    for v in rec["verdicts"]:
        a, b = v["a"], v["b"]
        if v.get("failure"):
            f = v["failure"]
            outcome = f"failed: {escape(f['kind'])}: {escape(f['message'])}{_raw(v.get('raw_text'))}"
        elif v["winner"] == "tie":
            outcome = "tie"
        else:
            outcome = f"#{a if v['winner'] == 'A' else b}"
        extra = "" if v.get("swap_consistent") is None else f" (swap consistent: {v['swap_consistent']})"
        cls = ' class="failed"' if v.get("failure") else ""
        probs = f"<td>{_probs(v.get('probs'))}</td>" if with_probs else ""
        rows.append(f"<tr{cls}><td>#{a} vs #{b}</td><td>{outcome}{extra}</td>{probs}</tr>")
    head = "<tr><th>pair</th><th>winner</th>" + ("<th>probabilities</th>" if with_probs else "") + "</tr>"
    return f'<table class="verdicts">{head}{"".join(rows)}</table>'


def _score_failures(rec: dict) -> str:
    items = [
        f"<li>#{s['candidate']}: {escape(s['failure']['kind'])}: {escape(s['failure']['message'])}"
        f"{_raw(s.get('raw_text'))}</li>"
        for s in rec["scores"]
        if s.get("failure")
    ]
    return f'<ul class="score-failures">{"".join(items)}</ul>' if items else ""


def _prompt(rec: dict, run_dir: Path, size: int) -> str:
    task = rec["task"]
    is_gen, kind = task.endswith("_gen"), ("video" if task.startswith("video") else "image")
    scores = {s["candidate"]: s for s in rec["scores"]}
    chosen = {p["chosen"] for p in rec["pairs"]}
    rejected = {p["rejected"] for p in rec["pairs"]}
    strengths = rec.get("strengths")
    oracle = rec.get("meta", {}).get("oracle")
    cands = []
    for i, c in enumerate(rec["candidates"]):
        cls = "cand" + (" chosen" if i in chosen else "") + (" rejected" if i in rejected else "")
        body = (
            _thumb(c, kind, run_dir, size, "thumb", f"candidate {i}")
            if is_gen
            else f'<div class="answer">{escape(_cut(str(c)))}</div>'
        )
        more = [f"BT {_fmt(strengths[i])}"] if strengths else []
        if isinstance(oracle, list) and len(oracle) == len(rec["candidates"]):
            more.append(f"oracle {_fmt(oracle[i])}")  # the shapes world's truth, to compare with
        cap = f"#{i} · {_score_text(scores.get(i))}" + ("<br>" + " · ".join(more) if more else "")
        cands.append(
            f'<figure class="{cls}" data-candidate="{i}">{body}<figcaption>{cap}</figcaption></figure>'
        )

    pairs = []
    for p in rec["pairs"]:
        text = (
            f'<span class="mark chosen">#{p["chosen"]}</span> over '
            f'<span class="mark rejected">#{p["rejected"]}</span>'
        )
        if p.get("chosen_score") is not None and p.get("rejected_score") is not None:
            text += f" ({_fmt(p['chosen_score'])} vs {_fmt(p['rejected_score'])})"
        if p.get("confidence") is not None:
            text += f", P(win) {p['confidence']:.2f}"
        pairs.append(f'<li class="pair">{text}</li>')
    status = (
        f'<span class="kept">{len(rec["pairs"])} pair(s)</span>'
        if rec["pairs"]
        else f'<span class="dropped">dropped: {escape(str(rec["dropped"]))}</span>'
    )
    media = ""
    if not is_gen and rec.get("media") is not None:
        media = _thumb(rec["media"], kind, run_dir, 2 * size, "media", "prompt media")
    return (
        f'<section class="prompt" id="p{rec["index"]}"><h3>#{rec["index"]} · {escape(rec["id"])} · '
        f"{escape(task)}</h3>"
        f'<p class="ptext">{escape(rec["prompt"])}</p>{media}'
        f'<p class="status">{status} · calls {rec["calls"]} · ties {rec["ties"]} · '
        f"failures {rec['failures']}</p>"
        f'<div class="cands">{"".join(cands)}</div>'
        f'<ul class="pairs">{"".join(pairs)}</ul>{_verdicts(rec)}{_score_failures(rec)}</section>'
    )


def _cut(text: str) -> str:
    return text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS] + f"… ({len(text) - ANSWER_CHARS} more)"
