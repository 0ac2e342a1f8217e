"""The method of the peer benchmarks (benchmarks/common.py, issue 26): threads held equal for both
sides, contenders interleaved round by round, ratios taken per round with their spread."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# A script of the repository, not of the package (the Colab rehearsal copies tests/ alone): these
# tests belong to the book tier, like those of tools/robust.py.
pytestmark = pytest.mark.book


def common():
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "benchmarks" / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_interleaved_rotates_the_order_and_times_every_round():
    bench = common()
    calls = []
    contenders = {
        # sleeps of 5 and 15 ms: long enough that a busy machine's scheduling delay (a fraction of a
        # millisecond) does not move their ratio out of the bounds below (2 and 6 ms once did)
        "short": lambda: (calls.append("short"), time.sleep(0.005)),
        "long": lambda: (calls.append("long"), time.sleep(0.015)),
        "busy": lambda: (calls.append("busy"), sum(range(20_000))),
    }
    timed = bench.interleaved(contenders, rounds=6, inner=2)
    assert calls[:3] == ["short", "long", "busy"]  # the warm-up, once each
    rounds = [calls[3 + 6 * r : 3 + 6 * (r + 1)] for r in range(6)]
    assert [r[0] for r in rounds] == ["short", "long", "busy"] * 2  # who goes first rotates
    assert all(sorted(r) == sorted(["short", "long", "busy"] * 2) for r in rounds)
    assert all(len(timed[clock][name]) == 6 for clock in ("wall_s", "cpu_s") for name in contenders)
    r = bench.ratio(timed, "long", "short")  # peer / ours: the sleeps are 3x apart in wall time
    assert 1.8 < r["median"] < 4.0 and r["q25"] <= r["median"] <= r["q75"] and r["n"] == 6
    cpu = bench.ratio(timed, "busy", "long", clock="cpu_s")  # a sleep costs no CPU time, a loop does
    assert cpu["median"] > 3
    with pytest.raises(ValueError, match="'torch' was not timed"):
        bench.ratio(timed, "torch", "short")
    with pytest.raises(ValueError, match="rounds must be a positive int"):
        bench.interleaved(contenders, rounds=0)
    with pytest.raises(ValueError, match="clock must be"):
        bench.ratio(timed, "long", "short", clock="gpu")


def test_spread_gives_median_quartiles_and_range():
    s = common().spread([5, 1, 3, 2, 4])
    assert s == {"median": 3.0, "q25": 2.0, "q75": 4.0, "min": 1.0, "max": 5.0, "n": 5}
    with pytest.raises(ValueError, match="no values"):
        common().spread([])


def test_pin_holds_the_process_to_its_cores_before_jax_starts():
    code = (
        f"import sys, os, json; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import common; "
        "n = common.pin_from_environment(); import jax, jax.numpy as jnp; jnp.ones(3).block_until_ready(); "
        "print(json.dumps([n, sorted(os.sched_getaffinity(0)), common.setting()]))"
    )
    env = {**os.environ, "RNNBOOK_BENCH_THREADS": "1", "OMP_WAIT_POLICY": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    n, cores, setting = json.loads(out.stdout.splitlines()[-1])
    assert n == 1 and len(cores) == 1 and setting["threads"] == 1 and setting["affinity"] == cores
    assert setting["OMP_WAIT_POLICY"] == "PASSIVE"
    too_many = len(os.sched_getaffinity(0)) + 1
    with pytest.raises(ValueError, match=f"asked for {too_many} threads"):
        common().pin(too_many)
    with pytest.raises(ValueError, match="threads must be a positive int"):
        common().pin(0)


def test_compile_time_tool_counts_what_jax_compiles(tmp_path):
    spec = importlib.util.spec_from_file_location("compile_time", ROOT / "tools" / "compile_time.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    import nbformat

    chapter = tmp_path / "c.ipynb"
    body = "import jax, jax.numpy as jnp\nprint(jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((64, 64))))"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(body)]), chapter)
    nb = tool.instrumented(chapter)
    assert [c.source for c in nb.cells] == [tool.FIRST, body, tool.LAST]
    script = "\n".join(c.source for c in nb.cells)  # the cells in one process, as the kernel runs them
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    executed = tmp_path / "executed.ipynb"
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=out.splitlines()[-1])]
    nbformat.write(nb, executed)
    result = tool.result_of(executed)
    assert result["total"] > 0 and result[tool.EVENTS["backend compile"]] > 0
    assert result[tool.EVENTS["backend compile"]] < result["total"]


def test_results_by_threads_refuses_counts_outside_the_cores():
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="thread counts must be between 1 and"):
        common().results_by_threads("unused.py", [cores + 1], [])
    with pytest.raises(ValueError, match="thread counts must be between 1 and"):
        common().results_by_threads("unused.py", [0], [])


def test_lstm_runs_option_needs_quick_and_two_or_more():
    # `--runs N` repeats the main size in fresh processes; it is refused, before anything is timed,
    # without --quick or with a count below 2 (argparse's usage error, exit status 2).
    for arguments in (["--runs", "3"], ["--quick", "--runs", "0"], ["--quick", "--runs", "-2"]):
        done = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "lstm.py"), *arguments],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 2, (arguments, done.stderr[-500:])
        assert "--runs takes a count of 2 or more, with --quick" in done.stderr
