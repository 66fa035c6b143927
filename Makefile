# `make train` and `make test` set everything up on first use (scripts/setup.sh).
VENV ?= .venv
RECIPE ?= recipes/text/fixmatch.yaml

.PHONY: setup train test
setup:
	@bash scripts/setup.sh

train: setup
	$(VENV)/bin/textssl train $(RECIPE)

test: setup
	$(VENV)/bin/python -m pytest -q
