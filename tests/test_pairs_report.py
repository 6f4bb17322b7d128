"""The HTML report of a pairs run: every prompt, chosen and rejected marked once per pair, user text kept
inert, nothing fetched from outside; checked as a real headless Chromium builds and renders it."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unireward.pairs import (
    PairsConfig,
    SimulatedJudge,
    SimulatedNoise,
    read_candidates,
    run_pairs,
    write_shapes_candidates,
)
from unireward.pairs.report import read_records, write_report

CHROMIUM = Path("/usr/bin/chromium")
EVIL = '<script>document.title="pwned"</script>'
RAW = "</pre><b>raw & answer</b><script>alert(1)</script>"
TASKS = {"image_gen": 3, "video_gen": 2, "image_und": 2}  # prompts per task, 6 candidates each


class RawJudge(SimulatedJudge):
    """The simulated judge, with a model's raw text on failed verdicts and probabilities on the others."""

    def rank(self, items, *, swap=None, **kw):
        return [
            dataclasses.replace(v, raw_text=RAW)
            if not v.ok
            else dataclasses.replace(v, probs={"A": 0.6, "B": 0.3, "tie": 0.1})
            for v in super().rank(items, swap=swap, **kw)
        ]


def mixed_manifest(root: Path) -> Path:
    """One manifest of shapes-world prompts of three tasks (absolute media paths), hostile text included."""
    rows = []
    for task, k in TASKS.items():
        for p in read_candidates(write_shapes_candidates(root / task, task, k, n=6)):
            row = {"id": p.id, "task": p.task.value, "prompt": p.prompt, "candidates": p.candidates}
            rows.append({**row, "media": p.media, **p.meta})
    rows[0]["prompt"] += " " + EVIL
    und = next(r for r in rows if r["task"] == "image_und")
    und["candidates"][0] = "<img src=x onerror=alert(1)> & answer"
    path = root / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    manifest = mixed_manifest(root)
    judge = RawJudge.from_prompts(read_candidates(manifest), noise=SimulatedNoise(failure_rate=0.2), seed=1)
    out = root / "run"
    summary = run_pairs(
        PairsConfig(str(out), candidates=str(manifest), judge="oracle", progress=False), judge
    )
    return write_report(out), summary


class Dom(HTMLParser):
    """Tags with their attributes, in document order, and the text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(t == tag and (cls is None or cls in a.get("class", "").split()) for t, a in self.tags)


def test_report_html(report):
    path, summary = report
    html = path.read_text()
    records = read_records(path.parent)
    assert summary.pairs > 0 and summary.failures > 0 and len(records) == sum(TASKS.values())
    for r in records:
        assert f'id="p{r["index"]}"' in html
    assert html.count('class="mark chosen"') == html.count('class="mark rejected"') == summary.pairs
    assert html.count('<li class="pair">') == summary.pairs
    assert "<script" not in html and html.count("&lt;script&gt;") == 1 + html.count("failed: parse")
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; answer" in html
    assert "&lt;/pre&gt;&lt;b&gt;raw &amp; answer&lt;/b&gt;" in html  # a failure's raw text, escaped
    assert re.search(r'(src|href)="(?!data:image/)', html) is None and "://" not in html  # offline
    assert f"reward calls <b>{summary.calls}</b>" in html and f"ties <b>{summary.ties}</b>" in html
    assert "A 0.60 · B 0.30 · tie 0.10" in html

    few = write_report(path.parent, path.parent / "few.html", max_prompts=2)
    assert few.read_text().count('<section class="prompt"') == 2
    assert "Showing the first 2 of 7 prompts; 5 omitted" in few.read_text()


def test_report_other_strategies_and_broken_media(tmp_path):
    manifest = write_shapes_candidates(tmp_path / "c", "image_gen", 4, n=6)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0]["candidates"][1] = "https://example.invalid/remote.png"
    rows[0]["candidates"][2] = "media/missing.png"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for strategy, options in (("swiss", {}), ("best_worst", {"min_margin": 1})):
        out = tmp_path / strategy
        kw = dict(strategy=strategy, strategy_options=options, export=False, progress=False)
        summary = run_pairs(PairsConfig(str(out), candidates=str(manifest), judge="oracle", **kw))
        html = write_report(out, thumb_size=32).read_text()
        assert summary.dropped or strategy == "swiss"
        why = "".join(f" ({k} {v})" for k, v in summary.dropped.items())  # one reason at most here
        assert f"dropped prompts <b>{sum(summary.dropped.values())}</b>{why}" in html
        assert html.count('class="mark chosen"') == summary.pairs > 0
        assert "remote media, not embedded" in html and "example.invalid" not in html
        assert html.count('class="missing"') == 2 and html.count('class="thumb"') == 4 * 6 - 2
        assert ('id="confidence"' in html) == (strategy == "swiss")  # Bradley–Terry win probabilities
        assert ('id="margins-image_gen"' in html) == (strategy == "best_worst")


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--window-size=1200,2000",
    ]
    return subprocess.run(
        [str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=90, check=True, cwd=tmp
    )


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"
)
def test_report_in_headless_chromium(report, tmp_path):
    path, summary = report
    url = path.resolve().as_uri()
    built = chromium("--dump-dom", url, tmp=tmp_path).stdout
    dom = Dom(built)
    gen = sum(n for t, n in TASKS.items() if t.endswith("_gen")) * 6
    assert dom.count("section", "prompt") == sum(TASKS.values())
    assert dom.count("img", "thumb") == gen and dom.count("img", "video") == TASKS["video_gen"] * 6
    assert dom.count("img", "media") == TASKS["image_und"]
    assert dom.count("figure", "chosen") == dom.count("figure", "rejected") == summary.pairs  # one pair each
    assert dom.count("span", "chosen") == dom.count("span", "rejected") == summary.pairs
    assert dom.count("svg", "hist") == len(TASKS)  # one margin histogram per task (their scales differ)
    assert dom.count("rect", "bar") == 5 + 10 + 12  # margins 0..4 (image_gen), 0..9 (video_gen), 12 bins
    assert sum(int(a["data-count"]) for t, a in dom.tags if t == "rect") == summary.pairs
    assert dom.count("script") == 0 and EVIL in "".join(dom.text)  # the prompt's script is text
    assert "<title>Pairs report: run</title>" in built and 'http-equiv="Content-Security-Policy"' in built

    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", url, tmp=tmp_path)
    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 2000) and len(img.getcolors(1 << 24)) > 100  # text, thumbnails: not blank
    px = np.asarray(img, np.int16).reshape(-1, 3)

    def pixels(rgb: str) -> int:  # pixels of one of the report's CSS colours (Chromium paints them exactly)
        return int((np.abs(px - [int(rgb[k : k + 2], 16) for k in (0, 2, 4)]).max(axis=1) <= 2).sum())

    # chosen (green) and rejected (red) borders and tints, histogram bars
    colours = {c: pixels(c) for c in ("1fa33a", "e8f7eb", "d62828", "fcebeb", "4a7bd0")}
    assert min(colours.values()) > 200, colours
