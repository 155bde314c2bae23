# Two commands on a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
UV := $(shell sh scripts/ensure_uv.sh)
export UV
export UV_LINK_MODE ?= copy
# Compiled bytecode in the venv: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every
# process would otherwise compile WeasyPrint, matplotlib, statsmodels... from source at
# import (about 5 s per process: each CLI run, test worker and Celery worker).
export UV_COMPILE_BYTECODE ?= 1

.PHONY: sync sysdeps services demo test lint format

sync:
	$(UV) sync --frozen

sysdeps:
	@sh scripts/ensure_sysdeps.sh

services:
	@python3 scripts/services.py

demo: sync sysdeps
	$(UV) run cerflow demo --out out

test: sync sysdeps services
	@source .tmp/services.env && $(UV) run ruff check src tests benchmarks && \
	  $(UV) run ruff format --check src tests benchmarks && \
	  $(UV) run mypy && \
	  $(UV) run lint-imports && \
	  $(UV) run pytest -n 2 --timeout 600

lint:
	$(UV) run ruff check src tests benchmarks
	$(UV) run ruff format --check src tests benchmarks
	$(UV) run mypy
	$(UV) run lint-imports
	$(UV) run bandit -q -r src -c pyproject.toml --severity-level high

format:
	$(UV) run ruff format src tests benchmarks
	$(UV) run ruff check --fix src tests benchmarks
