"""The book's XLA flags (rnnbook._xla): set on import, before JAX starts, never over the reader's."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from rnnbook import _xla

LEVEL = "--xla_backend_optimization_level"


def run_python(code, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "RNNBOOK_XLA_DEFAULTS")}
    done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_chapters_imports_set_the_flag_before_jax_starts_and_xla_accepts_it():
    # As a chapter's setup cell: jax first, then rnnbook, then the first computation.
    code = (
        "import json, os, jax, jax.numpy as jnp, rnnbook\n"
        "from jax._src import xla_bridge\n"
        "started = xla_bridge.backends_are_initialized()\n"
        "total = float(jnp.arange(4.0).sum())  # XLA aborts the process on a flag it does not know\n"
        "print(json.dumps([os.environ['XLA_FLAGS'], started, total]))"
    )
    flags, started, total = run_python(code)
    assert flags == "--xla_backend_optimization_level=1"
    assert not started, "importing rnnbook started a JAX backend: the flag would come too late"
    assert total == 6.0


def test_the_readers_flags_are_kept_and_the_book_can_be_switched_off():
    code = "import json, os, rnnbook; print(json.dumps(os.environ.get('XLA_FLAGS')))"
    assert run_python(code, XLA_FLAGS="--xla_cpu_max_isa=SSE4_2") == f"--xla_cpu_max_isa=SSE4_2 {LEVEL}=1"
    assert run_python(code, XLA_FLAGS=f"{LEVEL}=3") == f"{LEVEL}=3"
    assert run_python(code, RNNBOOK_XLA_DEFAULTS="0") is None


def test_no_flag_where_an_accelerator_plugin_is_installed(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: object() if name == "jax_plugins" else find_spec(name)
    )
    environ = {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}
    assert _xla.configure(environ) == "--xla_cpu_max_isa=AVX2"
    assert environ == {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}
    empty = {}
    _xla.configure(empty)
    assert empty == {}


@pytest.mark.parametrize("flags", ["", "--xla_cpu_enable_fast_math=true"])
def test_configure_adds_each_book_flag_once(flags):
    environ = {"XLA_FLAGS": flags} if flags else {}
    once = _xla.configure(environ)
    assert _xla.configure(environ) == once == f"{flags} {LEVEL}=1".strip()


def test_program_options_reach_one_program_only():
    """word2vec's trainer compiles without XLA's YNNPACK fusions (an option of its jit, not a flag of the
    process): a row reduction like its scores is handed to YNNPACK by default and not with the options."""
    import jax
    import jax.numpy as jnp

    options = _xla.program_options("word2vec")
    assert options == {"xla_cpu_experimental_ynn_fusion_type": ""}  # the CPU's jaxlib knows the option
    assert _xla.program_options("word2vec", {"RNNBOOK_XLA_DEFAULTS": "0"}) is None
    with pytest.raises(ValueError, match="no compiler options.*'lstm'"):
        _xla.program_options("lstm")
    a = jnp.ones((512, 100))

    def scores(a, b):
        return jnp.sum(a * b, -1)

    default = jax.jit(scores).lower(a, a).compile().as_text()
    without = jax.jit(scores, compiler_options=options).lower(a, a).compile().as_text()
    assert "ynn" in default and "ynn" not in without
