# Every target sets up .venv first when it is missing (or when pyproject.toml changed since).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch and torchvision are pinned to the builds this project is tested with; pip must not pick others.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: setup test test-all quality format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH) -e ".[dev]"
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest

test-all: setup
	$(BIN)/python -m pytest -m ""

quality: setup
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs

format: setup
	$(BIN)/ruff check --fix src tests benchmarks docs
	$(BIN)/ruff format src tests benchmarks docs

bench: setup
	$(BIN)/python benchmarks/bench_decode.py
	$(BIN)/python benchmarks/bench_data.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache benchmarks/_work
