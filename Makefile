# Two commands on a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
UV := $(shell sh scripts/ensure_uv.sh)
export UV_LINK_MODE ?= copy

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
	  $(UV) run pytest -n 2 --timeout 600

lint:
	$(UV) run ruff check src tests benchmarks
	$(UV) run ruff format --check src tests benchmarks
	$(UV) run mypy

format:
	$(UV) run ruff format src tests benchmarks
	$(UV) run ruff check --fix src tests benchmarks
