# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.omasgan-installed
SOURCES := setup.py $(shell find csrc -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' 2>/dev/null)

.PHONY: install test demo bench clean peers peers-install

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
