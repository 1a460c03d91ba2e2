# The two commands: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SANDBOX := contrib/sandbox

.PHONY: demo test soak lock lock-check venv sandbox sandbox-down redis redis-down postgres postgres-down tools typecheck unit e2e bench clean

# The virtualenv holds exactly requirements.lock (versions and hashes, every extra and
# the build backend); the project itself goes in editable, with no dependency of its own.
# tests/test_lock.py fails when pyproject.toml, the lock and the virtualenv disagree.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes --no-deps -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

# Upgrade every dependency to the newest its range in pyproject.toml allows and write the
# lock anew (pip-tools, pinned, in a virtualenv of its own); then run `make test`.
LOCK_TOOL := .venv-lock
lock:
	test -x $(LOCK_TOOL)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_TOOL) && $(LOCK_TOOL)/bin/pip install -q pip-tools==7.7.0; }
	$(LOCK_TOOL)/bin/pip-compile --quiet --upgrade --generate-hashes --extra test --extra bench \
	    --all-build-deps --allow-unsafe --no-emit-index-url --no-emit-find-links --strip-extras \
	    --output-file requirements.lock pyproject.toml

# pyproject.toml, requirements.lock and the virtualenv agree (run first by `make test`).
lock-check: venv
	$(PY) -m pytest -q -p no:cacheprovider tests/test_lock.py

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

# The set-up steps run at once (the host's apt-get calls take turns on a lock); then the
# e2e tests in several processes, each on an Asterisk instance of its own, and mypy, the
# unit and integration tests meanwhile at a lower CPU priority (scripts/test-all).
test:
	$(MAKE) --no-print-directory -j5 lock-check sandbox redis postgres tools
	scripts/test-all $(PY)

bench: venv sandbox redis
	$(PY) bench/routing_bench.py
	$(PY) bench/load_bench.py --agents 100 --calls 900 --rate 5 --step 5 --every 5 --rate-max 20 --write

# The soak (issue 33, docs/reliability.md): traffic on sandbox instance 7 for MINUTES under
# a fault schedule drawn from SEED (printed first: the same seed, the same schedule); exits
# non-zero on a broken invariant. `make soak SEED=9 MINUTES=3` replays a run.
SEED    ?= $(shell date +%s)
MINUTES ?= 30
# (node a is started only when it is not running: `up` would restart it, under the tests
# of instance 0, whenever this checkout's Asterisk configuration differs from the running one)
soak: venv redis
	$(SANDBOX) status >/dev/null || $(SANDBOX) up
	$(SANDBOX) instance 7 up
	@echo "soak: SEED=$(SEED) MINUTES=$(MINUTES)"
	CTI_E2E_INSTANCE=7 $(PY) -m bench.soak --seed $(SEED) --minutes $(MINUTES)

demo: venv sandbox redis
	$(PY) scripts/demo.py

clean:
	rm -rf $(VENV) $(LOCK_TOOL) .pytest_cache .mypy_cache .hypothesis

mutation: venv
	$(PY) scripts/mutation-check
