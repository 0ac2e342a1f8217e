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


@pytest.mark.smoke
def test_every_public_function_is_typed_and_documented():
    """One test over the whole API (a metadata check costs microseconds a function): every problem at once."""
    problems = [problem for name, fn, owner in API for problem in api_problems(name, fn, owner)]
    assert problems == [], "\n".join(problems)


def api_problems(name, fn, owner):
    """What `name` lacks: type hints on its parameters and return value, a docstring, shapes for arrays."""
    signature = inspect.signature(fn)
    params = [
        p
        for p in signature.parameters.values()
        if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    untyped = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    if untyped:
        yield f"{name}: parameters without a type hint: {untyped}"
    if not name.endswith("__init__") and signature.return_annotation is inspect.Signature.empty:
        yield f"{name}: no return type"
    try:
        hints = typing.get_type_hints(fn)  # the annotations name things that exist
    except Exception as err:  # a name that does not resolve: NameError, AttributeError, ...
        yield f"{name}: its type hints do not resolve: {err!r}"
    else:
        if not set(hints) >= {p.name for p in params}:
            yield f"{name}: type hints missing for {sorted({p.name for p in params} - set(hints))}"
    doc = inspect.getdoc(fn) or (inspect.getdoc(owner) if name.endswith("__init__") else None)
    if not doc:
        yield f"{name}: no docstring"
        return
    annotations = " ".join(str(v) for v in fn.__annotations__.values())
    if ARRAY_TYPES.search(annotations) and not name.endswith("__init__"):
        class_doc = (inspect.getdoc(owner) or "") if owner else ""
        if not (SHAPE.search(doc) or SHAPE.search(class_doc)):
            yield f"{name}: arrays, but no shape in its docstring"


def test_every_cell_is_registered_exported_and_its_step_documented():
    """The cells (``rnnbook.cells.Cell`` objects: instances, which ``public_api`` does not see): each
    is in its module's ``__all__`` and in ``layers.CELLS`` (the NTM excepted), and its step is a
    public function of the API above."""
    from rnnbook import cells, layers, ntm

    found = {}
    for info in pkgutil.iter_modules(rnnbook.__path__):
        module = importlib.import_module(f"rnnbook.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, cells.Cell) and obj.step.__module__ == module.__name__:  # defined here
                assert name in module.__all__, f"rnnbook.{info.name}.{name} is not in __all__"
                found[obj.name] = obj
                assert obj.step.__name__ in module.__all__ and list(api_problems(name, obj.step, None)) == []
    assert found == {**layers.CELLS, "ntm": ntm.NTM}
