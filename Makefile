# The commands README documents (`make help` lists every target with one line).
# `make demo` and `make test` do all set-up on
# a fresh Debian or Ubuntu machine (run as root, or as a user with sudo).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := $(CURDIR)/.venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(CURDIR)/molecule/shared/containers.conf
export MOLECULE_GLOB := molecule/*/molecule.yml
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# aar-doc in a venv of its own: it needs typer<0.28, the dev venv has 0.29.
AAR_DOC_VENV := $(CURDIR)/.cache/aar-doc
export AAR_DOC := $(AAR_DOC_VENV)/bin/aar-doc

DEMO_PORT ?= 8080
DEMO_IMAGE := localhost/flaskstack-debian12:latest

.PHONY: help setup test-matrix install release-changelog docs demo demo-container bench bench-serving bench-paired bench-deploy bench-playbooks demo-clean test lint test-fast molecule images image-debian12 image-debian13 host-deps venv clean

## demo: deploy the example chat bot into a local systemd container, ask it something
demo: demo-container
	ansible-playbook site.yml -i inventories/local
	@echo "--- POST http://127.0.0.1:$(DEMO_PORT)/api/chat {\"message\": \"hello\"}"
	@curl -sS --fail-with-body --max-time 10 -H 'Content-Type: application/json' \
	  -d '{"message": "hello"}' http://127.0.0.1:$(DEMO_PORT)/api/chat; echo

## bench: the serving benchmark, then deploy.yml against site.yml (writes docs/bench-*.md, docs/bench-serving.png)
bench: bench-serving bench-deploy

## bench-serving: default stack vs the hand-made setup, gunicorn and the ceilings, with wrk, 3 interleaved rounds (about 25 minutes)
bench-serving: venv image-debian12 $(VENV)/.bench
	python bench/serving.py

## bench-paired: one setting against the default in the same container, alternating 5 s windows (about 30 minutes)
bench-paired: venv image-debian12 $(VENV)/.bench
	python bench/paired.py

## bench-deploy: deploy.yml against site.yml on the demo container (writes docs/bench-deploy.md)
bench-deploy: demo-container
	python bench/deploy_timing.py

## bench-playbooks: fresh converge, no-op re-run and app-only deploy over SSH (writes docs/bench-playbooks.md)
bench-playbooks: venv image-debian12
	python bench/playbook_timing.py

$(VENV)/.bench: bench/requirements.txt | venv
	$(VENV)/bin/pip install -q -r bench/requirements.txt
	touch $@

## demo-container: start the demo container (Debian 12 with systemd, port DEMO_PORT on loopback) if it is not running
demo-container: venv image-debian12
	@if ! podman container exists flaskstack-demo; then \
	  podman run -d --name flaskstack-demo --hostname flaskstack-demo --systemd=always \
	    -p 127.0.0.1:$(DEMO_PORT):80 $(DEMO_IMAGE) /sbin/init >/dev/null; \
	fi
	@podman start flaskstack-demo >/dev/null
	@for i in $$(seq 1 30); do \
	  state=$$(podman exec flaskstack-demo systemctl is-system-running 2>/dev/null || true); \
	  case "$$state" in running|degraded) break;; esac; sleep 1; done

## demo-clean: remove the demo container
demo-clean:
	podman rm -f flaskstack-demo

## test: set-up (venvs, host packages, test images), then lint (with the changelog fragments and ansible-test sanity), fast tests, the ansible-core version matrix and the Molecule scenarios (converge, idempotence, verify); prints each stage's time and the tests' total
test:
	@total=0; for stage in setup lint test-fast test-matrix molecule; do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory $$stage || { echo "=== stage $$stage FAILED after $$(( $$(date +%s) - start )) s"; exit 1; }; \
	  took=$$(( $$(date +%s) - start )); \
	  [ $$stage = setup ] || total=$$(( total + took )); \
	  echo "=== stage $$stage passed in $$took s"; \
	done; \
	echo "=== tests (lint, fast tests, matrix, Molecule) took $$total s, $$(( total / 60 )) min; the budget is 30 min after set-up"

## setup: everything the tests need and nothing they measure: .venv, host packages, the aar-doc venv, each ansible-core version's venv, the test images
setup: venv host-deps $(AAR_DOC_VENV)/.installed images
	python3 tools/version_matrix.py --venv >/dev/null

## lint: yamllint, ansible-lint (production profile), the changelog fragments, ansible-test sanity
lint: venv host-deps
	yamllint --strict .
	ansible-lint --profile production --strict
	antsibull-changelog lint
	bash tools/sanity.sh

INSTALL_PATH ?= $(HOME)/.ansible/collections
INSTALL_BUILD ?= $(CURDIR)/build/install
## install: build the collection and install it into INSTALL_PATH (~/.ansible/collections), also from inside a checkout (where plain ansible-galaxy says "Nothing to do")
install:
	rm -rf $(INSTALL_BUILD) && mkdir -p $(INSTALL_BUILD)
	ansible-galaxy collection build --output-path $(INSTALL_BUILD) $(CURDIR)
	ANSIBLE_COLLECTIONS_PATH=$(INSTALL_PATH) ansible-galaxy collection install --offline --force \
	  -p $(INSTALL_PATH) $(INSTALL_BUILD)/flaskstack-deploy-*.tar.gz

## test-matrix: syntax-check every playbook and run check.yml on each ansible-core minor version, one cached venv each under .cache/matrix (tools/version_matrix.py)
test-matrix: venv
	python3 tools/version_matrix.py

## release-changelog: release galaxy.yml's version: the fragments into changelogs/changelog.yaml and CHANGELOG.md (fragments removed; commit the result)
release-changelog: venv
	antsibull-changelog lint
	antsibull-changelog release --reload-plugins
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

## docs: regenerate the role READMEs' variables (aar-doc), entry points, examples and tags, and docs/settings.md
docs: venv $(AAR_DOC_VENV)/.installed
	python tools/docs.py

$(AAR_DOC_VENV)/.installed: tools/aar-doc/requirements.txt
	python3 -m venv $(AAR_DOC_VENV)
	$(AAR_DOC_VENV)/bin/pip install -q -r tools/aar-doc/requirements.txt
	touch $@

## test-fast: the tests without containers (tests/), two at a time
test-fast: venv host-deps $(AAR_DOC_VENV)/.installed
	pytest -q -p no:cacheprovider -n 2 tests

## molecule: every Molecule scenario, two at a time (MOLECULE_JOBS), the longest two first; logs in .molecule-logs/
molecule: venv images
	sh molecule/shared/run_scenarios.sh

## images: build the Debian 12 and 13 test images if missing
images: image-debian12 image-debian13
## image-debian12: build localhost/flaskstack-debian12 from debootstrap if missing
image-debian12: host-deps
	molecule/shared/build_image.sh bookworm localhost/flaskstack-debian12:latest
## image-debian13: build localhost/flaskstack-debian13 from debootstrap if missing
image-debian13: host-deps
	molecule/shared/build_image.sh trixie localhost/flaskstack-debian13:latest

## host-deps: apt-get install what the demo and the tests need on this machine (podman, runc, debootstrap, nginx, nft...)
host-deps:
	@missing=""; \
	for pair in podman:podman runc:runc debootstrap:debootstrap nginx:nginx-light curl:curl nft:nftables shellcheck:shellcheck ssh-keygen:openssh-client; do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

## venv: .venv with the pinned tools of requirements-dev.txt
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

## clean: remove .venv, .cache (the version matrix's venvs) and build/
clean:
	rm -rf $(VENV) .cache build

## help: list every target with one line
help:
	@sed -n 's/^## \([a-z0-9-]*\): /\1\t/p' $(MAKEFILE_LIST) | awk -F'\t' '{ printf "  %-18s %s\n", $$1, $$2 }'
