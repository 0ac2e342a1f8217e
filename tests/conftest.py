"""Shared by the repository's tests: the optional peers, the rule that CI skips nothing, the book's PDF.

The tiers are pytest markers (registered in pyproject.toml): `make unit` runs the package's unit
tests (-m "not slow and not book and not colab"), `make test` runs every tier and the notebooks.
"""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time

import filelock
import jax
import pytest

# The tests compile hundreds of small programs and run each once or a few times: LLVM's optimisations
# inside XLA cost more there than they save (tests/test_seq2seq.py and tests/test_rnn.py: 170 s -> 119 s
# on one core, measured). This process only: the chapters' kernels that nbval starts, the benchmarks
# and the subprocesses of tests/test_scaling.py compile with every optimisation, as readers' do.
# RNNBOOK_TEST_OPTIMIZE=1 keeps them here too.
jax.config.update("jax_disable_most_optimizations", os.environ.get("RNNBOOK_TEST_OPTIMIZE") != "1")


def pin_worker() -> set[int] | None:
    """Pin this pytest-xdist worker, and the kernels and subprocesses it starts, to its own share of the cores.

    With `make test`'s two workers on a 2-core machine, each XLA process otherwise spreads its threads
    over both cores and the two contend for them: two chapters run side by side under nbval took 8-11%
    less of the workers' time with each on its own core (Recurrence + NTM 411 -> 371 s and 433 -> 386 s,
    Transformers + LSTM 842 -> 773 s, an AMD EPYC). Every chapter then runs on one core, so its asserts
    must hold on one thread as on two (the book's rule anyway). Worker i gets cores i, i + n, i + 2n, ... of
    the n workers; nothing changes outside xdist, with more workers than cores, or with
    RNNBOOK_PIN_WORKERS=0. Called at import, before JAX starts its thread pools (later threads inherit
    the mask)."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and count.isdigit()) or os.environ.get("RNNBOOK_PIN_WORKERS") == "0":
        return None
    cores, n, i = sorted(CORES), int(count), int(worker[2:])
    if n > len(cores) or n < 2:  # also where the OS cannot pin (CORES empty: not Linux)
        return None
    mine = set(cores[i % n :: n])
    os.sched_setaffinity(0, mine)
    return mine


CORES = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()  # before pinning
PINNED = pin_worker()

ROOT = pathlib.Path(__file__).resolve().parents[1]
PDF_TOOLS = ["xelatex", "latexmk", "rsvg-convert", "pdftotext", "pdftoppm"]
# The optional peers a test compares with, by marker: `@pytest.mark.torch` skips that test alone, with
# this reason, where the package is not installed (the other tests of its file still run).
PEERS = {
    "torch": "torch is not installed (pip install torch==2.13.0)",
    "gensim": "gensim is not installed (pip install gensim, or rnnbook[gensim])",
}
# The one kind of skip CI keeps: the seed sheet and its coverage tool lie in ../shared beside a working
# checkout, never inside a clone of the repository, so GitHub's CI cannot have them.
OUTSIDE_THE_REPOSITORY = "beside the repository"


def in_ci() -> bool:
    """Whether this run is CI: the environment variable CI is set (GitHub Actions sets CI=true)."""
    return bool(os.environ.get("CI"))


def installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules holds None for it (imports of it are blocked)
        return False


# tests/test_book.py's tests of a page in the browser, in the order they run on one page
PAGE_TESTS = (
    "test_page_renders_offline_in_chromium",
    "test_page_fits_a_phone_screen",
    "test_every_figure_is_legible_in_dark_mode",
    "test_figures_to_explore_respond_to_sliders_and_hover_offline",
)


def pytest_collection_modifyitems(items):
    """Run tests/test_book.py's browser tests page by page, not test by test: all the tests of one page
    one after another, so that they share one load of it (tests/test_book.py, ``loaded_page``). A
    chapter's load, its math typeset, was most of each test's time: 72 loads became 23. The tests keep
    their names; pytest collects them test by test, and here they are regrouped where the first was."""

    def page_of(item):
        if item.path.name != "test_book.py" or getattr(item, "originalname", None) not in PAGE_TESTS:
            return None
        params = item.callspec.params
        return params["page_path"] if "page_path" in params else f"book/{params['chapter']}.html"

    group = [item for item in items if page_of(item)]
    if not group:
        return
    first = items.index(group[0])
    order: dict = {}
    for item in group:
        order.setdefault(page_of(item), len(order))
    group.sort(key=lambda item: (order[page_of(item)], PAGE_TESTS.index(item.originalname)))
    rest = [item for item in items if not page_of(item)]
    items[:] = rest[:first] + group + rest[first:]


def pytest_runtest_setup(item):
    for marker, reason in PEERS.items():
        if item.get_closest_marker(marker) and not installed(marker):
            pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI nothing is skipped: CI installs every peer and tool, so a skip there is a failure (but for
    the files that lie outside the repository, OUTSIDE_THE_REPOSITORY)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        fail_the_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole file skipped while it is collected (a module-level importorskip)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci():
        fail_the_skip(report)


def fail_the_skip(report):
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if OUTSIDE_THE_REPOSITORY not in reason:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI is set, and in CI nothing may be skipped): {reason}"


def wait_for_system_packages() -> None:
    """`make test` installs chromium and TeX Live in the background while the chapters run (Makefile,
    sysdeps); a test that needs them waits here until that install has ended, then finds them or not
    as usual. Outside `make test` (RNNBOOK_SYSDEPS_DONE unset) there is nothing to wait for."""
    done = os.environ.get("RNNBOOK_SYSDEPS_DONE")
    if not done:
        return
    path, deadline = ROOT / done, time.monotonic() + 1200
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the background install of chromium and TeX Live did not end in 20 minutes ({path})")
        time.sleep(2)
    status = path.read_text().strip()
    if status != "0":
        print(f"make sysdeps ended with status {status}: see _build/sysdeps.log", file=sys.stderr)


def jupyter_book() -> str:
    """The environment's jupyter-book (the one beside this Python), else the one on PATH."""
    return shutil.which("jupyter-book", path=str(pathlib.Path(sys.executable).parent)) or "jupyter-book"


@pytest.fixture(scope="session")
def pdf(tmp_path_factory):
    """`make pdf` into a fresh folder: the LaTeX folder with rnnbook.pdf, rnnbook.tex and rnnbook.log.

    Built once per run: `make test` runs on two processes (pytest-xdist), and the book tests of both
    (tests/test_book.py, tests/test_pdf.py) share the one build, made by whichever asks first while the
    other waits on a lock (pytest-xdist's recipe for a session fixture shared by workers)."""
    wait_for_system_packages()
    missing = [tool for tool in PDF_TOOLS if shutil.which(tool) is None]
    if missing:
        if in_ci():
            pytest.fail(f"CI must build the PDF: `make test` installs TeX Live and poppler (missing: {missing})")
        pytest.skip(f"TeX Live / poppler not installed (missing: {missing}); `make texlive` installs them")
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    out = shared / "pdf"
    latex = out / "_build" / "latex"
    with filelock.FileLock(str(shared / "pdf.lock")):
        if not (latex / "rnnbook.pdf").exists():
            jb = jupyter_book()
            result = subprocess.run(
                [
                    jb,
                    "build",
                    str(ROOT),
                    "--builder",
                    "pdflatex",
                    "-W",
                    "-n",
                    "--keep-going",
                    "--path-output",
                    str(out),
                ],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert result.returncode == 0 and (latex / "rnnbook.pdf").exists(), (
                result.stdout[-3000:] + result.stderr[-3000:]
            )
    return latex
