# The two commands a new user needs: `make run` and `make test`. Both set up .venv first.
PYTHON_SYS ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_STAMP := $(VENV)/.installed-lint

export PYTHON := $(abspath $(BIN)/python)

.PHONY: run test test-fast browser lint lint-code lint-delivery install migrate clean up down logs  bench-etl image-smoke

$(BIN)/python:
	$(PYTHON_SYS) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

# Both files in one pip run, so the linters' dependencies resolve against the pinned ones.
$(LINT_STAMP): requirements-lint.txt $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -r requirements-lint.txt
	touch $@

# Development defaults; set DEBUG=false, SECRET_KEY, DATABASE_URL, REDIS_URL to run like production.
# The stack replaces the recipe's shell (exec): Ctrl-C then ends it, and make, without an error line.
run: export DEBUG ?= true
run: install
	bin/entrypoint migrate
	bin/entrypoint etl --queue
	exec $(BIN)/python bin/run-stack start -f Procfile --port $${PORT:-8000}

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser test drives Debian's Chromium (Playwright comes pinned in requirements-dev.txt; it never downloads
# a browser): installed here when missing, on a fresh machine as in CI.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "chromium is missing: installing Debian's package" >&2; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

# Everything but the tests marked slow (real workers, gunicorn, make run): for the edit-test loop.
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Every static check; `.ci/run` runs it before the tests. Each group of checks is one
# prerequisite: a new group is one more `lint: lint-<group>` line and its recipe.
lint: lint-code lint-delivery

# The Python: lint and format (ruff), and the import contracts between layers (import-linter, pyproject.toml).
lint-code: $(LINT_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# What ships the service, each file by the tool that knows its format: the GitHub workflows,
# Dependabot, the Dockerfile, the Compose files, the Azure cloud-init and the shell scripts.
lint-delivery: $(LINT_STAMP)
	$(BIN)/actionlint -shellcheck $(BIN)/shellcheck
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --schemafile tests/fixtures/compose-spec.json docker-compose.yml deploy/azure/compose.azure.yml
	for script in .ci/run bin/entrypoint deploy/azure/deploy.sh; do bash -n "$$script" || exit 1; done
	$(BIN)/shellcheck .ci/run bin/entrypoint deploy/azure/deploy.sh
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python deploy/check-cloud-init deploy/azure/cloud-init.yaml

clean:
	rm -rf $(VENV) var staticfiles

# The container stack (docker-compose.yml), configured by .env and kasparro.env: see docs/deployment.md.
up:
	docker compose up -d --build

down:
	docker compose down

logs:
	docker compose logs --follow --tail 100

# The image built with podman where no registry is reachable, and every role run from it against the
# local PostgreSQL and Redis (IMAGE_SMOKE_DATABASE_URL, IMAGE_SMOKE_REDIS_URL): docs/deployment.md.
image-smoke: install
	$(BIN)/python bin/offline-image smoke

# Benchmarks print a table and JSON; they need the local PostgreSQL (DATABASE_URL's server). See bench/.
bench-etl: install
	$(BIN)/python bench/etl.py $(BENCH_ARGS)

.PHONY: bench-api
bench-api: install
	$(BIN)/python bench/api.py $(BENCH_ARGS)
