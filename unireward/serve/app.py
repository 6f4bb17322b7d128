"""An HTTP reward server over any judge (FastAPI), with micro-batching.

    app = create_app(load_judge("rm/"), ServeConfig(token="secret", media_root="/data"))

Endpoints (JSON in, JSON out; every POST may carry `Authorization: Bearer <token>`):

- `POST /v1/rank`   `{"items": [{"task", "prompt", "a", "b", "media"?, "id"?}], "decision"?, "swap"?}`
- `POST /v1/score`  `{"items": [{"task", "prompt", "candidate", "media"?, "id"?}], "decision"?}`
  Both answer `{"results": [...]}`, one per item in input order: the judge's Verdict / Score as a dict, with
  `failure` set (and `winner` / `value` null) when that item failed. A malformed item fails alone
  (`failure.kind == "input"`); broken media fail alone (`"media"`).
- `POST /get_reward` OpenRLHF's remote reward model API: `{"query": [...], "prompts"?, "labels"?}` →
  `{"rewards": [...], "scores": [...], "failures": [...]}` (mapping in `reward_items`).
- `GET /health`, `GET /metrics` (Prometheus text format).

Media fields (a generation task's `a`/`b`/`candidate`, an understanding task's `media`) take
`{"base64": "..."}`, a `data:` URL, `{"path": "relative/to/media_root"}`, or a list of these (video frames).
Plain strings, http(s) URLs and paths outside `media_root` are refused: the server never reads a file or a
URL a client names unless it lies under the configured root.

Micro-batching: every request's items go to one asyncio queue; one worker takes the items of one kind (rank
or score, with the same decision and swap) that arrive within `max_wait_ms`, up to `max_batch_size`, and
runs them as one judge call in a single model thread. With `batching="off"` each request is its own call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from unireward.tasks import Failure, PairItem, PointItem, Score, Task, Verdict

BATCHING = ("on", "off")
KINDS = ("pair", "point")


@dataclass
class ServeConfig:
    """How the server listens, guards and batches. `token=None` disables auth; `media_root=None` refuses
    every `{"path": ...}` media field."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    media_root: str | Path | None = None
    max_request_bytes: int = 64 * 1024 * 1024
    max_items: int = 512
    timeout_s: float = 300.0
    batching: str = "on"
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    reward_task: str = "image_und"
    failed_reward: float | None = None

    def __post_init__(self) -> None:
        if self.batching not in BATCHING:
            raise ValueError(f"batching must be one of {BATCHING}, got {self.batching!r}")
        for name in ("max_request_bytes", "max_items", "max_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.timeout_s <= 0 or self.max_wait_ms < 0:
            raise ValueError("timeout_s must be > 0 and max_wait_ms >= 0")
        Task.parse(self.reward_task)
        if self.media_root is not None:
            root = Path(self.media_root).expanduser().resolve()
            if not root.is_dir():
                raise ValueError(f"media_root {root} is not a directory")
            self.media_root = root


# ----------------------------------------------------------------------------------------------------------
# Request schema


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str
    prompt: str
    a: Any
    b: Any
    media: Any = None
    id: str | None = None


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str
    prompt: str
    candidate: Any
    media: Any = None
    id: str | None = None


class RankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Any]  # each validated alone, so one malformed item fails alone
    decision: Literal["logits", "generate", "reason"] | None = None
    swap: bool | None = None


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Any]
    decision: Literal["logits", "generate", "reason"] | None = None


class RewardRequest(BaseModel):
    """OpenRLHF's payload plus optional unireward fields (`questions`, `images`, `task`)."""

    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None
    questions: list[str] | None = None
    images: list[Any] | None = None
    task: str | None = None


class ItemError(ValueError):
    """One item is malformed: it fails alone with failure kind "input"."""


# ----------------------------------------------------------------------------------------------------------
# Media fields


