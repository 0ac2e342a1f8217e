"""Do the chapters' claims hold for other seeds and other machines? Run every chapter, asserts on,
outputs not compared, once per configuration, and tabulate which asserts failed where.

    python tools/robust.py [--seeds 1 2 3] [--no-isa] [--no-one-thread] [--only lstm ntm] [--jobs 2]
    python tools/robust.py --companions [--only solutions/ntm ...]   the worked solutions' pages too
    make robust SEEDS="1 2 3"

The configurations:

- ``seed k`` for each k of ``--seeds``: the chapter with ``RNNBOOK_SEED=k`` (every key and seed of the
  chapter shifted, see ``rnnbook.seeds``);
- ``isa``: the stored seed with XLA's CPU code generation held to an older instruction set
  (``XLA_FLAGS=--xla_cpu_max_isa=SSE4_2``), which changes float results in their last digits the way
  another CPU does (the run first checks that it does, on a small computation, and says so);
- ``one thread``: the stored seed on one core (``taskset -c``), another thread count and summation order.

Each run executes the notebook in a fresh kernel with ``jupyter nbconvert --execute --allow-errors``
into ``_build/robust/<configuration>/``, so that one failed assert does not hide the next. A cell's
error is listed with the assert's message; errors after the first in a chapter may follow from it
(a name the failed cell did not define). Writes ``_build/robust/report.md`` and ``report.json``
after every run (a sweep stopped early leaves the runs it finished); exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import queue
import re
import shutil
import subprocess
import sys
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "robust"
ISA_FLAG = "--xla_cpu_max_isa=SSE4_2"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of IPython's tracebacks
PROBE = (
    "import hashlib, jax, jax.numpy as jnp, numpy as np\n"
    "x = jax.random.normal(jax.random.key(0), (257, 263))\n"
    "f = jax.jit(lambda a: (jnp.tanh(a @ a.T) * jnp.exp(0.3 * a[:, :257])).sum(1))\n"
    "print(hashlib.md5(np.asarray(f(x)).tobytes()).hexdigest())\n"
)


def chapters() -> list[str]:
    """The chapters of _toc.yml that train or compute (the Performance appendix renders stored results)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    stems = [entry["file"].split("/")[-1] for part in toc["parts"] for entry in part["chapters"]]
    return [s for s in stems if (ROOT / "book" / f"{s}.ipynb").exists() and s != "performance"]


def companions() -> list[str]:
    """The companion pages of worked solutions (sections of their chapters in _toc.yml), as
    ``solutions/<chapter>``: they state and assert claims over seeds as the chapters do."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [s["file"] for part in toc["parts"] for entry in part["chapters"] for s in entry.get("sections", [])]
    return [f.removeprefix("book/") for f in files if f.startswith("book/solutions/")]


def environment(**changes: str) -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("RNNBOOK_SEED", None)
    env.update(changes)
    return env


def isa_changes_results() -> bool:
    """Whether ISA_FLAG changes float results here (XLA accepts unknown values of the flag silently)."""

    def digest(env):
        return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout

    plain = environment()
    held = environment(XLA_FLAGS=f"{plain.get('XLA_FLAGS', '')} {ISA_FLAG}".strip())
    return digest(plain) != digest(held)


def configurations(seeds: list[int], isa: bool, one_thread: bool) -> list[dict]:
    configs = [{"name": f"seed {k}", "env": {"RNNBOOK_SEED": str(k)}, "pin": False} for k in seeds]
    if isa:
        flags = f"{os.environ.get('XLA_FLAGS', '')} {ISA_FLAG}".strip()
        configs.append({"name": "isa", "env": {"XLA_FLAGS": flags}, "pin": False})
    if one_thread:
        if shutil.which("taskset") is None:
            raise SystemExit("taskset (util-linux) is needed for the one-thread run; or pass --no-one-thread")
        configs.append({"name": "one thread", "env": {}, "pin": True})
    return configs


def errors_of(notebook: pathlib.Path) -> list[dict]:
    """The error outputs of an executed notebook: cell index (as nbval counts, code and markdown), the
    exception and its message, and the cell's failing assert line where it is an AssertionError."""
    nb = json.loads(notebook.read_text())
    found = []
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            line = ""
            if output["ename"] == "AssertionError":  # the failing line, marked "---->" in IPython's traceback
                marked = [ANSI.sub("", t) for t in output.get("traceback", []) if "---->" in ANSI.sub("", t)]
                found_line = re.search(r"---->\s*\d+\s+(.*)", marked[-1]) if marked else None
                line = found_line.group(1).strip() if found_line else ""
            found.append({"cell": index, "error": output["ename"], "message": output["evalue"][:300], "assert": line})
    return found


