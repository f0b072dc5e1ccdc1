# Everything a fresh clone needs: `make demo` runs the main job, `make test` the tests.
# Both (re)create .venv, install pinned packages, provision model weights and sample photos.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RB := $(VENV)/bin/refbench
DB := data/refbench.duckdb
LAB_PORT ?= 8888
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := 0
export YOLO_CONFIG_DIR := $(CURDIR)/.ultralytics
export ORT_DISABLE_TELEMETRY := 1
export U2NET_HOME := $(CURDIR)/data/models/u2net

.PHONY: setup venv models samples demo lab chromium test bench bench-gpu fuzz lint gpu clean

setup: venv models samples

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, the local CPU build: otherwise Ultralytics pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	# rembg imports pymatting, whose numba kernels compile on first import (~70 s) and cache
	# beside pymatting in .venv: pay it once, here, for every later command and test.
	$(PY) -c "import rembg"
	touch $@

models: venv
	$(RB) models pull

samples: venv
	$(RB) samples pull

demo: setup
	$(RB) manifest data/samples/photos
	$(RB) describe
	$(RB) assets add data/samples/library
	# Curation: the sample identities' names (tags as in data/samples/scenes.yaml), for `plan --auto`.
	$(RB) assets rename CHAR_01 "Jacinda Ardern" && $(RB) assets rename CHAR_02 "Eileen Collins"
	$(RB) assets rename CHAR_03 "Joe Biden" && $(RB) assets rename CHAR_12 "Emmanuel Macron"
	$(RB) assets rename CHAR_13 "Barack Obama" && $(RB) assets rename CHAR_14 "Rishi Sunak"
	$(RB) assets rename CHAR_15 "Tom Hanks"
	$(RB) index
	$(RB) search "brick wall" -k 5
	$(RB) search --image data/samples/photos/obama_2.jpg -k 3 --json
	$(RB) plan data/samples/scenes.yaml --dry-run
	$(RB) plan data/samples/scenes_auto.yaml --auto --dry-run
	$(RB) report notebooks/04_manifest_report.ipynb -p db_path data/refbench.duckdb

# JupyterLab on 127.0.0.1 with the notebooks open; prints the URL with its token. Needs a workspace to explore.
lab: setup $(DB)
	$(RB) lab --port $(LAB_PORT)

$(DB):
	$(RB) manifest data/samples/photos --db $(DB)

# Debian's chromium for the real-browser test (tests/test_browser.py, Playwright with executable_path).
# Never `playwright install`: it downloads browsers. Quick when chromium is already there.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] || { echo "make chromium: run as root (apt-get)"; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup chromium
	$(PY) -m pytest -q tests

# 11,000 mutated images through the decoder and a run over mutated files: zero unhandled exceptions expected.
fuzz: setup
	REFBENCH_FUZZ_CASES=11000 $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

# ~30 min on 2 cores (BENCH_QUICK=1: smaller sizes, ~5 min); results in DuckDB and reports/bench.md.
bench: setup
	$(PY) -m refbench.pipelines.bench

# On a CUDA machine, as is: onnxruntime-gpu goes in last, then images/s with the provider in use
# (reports/bench_gpu.md; BENCH_GPU_ARGS="--photos 300 --workers 8" to change the defaults).
bench-gpu: setup gpu
	$(PY) -m refbench.pipelines.bench_gpu $(BENCH_GPU_ARGS)

lint: venv
	$(VENV)/bin/ruff check lib tests flows
	$(VENV)/bin/ruff format --check lib tests flows

# On a CUDA machine: onnxruntime-gpu must be installed last (it shares onnxruntime's folder).
gpu: venv
	$(PY) -m pip install -q --force-reinstall --no-deps onnxruntime-gpu==1.31.1

clean:
	rm -rf $(VENV) data/refbench.duckdb data/files reports/*.html reports/*.ipynb
