"""Every chapter the way Colab runs it: in a replica of Colab's runtime (its Python and its jax, jaxlib,
flax, optax and numpy, from tests/colab_runtime.txt), with rnnbook installed by its declared bounds,
as a chapter's first cell installs it there.

    python tools/newest_jax.py --colab    # `make colab`: Colab's own versions, kept
    python tools/newest_jax.py            # `make newest`: then the newest jax, flax, optax, matplotlib

1. Creates a fresh virtual environment (`.venv-colab` or `.venv-newest`; --keep reuses one) with
   Colab's Python (tools/colab_replica.py finds one: this interpreter, python3.13 on the PATH, or
   pyenv's).
2. Installs torch 2.13.0 (the test peer, which Colab ships; set TORCH_INDEX_URL to take the CPU
   build from PyTorch's index where PyPI's default would be a CUDA build), Colab's pins with
   matplotlib and scipy (which Colab also ships), then `pip install ".[gensim]"` (rnnbook with its
   bounds, no upgrade: what Colab's install cell does) and checks that Colab's pins are unchanged (a
   changed jax breaks Colab's GPU and TPU runtimes); for `newest`, then
   `pip install --upgrade jax flax optax matplotlib`. Plus the notebook runner.
3. Executes every notebook of _toc.yml top to bottom in a fresh kernel (asserts on; stored outputs
   are not compared) into _build/colab/ or _build/newest/, and writes report.md there with the
   versions and each chapter's result and time. Exits 1 if a pin moved or any chapter fails.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import time

import colab_replica
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--colab", action="store_true", help="keep Colab's versions (default: upgrade to the newest)")
    parser.add_argument("--venv", type=pathlib.Path, help="the environment (default .venv-colab or .venv-newest)")
    parser.add_argument("--keep", action="store_true", help="reuse the environment if it exists")
    parser.add_argument("--only", nargs="*", help="notebook stems to run (default: all)")
    args = parser.parse_args(argv)
    name = "colab" if args.colab else "newest"
    out_dir = ROOT / "_build" / name
    venv = args.venv or ROOT / f".venv-{name}"
    pins = colab_replica.runtime()

    if venv.exists() and not args.keep:
        shutil.rmtree(venv)
    if not venv.exists():
        run([colab_replica.interpreter(pins["python"]), "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    torch = pip + ["torch==2.13.0"]
    if os.environ.get("TORCH_INDEX_URL"):
        torch += ["--index-url", os.environ["TORCH_INDEX_URL"]]
    run(torch)
    run(pip + colab_replica.packages(pins) + ["matplotlib", "scipy"])  # Colab's runtime
    run(pip + [f"{ROOT}[gensim]"])  # as the chapters' first cell installs rnnbook in Colab
    kept = {p: v for p, v in pins.items() if p != "python"}
    installed = subprocess.run(
        [py, "-c", "import importlib.metadata as m, sys; print(*(m.version(p) for p in sys.argv[1:]))", *kept],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    moved = {p: (v, got) for (p, v), got in zip(kept.items(), installed) if v != got}
    if moved:
        print(f"installing rnnbook changed Colab's versions (wanted, got): {moved}", flush=True)
    if not args.colab:
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
    out_dir.mkdir(parents=True, exist_ok=True)
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
            [py, "-c", runner, str(nb), str(out_dir / nb.name), str(nb.parent)],
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
            (out_dir / f"{nb.stem}.log").write_text(proc.stdout + proc.stderr)

    lines = [
        f"# Every chapter in the Colab replica ({'Colab' if args.colab else 'the newest'} versions)",
        "",
        f"Python {pins['python']}; installing rnnbook changed Colab's pins: {moved or 'no'}",
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
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(ok for _, ok, _, _ in results) and not (args.colab and moved) else 1


if __name__ == "__main__":
    sys.exit(main())
