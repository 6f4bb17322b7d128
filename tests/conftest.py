"""Session fixtures: tiny random models of real architectures, built offline once per run."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ARCHS = ("qwen2_vl", "llava_onevision")

# Tiny models gain nothing from a second thread, and torch's spinning worker threads slow down ~50x
# when another process shares the cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Returns a function arch -> path of a tiny model (built on first use)."""
    from unireward.tiny import build_tiny_model

    built: dict[str, str] = {}

    def get(arch: str) -> str:
        if arch not in built:
            built[arch] = str(build_tiny_model(arch, tmp_path_factory.mktemp(arch)))
        return built[arch]

    return get


@pytest.fixture(scope="session", params=ARCHS)
def tiny_judge(request, tiny_model_dir):
    from unireward.judge import load_judge

    return load_judge(tiny_model_dir(request.param), max_new_tokens=8)


def random_image(seed: int, size: int = 64) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((size, size, 3)) * 255).astype("uint8"))


def random_video(seed: int, frames: int = 8, size: int = 64) -> list[Image.Image]:
    return [random_image(seed * 100 + k, size) for k in range(frames)]
