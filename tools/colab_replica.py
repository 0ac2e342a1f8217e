"""Colab's runtime, replicated: the versions of ``tests/colab_runtime.txt`` and an interpreter of its
Python. Used by ``tools/newest_jax.py --colab`` (``make colab``), ``make newest`` and
``tests/test_colab_path.py``."""

from __future__ import annotations

import glob
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "tests" / "colab_runtime.txt"


def runtime(path: pathlib.Path = RUNTIME) -> dict[str, str]:
    """``{"python": "3.13", "jax": "0.7.2", ...}``: the pins of the file, in its order."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([\w.]+)", line)
        if not m:
            raise ValueError(f"{path.name}: expected `name==version`, got {line!r}")
        pins[m.group(1)] = m.group(2)
    if "python" not in pins:
        raise ValueError(f"{path.name} must give the interpreter as python==MAJOR.MINOR")
    return pins


def packages(pins: dict[str, str]) -> list[str]:
    """The pip pins (every entry but the interpreter)."""
    return [f"{name}=={version}" for name, version in pins.items() if name != "python"]


def interpreter(minor: str) -> str:
    """A Python ``minor`` (e.g. "3.13") on this machine: this one, ``python3.13`` on the PATH, or one
    of pyenv's (this machine kind has them under ~/.pyenv). Raises with what to install if none."""

    def version_of(python):
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True)
        return out.stdout.decode().strip()

    candidates = [sys.executable, shutil.which(f"python{minor}")]
    candidates += sorted(glob.glob(str(pathlib.Path.home() / ".pyenv" / "versions" / f"{minor}.*" / "bin" / "python")))
    for python in filter(None, candidates):
        if version_of(python) == minor:
            return python
    raise SystemExit(
        f"Colab's Python {minor} was not found (tried this interpreter, python{minor} on the PATH and "
        f"~/.pyenv/versions/{minor}.*): install it (pyenv install {minor}, or a python:{minor} container)"
    )
