# Entry points; the README explains each. Everything installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK ?= dev
VENV := .venv
PY := $(VENV)/bin/python
TOOLCHAIN_BIN = $(shell tools/toolchain.sh 2>/dev/null | tail -n 1)
# The engine never downloads plugins or checks for updates; state stays local
# unless PULUMI_BACKEND_URL says otherwise.
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true

.PHONY: help deps venv lint unit toolchain integration test preview images lab lab-status lab-down bench docs graph clean

help:
	@echo "make lab                 main job: real lab machines (nspawn, Debian 12) and pulumi up (kubeadm) onto them"
	@echo "make lab-status          the lab's machines and services, its Nodes and pods"
	@echo "make lab-down            pulumi destroy of the lab, stop it, leave the host as it was"
	@echo "make test                every test tier (installs the venv and the toolchain)"
	@echo "make unit                fast tier: unit tests under mocks, no toolchain"
	@echo "make toolchain           build or reuse the Pulumi CLI, language host and plugins"
	@echo "make preview STACK=dev   pulumi preview --diff of a stack on a local backend"
	@echo "make bench               print program-evaluation, preview, lab, machines-lab and scheduling timings"
	@echo "make images STACK=prod   every container image the stack deploys (to mirror for air-gapped sites)"
	@echo "make docs                regenerate the reference pages (settings, policies, the graph) from the code"
	@echo "make graph               the dependency graph of the prod stack as Mermaid (python -m tools.graph --dot: Graphviz)"

$(VENV)/.installed: requirements.txt requirements-dev.txt policy/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24.3.1,<26"  # pulumi 3.184 requires this range
	$(PY) -m pip install --quiet -r requirements-dev.txt -r policy/requirements.txt
	touch $@

# The policy pack runs in its own virtualenv (policy/PulumiPolicy.yaml).
policy/.venv/.installed: policy/requirements.txt
	python3 -m venv policy/.venv
	policy/.venv/bin/python -m pip install --quiet --upgrade "pip>=24.3.1,<26"  # pulumi 3.184 requires this range
	policy/.venv/bin/python -m pip install --quiet -r policy/requirements.txt
	touch $@

venv: $(VENV)/.installed policy/.venv/.installed

deps:
	@tools/deps.sh

lint: venv deps
	$(VENV)/bin/ruff check .
	shellcheck -x -s bash tools/*.sh .ci/run $$(find components -name '*.sh')

# The fast tiers: no process, no toolchain (tests/conftest.py holds them to it).
unit: venv
	$(PY) -m pytest tests/unit tests/policy -q -m "unit or policy"

toolchain:
	@tools/toolchain.sh

integration: venv deps
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m pytest tests/integration -q

test: venv deps lint
	@tools/toolchain.sh >/dev/null
	@tools/render_tools.sh >/dev/null
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m pytest tests -q

preview: venv
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m tools.stackrun preview $(STACK)

images: venv
	$(PY) -m tools.images $(STACK)

lab: venv deps
	@tools/toolchain.sh >/dev/null
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m tools.lab up

lab-status: venv
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m tools.lab status

lab-down: venv
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m tools.lab down

bench: venv deps
	@tools/toolchain.sh >/dev/null
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m bench.run
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m bench.lab
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m bench.scheduler
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m bench.machines
	PATH="$(TOOLCHAIN_BIN):$$PATH" $(PY) -m bench.upgrade_waves

docs: venv
	$(PY) -m tools.refdocs

graph: venv
	@$(PY) -m tools.graph

clean:
	rm -rf .pulumi-state .lab
