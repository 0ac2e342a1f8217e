"""The watch on the newest JAX: run every chapter the way Colab would, on the newest jax, flax,
optax and matplotlib, with rnnbook installed from its declared lower bounds (no pins).

    python tools/newest_jax.py            # `make newest`

1. Creates a fresh virtual environment `.venv-newest` (use --keep to reuse one).
2. Installs torch 2.13.0 (the test peer, which Colab ships; set TORCH_INDEX_URL to take the CPU
   build from PyTorch's index where PyPI's default would be a CUDA build), then
   `pip install ".[gensim]"` (rnnbook with its lower bounds only) and
   `pip install --upgrade jax flax optax matplotlib`, plus the notebook runner.
3. Executes every notebook of _toc.yml top to bottom in a fresh kernel (asserts on; stored outputs
   are not compared) into _build/newest/, and writes _build/newest/report.md with the versions and
   each chapter's result and time. Exits 1 if any chapter fails.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "newest"


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=pathlib.Path, default=ROOT / ".venv-newest")
    parser.add_argument("--keep", action="store_true", help="reuse the environment if it exists")
    parser.add_argument("--only", nargs="*", help="notebook stems to run (default: all)")
    args = parser.parse_args(argv)

    if args.venv.exists() and not args.keep:
        shutil.rmtree(args.venv)
    if not args.venv.exists():
        run([sys.executable, "-m", "venv", str(args.venv)])
    py = str(args.venv / "bin" / "python")
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    torch = pip + ["torch==2.13.0"]
    if os.environ.get("TORCH_INDEX_URL"):
        torch += ["--index-url", os.environ["TORCH_INDEX_URL"]]
    run(torch)
    run(pip + [f"{ROOT}[gensim]"])
    run(pip + ["--upgrade", "jax", "flax", "optax", "matplotlib"])
    run(pip + ["nbclient", "nbformat", "ipykernel"])
    versions = subprocess.run(
        [
            py,
            "-c",
            "import importlib.metadata as m; print('\\n'.join(f'{p} {m.version(p)}' for p in "
            "['jax', 'jaxlib', 'flax', 'optax', 'matplotlib', 'numpy', 'scipy', 'statsmodels', "
            "'babel', 'gensim', 'torch', 'tqdm', 'rnnbook']))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    notebooks = [
        ROOT / f"{e['file']}.ipynb"
        for part in toc["parts"]
        for e in part["chapters"]
        if (ROOT / f"{e['file']}.ipynb").exists()
    ]
    if args.only:
        notebooks = [nb for nb in notebooks if nb.stem in args.only]
    OUT.mkdir(parents=True, exist_ok=True)
    runner = (
        "import sys, nbformat\nfrom nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "client = NotebookClient(nb, timeout=900, kernel_name='python3',\n"
        "                        resources={'metadata': {'path': sys.argv[3]}})\n"
        "client.execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
    )
    results = []
    for nb in notebooks:
        start = time.perf_counter()
        proc = subprocess.run(
            [py, "-c", runner, str(nb), str(OUT / nb.name), str(nb.parent)],
            capture_output=True,
            text=True,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
        seconds = time.perf_counter() - start
        ok = proc.returncode == 0
        tail = "" if ok else (proc.stderr.strip().splitlines() or ["?"])[-1][:300]
        results.append((nb.stem, ok, seconds, tail))
        print(f"{nb.stem:20s} {'ok' if ok else 'FAILED'} {seconds:6.0f} s {tail}", flush=True)
        if not ok:
            (OUT / f"{nb.stem}.log").write_text(proc.stdout + proc.stderr)

    lines = [
        "# Every chapter on the newest JAX stack",
        "",
        "Versions:",
        "",
        "```",
        versions.strip(),
        "```",
        "",
        "| notebook | result | seconds | error |",
        "|---|---|---|---|",
    ]
    lines += [f"| {s} | {'ok' if ok else 'FAILED'} | {sec:.0f} | {tail} |" for s, ok, sec, tail in results]
    (OUT / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(ok for _, ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
