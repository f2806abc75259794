VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= cluster.toml

.PHONY: up test lint bench clean

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

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	$(PY) -m bench.meta
	$(PY) -m bench.data

clean:
	rm -rf .fahadfs
