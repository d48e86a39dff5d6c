# The two commands of the README: `make run` and `make test`. Everything else builds on `setup`.
# bash: cluster-up probes ports with /dev/tcp.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HEAD_DIR := .ray-head
DASHBOARD_PORT ?= 8265
METRICS_PORT ?= 8080
# The head's dashboard agent runs submitted jobs; a head whose agent port is taken accepts none.
AGENT_PORT ?= 52365
PROMETHEUS_PORT ?= 9090
GRAFANA_PORT ?= 3000
# Prometheus from the system's packages (Debian's): `ray metrics launch-prometheus` downloads one.
PROMETHEUS ?= /usr/bin/prometheus
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo)

.PHONY: setup run test test-all bench cluster-up cluster-down

setup: $(STAMP)

# Reinstalls only when pyproject.toml changes; `rapid` itself is an editable install. Crafter (the
# minecraft extra) and transformers with reasoning-gym (the llm extra) are in every setup: their
# jobs run on any laptop and in CI.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,minecraft,llm]'
	touch $(STAMP)

$(PROMETHEUS):
	@command -v apt-get >/dev/null || { echo "install Prometheus (prometheus.io/download) and set PROMETHEUS=<its path>"; exit 1; }
	$(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

run: setup
	$(BIN)/rapid run jobs/quickstart.yaml

# Two test files at a time (pytest-xdist, one file per worker so that a file's Ray head and
# fixtures start once). One at a time kept CI's 2 cores 35% busy (23.5 CPU-minutes in 34 minutes of
# wall-clock on 2026-11-30): most of a test is processes starting and waiting on each other.
# --durations: CI's log shows which tests take its minutes (the aim is a run under 25).
TEST_WORKERS ?= 2
test: setup $(PROMETHEUS)
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile --durations=15

test-all: setup $(PROMETHEUS)
	$(BIN)/pytest

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script --quick"; $(BIN)/python $$script --quick || exit 1; done

# A local head with the dashboard and token auth, for `rapid submit` and `ray job submit`, and a
# Prometheus scraping it (the dashboard's metrics view reads it; so does Grafana, see the README).
# Its PATH starts with the venv, so a job's `python -m rapid` is this environment's Python.
# `ray start --block` stays in the foreground watching Ray's processes; its PID is recorded so
# that cluster-down stops exactly this cluster (and everything it started).
cluster-up: setup $(PROMETHEUS)
	@mkdir -p $(HEAD_DIR)
	@test ! -f $(HEAD_DIR)/pid || ! kill -0 $$(cat $(HEAD_DIR)/pid) 2>/dev/null || { echo "already up (PID $$(cat $(HEAD_DIR)/pid))"; exit 1; }
	@for port in $(DASHBOARD_PORT) $(METRICS_PORT) $(AGENT_PORT) $(PROMETHEUS_PORT); do \
		! (exec 3<>/dev/tcp/127.0.0.1/$$port) 2>/dev/null || { echo "port $$port is taken (another Ray?): pick others, e.g."\
		"make cluster-up DASHBOARD_PORT=8266 METRICS_PORT=8081 AGENT_PORT=52366 PROMETHEUS_PORT=9091"; exit 1; }; done
	@test -n "$$RAY_AUTH_TOKEN" || test -f $$HOME/.ray/auth_token || $(BIN)/ray get-auth-token --generate >/dev/null
	PATH="$(CURDIR)/$(BIN):$$PATH" RAY_AUTH_MODE=token RAY_PROMETHEUS_HOST=http://127.0.0.1:$(PROMETHEUS_PORT) \
		RAY_GRAFANA_HOST=http://127.0.0.1:$(GRAFANA_PORT) RAY_GRAFANA_IFRAME_HOST=http://127.0.0.1:$(GRAFANA_PORT) nohup $(BIN)/ray start --head --block --dashboard-host 127.0.0.1 \
		--dashboard-port $(DASHBOARD_PORT) --metrics-export-port $(METRICS_PORT) --dashboard-agent-listen-port $(AGENT_PORT) > $(HEAD_DIR)/ray.log 2>&1 & echo $$! > $(HEAD_DIR)/pid
	@for i in $$(seq 60); do curl -s -o /dev/null http://127.0.0.1:$(DASHBOARD_PORT) && break; sleep 1; done
	@kill -0 $$(cat $(HEAD_DIR)/pid) 2>/dev/null || { grep -m1 ERROR $(HEAD_DIR)/ray.log; echo "the Ray head did not start: $(HEAD_DIR)/ray.log"; rm $(HEAD_DIR)/pid; exit 1; }
	@$(BIN)/python -m rapid.platform.prometheus --port $(PROMETHEUS_PORT) --data $(HEAD_DIR)/prometheus --pid-file $(HEAD_DIR)/prometheus.pid
	@echo "Ray head up (PID $$(cat $(HEAD_DIR)/pid)): dashboard http://127.0.0.1:$(DASHBOARD_PORT), metrics :$(METRICS_PORT)/metrics"
	@echo "submit with: $(BIN)/rapid submit jobs/quickstart.yaml --address http://127.0.0.1:$(DASHBOARD_PORT)"

cluster-down:
	@test ! -f $(HEAD_DIR)/prometheus.pid || { kill $$(cat $(HEAD_DIR)/prometheus.pid) 2>/dev/null; rm -f $(HEAD_DIR)/prometheus.pid; }
	@test -f $(HEAD_DIR)/pid || { echo "no cluster recorded in $(HEAD_DIR)/pid"; exit 0; }
	-kill $$(cat $(HEAD_DIR)/pid)
	@for i in $$(seq 30); do kill -0 $$(cat $(HEAD_DIR)/pid) 2>/dev/null || break; sleep 1; done
	@rm -f $(HEAD_DIR)/pid
	@$(BIN)/python -c "from ray._common.utils import reset_ray_address; reset_ray_address()"  # else ray.init() joins the dead head
	@echo "Ray head stopped"
