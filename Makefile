# rtdcs developer entry points. Everything runs on loopback with dummy AWS credentials.
#   make run    the local stack (moto + provider simulator + chalice local on :8000)
#   make test   lint, type check and every test (unit, route, infra, integration, browser)
#   make lint   ruff + mypy
#   make unit   the fast tests (tests/unit tests/routes tests/infra)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements-installed
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
CHROMIUM := /usr/bin/chromium

# Dummy credentials, a region and no instance-metadata probing, for every target.
export AWS_ACCESS_KEY_ID := testing
export AWS_SECRET_ACCESS_KEY := testing
export AWS_DEFAULT_REGION := us-east-1
export AWS_REGION := us-east-1
export AWS_EC2_METADATA_DISABLED := true
unexport AWS_PROFILE

.PHONY: help venv run test lint unit integration e2e chromium clean console-screenshots

help:
	@echo "make run | test | lint | unit | integration | e2e | clean"

$(PY):
	@test -n "$(PYTHON)" || { echo "python3.11 or python3 is required" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file changed since the last install.
$(STAMP): requirements.txt requirements-dev.txt requirements-insight.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(PY) -m devtools.stack

chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update && apt-get install -y chromium; \
	fi
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is missing: install Debian's chromium" \
		"(apt-get install chromium); the browser tests never download a browser of their own." >&2; \
		exit 1; }

lint: venv
	$(VENV)/bin/ruff check chalicelib app.py
	$(VENV)/bin/mypy chalicelib

unit: venv
	$(VENV)/bin/pytest -q tests/unit tests/routes tests/infra

integration: venv
	$(VENV)/bin/pytest -q tests/integration

e2e: venv chromium
	$(VENV)/bin/pytest -q tests/e2e

# docs/console/*.png: every console page at 1280x800 (docs/console.md), from its own local stack.
console-screenshots: venv chromium
	$(PY) -m devtools.console_screenshots

# Two workers, one test file each at a time (a file's fixtures, such as a local stack, stay in
# one worker): 4.5 minutes instead of 7.5 on a 2-core machine.
test: venv chromium lint
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
