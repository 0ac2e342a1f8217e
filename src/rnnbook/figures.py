"""The book's diagrams, drawn by code.

``python -m rnnbook.figures [--out DIR]`` writes every diagram to ``book/figures/`` (or DIR) as
SVG. The output is byte-for-byte deterministic: a fixed SVG hash salt, no date in the metadata.
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib
from matplotlib.figure import Figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

__all__ = [
    "COLORS",
    "DEFAULT_OUT",
    "FIGURES",
    "chapter_map",
    "io_patterns",
    "logo",
    "lstm_cell",
    "main",
    "ntm",
    "save",
    "seq2seq_attention",
    "transformer",
    "unrolled_rnn",
    "word2vec",
]

COLORS = {"x": "#cfe2f3", "h": "#fde9c4", "y": "#d9ead3", "edge": "#333333", "rec": "#b45f06"}
DEFAULT_OUT = pathlib.Path(__file__).resolve().parents[2] / "book" / "figures"


def _box(ax, x, y, text, kind, w=0.7, h=0.5):
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            fc=COLORS[kind],
            ec=COLORS["edge"],
            lw=1.2,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=11)


def _arrow(ax, a, b, color=None, rad=0.0, label=None, label_offset=(0, 0.12)):
    ax.add_patch(
        FancyArrowPatch(
            a,
            b,
            arrowstyle="-|>",
            mutation_scale=12,
            lw=1.3,
            color=color or COLORS["edge"],
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=2,
            shrinkB=2,
        )
    )
    if label:
        ax.text(
            (a[0] + b[0]) / 2 + label_offset[0],
            (a[1] + b[1]) / 2 + label_offset[1],
            label,
            ha="center",
            va="bottom",
            fontsize=9,
            color=color or COLORS["edge"],
        )


def _canvas(width, height):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def unrolled_rnn() -> Figure:
    """The recurrent loop (left) and the same network unrolled over four steps (right)."""
    fig, ax = _canvas(9.0, 3.2)
    # folded network
    _box(ax, 0, 0, r"$x_t$", "x")
    _box(ax, 0, 1.3, r"$h_t$", "h")
    _box(ax, 0, 2.6, r"$y_t$", "y")
    _arrow(ax, (0, 0.27), (0, 1.03), label=r"$W_{xh}$", label_offset=(0.32, -0.1))
    _arrow(ax, (0, 1.57), (0, 2.33), label=r"$W_{hy}$", label_offset=(0.32, -0.1))
    ax.add_patch(
        FancyArrowPatch(
            (0.36, 1.42),
            (0.36, 1.18),
            arrowstyle="-|>",
            mutation_scale=12,
            lw=1.3,
            color=COLORS["rec"],
            connectionstyle="arc3,rad=-2.2",
        )
    )
    ax.text(0.9, 1.3, r"$W_{hh}$", color=COLORS["rec"], fontsize=10, va="center")
    ax.text(1.8, 1.3, "=", fontsize=20, ha="center", va="center")
    # unrolled network
    xs = [3.8 + 1.6 * i for i in range(4)]
    names = ["1", "2", "3", "T"]
    _box(ax, xs[0] - 1.2, 1.3, r"$h_0$", "h", w=0.55)
    for i, (x, n) in enumerate(zip(xs, names)):
        _box(ax, x, 0, rf"$x_{n}$", "x")
        _box(ax, x, 1.3, rf"$h_{n}$", "h")
        _box(ax, x, 2.6, rf"$y_{n}$", "y")
        _arrow(ax, (x, 0.27), (x, 1.03))
        _arrow(ax, (x, 1.57), (x, 2.33))
        prev = xs[0] - 1.2 + 0.3 if i == 0 else xs[i - 1] + 0.37
        _arrow(ax, (prev, 1.3), (x - 0.37, 1.3), color=COLORS["rec"], label=r"$W_{hh}$")
    ax.text((xs[2] + xs[3]) / 2, 1.78, r"$\cdots$", ha="center", fontsize=14)
    ax.text(
        xs[1] + 0.8,
        -0.65,
        "the same weights in every copy; the gradient of each weight is the sum over copies",
        ha="center",
        fontsize=9,
        style="italic",
    )
    ax.set_xlim(-0.8, xs[-1] + 0.6)
    ax.set_ylim(-0.9, 3.0)
    return fig


def io_patterns() -> Figure:
    """One-to-one, one-to-many, many-to-one and the two many-to-many patterns."""
    patterns = [
        ("one to one\n(FFNN: image class)", [0], [0], 1),
        ("one to many\n(image captioning)", [0], [0, 1, 2], 3),
        ("many to one\n(sentiment analysis)", [0, 1, 2], [2], 3),
        ("many to many, delayed\n(translation, seq2seq)", [0, 1, 2], [3, 4, 5], 6),
        ("many to many, synced\n(frame labelling, tagging)", [0, 1, 2], [0, 1, 2], 3),
    ]
    fig, axes = plt.subplots(1, 5, figsize=(14.0, 3.4), gridspec_kw={"width_ratios": [1, 3, 3, 6, 3]})
    for ax, (title, ins, outs, n) in zip(axes, patterns):
        ax.set_aspect("equal")
        ax.axis("off")
        for t in range(n):
            _box(ax, t, 1.2, "", "h", w=0.55, h=0.45)
            if t:
                _arrow(ax, (t - 1 + 0.28, 1.2), (t - 0.28, 1.2), color=COLORS["rec"])
        for t in ins:
            _box(ax, t, 0, "", "x", w=0.55, h=0.45)
            _arrow(ax, (t, 0.23), (t, 0.97))
        for t in outs:
            _box(ax, t, 2.4, "", "y", w=0.55, h=0.45)
            _arrow(ax, (t, 1.43), (t, 2.17))
        ax.set_xlim(-0.5, max(n, 1) - 0.5)
        ax.set_ylim(-0.4, 2.8)
        ax.set_title(title, fontsize=9)
    fig.text(
        0.5, 0.12, "blue: input   orange: state (arrows right: recurrence)   green: output", ha="center", fontsize=9
    )
    return fig


def _op(ax, x, y, text, r=0.22):
    ax.add_patch(plt.Circle((x, y), r, fc="white", ec=COLORS["edge"], lw=1.2, zorder=3))
    ax.text(x, y, text, ha="center", va="center", fontsize=12, zorder=4)


def _gate(ax, x, y, text, kind="gate"):
    color = {"gate": "#f4cccc", "cand": "#fff2cc"}[kind]
    ax.add_patch(
        FancyBboxPatch(
            (x - 0.32, y - 0.22),
            0.64,
            0.44,
            boxstyle="round,pad=0.02,rounding_size=0.06",
            fc=color,
            ec=COLORS["edge"],
            lw=1.2,
            zorder=3,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=11, zorder=4)


def lstm_cell() -> Figure:
    """The LSTM cell: the cell-state line on top, four gates below, the output at the right."""
    fig, ax = _canvas(8.5, 4.6)
    top, mid, low = 3.2, 1.9, 0.5
    # cell state line: c_{t-1} -> (x f) -> (+ i*g) -> c_t
    _arrow(ax, (-0.4, top), (1.28, top), color=COLORS["rec"])
    _op(ax, 1.5, top, r"$\times$")
    _arrow(ax, (1.72, top), (3.78, top), color=COLORS["rec"])
    _op(ax, 4.0, top, "+")
    _arrow(ax, (4.22, top), (7.6, top), color=COLORS["rec"])
    ax.text(-0.45, top + 0.25, r"$c_{t-1}$", fontsize=12, color=COLORS["rec"])
    ax.text(7.3, top + 0.25, r"$c_t$", fontsize=12, color=COLORS["rec"])
    ax.text(
        2.7,
        top + 0.45,
        "cell state: linear path, scaled by the forget gate\n(the constant error carousel when $f_t = 1$)",
        fontsize=8.5,
        ha="center",
        color=COLORS["rec"],
        style="italic",
    )
    # input line: [h_{t-1}, x_t] feeds the four gates
    ax.plot([-0.4, 5.3], [low - 0.35, low - 0.35], color=COLORS["edge"], lw=1.3)
    ax.text(-0.45, low - 0.7, r"$h_{t-1}$, $x_t$", fontsize=12)
    gates = [
        (1.5, r"$\sigma$", "gate", r"$f_t$"),
        (2.9, r"$\sigma$", "gate", r"$i_t$"),
        (4.0, "tanh", "cand", r"$g_t$"),
        (5.3, r"$\sigma$", "gate", r"$o_t$"),
    ]
    for x, text, kind, name in gates:
        _arrow(ax, (x, low - 0.35), (x, low - 0.22))
        _gate(ax, x, low, text, kind)
        ax.text(x + 0.38, low + 0.3, name, fontsize=11)
    _arrow(ax, (1.5, low + 0.22), (1.5, top - 0.22))  # f -> x
    _op(ax, 3.45, mid, r"$\times$")
    ax.plot([2.9, 2.9, 3.23], [low + 0.22, mid, mid], color=COLORS["edge"], lw=1.3)  # i -> x
    ax.plot([4.0, 4.0, 3.67], [low + 0.22, mid, mid], color=COLORS["edge"], lw=1.3)  # g -> x
    _arrow(ax, (3.45, mid + 0.22), (3.9, top - 0.2))  # i*g -> +
    # output: tanh(c_t) * o_t -> h_t
    _gate(ax, 6.3, 2.45, "tanh", "cand")
    _arrow(ax, (6.3, top), (6.3, 2.67))
    _op(ax, 6.3, 1.3, r"$\times$")
    _arrow(ax, (6.3, 2.23), (6.3, 1.52))
    ax.plot([5.3, 5.3, 6.08], [low + 0.22, 1.3, 1.3], color=COLORS["edge"], lw=1.3)
    _arrow(ax, (6.52, 1.3), (7.6, 1.3))
    ax.text(7.3, 1.45, r"$h_t$", fontsize=12)
    ax.set_xlim(-0.8, 7.9)
    ax.set_ylim(-0.9, 4.1)
    return fig


def logo() -> Figure:
    """The book's logo: a state box with its recurrent loop."""
    fig, ax = _canvas(1.6, 1.6)
    _box(ax, 0, 0, "rnn", "h", w=1.0, h=0.6)
    ax.add_patch(
        FancyArrowPatch(
            (0.5, 0.15),
            (0.5, -0.15),
            arrowstyle="-|>",
            mutation_scale=14,
            lw=2.0,
            color=COLORS["rec"],
            connectionstyle="arc3,rad=-2.4",
        )
    )
    ax.set_xlim(-0.7, 1.0)
    ax.set_ylim(-0.6, 0.6)
    return fig


