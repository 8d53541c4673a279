# The quick start: `make demo` runs the main job, `make test` runs the tests.
# Both first install the project and what it needs (torch's CPU wheel pinned so pip
# doesn't pull a multi-GB CUDA build).
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test bench

install:
	$(PYTHON) -m pip install -q "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -q -e ".[test]"

demo: install
	$(PYTHON) -m pycodec compress --out lenet_300_100.dcz
	$(PYTHON) -m pycodec dump lenet_300_100.dcz

# Tests, then every benchmark once on small inputs (a smoke run, not a measurement).
test: install
	$(PYTHON) -m pytest tests
	PYCODEC_BENCH_SMOKE=1 $(PYTHON) -m pytest benchmarks --benchmark-disable -q

# The measurements reported in benchmarks/README.md.
bench: install
	$(PYTHON) -m pytest benchmarks --benchmark-columns=min,median,ops --benchmark-sort=name
