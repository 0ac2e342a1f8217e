"""Wall time of every chapter's top-to-bottom execution and of the whole test command, against the
budgets (a chapter <= 3 min on 2 cores, 5 where the chapter says why; the test command <= 30 min).

    python benchmarks/chapters.py [--execute] [--report _build/test-report.xml] [--out benchmarks/results/chapters.json]

Chapter times come from the stored notebooks: each code cell keeps the timestamps of the run that
produced its outputs (``metadata.execution``: ``iopub.execute_input`` .. ``shell.execute_reply``), and
the stored outputs must come from one top-to-bottom run in a fresh kernel (a test checks the
execution counts). ``--execute`` re-executes every chapter first, here, in a fresh kernel (about
17 minutes), so that the times are this machine's. The slowest cells of each chapter are listed.

The test command's time comes from the JUnit report that ``make test`` writes
(``_build/test-report.xml``): pytest's total, and per chapter the time nbval took to re-execute it
(``make test`` runs two files at once on the two cores, so these are times on a shared machine).
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import common
import jax
import jax.numpy as jnp
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTER_BUDGET_S = 180
# Chapters allowed 5 minutes, each saying why in its text (an honest result needs the training).
ALLOWANCES_S = {
    "transformers": 300,
    "ntm": 300,
    "lstm": 300,
    "vanishing_gradient": 300,
    "seq2seq": 300,
    "modern_rnns": 300,
}
TEST_BUDGET_S = 30 * 60
# Machines of this kind differ in speed (a 2x spread has been seen). The budgets were set on one that
# multiplies 1024 x 1024 float32 matrices at about 300 GFLOP/s on its 2 cores; on a slower machine the
# budget is scaled by how much slower it is, measured in the same run as the chapters' times.
REFERENCE_GFLOPS = 300.0


def notebooks():
    """Every notebook of the book but the Performance appendix, which renders this script's results."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [
        ROOT / f"{entry['file']}.ipynb"
        for part in toc["parts"]
        for entry in part["chapters"]
        if (ROOT / f"{entry['file']}.ipynb").exists() and entry["file"] != "book/performance"
    ]


def matmul_gflops(n: int = 1024, repeats: int = 50) -> float:
    """This machine's speed: GFLOP/s of an n x n float32 matrix product under jit (the best of 3 rounds)."""

    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            r = f(a)
        r.block_until_ready()
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * n**3 / best / 1e9


def stamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def cell_times(nb_path: pathlib.Path) -> tuple[float, list[dict]]:
    """(top-to-bottom seconds, [{index, seconds, first line}]) from the stored execution timestamps."""
    nb = json.loads(nb_path.read_text())
    cells, first, last = [], None, None
    for index, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("execution")
        if cell["cell_type"] != "code" or not meta:
            continue
        start, end = stamp(meta["iopub.execute_input"]), stamp(meta["shell.execute_reply"])
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
        source = "".join(cell["source"]).strip().splitlines()
        head = next((line for line in source if not line.startswith("#")), source[0] if source else "")
        cells.append({"index": index, "seconds": (end - start).total_seconds(), "source": head[:100]})
    if first is None:
        raise SystemExit(f"{nb_path.name}: no execution timestamps stored; re-execute it with nbconvert")
    return (last - first).total_seconds(), cells


def test_report(path: pathlib.Path) -> dict | None:
    if not path.exists():
        return None
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    per_chapter = {}
    for case in suite.iter("testcase"):
        name = case.get("classname", "") + " " + case.get("file", "") + " " + case.get("name", "")
        for nb in notebooks():
            if nb.stem + ".ipynb" in name or f"book.{nb.stem}" in name:
                per_chapter[nb.stem] = per_chapter.get(nb.stem, 0.0) + float(case.get("time", 0))
    return {
        "pytest_seconds": float(suite.get("time")),
        "tests": int(suite.get("tests")),
        "failures": int(suite.get("failures", 0)) + int(suite.get("errors", 0)),
        "skipped": int(suite.get("skipped", 0)),
        "timestamp": suite.get("timestamp"),
        "nbval_seconds_per_chapter": per_chapter,
        "budget_seconds": TEST_BUDGET_S,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="re-execute every chapter here first")
    parser.add_argument("--report", type=pathlib.Path, default=ROOT / "_build" / "test-report.xml")
    parser.add_argument("--out", type=pathlib.Path, default=common.RESULTS / "chapters.json")
    args = parser.parse_args(argv)
    rows = []
    for nb in notebooks():
        if args.execute:
            jupyter = pathlib.Path(sys.executable).parent / "jupyter"
            subprocess.run(
                [str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--inplace",
                 "--ExecutePreprocessor.timeout=900", str(nb)],
                check=True,
            )  # fmt: skip
        total, cells = cell_times(nb)
        budget = ALLOWANCES_S.get(nb.stem, CHAPTER_BUDGET_S)
        slowest = sorted(cells, key=lambda c: -c["seconds"])[:3]
        rows.append({"chapter": nb.stem, "seconds": total, "budget_seconds": budget, "within_budget": total <= budget,
                     "slowest_cells": slowest})  # fmt: skip
        print(f"{nb.stem:20s} {total:6.0f} s of {budget} s  slowest: "
              + "; ".join(f"cell {c['index']} {c['seconds']:.0f} s" for c in slowest))  # fmt: skip
    report = test_report(args.report)
    if report:
        print(f"test command (pytest): {report['pytest_seconds'] / 60:.1f} min of {TEST_BUDGET_S // 60} min, "
              f"{report['tests']} tests, {report['failures']} failed, {report['skipped']} skipped")  # fmt: skip
    gflops = matmul_gflops()
    speed = {"matmul_gflops": round(gflops, 1), "reference_gflops": REFERENCE_GFLOPS,
             "budget_scale": round(max(1.0, REFERENCE_GFLOPS / gflops), 2)}  # fmt: skip
    print(
        f"machine speed: {gflops:.0f} GFLOP/s (budgets set at {REFERENCE_GFLOPS:.0f}): budget x {speed['budget_scale']}"
    )
    result = {"benchmark": "chapters", "machine": common.machine("flax", "optax"), "chapters": rows,
              "machine_speed": speed, "test_command": report}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