def seq2seq_attention() -> Figure:
    """An encoder-decoder on a date: the encoder's summary starts the decoder; attention mixes
    the encoder states into a context vector at every decoder step (drawn for one step)."""
    fig, ax = _canvas(11.0, 4.4)
    src = ["fr_FR", "4", "mars", "2021"]
    tgt_in, tgt_out = ["<SOS>", "2", "0", "2", "1"], ["2", "0", "2", "1", "-"]
    ex = [1.15 * i for i in range(len(src))]
    dx = [ex[-1] + 2.2 + 1.15 * i for i in range(len(tgt_in))]
    for i, (x, tok) in enumerate(zip(ex, src)):
        _box(ax, x, 0, tok, "x", w=0.9, h=0.45)
        _box(ax, x, 1.3, rf"$k_{i + 1}$", "h", w=0.6, h=0.45)
        _arrow(ax, (x, 0.23), (x, 1.07))
        if i:
            _arrow(ax, (ex[i - 1] + 0.3, 1.3), (x - 0.3, 1.3), color=COLORS["rec"])
    for i, (x, a, b) in enumerate(zip(dx, tgt_in, tgt_out)):
        _box(ax, x, 0, a, "x", w=0.9, h=0.45)
        _box(ax, x, 1.3, rf"$s_{i + 1}$", "h", w=0.6, h=0.45)
        _box(ax, x, 2.6, b, "y", w=0.6, h=0.45)
        _arrow(ax, (x, 0.23), (x, 1.07))
        _arrow(ax, (x, 1.53), (x, 2.37))
        if i:
            _arrow(ax, (dx[i - 1] + 0.3, 1.3), (x - 0.3, 1.3), color=COLORS["rec"])
        if i + 1 < len(dx):  # feed the output back as the next input (at run time)
            _arrow(ax, (x + 0.3, 2.45), (dx[i + 1] - 0.4, 0.23), color="#999999", rad=-0.25)
    _arrow(ax, (ex[-1] + 0.3, 1.3), (dx[0] - 0.3, 1.3), color=COLORS["rec"], label="summary", label_offset=(0, 0.05))
    # attention for decoder step 4 (it writes the last digit of the year): mostly on "2021"
    t, cx, cy = 3, 2.6, 3.6
    ax.add_patch(plt.Circle((cx, cy), 0.28, fc="#ead1dc", ec=COLORS["edge"], lw=1.2, zorder=3))
    ax.text(cx, cy, r"$c_4$", ha="center", va="center", fontsize=11, zorder=4)
    for x, w in zip(ex, [0.03, 0.04, 0.08, 0.85]):
        ax.plot([x, cx], [1.53, cy - 0.28], color="#a64d79", lw=0.5 + 4 * w, alpha=0.85)
        ax.text(x - 0.32, 1.58, f"{w:.2f}", fontsize=7.5, color="#a64d79", ha="right")
    _arrow(ax, (cx + 0.28, cy + 0.05), (dx[t] + 0.1, 1.53), color="#a64d79", rad=-0.2)
    _arrow(ax, (dx[t - 1] - 0.1, 1.53), (cx + 0.2, cy - 0.2), color="#a64d79", rad=0.15)
    ax.text(
        cx + 0.45,
        cy + 0.12,
        r"weights $a_{4j} = \mathrm{softmax}_j\, e(s_3, k_j)$, context $c_4 = \sum_j a_{4j} k_j$",
        fontsize=9,
        color="#a64d79",
    )
    ax.text(sum(ex) / len(ex), -0.65, "encoder", ha="center", fontsize=10, style="italic")
    ax.text(
        sum(dx) / len(dx),
        -0.65,
        "decoder (teacher forcing: inputs are the target shifted right)",
        ha="center",
        fontsize=10,
        style="italic",
    )
    ax.set_xlim(-0.7, dx[-1] + 0.6)
    ax.set_ylim(-0.9, 4.1)
    return fig


