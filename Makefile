# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create a virtualenv, install the package with all three backends, then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BACKENDS ?= tensorflow jax torch
# The CPU wheel of torch; an unpinned torch pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=
# pytest-xdist workers per backend run: JAX and TensorFlow tests are mostly
# single-threaded compilation and Python overhead, so two workers use both cores.
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-% lint format benchmark docs clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" "tensorflow-cpu>=2.18" -e ".[jax,torch,test]"
	touch $@

install: $(VENV)/.installed

# RNN translation with and without attention, quick mode: prints the results
# table, writes the attention heatmaps and accuracy against length (PNG files
# in the current directory).
demo: install
	KERAS_ATTENTION_QUICK=1 KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PY) tutorials/translation_rnn.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# One pytest process per backend (a Keras process has one backend).
test-%: install
	KERAS_BACKEND=$* $(PY) -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS) tests

test: install
	@status=0; $(MAKE) --no-print-directory lint || status=1; \
	for backend in $(BACKENDS); do \
		echo "==================== KERAS_BACKEND=$$backend ===================="; \
		$(MAKE) --no-print-directory test-$$backend || status=1; \
	done; exit $$status

benchmark: install
	$(PY) benchmarks/additive_chunking.py
	$(PY) benchmarks/sliding_window.py --backend all
	$(PY) benchmarks/multi_head.py

$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

# The MkDocs site in site/, with the tutorials executed in quick mode (a few
# minutes on JAX); their figures are shown inline and the PNG files go to
# build/docs-figures/, not into the working tree.
docs: $(VENV)/.docs-installed
	mkdir -p build/docs-figures
	KERAS_ATTENTION_QUICK=1 KERAS_BACKEND=$${KERAS_BACKEND:-jax} \
	KERAS_ATTENTION_FIGURE=$(CURDIR)/build/docs-figures/figure.png \
	$(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache site
