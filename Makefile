# Two commands set everything up on a fresh Linux machine with Python 3.11+:
#   make serve   run the platform on 127.0.0.1:8080 (SQLite under ./.faas/)
#   make test    run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: serve test lint bench soak clean node-extras

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamps re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

serve: $(VENV)/.installed
	$(BIN)/faas serve $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check faas runtimes tests bench
	$(BIN)/ruff format --check faas runtimes tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The official Lambda Node.js runtime client (its tests skip without it) and the AWS SDK for
# JavaScript the nodejs runtimes offer; a no-op once installed. See scripts/install-node-extras.sh.
node-extras:
	scripts/install-node-extras.sh

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run $(ARGS)

# Not part of `make test`: 1,000,000 invocations with workers SIGKILLed (bench/soak.py; about
# 5-10 minutes on 2 cores). ARGS="--invocations 20000" for a short one.
soak: $(VENV)/.installed-dev
	$(BIN)/python -m bench.soak $(ARGS)

clean:
	rm -rf $(VENV) .faas .pytest_cache .mypy_cache .ruff_cache
