# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.omasgan-installed
SOURCES := setup.py $(shell find csrc -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' 2>/dev/null)

.PHONY: install test demo bench clean

install: $(STAMP)

$(STAMP): $(SOURCES) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check numpy scikit-learn tqdm matplotlib \
		pytest pytest-benchmark hypothesis setuptools wheel ninja
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