def resolve_media(value: Any, root: Path | None, where: str) -> Any:
    """Turn a media field into something `unireward.media` loads (bytes, a data: URL, a path under root).

    Raises ItemError for a malformed field and HTTPException(403) for a path the server must not read.
    """
    if isinstance(value, list):
        if not value:
            raise ItemError(f"{where}: an empty list of frames")
        return [resolve_media(v, root, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, str):
        if value.startswith("data:"):
            return value
        raise ItemError(
            f"{where}: a plain string is not accepted as media; send {{'base64': ...}}, "
            "{'path': ...} (under the server's media root) or a data: URL"
        )
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        text = re.sub(r"\s+", "", value["base64"])
        if text.startswith("data:"):
            return text
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ItemError(f"{where}: invalid base64 ({e})") from None
    if isinstance(value, dict) and set(value) == {"path"} and isinstance(value["path"], str):
        return str(path_under_root(value["path"], root, where))
    raise ItemError(
        f"{where}: media must be {{'base64': str}}, {{'path': str}}, a data: URL or a list of them"
    )


def path_under_root(path: str, root: Path | None, where: str = "media") -> Path:
    """The resolved path if it lies under `root` (symlinks followed), else HTTP 403."""
    if root is None:
        raise HTTPException(
            403,
            f"{where}: path media are disabled on this server; start it with --media-root DIR or send base64",
        )
    try:
        resolved = (root / path).resolve()
    except (ValueError, OSError, RuntimeError) as e:  # NUL bytes, symlink loops
        raise ItemError(f"{where}: invalid path {path!r} ({e})") from None
    if not resolved.is_relative_to(root):
        raise HTTPException(403, f"{where}: path {path!r} resolves outside the media root {root}; refused")
    return resolved


def parse_item(raw: Any, kind: str, root: Path | None, index: int) -> PairItem | PointItem:
    """A validated item, or ItemError saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ItemError(f"item {index}: expected an object, got {type(raw).__name__}")
    try:
        spec = (PairIn if kind == "pair" else PointIn).model_validate(raw)
    except ValidationError as e:
        raise ItemError(f"item {index}: {_validation_message(e)}") from None
    try:
        task = Task.parse(spec.task)
    except ValueError as e:
        raise ItemError(f"item {index}: {e}") from None
    media = None if spec.media is None else resolve_media(spec.media, root, f"item {index}.media")
    names = ("a", "b") if kind == "pair" else ("candidate",)
    cands = []
    for name in names:
        value = getattr(spec, name)
        cands.append(resolve_media(value, root, f"item {index}.{name}") if task.is_generation else value)
    try:
        if kind == "pair":
            return PairItem(task, spec.prompt, cands[0], cands[1], media, spec.id)
        return PointItem(task, spec.prompt, cands[0], media, spec.id)
    except ValueError as e:
        raise ItemError(f"item {index}: {e}") from None


def _validation_message(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "body"
        parts.append(f"{'missing field' if err['type'] == 'missing' else err['msg']} {loc!r}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------------------------
# OpenRLHF /get_reward

_END_TOKENS = re.compile(r"(?:<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>|</s>|<eos>|<pad>|\s)+$")
_MARKUP = re.compile(r"<\|[^|>]*\|>|<image>|<video>")


def _user_text(prompt: str) -> str:
    """The question inside a chat-templated prompt: the last ChatML user turn, markup removed."""
    if "<|im_start|>user" in prompt:
        prompt = prompt.rsplit("<|im_start|>user", 1)[1].split("<|im_end|>", 1)[0]
    return _MARKUP.sub("", prompt).strip()


def _label_dict(label: Any) -> dict:
    if isinstance(label, dict):
        return label
    if isinstance(label, str) and label.strip().startswith("{"):
        try:
            got = json.loads(label)
        except ValueError:
            return {}
        return got if isinstance(got, dict) else {}
    return {}


def reward_items(req: RewardRequest, default_task: str, root: Path | None) -> list[PointItem | ItemError]:
    """Map OpenRLHF's `/get_reward` payload onto point items of one task.

    - response (the candidate of understanding tasks) = `query[i]` minus its prefix `prompts[i]`, with
      trailing end-of-turn tokens stripped; the whole query when no prompts are sent.
    - question / caption = `questions[i]`, else `labels[i]["question"]` (a label may be a JSON object),
      else the last ChatML user turn of `prompts[i]` with markup removed.
    - media = `images[i]`, else `labels[i]["image"]` (or `"video"`, `"media"`), in the /v1 media forms.
      Understanding tasks need it; for generation tasks it is the candidate image or video.
    """
    n = len(req.query)
    for name in ("prompts", "labels", "questions", "images"):
        got = getattr(req, name)
        if got is not None and len(got) != n:
            raise HTTPException(422, f"{name} has {len(got)} entries but query has {n}; send one per query")
    try:
        task = Task.parse(req.task or default_task)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    out: list[PointItem | ItemError] = []
    for i, query in enumerate(req.query):
        prompt = req.prompts[i] if req.prompts else None
        label = _label_dict(req.labels[i]) if req.labels else {}
        if prompt is not None and query.startswith(prompt):
            response = query[len(prompt) :]
        elif prompt is not None:
            out.append(
                ItemError(f"item {i}: query does not start with its prompt; cannot cut out the response")
            )
            continue
        else:
            response = query
        response = _END_TOKENS.sub("", response).strip()
        question = (req.questions[i] if req.questions else None) or label.get("question")
        if question is None:
            question = _user_text(prompt) if prompt is not None else ""
        media = req.images[i] if req.images else None
        if media is None:
            media = next((label[k] for k in ("image", "video", "media") if label.get(k) is not None), None)
        try:
            if media is None:
                raise ItemError(f"item {i}: no media; send `images` or a label object with an `image`")
            resolved = resolve_media(media, root, f"item {i}.image")
            if task.is_generation:
                out.append(PointItem(task, question, resolved, None, str(i)))
            else:
                out.append(PointItem(task, question, response, resolved, str(i)))
        except ItemError as e:
            out.append(e)
        except ValueError as e:
            out.append(ItemError(f"item {i}: {e}"))
    return out


# ----------------------------------------------------------------------------------------------------------
# Metrics


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        for k, edge in enumerate(self.buckets):
            if value <= edge:
                self.counts[k] += 1

    def render(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        lines = [
            f'{name}_bucket{{{labels}{sep}le="{edge:g}"}} {c}' for edge, c in zip(self.buckets, self.counts)
        ]
        lines.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        tail = f"{{{labels}}}" if labels else ""
        return lines + [f"{name}_sum{tail} {self.sum:.6f}", f"{name}_count{tail} {self.count}"]


_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
ROUTES = ("/v1/rank", "/v1/score", "/get_reward", "/health", "/metrics")


@dataclass
class Metrics:
    requests: Counter = field(default_factory=Counter)  # (route, status)
    items: Counter = field(default_factory=Counter)  # (kind, "ok" | "failed")
    failures: Counter = field(default_factory=Counter)  # failure kind
    batches: Counter = field(default_factory=Counter)  # kind
    batch_size: Histogram = field(default_factory=lambda: Histogram(_SIZE_BUCKETS))
    model_seconds: Histogram = field(default_factory=lambda: Histogram(_LATENCY_BUCKETS))
    latency: dict = field(default_factory=dict)  # route -> Histogram
    queue_items: int = 0

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        self.latency.setdefault(route, Histogram(_LATENCY_BUCKETS)).observe(seconds)

    def results(self, kind: str, results: list) -> None:
        for r in results:
            failure = r.failure if isinstance(r, (Verdict, Score)) else r.get("failure")
            self.items[(kind, "ok" if failure is None else "failed")] += 1
            if failure is not None:
                self.failures[failure.kind if isinstance(failure, Failure) else failure["kind"]] += 1

    def render(self) -> str:
        def block(name: str, kind: str, doc: str, samples: list[str]) -> list[str]:
            return [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", *samples]

        errors = sum(n for (_, status), n in self.requests.items() if status >= 400)
        lines = block(
            "unireward_requests_total",
            "counter",
            "HTTP requests by route and status.",
            [
                f'unireward_requests_total{{route="{r}",status="{s}"}} {n}'
                for (r, s), n in sorted(self.requests.items())
            ],
        )
        lines += block(
            "unireward_items_total",
            "counter",
            "Items answered, by kind and outcome.",
            [
                f'unireward_items_total{{kind="{k}",outcome="{o}"}} {n}'
                for (k, o), n in sorted(self.items.items())
            ],
        )
        lines += block(
            "unireward_item_failures_total",
            "counter",
            "Failed items by failure kind.",
            [f'unireward_item_failures_total{{kind="{k}"}} {n}' for k, n in sorted(self.failures.items())],
        )
        lines += block(
            "unireward_errors_total",
            "counter",
            "Requests answered with an HTTP error status.",
            [f"unireward_errors_total {errors}"],
        )
        lines += block(
            "unireward_batches_total",
            "counter",
            "Judge calls (micro-batches), by kind.",
            [f'unireward_batches_total{{kind="{k}"}} {n}' for k, n in sorted(self.batches.items())],
        )
        lines += block(
            "unireward_batch_size",
            "histogram",
            "Items per judge call.",
            self.batch_size.render("unireward_batch_size"),
        )
        lines += block(
            "unireward_model_seconds",
            "histogram",
            "Seconds per judge call.",
            self.model_seconds.render("unireward_model_seconds"),
        )
        route_hists = [
            line
            for route, hist in sorted(self.latency.items())
            for line in hist.render("unireward_request_seconds", f'route="{route}"')
        ]
        lines += block("unireward_request_seconds", "histogram", "Request latency by route.", route_hists)
        lines += block(
            "unireward_queue_items",
            "gauge",
            "Items waiting for the judge.",
            [f"unireward_queue_items {self.queue_items}"],
        )
        return "\n".join(lines) + "\n"


class _MetricsMiddleware:
    """Counts every HTTP request by route and status, and times it (plain ASGI: the body is not touched)."""

    def __init__(self, app: Callable, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope["path"] if scope["path"] in ROUTES else "other"
            self.metrics.request(route, status, time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------------------
# Micro-batching


@dataclass
class _Job:
    key: tuple  # (kind, decision, swap): only jobs with equal keys share a judge call
    items: list
    future: asyncio.Future


def _failed(kind: str, item: Any, failure: Failure) -> Verdict | Score:
    if kind == "pair":
        return Verdict(winner=None, failure=failure, id=item.id)
    return Score(value=None, failure=failure, id=item.id)


class MicroBatcher:
    """One asyncio queue drained by one worker; judge calls run one at a time in a dedicated thread."""

    def __init__(self, judge: Any, config: ServeConfig, metrics: Metrics) -> None:
        self.judge, self.config, self.metrics = judge, config, metrics
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unireward-judge")
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop or self.worker is None or self.worker.done():
            self.loop, self.queue = loop, asyncio.Queue()
            self.worker = loop.create_task(self._work())

    async def submit(self, kind: str, items: list, decision: str | None, swap: bool | None) -> list:
        """Results for `items` in order; cancelling the caller drops its items that have not run yet."""
        if not items:
            return []
        self._ensure_worker()
        size = self.config.max_batch_size
        futures = []
        for k in range(0, len(items), size):
            future = self.loop.create_future()
            self.queue.put_nowait(_Job((kind, decision, swap), items[k : k + size], future))
            self.metrics.queue_items += len(items[k : k + size])
            futures.append(future)
        try:
            chunks = await asyncio.gather(*futures)
        finally:
            for f in futures:
                f.cancel()
        return [r for chunk in chunks for r in chunk]

    async def _work(self) -> None:
        held: deque[_Job] = deque()  # taken from the queue while grouping another key
        while True:
            first = held.popleft() if held else await self.queue.get()
            group = [first]
            if self.config.batching == "on":
                await self._gather_group(group, held)
            self.metrics.queue_items -= sum(len(j.items) for j in group)
            live = [j for j in group if not j.future.done()]  # a timed-out request's jobs are skipped
            if live:
                try:
                    await self._run(live)
                except Exception as e:  # never let the worker die: fail this group, keep serving
                    for j in live:
                        if not j.future.done():
                            j.future.set_exception(e)

    async def _gather_group(self, group: list[_Job], held: deque[_Job]) -> None:
        key, limit = group[0].key, self.config.max_batch_size
        n = len(group[0].items)
        for job in list(held):
            if job.key == key and n + len(job.items) <= limit:
                held.remove(job)
                group.append(job)
                n += len(job.items)
        deadline = self.loop.time() + self.config.max_wait_ms / 1000
        while n < limit:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if job.key == key and n + len(job.items) <= limit:
                group.append(job)
                n += len(job.items)
            else:
                held.append(job)
                if job.key == key:
                    break  # the next job of this key would overflow the batch: run this one now

    async def _run(self, group: list[_Job]) -> None:
        kind, decision, swap = group[0].key
        items = [it for j in group for it in j.items]
        self.metrics.batches[kind] += 1
        self.metrics.batch_size.observe(len(items))
        start = time.perf_counter()
        try:
            results = await self.loop.run_in_executor(self.executor, self._call, kind, items, decision, swap)
        except Exception as e:
            if len(items) == 1:
                results = [_failed(kind, items[0], _exception_failure(e))]
            else:  # one item must not sink the batch: judge each alone to find the culprit
                results = []
                for item in items:
                    try:
                        one = await self.loop.run_in_executor(
                            self.executor, self._call, kind, [item], decision, swap
                        )
                        results.append(one[0])
                    except Exception as e1:
                        results.append(_failed(kind, item, _exception_failure(e1)))
        self.metrics.model_seconds.observe(time.perf_counter() - start)
        k = 0
        for j in group:
            part = results[k : k + len(j.items)]
            k += len(j.items)
            if not j.future.done():
                j.future.set_result(part)

    def _call(self, kind: str, items: list, decision: str | None, swap: bool | None) -> list:
        if kind == "pair":
            kwargs = {"decision": decision} | ({} if swap is None else {"swap": swap})
            results = self.judge.rank(items, **kwargs)
        else:
            results = self.judge.score(items, decision=decision)
        if len(results) != len(items):
            raise RuntimeError(f"the judge returned {len(results)} results for {len(items)} items")
        return results

    def close(self) -> None:
        if self.worker is not None and not self.worker.done():
            self.worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _exception_failure(e: Exception) -> Failure:
    kind = "nan" if isinstance(e, FloatingPointError) else "error"
    return Failure(kind, f"{type(e).__name__}: {e}")


# ----------------------------------------------------------------------------------------------------------
# The app


def create_app(judge: Any, config: ServeConfig | None = None) -> FastAPI:
    """A FastAPI app serving `judge` (anything with `rank(items, decision=, swap=)` and
    `score(items, decision=)` returning Verdicts / Scores)."""
    config = config or ServeConfig()
    metrics = Metrics()
    batcher = MicroBatcher(judge, config, metrics)
    root = config.media_root

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()

    app = FastAPI(
        title="unireward",
        summary="Unified multimodal reward server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(_MetricsMiddleware, metrics=metrics)
    app.state.config, app.state.metrics, app.state.batcher = config, metrics, batcher

    def authorize(request: Request) -> None:
        if config.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(
                401,
                "missing bearer token: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(given.strip().encode(), config.token.encode()):
            raise HTTPException(401, "wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def read_json(request: Request, model: type[BaseModel]) -> Any:
        limit = config.max_request_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise HTTPException(
                413,
                f"request body of {length} bytes exceeds max_request_bytes={limit}; "
                "send fewer or smaller items per request",
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise HTTPException(
                    413,
                    f"request body exceeds max_request_bytes={limit}; "
                    "send fewer or smaller items per request",
                )
        try:
            data = json.loads(body)
        except ValueError as e:
            raise HTTPException(400, f"the body is not valid JSON ({e})") from None
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise HTTPException(422, f"bad request: {_validation_message(e)}") from None

    def check_count(n: int) -> None:
        if n > config.max_items:
            raise HTTPException(413, f"{n} items exceed max_items={config.max_items}; split the request")

    async def judge_items(kind: str, items: list, decision: str | None, swap: bool | None) -> list:
        decision = decision or getattr(getattr(judge, "config", None), "decision", None)
        try:
            return await asyncio.wait_for(batcher.submit(kind, items, decision, swap), config.timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(
                504,
                f"the judge did not answer within timeout_s={config.timeout_s:g} s "
                f"({metrics.queue_items} items queued); retry later",
            ) from None

    async def rank_or_score(request: Request, kind: str) -> JSONResponse:
        authorize(request)
        req = await read_json(request, RankRequest if kind == "pair" else ScoreRequest)
        check_count(len(req.items))
        parsed: list[Any] = []
        for i, raw in enumerate(req.items):
            try:
                parsed.append(parse_item(raw, kind, root, i))
            except ItemError as e:
                parsed.append(e)
        good = [p for p in parsed if not isinstance(p, ItemError)]
        answers = iter(await judge_items(kind, good, req.decision, getattr(req, "swap", None)))
        results = []
        for raw, p in zip(req.items, parsed):
            if isinstance(p, ItemError):
                rid = raw.get("id") if isinstance(raw, dict) else None
                results.append(_input_failure(kind, rid, str(p)))
            else:
                results.append(next(answers).to_dict())
        metrics.results(kind, results)
        return JSONResponse({"results": results})

    @app.post("/v1/rank")
    async def rank(request: Request) -> JSONResponse:
        """Which of two candidates is better, per item."""
        return await rank_or_score(request, "pair")

    @app.post("/v1/score")
    async def score(request: Request) -> JSONResponse:
        """How good is one candidate, per item."""
        return await rank_or_score(request, "point")

    @app.post("/get_reward")
    async def get_reward(request: Request) -> JSONResponse:
        """OpenRLHF's remote reward model API: one reward per query."""
        authorize(request)
        req = await read_json(request, RewardRequest)
        check_count(len(req.query))
        parsed = reward_items(req, config.reward_task, root)
        good = [p for p in parsed if not isinstance(p, ItemError)]
        answers = iter(await judge_items("point", good, None, None))
        rewards, failures = [], []
        for i, p in enumerate(parsed):
            if isinstance(p, ItemError):
                result = _input_failure("point", str(i), str(p))
            else:
                result = next(answers).to_dict()
            value = result["value"]
            if value is not None and not math.isfinite(value):
                result["failure"] = {"kind": "nan", "message": f"non-finite reward {value}"}
                value = None
            rewards.append(config.failed_reward if value is None else value)
            failures.append(result["failure"])
        metrics.results("point", [{"failure": f} for f in failures])
        return JSONResponse({"rewards": rewards, "scores": rewards, "failures": failures})

    @app.get("/health")
    async def health() -> dict:
        describe = getattr(judge, "describe", None)
        return {
            "status": "ok",
            "judge": describe() if callable(describe) else type(judge).__name__,
            "batching": config.batching,
            "max_batch_size": config.max_batch_size,
            "queue_items": metrics.queue_items,
        }

    @app.get("/metrics")
    async def prometheus(request: Request) -> PlainTextResponse:
        authorize(request)
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


def _input_failure(kind: str, item_id: Any, message: str) -> dict:
    failure = Failure("input", message)
    result = Verdict(winner=None, failure=failure) if kind == "pair" else Score(value=None, failure=failure)
    result.id = item_id if isinstance(item_id, str) else None
    return result.to_dict()
