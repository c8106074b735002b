# Two entry points: `make demo` (embedded demo, offline, CPU) and `make test`.
# Both create the project virtualenv .venv on first use: one pip command installs everything.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export NUMBA_CACHE_DIR := $(CURDIR)/resources/cache/numba
export TORCH_EXTENSIONS_DIR := $(CURDIR)/resources/cache/torch_extensions
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt -e .
	touch $@

# your SLURM_CONF, else a client config that does not wait 9 s for an absent controller (demo and lint run locally)
SLURM_CLIENT := $${SLURM_CONF:-$$($(BIN)/python tests/slurm/localslurm.py client-conf resources/cache/slurm/client.conf)}

demo: venv
	SLURM_CONF=$(SLURM_CLIENT) $(BIN)/snakemake --cores 2 --profile workflow/profiles/local all
	@echo "tables: results/tables/ (main.csv, main.md, main.tex, significance.csv), plots: results/plots/"

# three pytest-xdist workers, each running whole test files (a module's fixtures are built once): the SLURM files,
# mostly waiting for their cluster's polls, go to one as one unit (tests/conftest.py), the other two share the cores;
# `pytest -q` runs everything in one process
test: venv
	$(BIN)/pytest -q -n 3 --dist loadfile

# what CI checks before the tests: ruff on the Python code (lint and format), snakefmt on the workflow, snakemake --lint
# on each config (with SLURM_CLIENT above)
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	conf=$(SLURM_CLIENT); \
	for c in config/config.yaml config/paper.yaml config/trecdl.yaml config/beyond.yaml; do \
	    SLURM_CONF=$$conf PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint --configfile $$c || exit 1; done

clean:
	rm -rf results resources logs .snakemake
