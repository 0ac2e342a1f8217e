"""Figures to explore: a sweep computed in the chapter, shown in the browser with sliders and hover.

A chapter computes a sweep (the gradient against the lag for 31 spectral radii, the addressing of an
NTM head for every shift and sharpening, ...) and hands it to :func:`explorable` as one list of
Plotly traces per setting of its sliders. The result displays as

* on the book's web pages: a Plotly figure whose sliders switch between the stored settings and
  whose points show their values on hover, rendered offline (the book ships ``plotly.min.js`` and
  ``rnnbook-explore.js`` in ``_static`` on the pages that need them: ``book/_ext/rnnbook_explore.py``);
* in the PDF, in the stored notebook and in Colab or Jupyter (where the page's scripts are absent):
  a static image of the same figure, drawn by matplotlib, which the web page replaces.

Nothing is computed in the browser: every frame is stored, so what the reader sees is what the
chapter's run computed. Plotly is needed to build the book, not to run the chapters (traces are
plain dicts in Plotly's JSON format; ``tests/test_explore.py`` validates them with plotly).
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["Explorable", "colorscale", "explorable", "rounded"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` (nested dicts, lists, tuples, numpy arrays and scalars) as JSON-ready Python, floats
    rounded to ``digits`` significant digits (what a plot can show; it keeps the stored page small)."""
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"`digits` must be a positive integer (significant digits), got {digits!r}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, np.ndarray) or hasattr(value, "__jax_array__") or type(value).__module__.startswith("jax"):
        return rounded(np.asarray(value).tolist(), digits)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not np.isfinite(value):
            return None  # Plotly draws a gap; JSON has no NaN
        return float(f"{value:.{digits}g}")
    return value


