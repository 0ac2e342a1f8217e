# Two commands on a fresh machine (Python 3.11, make):
#   make book   create the environment if missing, then build the book into _build/html
#   make test   create the environment if missing, then run every test, notebooks included
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: book test figures notebooks chromium clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(STAMP) chromium
	$(PY) -m pytest tests book/*.ipynb --nbval --nbval-current-env --nbval-cell-timeout=900 --durations=15 $(PYTEST_ARGS)

figures: $(STAMP)
	$(PY) -m rnnbook.figures

# Re-execute every chapter in place, in a fresh kernel, top to bottom (after changing code or text).
notebooks: $(STAMP)
	for nb in book/*.ipynb; do \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=900 $$nb || exit 1; \
	done

# The browser tests use Debian's chromium (no browser download); install it when we can.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed and cannot be installed here: the browser tests will be skipped"; fi; }

clean:
	rm -rf _build
