"""Sphinx extension for the printable PDF (`make pdf`, Jupyter Book's LaTeX builder).

- Named admonitions get a LaTeX label. Sphinx's LaTeX writer writes no ``\\label`` for an
  admonition's ``:name:``, so every ``{ref}`` to an "On the sheet's answer" note (the errata page
  links all of them) was an undefined reference in the PDF. A target node before each named
  admonition makes the writer emit ``\\phantomsection\\label``.
- Chinese and Japanese ideographs print as their code points. The Seq2Seq chapter shows dates
  written in Japanese and Chinese ("2021年3月4日"); the PDF's fonts (FreeSerif, FreeMono) have no
  CJK glyphs and TeX Live ships none we can rely on offline, so each ideograph that Babel's ja_JP
  and zh_CN date formats can write is typeset as ``<U+5E74>`` instead of a missing glyph.
- The HTML build ships the PDF: when ``_build/latex/rnnbook.pdf`` exists beside the HTML output,
  it is copied to the site's root as ``rnnbook.pdf``, which the introduction links to.
"""

import pathlib
import shutil

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

PDF_NAME = "rnnbook.pdf"
# every ideograph of Babel's ja_JP and zh_CN dates: year, month, day, and the weekday names
CJK_IN_DATES = "年月日曜火水木金土星期一二三四五六天"
logger = logging.getLogger(__name__)


class LabelNamedAdmonitions(SphinxPostTransform):
    default_priority = 5
    builders = ("latex",)

    def run(self, **kwargs):
        for admonition in list(self.document.findall(nodes.Admonition)):
            for id_ in admonition["ids"]:
                admonition.parent.insert(admonition.parent.index(admonition), nodes.target("", "", refid=id_))


def ship_pdf(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    pdf = pathlib.Path(app.outdir).parent / "latex" / PDF_NAME
    if pdf.exists():
        shutil.copy2(pdf, pathlib.Path(app.outdir) / PDF_NAME)
    else:
        logger.info(f"no {pdf}: the site's link to {PDF_NAME} will not resolve (run `make pdf` first)")


def cjk_as_code_points(app, config):
    lines = [r"\usepackage{newunicodechar}", r"\newcommand{\rnnbookcjk}[1]{{\footnotesize\ttfamily<U+#1>}}"]
    lines += [rf"\newunicodechar{{{ch}}}{{\rnnbookcjk{{{ord(ch):04X}}}}}" for ch in CJK_IN_DATES]
    elements = dict(config.latex_elements)
    elements["preamble"] = elements.get("preamble", "") + "\n" + "\n".join(lines) + "\n"
    config.latex_elements = elements


def setup(app):
    app.add_post_transform(LabelNamedAdmonitions)
    app.connect("config-inited", cjk_as_code_points)
    app.connect("build-finished", ship_pdf)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
