"""The Colab path, rehearsed here: a fresh virtual environment without the project, the chapter's
first cell run exactly as Colab runs it (pointed at this checkout instead of GitHub), then every
import of the chapter, every module of the package imported, and a quick check of each module (the
tests marked `smoke`), all with the package's declared *lower* bounds. (The whole unit suite there
took 19 minutes on a busy 2-core machine; `make unit` runs it with the pinned versions.) Those
lower-bound tests (marked `lower_bounds`, about 2 minutes of a worker under `make test`'s load) run in
`make colab` and its weekly workflow; `make test` runs the rest of this file: the Colab replica below
(Colab's versions, which are the lower bounds of jax and flax), each install cell run there and every
import of every chapter.

Colab installs whatever jax/flax are newest; the lower bounds in pyproject.toml promise that older
ones work too. This test holds them to it by installing exactly the lower-bound versions.

The first cell installs with `pip install "rnnbook @ git+<repository>"`, so what is installed is
the committed HEAD of this checkout, as it would be from GitHub.
"""

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TORCH = "torch==2.13.0"  # stands in for the torch that Colab ships preinstalled
CHAPTERS = [
    "recurrence",
    "lstm",
    "vanishing_gradient",
    "seq2seq",
    "word_embedding",
    "ntm",
    "transformers",
    "modern_rnns",
    "scaling",
]

pytestmark = [
    pytest.mark.colab,
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason="the install cell clones a git repository"),
]
# pip installs without compiling every module to bytecode (`--no-compile`; Python compiles what is
# imported, when it is imported): torch, jax and their peers install in about a third of the time
# (24 s -> 8 s for torch, pytest and jax, measured), and the rehearsal runs the same installs and
# imports. pip reads a `--no-*` flag's variable inverted: "0" here means --no-compile (checked by
# test_pip_reads_no_compile_as_we_set_it).
NO_COMPILE = {"PIP_NO_COMPILE": "0"}
# The tests about the repository, not the package: they are not copied into the Colab environment.
REPOSITORY_TESTS = ("test_book.py", "test_pdf.py", "test_project.py", "test_colab_path.py")


def lower_bounds():
    """`name>=X` of every declared dependency (extras included) as the pin `name==X`."""
    reqs = PYPROJECT["project"]["dependencies"] + [
        r for extra in PYPROJECT["project"].get("optional-dependencies", {}).values() for r in extra
    ]
    pins = []
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([\w.]+)", req.replace(" ", ""))
        assert m, f"dependency {req!r} should be a plain lower bound `name>=version`"
        pins.append(f"{m.group(1)}=={m.group(2)}")
    return pins


