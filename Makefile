# The two commands a new user needs: `make run` and `make test`. Both set up .venv first.
PYTHON_SYS ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PYTHON := $(abspath $(BIN)/python)

.PHONY: run test install migrate clean up down logs bench-etl

$(BIN)/python:
	$(PYTHON_SYS) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

# Development defaults; set DEBUG=false, SECRET_KEY, DATABASE_URL, REDIS_URL to run like production.
run: export DEBUG ?= true
run: install
	bin/entrypoint migrate
	bin/entrypoint etl --queue
	$(BIN)/honcho start -f Procfile --port $${PORT:-8000}

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var staticfiles

# The container stack (docker-compose.yml), configured by .env and kasparro.env: see docs/deployment.md.
up:
	docker compose up -d --build

down:
	docker compose down

logs:
	docker compose logs --follow --tail 100

# Benchmarks print a table and JSON; they need the local PostgreSQL (DATABASE_URL's server). See bench/.
bench-etl: install
	$(BIN)/python bench/etl.py $(BENCH_ARGS)

.PHONY: bench-api
bench-api: install
	$(BIN)/python bench/api.py $(BENCH_ARGS)
