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

Nothing is changed when the flag is already in ``XLA_FLAGS`` (yours wins), when
``RNNBOOK_XLA_DEFAULTS=0`` (the benchmark that compares flags sets it, to time each flag alone), or
when an accelerator plugin for JAX is installed (on a GPU or TPU the same flag would lower the
optimisation of the accelerator's generated code, which was not measured). Importing the package
after JAX has started its backend leaves that process as it is (XLA has read its flags), and the
variable then reaches only the processes it starts.
"""

from __future__ import annotations

import importlib.util
import os

__all__ = ["BOOK_FLAGS", "book_flags_apply", "configure"]

BOOK_FLAGS = ("--xla_backend_optimization_level=1",)


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
