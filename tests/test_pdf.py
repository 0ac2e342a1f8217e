"""The printable PDF (`make pdf`): Jupyter Book's LaTeX builder, xelatex and latexmk build the whole
book, and the PDF's text says everything rendered: every chapter title and every question of the
sheet, no raw `$`-math, no "??" reference, every figure included, code lines wrapped, the notes and
the study guide present. A few pages are rendered to PNG in `_build/pdf_pages/` for a person to
look at."""

import importlib.util
import re
import shutil
import subprocess

import pytest
from test_book import ALL_NOTEBOOKS, COMPANION_NOTEBOOKS, COVERAGE_TOOL, ROOT, SHEET, TOC, load, markdown_of

pytestmark = [pytest.mark.book, pytest.mark.pdf]

PAGES_FOR_PEOPLE = ROOT / "_build" / "pdf_pages"  # ignored by git


@pytest.fixture(scope="session")
def text(pdf):
    plain = subprocess.run(["pdftotext", str(pdf / "rnnbook.pdf"), "-"], capture_output=True, text=True, check=True)
    return plain.stdout


def words(text):
    return " " + " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split()) + " "


def sheet_questions():
    """The sheet's questions as the coverage tool reads them, without their markup and repeat counts."""
    spec = importlib.util.spec_from_file_location("seed_coverage", COVERAGE_TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    questions = [re.sub(r"<[^>]+>", "", q) for _, q in tool.questions(SHEET, set())]  # <h-def>, <span>
    return [re.sub(r"\s+x\d+$", "", q) for q in questions]  # "x3": how often it was asked


def test_latex_build_is_clean(pdf):
    log = (pdf / "rnnbook.log").read_text(errors="replace")
    assert "There were undefined references" not in log and "undefined on input line" not in log
    assert "Overfull \\hbox" not in log, "a line runs into the margin (long code lines must wrap)"
    assert "Missing character" not in log, "a glyph the font lacks"


def test_every_chapter_title_and_sheet_question_is_in_the_pdf(text):
    joined = words(re.sub(r"(\w)-\n(\w)", r"\1\2", text))  # words hyphenated at a line break
    titles = [re.search(r"^# (.+)$", markdown_of(nb), re.M).group(1) for nb in ALL_NOTEBOOKS + COMPANION_NOTEBOOKS]
    for page in ["study_guide", "errata", "glossary"]:
        titles.append(re.search(r"^# (.+)$", (ROOT / "book" / f"{page}.md").read_text(), re.M).group(1))
    entries = [e for part in TOC["parts"] for e in part["chapters"]]
    assert len(titles) == len(entries) + sum(len(e.get("sections", [])) for e in entries) - 1  # but the bibliography
    for title in titles:
        assert words(title) in joined, f"chapter title missing from the PDF: {title!r}"
    if not (SHEET.exists() and COVERAGE_TOOL.exists()):
        pytest.skip("the sheet and its coverage tool are not beside the repository")
    questions = sheet_questions()
    assert len(questions) == 41
    missing = [q for q in questions if words(q) not in joined]
    assert missing == [], f"sheet questions missing from the PDF: {missing}"


def test_math_and_references_are_rendered(text):
    assert "??" not in text, "a broken reference"
    code = "\n".join(
        "".join(cell["source"]) for nb in ALL_NOTEBOOKS for cell in load(nb)["cells"] if cell["cell_type"] == "code"
    )
    for line in text.splitlines():
        if "$" in line:  # a dollar sign is fine inside code, never in the prose
            assert line.strip() in code, f"unrendered $-math in the PDF: {line!r}"
        tex = re.search(r"\\(frac|mathbf|mathrm|sum|begin|end|left|right|alpha|sigma|odot|top|cdot)\b", line)
        assert not tex or line.strip() in code, f"raw TeX in the PDF: {line!r}"
    # Display math of the chapters is typeset: its symbols come out as Unicode glyphs.
    assert "𝜎" in text and "∑" in text and "⊙" in text and "ℎ𝑡 = tanh(" in text


def test_figures_code_outputs_and_notes_are_included(pdf, text):
    tex = (pdf / "rnnbook.tex").read_text()
    n_plots = sum(
        "image/png" in output.get("data", {})
        for nb in ALL_NOTEBOOKS + COMPANION_NOTEBOOKS
        for cell in load(nb)["cells"]
        for output in cell.get("outputs", [])
    )
    sources = [markdown_of(nb) for nb in ALL_NOTEBOOKS] + [p.read_text() for p in (ROOT / "book").glob("*.md")]
    n_diagrams = sum(len(re.findall(r"```\{figure\} figures/", s)) for s in sources)
    assert n_plots >= 25 and n_diagrams >= 9
    assert tex.count("\\sphinxincludegraphics") == n_plots + n_diagrams
    for image in re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{([^}]+)\}(\.\w+)\}", tex):
        assert (pdf / "".join(image)).exists(), image
    # Code cells with their outputs: a hand-derived gradient against jax.grad (Chapter 1).
    assert "jax.grad(rnn.sequence_loss" in text and "max |hand - jax.grad| =" in text
    # Every "On the sheet's answer" note, and the study guide's model answers with their links.
    n_notes = sum(len(re.findall(r"```\{admonition\} On the sheet's answer", markdown_of(nb))) for nb in ALL_NOTEBOOKS)
    assert text.count("On the sheet’s answer") >= n_notes >= 17
    assert text.count("Full answer:") == 41
    # The study guide folds its answers on the web page; the PDF prints them open.
    flat = " ".join(text.replace("\u2019", "'").split())
    answers = re.findall(r":::\{dropdown\} Answer\n\s*(.+)", (ROOT / "book" / "study_guide.md").read_text())
    openings = [" ".join(a.split()[:3]) for a in answers if not re.search(r"[$`*{\\]", " ".join(a.split()[:3]))]
    assert len(openings) >= 35 and [o for o in openings if o not in flat] == [], "answers missing from the PDF"
    # The quizzes, checked in the web page, print with their answers.
    n_quizzes = (ROOT / "book" / "study_guide.md").read_text().count("```{quiz}")
    assert flat.count("Quiz. ") == n_quizzes and flat.count("Answer: ") == n_quizzes


def test_pages_render_to_png_for_a_person_to_look_at(pdf, text):
    pages = text.split("\f")
    assert 120 < len(pages) < 400

    def first_page_with(phrase):
        return next(i + 1 for i, page in enumerate(pages) if phrase in page)

    chosen = {  # a page of each kind: prose and math, a note, a plot, a diagram, the study guide
        "math": first_page_with("ℎ𝑡 = tanh("),
        "note": first_page_with("On the sheet’s answer\nThe sheet says"),
        "plot": first_page_with("Fig. 1.2: Flip-flop accuracy"),
        "diagram": first_page_with("Fig. 2.1: The LSTM cell"),
        "guide": first_page_with("Full answer:"),
    }
    shutil.rmtree(PAGES_FOR_PEOPLE, ignore_errors=True)
    PAGES_FOR_PEOPLE.mkdir(parents=True)
    for kind, number in chosen.items():
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "70",
                "-png",
                "-singlefile",
                "-f",
                str(number),
                "-l",
                str(number),
                str(pdf / "rnnbook.pdf"),
                str(PAGES_FOR_PEOPLE / f"{kind}-p{number}"),
            ],
            check=True,
        )
    for png in PAGES_FOR_PEOPLE.glob("*.png"):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, png  # a page with something on it
    assert len(list(PAGES_FOR_PEOPLE.glob("*.png"))) == len(chosen)
