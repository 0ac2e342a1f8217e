"""The package's public API is typed and documented: every public function and method of
``rnnbook`` has annotated parameters and return value (names that resolve), and a docstring; a
docstring of a function that takes or returns arrays gives their shapes (``[batch, time, ...]``)."""

import importlib
import inspect
import pkgutil
import re
import typing

import pytest

import rnnbook

ARRAY_TYPES = re.compile(r"\b(Array|ArrayLike|Carry|np\.ndarray)\b")
SHAPE = re.compile(r"\[[\w*+\-/. ()]+(?:, ?[\w*+\-/. ()]+)*\]")  # [batch, time, hidden], [B], [N, context], [..., d]


def public_api():
    for info in pkgutil.iter_modules(rnnbook.__path__):
        if info.name.startswith("_"):
            continue  # private modules (_checks, _types)
        module = importlib.import_module(f"rnnbook.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{info.name}.{name}", obj, None
            elif inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if inspect.isfunction(member) and (not attr.startswith("_") or attr in ("__init__", "__call__")):
                        yield f"{info.name}.{name}.{attr}", member, obj


API = list(public_api())


def test_the_api_is_large_enough_to_mean_something():
    assert len(API) > 140


@pytest.mark.parametrize("name, fn, owner", API, ids=[name for name, *_ in API])
def test_public_function_is_typed_and_documented(name, fn, owner):
    signature = inspect.signature(fn)
    params = [
        p
        for p in signature.parameters.values()
        if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    untyped = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    assert untyped == [], f"{name}: parameters without a type hint: {untyped}"
    if not name.endswith("__init__"):
        assert signature.return_annotation is not inspect.Signature.empty, f"{name}: no return type"
    hints = typing.get_type_hints(fn)  # the annotations name things that exist
    assert set(hints) >= {p.name for p in params}
    doc = inspect.getdoc(fn) or (inspect.getdoc(owner) if name.endswith("__init__") else None)
    assert doc, f"{name}: no docstring"
    annotations = " ".join(str(v) for v in fn.__annotations__.values())
    if ARRAY_TYPES.search(annotations) and not name.endswith("__init__"):
        class_doc = (inspect.getdoc(owner) or "") if owner else ""
        assert SHAPE.search(doc) or SHAPE.search(class_doc), f"{name}: arrays, but no shape in its docstring"
