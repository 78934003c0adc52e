# Every target installs what it needs first (scripts/setup.sh skips what is already there).
CARGO ?= cargo
BIN := target/release/experiments
SPECS := $(wildcard experiments/*.toml)
QUICK ?=
QUICK_FLAG := $(if $(QUICK),--quick,)

.PHONY: all setup build figures test lint fmt clean-results

all: figures

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace

## Regenerate every figure in figures/ from the specs in experiments/ (QUICK=1 for reduced sizes).
figures: build
	@for spec in $(SPECS); do \
	  echo "== $$spec"; \
	  $(BIN) run $(QUICK_FLAG) "$$spec" || exit 1; \
	done

## Run the test suite (unit, numerical and pipeline tests), then fmt and clippy checks.
test: setup
	$(CARGO) test --workspace
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-results:
	rm -rf results
