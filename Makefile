# Two commands a newcomer needs: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test test-slow lint bench gallery clean chromium serve-screenshot

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev,web]'
	touch $@

# tests/test_serve.py drives Debian's chromium with Playwright (Playwright's own browser download
# is not used). Installed when missing and apt-get can (as root); otherwise that test is skipped,
# and fails under CI=true.
chromium:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "note: chromium not installed; the serve page's browser test will be skipped"

demo: $(VENV)/.installed
	$(VENV)/bin/jaxstyle weights verify
	$(VENV)/bin/jaxstyle demo --output outputs/

test: $(VENV)/.installed-dev chromium
	$(PY) -m pytest -q -n auto --dist loadfile

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m slow -n auto --dist loadfile

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check jaxstyle tests benchmarks configs

# docs/serve.png: the browser test's screenshot of a larger gatys run (about a minute on 2 CPU cores)
serve-screenshot: $(VENV)/.installed-dev chromium
	JAXSTYLE_SERVE_SCREENSHOT=docs/serve.png $(PY) -m pytest -q tests/test_serve.py -k browser_runs_gatys

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/gatys_vs_torch.py

clean:
	rm -rf $(VENV) outputs