def ntm() -> Figure:
    """The Neural Turing Machine: a controller, two heads, and the memory they address."""
    fig, ax = _canvas(9.5, 4.4)
    _box(ax, 0, 0, r"$x_t$", "x", w=0.7, h=0.45)
    _box(ax, 0, 1.6, "controller\n(LSTM)", "h", w=1.6, h=0.8)
    _box(ax, 0, 3.2, r"$y_t$", "y", w=0.7, h=0.45)
    _arrow(ax, (0, 0.23), (0, 1.2))
    _arrow(ax, (0, 2.0), (0, 2.97))
    heads = [(2.9, 2.45, "write head\n$w^w_t$, erase $e_t$, add $a_t$"), (2.9, 0.75, "read head\n$w^r_t$")]
    for x, y, text in heads:
        ax.add_patch(
            FancyBboxPatch(
                (x - 1.05, y - 0.4),
                2.1,
                0.8,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                fc="#ead1dc",
                ec=COLORS["edge"],
                lw=1.2,
            )
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=9)
    _arrow(ax, (0.8, 1.8), (1.85, 2.35))
    _arrow(ax, (0.8, 1.4), (1.85, 0.85))
    # the memory: N rows of W cells
    mx, my, rows, cols = 6.0, 0.2, 8, 6
    for i in range(rows):
        for j in range(cols):
            ax.add_patch(
                plt.Rectangle(
                    (mx + 0.32 * j, my + 0.34 * i),
                    0.32,
                    0.34,
                    fc="#fff2cc" if i != 5 else "#f9cb9c",
                    ec="#999999",
                    lw=0.6,
                )
            )
    ax.text(
        mx + 0.32 * cols / 2, my + 0.34 * rows + 0.15, "memory $M_t$: $N$ slots of width $W$", ha="center", fontsize=9
    )
    _arrow(
        ax, (3.95, 2.45), (mx - 0.05, my + 0.34 * 5.5), color="#a64d79", label="erase, then add", label_offset=(0, 0.12)
    )
    _arrow(
        ax,
        (mx - 0.05, my + 0.34 * 2.5),
        (3.95, 0.75),
        color="#a64d79",
        label=r"$r_t = \sum_i w^r_t(i) M_t(i)$",
        label_offset=(0.2, -0.5),
    )
    ax.add_patch(
        FancyArrowPatch(
            (1.85, 0.6),
            (0.6, 1.25),
            arrowstyle="-|>",
            mutation_scale=12,
            lw=1.3,
            color="#a64d79",
            connectionstyle="arc3,rad=-0.3",
        )
    )
    ax.text(1.05, 0.45, r"$r_t$ (next step)", fontsize=9, color="#a64d79")
    ax.text(
        mx + 2.2,
        1.6,
        "addressing of each head:\n1. content  (key $k_t$, $\\beta_t$)\n2. interpolate  ($g_t$)"
        "\n3. shift  ($s_t$)\n4. sharpen  ($\\gamma_t$)",
        fontsize=9,
        va="center",
    )
    ax.set_xlim(-1.0, 10.6)
    ax.set_ylim(-0.4, 3.6)
    return fig