def first_cell(chapter):
    nb = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())
    code = [("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]
    return code[0], code[1:]


def top_level_imports(cells):
    return [line for cell in cells for line in cell.splitlines() if re.match(r"(import|from) \w", line)]


NOTEBOOKS = CHAPTERS + ["performance"]
# The chapters' first cells come in a few variants (rnnbook; rnnbook with gensim; rnnbook and the
# benchmark results): each variant is run once, by the first notebook that has it.
INSTALL_CELLS = {}
for _stem in NOTEBOOKS:
    INSTALL_CELLS.setdefault(first_cell(_stem)[0], []).append(_stem)


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("colab")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    constraints = tmp / "lower-bounds.txt"
    constraints.write_text("\n".join(lower_bounds()) + "\n")
    files = [str(constraints)]
    machine_cap = pathlib.Path("/etc/xdg/pip/constraints.txt")  # this machine kind's torch cap, kept
    if machine_cap.exists():
        files.append(str(machine_cap))
    env = {
        **os.environ,
        "PIP_CONSTRAINT": " ".join(files),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **NO_COMPILE,
        "MPLBACKEND": "Agg",
        "JAX_PLATFORMS": "cpu",
    }
    env.pop("PYTHONPATH", None)
    # pytest, and filelock for tests/conftest.py (torch depends on it too)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", TORCH, "pytest", "filelock"], check=True, env=env, capture_output=True
    )
    return python, env, tmp


@pytest.mark.lower_bounds
@pytest.mark.parametrize("cell", list(INSTALL_CELLS), ids=[stems[0] for stems in INSTALL_CELLS.values()])
def test_first_cell_installs_and_every_import_works(colab_env, cell):
    python, env, tmp = colab_env
    stems = INSTALL_CELLS[cell]
    run = run_first_cell(python, env, tmp, stems[0])
    assert run.returncode == 0, run.stderr[-3000:]
    want = dict(pin.split("==") for pin in lower_bounds())
    for stem in stems:
        assert any("rnnbook" in line for line in top_level_imports(first_cell(stem)[1])) or stem == "performance"
    report = import_every_chapter(python, env, tmp, stems)
    assert not report["failed"], "an import fails with the lower bounds:\n" + "\n".join(report["failed"].values())
    # The versions are the lower bounds, not newer ones.
    assert report["versions"] == [want["jax"], want["flax"], want["optax"]], report


def import_every_chapter(python, env, tmp, stems):
    """Every top-level import of each chapter in `stems`, run in one fresh interpreter of the environment,
    chapter after chapter (one interpreter, not one per chapter: importing jax, flax, matplotlib and
    statsmodels takes about 5 s each time, 40 s for the eight chapters that share an install cell).
    A chapter whose imports fail is reported by name with its traceback; the others still run."""
    chapters = {stem: "\n".join(top_level_imports(first_cell(stem)[1])) for stem in stems}
    probe = (
        "import json, sys, traceback\n"
        "failed = {}\n"
        "for stem, imports in json.loads(sys.argv[1]).items():\n"
        "    try:\n"
        "        exec(imports, {})\n"
        "    except Exception:\n"
        "        failed[stem] = stem + ': ' + traceback.format_exc()[-3000:]\n"
        "import rnnbook, jax, flax, optax\n"
        "print(json.dumps(dict(failed=failed, rnnbook=rnnbook.__file__,\n"
        "                      versions=[jax.__version__, flax.__version__, optax.__version__])))\n"
    )
    run = subprocess.run([python, "-c", probe, json.dumps(chapters)], env=env, capture_output=True, text=True, cwd=tmp)
    assert run.returncode == 0, f"rnnbook, jax, flax or optax does not import\n{run.stderr[-3000:]}"
    return json.loads(run.stdout.strip().splitlines()[-1])


def run_first_cell(python, env, tmp, chapter):
    cell, _ = first_cell(chapter)
    assert 'REPOSITORY = "' in cell
    local = re.sub(r'REPOSITORY = "[^"]+"', f'REPOSITORY = "file://localhost{ROOT}"', cell)
    script = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n" + local
    return subprocess.run([python, "-c", script], env=env, capture_output=True, text=True, cwd=tmp)


@pytest.mark.lower_bounds
def test_every_module_imports_and_its_smoke_tests_pass_with_the_lower_bounds(colab_env):
    python, env, tmp = colab_env
    run = run_first_cell(python, env, tmp, "word_embedding")  # rnnbook with gensim, as in Colab
    assert run.returncode == 0, run.stderr[-3000:]
    # every module of the installed package (its private ones included) imports
    probe = (
        "import importlib, pkgutil, rnnbook\n"
        "names = [m.name for m in pkgutil.walk_packages(rnnbook.__path__, 'rnnbook.')]\n"
        "for name in names:\n    importlib.import_module(name)\n"
        "print(rnnbook.__file__)\nprint(len(names))"
    )
    run = subprocess.run([python, "-c", probe], env=env, capture_output=True, text=True, cwd=tmp)
    assert run.returncode == 0, f"a module fails to import with the lower bounds\n{run.stderr[-3000:]}"
    location, count = run.stdout.split()[-2:]
    assert location.startswith(str(tmp / "venv")), f"rnnbook was imported from {location}, not the fresh environment"
    assert int(count) >= 10, run.stdout
    # each module exercised once: the tests marked `smoke`, with the markers and the CI rule (no skip)
    tests = tmp / "tests"
    shutil.copytree(ROOT / "tests", tests, ignore=shutil.ignore_patterns(*REPOSITORY_TESTS, "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")  # the registered markers
    run = subprocess.run(
        [python, "-m", "pytest", "-q", "-m", "smoke", "-p", "no:cacheprovider", str(tests)],
        env={**env, "CI": "true"},
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary


# ----------------------------------------------------------------------------------------------
# The Colab replica: Colab's Python and versions (tests/colab_runtime.txt), the install cells run there
# ----------------------------------------------------------------------------------------------
def colab_replica_module():
    spec = importlib.util.spec_from_file_location("colab_replica", ROOT / "tools" / "colab_replica.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def colab_replica(tmp_path_factory):
    replica = colab_replica_module()
    pins = replica.runtime()
    tmp = tmp_path_factory.mktemp("colab-replica")
    venv = tmp / "venv"
    subprocess.run([replica.interpreter(pins["python"]), "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    machine_cap = pathlib.Path("/etc/xdg/pip/constraints.txt")  # this machine kind's torch cap, kept
    env = {
        **os.environ,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **NO_COMPILE,
        "MPLBACKEND": "Agg",
        "JAX_PLATFORMS": "cpu",
    }
    if machine_cap.exists():
        env["PIP_CONSTRAINT"] = str(machine_cap)
    env.pop("PYTHONPATH", None)
    # Colab's runtime: its pins, and what it also ships: matplotlib, scipy and torch (a chapter's peer)
    run = subprocess.run(
        [python, "-m", "pip", "install", "-q", *replica.packages(pins), "matplotlib", "scipy", TORCH],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return python, env, tmp, pins


def installed_versions(python, env, names):
    probe = "import importlib.metadata as m, sys; print(*(m.version(p) for p in sys.argv[1:]))"
    run = subprocess.run([python, "-c", probe, *names], env=env, capture_output=True, text=True, check=True)
    return dict(zip(names, run.stdout.split()))


def test_the_replica_is_colabs_runtime(colab_replica):
    python, env, _, pins = colab_replica
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True)
    assert version.stdout.decode().strip() == pins["python"]
    kept = [p for p in pins if p != "python"]
    assert installed_versions(python, env, kept) == {p: pins[p] for p in kept}


@pytest.mark.parametrize("cell", list(INSTALL_CELLS), ids=[stems[0] for stems in INSTALL_CELLS.values()])
def test_colab_install_cell_keeps_colabs_versions_and_every_import_works(colab_replica, cell):
    """What a Colab reader runs first: it must not move Colab's jax, jaxlib, flax, optax or numpy (a
    changed jax breaks the GPU and TPU runtimes), and then every import of the chapter must work."""
    python, env, tmp, pins = colab_replica
    stems = INSTALL_CELLS[cell]
    run = run_first_cell(python, env, tmp, stems[0])
    assert run.returncode == 0, run.stderr[-3000:]
    kept = [p for p in pins if p != "python"]
    assert installed_versions(python, env, kept) == {p: pins[p] for p in kept}, (
        f"{stems[0]}'s install cell changed Colab's versions"
    )
    report = import_every_chapter(python, env, tmp, stems)
    assert not report["failed"], "an import fails in the Colab replica:\n" + "\n".join(report["failed"].values())
    assert report["rnnbook"].startswith(str(tmp / "venv")), report


def test_pip_reads_no_compile_as_we_set_it(tmp_path):
    """NO_COMPILE does what its comment says: a package installed under it has no bytecode."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **NO_COMPILE}
    env.pop("PYTHONPATH", None)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "filelock"], check=True, env=env)
    sources = list(venv.glob("lib/python*/site-packages/filelock/*.py"))
    assert sources, "filelock was not installed"
    assert not list(venv.glob("lib/python*/site-packages/filelock/**/*.pyc")), "pip compiled the modules"
