# One-command set-up: `make demo` and `make test` create .venv when missing and install first.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= $(CURDIR)/.demo
PYTEST_ARGS ?= -n 2

.PHONY: install demo test test-pg lint browser clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy  # files and strictness: [tool.mypy] in pyproject.toml

demo: install
	@# A previous demo's Prefect server lives in DEMO_HOME: stop it before its folder goes.
	@test ! -d $(DEMO_HOME) || TANDEM_HOME=$(DEMO_HOME) $(BIN)/tandem server stop
	rm -rf $(DEMO_HOME)
	TANDEM_HOME=$(DEMO_HOME) $(BIN)/python -m deployments.demo

# The browser tests drive Debian's chromium (system package), and Chinese pages need a CJK font:
# install both once, as root, when missing.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
browser:
	@test -x /usr/bin/chromium -a -f $(CJK_FONT) || \
		{ apt-get update && apt-get install -y chromium fonts-wqy-microhei; }

test: install lint browser
	$(BIN)/pytest -m 'not integration' $(PYTEST_ARGS)  # integration: its own step in .ci/run

clean:
	@test ! -d $(DEMO_HOME) || TANDEM_HOME=$(DEMO_HOME) $(BIN)/tandem server stop
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache
