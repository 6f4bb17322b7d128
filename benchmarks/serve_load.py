"""Load test of `unireward serve`: N concurrent clients for a fixed time, micro-batching on versus off.

The server runs in a subprocess on 127.0.0.1 with a tiny random Qwen2-VL (built offline), one torch thread;
the clients are asyncio tasks in this process, each on its own keep-alive connection sending one-item
/v1/score requests back to back (the pattern of an RL trainer scoring rollouts). Every setting reports
throughput (items answered per second), request latency p50 / p99, HTTP errors, and items sent versus
results received (lost must be 0), with the server's own /metrics counts of items and model calls.

For scale, the judge alone is timed in process first: items/s one at a time versus max_batch_size at a time.
That ratio bounds what any batching server can gain on the machine (on one CPU thread a forward pass costs
about the same per item at any batch size; only per-call overhead is shared).

    python benchmarks/serve_load.py                 # writes benchmarks/results/serve_load.json
    python benchmarks/serve_load.py --clients 64 --duration 30

Traffic goes to the loopback address only; each setting stops after --duration seconds or --max-requests.

The GPU results were written by this script on a lent H200 (`--out` named each file; the JSON records the
settings and the command):

    python benchmarks/serve_load.py --device cuda --out benchmarks/results/serve_load_h200_c32.json
    python benchmarks/serve_load.py --device cuda --clients 64 --max-batch-size 64 --duration 20 \
        --out benchmarks/results/serve_load_h200_c64.json
    python benchmarks/serve_load.py --device cuda --model unireward/assets/default_model --clients 64 \
        --max-batch-size 64 --out benchmarks/results/serve_load_h200_default_model_c64_15s.json
    python benchmarks/serve_load.py --device cuda --model unireward/assets/default_model --clients 64 \
        --max-batch-size 64 --duration 60 --out benchmarks/results/serve_load_h200_default_model_c64_60s.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _results import rerun_command
from PIL import Image

RESULTS = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, batching: str, args, log: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "unireward.serve.cli", "--model", str(model), "--host", HOST,
        "--port", str(port), "--batching", batching, "--max-batch-size", str(args.max_batch_size),
        "--max-wait-ms", str(args.max_wait_ms), "--threads", str(args.threads), "--device", args.device,
        "--log-level", "warning",
    ]  # fmt: skip
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": str(args.threads),
    }
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, limit_s: float = 180) -> None:
    deadline = time.time() + limit_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not healthy after {limit_s} s:\n{log.read_text()[-3000:]}")


def payloads(n: int, size: int) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        buf = io.BytesIO()
        Image.fromarray((rng.random((size, size, 3)) * 255).astype("uint8")).save(buf, format="PNG")
        data = base64.b64encode(buf.getvalue()).decode()
        out.append(
            {
                "task": "image_gen",
                "prompt": f"a red circle above {k % 7} blue squares",
                "candidate": {"base64": data},
            }
        )
    return out


async def post_json(reader, writer, port: int, path: str, body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on a kept-alive connection. A minimal client: with httpx's pool the load generator,
    which shares the cores with the server, spent more CPU per request than the server did."""
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
    writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    status_line, *headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:"))
    return int(status_line.split()[1]), await reader.readexactly(length)


