"""Sphinx extension: the footer of every page says which version and commit the book was built
from, and under which licences it may be reused; and no page declares an inline script twice."""

import pathlib
import subprocess

import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_info():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    return version, commit


def add_footer(app, config):
    version, commit = build_info()
    repo = "https://github.com/rnnbook/rnnbook"
    footer = (
        f'<p class="rnnbook-build">rnnbook {version}, built from commit <code>{commit}</code>. '
        f'Code: <a href="{repo}/blob/main/LICENSE">MIT</a>; text and figures: '
        f'<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>.</p>'
    )
    config.html_theme_options = {**(config.html_theme_options or {}), "extra_footer": footer}
    config.html_context = {**(config.html_context or {}), "rnnbook_version": version, "rnnbook_commit": commit}


def drop_repeated_inline_scripts(app, pagename, templatename, context, doctree):
    """Inline scripts added with ``app.add_js_file(None, body=...)`` while the sources are read
    (sphinx-thebe's `const THEBE_JS_URL = ...`, sphinx-togglebutton's selector) reach the page twice
    under Sphinx 7.4 (seen in the page context of this build: once with the file name None, once
    with ""), and Sphinx's own check does not see the two as equal. Every page then declared the constant twice
    and Chromium reported "Identifier 'THEBE_JS_URL' has already been declared" (tests/test_book.py now
    records such errors). This keeps the first copy of each inline body."""
    seen, kept = set(), []
    for script in context.get("script_files", []):
        inline = not getattr(script, "filename", None)  # None or "": the two copies differ only there
        body = getattr(script, "attributes", {}).get("body") if inline else None
        if body is not None:
            if body in seen:
                continue
            seen.add(body)
        kept.append(script)
    # in place: the list is the builder's, which other extensions' handlers may still add to
    context["script_files"][:] = kept


def setup(app):
    app.connect("config-inited", add_footer)
    app.connect("html-page-context", drop_repeated_inline_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