def transformer() -> Figure:
    """The encoder-decoder Transformer (pre-LN): two stacks of attention and feed-forward blocks."""
    fig, ax = _canvas(9.0, 7.6)

    def block(x, y, text, color, w=2.7, h=0.42):
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.02,rounding_size=0.06",
                fc=color,
                ec=COLORS["edge"],
                lw=1.1,
                zorder=3,
            )
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=9, zorder=4)

    def add(x, y):
        ax.add_patch(plt.Circle((x, y), 0.13, fc="white", ec=COLORS["edge"], lw=1.1, zorder=3))
        ax.text(x, y, "+", ha="center", va="center", fontsize=10, zorder=4)

    attn, ff, norm, emb = "#ead1dc", "#d9ead3", "#fff2cc", "#cfe2f3"
    for x0, title, rows in [
        (
            0.0,
            "encoder layer  (x N)",
            [
                ("LayerNorm", norm),
                ("multi-head self-attention", attn),
                None,
                ("LayerNorm", norm),
                ("feed-forward", ff),
                None,
            ],
        ),
        (
            4.0,
            "decoder layer  (x N)",
            [
                ("LayerNorm", norm),
                ("masked self-attention", attn),
                None,
                ("LayerNorm", norm),
                ("cross-attention", attn),
                None,
                ("LayerNorm", norm),
                ("feed-forward", ff),
                None,
            ],
        ),
    ]:
        y = 1.3
        block(x0, 0.2, "embedding + positions", emb)
        _arrow(ax, (x0, 0.42), (x0, y - 0.25))
        top = y + 0.55 * len(rows)
        ax.add_patch(plt.Rectangle((x0 - 1.65, y - 0.35), 3.3, top - y + 0.2, fc="none", ec="#999999", ls="--", lw=1))
        ax.text(x0 + 1.8, (y + top) / 2 - 0.2, title, ha="center", va="center", rotation=90, fontsize=9, style="italic")
        skip_from = y - 0.3
        for row in rows:
            if row is None:
                add(x0, y)
                ax.plot([x0 - 1.5, x0 - 1.5, x0 - 0.13], [skip_from, y, y], color=COLORS["rec"], lw=1.2, zorder=2)
                skip_from = y + 0.15
                _arrow(ax, (x0, y + 0.13), (x0, y + 0.55 - 0.22))
            else:
                block(x0, y, *row)
                _arrow(
                    ax,
                    (x0, y + 0.21),
                    (
                        x0,
                        y + 0.55 - 0.21
                        if rows.index(row) + 1 < len(rows) and rows[rows.index(row) + 1] is not None
                        else y + 0.55 - 0.13,
                    ),
                )
            y += 0.55
        if x0 == 0.0:
            enc_top = y - 0.55
        else:
            block(x0, y + 0.1, "LayerNorm, linear, softmax", norm, w=3.0)
            block(x0, y + 0.75, r"$p(y_t \mid y_{<t}, x)$", COLORS["y"], w=1.6)
            _arrow(ax, (x0, y + 0.31), (x0, y + 0.54))
    # the encoder output feeds every decoder layer's cross-attention
    ax.add_patch(
        FancyArrowPatch(
            (0.0, enc_top + 0.15),
            (4.0 - 1.35, 1.3 + 0.55 * 4),
            arrowstyle="-|>",
            mutation_scale=12,
            lw=1.3,
            color="#a64d79",
            connectionstyle="arc3,rad=-0.3",
        )
    )
    ax.text(1.1, enc_top + 0.75, "keys and values\nfor cross-attention", fontsize=8.5, color="#a64d79", ha="center")
    ax.text(0.0, -0.35, "source tokens", ha="center", fontsize=9)
    ax.text(4.0, -0.35, "target tokens, shifted right", ha="center", fontsize=9)
    ax.text(
        2.0,
        -0.8,
        "orange lines: residual connections, x + F(LayerNorm(x))",
        ha="center",
        fontsize=8.5,
        color=COLORS["rec"],
    )
    ax.set_xlim(-1.9, 6.1)
    ax.set_ylim(-1.0, 7.7)
    return fig


