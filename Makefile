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

.PHONY: install demo test test-% lint format benchmark docs docs-test clean

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

# The MkDocs site in site/: tools/docs/build.py stages docs/ in build/docs/,
# executes the tutorials (and any jupytext page of the guide) in quick mode on
# JAX into Markdown pages, figures and notebooks, bundles MathJax (npm
# registry), then runs `mkdocs build --strict`. Nothing is written to the
# working tree outside build/ and site/.
docs: $(VENV)/.docs-installed
	KERAS_ATTENTION_QUICK=1 KERAS_BACKEND=$${KERAS_BACKEND:-jax} \
	$(PY) tools/docs/build.py --site-dir site

site/index.html:
	$(MAKE) --no-print-directory docs

# The built site in headless Chromium (Debian's /usr/bin/chromium, driven by
# Playwright), served on 127.0.0.1 with every other host blocked: pages,
# console errors, requests, rendered maths, images, links, search, tutorial
# outputs. Screenshots in build/site-screenshots/.
docs-test: $(VENV)/.docs-installed site/index.html
	$(PY) -m pytest -p no:cacheprovider -q --confcutdir=tests/site tests/site

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache site
