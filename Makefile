VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= cluster.toml

.PHONY: up test lint bench chaos-soak clean

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

up: $(VENV)/.installed
	$(VENV)/bin/fahadfs cluster up -c $(CONFIG)

test: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q
	$(PY) -m chaos --mode ci

chaos-soak: $(VENV)/.installed
	$(PY) -m chaos --mode soak --duration 600 --seeds 1..5

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	$(PY) -m bench.meta
	$(PY) -m bench.data
	$(PY) -m bench.heal

clean:
	rm -rf .fahadfs
