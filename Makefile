# The two README commands: `make run` (install, start the server on the bundled model, load and
# search a demo collection) and `make test` (install what tests need, run them).
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 50051

.PHONY: install run test proto lint

install: $(VENV)/.installed

# torch==2.13.0 first and exactly: a looser requirement pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[server,dev]'
	touch $@

run: install
	$(PY) scripts/run_demo.py --port $(PORT)

test: install
	$(PY) -m pytest -q

proto: install
	$(PY) scripts/gen_proto.py

lint: install
	$(VENV)/bin/ruff check src tests scripts bench
	$(VENV)/bin/ruff format --check src tests scripts bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