def colorscale(name: str, steps: int = 9) -> list:
    """A matplotlib colormap (``"Purples"``, ``"viridis"``, ...) as a Plotly colorscale (a list of
    ``[position, "rgb(r,g,b)"]``): Plotly's JavaScript knows only a few colormaps by name."""
    import matplotlib

    if name not in matplotlib.colormaps:
        raise ValueError(f"colorscale: `name` must be a matplotlib colormap (such as 'Purples'), got {name!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"colorscale: `steps` must be an integer >= 2, got {steps!r}")
    cmap = matplotlib.colormaps[name]
    return [
        [k / (steps - 1), "rgb({},{},{})".format(*(round(255 * c) for c in cmap(k / (steps - 1))[:3]))]
        for k in range(steps)
    ]


def _colorscales(value):
    """Every ``colorscale`` given as a matplotlib colormap's name, spelled out (see :func:`colorscale`)."""
    import matplotlib

    if isinstance(value, dict):
        return {
            k: colorscale(v)
            if k == "colorscale" and isinstance(v, str) and v in matplotlib.colormaps
            else _colorscales(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_colorscales(v) for v in value]
    return value


class Explorable:
    """One figure to explore; displays as an interactive figure (HTML) with a static image (PNG).

    ``frames`` maps a key (the sliders' indices joined by commas, ``"3,0"``) to the figure's traces
    at that setting; every frame has the same number of traces. ``sliders`` are ``(prefix, labels)``
    pairs; ``active`` the indices shown first (those of the static image)."""

    def __init__(
        self,
        name: str,
        frames: dict[str, Any],
        layout: dict,
        sliders: list[tuple[str, list[str]]],
        active: list[int],
        png: bytes,
        alt: str,
    ) -> None:
        if not _NAME.match(name):
            raise ValueError(f"explorable: name must be lower-case letters, digits and '-', got {name!r}")
        self.name, self.frames, self.layout, self.sliders, self.active = name, frames, layout, sliders, active
        self.png, self.alt = png, alt

    @property
    def initial(self) -> str:
        return ",".join(str(i) for i in self.active)

    def spec(self) -> dict:
        """What the page's script reads: the frames, the layout (sliders included), the first key."""
        layout = dict(self.layout)
        layout["sliders"] = [
            {
                "active": a,
                "currentvalue": {"prefix": prefix, "font": {"size": 13}},
                "pad": {"t": 62 + 85 * k, "b": 0},  # stacked: one slider under the other
                "len": 1.0,
                "x": 0,
                "y": 0,
                "yanchor": "top",
                # "skip": the slider moves and says so (plotly_sliderchange); rnnbook-explore.js swaps the data
                "steps": [{"label": str(label), "method": "skip", "args": []} for label in labels],
            }
            for k, ((prefix, labels), a) in enumerate(zip(self.sliders, self.active))
        ]
        return {"name": self.name, "initial": self.initial, "frames": self.frames, "layout": layout}

    def html(self) -> str:
        """The page's markup: the static image, the frames as JSON, and the call that draws the figure."""
        spec = json.dumps(self.spec(), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        image = base64.b64encode(self.png).decode("ascii")
        return (
            f'<div class="rnnbook-explore" id="explore-{self.name}">'
            f'<img class="rnnbook-explore-static" alt="{html.escape(self.alt)}" '
            f'src="data:image/png;base64,{image}">'
            f'<script type="application/json" class="rnnbook-explore-spec">{spec}</script></div>'
            f'<script>window.rnnbookExplore && window.rnnbookExplore("explore-{self.name}");</script>'
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {
            "text/html": self.html(),
            "image/png": base64.b64encode(self.png).decode("ascii"),
            "text/plain": f"<interactive figure {self.name}: {self.alt}>",
        }


def explorable(
    name: str,
    traces: Callable[..., list[dict]],
    sliders: Sequence[tuple[str, Sequence]],
    layout: dict,
    static: Any,
    alt: str,
    active: Sequence[int] | None = None,
    digits: int = 4,
) -> Explorable:
    """An interactive figure from a sweep.

    ``traces(i, j, ...)`` returns the Plotly traces (dicts such as ``{"type": "scatter", "x": ...,
    "y": ...}``) for index ``i`` of the first slider, ``j`` of the second, ...; it is called once for
    every combination, and every call must return the same number of traces of the same types. Where
    the layout changes with the sliders too (an axis's tick labels, a title), it returns
    ``{"data": traces, "layout": patch}``: each key of the patch replaces the layout's, and a dict
    (an axis) is merged into the layout's dict of that name.
    ``sliders``: ``(prefix, labels)`` for each slider (for example ``("ρ = ", ["0.5", "0.6"])``); none
    for a figure explored by hover alone. ``static``: the matplotlib figure printed in the PDF and the
    notebook (closed here, so that it is not displayed twice). ``alt``: what the figure shows, in
    words (the static image's alternative text). ``active``: the slider positions shown first."""
    if not callable(traces):
        raise TypeError(f"explorable: `traces` must be a function of the slider indices, got {type(traces).__name__}")
    if not hasattr(static, "savefig"):
        raise TypeError(f"explorable: `static` must be a matplotlib figure, got {type(static).__name__}")
    if not _NAME.match(str(name)):
        raise ValueError(f"explorable: name must be lower-case letters, digits and '-', got {name!r}")
    sizes = [len(labels) for _, labels in sliders]
    if any(n == 0 for n in sizes):
        raise ValueError("explorable: a slider needs at least one position")
    active = list(active) if active is not None else [0] * len(sizes)
    if len(active) != len(sizes) or any(not 0 <= a < n for a, n in zip(active, sizes)):
        raise ValueError(f"explorable: active positions {active} do not fit sliders of sizes {sizes}")
    frames, shape = {}, None
    for index in itertools.product(*[range(n) for n in sizes]):
        frame = traces(*index)
        if not isinstance(frame, (list, tuple, dict)):
            raise TypeError(f"explorable: `traces` must return a list of traces or a dict, got {type(frame).__name__}")
        if isinstance(frame, dict):  # {"data": traces, "layout": what changes with the sliders}
            if set(frame) - {"data", "layout"}:
                raise ValueError(
                    f"explorable: a frame is a list of traces or {{'data', 'layout'}}, got {sorted(frame)}"
                )
            frame = rounded({"data": list(frame["data"]), "layout": frame.get("layout", {})}, digits)
            data = frame["data"]
        else:
            frame = data = rounded(list(frame), digits)
        kinds = [t.get("type", "scatter") for t in data]
        if shape is None:
            shape = kinds
        elif kinds != shape:
            raise ValueError(f"explorable: frame {index} has traces {kinds}, the first had {shape}")
        frames[",".join(map(str, index))] = frame
    if not shape:
        raise ValueError("explorable: no traces to draw")
    frames = {key: _colorscales(frame) for key, frame in frames.items()}
    layout = {
        "paper_bgcolor": "white",  # a light panel in the theme's dark mode too
        "plot_bgcolor": "white",
        "font": {"family": "sans-serif", "size": 12, "color": "#222"},
        "autosize": True,
        **rounded(layout, digits),
        # room under the plot for the sliders; a margin given in `layout` changes only the sides it names
        "margin": {"l": 60, "r": 20, "t": 40, "b": 65 + 85 * len(sizes), **layout.get("margin", {})},
    }
    buffer = io.BytesIO()
    static.savefig(buffer, format="png", dpi=static.dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(static)
    return Explorable(
        name, frames, layout, [(p, list(map(str, labels))) for p, labels in sliders], active, buffer.getvalue(), alt
    )