def run_one(stem: str, config: dict, cores: queue.Queue, timeout: int) -> dict:
    out = OUT / config["name"].replace(" ", "-")
    out.mkdir(parents=True, exist_ok=True)
    notebook, name = ROOT / "book" / f"{stem}.ipynb", stem.replace("/", "-")  # solutions/ntm -> solutions-ntm
    core = cores.get()
    try:
        cmd = [
            sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
            f"--ExecutePreprocessor.timeout={timeout}", "--output-dir", str(out), "--output", name,
            str(notebook),
        ]  # fmt: skip
        if config["pin"]:
            cmd = ["taskset", "-c", str(core)] + cmd
        start = time.perf_counter()
        done = subprocess.run(
            cmd, cwd=notebook.parent, env=environment(**config["env"]), capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
    finally:
        cores.put(core)
    result = {"chapter": stem, "config": config["name"], "seconds": round(seconds, 1)}
    if done.returncode != 0:  # the run itself broke (a timeout, a dead kernel), not an assert
        result["errors"] = [{"cell": None, "error": "run failed", "message": done.stderr[-600:], "assert": ""}]
    else:
        result["errors"] = errors_of(out / f"{name}.ipynb")
    status = "ok" if not result["errors"] else f"{len(result['errors'])} error(s)"
    print(f"{stem:20s} {config['name']:11s} {seconds:6.0f} s  {status}", flush=True)
    return result


def report(results: list[dict], configs: list[dict], isa_effect: bool | None) -> str:
    names = [c["name"] for c in configs]
    stems = list(dict.fromkeys(r["chapter"] for r in results))
    by = {(r["chapter"], r["config"]): r for r in results}
    lines = ["# make robust: each chapter per configuration (asserts on, outputs not compared)", ""]
    if isa_effect is not None:
        lines += [f"`{ISA_FLAG}` changes float results on this machine: {'yes' if isa_effect else 'NO'}", ""]
    lines += ["| chapter | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for stem in stems:
        cells = []
        for name in names:
            r = by.get((stem, name))
            cells.append("" if r is None else ("pass" if not r["errors"] else f"**{len(r['errors'])} failed**"))
            if r is not None:
                cells[-1] += f" ({r['seconds']:.0f} s)"
        lines.append(f"| {stem} | " + " | ".join(cells) + " |")
    failures = [r for r in results if r["errors"]]
    if failures:
        lines += ["", "## Failures (read the first of a chapter; later ones may follow from it)", ""]
        for r in failures:
            for e in r["errors"]:
                message = re.sub(r"\s+", " ", e["message"])[:200]
                where = f" `{e['assert']}`" if e["assert"] else ""
                lines.append(f"- {r['chapter']}, {r['config']}, cell {e['cell']}: {e['error']}: {message}{where}")
    return "\n".join(lines) + "\n"


def write_report(results: list[dict], configs: list[dict], isa_effect: bool | None, done: int, total: int) -> str:
    """Write report.md and report.json for the runs done so far; return the report's text."""
    text = report(results, configs, isa_effect)
    if done < total:
        text = text.replace("\n", f"\n\n{done} of {total} runs done so far.\n", 1)
    (OUT / "report.md").write_text(text)
    runs = {"isa_changes_results": isa_effect, "runs_done": done, "runs_total": total, "runs": results}
    (OUT / "report.json").write_text(json.dumps(runs, indent=1))
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3], help="values of RNNBOOK_SEED")
    parser.add_argument("--no-isa", action="store_true", help="skip the run with an older instruction set")
    parser.add_argument("--no-one-thread", action="store_true", help="skip the run on one core")
    parser.add_argument("--only", nargs="*", help="chapter stems (default: every chapter)")
    parser.add_argument("--companions", action="store_true", help="the worked solutions' pages too (solutions/...)")
    parser.add_argument("--jobs", type=int, default=1, help="chapters run at once (each a kernel)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a cell may take")
    args = parser.parse_args(argv)
    if any(k < 0 for k in args.seeds):
        parser.error(f"seeds must be non-negative integers, got {args.seeds}")
    known = chapters() + (companions() if args.companions else [])
    stems = args.only or known
    unknown = sorted(set(stems) - set(known))
    if unknown:
        parser.error(f"unknown chapters {unknown}; the pages are {known} (companions need --companions)")
    configs = configurations(args.seeds, not args.no_isa, not args.no_one_thread)
    isa_effect = None if args.no_isa else isa_changes_results()
    OUT.mkdir(parents=True, exist_ok=True)
    cores = queue.Queue()
    for core in range(max(1, args.jobs)):
        cores.put(core % (os.cpu_count() or 1))
    jobs = [(stem, config) for config in configs for stem in stems]
    results = []
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, *job, cores, args.timeout) for job in jobs]
        for future in concurrent.futures.as_completed(futures):
            # the report so far after every run, so that a sweep stopped early still leaves one
            results.append(future.result())
            order = {job: k for k, job in enumerate((stem, c["name"]) for stem, c in jobs)}
            results.sort(key=lambda r: order[(r["chapter"], r["config"])])
            text = write_report(results, configs, isa_effect, done=len(results), total=len(jobs))
    print(text)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
