# ruff: noqa: E501  (command examples in the help text are kept on one line, as in unireward/cli.py)
"""`unireward serve`: run the HTTP reward server (registered on the main typer app in unireward/cli.py).

Also runnable alone: `python -m unireward.serve.cli --model rm/ --port 8000`.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

SERVE_HELP = """
Serve a reward model over HTTP: POST /v1/rank, POST /v1/score, the OpenRLHF-compatible POST /get_reward,
GET /health and GET /metrics (Prometheus). Requests arriving together are micro-batched into one model call.

**Examples**

- local, default model: `unireward serve --port 8000`

- a released checkpoint, token-protected, media paths under /data:
  `UNIREWARD_TOKEN=secret unireward serve -m CodeGoat24/UnifiedReward-qwen-7b --protocol v1-qwen --host 0.0.0.0 --media-root /data`

- score one image: `curl -s localhost:8000/v1/score -H 'Content-Type: application/json' -d '{"items": [{"task": "image_gen", "prompt": "a red circle", "candidate": {"path": "a.png"}}]}'`

Media fields take `{"base64": "..."}`, a `data:` URL or `{"path": "..."}` relative to --media-root (paths
are refused without it). See docs/rl.md for TRL GRPO, OpenRLHF and Flow-GRPO recipes.
"""


def serve(
    model: str = typer.Option(
        None, "--model", "-m", help="Checkpoint directory or hub id. Default: the shipped model."
    ),
    protocol: str = typer.Option(
        None, help="v1 | v1-qwen | v2 | think. Default: recorded with the model, else v1."
    ),
    decision: str = typer.Option(
        None, help="logits | generate. Default: the model's recorded choice, else logits."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    token: str = typer.Option(
        None, envvar="UNIREWARD_TOKEN", help="Require 'Authorization: Bearer TOKEN' (env UNIREWARD_TOKEN)."
    ),
    media_root: Path = typer.Option(
        None, help="Directory that {'path': ...} media are read from (else refused)."
    ),
    max_request_bytes: int = typer.Option(
        64 * 1024 * 1024, help="Largest request body accepted (413 above)."
    ),
    max_items: int = typer.Option(512, help="Most items per request (413 above)."),
    timeout_s: float = typer.Option(300.0, "--timeout-s", help="Per-request time limit (504 after it)."),
    batching: str = typer.Option(
        "on", help="on (micro-batch concurrent requests) | off (one call per request)."
    ),
    max_batch_size: int = typer.Option(32, help="Most items per model call."),
    max_wait_ms: float = typer.Option(5.0, help="How long a batch waits for more items before running."),
    reward_task: str = typer.Option("image_und", help="Task of /get_reward items (OpenRLHF sends none)."),
    failed_reward: float = typer.Option(
        None, help="/get_reward value for a failed item (default: null, with the reason in `failures`)."
    ),
    num_frames: int = typer.Option(8, "--num-frames", help="Frames sampled uniformly from each video."),
    device: str = typer.Option("auto", help="cpu | cuda | auto."),
    dtype: str = typer.Option("auto", help="auto | float32 | bfloat16 | float16."),
    samples: int = typer.Option(
        1,
        min=1,
        help="Answers sampled per item and averaged where the decision generates (1: greedy); each reward "
        "then costs that many generations.",
    ),
    temperature: float = typer.Option(1.0, help="Sampling temperature for --samples > 1."),
    threads: int = typer.Option(None, help="torch CPU threads (default: torch's choice)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    import uvicorn

    from unireward.judge import JudgeConfig, load_judge
    from unireward.media import FramePolicy
    from unireward.serve.app import ServeConfig, create_app

    try:
        config = ServeConfig(
            host=host, port=port, token=token or None, media_root=media_root,
            max_request_bytes=max_request_bytes, max_items=max_items, timeout_s=timeout_s, batching=batching,
            max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, reward_task=reward_task,
            failed_reward=failed_reward,
        )  # fmt: skip
        JudgeConfig(samples=samples, temperature=temperature)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    if threads:
        import torch

        torch.set_num_threads(threads)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        typer.echo(
            f"warning: serving on {host} without a token; anyone who can reach it can use it", err=True
        )
    judge = load_judge(
        model, protocol=protocol, decision=decision, batch_size=max_batch_size,
        frame_policy=FramePolicy(num_frames=num_frames), device=device, dtype=dtype, samples=samples,
        temperature=temperature,
    )  # fmt: skip
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    uvicorn.run(create_app(judge, config), host=host, port=port, log_level=log_level)


if __name__ == "__main__":
    _app = typer.Typer(add_completion=False, rich_markup_mode="markdown")
    _app.command(help=SERVE_HELP)(serve)
    _app()
