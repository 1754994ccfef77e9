# vmapsim: the two commands of the README are `make report` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip prints one harmless line per package for this machine's file:// extra index; hide them.
PIP_QUIET := grep -v "is ignored: it is neither a file nor a directory" || true

# Where build/report is published: the replies' evidence lines link there (never a local path).
# make report REPORT_URL=https://example.org/vmapsim   (or set VMAPSIM_REPORT_URL in the environment)
REPORT_URL ?= $(VMAPSIM_REPORT_URL)

.PHONY: report test lab install notebooks clean

# (Re)install only when the dependency list changed: the stamp depends on pyproject.toml.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "vmapsim needs Python 3.11 or newer: '$(PYTHON)' not found (set PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) tools/preflight.py
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "installing vmapsim and its dependencies into $(VENV) (once; again only when pyproject.toml changes)"
	@{ $(PY) -m pip install -q -e '.[dev]' 2>&1 | { $(PIP_QUIET); }; }
	@$(PY) tools/lab_settings.py $(VENV)
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	VMAPSIM_FAST=1 $(PY) -m pytest -q

report: $(STAMP)
	@VMAPSIM_REPORT_URL="$(REPORT_URL)" $(PY) tools/report.py

# Rebuild notebooks/*.ipynb from their sources in notebooks/src/ (stripped: no outputs).
notebooks: $(STAMP)
	@$(PY) tools/nb.py build

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) --notebook-dir=notebooks

clean:
	rm -rf build