def word2vec() -> Figure:
    """CBOW (left) and skip-gram (right): the same two tables, used in opposite directions."""
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6))
    words = [r"$w_{t-2}$", r"$w_{t-1}$", r"$w_{t+1}$", r"$w_{t+2}$"]
    for ax, title in zip(axes, ["CBOW: context -> centre", "skip-gram: centre -> context"]):
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(title, fontsize=10)
        ax.set_xlim(-0.6, 6.6)
        ax.set_ylim(-1.4, 4.3)
    ax = axes[0]
    for i, w in enumerate(words):
        y = 3.6 - i * 1.0
        _box(ax, 0.4, y, w, "x", w=0.9, h=0.5)
        _arrow(ax, (0.85, y), (2.45, 2.1), label=None)
    _box(ax, 3.1, 2.1, r"$\bar v$", "h", w=0.9, h=0.6)
    _arrow(ax, (3.75, 2.1), (4.95, 2.1), label="$U$", label_offset=(0, 0.05))
    _box(ax, 5.6, 2.1, "$w_t$", "y", w=0.9, h=0.5)
    ax.text(
        3.1,
        -1.0,
        "$\\bar v$: the mean of the context words' rows of $V$ (the embedding);\n"
        "then one output table $U$: no hidden layer, no non-linearity",
        ha="center",
        fontsize=8.5,
        style="italic",
    )
    ax = axes[1]
    _box(ax, 0.6, 2.1, "$w_t$", "x", w=0.9, h=0.5)
    _arrow(ax, (1.05, 2.1), (2.45, 2.1), label="$V$", label_offset=(0, 0.05))
    _box(ax, 3.0, 2.1, "$v_{w_t}$", "h", w=0.9, h=0.6)
    for i, w in enumerate(words):
        y = 3.6 - i * 1.0
        _arrow(ax, (3.5, 2.1), (5.15, y))
        _box(ax, 5.7, y, w, "y", w=0.9, h=0.5)
    ax.text(
        3.1,
        -1.0,
        "each context word predicted from the centre:\n"
        "$\\sigma(u_o \\cdot v_c)$ high, $\\sigma(u_n \\cdot v_c)$ low for noise words $n$",
        ha="center",
        fontsize=8.5,
        style="italic",
    )
    return fig


