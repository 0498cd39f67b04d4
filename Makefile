# Every target sets up .venv first when it is missing (or when pyproject.toml changed since).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch and torchvision are pinned to the builds this project is tested with; pip must not pick others.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test test-min test-all quality format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH) -e ".[dev]"
	touch $(STAMP)

# The demo: synthetic suturing videos -> train a small 3D CNN on the CPU -> evaluate on held-out surgeons ->
# score two videos of surgeons nobody has seen (see recipes/demo/README.md).
DEMO_LAUNCH := $(BIN)/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no

demo: setup
	$(BIN)/surgical-skill synth data/demo --num-videos 160 --size 112 112 --trials-per-subject 2 --seed 0 --reuse
	$(BIN)/surgical-skill synth data/demo-new --num-videos 2 --size 112 112 --seed 2027 --workers 1 --reuse
	$(DEMO_LAUNCH) recipes/train.py recipes/demo/config_demo.yaml --overwrite_output_dir true
	$(BIN)/surgical-skill predict data/demo-new/videos/S000_trial1.mp4 data/demo-new/videos/S001_trial1.mp4 \
		--model runs/demo/model --plot runs/demo/predictions --json runs/demo/predictions/predictions.json
	$(BIN)/python recipes/demo/summary.py runs/demo

test: setup
	$(BIN)/python -m pytest

# The floors: a second environment, .venv-min, made afresh whenever pyproject.toml changes, on the oldest supported
# Python, with every direct dependency at the lowest version pyproject.toml allows (uv's --resolution lowest-direct;
# torch pinned as above; what they pull in at its newest) and the package built with the oldest setuptools allowed;
# then the suite and the linters there. tests/test_dependencies.py checks that each floor really is what got
# installed. uv reads PyPI unless told otherwise (UV_INDEX_URL, UV_EXTRA_INDEX_URL): it does not read pip.conf.
PYTHON_MIN ?= python3.11
VENV_MIN := .venv-min
STAMP_MIN := $(VENV_MIN)/.installed
FLOORS_OF_BUILD := import tomllib; print(*[r.replace(">=", "==") for r in tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]], sep="\n")

$(STAMP_MIN): pyproject.toml
	rm -rf $(VENV_MIN)
	$(PYTHON_MIN) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet "uv>=0.5"
	$(VENV_MIN)/bin/python -c '$(FLOORS_OF_BUILD)' > $(VENV_MIN)/build-constraints.txt
	$(VENV_MIN)/bin/uv pip install --quiet --python $(VENV_MIN)/bin/python --resolution lowest-direct \
		--build-constraints $(VENV_MIN)/build-constraints.txt $(TORCH) -e ".[dev]"
	touch $(STAMP_MIN)

test-min: $(STAMP_MIN)
	SURGICAL_SKILL_EXPECT_FLOORS=1 $(VENV_MIN)/bin/python -m pytest
	$(VENV_MIN)/bin/ruff check src tests benchmarks docs recipes
	$(VENV_MIN)/bin/ruff format --check src tests benchmarks docs recipes

test-all: setup
	$(BIN)/python -m pytest -m ""

quality: setup
	$(BIN)/ruff check src tests benchmarks docs recipes
	$(BIN)/ruff format --check src tests benchmarks docs recipes

format: setup
	$(BIN)/ruff check --fix src tests benchmarks docs recipes
	$(BIN)/ruff format src tests benchmarks docs recipes

# Every benchmark one after another, then benchmarks/README.md rebuilt from what they measured (under 20 min).
bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(VENV_MIN) build dist src/*.egg-info .pytest_cache .ruff_cache benchmarks/_work
