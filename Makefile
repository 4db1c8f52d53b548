# Two commands a newcomer needs: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test test-slow lint bench gallery clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/jaxstyle weights verify
	$(VENV)/bin/jaxstyle demo --output outputs/

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n auto --dist loadfile

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m slow -n auto --dist loadfile

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check jaxstyle tests benchmarks configs

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/gatys_vs_torch.py

clean:
	rm -rf $(VENV) outputs
