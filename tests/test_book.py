"""The book as a whole: it builds with warnings as errors, its notebooks are stored executed,
its figures are reproducible, it answers the sheet, and it works in a real browser."""

import functools
import http.server
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading

import pytest
import yaml
from conftest import jupyter_book, wait_for_system_packages

pytestmark = pytest.mark.book  # the tier of the repository's book (`make test`, not `make unit`)

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHEET = ROOT.parent / "shared" / "seed" / "rnn-qa-sheet.md"
COVERAGE_TOOL = ROOT.parent / "shared" / "tools" / "seed_coverage.py"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CHAPTERS = [entry["file"] for part in TOC["parts"] if part["caption"] == "Chapters" for entry in part["chapters"]]
NOTEBOOKS = [ROOT / f"{c}.ipynb" for c in CHAPTERS]
APPENDICES = [entry["file"] for part in TOC["parts"] if part["caption"] == "Appendix" for entry in part["chapters"]]
ALL_NOTEBOOKS = NOTEBOOKS + [ROOT / f"{a}.ipynb" for a in APPENDICES]
# Companion notebooks of worked solutions (book/solutions/<chapter>.ipynb): the exercises whose solutions
# train for longer than their chapter's budget. Each is a section of its chapter in _toc.yml; `make
# solutions` executes them through nbval (not `make test`, which must stay within 30 minutes).
COMPANIONS = {
    entry["file"]: section["file"]
    for part in TOC["parts"]
    for entry in part["chapters"]
    for section in entry.get("sections", [])
    if section["file"].startswith("book/solutions/")
}
COMPANION_NOTEBOOKS = [ROOT / f"{s}.ipynb" for s in COMPANIONS.values()]
# The sheet's section each chapter answers, in the sheet's order.
SECTIONS = {
    "recurrence": "Recurrence",
    "lstm": "LSTM",
    "vanishing_gradient": "Vanishing Gradient",
    "seq2seq": "Seq2Seq",
    "word_embedding": "WordEmbedding",
    "ntm": "Neural Turing Machines",
    "transformers": "Transformers",
    "modern_rnns": None,  # Chapter 8 goes beyond the sheet: no section of it to answer
}


def load(nb_path):
    return json.loads(nb_path.read_text())


# ----------------------------------------------------------------------------------------------
# Notebooks
# ----------------------------------------------------------------------------------------------
def test_chapters_follow_the_sheet_order():
    names = [pathlib.Path(c).name for c in CHAPTERS]
    order = list(SECTIONS)
    assert names == sorted(names, key=order.index), f"chapters out of the sheet's order: {names}"
    assert all(nb.exists() for nb in NOTEBOOKS)