def chapter_map() -> Figure:
    """The eight chapters and what each one takes from the ones before it (the eighth goes beyond the sheet)."""
    fig, ax = _canvas(15.0, 2.6)
    boxes = {
        1: (0.0, 1.2, "1  Recurrence\nstate, BPTT"),
        2: (4.2, 1.2, "2  LSTM\ngates, GRU, BiLSTM"),
        3: (8.4, 2.4, "3  Vanishing Gradient\nJacobians, CEC"),
        4: (8.4, 0.0, "4  Seq2Seq\nencoder, decoder"),
        5: (12.6, 2.4, "5  Word Embedding\nword2vec, n-grams"),
        6: (12.6, 0.0, "6  Neural Turing\nMachines"),
        7: (16.8, 1.2, "7  Transformers\nattention only"),
        8: (21.4, 1.2, "8  Linear RNNs\nSSMs, parallel scan"),
    }
    kinds = {1: "x", 2: "h", 3: "h", 4: "y", 5: "y", 6: "y", 7: "x", 8: "h"}
    w, h = 3.0, 0.9
    for k, (x, y, text) in boxes.items():
        _box(ax, x, y, "", kinds[k], w=w, h=h)
        ax.text(x, y, text, ha="center", va="center", fontsize=10)
    edges = [
        (1, 2, "the state", (0, 0.08)),
        (2, 3, "why gates work", (-0.75, 0.0)),
        (2, 4, "cells", (-0.45, -0.25)),
        (4, 5, "embeddings", (-0.75, 0.0)),
        (4, 6, "attention", (0, 0.08)),
        (6, 7, "addressing", (0.75, -0.25)),
        (5, 7, "tokens as vectors", (0.95, 0.0)),
        (7, 8, "linear\nattention", (0, 0.08)),
    ]
    for a, b, label, (dx, dy) in edges:
        (xa, ya, _), (xb, yb, _) = boxes[a], boxes[b]
        _arrow(ax, (xa + w / 2, ya), (xb - w / 2, yb))
        ax.text(
            (xa + xb) / 2 + dx,
            (ya + yb) / 2 + dy,
            label,
            ha="center",
            va="bottom",
            fontsize=9,
            style="italic",
            color="#555555",
        )
    ax.set_xlim(-1.6, 23.0)
    ax.set_ylim(-0.6, 3.0)
    return fig


