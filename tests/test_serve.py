"""The HTTP reward server and the GRPO reward function, on a tiny real model (loopback only)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import math
import socket
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import random_image
from unireward.judge import Judge, JudgeConfig, load_judge
from unireward.serve import ServeConfig, create_app
from unireward.serve.rl import RewardClient, make_grpo_reward
from unireward.tasks import PointItem


@pytest.fixture(scope="module")
def judge(tiny_model_dir):
    return load_judge(tiny_model_dir("qwen2_vl"), batch_size=64)


class CountingJudge:
    """Delegates to a real judge and records the size of every call (one call = one micro-batch)."""

    def __init__(self, inner, delay_s: float = 0.0, poison: str | None = None):
        self.inner, self.delay_s, self.poison = inner, delay_s, poison
        self.calls: list[tuple[str, int]] = []
        self.config = inner.config

    def _check(self, items):
        time.sleep(self.delay_s)
        if self.poison and any(it.id == self.poison for it in items):
            raise RuntimeError("poisoned item in this call")

    def rank(self, items, **kw):
        self.calls.append(("pair", len(items)))
        self._check(items)
        return self.inner.rank(items, **kw)

    def score(self, items, **kw):
        self.calls.append(("point", len(items)))
        self._check(items)
        return self.inner.score(items, **kw)


class NaNBackend:
    name, frame_multiple = "nan", 1

    def continuation_logprobs(self, batch, continuations):
        return [[float("nan")] * len(c) for c in continuations]

    def describe(self):
        return {"backend": self.name}


def png_b64(seed: int) -> str:
    buf = io.BytesIO()
    random_image(seed, 32).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def gen_item(seed: int, item_id: str | None = None) -> dict:
    return {
        "task": "image_gen",
        "prompt": "a red circle",
        "candidate": {"base64": png_b64(seed)},
        "id": item_id,
    }


def und_item(seed: int, answer: str, item_id: str) -> dict:
    media = {"base64": png_b64(seed)}
    return {
        "task": "image_und",
        "prompt": "What colour is it?",
        "candidate": answer,
        "media": media,
        "id": item_id,
    }


@contextlib.contextmanager
def running_server(app):
    """A real uvicorn on 127.0.0.1 (a free port), in a thread, for the duration of the block."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# ----------------------------------------------------------------------------------------------------------
# Guards


