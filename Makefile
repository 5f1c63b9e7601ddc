# registry-sync: one Makefile for people and CI. Every target installs what it needs.
SHELL := /bin/bash
PYTHON3 ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONTROL_PLANE_DIR = $(shell hack/control-plane/build.sh --print)
OCI_REGISTRY_DIR = $(shell hack/oci-registry/build.sh --print)
OFFICIAL_CLIENT_PYTHON = $(shell hack/official-client/build.sh --print)

.PHONY: help venv test test-unit lint format control-plane oci-registry official-client clean

help:
	@echo "make demo           the seed incident on a local control plane, corrected by registry-sync"
	@echo "make run            the operator against the current KUBECONFIG (REGISTRY_URL=...)"
	@echo "make test           run every test tier (builds the control plane on first use)"
	@echo "make test-unit      only the unit tests (no network, no cluster)"
	@echo "make lint           ruff + mypy --strict on the whole package + hadolint"
	@echo "make control-plane  build etcd, kube-apiserver, kube-controller-manager, kubectl (cached)"
	@echo "make oci-registry   build the CNCF distribution OCI registry for the digest tests (cached)"
	@echo "make bench          every benchmark (about an hour on 2 cores); results in bench/results/"
	@echo "make image-requirements  regenerate the image's hash-pinned requirements from constraints.txt"

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

control-plane:
	@hack/control-plane/build.sh >/dev/null

oci-registry:
	@hack/oci-registry/build.sh >/dev/null

official-client:
	@hack/official-client/build.sh >/dev/null

test: venv control-plane oci-registry official-client
	REGISTRY_SYNC_CONTROL_PLANE_DIR="$(CONTROL_PLANE_DIR)" \
	REGISTRY_SYNC_OCI_REGISTRY_DIR="$(OCI_REGISTRY_DIR)" \
	REGISTRY_SYNC_OFFICIAL_CLIENT_PYTHON="$(OFFICIAL_CLIENT_PYTHON)" $(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

format: venv
	$(VENV)/bin/ruff format operator tests bench
	$(VENV)/bin/ruff check --fix operator tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis test-logs

.PHONY: demo run

# The incident, reproduced on a local control plane and corrected (README's first command).
demo: venv control-plane
	@REGISTRY_SYNC_CONTROL_PLANE_DIR="$(CONTROL_PLANE_DIR)" $(VENV)/bin/registry-sync demo $(DEMO_ARGS)

# The operator against the current KUBECONFIG:
#   make run REGISTRY_URL=https://registry.example:8443 [NAMESPACE=ns] [RUN_ARGS="--registry-name x"]
# (REGISTRY_SYNC_* variables work too: README "Configuration").
run: venv
	$(VENV)/bin/registry-sync run $(if $(REGISTRY_URL),--registry-url "$(REGISTRY_URL)") $(if $(NAMESPACE),--namespace "$(NAMESPACE)") $(RUN_ARGS)

# Benchmarks: commands, not timed tests. Each writes markdown + json (command, date, machine,
# load) to bench/results/; BENCHMARKS.md sets them beside the targets. Sizes can be changed,
# e.g. make bench SCALE_ARGS="--sizes 100,500" REFRESH_ARGS="--sizes 10,100,1000,10000".
.PHONY: bench
SCALE_ARGS ?=
CONVERGENCE_ARGS ?=
ADMISSION_ARGS ?= --seconds 60 --rates 25,50 --quiet-below 30 --quiet-patience 600
REFRESH_ARGS ?= --sizes 10,100,1000,2000
RESULTS_PARSING_ARGS ?= --whole-up-to-mb 500

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $@

bench: venv control-plane oci-registry $(VENV)/.bench-installed
	export REGISTRY_SYNC_CONTROL_PLANE_DIR="$(CONTROL_PLANE_DIR)"; \
	export REGISTRY_SYNC_OCI_REGISTRY_DIR="$(OCI_REGISTRY_DIR)"; \
	$(PY) bench/scale.py $(SCALE_ARGS) && \
	$(PY) bench/convergence.py $(CONVERGENCE_ARGS) && \
	$(PY) bench/admission_latency.py $(ADMISSION_ARGS) && \
	$(PY) bench/registry_refresh.py $(REFRESH_ARGS) && \
	$(PY) bench/hostile_registry.py $(HOSTILE_ARGS) && \
	$(PY) bench/registry_stall.py $(STALL_ARGS) && \
	$(PY) bench/webhook_abuse.py $(ABUSE_ARGS) && \
	$(PY) bench/startup_memory.py $(STARTUP_ARGS) && \
	$(PY) bench/digest_lookups.py $(DIGEST_ARGS) && \
	$(PY) bench/results_parsing.py $(RESULTS_PARSING_ARGS) && \
	$(PY) bench/review_cost.py

# The image's hash-pinned requirements (the Dockerfile installs them with --require-hashes),
# regenerated from pyproject.toml and constraints.txt; a unit test fails when they drift.
.PHONY: image-requirements
image-requirements:
	hack/image-requirements.sh
