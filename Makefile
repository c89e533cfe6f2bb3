# redissync — every command a developer or CI needs. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEBIAN_PACKAGES := redis-server redis-sentinel redis-tools nginx-core libnginx-mod-http-lua lua-resty-core lua-resty-lrucache chromium prometheus
PYTEST_WORKERS ?= 2

.PHONY: help deps demo test test-fast lint docs docs-check dist bench bench-1m reliability compat clean

help:
	@echo "make demo         embedded Redis + Sentinel (and a Redis Cluster) from the Debian binaries, the plugin's jobs against it"
	@echo "make test         lint (ruff, mypy --strict on jobs/redissync), docs check and the test suite (real servers on loopback)"
	@echo "make bench        throughput ratios against baselines measured in the same run"
	@echo "make bench-1m     the bans pass at 1M bans, in a state directory and inside the stand-in BunkerWeb (minutes)"
	@echo "make reliability  faults, failovers, hostile input, TLS matrix (slower)"
	@echo "make compat       the compat subset on every redis-py pin BunkerWeb ships × Python 3.11–3.13, and Redis 6.2/7.4/8.2"
	@echo "make docs         regenerate the README settings table from plugin.json"
	@echo "make dist         dist/redissync.zip and dist/redissync.tar.gz for EXTERNAL_PLUGIN_URLS or UI upload"

# System packages (Debian): installed only when a binary is missing, so a ready machine skips apt. The tests use
# promtool only: the prometheus daemon the package may start is stopped.
deps-system:
	@if ! command -v redis-server >/dev/null || ! command -v redis-sentinel >/dev/null || ! command -v nginx >/dev/null \
	   || [ ! -e /usr/share/nginx/modules-available/mod-http-lua.conf ] || [ ! -d /usr/share/lua/5.1/resty/core ] \
	   || ! command -v chromium >/dev/null || ! command -v promtool >/dev/null; then \
	  echo "installing Debian packages: $(DEBIAN_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) >/dev/null; \
	  $$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; \
	fi

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

deps: deps-system $(VENV)/.installed

demo: deps
	$(PY) -m demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

docs: $(VENV)/.installed
	$(PY) -m tools.docs --write

docs-check: $(VENV)/.installed
	$(PY) -m tools.docs --check

test: deps lint docs-check
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow" tests

bench: deps
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

bench-1m: deps
	$(PY) bench/bench_bans.py --sizes 1000000 --rounds 1 --bunkerweb

reliability: deps
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m slow tests; rc=$$?; [ $$rc = 5 ] && echo "no reliability tests collected" || exit $$rc

compat: deps
	$(PY) -m tools.compat

dist:
	$(PY) tools/dist.py

clean:
	rm -rf dist artifacts .demo
