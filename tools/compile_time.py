"""How much of a chapter's run is JAX compiling? Execute a chapter once with a listener on JAX's
compilation events and print the chapter's time beside the time spent tracing, lowering and compiling.

    python tools/compile_time.py transformers [lstm ...]

A copy of the notebook, with one cell added first (the listener) and one last (the totals), is executed
in a fresh kernel into _build/compile-time/; the chapter itself is not changed. Measured on 2 cores
(Intel Xeon, 150-170 GFLOP/s): of the Transformers chapter's 689 s, XLA's backend compilation took
188 s, tracing 32 s and lowering to MLIR 15 s (a third of the run): each `train.fit_seeds` call
compiles its own epoch program.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "compile-time"

FIRST = """import collections as _collections, time as _time
import jax.monitoring as _monitoring
_COMPILE = _collections.Counter()
_monitoring.register_event_duration_secs_listener(lambda event, seconds, **_: _COMPILE.update({event: seconds}))
_CHAPTER_T0 = _time.perf_counter()"""
LAST = """print("RESULT", __import__("json").dumps({"total": _time.perf_counter() - _CHAPTER_T0, **_COMPILE}))"""
EVENTS = {
    "backend compile": "/jax/core/compile/backend_compile_duration",
    "tracing": "/jax/core/compile/jaxpr_trace_duration",
    "lowering": "/jax/core/compile/jaxpr_to_mlir_module_duration",
}


def instrumented(notebook: pathlib.Path) -> nbformat.NotebookNode:
    """The notebook with the listener cell first and the totals cell last."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = [nbformat.v4.new_code_cell(FIRST), *nb.cells, nbformat.v4.new_code_cell(LAST)]
    return nb


def result_of(executed: pathlib.Path) -> dict:
    """The totals the last cell printed: {"total": seconds, event name: seconds, ...}."""
    nb = nbformat.read(executed, as_version=4)
    text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    found = re.search(r"RESULT (\{.*\})", text)
    if not found:
        raise RuntimeError(f"{executed} did not print its totals (did a cell fail?)")
    return json.loads(found.group(1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", help="chapter stems (book/<stem>.ipynb)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for stem in args.chapters:
        source = ROOT / "book" / f"{stem}.ipynb"
        if not source.exists():
            parser.error(f"no chapter {source}")
        copy = ROOT / "book" / f"_compile_time_{stem}.ipynb"  # beside the chapter: its relative paths work
        nbformat.write(instrumented(source), copy)
        try:
            cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                   "--ExecutePreprocessor.timeout=1800", "--output-dir", str(OUT), "--output", stem,
                   str(copy)]  # fmt: skip
            subprocess.run(cmd, cwd=ROOT / "book", check=True, capture_output=True, text=True)
        finally:
            copy.unlink()
        r = result_of(OUT / f"{stem}.ipynb")
        parts = {name: r.get(event, 0.0) for name, event in EVENTS.items()}
        share = sum(parts.values()) / r["total"]
        print(
            f"{stem}: {r['total']:.0f} s, of which "
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in parts.items())
            + f" ({share:.0%} compiling)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
