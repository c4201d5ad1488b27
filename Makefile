# shelf-fusion: every target creates .venv if missing and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: demo test bench lint install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,plot,lint]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/shelf-fusion demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --timeout=600 -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m pip install --quiet --no-deps "trackers==2.6.1"
	$(BIN)/python -m bench.run_all

lint: $(STAMP)
	$(BIN)/ruff check fusion drivers shelf_fusion tests examples bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