@pytest.mark.parametrize("nb_path", ALL_NOTEBOOKS + COMPANION_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_executed_top_to_bottom(nb_path):
    nb = load(nb_path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"not one fresh top-to-bottom run: {counts}"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"stored error outputs: {[e['ename'] for e in errors]}"
    assert any("assert " in "".join(c["source"]) for c in code)
    assert nb_path.stat().st_size < 3_000_000


@pytest.mark.parametrize("nb_path", ALL_NOTEBOOKS + COMPANION_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_colab_install_cell_points_at_the_repository(nb_path):
    first = "".join(next(c for c in load(nb_path)["cells"] if c["cell_type"] == "code")["source"])
    assert '"google.colab" in sys.modules' in first, "the first code cell must be the Colab install cell"
    url = re.search(r'REPOSITORY = "([^"]+)"', first).group(1)
    assert url == CONFIG["repository"]["url"]
    assert "git+{REPOSITORY}" in first


@pytest.mark.parametrize("nb_path", [nb for nb in NOTEBOOKS if SECTIONS[nb.stem]], ids=lambda p: p.stem)
def test_sheet_questions_are_headings(nb_path):
    if not (SHEET.exists() and COVERAGE_TOOL.exists()):
        pytest.skip("the seed sheet and its coverage tool live in ../shared, beside the repository")
    section = SECTIONS[nb_path.stem]
    result = subprocess.run(
        [sys.executable, str(COVERAGE_TOOL), str(SHEET), str(nb_path), section], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
    assert re.search(r"covered (\d+)/\1 ", result.stdout), result.stdout


def glossary_terms():
    """The terms that book/glossary.md defines (a line, then its definition indented by two)."""
    return set(re.findall(r"^([A-Za-z][\w ]*?)\n  \S", (ROOT / "book" / "glossary.md").read_text(), re.M))


def test_glossary_defines_the_sheets_acronyms():
    terms = glossary_terms()
    wanted = {
        "FFNN",
        "CNN",
        "RNN",
        "NN",
        "ML",
        "BPTT",
        "TBPTT",
        "LSTM",
        "CEC",
        "LTR",
        "RTL",
        "FC",
        "WE",
        "NLP",
        "BOW",
        "CBOW",
        "VG",
        "EG",
        "ie",
        "eg",
        "wrt",
        "AR",
        "NARX",
        "GRU",
        "BiLSTM",
        "seq2seq",
        "SOS",
        "EOS",
        "PAD",
        "UNK",
        "NNLM",
        "NTM",
    }
    assert wanted <= terms, f"missing from the glossary: {sorted(wanted - terms)}"


def markdown_of(path):
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "markdown")
    return path.read_text()


@pytest.mark.parametrize("nb_path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_ends_with_exercises(nb_path):
    headings = re.findall(r"^## (.+)$", markdown_of(nb_path), re.M)
    assert headings[-1] == "Exercises", f"the last section should be the exercises, not {headings[-1]!r}"
    exercises = markdown_of(nb_path).split("\n## Exercises", 1)[1]
    assert len(re.findall(r"^\d+\. ", exercises, re.M)) >= 3, "at least three numbered exercises"


# Worked solutions ---------------------------------------------------------------------------------
# The exercises that have no worked solution yet, by notebook: the list may only shrink (a solution
# added and not removed from here fails the test below, as does a solution lost).
UNSOLVED = {}


def exercises_of(nb_path):
    """{number: text} of the numbered items of a notebook's "## Exercises" section."""
    section = markdown_of(nb_path).split("\n## Exercises", 1)[1].split("\n#", 1)[0]
    items = re.split(r"^(\d+)\. ", section, flags=re.M)[1:]
    return {int(n): " ".join(text.split("\n\n")[0].split()) for n, text in zip(items[::2], items[1::2], strict=True)}


def companion_solutions(nb_path):
    """{number: quoted exercise text} of the "## Exercise N: ..." sections of a companion notebook that
    quote their exercise and hold a folded solution, an assert and code (checked here)."""
    nb = load(nb_path)
    solved, number, seen, quote = {}, None, set(), ""
    for cell in nb["cells"] + [{"cell_type": "markdown", "source": "## end"}]:
        text = "".join(cell["source"])
        heading = re.match(r"## Exercise (\d+): ", text) if cell["cell_type"] == "markdown" else None
        if heading or text == "## end":
            if number is not None and {"quote", "dropdown", "assert"} <= seen:
                solved[number] = quote
            number, seen = (int(heading.group(1)), set()) if heading else (None, set())
            quote = ""
        if number is None:
            continue
        quoted = re.findall(r"^>(.*)$", text, re.M) if cell["cell_type"] == "markdown" else []
        if quoted and not quote:  # the exercise, quoted (in the heading's cell or the next)
            quote = " ".join(" ".join(quoted).split())
            quote = re.sub(r"^\d+\. ", "", quote).replace("{doc}`../", "{doc}`")  # links from book/solutions/
            seen.add("quote")
        if cell["cell_type"] == "markdown" and text.startswith(":::{dropdown} Solution"):
            seen.add("dropdown")
        if cell["cell_type"] == "code" and re.search(r"^\s*assert ", text, re.M):
            seen.add("assert")
    return solved


@pytest.mark.parametrize("nb_path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_worked_solution(nb_path):
    """Each exercise is solved in its chapter (a dropdown "Solution to exercise N" with code that asserts)
    or in the chapter's companion notebook, which quotes the exercise word for word."""
    exercises = exercises_of(nb_path)
    text = markdown_of(nb_path)
    solved = {int(n) for n in re.findall(r"^:::\{dropdown\} Solution to exercise (\d+)$", text, re.M)}
    chapter = f"book/{nb_path.stem}"
    if chapter in COMPANIONS:
        companion = ROOT / f"{COMPANIONS[chapter]}.ipynb"
        quoted = companion_solutions(companion)
        for n, quote in quoted.items():
            assert quote == exercises.get(n), f"{companion.name}: exercise {n} is not quoted as the chapter states it"
        assert not solved & set(quoted), f"solved twice: {sorted(solved & set(quoted))}"
        solved |= set(quoted)
        assert f"{{doc}}`solutions/{nb_path.stem}`" in text, "the chapter must link its companion notebook"
    assert solved <= set(exercises), f"solutions to exercises that do not exist: {sorted(solved - set(exercises))}"
    assert set(exercises) - solved == UNSOLVED.get(nb_path.stem, set()), (
        f"unsolved: {sorted(set(exercises) - solved)}; UNSOLVED lists {sorted(UNSOLVED.get(nb_path.stem, set()))}"
    )


def test_companion_notebooks_are_sections_of_their_chapters():
    on_disk = sorted(
        p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "book" / "solutions").glob("*.ipynb")
    )
    assert sorted(COMPANIONS.values()) == on_disk, "every companion notebook is a section of its chapter in _toc.yml"
    for chapter, companion in COMPANIONS.items():
        assert companion == f"book/solutions/{pathlib.Path(chapter).name}", (chapter, companion)
        title = re.search(r"^# (.+)$", markdown_of(ROOT / f"{companion}.ipynb"), re.M).group(1)
        chapter_title = re.search(r"^# (.+)$", markdown_of(ROOT / f"{chapter}.ipynb"), re.M).group(1)
        assert title == f"Worked solutions: {chapter_title}", title


def test_every_acronym_used_is_in_the_glossary():
    terms = glossary_terms()
    not_acronyms = {"READ", "WRITE", "US", "CC", "BY"}  # emphasis, a country, a licence name
    used = {}
    for path in ALL_NOTEBOOKS + COMPANION_NOTEBOOKS + sorted((ROOT / "book").glob("*.md")):
        text = markdown_of(path)
        text = re.sub(r"```\{glossary\}.*?```", "", text, flags=re.S)  # the definitions themselves
        text = re.sub(r"`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\{cite\}", "", text, flags=re.S)
        for word in re.findall(r"\b([A-Z][A-Z0-9]+)s?\b", text):
            used.setdefault(word, path.name)
    missing = {w: where for w, where in used.items() if w not in terms | not_acronyms}
    assert not missing, f"acronyms used but not in book/glossary.md: {missing}"


# The study guide and the errata page ------------------------------------------------------------
SHEET_Q_LABEL = re.compile(r"^\((sheet-q-[\w-]+)\)=\n#{2,3} ", re.M)
NOTE_NAME = re.compile(r"^```\{admonition\} On the sheet's answer\n:name: (sheet-note-[\w-]+)$", re.M)


def test_study_guide_lists_every_question_and_links_its_answer():
    guide_path = ROOT / "book" / "study_guide.md"
    guide = guide_path.read_text()
    if SHEET.exists() and COVERAGE_TOOL.exists():
        result = subprocess.run(
            [sys.executable, str(COVERAGE_TOOL), "--lines", str(SHEET), str(guide_path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout
        n_questions = int(re.search(r"covered (\d+)/\1 ", result.stdout).group(1))
    else:
        n_questions = 41
    # The answers are linked in the sheet's order, to a label placed on the heading that answers them.
    defined = [label for nb in NOTEBOOKS for label in SHEET_Q_LABEL.findall(markdown_of(nb))]
    linked = re.findall(r"\{ref\}`[^`<]+<(sheet-q-[\w-]+)>`", guide)
    assert len(defined) == len(set(defined)) == n_questions
    assert linked == defined, "the study guide must link every question's heading, in the sheet's order"
    # Each model answer is two to four sentences.
    items = re.split(r"^\d+\. \*\*.+?\*\*\\?\n", guide, flags=re.M)[1:]
    assert len(items) == n_questions
    for item in items:
        answer = item.split("Full answer:")[0].replace("\\\n", "\n")  # hard line breaks
        sentences = re.findall(r"[.!?](?:\s|$)", re.sub(r"\b(e\.g|i\.e|et al|vs)\.", "", answer))
        assert 2 <= len(sentences) <= 4, f"a model answer of {len(sentences)} sentences: {answer[:80]!r}"


def test_errata_page_lists_every_note_on_the_sheet():
    notes = []
    for nb in NOTEBOOKS:
        text = markdown_of(nb)
        assert text.count("```{admonition} On the sheet's answer") == len(NOTE_NAME.findall(text)), (
            f"{nb.name}: every note on the sheet's answer needs a :name: right after its title"
        )
        notes += NOTE_NAME.findall(text)
    errata = (ROOT / "book" / "errata.md").read_text()
    listed = re.findall(r"\{ref\}`[^`<]+<(sheet-note-[\w-]+)>`", errata)
    assert len(notes) >= 15 and listed == notes, f"missing from errata.md: {sorted(set(notes) - set(listed))}"


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------
def test_figures_are_reproducible_and_up_to_date(tmp_path):
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        subprocess.run([sys.executable, "-m", "rnnbook.figures", "--out", str(out)], check=True, capture_output=True)
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names and names == sorted(p.name for p in outs[1].iterdir())
    for name in names:
        first = (outs[0] / name).read_bytes()
        assert first == (outs[1] / name).read_bytes(), f"{name} differs between two runs"
        committed = ROOT / "book" / "figures" / name
        assert committed.exists() and committed.read_bytes() == first, (
            f"book/figures/{name} is stale: run `make figures` and commit"
        )


# ----------------------------------------------------------------------------------------------
# The build
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def html(tmp_path_factory, request):
    out = tmp_path_factory.mktemp("book")
    try:  # the PDF first, where `make book` puts it, so that the HTML build ships it (book/_ext/rnnbook_pdf.py)
        pdf = request.getfixturevalue("pdf")
        (out / "_build" / "latex").mkdir(parents=True)
        shutil.copy2(pdf / "rnnbook.pdf", out / "_build" / "latex" / "rnnbook.pdf")
    except pytest.skip.Exception:
        pass  # no TeX Live here (outside CI): the site is built without its PDF
    jb = jupyter_book()
    result = subprocess.run(
        [jb, "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and "build succeeded" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "_build" / "html"


def test_book_builds_with_warnings_as_errors(html):
    for chapter in CHAPTERS + APPENDICES + ["book/glossary", "book/bibliography", "book/intro"]:
        assert (html / f"{chapter}.html").exists(), chapter
    page = (html / "book" / "recurrence.html").read_text()
    assert "© Copyright 2026" in page
    assert "cdn.jsdelivr" not in page and "mathjax/tex-chtml.js" in page, "MathJax must be served locally"


def test_pages_are_ready_to_be_shared_and_say_what_they_were_built_from(html):
    base = CONFIG["html"]["baseurl"]
    owner, repo = CONFIG["repository"]["url"].removeprefix("https://github.com/").split("/")
    assert base == f"https://{owner}.github.io/{repo}/", "html.baseurl must be the Pages URL of repository.url"
    sitemap = (html / "sitemap.xml").read_text()
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    for page in CHAPTERS + APPENDICES + ["book/intro", "book/study_guide", "book/errata", "book/glossary"]:
        assert f"<loc>{base}{page}.html</loc>" in sitemap, page
        text = (html / f"{page}.html").read_text()
        description = re.search(r'<meta property="og:description" content="([^"]+)"', text)
        assert description and 60 < len(description.group(1)) <= 200 and "\\" not in description.group(1), page
        assert '<meta property="og:title"' in text and f'content="{base}{page}.html"' in text
        footer = re.search(r'<p class="rnnbook-build">(.*?)</p>', text, re.S).group(1)
        assert f"rnnbook {version}, built from commit" in footer and "CC BY 4.0" in footer and "MIT" in footer
        if commit:
            assert commit in footer


@pytest.mark.parametrize("chapter", CHAPTERS + APPENDICES + list(COMPANIONS.values()))
def test_launch_buttons_point_at_the_notebook(html, chapter):
    page = (html / f"{chapter}.html").read_text()
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    branch = CONFIG["repository"]["branch"]
    assert f'href="https://colab.research.google.com/github/{repo}/blob/{branch}/{chapter}.ipynb"' in page
    assert "mybinder.org" not in page, "no launch button that nobody tested (Binder cannot build this environment)"
    # The download button gives the notebook as stored, outputs included.
    assert re.search(rf'href="[^"]*_sources/{re.escape(chapter)}\.ipynb"', page), "no .ipynb download link"
    served = json.loads((html / "_sources" / f"{chapter}.ipynb").read_text())
    assert any(cell.get("outputs") for cell in served["cells"]), "the downloaded notebook has lost its outputs"


# ----------------------------------------------------------------------------------------------
# A real browser
# ----------------------------------------------------------------------------------------------
# The theme logs this once on a first visit with no stored preference; it is harmless.
TOLERATED_CONSOLE_ERRORS = ("Got invalid theme mode",)


@pytest.fixture(scope="session")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright drives the browser")
    wait_for_system_packages()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: `make test` installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture(scope="session")
def server(html):
    handler = functools.partial(QuietHandler, directory=str(html))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


PAGES = [f"{c}.html" for c in CHAPTERS + APPENDICES + list(COMPANIONS.values())] + [
    "book/intro.html",
    "book/study_guide.html",
    "book/errata.html",
    "book/glossary.html",
    "book/bibliography.html",
]
SCREENSHOTS = ROOT / "_build" / "screenshots"  # ignored by git: for a person to look at
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# Raw TeX that MathJax should have typeset; looked for in the visible text outside code.
RAW_MATH = re.compile(r"\$\$|\\\(|\\\[|\\frac|\\begin\{|\\mathbf|\\sum_")
VISIBLE_PROSE = """() => {
  const body = document.querySelector('main') || document.body;
  const copy = body.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .highlight, .cell_output').forEach(e => e.remove());
  return copy.innerText;
}"""


# The page that the browser tests of one page share (tests/conftest.py runs them page by page): loaded
# once, at desktop size and in the light scheme; a test that resizes it or switches it to dark puts it
# back. A chapter page's load (its math typeset) was most of each test's time.
LOADED: dict = {}


def loaded_page(browser, server, page_path):
    """The page ``page_path`` as the last test left it, if it was the same page; else a fresh load
    (desktop size, light scheme), closing the one before. Returns (page, seen), as :func:`open_page`."""
    page = LOADED.get("page")
    if page is not None and LOADED["path"] == page_path and not page.is_closed():
        return page, LOADED["seen"]
    if page is not None and not page.is_closed():
        page.close()
    page, seen = open_page(browser, server, page_path)
    LOADED.update(path=page_path, page=page, seen=seen)
    return page, seen


def resize(page, size):
    """Set the viewport to ``size`` and wait until the page has laid itself out again: two animation
    frames (the theme's layout is CSS media queries), and every figure to explore resized to its box."""
    page.set_viewport_size(SIZES[size])
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.rnnbook-explore-live .rnnbook-explore-plot')].every(p =>
            Math.abs(p.getBoundingClientRect().width - p.parentElement.getBoundingClientRect().width) <= 2)""",
        timeout=10_000,
    )


def open_page(browser, server, page_path):
    """Open a page (desktop size, light scheme) with every request to another host aborted and
    recorded, and collect errors."""
    page = browser.new_page(viewport=SIZES["desktop"], color_scheme="light")
    seen = {"errors": [], "failed": [], "external": []}
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(f"uncaught: {e}"))  # a script that threw, or did not parse
    page.on("response", lambda r: r.status >= 400 and seen["failed"].append(f"{r.status} {r.url}"))

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            seen["external"].append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{server}/{page_path}")
    page.wait_for_load_state("networkidle")
    if page.evaluate("document.querySelectorAll('.math, .MathJax, mjx-container').length") > 0:
        page.wait_for_selector("mjx-container", state="attached", timeout=20_000)  # math may sit in a folded answer
        page.evaluate("MathJax.startup.promise")
    return page, seen


@pytest.mark.parametrize("page_path", PAGES)
@pytest.mark.browser
def test_page_renders_offline_in_chromium(browser, server, page_path):
    page, seen = loaded_page(browser, server, page_path)
    if page.locator("mjx-container").count():
        assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
    raw = RAW_MATH.findall(page.evaluate(VISIBLE_PROSE))
    assert not raw, f"math left untypeset in the page's text: {raw[:5]}"
    broken = page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert broken == [], f"images that did not load: {broken}"
    unlabelled = page.evaluate("""[...document.querySelectorAll('main img')].filter(i =>
        !(i.alt && i.alt.trim()) && !(i.closest('figure') && i.closest('figure').querySelector('figcaption'))
      ).map(i => i.src)""")
    assert unlabelled == [], f"images with neither alt text nor a caption: {unlabelled}"
    assert seen["failed"] == [], f"requests that failed: {seen['failed']}"
    assert seen["external"] == [], f"requests that tried to leave the machine: {seen['external']}"
    unexpected = [e for e in seen["errors"] if not e.startswith(TOLERATED_CONSOLE_ERRORS)]
    assert unexpected == [], f"console errors: {unexpected}"
    if page_path.removesuffix(".html") in CHAPTERS + APPENDICES + list(COMPANIONS.values()):
        repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
        colab = (
            f"https://colab.research.google.com/github/{repo}/blob/{CONFIG['repository']['branch']}/"
            f"{page_path.removesuffix('.html')}.ipynb"
        )
        assert page.locator(f"a[href='{colab}']").count() == 1, "the Colab launch button is missing"
        # the first screen says what the chapter shows: its opening paragraph starts above the fold
        top, words = page.evaluate("""() => { const p = document.querySelector('main section > p');
            return p ? [p.getBoundingClientRect().top, p.innerText.split(/\\s+/).length] : [1e9, 0]; }""")
        assert top < SIZES["desktop"]["height"] and words >= 25, (
            f"no opening paragraph on the first screen ({top}, {words})"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{pathlib.Path(page_path).stem}-desktop.png")


@pytest.mark.parametrize("page_path", PAGES)
@pytest.mark.browser
def test_page_fits_a_phone_screen(browser, server, page_path):
    """At phone width the page must not scroll sideways: wide code, outputs and tables scroll inside
    their own boxes, figures shrink to the screen. The page the rendering test loaded, narrowed to a
    phone's width (the theme's layout follows the width as it changes: CSS media queries), then widened
    back."""
    page, _ = loaded_page(browser, server, page_path)
    resize(page, "phone")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    wide = page.evaluate("""[...document.querySelectorAll('main img, main figure, main table')].filter(e =>
        e.getBoundingClientRect().right > window.innerWidth + 1
        && !e.closest('.pst-scrollable-table-container, .cell_output, pre')
      ).map(e => e.tagName + ' ' + (e.getAttribute('src') || e.id || e.className))""")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{pathlib.Path(page_path).stem}-phone.png")
    page.evaluate("window.scrollTo(0, 0)")
    resize(page, "desktop")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone screen"
    assert wide == [], f"elements wider than a phone screen: {wide}"


# The figures of a page: images in the article wide enough to be a plot or a diagram (not an icon).
FIGURES = """[...document.querySelectorAll('.bd-content img, .bd-content .rnnbook-explore-plot')].filter(i =>
    i.getBoundingClientRect().width > 120 && (i.tagName !== 'IMG' || i.naturalWidth > 0) && i.offsetParent !== null)"""


@pytest.mark.parametrize(
    "page_path", [f"{c}.html" for c in CHAPTERS + APPENDICES + list(COMPANIONS.values())] + ["book/intro.html"]
)
@pytest.mark.browser
def test_every_figure_is_legible_in_dark_mode(browser, server, page_path):
    """In the theme's dark mode (the reader's system asks for it) each figure must sit on a light
    panel with its dark ink visible: a plot with a transparent background and black text, the usual
    failure, would show black on near-black. Each figure's screenshot is kept for a person to look
    at (``_build/screenshots/dark/``). The page the rendering test loaded is switched to dark in place
    (the theme follows the system's scheme as it changes: its "auto" mode), checked, and switched back."""
    import numpy as np
    from PIL import Image

    page, _ = loaded_page(browser, server, page_path)
    page.emulate_media(color_scheme="dark")
    page.wait_for_function("document.documentElement.dataset.theme === 'dark'", timeout=5_000)
    assert page.evaluate("document.documentElement.dataset.theme") == "dark", "the theme did not switch to dark"
    count = page.evaluate(f"({FIGURES}).length")
    out = SCREENSHOTS / "dark"
    out.mkdir(parents=True, exist_ok=True)
    stem, unreadable = pathlib.Path(page_path).stem, []
    for i in range(count):
        handle = page.evaluate_handle(f"({FIGURES})[{i}]").as_element()
        handle.scroll_into_view_if_needed()
        path = out / f"{stem}-{i:02d}.png"
        handle.screenshot(path=path)
        lum = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255
        # the panel: most pixels light; the ink: some pixels dark (text, axes, lines)
        if not (np.median(lum) > 0.6 and (lum < 0.35).mean() > 0.001):
            unreadable.append(f"{handle.get_attribute('src')} (median luminance {np.median(lum):.2f})")
    page.emulate_media(color_scheme="light")
    page.wait_for_function("document.documentElement.dataset.theme === 'light'", timeout=5_000)
    page.evaluate("window.scrollTo(0, 0)")
    assert unreadable == [], f"figures not legible in dark mode: {unreadable}"
    companion = page_path.removesuffix(".html") in COMPANIONS.values()
    if companion:  # every captioned figure of the notebook
        wanted = sum(
            "figure" in c["metadata"].get("mystnb", {})
            for c in load(ROOT / page_path.replace(".html", ".ipynb"))["cells"]
        )
        assert count >= wanted >= 1, f"only {count} of {wanted} figures found on {page_path}: the selector missed them"
    elif stem not in ("intro", "performance", "scaling"):
        assert count >= 3, f"only {count} figures found on {page_path}: the selector missed them"


@pytest.mark.browser
def test_study_guide_hides_each_answer_until_the_reader_opens_it(browser, server):
    """A revision tool: the question shows, its model answer stays folded until clicked; the link to
    the full answer is visible either way."""
    guide = (ROOT / "book" / "study_guide.md").read_text()
    n_answers = guide.count(":::{dropdown} Answer")
    assert n_answers == len(re.findall(r"^(?:\d+\.|-) \*\*", guide, re.M)) >= 41, "every question has a folded answer"
    page, seen = open_page(browser, server, "book/study_guide.html")
    dropdowns = page.locator("main details.sd-dropdown")
    assert dropdowns.count() == n_answers
    assert page.locator("main details.sd-dropdown[open]").count() == 0, "answers must start hidden"
    first = dropdowns.first
    answer = first.locator(".sd-summary-content")
    assert not answer.is_visible()
    first.locator("summary").click()
    assert answer.is_visible() and "feedforward network" in answer.inner_text()
    assert page.locator("main a[href*='recurrence.html#sheet-q-recurrence-1']").first.is_visible()
    page.close()
    assert seen["external"] == []


@pytest.mark.browser
def test_study_guide_quizzes_check_answers_in_the_page(browser, server):
    """Each chapter's quiz (book/_ext/rnnbook_quiz.py): a wrong answer is called wrong, the right one
    right, the explanation appears only after a check, and nothing leaves the page."""
    guide = (ROOT / "book" / "study_guide.md").read_text()
    sections = re.findall(r"^## ", guide, re.M)
    n_quizzes = guide.count("```{quiz}")
    assert len(re.findall(r"^### Quiz: ", guide, re.M)) == len(sections) and n_quizzes >= 2 * len(sections) - 1
    page, seen = open_page(browser, server, "book/study_guide.html")
    forms = page.locator("main form.rnnbook-quiz")
    assert forms.count() == n_quizzes
    for i in range(n_quizzes):
        form = forms.nth(i)
        feedback, explanation = form.locator(".rnnbook-quiz-feedback"), form.locator(".rnnbook-quiz-explanation")
        assert not explanation.is_visible()
        answer = form.get_attribute("data-answer")
        if form.get_attribute("data-kind") == "choice":
            radios = form.locator("input[type=radio]")
            radios.nth((int(answer) + 1) % radios.count()).check()
        else:
            form.locator("input[type=number]").fill(
                str(float(answer) + 2 * float(form.get_attribute("data-tolerance")) + 1)
            )
        form.locator("button").click()
        assert feedback.inner_text().startswith("Not quite") and explanation.is_visible(), f"quiz {i}: a wrong answer"
        if form.get_attribute("data-kind") == "choice":
            form.locator("input[type=radio]").nth(int(answer)).check()
        else:
            form.locator("input[type=number]").fill(answer)
        form.locator("button").click()
        assert feedback.inner_text() == "Right.", f"quiz {i}: the right answer"
    page.close()
    assert seen["external"] == [] and [e for e in seen["errors"] if not e.startswith(TOLERATED_CONSOLE_ERRORS)] == []


@pytest.mark.browser
def test_search_finds_a_term_from_a_chapter(browser, server):
    page, seen = open_page(browser, server, "search.html?q=carousel")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    hits = page.evaluate("[...document.querySelectorAll('#search-results ul.search li a')].map(a => a.href)")
    page.close()
    assert any("vanishing_gradient.html" in h for h in hits), hits
    assert seen["external"] == []


class LinkCollector(__import__("html.parser").parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag != "meta" else ():
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "img", "link", "script"):
                self.links.append(attrs[key])


def test_every_internal_link_resolves(html):
    """Crawl the built site: every relative link and cross-reference names a file that exists and,
    if it has a fragment, an element with that id."""
    pages = {}
    for path in html.rglob("*.html"):
        if "_static" in path.relative_to(html).parts:
            continue  # the theme's template fragments, not pages
        collector = LinkCollector()
        collector.feed(path.read_text(errors="replace"))
        pages[path.resolve()] = collector
    broken, checked = [], 0
    shipped_pdf = (html / "rnnbook.pdf").exists()
    assert 'href="../rnnbook.pdf"' in (html / "book" / "intro.html").read_text(), "the introduction links the PDF"
    if shipped_pdf:
        assert (html / "rnnbook.pdf").read_bytes()[:5] == b"%PDF-"
    else:
        assert not os.environ.get("CI"), "in CI the site must ship the PDF"
    for path, collector in pages.items():
        for link in collector.links:
            if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("//"):
                continue  # external: http(s), mailto, data, javascript
            if link.endswith("rnnbook.pdf") and not shipped_pdf:
                continue  # built without TeX Live (outside CI)
            target, _, fragment = link.partition("#")
            target = target.split("?")[0]
            dest = (path.parent / target).resolve() if target else path
            checked += 1
            if not dest.exists():
                broken.append(f"{path.relative_to(html.resolve())}: {link}")
            elif fragment and dest.suffix == ".html" and fragment not in pages[dest].ids:
                broken.append(f"{path.relative_to(html.resolve())}: {link} (no id {fragment!r})")
    assert checked > 1000
    assert broken == [], f"{len(broken)} broken links, e.g. {broken[:10]}"


# ----------------------------------------------------------------------------------------------
# Figures to explore (rnnbook.explore): a sweep stored with the chapter, drawn by Plotly offline
# ----------------------------------------------------------------------------------------------
EXPLORABLES = {  # chapter: the figures to explore it shows (their names, explore-<name> in the page)
    "recurrence": ["tbptt-reach"],
    "lstm": ["forget-bias"],
    "vanishing_gradient": ["spectral-radius"],
    "seq2seq": ["attention-alignments"],
    "word_embedding": ["embedding-spaces"],
    "ntm": ["ntm-location-addressing"],
    "transformers": ["transformer-heads"],
    "modern_rnns": ["lru-modulus"],
}
EXPLORE_SPEC = re.compile(r'<script type="application/json" class="rnnbook-explore-spec">(.*?)</script>', re.S)


def test_every_chapter_has_a_figure_to_explore():
    assert set(EXPLORABLES) == {pathlib.Path(c).name for c in CHAPTERS}


@pytest.mark.parametrize("chapter", sorted(EXPLORABLES))
def test_figures_to_explore_are_stored_with_a_static_image_and_valid_frames(chapter):
    """Each figure to explore is stored in its chapter's notebook as one output: HTML with every
    frame (Plotly JSON that plotly itself validates) and a PNG of the same figure for the PDF, for
    Colab and for Jupyter; the cell is a numbered, captioned figure and nbval skips its (float) output."""
    go = pytest.importorskip("plotly.graph_objects", reason="plotly validates the stored frames (it builds the book)")
    found = {}
    for cell in load(ROOT / "book" / f"{chapter}.ipynb")["cells"]:
        for out in cell.get("outputs", []):
            html_out = "".join(out.get("data", {}).get("text/html", ""))
            if 'class="rnnbook-explore"' not in html_out:
                continue
            spec = json.loads(EXPLORE_SPEC.search(html_out).group(1).replace("<\\/", "</"))
            found[spec["name"]] = spec
            assert "image/png" in out["data"], f"{spec['name']}: no static image for the PDF and Colab"
            figure = cell["metadata"].get("mystnb", {}).get("figure", {})
            assert figure.get("name", "").startswith("fig-") and len(figure.get("caption", "")) > 80, spec["name"]
            assert "nbval-ignore-output" in cell["metadata"].get("tags", []), spec["name"]
            layout = {k: v for k, v in spec["layout"].items()}
            sizes = [len(s["steps"]) for s in layout["sliders"]]
            assert len(spec["frames"]) == max(1, math.prod(sizes)), spec["name"]
            for key, frame in spec["frames"].items():
                data, patch = (frame, {}) if isinstance(frame, list) else (frame["data"], frame["layout"])
                merged = {
                    **layout,
                    **{k: {**layout.get(k, {}), **v} if isinstance(v, dict) else v for k, v in patch.items()},
                }
                go.Figure(data=data, layout=merged)  # raises on a property Plotly does not know
    assert sorted(found) == sorted(EXPLORABLES[chapter])


HOVER_POINT = """(el) => {  // the page position of a point of the first trace that shows a hover label
  const gd = el.querySelector('.rnnbook-explore-plot'), box = gd.getBoundingClientRect();
  const t = gd._fullData.find(d => d.hoverinfo !== 'skip' && d.visible !== false);
  const axis = (letter, ref) => gd._fullLayout[letter + 'axis' + (ref.length > 1 ? ref.slice(1) : '')];
  const xa = axis('x', t.xaxis), ya = axis('y', t.yaxis);
  let x, y;
  if (t.type === 'heatmap') { const i = Math.floor(t.z.length / 2); y = i; x = Math.floor(t.z[i].length / 2); }
  else {  // the middle one of the points drawn inside the axes (a log axis may cut a curve off)
    const inside = t.x.map((v, j) => [xa.d2p(v), t.y[j] === null ? NaN : ya.d2p(t.y[j])])
      .filter(([px, py]) => px >= 0 && px <= xa._length && py >= 0 && py <= ya._length);
    const [px, py] = inside[Math.floor(inside.length / 2)];
    return [box.left + xa._offset + px, box.top + ya._offset + py];
  }
  return [box.left + xa._offset + xa.d2p(x), box.top + ya._offset + ya.d2p(y)];
}"""


@pytest.mark.parametrize("chapter", sorted(EXPLORABLES))
@pytest.mark.browser
def test_figures_to_explore_respond_to_sliders_and_hover_offline(browser, server, chapter):
    """In Chromium, at desktop and phone width: Plotly replaces the static image; moving each slider
    (a click on its rail) shows another stored frame and changes the plotted data; hovering over a
    point shows its label; the figure fits the screen; no request leaves the page. The page is the one
    the rendering test loaded (the last test of it: the sliders stay where it moved them), narrowed to
    a phone's width for the second round."""
    page, seen = loaded_page(browser, server, f"book/{chapter}.html")
    for size in ("desktop", "phone"):
        resize(page, size)
        for name in EXPLORABLES[chapter]:
            el = page.locator(f"#explore-{name}")
            el.scroll_into_view_if_needed()
            page.wait_for_selector(f"#explore-{name}.rnnbook-explore-live", timeout=20_000)
            assert not el.locator("img.rnnbook-explore-static").is_visible(), f"{name}: the static image still shows"
            plot = el.locator(".rnnbook-explore-plot")
            right = plot.evaluate("p => p.getBoundingClientRect().right")
            assert right <= SIZES[size]["width"] + 1, f"{name} at {size} width: {right}px wide"
            sliders = el.locator(".slider-rail-touch-rect")
            for k in range(sliders.count()):
                before_key = el.get_attribute("data-frame")
                before = plot.evaluate("p => JSON.stringify(p.data)")
                rail = sliders.nth(k).bounding_box()
                current = int(before_key.split(",")[k])
                steps = plot.evaluate(f"p => p.layout.sliders[{k}].steps.length")
                target = 0.97 if current < steps / 2 else 0.03  # the far end of the rail from where it stands
                page.mouse.click(rail["x"] + rail["width"] * target, rail["y"] + rail["height"] / 2)
                page.wait_for_function(
                    f"() => document.getElementById('explore-{name}').dataset.frame !== '{before_key}'", timeout=5_000
                )
                after_key = el.get_attribute("data-frame")
                assert after_key.split(",")[k] != before_key.split(",")[k], (name, k, before_key, after_key)
                assert plot.evaluate("p => JSON.stringify(p.data)") != before, f"{name}: slider {k} changed nothing"
            x, y = el.evaluate(HOVER_POINT)
            page.mouse.move(x, y)
            page.wait_for_selector(f"#explore-{name} .hoverlayer .hovertext", state="attached", timeout=5_000)
            assert el.locator(".hoverlayer .hovertext").first.text_content().strip(), f"{name}: an empty hover label"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            el.screenshot(path=SCREENSHOTS / f"explore-{name}-{size}.png")
        assert seen["external"] == [], f"requests that tried to leave the machine: {seen['external']}"
        assert seen["failed"] == [], seen["failed"]
        assert [e for e in seen["errors"] if not e.startswith(TOLERATED_CONSOLE_ERRORS)] == [], seen["errors"]


def test_plotly_is_served_with_the_book_and_only_on_pages_that_use_it(html):
    assert (html / "_static" / "plotly.min.js").stat().st_size > 1_000_000
    for chapter in CHAPTERS + APPENDICES + ["book/intro", "book/study_guide"]:
        page = (html / f"{chapter}.html").read_text()
        uses = 'class="rnnbook-explore"' in page
        assert ("_static/plotly.min.js" in page) == uses, chapter
        assert "cdn.plot.ly" not in page and "cdn.jsdelivr" not in page, chapter


@pytest.mark.browser
def test_chapter_figures_and_cross_references_render(browser, server):
    page = browser.new_page()
    page.goto(f"{server}/book/recurrence.html")
    page.wait_for_load_state("networkidle")
    assert page.locator("figure img[src$='unrolled_rnn.svg']").count() == 1
    assert page.locator("a[href='#fig-unrolled']").first.inner_text().startswith("Fig.")
    assert page.locator("a[href*='glossary.html#term-RNN']").count() > 0
    assert page.locator("a[href*='bibliography'], a.reference.internal[href*='#id']").count() > 0
    page.close()


def test_performance_appendix_reads_chapter_times_that_match_the_stored_notebooks(tmp_path):
    """The appendix renders benchmarks/results/chapters.json; its chapter times must be those of the
    notebooks as stored (re-run `python benchmarks/chapters.py` after re-executing a chapter)."""
    out = tmp_path / "chapters.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "chapters.py"),
            "--out",
            str(out),
            "--report",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    fresh = json.loads(out.read_text())["chapters"]
    committed = json.loads((ROOT / "benchmarks" / "results" / "chapters.json").read_text())["chapters"]
    assert fresh == committed, "benchmarks/results/chapters.json is stale: run python benchmarks/chapters.py"
    assert {r["chapter"] for r in fresh} == {pathlib.Path(c).name for c in CHAPTERS + APPENDICES} - {"performance"}
