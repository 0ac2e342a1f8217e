"""Sphinx extension: the scripts of the figures to explore (``rnnbook.explore``), on the pages that
have one.

A page whose body holds a ``rnnbook-explore`` figure gets ``plotly.min.js`` (copied from the
installed ``plotly`` package into the site's ``_static``: nothing is fetched from a CDN, so the
figure works offline and no request leaves the page) and ``rnnbook-explore.js``. Other pages load
neither (plotly.min.js is 4.8 MB). Other builders (the PDF) print the figure's static image.
"""

import pathlib
import shutil


def plotly_js() -> pathlib.Path:
    import plotly

    return pathlib.Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def add_scripts(app, pagename, templatename, context, doctree):
    if "rnnbook-explore" in context.get("body", ""):
        app.add_js_file("plotly.min.js", priority=600)
        app.add_js_file("rnnbook-explore.js", priority=601)


def copy_plotly(app, exception):
    if exception is None and app.builder.format == "html":
        static = pathlib.Path(app.outdir) / "_static"
        static.mkdir(exist_ok=True)
        shutil.copy2(plotly_js(), static / "plotly.min.js")


def setup(app):
    app.connect("html-page-context", add_scripts)
    app.connect("build-finished", copy_plotly)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
