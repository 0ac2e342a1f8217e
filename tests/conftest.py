"""Fixtures shared by the repository's tests (the book's HTML and its PDF)."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PDF_TOOLS = ["xelatex", "latexmk", "rsvg-convert", "pdftotext", "pdftoppm"]


def jupyter_book() -> str:
    """The environment's jupyter-book (the one beside this Python), else the one on PATH."""
    return shutil.which("jupyter-book", path=str(pathlib.Path(sys.executable).parent)) or "jupyter-book"


@pytest.fixture(scope="session")
def pdf(tmp_path_factory):
    """`make pdf` into a fresh folder: the LaTeX folder with rnnbook.pdf, rnnbook.tex and rnnbook.log."""
    missing = [tool for tool in PDF_TOOLS if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must build the PDF: `make test` installs TeX Live and poppler (missing: {missing})")
        pytest.skip(f"TeX Live / poppler not installed (missing: {missing}); `make texlive` installs them")
    out = tmp_path_factory.mktemp("pdf")
    jb = jupyter_book()
    result = subprocess.run(
        [jb, "build", str(ROOT), "--builder", "pdflatex", "-W", "-n", "--keep-going", "--path-output", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    latex = out / "_build" / "latex"
    assert result.returncode == 0 and (latex / "rnnbook.pdf").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return latex
