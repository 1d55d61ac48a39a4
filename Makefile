# Two commands: `make run` (fresh machine -> running registry on SQLite with example data) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# Test services (CI starts them; .ci/run). Override to point elsewhere.
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/registry
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# The suite runs in two pytest-xdist workers (a file stays on one worker, so its module fixtures are shared): most of
# its time is spent waiting on real servers it started, so two workers on two cores take about 60 % of one's time.
# Each worker has its own test database and Redis database (tests/services.py). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadfile

.PHONY: run test test-sqlite test-replica browser-deps test-django-next install install-dev docs lint format manifests bench bench-side-by-side bench-mlflow-client bench-scale bench-all schema check-deploy clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

$(VENV)/.installed-docs: requirements-docs.txt | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -r requirements-docs.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# axe-core for the browser tests' accessibility check (tests/browser/accessibility.py), exactly as package-lock.json
# pins it, into node_modules/ (gitignored). npm ci writes node_modules/.package-lock.json, the stamp. Without npm
# (a machine with only Python, make, PostgreSQL and Redis) there is no Chromium either, so the browser tests skip:
# say so and go on. CI installs both (.ci/run).
node_modules/.package-lock.json: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: axe-core not installed (the browser tests need Chromium and npm; CI has both)"; fi
browser-deps: node_modules/.package-lock.json

# .env (local development only): DEBUG=true and a generated SECRET_KEY, read by settings, so every manage.py
# command in the README and docs/ works without flags. Delete it to get a new key; production has none.
.env:
	@$(PYTHON) -c 'import secrets; print("# Written by make run for local development; never use in production.\nDEBUG=true\nSECRET_KEY=" + secrets.token_urlsafe(50))' > $@
	@echo "Wrote .env (DEBUG=true, a generated SECRET_KEY) for local development."

run: install .env
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py load_examples
	$(PY) manage.py create_attestation_key --if-missing
	$(PY) manage.py load_lineage_examples
	$(PY) manage.py bootstrap_admin --base-url http://$(HOST):$(PORT)
	# Webhooks: no Celery here, so a second process relays the outbox and delivers every 2 s; it stops with the server.
	$(PY) manage.py deliver_webhooks --every 2 & trap "kill $$! 2>/dev/null" EXIT INT TERM; \
		$(PY) manage.py runserver $(HOST):$(PORT)

test: install-dev browser-deps
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The embedded default that `make run` uses: the same suite on SQLite, tests that need PostgreSQL/Redis skipped.
test-sqlite: install-dev browser-deps
	REGISTRY_TEST_SQLITE=1 $(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The API suite again with a read replica configured (issue 31; tests/replica_suite.py): a PostgreSQL primary and its
# streaming replica of its own (initdb, pg_basebackup -R, loopback ports), the primary committing with remote_apply,
# every database test in autocommit, so each API read in rotation is served by the replica; the run fails unless the
# replica's own statistics show it did. The browser, deploy and integration tests are not in it: admin pages, files
# and worker processes, none of which reads from a replica. Redis databases 12 and 11 (make test has 15 and 14).
REPLICA_SUITE ?= tests/bindings_app tests/client tests/contract tests/kernel tests/mlflow_compat tests/models_app \
	tests/pipelines_app tests/policies_app
test-replica: install-dev
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/12} $(PY) -m tests.replica_suite $(PYTEST_PARALLEL) \
		$(REPLICA_SUITE) $(PYTEST_ARGS)

# The documentation site from docs/ (mkdocs-material) into site/; --strict turns every warning (a broken link or
# anchor, a page missing from the nav) into a failure. NO_MKDOCS_2_WARNING silences mkdocs-material's banner
# announcing its end of life (May 2027; Zensical, its successor, reads the same mkdocs.yml).
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# The PostgreSQL suite on the next Django release (the pinned LTS is what `make test` runs): a second venv with
# every requirement as pinned but Django, so an upgrade's breakage is known before anyone upgrades. Django 6 needs
# Python 3.12+: the first of PYTHON_NEXT, python3.12 or pyenv's 3.12 that runs; without one the target says so and
# exits 0 (nothing was tested). .ci/run reports its result and never fails on it.
DJANGO_NEXT ?= 6.0.10
VENV_NEXT := .venv-next
PYTHON_NEXT_CANDIDATES := python3.12 $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/3.12*/bin/python3.12)
PYTHON_NEXT ?= $(firstword $(foreach p,$(PYTHON_NEXT_CANDIDATES),\
	$(shell $(p) -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1 && echo $(p))))
NEXT_STAMP := $(VENV_NEXT)/.installed-$(DJANGO_NEXT)
ifeq ($(strip $(PYTHON_NEXT)),)
test-django-next:
	@echo "test-django-next: skipped: no Python 3.12 here (python3.12, pyenv's 3.12.*): Django $(DJANGO_NEXT) not tested"
