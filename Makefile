# Two commands on a fresh machine:
#   make run   - install into .venv/ and start the app at http://localhost:8000 (SQLite, no services)
#   make test  - install into .venv/ and run the whole suite against PostgreSQL and Redis on localhost
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 0.0.0.0
PORT ?= 8000

TEST_DATABASE_URL ?= postgres://postgres@localhost:5432/instaclone
TEST_REDIS_URL ?= redis://localhost:6379/0
# Test processes (pytest-xdist): two, one a core; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

.PHONY: run test test-quick soak install install-dev lint audit bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# `make run DEMO=1` also fills an empty database with the demo world (manage.py seed_demo).
run: install
	$(PY) manage.py migrate --noinput
	$(if $(DEMO),$(PY) manage.py seed_demo)
	@echo "Instaclone: open http://localhost:$(PORT)"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) asgi:application

test: install-dev
	@scripts/ensure-test-tools.sh
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The quick run: everything but real processes, browsers, fault injection, fuzzing and the
# compose stack.
test-quick: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup -m "not e2e and not browser and not faults and not fuzz and not compose" $(PYTEST_ARGS)

# The soak (tests/soak): one node under churn, DMs and posts for SOAK_SECONDS (default 1800),
# its figures printed; outside `make test` and `make test-quick`. `SOAK_SECONDS=120 make soak`
# for a short try.
soak: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest -m soak -s tests/soak $(PYTEST_ARGS)

# Lint: ruff's checks and formatting, and mypy (django-stubs) over core/, realtime/, config/ and the services.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONWARNINGS=ignore::UserWarning $(VENV)/bin/mypy

# The security audit (scripts/audit.py): bandit over the shipped code, Django's deploy check
# under production settings, the security tests, and the dependencies against known
# advisories (needs PyPI's JSON API or OSV; AUDIT_OFFLINE=1 runs the offline parts only).
audit: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) scripts/audit.py

bench: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache staticfiles
