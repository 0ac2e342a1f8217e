"""Sphinx extension: the footer of every page says which version and commit the book was built
from, and under which licences it may be reused."""

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


def setup(app):
    app.connect("config-inited", add_footer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
