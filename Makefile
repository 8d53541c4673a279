# The quick start: `make demo` runs the main job, `make test` runs the tests.
# Both first install the project and what it needs (torch's CPU wheel pinned so pip
# doesn't pull a multi-GB CUDA build).
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test bench fuzz-install fuzz fuzz-smoke

install:
	$(PYTHON) -m pip install -q "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -q -e ".[test]"

# LeNet-300-100 on the embedded 30,000-image MNIST subset: about a minute on 2 cores.
demo: install
	$(PYTHON) -m pycodec compress --out lenet_300_100.dcz --run-dir runs/demo --shift 2 --threads 1 \
		--baseline-epochs 10 --prune-steps 3 --prune-epochs 4 --finetune-epochs 2
	$(PYTHON) -m pycodec dump lenet_300_100.dcz

# Tests, then every benchmark once on small inputs (a smoke run, not a measurement).
test: install
	$(PYTHON) -m pytest tests
	PYCODEC_BENCH_SMOKE=1 $(PYTHON) -m pytest benchmarks --benchmark-disable -q
	$(MAKE) --no-print-directory fuzz-smoke

# The measurements reported in benchmarks/README.md.
bench: install
	$(PYTHON) -m pytest benchmarks --benchmark-columns=min,median,ops --benchmark-sort=name

# Fuzzing (tools/fuzz/README.md). Findings land in $(FUZZ_OUT)/findings and fail the run.
SECONDS ?= 120
FUZZ_SEED ?= 0
FUZZ_OUT ?= build/fuzz

fuzz-install: install
	$(PYTHON) -m pip install -q -e ".[test,fuzz]"

# As long as asked: half structure-aware, a quarter each for the atheris targets.
fuzz: fuzz-install
	$(PYTHON) tools/fuzz/run.py --seconds $$(( $(SECONDS) / 2 )) --seed $(FUZZ_SEED) --out $(FUZZ_OUT)/structure
	mkdir -p $(FUZZ_OUT)/load-corpus $(FUZZ_OUT)/codec-corpus
	$(PYTHON) tools/fuzz/atheris_targets.py load $(FUZZ_OUT)/load-corpus -max_total_time=$$(( $(SECONDS) / 4 )) \
		-timeout=10 -rss_limit_mb=4096 -seed=$(FUZZ_SEED) -artifact_prefix=$(FUZZ_OUT)/load-
	$(PYTHON) tools/fuzz/atheris_targets.py codec $(FUZZ_OUT)/codec-corpus -max_total_time=$$(( $(SECONDS) / 4 )) \
		-timeout=10 -rss_limit_mb=4096 -seed=$(FUZZ_SEED) -artifact_prefix=$(FUZZ_OUT)/codec-

# The CI gate (part of `make test`): a fixed-seed structure-aware run, then the ASan/UBSan
# build of the core with the codec tests, the stream mutator and a short fuzz against it.
fuzz-smoke:
	$(PYTHON) tools/fuzz/run.py --runs 150 --seed 0 --out $(FUZZ_OUT)/smoke
	SANITIZE_ROUNDS=3000 SANITIZE_FUZZ_RUNS=40 SANITIZE_OUT=$(FUZZ_OUT)/smoke-asan bash tools/sanitize.sh 0
