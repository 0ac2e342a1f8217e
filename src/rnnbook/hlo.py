"""Reading a compiled program: the collectives, the loops and the flops of optimised HLO text.

The Scaling appendix asks what a sharded program sends between devices and where: inside the time
loop or once per step. XLA answers in the text of the optimised module (``jax.jit(f).lower(...)
.compile().as_text()``): each collective is an instruction (``all-reduce``, ``all-gather``,
``reduce-scatter``, ``all-to-all``, ``collective-permute``) whose result shape gives the bytes it
moves, and each ``while`` loop names the computation that is its body. These helpers read that text;
they parse what XLA prints, not a stable format, so the tests check them on programs of known
communication (``tests/test_hlo.py``).
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["collectives", "hlo_computations", "loop_collectives", "per_device_flops"]

COLLECTIVE = re.compile(
    r"= (\(?[^=]*?\)?) (all-reduce|all-gather|reduce-scatter|all-to-all|collective-permute)(?:-start)?\("
)
BYTES = {
    "f64": 8,
    "s64": 8,
    "u64": 8,
    "f32": 4,
    "s32": 4,
    "u32": 4,
    "bf16": 2,
    "f16": 2,
    "s16": 2,
    "s8": 1,
    "u8": 1,
    "pred": 1,
}


def _check_text(hlo: Any) -> str:
    if not isinstance(hlo, str):
        raise TypeError(f"hlo must be the text of an HLO module (compiled.as_text()), got {type(hlo).__name__}")
    if not hlo.strip():
        raise ValueError("hlo is empty: pass the text of an HLO module (compiled.as_text())")
    return hlo


def collectives(hlo: str) -> list[tuple[str, int]]:
    """``(kind, bytes of the result)`` of every collective instruction in the HLO text ``hlo``, in
    the order they appear; an asynchronous pair (``all-gather-start`` / ``-done``) counts once. A tuple
    result (several arrays reduced together) counts the bytes of all its arrays."""
    hlo = re.sub(r"/\*index=\d+\*/", "", _check_text(hlo))  # long tuples carry index comments
    found = []
    for shapes, kind in COLLECTIVE.findall(hlo):
        size = sum(
            BYTES.get(dtype, 4) * math.prod(int(d) for d in dims.split(",") if d)
            for dtype, dims in re.findall(r"(\w+)\[([\d,]*)\]", shapes)
        )
        found.append((kind, size))
    return found


def hlo_computations(hlo: str) -> dict[str, str]:
    """The module ``hlo`` split into its computations: ``{name: body text}`` (the entry computation
    included, under its own name)."""
    blocks: dict[str, str] = {}
    name, lines = None, []
    for line in _check_text(hlo).splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
        if head and name is None:
            name, lines = head.group(1), []
        elif line.startswith("}") and name is not None:
            blocks[name], name = "\n".join(lines), None
        elif name is not None:
            lines.append(line)
    return blocks


def loop_collectives(hlo: str) -> dict[str, list[tuple[str, int]]]:
    """``{while-loop body: its collectives}`` for every ``while`` loop of the module ``hlo``, the
    computations the body calls (fusions, nested calls) included: what a program sends at every
    step of a loop, as :func:`collectives` gives it."""
    blocks = hlo_computations(hlo)
    found = {}
    for body in re.findall(r"while\(.*?body=%?([\w.\-]+)", hlo):
        text, seen, todo = "", set(), [body]
        while todo:
            name = todo.pop()
            if name in seen or name not in blocks:
                continue
            seen.add(name)
            text += blocks[name] + "\n"
            todo += re.findall(r"(?:calls|to_apply)=%?([\w.\-]+)", blocks[name])
        found[body] = collectives(text) if text.strip() else []
    return found


def per_device_flops(compiled: Any) -> float:
    """The floating-point operations of one device's share of ``compiled`` (a
    ``jax.stages.Compiled``), as XLA's cost analysis counts them: a loop's body is counted once,
    however many times it runs."""
    analysis = getattr(compiled, "cost_analysis", None)
    if not callable(analysis):
        raise TypeError(
            f"compiled must be a compiled JAX program (jax.jit(f).lower(...).compile()), got {type(compiled).__name__}"
        )
    cost = analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    if not cost or "flops" not in cost:
        raise ValueError("compiled has no flop count in its cost analysis (XLA gave none for this backend)")
    return float(cost["flops"])