FIGURES = {
    "unrolled_rnn": unrolled_rnn,
    "io_patterns": io_patterns,
    "lstm_cell": lstm_cell,
    "seq2seq_attention": seq2seq_attention,
    "ntm": ntm,
    "transformer": transformer,
    "word2vec": word2vec,
    "logo": logo,
    "chapter_map": chapter_map,
}


def save(fig: Figure, path: str | pathlib.Path) -> None:
    """Save ``fig`` as SVG with no date and a fixed hash salt, so that the bytes are reproducible."""
    if not isinstance(fig, Figure):
        raise TypeError(f"`fig` must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(path, (str, pathlib.Path)):
        raise TypeError(f"`path` must be a file path (str or pathlib.Path), got {type(path).__name__}")
    if not pathlib.Path(path).parent.is_dir():
        raise ValueError(f"`path` must be in an existing folder; {pathlib.Path(path).parent} does not exist")
    with matplotlib.rc_context({"svg.hashsalt": "rnnbook", "svg.fonttype": "path"}):
        fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "rnnbook"})
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """``python -m rnnbook.figures [--out DIR]``: draw every diagram and save it as ``DIR/<name>.svg``."""
    if argv is not None and (isinstance(argv, str) or not all(isinstance(a, str) for a in argv)):
        raise TypeError(f"`argv` must be a list of strings (command-line arguments), got {argv!r}")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in FIGURES.items():
        save(draw(), args.out / f"{name}.svg")
        print(args.out / f"{name}.svg")
    fig = logo()  # the favicon: the logo as a small PNG, with no software/date metadata
    fig.savefig(args.out / "favicon.png", dpi=20, metadata={"Software": None})
    plt.close(fig)
    print(args.out / "favicon.png")


if __name__ == "__main__":
    main()
