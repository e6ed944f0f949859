# Two commands set everything up: `make run` and `make test` (each creates .venv if needed).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
TEST_WORKERS ?= auto

.PHONY: run test validate docs bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned, from PyTorch's CPU index: PyPI's torch==2.13.0 is the CUDA build, gigabytes
	# of nvidia wheels. A local wheel (pip's find-links) of the same pin is taken as well.
	$(BIN)/pip install -q torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/engine run --stage 1

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/engine validate specs
	$(BIN)/engine docs --check
	# One worker per core (TEST_WORKERS=0: one process); worksteal evens out the long crash and run tests.
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

validate: $(STAMP)
	$(BIN)/engine validate specs

docs: $(STAMP)
	$(BIN)/engine docs

bench: $(STAMP)
	$(BIN)/python tools/bench_validate.py
	$(BIN)/python tools/bench_interpreter.py
	$(BIN)/python tools/bench_journal.py
	$(BIN)/python tools/bench_paper.py
	$(BIN)/python tools/bench_strategies.py
	$(BIN)/python tools/bench_replay.py

clean:
	rm -rf $(VENV) runs