def test_auth_rejects_missing_and_wrong_token(judge):
    with TestClient(create_app(judge, ServeConfig(token="s3cret"))) as client:
        body = {"items": [gen_item(1)]}
        r = client.post("/v1/score", json=body)
        assert r.status_code == 401 and "missing bearer token" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"
        r = client.post("/v1/score", json=body, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and "wrong bearer token" in r.json()["detail"]
        r = client.post("/get_reward", json={"query": ["x"]}, headers={"Authorization": "Basic s3cret"})
        assert r.status_code == 401
        assert client.get("/metrics").status_code == 401
        r = client.post("/v1/score", json=body, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["results"][0]["failure"] is None
        assert client.get("/health").json()["status"] == "ok"  # health stays open


def test_oversize_body_and_too_many_items_are_refused(judge):
    with TestClient(create_app(judge, ServeConfig(max_request_bytes=4000, max_items=2))) as client:
        big = {"items": [gen_item(1)], "pad": "x" * 5000}
        r = client.post("/v1/score", json=big)
        assert r.status_code == 413 and "max_request_bytes=4000" in r.json()["detail"]
        # no Content-Length (chunked upload): the limit is enforced while reading
        r = client.post("/v1/score", content=iter([b'{"items": [', b" " * 5000, b"]}"]))
        assert r.status_code == 413 and "max_request_bytes" in r.json()["detail"]
        r = client.post("/v1/score", json={"items": [{}, {}, {}]})
        assert r.status_code == 413 and "3 items exceed max_items=2" in r.json()["detail"]
        r = client.post("/get_reward", json={"query": ["a", "b", "c"]})
        assert r.status_code == 413
        r = client.post("/v1/score", content=b"{not json")
        assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
        r = client.post("/v1/score", json={"items": [], "decision": "vote"})
        assert r.status_code == 422 and "decision" in r.json()["detail"]


def test_paths_only_under_the_media_root(judge, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "secret"
    root.mkdir()
    outside.mkdir()
    random_image(1).save(root / "ok.png")
    random_image(2).save(outside / "x.png")
    (root / "link.png").symlink_to(outside / "x.png")

    def post(client, path):
        item = {"task": "image_gen", "prompt": "a red circle", "candidate": {"path": path}}
        return client.post("/v1/score", json={"items": [item]})

    with TestClient(create_app(judge, ServeConfig(media_root=root))) as client:
        r = post(client, "ok.png")
        assert r.status_code == 200 and r.json()["results"][0]["failure"] is None
        r = post(client, "sub/../ok.png")  # `..` that stays inside is fine
        assert r.status_code == 200 and r.json()["results"][0]["failure"] is None
        for bad in ("../secret/x.png", str(outside / "x.png"), "link.png", "/etc/passwd"):
            r = post(client, bad)
            assert r.status_code == 403, bad
            assert "outside the media root" in r.json()["detail"]
        r = post(client, "bad\x00name.png")
        assert r.status_code == 200 and "invalid path" in r.json()["results"][0]["failure"]["message"]
        r = post(client, "missing.png")  # inside the root but absent: that item fails, not the request
        assert r.status_code == 200 and r.json()["results"][0]["failure"]["kind"] == "media"
    with TestClient(create_app(judge, ServeConfig())) as client:
        r = post(client, "ok.png")
        assert r.status_code == 403 and "--media-root" in r.json()["detail"]


def test_a_malformed_item_fails_alone(judge):
    items = [
        gen_item(1, "good1"),
        {
            "task": "image_gen",
            "prompt": "a red circle",
            "candidate": {"base64": "@@not base64@@"},
            "id": "b64",
        },
        {"task": "image_gen", "prompt": "a red circle", "id": "missing"},
        {"task": "image_gen", "prompt": "a red circle", "candidate": "/etc/passwd", "id": "plain"},
        {"task": "image_gen", "prompt": "a red circle", "candidate": {"base64": "aGVsbG8="}, "id": "notimg"},
        {"task": "painting", "prompt": "x", "candidate": {"base64": "aGVsbG8="}, "id": "task"},
        "not an object",
        und_item(3, "Red.", "good2"),
    ]
    with TestClient(create_app(judge, ServeConfig())) as client:
        r = client.post("/v1/score", json={"items": items})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["good1", "b64", "missing", "plain", "notimg", "task", None, "good2"]
    kinds = [x["failure"] and x["failure"]["kind"] for x in results]
    assert kinds == [None, "input", "input", "input", "media", "input", "input", None]
    assert "invalid base64" in results[1]["failure"]["message"]
    assert "missing field 'candidate'" in results[2]["failure"]["message"]
    assert "plain string" in results[3]["failure"]["message"]
    assert "unknown task" in results[5]["failure"]["message"]
    for x in (results[0], results[7]):
        lo, hi = x["scale"]
        assert lo <= x["value"] <= hi
    assert all(x["value"] is None for x in results[1:7])


def test_an_item_that_breaks_the_model_call_fails_alone(judge):
    """If a whole batched call raises, each item is retried alone so only the culprit fails."""
    counting = CountingJudge(judge, poison="bad")
    app = create_app(counting, ServeConfig(max_wait_ms=0))
    with TestClient(app) as client:
        r = client.post("/v1/score", json={"items": [gen_item(1, "a"), gen_item(2, "bad"), gen_item(3, "c")]})
    results = r.json()["results"]
    assert [x["failure"] is None for x in results] == [True, False, True]
    assert results[1]["failure"] == {"kind": "error", "message": "RuntimeError: poisoned item in this call"}
    assert counting.calls == [("point", 3), ("point", 1), ("point", 1), ("point", 1)]


def test_nan_from_the_model_is_a_nan_failure(judge):
    nan_judge = Judge(NaNBackend(), JudgeConfig(decision="logits"))
    with TestClient(create_app(nan_judge, ServeConfig())) as client:
        r = client.post("/v1/score", json={"items": [gen_item(1, "x"), gen_item(2, "y")]})
    assert [x["failure"]["kind"] for x in r.json()["results"]] == ["nan", "nan"]


def test_timeout_is_504_and_the_server_keeps_serving(judge):
    slow = CountingJudge(judge, delay_s=1.0)
    with TestClient(create_app(slow, ServeConfig(timeout_s=0.5))) as client:
        r = client.post("/v1/score", json={"items": [gen_item(1)]})
        assert r.status_code == 504 and "timeout_s=0.5" in r.json()["detail"]
        slow.delay_s = 0.0
        time.sleep(0.8)  # the timed-out call finishes in the model thread; its result is dropped
        r = client.post("/v1/score", json={"items": [gen_item(2)]})
        assert r.status_code == 200 and r.json()["results"][0]["failure"] is None


# ----------------------------------------------------------------------------------------------------------
# Micro-batching


async def _concurrent(app, bodies, path="/v1/score"):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        responses = await asyncio.gather(*(client.post(path, json=b) for b in bodies))
    return [r.json() for r in responses]


def test_micro_batching_groups_concurrent_requests(judge):
    bodies = [{"items": [gen_item(k, f"r{k}")]} for k in range(8)]
    expected = judge.score(
        [PointItem("image_gen", "a red circle", base64.b64decode(png_b64(k))) for k in range(8)]
    )

    counting = CountingJudge(judge)
    app = create_app(counting, ServeConfig(max_wait_ms=500, max_batch_size=32))
    answers = asyncio.run(_concurrent(app, bodies))
    assert counting.calls == [("point", 8)]  # eight requests, one model call
    for k, answer in enumerate(answers):  # each request gets its own item's result back
        (result,) = answer["results"]
        assert result["id"] == f"r{k}" and result["value"] == pytest.approx(expected[k].value, abs=1e-4)

    counting = CountingJudge(judge)
    app = create_app(counting, ServeConfig(max_wait_ms=500, max_batch_size=3))
    asyncio.run(_concurrent(app, bodies))
    assert sorted(n for _, n in counting.calls) == [2, 3, 3]  # max_batch_size caps each call

    counting = CountingJudge(judge)
    app = create_app(counting, ServeConfig(batching="off"))
    asyncio.run(_concurrent(app, bodies))
    assert counting.calls == [("point", 1)] * 8


def test_rank_and_score_are_batched_apart(judge):
    counting = CountingJudge(judge)
    app = create_app(counting, ServeConfig(max_wait_ms=300))
    pair = {
        "task": "image_gen",
        "prompt": "a red circle",
        "a": {"base64": png_b64(1)},
        "b": {"base64": png_b64(2)},
    }

    async def both():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            posts = [client.post("/v1/rank", json={"items": [pair]}) for _ in range(3)]
            posts += [client.post("/v1/score", json={"items": [gen_item(k)]}) for k in range(3)]
            return await asyncio.gather(*posts)

    responses = asyncio.run(both())
    assert sorted(counting.calls) == [("pair", 3), ("point", 3)]
    verdict = responses[0].json()["results"][0]
    assert verdict["winner"] in ("A", "B", "tie") and math.isclose(
        sum(verdict["probs"].values()), 1, abs_tol=1e-6
    )


# ----------------------------------------------------------------------------------------------------------
# OpenRLHF and metrics


def test_get_reward_openrlhf_shape(judge, tmp_path):
    random_image(5).save(tmp_path / "q.png")
    prompt = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What colour is it?<|im_end|>\n"
    prompt += "<|im_start|>assistant\n"
    body = {
        "query": [prompt + "Red.<|im_end|>", prompt + "Blue.<|im_end|>", prompt + "Green.", "unrelated"],
        "prompts": [prompt, prompt, prompt, prompt],
        "labels": ['{"image": {"path": "q.png"}}', {"image": {"base64": png_b64(6)}}, "", '{"image": "x"}'],
    }
    with TestClient(create_app(judge, ServeConfig(media_root=tmp_path))) as client:
        out = client.post("/get_reward", json=body).json()
        assert set(out) == {"rewards", "scores", "failures"} and out["rewards"] == out["scores"]
        assert len(out["rewards"]) == 4
        assert all(isinstance(x, float) for x in out["rewards"][:2]) and out["failures"][:2] == [None, None]
        assert out["rewards"][2] is None and "no media" in out["failures"][2]["message"]
        assert out["rewards"][3] is None and "does not start with its prompt" in out["failures"][3]["message"]
        expected = judge.score(
            [PointItem("image_und", "What colour is it?", "Red.", str(tmp_path / "q.png"))]
        )
        assert out["rewards"][0] == pytest.approx(expected[0].value, abs=1e-4)  # question and answer cut out

        fixed = create_app(judge, ServeConfig(failed_reward=-1.0))
        with TestClient(fixed) as c2:
            payload = {"query": ["Red."], "questions": ["Colour?"], "images": [{"base64": "aGVsbG8="}]}
            out = c2.post("/get_reward", json=payload).json()
        assert out["rewards"] == [-1.0] and out["failures"][0]["kind"] == "media"
        r = client.post("/get_reward", json={"query": ["a", "b"], "prompts": ["a"]})
        assert r.status_code == 422 and "prompts has 1 entries" in r.json()["detail"]


def test_metrics_count_requests_items_and_batches(judge):
    with TestClient(create_app(judge, ServeConfig())) as client:
        client.post("/v1/score", json={"items": [gen_item(1), {"task": "image_gen"}]})
        client.post("/v1/score", json={"items": [gen_item(2)]})
        client.post("/v1/score", content=b"{")
        text = client.get("/metrics").text
    lines = set(text.splitlines())
    assert 'unireward_requests_total{route="/v1/score",status="200"} 2' in lines
    assert 'unireward_requests_total{route="/v1/score",status="400"} 1' in lines
    assert 'unireward_items_total{kind="point",outcome="ok"} 2' in lines
    assert 'unireward_items_total{kind="point",outcome="failed"} 1' in lines
    assert 'unireward_item_failures_total{kind="input"} 1' in lines
    assert 'unireward_batches_total{kind="point"} 2' in lines
    assert 'unireward_batch_size_bucket{le="1"} 2' in lines and "unireward_batch_size_count 2" in lines
    assert "unireward_errors_total 1" in lines
    assert 'unireward_request_seconds_count{route="/v1/score"} 3' in lines
    assert "# TYPE unireward_request_seconds histogram" in lines


# ----------------------------------------------------------------------------------------------------------
# GRPO reward function


def grpo_batch(groups: int = 2, per_group: int = 3):
    prompts, completions, images = [], [], []
    for g in range(groups):
        question = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"Colour {g}?"}]}
        ]
        for k in range(per_group):
            prompts.append(question)
            completions.append([{"role": "assistant", "content": ["Red.", "Blue.", "Green."][k % 3]}])
            images.append([random_image(10 + g)])
    return prompts, completions, images


