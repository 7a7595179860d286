# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.omasgan-installed
SOURCES := setup.py omasgan/_build.py MANIFEST.in $(shell find csrc -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' 2>/dev/null)

.PHONY: install test demo bench bench-baseline bench-compare clean peers peers-install

install: $(STAMP)

$(STAMP): $(SOURCES) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check numpy scikit-learn tqdm matplotlib \
		pytest pytest-benchmark hypothesis filelock pyyaml onnx onnxscript onnxruntime setuptools wheel ninja
	$(BIN)/pip install -q --disable-pip-version-check --no-build-isolation -e .
	touch $@

test: $(STAMP)
	TRITON_INTERPRET=1 OMASGAN_REQUIRE_BACKENDS=torch,cpu,triton $(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/omasgan demo

bench: $(STAMP)
	$(BIN)/python -m pytest -q benchmarks --benchmark-only --benchmark-columns=min,median,max,rounds \
		--benchmark-json=benchmarks/results/latest.json

# Tracking the kernels' speed (README "Kernels"): each kernel's time as a RATIO to its same-run torch
# reference, against a saved baseline (absolute times do not carry across machines). A small set,
# a few minutes on 2 shared cores. `make bench-baseline` saves a new baseline (into BENCH_STORAGE:
# keep your own with BENCH_STORAGE=.benchmarks/mine); `make bench-compare` runs the set, shows
# pytest-benchmark's comparison with the latest baseline there (or BENCH_BASELINE=FILE), and fails
# (exit 1) when a ratio grew by more than BENCH_MARGIN (benchmarks/compare_ratios.py).
BENCH_TRACKED ?= benchmarks/bench_min_distance.py::test_forward_backward benchmarks/bench_min_distance.py::test_p_other benchmarks/bench_pairwise_distance.py \
	benchmarks/bench_dispersion.py benchmarks/bench_f_divergence.py
BENCH_SELECT  ?= not torch_expand and not omasgan_cpu_kernel
BENCH_STORAGE ?= benchmarks/baseline
BENCH_BASELINE = $(lastword $(sort $(wildcard $(BENCH_STORAGE)/*/*.json)))
BENCH_MARGIN  ?= 0.25
BENCH_ROUNDS  ?= 5
BENCH_RUN      = OMASGAN_BENCH_ROUNDS=$(BENCH_ROUNDS) $(BIN)/python -m pytest -q -p no:cacheprovider $(BENCH_TRACKED) \
	-k "$(BENCH_SELECT)" --benchmark-only --benchmark-columns=min,median,rounds --benchmark-sort=name

bench-baseline: $(STAMP)
	$(BENCH_RUN) --benchmark-storage=file://$(BENCH_STORAGE) --benchmark-save=baseline

bench-compare: $(STAMP)
	@test -n "$(BENCH_BASELINE)" || { echo "no baseline under $(BENCH_STORAGE)/: run make bench-baseline"; exit 2; }
	@mkdir -p .benchmarks
	$(BENCH_RUN) --benchmark-compare=$(BENCH_BASELINE) --benchmark-json=.benchmarks/compare-latest.json
	$(BIN)/python benchmarks/compare_ratios.py $(BENCH_BASELINE) .benchmarks/compare-latest.json --margin $(BENCH_MARGIN)

clean:
	rm -rf build *.egg-info omasgan/_C*.so

# Peer implementations (anomalib's GANomaly, PyOD's detectors) on our MNIST LOO splits: not library
# dependencies; benchmarks/peers/README.md. PEERS_ARGS picks peers/classes, e.g.
#   make peers PEERS_ARGS="--peers pyod-knn --classes 0,1"
PEERS_STAMP := $(VENV)/.omasgan-peers-installed
PEERS_ARGS  ?=

peers-install: $(PEERS_STAMP)

$(PEERS_STAMP): benchmarks/peers/requirements.txt $(STAMP)
	$(BIN)/pip install -q --disable-pip-version-check -r benchmarks/peers/requirements.txt
	$(BIN)/python -c "import torch, torchvision; assert torch.__version__.split('+')[0] == '2.14.1' and torchvision.__version__.split('+')[0] == '0.29.1', (torch.__version__, torchvision.__version__)"
	touch $@

peers: $(PEERS_STAMP)
	$(BIN)/python benchmarks/peers/run_peers.py $(PEERS_ARGS)
