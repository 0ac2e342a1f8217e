"""The one seed switch (rnnbook.seeds) and `make robust` (tools/robust.py), without running a chapter."""

import importlib.util
import json
import pathlib
import re

import pytest

from rnnbook import seeds

ROOT = pathlib.Path(__file__).resolve().parents[1]


def robust_tool():
    """tools/robust.py as a module (a script of the repository, not of the package: the Colab rehearsal
    copies tests/ alone, so it is loaded by the tests that need it, which are in the book tier)."""
    spec = importlib.util.spec_from_file_location("robust", ROOT / "tools" / "robust.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A key, a Flax Rngs, a NumPy generator or a `seed=` argument written with a bare number.
LITERAL_SEED = re.compile(r"random\.key\(\d|PRNGKey\(|nnx\.Rngs\(\d|default_rng\(\d|\bseed=\d")


@pytest.mark.smoke
def test_base_seed_is_zero_by_default_and_strided(monkeypatch):
    monkeypatch.delenv(seeds.ENV, raising=False)
    assert seeds.base_seed() == 0
    monkeypatch.setenv(seeds.ENV, " 3 ")
    assert seeds.base_seed() == 3 * seeds.STRIDE
    for bad in ["-1", "one", "1.5"]:
        monkeypatch.setenv(seeds.ENV, bad)
        with pytest.raises(ValueError, match="RNNBOOK_SEED must be a non-negative integer"):
            seeds.base_seed()


@pytest.mark.book
def test_every_chapter_takes_its_seeds_from_the_switch():
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        code = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        if path.stem == "performance":  # renders stored results: nothing random
            continue
        assert any("SEED = base_seed()" in src for src in code), f"{path.name} never sets SEED = base_seed()"
        literal = [line.strip() for src in code for line in src.splitlines() if LITERAL_SEED.search(line)]
        assert not literal, f"{path.name} has seeds not derived from SEED: {literal[:3]}"


@pytest.mark.book
def test_robust_lists_each_failed_assert_with_its_line(tmp_path):
    robust = robust_tool()
    cell = {"cell_type": "code", "source": ["x = 1\n", "assert x > 2, 'x is large'\n"], "metadata": {}}
    traceback = ["\x1b[31mAssertionError\x1b[39m", "\x1b[32m----> 2\x1b[39m assert x > 2, 'x is large'"]
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "x is large", "traceback": traceback}
    nb = {"cells": [{"cell_type": "markdown", "source": ["# t"]}, dict(cell, outputs=[error])]}
    path = tmp_path / "t.ipynb"
    path.write_text(json.dumps(nb))
    errors = robust.errors_of(path)
    assert errors == [
        {"cell": 1, "error": "AssertionError", "message": "x is large", "assert": "assert x > 2, 'x is large'"}
    ]
    configs = robust.configurations([1], isa=True, one_thread=False)
    assert [c["name"] for c in configs] == ["seed 1", "isa"] and configs[0]["env"] == {"RNNBOOK_SEED": "1"}
    assert robust.ISA_FLAG in configs[1]["env"]["XLA_FLAGS"]
    results = [
        {"chapter": "t", "config": "seed 1", "seconds": 1.0, "errors": errors},
        {"chapter": "t", "config": "isa", "seconds": 1.0, "errors": []},
    ]
    text = robust.report(results, configs, isa_effect=True)
    assert "| t | **1 failed** (1 s) | pass (1 s) |" in text
    assert "t, seed 1, cell 1: AssertionError: x is large `assert x > 2, 'x is large'`" in text
    assert set(robust.chapters()) == {p.stem for p in (ROOT / "book").glob("*.ipynb")} - {"performance"}
    on_disk = {f"solutions/{p.stem}" for p in (ROOT / "book" / "solutions").glob("*.ipynb")}
    assert set(robust.companions()) == on_disk, "--companions runs every companion page of worked solutions"


@pytest.mark.book
def test_robust_writes_the_report_so_far_after_every_run(tmp_path, monkeypatch):
    robust = robust_tool()
    monkeypatch.setattr(robust, "OUT", tmp_path)
    configs = robust.configurations([1, 2], isa=False, one_thread=False)
    first = [{"chapter": "t", "config": "seed 1", "seconds": 2.0, "errors": []}]
    text = robust.write_report(first, configs, None, done=1, total=2)
    assert "1 of 2 runs done so far." in text and "| t | pass (2 s) |  |" in text
    assert (tmp_path / "report.md").read_text() == text
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["runs_done"] == 1 and saved["runs_total"] == 2 and saved["runs"] == first
    both = first + [{"chapter": "t", "config": "seed 2", "seconds": 3.0, "errors": []}]
    text = robust.write_report(both, configs, None, done=2, total=2)
    assert "so far" not in text and "| t | pass (2 s) | pass (3 s) |" in text
