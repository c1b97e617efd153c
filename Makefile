# `make demo` installs Yavio into .venv, then `yavio demo` starts the self-hosted stack (unless it
# is running), fills a demo project with days of realistic traffic and opens the dashboard;
# DEMO_ARGS passes it options, e.g. `make demo DEMO_ARGS="--no-tui --events 2000"`.
# `make test` installs Yavio with its test tools and runs every test: the whole suite in .venv
# (with mcp 2.x), then the SDK's suite again against mcp 1.x and against fastmcp, each in its
# own environment (they cannot share one: fastmcp needs mcp 2.x). Before those, the widget hook
# (widget-js/) is installed, built and unit-tested: the browser test in the .venv suite loads its
# bundle, dist/yavio-widget.js, in the system's Chromium.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# fastmcp 4.1.3 and later need a certifi release the package registry here does not have yet.
MCP1 := mcp==1.30.0
FASTMCP := fastmcp==4.1.2
DEMO_ARGS ?=

.PHONY: demo test reliability install install-mcp1 install-fastmcp widget bench-sdk

# uv installs the packages: it downloads them in parallel and does not compile their bytecode up
# front, so an empty cache installs in seconds what pip takes about two minutes over (chdb's 180 MB
# wheel, pyarrow, pandas). pip only installs uv itself; the other environments need no pip.
UV_INSTALL := $(BIN)/uv pip install -q --python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: $(BIN)/python
	$(BIN)/pip install -qq uv

.venv-%/bin/python:
	$(PYTHON) -m venv --without-pip .venv-$*

install: $(BIN)/uv
	$(UV_INSTALL) $(BIN)/python -e '.[server,dev,mcp]'

install-mcp1: $(BIN)/uv .venv-mcp1/bin/python
	$(UV_INSTALL) .venv-mcp1/bin/python -e '.[server,dev]' '$(MCP1)'

install-fastmcp: $(BIN)/uv .venv-fastmcp/bin/python
	$(UV_INSTALL) .venv-fastmcp/bin/python -e '.[server,dev]' '$(FASTMCP)'

# playwright-core (the e2e driver's library) must never fetch a browser: /usr/bin/chromium is used.
widget:
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix widget-js --no-audit --no-fund --loglevel=error
	npm run --prefix widget-js --silent build
	npm test --prefix widget-js --silent -- --reporter=dot

demo: install
	$(BIN)/yavio demo $(DEMO_ARGS)

test: install install-mcp1 install-fastmcp widget
	YAVIO_TEST_FRAMEWORKS=mcp_v2 $(BIN)/python -m pytest -q
	YAVIO_TEST_FRAMEWORKS=mcp_v1 .venv-mcp1/bin/python -m pytest -q tests/sdk
	YAVIO_TEST_FRAMEWORKS=fastmcp,mcp_v2 .venv-fastmcp/bin/python -m pytest -q tests/sdk

# The reliability suite at the sizes docs/RELIABILITY.md reports (`make test` runs it small).
reliability: install
	YAVIO_RELIABILITY=long $(BIN)/python -m pytest -q -p no:randomly tests/reliability

bench-sdk: install install-mcp1 install-fastmcp
	$(BIN)/python bench/sdk_overhead.py --framework mcp_v2
	.venv-mcp1/bin/python bench/sdk_overhead.py --framework mcp_v1
	.venv-fastmcp/bin/python bench/sdk_overhead.py --framework fastmcp