async def load(port: int, items: list[dict], clients: int, duration: float, max_requests: int) -> dict:
    """N clients, each on its own connection sending one-item requests back to back until the deadline
    (requests in flight then are finished and counted)."""
    stats = {"sent": 0, "received": 0, "ok": 0, "item_failures": 0, "http_errors": 0, "latencies": []}
    counter = iter(range(max_requests))
    start = time.perf_counter()
    deadline = start + duration

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for k in counter:
                if time.perf_counter() >= deadline:
                    return
                item_id = f"i{k}"
                body = json.dumps({"items": [{**items[k % len(items)], "id": item_id}]}).encode()
                stats["sent"] += 1
                t0 = time.perf_counter()
                try:
                    status, payload = await asyncio.wait_for(
                        post_json(reader, writer, port, "/v1/score", body), 120
                    )
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                    stats["http_errors"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                stats["latencies"].append(time.perf_counter() - t0)
                if status != 200:
                    stats["http_errors"] += 1
                    continue
                for res in json.loads(payload)["results"]:
                    if res["id"] == item_id:
                        stats["received"] += 1
                        stats["ok" if res["failure"] is None else "item_failures"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    stats["elapsed_s"] = time.perf_counter() - start
    return stats


def server_counts(url: str) -> dict:
    """Items answered and model calls so far, from the server's own /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text

    def total(pattern: str) -> int:
        return int(sum(float(x) for x in re.findall(pattern, text, re.M)))

    return {
        "server_items": total(r'^unireward_items_total\{kind="point",outcome="\w+"\} (\S+)'),
        "model_calls": total(r"^unireward_batch_size_count (\S+)"),
    }


def run_setting(model: Path, batching: str, args, workdir: Path, items: list[dict]) -> dict:
    port = free_port()
    url = f"http://{HOST}:{port}"
    log = workdir / f"server-{batching}.log"
    proc = start_server(model, port, batching, args, log)
    try:
        wait_healthy(url, proc, log)
        for item in items[:4]:  # warm-up, not counted (the server's counters are read as differences)
            httpx.post(f"{url}/v1/score", json={"items": [item]}, timeout=60).raise_for_status()
        before = server_counts(url)
        stats = asyncio.run(load(port, items, args.clients, args.duration, args.max_requests))
        after = server_counts(url)
    finally:
        proc.terminate()
        proc.wait(30)
    lat = sorted(stats.pop("latencies"))
    calls = after["model_calls"] - before["model_calls"]
    served = after["server_items"] - before["server_items"]
    return {
        "batching": batching,
        "throughput_items_per_s": round(stats["ok"] / stats["elapsed_s"], 2),
        "latency_p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "latency_p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1) if lat else None,
        "requests": len(lat),
        "items_sent": stats["sent"],
        "results_received": stats["received"],
        "items_lost": stats["sent"] - stats["received"],
        "http_errors": stats["http_errors"],
        "item_failures": stats["item_failures"],
        "server_items_answered": served,
        "model_calls": calls,
        "mean_batch_size": round(served / max(calls, 1), 2),
        "elapsed_s": round(stats["elapsed_s"], 2),
    }


def model_ceiling(
    model: Path, items: list[dict], batch: int, seconds: float, threads: int = 1, device: str = "cpu"
) -> dict:
    """The judge alone, in process (`threads` torch threads): items/s one at a time versus `batch` at a
    time. Their ratio is the most micro-batching can give on this machine, whatever the server does."""
    import torch

    from unireward.judge import load_judge
    from unireward.tasks import PointItem

    torch.set_num_threads(threads)
    judge = load_judge(model, batch_size=batch, device=device)
    points = [
        PointItem("image_gen", it["prompt"], base64.b64decode(it["candidate"]["base64"]))
        for it in (items * (batch // len(items) + 1))[:batch]
    ]
    judge.score(points[:2])
    rates = {}
    for n in (1, batch):
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            judge.score(points[:n])
            done += n
        rates[n] = done / (time.perf_counter() - start)
    return {
        "batch_1_items_per_s": round(rates[1], 2),
        f"batch_{batch}_items_per_s": round(rates[batch], 2),
        "ceiling_speedup": round(rates[batch] / rates[1], 2),
    }


def machine_line(device: str, threads: int) -> str:
    """Where the figures were measured: the CPU, the GPU when the server ran on one, and the versions."""
    import torch
    import transformers

    gpu = (
        f", GPU {torch.cuda.get_device_name(torch.device(device))}"
        if device.startswith("cuda")
        else ", no GPU"
    )
    return (
        f"{platform.machine()} {os.cpu_count()} cores{gpu}; server on {device}, {threads} torch thread(s); "
        f"torch {torch.__version__}, transformers {transformers.__version__}"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", type=int, default=32, help="Concurrent clients (fill a batch: >= max batch)."
    )
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds of load per setting.")
    parser.add_argument("--max-requests", type=int, default=20000, help="Hard cap on requests per setting.")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--image-size", type=int, default=56)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads of the server (and the ceiling)"
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="Default: a tiny random Qwen2-VL built here."
    )
    parser.add_argument("--device", default="cpu", help="server device: cpu | cuda")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = args.model
        if model is None:
            from unireward.tiny import build_tiny_model

            model = build_tiny_model("qwen2_vl", workdir / "tiny")
        items = payloads(64, args.image_size)
        ceiling = model_ceiling(
            model, items, args.max_batch_size, seconds=5.0, threads=args.threads, device=args.device
        )
        settings = [run_setting(model, b, args, workdir, items) for b in ("off", "on")]

    off, on = settings
    result = {
        "benchmark": "serve_load",
        "command": rerun_command(__file__, argv),
        "machine": machine_line(args.device, args.threads),
        "model": "tiny qwen2_vl (TinySpec defaults, random weights)"
        if args.model is None
        else str(args.model),
        "request": f"POST /v1/score, 1 image_gen item ({args.image_size}x{args.image_size} PNG, base64)",
        "clients": args.clients,
        "duration_s": args.duration,
        "max_batch_size": args.max_batch_size,
        "max_wait_ms": args.max_wait_ms,
        "settings": settings,
        "speedup": round(on["throughput_items_per_s"] / max(off["throughput_items_per_s"], 1e-9), 2),
        "target_speedup": 3.0,
        "judge_alone": ceiling,
        "items_lost": off["items_lost"] + on["items_lost"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    cols = ["batching", "throughput_items_per_s", "latency_p50_ms", "latency_p99_ms", "items_sent",
            "results_received", "items_lost", "http_errors", "model_calls", "mean_batch_size"]  # fmt: skip
    print(" | ".join(cols))
    for s in settings:
        print(" | ".join(str(s[c]) for c in cols))
    print(
        f"speedup (on / off): {result['speedup']}x (target >= 3x); the judge alone, batch "
        f"{args.max_batch_size} vs 1: {ceiling['ceiling_speedup']}x; "
        f"items lost: {result['items_lost']} -> {args.out}"
    )
    return result


if __name__ == "__main__":
    main()
