# vmapsim: the two commands of the README are `make report` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: report test lab install clean

# (Re)install only when the dependency list changed: the stamp depends on pyproject.toml.
$(STAMP): pyproject.toml
	@$(PYTHON) tools/preflight.py
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	@$(PY) tools/lab_settings.py $(VENV)
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	VMAPSIM_FAST=1 $(PY) -m pytest -q

report: $(STAMP)
	$(PY) tools/report.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) --notebook-dir=notebooks

clean:
	rm -rf build
