# `make demo` installs Yavio into .venv and brings the self-hosted stack up.
# `make test` installs Yavio with its test tools into .venv and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -qq -e '.[server,dev]'

demo: install
	$(BIN)/yavio up
	$(BIN)/yavio status

test: install
	$(BIN)/python -m pytest -q
