"""XLA's compiler settings for the book, in one place: set when ``rnnbook`` is imported.

XLA reads ``XLA_FLAGS`` once, when JAX starts its first backend, so a setting must be in the
environment before the first computation. Every chapter imports ``rnnbook`` before its first
computation (its setup cell prints ``jax.devices()`` after the imports), so importing the package
is the one place that reaches them all, their companion pages and the benchmarks alike.

The one setting, chosen by ``benchmarks/xla_flags.py`` (Performance appendix, "XLA's CPU flags"):

* ``--xla_backend_optimization_level=1``: LLVM optimises the code XLA generates for the CPU at
  its level 1 instead of 3. On the chapters' own training programs it compiled 10-28% faster with
  steps within the spread of the rounds (an earlier round on an AMD EPYC measured one program's
  step 11% slower), and it left the LSTM chapter's printed results unchanged to the last digit
  (the chapter took 365 s instead of 404 s, measured side by side). Matrix products are library
  calls that LLVM does not compile, which is why the lower level costs little at run time
  here. JAX's own ``jax_optimization_level`` does not reach XLA's CPU compiler (measured: the same
  compile time), hence the environment variable.

One program also compiles with options of its own (:func:`program_options`, passed to its
``jax.jit(..., compiler_options=...)``, which reach that program only): word2vec's sparse SGD
trainer switches off XLA's YNNPACK fusions (``xla_cpu_experimental_ynn_fusion_type`` empty), which
hand its small row reductions to a library call that is slower than XLA's own loops here (the
per-pair step 0.46 -> 0.33 ms on an AMD EPYC, measured interleaved in one process). The same
setting for the whole process slowed the Transformer's step by a fifth (the Performance appendix),
which is why it is one program's option and not a flag.

Nothing is changed when the flag is already in ``XLA_FLAGS`` (yours wins), when
``RNNBOOK_XLA_DEFAULTS=0`` (the benchmark that compares flags sets it, to time each flag alone), or
when an accelerator plugin for JAX is installed (on a GPU or TPU the same flag would lower the
optimisation of the accelerator's generated code, which was not measured). Importing the package
after JAX has started its backend leaves that process as it is (XLA has read its flags), and the
variable then reaches only the processes it starts.
"""

from __future__ import annotations

import functools
import importlib.util
import os

__all__ = ["BOOK_FLAGS", "PROGRAM_OPTIONS", "book_flags_apply", "configure", "program_options"]

BOOK_FLAGS = ("--xla_backend_optimization_level=1",)

# Compiler options of single programs, on the CPU (see the module's docstring): name -> options.
PROGRAM_OPTIONS = {"word2vec": {"xla_cpu_experimental_ynn_fusion_type": ""}}


def book_flags_apply(environ=os.environ) -> bool:
    """Whether the book's XLA flags are for this process: not opted out, no accelerator plugin."""
    if environ.get("RNNBOOK_XLA_DEFAULTS", "1") == "0":
        return False
    # JAX's GPU plugins install the namespace package jax_plugins (jax_plugins.xla_cuda12, ...), TPUs libtpu.
    return all(importlib.util.find_spec(name) is None for name in ("jax_plugins", "libtpu"))


def configure(environ=os.environ) -> str:
    """Add the book's flags to ``environ["XLA_FLAGS"]`` where they apply; returns the variable's value."""
    flags = environ.get("XLA_FLAGS", "")
    if book_flags_apply(environ):
        for flag in BOOK_FLAGS:
            if flag.split("=")[0] not in flags:  # a value already set for this flag is kept
                flags = f"{flags} {flag}".strip()
        environ["XLA_FLAGS"] = flags
    return flags


def program_options(name: str, environ=os.environ) -> dict | None:
    """The compiler options of program ``name`` (:data:`PROGRAM_OPTIONS`) for ``jax.jit(...,
    compiler_options=...)``, or ``None``: off the CPU, under ``RNNBOOK_XLA_DEFAULTS=0``, or where this
    jaxlib does not know an option (an older one, as Colab's may be: checked once by compiling a
    one-line program with them)."""
    if name not in PROGRAM_OPTIONS:
        raise ValueError(f"no compiler options are defined for program {name!r}; known: {sorted(PROGRAM_OPTIONS)}")
    if environ.get("RNNBOOK_XLA_DEFAULTS", "1") == "0":
        return None
    return _supported(name)


@functools.cache
def _supported(name: str) -> dict | None:
    import jax

    if jax.default_backend() != "cpu":
        return None
    options = dict(PROGRAM_OPTIONS[name])
    try:
        jax.jit(lambda x: x + 1, compiler_options=options).lower(1.0).compile()
    except Exception:  # an option this XLA does not know: compile with its defaults
        return None
    return options
