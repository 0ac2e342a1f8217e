"""rnnbook.figures draws every diagram and writes it. (That two runs write the same bytes and that
the committed files in book/figures/ are up to date is a test of the book: tests/test_book.py.)"""

import pytest

from rnnbook import figures


@pytest.mark.smoke
def test_main_draws_every_diagram(tmp_path):
    figures.main(["--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{n}.svg" for n in figures.FIGURES] + ["favicon.png"])
    for name in figures.FIGURES:
        svg = (tmp_path / f"{name}.svg").read_text()
        assert svg.startswith("<?xml") and svg.rstrip().endswith("</svg>") and "<path" in svg, name
