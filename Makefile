# Every target that builds, runs or checks installs what it needs first (scripts/setup.sh skips what is
# already there).
CARGO ?= cargo
# Where cargo puts the binaries: $CARGO_TARGET_DIR if the environment sets it, else target/.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN := $(TARGET_DIR)/release/experiments
SPECS := $(wildcard experiments/*.toml)
QUICK ?=
QUICK_FLAG := $(if $(QUICK),--quick,)
# Processes of `make figures` (run --jobs, sharing the batches): one per core by default; JOBS=1 runs one.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

.PHONY: all setup build figures check-figures slurm-check python python-test theory bench test lint fmt clean-results

all: figures

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace

## Regenerate every figure in figures/ from the specs in experiments/ (QUICK=1: reduced sizes,
## into figures/quick/) with JOBS processes sharing the batches, then the merge (same CSV bytes as one process).
## Cached runs are reused, so with nothing changed this takes seconds.
figures: build
	$(BIN) run --jobs $(JOBS) $(QUICK_FLAG) $(SPECS)
	$(if $(QUICK),,$(BIN) gallery)

## CI's figure check: every full-size spec validates, quick mode draws every figure (non-empty files).
check-figures: build
	$(BIN) validate $(SPECS)
	$(BIN) run --quick $(SPECS) > /dev/null
	@for spec in $(SPECS); do \
	  name=$$(basename "$$spec" .toml); \
	  for ext in png svg; do \
	    f=figures/quick/$$name.$$ext; \
	    if [ -s "$$f" ]; then echo "ok $$f"; else echo "MISSING OR EMPTY: $$f"; exit 1; fi; \
	  done; \
	done

## Slurm: start a one-node cluster on localhost (installs slurm-wlm and munge), run the quick figures
## as a job array of 3 shards plus the merge job, then as 3 claiming tasks plus theirs, and compare
## the CSVs with one process, byte for byte.
slurm-check: build
	SWEEP_BIN=$(BIN) bash scripts/slurm/ci-check.sh

## Theory checks at full size: writes theory/REPORT.md and theory/report.json; fails if a check fails.
theory: build
	$(TARGET_DIR)/release/theory --out theory

## Benchmark (crates/bench): machine limits, ms per iteration of each engine path and algorithm, and
## the time of a full `make figures`; writes bench/results.json (method and history: bench/README.md).
## Then one GD iteration and a batch of 32 through Python against the command line (bench/python.txt).
bench: build python
	$(TARGET_DIR)/release/bench --out bench/results.json
	.venv/bin/python examples/python/bench.py "$(abspath $(BIN))" > bench/python.txt.tmp
	mv bench/python.txt.tmp bench/python.txt && cat bench/python.txt

## Run the test suite (unit, numerical and pipeline tests, doc examples, the core's example
## program), then fmt and clippy checks, then the Python module's tests (pytest, after `make python`).
## The tests build in the release profile, so the binaries and the Python module below reuse their
## compiled dependencies (one optimized build of the tree instead of three; debug assertions are off,
## as in the binaries; plain `cargo test` keeps them, in the test profile at opt-level 2).
## scripts/check-locks.py keeps the Python module's lock file on the workspace's versions, which
## that reuse needs. The example runs from the workspace's build: `cargo run -p lowrank-core` alone
## would resolve other features and compile the tree once more.
test: setup
	python3 scripts/check-locks.py
	$(CARGO) test --release --workspace
	$(CARGO) build --release --workspace --examples -q
	$(TARGET_DIR)/release/examples/compare_algorithms
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps -q
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(MAKE) python-test

## Build the Python module `lowrank` into .venv/ (installs python3-dev, python3-venv, maturin, numpy,
## pandas, pytest where missing).
python: setup
	bash scripts/python-setup.sh

## The Python module's tests (pytest), its fmt and clippy checks; they compare with the CLI binary.
python-test: python build
	$(CARGO) fmt --manifest-path crates/python/Cargo.toml -- --check
	PYO3_PYTHON="$(abspath .venv/bin/python)" CARGO_TARGET_DIR="$(abspath $(TARGET_DIR))" $(CARGO) clippy --release --manifest-path crates/python/Cargo.toml -- -D warnings
	LOWRANK_EXPERIMENTS_BIN="$(abspath $(BIN))" .venv/bin/python -m pytest -q crates/python/tests

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: setup
	$(CARGO) fmt --all

clean-results:
	rm -rf results
