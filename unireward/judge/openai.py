"""The OpenAI-compatible backend: a judge served by vLLM (`vllm serve <checkpoint>`) on one or more servers.

    judge = load_judge("/ckpt/UnifiedReward-qwen-7b", backend="openai",
                       base_url=["http://gpu1:8000/v1", "http://gpu2:8000/v1"], frame_multiple=2)

Media are loaded, checked and sampled client-side by the judge (the same `FramePolicy` as the hf backend)
and sent as lossless PNG data URLs, so the server sees exactly the frames and pixels the hf backend
would. Requests run on a private asyncio loop with `concurrency` requests in flight per server; each
conversation goes to one server (round-robin over `base_urls`); connection errors, timeouts, 429 and
5xx are retried with exponential backoff; other 4xx fail at once with the server's own message.

Videos (`video_input`):
- "video" (default): one `video_url` part whose data URL is vLLM's frame-list form,
  `data:video/jpeg;base64,<frame 1>,<frame 2>,...` (vLLM decodes each frame with PIL, so PNG frames stay
  lossless despite the MIME name, and it does not resample them). The model sees a video, as in training
  and in the hf backend. vLLM keeps at most its `num_frames` media setting (32 by default) of the frames
  and drops the rest without an error, so longer clips are refused here (`max_video_frames`); raise both
  with `--media-io-kwargs '{"video": {"num_frames": -1}}'` on the server.
- "frames": each frame as its own image part, in order. Works with any server that takes images, but the
  model then sees N images instead of a video: the prompt differs from the hf backend's and from how the
  UnifiedReward models were trained.

Logit decisions (`continuation_logprobs`) give exactly the numbers of the hf backend (same decisive
prefixes, see hf.py), using two vLLM extensions of the chat API, which work with multimodal prompts:
the candidates are tokenised with the server's `/tokenize`; for each distinct context before a decisive
token, one request forces that context as the start of the answer (`continue_final_message`), reads
the context's own log-probabilities (`prompt_logprobs=0`) and the log-probabilities of the decisive next
tokens (`logprob_token_ids`). For the v1 pair verdicts that is two requests per item ("" -> Image/Both,
"Image" -> 1/2); for scores, about two. `/v1/completions` is not used: vLLM takes no images there.
Limits: needs vLLM (SGLang and OpenAI itself return neither prompt log-probabilities nor chosen-token
log-probabilities; use decision="generate" with them); a server that tokenises the forced context
differently from the candidate alone raises instead of returning a different number; requests with
prompt log-probabilities skip vLLM's prefix cache, so each costs a full prefill.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import httpx
from PIL import Image

from unireward.judge.backend import END_OF_TURN_TOKENS, Prepared
from unireward.judge.hf import decisive_prefixes

VIDEO_INPUTS = ("video", "frames")
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class ServerError(RuntimeError):
    """A request the server refused or that kept failing; the message quotes the server."""


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        base_urls: str | Sequence[str],
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        frame_multiple: int = 1,
        video_input: str = "video",
        max_video_frames: int = 32,
        end_token: str | None = None,
        extra_body: dict | None = None,
    ) -> None:
        """base_urls: one server or several ("http://host:8000" or ".../v1"); model: the served model name
        (what `vllm serve` was given, or its --served-model-name). concurrency: requests in flight per
        server. retries: extra attempts after a connection error, timeout, 429 or 5xx. frame_multiple:
        the model's temporal patch (2 for Qwen-VL), which the hf backend reads from the processor.
        end_token: the end-of-turn token string, if none of <|im_end|>, <|eot_id|>, <end_of_utterance> is
        one token of the model's tokenizer. extra_body: fields added to every chat request (e.g.
        {"chat_template_kwargs": {...}} or vLLM sampling options); it can change what is measured."""
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("base_urls: give at least one server URL, e.g. http://127.0.0.1:8000/v1")
        self.base_urls = [_root(u) for u in urls]
        if video_input not in VIDEO_INPUTS:
            raise ValueError(f"video_input must be one of {VIDEO_INPUTS}, got {video_input!r}")
        if concurrency < 1 or retries < 0 or timeout_s <= 0:
            raise ValueError("need concurrency >= 1, retries >= 0 and timeout_s > 0")
        self.model_name = model
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.frame_multiple = frame_multiple
        self.video_input = video_input
        self.max_video_frames = max_video_frames
        self.end_token = end_token
        self.extra_body = dict(extra_body or {})
        self._next_server = itertools.count()
        self._token_cache: dict[str, list[int]] = {}
        self._text_cache: dict[tuple[int, ...], str] = {}
        self._end_id: int | None = None
        # A private loop in a thread: the sync Backend API works the same from scripts, notebooks and
        # async servers (asyncio.run would fail inside a running loop), and the connection pool persists.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="unireward-openai", daemon=True)
        self._thread.start()
        weakref.finalize(self, _stop, self._loop)  # no thread left behind when dropped unclosed
        self._client: httpx.AsyncClient | None = None
        self._limits: list[asyncio.Semaphore] = []

    def describe(self) -> dict:
        return {
            "backend": self.name,
            "model": self.model_name,
            "base_urls": list(self.base_urls),
            "video_input": self.video_input,
        }

    def close(self) -> None:
        """Close the connections and stop the private loop (the backend is unusable afterwards)."""
        if self._loop.is_closed():
            return
        if self._client is not None:
            self._run(self._client.aclose())
        _stop(self._loop)
        self._thread.join()
        self._loop.close()

    # -- the Backend API ----------------------------------------------------------------------------------

    def generate(
        self, batch: list[Prepared], max_new_tokens: int, temperature: float = 0.0, seed: int | None = None
    ) -> list[str]:
        """Answers at `temperature` (0: greedy), special tokens skipped and whitespace stripped as in hf;
        `seed` goes to the server (vLLM and SGLang honour a per-request seed)."""
        requests = [
            self._chat_body(build_messages(c, self.video_input, self.max_video_frames)) for c in batch
        ]
        for body in requests:
            body.update(max_tokens=max_new_tokens, temperature=temperature)
            if temperature > 0:
                body.update(top_p=1.0, **({} if seed is None else {"seed": seed}))
        servers = [self._pick_server() for _ in batch]
        replies = self._run(
            self._gather(self._post(s, "/v1/chat/completions", b) for s, b in zip(servers, requests))
        )
        texts = []
        for reply, server in zip(replies, servers):
            message = _first_choice(reply, self.base_urls[server]).get("message") or {}
            texts.append((message.get("content") or "").strip())
        return texts

    def continuation_logprobs(
        self, batch: list[Prepared], continuations: list[list[str]]
    ) -> list[list[float]]:
        """log P of each candidate's decisive prefix (see hf.py), computed by the server; NaN passes through
        so that the judge can refuse it."""
        if len(batch) != len(continuations):
            raise ValueError("one list of continuations per conversation is required")
        messages = [build_messages(c, self.video_input, self.max_video_frames) for c in batch]
        servers = [self._pick_server() for _ in batch]
        return self._run(
            self._gather(
                self._conversation_logprobs(s, m, c) for s, m, c in zip(servers, messages, continuations)
            )
        )

    # -- logit decisions ----------------------------------------------------------------------------------

    async def _conversation_logprobs(
        self, server: int, messages: list[dict], conts: list[str]
    ) -> list[float]:
        end = await self._end_token_id(server)
        tokens = await asyncio.gather(*(self._tokenize(server, c) for c in conts))
        prefixes = decisive_prefixes([t + [end] for t in tokens])
        contexts: dict[tuple[int, ...], set[int]] = {}
        for p in prefixes:
            contexts.setdefault(tuple(p[:-1]), set()).add(p[-1])
        scored = await asyncio.gather(
            *(self._context_logprobs(server, messages, ctx, sorted(nxt)) for ctx, nxt in contexts.items())
        )
        table = dict(zip(contexts, scored))
        out = []
        for p in prefixes:
            context_logprob, next_logprobs = table[tuple(p[:-1])]
            out.append(context_logprob + next_logprobs[p[-1]])
        return out

    async def _context_logprobs(
        self, server: int, messages: list[dict], context: tuple[int, ...], next_ids: list[int]
    ) -> tuple[float, dict[int, float]]:
        """(log P(context), {token: log P(token | context)}) with the context forced as the answer's start."""
        url = self.base_urls[server]
        body = self._chat_body(messages)
        body.update(
            max_tokens=1,
            temperature=0.0,
            logprobs=True,
            logprob_token_ids=next_ids,
            return_tokens_as_token_ids=True,
        )
        if context:
            text = await self._detokenize(server, context)
            body["messages"] = messages + [{"role": "assistant", "content": text}]
            body.update(add_generation_prompt=False, continue_final_message=True, prompt_logprobs=0)
        reply = await self._post(server, "/v1/chat/completions", body)
        steps = (_first_choice(reply, url).get("logprobs") or {}).get("content") or []
        top = (
            {_token_id(t.get("token"), url): t.get("logprob") for t in (steps[0].get("top_logprobs") or [])}
            if steps
            else {}
        )
        missing = [i for i in next_ids if i not in top]
        if missing:
            raise ServerError(
                f"{url} returned no log-probabilities for tokens {missing}: logits decisions need a vLLM "
                "server (it supports `logprob_token_ids`); use decision='generate' with other servers"
            )
        context_logprob = 0.0
        if context:
            prompt = reply.get("prompt_logprobs")
            if not prompt or len(prompt) < len(context):
                raise ServerError(
                    f"{url} returned no prompt log-probabilities: logits decisions need a vLLM server; "
                    "use decision='generate' with other servers"
                )
            for tok, entry in zip(context, prompt[-len(context) :]):
                if not entry or str(tok) not in entry:
                    got = sorted(entry or {})
                    raise ServerError(
                        f"{url} tokenised the forced answer start {text!r} differently (expected token "
                        f"{tok}, got {got}); the chat template or tokenizer joins it with the prompt, so its "
                        "log-probability would not match the hf backend's"
                    )
                context_logprob += _logprob(entry[str(tok)].get("logprob"))
        return context_logprob, {i: _logprob(top[i]) for i in next_ids}

    async def _end_token_id(self, server: int) -> int:
        if self._end_id is None:
            names = [self.end_token] if self.end_token else list(END_OF_TURN_TOKENS)
            for name in names:
                ids = await self._tokenize(server, name)
                if len(ids) == 1:
                    self._end_id = ids[0]
                    break
            else:
                raise ValueError(
                    f"{self.base_urls[server]}: none of {names} is a single token of the served model; "
                    "pass end_token='<the end-of-turn token>' to the openai backend"
                )
        return self._end_id

    async def _tokenize(self, server: int, text: str) -> list[int]:
        if text not in self._token_cache:
            body = {"model": self.model_name, "prompt": text, "add_special_tokens": False}
            reply = await self._post(server, "/tokenize", body)
            self._token_cache[text] = [int(t) for t in reply["tokens"]]
        return list(self._token_cache[text])

    async def _detokenize(self, server: int, tokens: tuple[int, ...]) -> str:
        if tokens not in self._text_cache:
            reply = await self._post(
                server, "/detokenize", {"model": self.model_name, "tokens": list(tokens)}
            )
            self._text_cache[tokens] = reply["prompt"]
        return self._text_cache[tokens]

    # -- transport ----------------------------------------------------------------------------------------

    def _chat_body(self, messages: list[dict]) -> dict:
        return {**self.extra_body, "model": self.model_name, "messages": messages}

    def _pick_server(self) -> int:
        return next(self._next_server) % len(self.base_urls)

    def _run(self, coro: Any) -> Any:
        if self._loop.is_closed():
            coro.close()
            raise RuntimeError("this OpenAIBackend was closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _gather(self, coros) -> list:
        return list(await asyncio.gather(*coros))

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            limits = httpx.Limits(max_connections=self.concurrency * len(self.base_urls))
            self._client = httpx.AsyncClient(timeout=self.timeout_s, headers=headers, limits=limits)
            self._limits = [asyncio.Semaphore(self.concurrency) for _ in self.base_urls]
        return self._client

    async def _post(self, server: int, path: str, body: dict) -> dict:
        """POST with retries: connection errors, timeouts, 408/429/5xx back off exponentially; any other
        4xx raises at once with the server's message (a bad request will not get better)."""
        client = self._ensure_client()
        url = self.base_urls[server] + path
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            async with self._limits[server]:
                try:
                    response = await client.post(url, json=body)
                except httpx.TransportError as e:
                    last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                    continue
            if response.status_code < 400:
                try:
                    return response.json()
                except ValueError:
                    raise ServerError(f"{url} answered with non-JSON: {response.text[:300]!r}") from None
            message = _server_message(response)
            if response.status_code not in RETRY_STATUS:
                raise ServerError(f"{url} rejected the request (HTTP {response.status_code}): {message}")
            last = f"HTTP {response.status_code}: {message}"
        raise ServerError(f"{url} failed after {self.retries + 1} attempts; last error: {last}")


# -- request building -----------------------------------------------------------------------------------


def build_messages(conv: Prepared, video_input: str = "video", max_video_frames: int = 32) -> list[dict]:
    """OpenAI chat messages for a prepared conversation: text parts as text, each image as a PNG data URL,
    each video as a frame list (see the module docstring), in placeholder order."""
    images, videos = iter(conv.images), iter(conv.videos)
    cache: dict[int, str] = {}  # a candidate shared by several placeholders is encoded once

    def image_part(img: Image.Image) -> dict:
        if id(img) not in cache:
            cache[id(img)] = png_base64(img)
        return {"type": "image_url", "image_url": {"url": "data:image/png;base64," + cache[id(img)]}}

    def video_parts(frames: list[Image.Image]) -> list[dict]:
        if video_input == "frames":
            return [image_part(f) for f in frames]
        if len(frames) > max_video_frames:
            raise ValueError(
                f"a video has {len(frames)} frames but the server keeps at most {max_video_frames} (vLLM "
                "drops the rest silently); lower the FramePolicy's frames, or start vLLM with "
                '--media-io-kwargs \'{"video": {"num_frames": -1}}\' and raise max_video_frames'
            )
        data = ",".join(image_part(f)["image_url"]["url"].split(",", 1)[1] for f in frames)
        return [{"type": "video_url", "video_url": {"url": "data:video/jpeg;base64," + data}}]

    out = []
    for message in conv.messages:
        content = message["content"]
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
            continue
        parts: list[dict] = []
        for part in content:
            kind = part.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image":
                parts.append(image_part(next(images)))
            elif kind == "video":
                parts += video_parts(next(videos))
            else:
                raise ValueError(f"unknown content part type {kind!r}; expected text, image or video")
        out.append({"role": message["role"], "content": parts})
    if next(images, None) is not None or next(videos, None) is not None:
        raise ValueError("the conversation has more media than image/video placeholders")
    return out


def png_base64(img: Image.Image) -> str:
    """Lossless, so the server decodes exactly the pixels the hf backend would use."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# -- response parsing -----------------------------------------------------------------------------------


def _stop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)


def _root(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base URL {url!r} must start with http:// or https://")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _first_choice(reply: dict, url: str) -> dict:
    choices = reply.get("choices") or []
    if not choices:
        raise ServerError(f"{url} answered without choices: {str(reply)[:300]}")
    return choices[0]


def _token_id(token: Any, url: str) -> int:
    """vLLM names tokens "token_id:<id>" when asked (`return_tokens_as_token_ids`)."""
    if isinstance(token, str) and token.startswith("token_id:"):
        return int(token.split(":", 1)[1])
    raise ServerError(
        f"{url} named a token {token!r} instead of 'token_id:<id>': logits decisions need a vLLM server "
        "(it supports return_tokens_as_token_ids); use decision='generate' with other servers"
    )


def _logprob(value: Any) -> float:
    """A float; NaN (JSON NaN or null) is kept as NaN for the judge to refuse."""
    return float("nan") if value is None else float(value)


def _server_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:1000]
        return str(err)[:1000]
    return str(data)[:1000]