def test_grpo_reward_with_a_local_judge(judge):
    prompts, completions, images = grpo_batch()
    reward = make_grpo_reward(judge=judge, task="image_und")
    assert reward.__name__ == "unireward"
    values = asyncio.run(reward(prompts=prompts, completions=completions, images=images, trainer_state=None))
    expected = judge.score(
        [
            PointItem("image_und", f"Colour {i // 3}?", ["Red.", "Blue.", "Green."][i % 3], images[i][0])
            for i in range(6)
        ]
    )
    assert values == pytest.approx([s.value for s in expected], abs=1e-6)

    pair = make_grpo_reward(judge=judge, task="image_und", mode="pair")
    shares = asyncio.run(pair(prompts=prompts, completions=completions, images=images))
    assert all(0.0 <= s <= 1.0 for s in shares)
    assert sum(shares[:3]) == pytest.approx(1.5) and sum(shares[3:]) == pytest.approx(1.5)  # n/2 per group

    with pytest.raises(ValueError, match="no image"):
        asyncio.run(reward(prompts=["q"], completions=["a"]))
    with pytest.raises(ValueError, match="num_generations"):
        asyncio.run(pair(prompts=["q1", "q2"], completions=["a", "b"], images=[[random_image(1)]] * 2))
    with pytest.raises(ValueError, match="image_und or video_und"):
        make_grpo_reward(judge=judge, task="image_gen")
    nan = make_grpo_reward(judge=Judge(NaNBackend(), JudgeConfig()), task="image_und")
    with pytest.raises(FloatingPointError, match="NaN"):
        asyncio.run(nan(prompts=["q"], completions=["a"], image=[random_image(1)]))


