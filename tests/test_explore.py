"""rnnbook.explore: figures to explore (a sweep stored as frames, a static image beside it)."""

import base64
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from rnnbook import explore


def static_figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, 1])
    return fig


def spec_of(figure):
    html = figure._repr_mimebundle_()["text/html"]
    payload = re.search(r'<script type="application/json" class="rnnbook-explore-spec">(.*?)</script>', html, re.S)
    return json.loads(payload.group(1).replace("<\\/", "</"))


def test_rounded_keeps_what_a_plot_shows_and_makes_json():
    value = {"y": np.array([1.234567, np.nan, np.inf]), "n": np.int64(3), "ok": np.bool_(True), "s": "a"}
    assert explore.rounded(value) == {"y": [1.235, None, None], "n": 3, "ok": True, "s": "a"}
    assert explore.rounded(np.float32(1e-30)) == pytest.approx(1e-30, rel=1e-3)
    json.dumps(explore.rounded([np.arange(3.0), (np.float64(2.5),)]), allow_nan=False)


@pytest.mark.smoke
def test_one_frame_per_combination_of_the_sliders():
    seen = []

    def traces(i, j):
        seen.append((i, j))
        return [{"type": "scatter", "x": [0, 1], "y": [i, j]}]

    fig = explore.explorable(
        "two-sliders", traces, [("a = ", [1, 2, 3]), ("b = ", ["x", "y"])], {}, static_figure(), "alt", active=[2, 1]
    )
    spec = spec_of(fig)
    assert sorted(seen) == [(i, j) for i in range(3) for j in range(2)]
    assert set(spec["frames"]) == {f"{i},{j}" for i in range(3) for j in range(2)}
    assert spec["frames"]["2,1"] == [{"type": "scatter", "x": [0, 1], "y": [2, 1]}]
    assert spec["initial"] == "2,1"
    assert [s["active"] for s in spec["layout"]["sliders"]] == [2, 1]
    assert [len(s["steps"]) for s in spec["layout"]["sliders"]] == [3, 2]
    assert spec["layout"]["sliders"][1]["steps"][0] == {"label": "x", "method": "skip", "args": []}
    assert spec["layout"]["paper_bgcolor"] == "white", "a light panel in dark mode"
    fig = explore.explorable(
        "margins", lambda i: traces(i, 0), [("a", [1])], {"margin": {"t": 80}}, static_figure(), "a"
    )
    assert spec_of(fig)["layout"]["margin"] == {"l": 60, "r": 20, "t": 80, "b": 150}, "room for the slider kept"


def test_a_figure_explored_by_hover_alone_has_one_frame_and_no_slider():
    fig = explore.explorable("hover-only", lambda: [{"type": "heatmap", "z": [[0, 1]]}], [], {}, static_figure(), "x")
    spec = spec_of(fig)
    assert list(spec["frames"]) == [""] and spec["initial"] == "" and spec["layout"]["sliders"] == []


def test_frames_with_layout_patches_and_matplotlib_colormaps():
    def traces(i):
        return {
            "data": [{"type": "heatmap", "z": [[i]], "colorscale": "Purples"}],
            "layout": {"title": {"text": str(i)}},
        }

    spec = spec_of(explore.explorable("patches", traces, [("k ", [0, 1])], {}, static_figure(), "x"))
    frame = spec["frames"]["1"]
    assert frame["layout"] == {"title": {"text": "1"}}
    scale = frame["data"][0]["colorscale"]
    assert scale[0][0] == 0 and scale[-1][0] == 1 and all(c.startswith("rgb(") for _, c in scale)
    assert explore.colorscale("Purples", 3)[0] == [0.0, "rgb(252,251,253)"]


def test_displays_as_html_with_a_static_image_for_the_pdf_and_for_colab():
    static = static_figure()
    fig = explore.explorable("bundle", lambda: [{"type": "scatter", "y": [1, 2]}], [], {}, static, 'a "quoted" <alt>')
    bundle = fig._repr_mimebundle_()
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG")
    assert f"data:image/png;base64,{bundle['image/png']}" in bundle["text/html"], "the page shows it until Plotly draws"
    assert 'alt="a &quot;quoted&quot; &lt;alt&gt;"' in bundle["text/html"]
    assert 'id="explore-bundle"' in bundle["text/html"] and "<interactive figure bundle" in bundle["text/plain"]
    assert static.number not in plt.get_fignums(), "the static figure is closed, so that it is not displayed twice"


def test_a_script_end_tag_in_the_data_cannot_end_the_page_script():
    fig = explore.explorable(
        "escape", lambda: [{"type": "scatter", "y": [1], "name": "</script><b>"}], [], {}, static_figure(), "x"
    )
    html = fig._repr_mimebundle_()["text/html"]
    assert html.count("</script>") == 2, "the spec's and the initialiser's own end tags only"
    assert spec_of(fig)["frames"][""][0]["name"] == "</script><b>"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="Bad Name"), "name must be"),
        (dict(sliders=[("a", [])]), "at least one position"),
        (dict(active=[5]), "do not fit sliders"),
        (dict(traces=lambda i: [{"type": "scatter"}] * (i + 1)), "has traces"),
        (dict(traces=lambda i: []), "no traces"),
        (dict(traces=lambda i: {"data": [], "frames": []}), "a list of traces or"),
    ],
)
def test_bad_input_is_refused_with_a_message_that_names_it(kwargs, message):
    args = dict(
        name="ok", traces=lambda i: [{"type": "scatter", "y": [i]}], sliders=[("a", [0, 1])], layout={}, alt="x"
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        explore.explorable(static=static_figure(), **args)
    plt.close("all")


def test_the_frames_are_valid_plotly():
    go = pytest.importorskip("plotly.graph_objects", reason="plotly validates the figure (it builds the book)")
    fig = explore.explorable(
        "valid",
        lambda i: [{"type": "scatter", "x": [0, 1], "y": [i, 1], "hovertemplate": "%{y}<extra></extra>"}],
        [("i = ", [0, 1])],
        {"yaxis": {"type": "log"}},
        static_figure(),
        "x",
    )
    spec = spec_of(fig)
    go.Figure(data=spec["frames"]["1"], layout=spec["layout"])  # raises on a misspelt property
