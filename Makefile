# The two commands: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SANDBOX := contrib/sandbox

.PHONY: demo test venv sandbox sandbox-down redis redis-down postgres postgres-down tools typecheck unit e2e bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

sandbox:
	$(SANDBOX) up

sandbox-down:
	$(SANDBOX) down

redis:
	contrib/redis up

redis-down:
	contrib/redis down

postgres:
	contrib/postgres up

postgres-down:
	contrib/postgres down

typecheck: venv
	$(VENV)/bin/mypy --strict acd ivr recording reports workorders cti

unit: venv
	$(PY) -m pytest -q tests/unit

e2e: venv sandbox redis postgres tools
	$(PY) -m pytest -q tests/e2e

tools:
	contrib/ensure-tools

# The e2e tests run in order (they share the one sandbox); mypy, then the unit and
# integration tests run meanwhile at a lower CPU priority (scripts/test-all).
test: venv sandbox redis postgres tools
	scripts/test-all $(PY)

bench: venv sandbox redis
	$(PY) bench/routing_bench.py
	$(PY) bench/load_bench.py --agents 100 --calls 900 --rate 5 --step 5 --every 5 --rate-max 20 --write

demo: venv sandbox redis
	$(PY) scripts/demo.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
