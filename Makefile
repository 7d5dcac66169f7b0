# The two commands: `make run` (set up, train on the shipped data, serve) and `make test`.
# `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCORER_JAR := notebooks/automlkit/java/automlkit-scorer.jar
# Extra papermill parameters for the training notebook, e.g. PARAMS="-p max_runtime_secs 60"
PARAMS ?=
# Budget of the training that `make run` does first
RUN_PARAMS ?= -p max_runtime_secs 120 -p exclude_algos '[DeepLearning]'
MLFLOW_PORT ?= 5000
API_PORT ?= 8000
DASHBOARD_PORT ?= 8866
JUPYTER_PORT ?= 8888
# Seconds between runs of `make retrain-every`
INTERVAL ?= 86400
HOST ?= 127.0.0.1
# Extra arguments of tests/bench/run.py, e.g. BENCH_ARGS="--rows 20000"
BENCH_ARGS ?=
# Extra arguments of tests/bench/learners.py, e.g. LEARNERS_ARGS="--models xgb,glm --max-stack 2"
LEARNERS_ARGS ?=
# `make up`: optional compose profiles (dev = JupyterLab); `make down VOLUMES=1` removes the volumes too
# and H2O_NODES=2 a two-node H2O cloud (default: .env's H2O_NODES)
PROFILES ?=
H2O_NODES ?=
VOLUMES ?= 0
# Extra pytest arguments, e.g. PYTEST_ARGS="-m 'not integration'"
PYTEST_ARGS ?=

.PHONY: help setup java browser train run serve ui api dashboard jupyter retrain-every test test-fast \
	test-containers bench learners clean up down logs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

java: ## install a Java 17 JDK from Debian when `javac` is missing (H2O, the MOJO scorer and its batch helper)
	@command -v javac >/dev/null || { echo "installing Java 17 (default-jdk-headless)"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends default-jdk-headless >/dev/null; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e ".[stack,monitoring,spark,test]"
	@touch $@

$(SCORER_JAR): $(STAMP) $(wildcard notebooks/automlkit/java/*.java)
	$(BIN)/python -m automlkit.java_build

setup: java $(STAMP) $(SCORER_JAR) ## create .venv with the pinned packages, build the scorer helper (quick when nothing changed)

train: setup ## run notebooks/train.ipynb with papermill (PARAMS="-p max_runtime_secs 60 ...")
	$(BIN)/automl train $(PARAMS)

ui: setup ## start the MLflow UI on the embedded store (http://$(HOST):$(MLFLOW_PORT))
	$(BIN)/mlflow server --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
	  --default-artifact-root $(CURDIR)/mlruns/artifacts --host $(HOST) --port $(MLFLOW_PORT)

api: setup ## start the prediction API on the embedded store's champion (http://$(HOST):$(API_PORT)/docs)
	$(BIN)/automl api --host $(HOST) --port $(API_PORT)

dashboard: setup ## start the Voilà dashboard (API_URL, default http://$(HOST):$(API_PORT))
	API_URL=$${API_URL:-http://$(HOST):$(API_PORT)} $(BIN)/automl dashboard --host $(HOST) --port $(DASHBOARD_PORT)

jupyter: setup ## start JupyterLab on notebooks/ (it prints its URL with the token)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=$(HOST) --port=$(JUPYTER_PORT) --no-browser

serve: setup ## start the MLflow UI, the API and the dashboard; print their URLs (Ctrl-C stops all)
	$(BIN)/automl serve --host $(HOST) --mlflow-port $(MLFLOW_PORT) --api-port $(API_PORT) \
	  --dashboard-port $(DASHBOARD_PORT)

run: setup ## train on the shipped data with a short budget, then `make serve`
	$(BIN)/automl train $(RUN_PARAMS) $(PARAMS)
	@$(MAKE) --no-print-directory serve

retrain-every: setup ## retrain on a schedule: INTERVAL seconds between runs (first run at once if no champion)
	$(BIN)/automl retrain --interval $(INTERVAL) $(PARAMS)

browser: ## install Debian's chromium for the browser tests when it is missing
	@test -x /usr/bin/chromium || { echo "installing chromium (Debian)"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: setup browser ## run every test: unit, notebooks, integration (real servers), browser, then the containers
	@mkdir -p test-artifacts
	@date +%s > test-artifacts/started
	$(BIN)/python -m pytest -m "not containers" --junitxml=test-artifacts/pytest.xml $(PYTEST_ARGS)
	@date +%s > test-artifacts/containers-started
	$(BIN)/python -m pytest -m containers --junitxml=test-artifacts/containers.xml $(PYTEST_ARGS)
	@echo "pytest (not containers): $$(( $$(cat test-artifacts/containers-started) - $$(cat test-artifacts/started) )) s; containers: $$(( $$(date +%s) - $$(cat test-artifacts/containers-started) )) s"
	@$(BIN)/python tests/durations_table.py test-artifacts/pytest.xml test-artifacts/containers.xml --top 20

test-fast: setup ## only the fast unit tests
	$(BIN)/python -m pytest -m "not integration and not containers" $(PYTEST_ARGS)

test-containers: setup browser ## the stack built and run for real with `make up` (Docker, else podman)
	$(BIN)/python -m pytest -m containers $(PYTEST_ARGS)

bench: setup ## API speed vs the original H2O way and a plain Java loop, with make run's champion -> bench/results.json
	$(BIN)/python -m tests.bench.run --train-params "$(RUN_PARAMS)" $(BENCH_ARGS)

learners: setup ## H2O learners and stacks on the fixed holdout, full data (~16 min) -> bench/learners.csv
	$(BIN)/python tests/bench/learners.py $(LEARNERS_ARGS)

up: ## the stack as containers (Docker, else podman): build, start, wait until healthy, print the URLs
	PROFILES="$(PROFILES)" H2O_NODES="$(H2O_NODES)" notebooks/containers/stack.sh up

down: ## stop and remove the stack's containers and network; VOLUMES=1 removes its volumes (the registry) too
	VOLUMES="$(VOLUMES)" notebooks/containers/stack.sh down

logs: ## the containers' logs (SERVICE=api for one)
	notebooks/containers/stack.sh compose logs $(SERVICE)

clean: ## remove the venv, caches and the embedded MLflow store's contents
	rm -rf $(VENV) .pytest_cache
	find mlruns -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