def test_grpo_reward_against_a_running_server(judge):
    prompts, completions, images = grpo_batch()
    local = asyncio.run(
        make_grpo_reward(judge=judge)(prompts=prompts, completions=completions, images=images)
    )
    nan_judge = Judge(NaNBackend(), JudgeConfig())
    with running_server(create_app(judge, ServeConfig(token="t0k"))) as url:
        reward = make_grpo_reward(url=url, token="t0k", concurrency=2)
        remote = asyncio.run(reward(prompts=prompts, completions=completions, images=images))
        assert remote == pytest.approx(local, abs=1e-4)
        wrong = make_grpo_reward(url=url, token="bad", retries=3, backoff_s=5)
        started = time.time()
        with pytest.raises(RuntimeError, match="refused the request: HTTP 401"):
            asyncio.run(wrong(prompts=prompts, completions=completions, images=images))
        assert time.time() - started < 5  # a 401 is not retried
    with running_server(create_app(nan_judge, ServeConfig())) as url:
        with pytest.raises(FloatingPointError, match="NaN"):
            asyncio.run(make_grpo_reward(url=url)(prompts=["q"], completions=["a"], image=[random_image(1)]))
        lenient = make_grpo_reward(url=url, on_failure="none")
        with pytest.raises(FloatingPointError):  # NaN raises whatever on_failure says
            asyncio.run(lenient(prompts=["q"], completions=["a"], image=[random_image(1)]))


def test_client_retries_then_says_what_failed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = RewardClient(f"http://127.0.0.1:{port}", retries=2, backoff_s=0.01, timeout_s=2)
    item = PointItem("image_gen", "a red circle", b"png")
    with pytest.raises(RuntimeError, match="failed 3 times .*ConnectError"):
        asyncio.run(client.score([item]))


def test_serve_command_options():
    import typer
    from typer.testing import CliRunner

    from unireward.serve.cli import SERVE_HELP, serve

    app = typer.Typer()
    app.command(help=SERVE_HELP)(serve)
    runner = CliRunner()
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    options = "--token --media-root --max-request-bytes --max-items --timeout-s --batching --max-batch-size"
    for option in (options + " --max-wait-ms --reward-task --failed-reward --samples --temperature").split():
        assert option in result.output, option
    result = runner.invoke(app, ["--batching", "sometimes"])  # refused before any model is loaded
    assert result.exit_code != 0 and "batching must be one of" in result.output
    result = runner.invoke(app, ["--samples", "4", "--temperature", "0"])
    assert result.exit_code != 0 and "temperature above 0" in result.output
