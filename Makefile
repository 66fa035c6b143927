# `make train` and `make test` set everything up on first use (scripts/setup.sh).
# `make train` runs the best text recipe: SetFit's stage on the labelled draw (PRETRAIN), then
# RECIPE over it. For a recipe without a pretraining stage: make train RECIPE=... PRETRAIN=
VENV ?= .venv
PRETRAIN ?= recipes/pretrain/setfit_pairs.yaml
RECIPE ?= recipes/text/setfit_pseudo_label.yaml

.PHONY: setup train test
setup:
	@bash scripts/setup.sh

train: setup
	$(if $(PRETRAIN),$(VENV)/bin/textssl pretrain $(PRETRAIN))
	$(VENV)/bin/textssl train $(RECIPE)

test: setup
	$(VENV)/bin/python -m pytest -q
