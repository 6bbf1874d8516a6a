# Shortcuts; scripts/test.sh and scripts/demo.sh are the real entry points.
VENV := .venv-test
PY := $(VENV)/bin/python

.PHONY: test test-all bench lint demo venv docs

## test: ruff + the default test suite in .venv-test (what CI runs)
test:
	./scripts/test.sh

## test-all: the same, slow exhaustive tests included
test-all:
	./scripts/test.sh -m "slow or not slow"

## bench: CPU cast benchmark (bench/cpu_cast.py) in .venv-test
bench: venv
	$(PY) bench/cpu_cast.py

## lint: ruff check in .venv-test
lint: venv
	$(PY) -m ruff check .

## docs: build the documentation site into docs/_build/html (warnings are errors)
docs: venv
	./scripts/docs.sh

## demo: install into .venv-demo and run the demo
demo:
	./scripts/demo.sh

## venv: create or refresh .venv-test without running anything
venv:
	FLOATSIM_SETUP_ONLY=1 ./scripts/test.sh
