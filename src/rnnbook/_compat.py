"""Flax versions. A Module that holds a list or a dict of modules or parameters wraps it in
``nnx.List`` / ``nnx.Dict`` from flax 0.12 on (a plain one raises there); flax 0.11, which Colab's
runtime ships (``colab.txt``), has neither and takes plain lists and dicts. The package uses these two
names, so that one source runs on both."""

from __future__ import annotations

from flax import nnx

List = getattr(nnx, "List", list)
Dict = getattr(nnx, "Dict", dict)

__all__ = ["Dict", "List"]
