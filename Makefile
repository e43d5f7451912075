# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo stop test stack-test lint bench peers study clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# The CPU wheel first: a plain `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pipelines.demo

stop:
	@test -x $(BIN)/python && $(BIN)/python -m pipelines.demo stop || true

test: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(BIN)/ruff check forecast pipelines service tests benchmarks
	$(BIN)/python -m pytest

# The docker-compose topology as plain processes (also part of `make test`).
stack-test: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(BIN)/python -m pytest tests/stack -v

# Figures: default-task accuracy and the serving load test (see benchmarks/results/).
bench: $(STAMP)
	$(BIN)/python benchmarks/train_default.py
	$(BIN)/python benchmarks/serve_load.py

# This project beside NeuralForecast and Darts (docs/benchmarks.md); PRESET=full for the figures.
PRESET ?= quick
peers: $(STAMP)
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/python benchmarks/peers.py --preset $(PRESET)

# The RNN-vs-attention study behind docs/study.md (about an hour on 2 cores).
study: $(STAMP)
	$(BIN)/forecast study --config study-full --output docs

lint: $(STAMP)
	$(BIN)/ruff check forecast pipelines service tests benchmarks

clean:
	rm -rf $(VENV) mlruns mlflow.db .forecast