else
test-django-next:
	@if [ ! -f $(NEXT_STAMP) ] || [ requirements.txt -nt $(NEXT_STAMP) ] || [ requirements-dev.txt -nt $(NEXT_STAMP) ]; \
	then \
		echo "test-django-next: installing the requirements with Django==$(DJANGO_NEXT) into $(VENV_NEXT)"; \
		rm -rf $(VENV_NEXT) && $(PYTHON_NEXT) -m venv $(VENV_NEXT) && \
		$(VENV_NEXT)/bin/python -m pip install --quiet --upgrade pip && \
		sed 's/^Django==.*/Django==$(DJANGO_NEXT)/' requirements.txt > $(VENV_NEXT)/requirements.txt && \
		cp requirements-dev.txt $(VENV_NEXT)/requirements-dev.txt && \
		$(VENV_NEXT)/bin/python -m pip install --quiet -r $(VENV_NEXT)/requirements-dev.txt && \
		touch $(NEXT_STAMP); \
	fi
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV_NEXT)/bin/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)
endif

# The linter and the formatter (ruff, configured in ruff.toml): `make lint` checks both, as .ci/run does;
# `make format` rewrites the tree (imports sorted, code formatted).
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The Kubernetes manifests (deploy/kubernetes) against the API schemas of the oldest and newest Kubernetes releases
# we deploy to, strictly (an unknown field is an error). kubernetes-validate ships the schemas: no network needed.
# tests/deploy/test_kubernetes_manifests.py checks what the schemas cannot (probes, the one beat, budgets).
KUBERNETES_VERSIONS ?= 1.30.0 1.37.0
manifests: install-dev
	@for version in $(KUBERNETES_VERSIONS); do \
		$(VENV)/bin/kubernetes-validate --strict --quiet --kubernetes-version $$version deploy/kubernetes/*.yaml || exit 1; \
	done
	@echo "deploy/kubernetes: every manifest is valid for Kubernetes $(KUBERNETES_VERSIONS)"

# The operations files under deploy/: the alert rules checked and unit-tested by promtool (Debian's prometheus
# package; .ci/run installs it), the dashboard's every PromQL expression parsed, compose healthchecks present.
check-deploy: install-dev
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml deploy/prometheus/alerts_test_daily.yml
	REGISTRY_TEST_SQLITE=1 $(PY) -m pytest -q tests/deploy/test_monitoring_files.py

schema: install
	DEBUG=true $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

# Benchmarks on PostgreSQL (they create and drop their own databases); figures go into docs/benchmarks.md.
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/registry_bench
bench: install-dev
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/models_api.py
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/pipeline_validation.py
	DATABASE_URL=$(BENCH_DATABASE_URL)_policies REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} $(PY) bench/policy_evaluation.py
	DATABASE_URL=$(BENCH_DATABASE_URL)_lineage $(PY) bench/lineage_depth.py

# 1 M model versions generated with bulk SQL: retention, stats refresh and export (creates and drops its database).
bench-jobs: install-dev
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL)_jobs $(PY) bench/lifecycle_jobs.py

# Side by side with MLflow (its own venv outside the repository, see bench/side_by_side.py) and the scale bench
# (1,000 and 100,000 models x 10 versions); each creates and drops its own databases.
MLFLOW_VENV ?= /work/mlflow-venv
BENCH_HARNESS ?= /work/shared/bench
bench-side-by-side: install-dev
	test -x $(MLFLOW_VENV)/bin/mlflow || ($(PYTHON) -m venv $(MLFLOW_VENV) && $(MLFLOW_VENV)/bin/pip install --quiet mlflow psycopg2-binary httpx)
	DATABASE_URL=$(BENCH_DATABASE_URL)_sbs MLFLOW_DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/registry_bench_mlflow \
		MLFLOW_VENV=$(MLFLOW_VENV) BENCH_HARNESS=$(BENCH_HARNESS) $(PY) bench/side_by_side.py
# The same workload through MLflow's own client (MlflowClient) against MLflow and against this registry's MLflow API.
bench-mlflow-client: install-dev
	test -x $(MLFLOW_VENV)/bin/mlflow || ($(PYTHON) -m venv $(MLFLOW_VENV) && $(MLFLOW_VENV)/bin/pip install --quiet mlflow psycopg2-binary httpx)
	DATABASE_URL=$(BENCH_DATABASE_URL)_mlflow_client MLFLOW_DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/registry_bench_mlflow_peer \
		MLFLOW_VENV=$(MLFLOW_VENV) $(PY) bench/mlflow_client.py
bench-scale: install-dev
	DATABASE_URL=$(BENCH_DATABASE_URL)_scale $(PY) bench/scale.py
bench-all: bench bench-side-by-side bench-scale

clean:
	rm -rf $(VENV) $(VENV_NEXT) db.sqlite3 site
