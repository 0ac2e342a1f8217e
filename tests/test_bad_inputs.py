"""Bad input never gives a silent answer: one table of bad calls across the whole public API.

Each row of :data:`CASES` is a call that must raise: the function it is about (``"module.name"``
or ``"module.Class.method"``), a builder that makes the call, the exception type (``ValueError``,
or ``TypeError`` for a wrong Python type) and words its message must contain (the argument's name,
at least). :func:`test_every_public_function_has_a_bad_input_case` fails when a function or class
of a module's ``__all__`` has no row and no reasoned exemption in :data:`EXEMPT`.

Shapes are tiny and models are built once (cached), so the whole file runs in seconds.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.sparse
from flax import nnx

import rnnbook
from rnnbook import (
    cells,
    data,
    explore,
    figures,
    gru,
    hlo,
    layers,
    linear_rnn,
    losses,
    lstm,
    models,
    ngram,
    nnlm,
    ntm,
    rnn,
    seq2seq,
    subword,
    timing,
    train,
    transformer,
    vocab,
)
from rnnbook import word2vec as w2v

KEY = jax.random.key(0)
NAN = float("nan")


class Case(NamedTuple):
    target: str  # "module.name" or "module.Class.method": what the row is about
    call: Callable[[], object]  # makes the bad call
    words: tuple[str, ...]  # the message must contain each (case-insensitive)
    exc: type[Exception] = ValueError
    marks: tuple = ()


def case(target, call, *words, exc=ValueError, marks=()):
    return Case(target, call, tuple(words), exc, marks)


# ------------------------------------------------------------------------------------ fixtures
def _figure():
    """A small matplotlib figure (the static image of rnnbook.explore), on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")  # the rows that raise leave theirs open
    return plt.figure(figsize=(1, 1))


def ones(*shape, dtype=jnp.float32):
    return jnp.ones(shape, dtype)


XS = ones(2, 5, 3)  # [batch 2, time 5, features 3]
LENGTHS = jnp.array([5, 3])


@functools.cache
def elman():
    return rnn.init_elman(KEY, 3, 4)


@functools.cache
def lstm_params():
    return lstm.init_lstm(KEY, 3, 4)


@functools.cache
def peephole_params():
    return lstm.init_peephole_lstm(KEY, 3, 4)


@functools.cache
def gru_params():
    return gru.init_gru(KEY, 3, 4)


@functools.cache
def ntm_params():
    return ntm.init_ntm(KEY, 3, 2, controller=4, width=3)


@functools.cache
def recurrent(bidirectional=False):
    return layers.Recurrent("gru", 3, 4, bidirectional=bidirectional, rngs=nnx.Rngs(0))


@functools.cache
def tiny_transformer():
    return transformer.Transformer(6, 7, d_model=8, heads=2, d_ff=8, layers=1, max_len=4, rngs=nnx.Rngs(0))


@functools.cache
def tiny_seq2seq():
    return seq2seq.Seq2Seq(6, 7, embed=4, hidden=4, attention="luong", rngs=nnx.Rngs(0))


@functools.cache
def mha():
    return transformer.MultiHeadAttention(8, 2, rngs=nnx.Rngs(0))


@functools.cache
def ngram_lm():
    return ngram.NGramLM([0, 1, 2, 1, 0, 2, 2], 2, 3)


@functools.cache
def word_vocab():
    return w2v.WordVocab(["a", "b", "a", "b", "c"], min_count=1)


@functools.cache
def s2s_batch():
    return {
        k: jnp.asarray(v)
        for k, v in seq2seq.make_batch([np.array([4, 5]), np.array([4])], [np.array([3, 4])] * 2).items()
    }


@functools.cache
def mingru_params():
    return linear_rnn.init_mingru(KEY, 3, 4)  # W_x [3, 8]: not [input, 3*hidden]


@functools.cache
def minlstm_params():
    return linear_rnn.init_minlstm(KEY, 3, 4)


@functools.cache
def lru_params():
    return linear_rnn.init_lru(KEY, 3, 4)


@functools.cache
def s4d_params():
    return linear_rnn.init_s4d(KEY, 3, 4)


@functools.cache
def selective_params():
    return linear_rnn.init_selective_ssm(KEY, 3, 4)


@functools.cache
def slstm_params():
    return linear_rnn.init_slstm(KEY, 3, 4)


@functools.cache
def sequence_model(tokens=True):
    sizes = {"vocab_size": 5} if tokens else {"input_size": 3}
    return linear_rnn.SequenceModel(
        "lru", width=4, output_size=2, num_layers=1, state_size=2, rngs=nnx.Rngs(0), **sizes
    )


def selective_scan(**changed):
    """linear_rnn.selective_scan on x [batch 2, time 5, channels 3], state 4, with the arguments ``changed``."""
    args = {"x": XS, "delta": XS, "A": -ones(3, 4), "B": ones(2, 5, 4), "C": ones(2, 5, 4), "D": ones(3), **changed}
    return linear_rnn.selective_scan(**args)


def with_(batch, **changes):
    return {**batch, **{k: jnp.asarray(v) for k, v in changes.items()}}


def transformer_step(token, fill=0):
    """The Transformer's cached decoder step on a batch of 2, its cache already holding ``fill`` positions."""
    model = tiny_transformer()
    memory, cache = model.encode(jnp.array([[4, 5], [4, 0]]), jnp.array([2, 1]))
    cache = tuple(c._replace(length=jnp.full(2, fill, jnp.int32)) for c in cache)
    return model.step_fn()(memory, cache, jnp.asarray(token))


def seq2seq_step(token):
    model = tiny_seq2seq()
    memory, carry = model.encode(jnp.array([[4, 5], [4, 0]]), jnp.array([2, 1]))
    return model.step_fn()(memory, carry, jnp.asarray(token))


def fit(batch, loss=losses.mse, model=None, **options):
    model = model if model is not None else models.Regressor("rnn", 1, 2, rngs=nnx.Rngs(0))
    options = {"key": KEY, "epochs": 1, "steps_per_epoch": 2, "progress": False, **options}
    # minibatches draws inside jit (traced), as training does: the value checks cannot see the data there
    return train.fit(model, loss, train.minibatches(batch, jax.tree_util.tree_leaves(batch)[0].shape[0]), **options)


def fit_seeds(keys, make=None, **options):
    make = make or (lambda key: {"w": jnp.zeros(2)})
    options = {"key": KEY, "epochs": 1, "steps_per_epoch": 2, "progress": False, **options}
    return train.fit_seeds(make, keys, lambda p, b: jnp.sum(p["w"]) * b, lambda k: 1.0, **options)


def widening():
    # a `make` whose every model is wider than the one before: not one architecture
    sizes = itertools.count(2)
    return lambda key: {"w": jnp.zeros(next(sizes))}


def linear_loss(params, batch):
    x, y = batch
    return jnp.mean((x * params["w"] - y) ** 2)


def char_lm():
    return models.CharLM("rnn", 5, embed=4, hidden=4, rngs=nnx.Rngs(0))


MEM = jnp.ones((1, 4, 3))  # NTM memory [batch 1, slots 4, width 3]
W4 = jnp.array([[0.25, 0.25, 0.25, 0.25]])

# ---------------------------------------------------------------------------------- the table
CASES = [
    # cells ----------------------------------------------------------------------------------
    case("cells.Cell", lambda: lstm.LSTM.init(KEY, 3, 4, typo_option=1), "typo_option"),
    case("cells.Cell.init", lambda: rnn.ELMAN.init(KEY, 3, 0), "hidden_size"),
    case("cells.Cell.initial_carry", lambda: gru.GRU.initial_carry(0, 4), "batch"),
    case("cells.Cell.carry_from_hidden", lambda: ntm.NTM.carry_from_hidden(ones(2, 4)), "cannot be built"),
    case("cells.Cell.carry_from_hidden", lambda: lstm.LSTM.carry_from_hidden(ones(4)), "`h`", "[batch, hidden]"),
    case("cells.Cell.__call__", lambda: lstm.LSTM(lstm_params(), lstm.LSTM.initial_carry(2, 4), ones(2, 5)), "`x`"),
    case("cells.Cell.__call__", lambda: rnn.ELMAN(elman(), ones(2, 3), ones(2, 3)), "`h`"),
    case("cells.scan_cell", lambda: cells.scan_cell(rnn.ELMAN, elman(), ones(2, 3), ones(2, 4)), "`xs`"),
    case("cells.scan_cell", lambda: cells.scan_cell(rnn.ELMAN, elman(), XS, ones(2, 4), jnp.array([0, 2])), "lengths"),
    case("cells.scan_cell", lambda: cells.scan_cell(rnn.ELMAN, elman(), XS, ones(2, 4), jnp.array([6, 2])), "lengths"),
    case("cells.scan_cell", lambda: cells.scan_cell("rnn", elman(), XS, ones(2, 4)), "`cell`", exc=TypeError),
    case("cells.zeros_carry", lambda: cells.zeros_carry(0, 4), "batch"),
    case("cells.zeros_pair_carry", lambda: cells.zeros_pair_carry(2, -1), "hidden_size"),
    # rnn ------------------------------------------------------------------------------------
    case("rnn.torch_uniform", lambda: rnn.torch_uniform(0, (3, 4), 4), "`key`", exc=TypeError),
    case("rnn.torch_uniform", lambda: rnn.torch_uniform(KEY, (3, 0), 4), "`shape`"),
    case("rnn.init_elman", lambda: rnn.init_elman(KEY, 0, 4), "input_size"),
    case("rnn.init_elman", lambda: rnn.init_elman(7, 3, 4), "`key`", exc=TypeError),
    case("rnn.elman_cell", lambda: rnn.elman_cell(elman(), ones(2, 4), ones(2, 5)), "`x`", "input 3"),
    case("rnn.elman_cell", lambda: rnn.elman_cell(elman(), ones(2, 5), ones(2, 3)), "`h`", "hidden 4"),
    case("rnn.elman_cell", lambda: rnn.elman_cell(elman(), ones(2, 4), ones(2, 3, dtype=jnp.int32)), "`x`", "float"),
    case("rnn.elman_cell", lambda: rnn.elman_cell(elman(), ones(3, 4), ones(2, 3)), "`h`", "batch 2"),
    case("rnn.rnn_scan", lambda: rnn.rnn_scan(elman(), XS.at[0, 0, 0].set(NAN)), "NaN"),
    case("rnn.rnn_scan", lambda: rnn.rnn_scan(elman(), XS, lengths=jnp.array([0, 3])), "lengths"),
    case("rnn.rnn_scan", lambda: rnn.rnn_scan(elman(), XS, lengths=jnp.array([6, 3])), "lengths"),
    case("rnn.rnn_scan", lambda: rnn.rnn_scan(elman(), XS, lengths=jnp.array([5.0, 3.0])), "lengths", "integers"),
    case("rnn.rnn_scan", lambda: rnn.rnn_scan(elman(), XS, h0=ones(3, 4)), "h0"),
    case("rnn.rnn_scan", lambda: rnn.rnn_scan(elman(), ones(2, 5)), "xs", "rank 3"),
    case("rnn.rnn_unrolled", lambda: rnn.rnn_unrolled(elman(), ones(2, 5, 2)), "input_size"),
    case("rnn.rnn_unrolled", lambda: rnn.rnn_unrolled(elman(), XS, ones(2, 5)), "h0"),
    case("rnn.init_readout", lambda: rnn.init_readout(KEY, 4, 0), "output_size"),
    case(
        "rnn.sequence_loss",
        lambda: rnn.sequence_loss(elman(), rnn.init_readout(KEY, 4, 1), XS, ones(2, 5)),
        "targets",
        "shape",
    ),
    case(
        "rnn.sequence_loss",
        lambda: rnn.sequence_loss(elman(), rnn.init_readout(KEY, 4, 1), XS, ones(2, 5, 1) * NAN),
        "targets",
        "finite",
    ),
    case("rnn.bptt_grads", lambda: rnn.bptt_grads(elman(), rnn.init_readout(KEY, 4, 1), XS, ones(2, 4, 1)), "targets"),
    case(
        "rnn.bptt_grads",
        lambda: rnn.bptt_grads(elman(), rnn.init_readout(KEY, 4, 1), XS.at[1, 1, 1].set(jnp.inf), ones(2, 5, 1)),
        "NaN or infinite",
    ),
    case("rnn.rtrl_grads", lambda: rnn.rtrl_grads(elman(), rnn.init_readout(KEY, 4, 1), XS, ones(2, 4, 1)), "targets"),
    case(
        "rnn.rtrl_grads",
        lambda: rnn.rtrl_grads(elman(), rnn.init_readout(KEY, 4, 1), XS.at[0, 2, 1].set(NAN), ones(2, 5, 1)),
        "NaN or infinite",
    ),
    case(
        "rnn.rtrl_grads",
        lambda: rnn.rtrl_grads(elman(), rnn.init_readout(KEY, 4, 1), XS, ones(2, 5, 1), h0=ones(2, 3)),
        "h0",
    ),
    case("rnn.rtrl_grads", lambda: rnn.rtrl_grads(elman(), {"W": ones(4, 1)}, XS, ones(2, 5, 1)), "`readout`"),
    case(
        "rnn.carry_gradients",
        lambda: rnn.carry_gradients(rnn.elman_cell, elman(), XS, ones(2, 4), lambda ys, c: ys.sum()),
        "`cell`",
        exc=TypeError,
    ),
    case(
        "rnn.carry_gradients",
        lambda: rnn.carry_gradients(rnn.ELMAN, elman(), XS, ones(2, 4), 3),
        "loss_fn",
        exc=TypeError,
    ),
    case(
        "rnn.carry_gradients",
        lambda: rnn.carry_gradients(rnn.ELMAN, elman(), ones(2, 5), ones(2, 4), lambda ys, c: ys.sum()),
        "`xs`",
    ),
    case("rnn.gradient_norms", lambda: rnn.gradient_norms(ones(5)), "grads", "rank 2"),
    case("rnn.tbptt_states", lambda: rnn.tbptt_states(elman(), ones(2, 6, 3), 3, 2), "k2"),
    case("rnn.tbptt_states", lambda: rnn.tbptt_states(elman(), XS, 2, 2), "multiple of k1"),
    case("rnn.tbptt_states", lambda: rnn.tbptt_states(elman(), XS, 0, 2), "k1"),
    case("rnn.tbptt_states", lambda: rnn.tbptt_states(elman(), XS, 5, 5, cell="rnn"), "`cell`", exc=TypeError),
    case("rnn.ElmanRNN", lambda: rnn.ElmanRNN(0, 4, rngs=nnx.Rngs(0)), "input_size"),
    case(
        "rnn.ElmanRNN.__call__", lambda: rnn.ElmanRNN(3, 4, rngs=nnx.Rngs(0))(XS, lengths=jnp.array([9, 1])), "lengths"
    ),
    case("rnn.ElmanModel", lambda: rnn.ElmanModel(3, 4, 1, output="middle", rngs=nnx.Rngs(0)), "output"),
    case("rnn.ElmanModel.__call__", lambda: rnn.ElmanModel(3, 4, 1, rngs=nnx.Rngs(0))(ones(2, 5, 4)), "input_size"),
    # lstm -----------------------------------------------------------------------------------
    case("lstm.init_lstm", lambda: lstm.init_lstm(KEY, 3, 4, forget_bias="1"), "forget_bias", exc=TypeError),
    case("lstm.init_lstm", lambda: lstm.init_lstm(KEY, 3, 0), "hidden_size"),
    case("lstm.init_lstm", lambda: lstm.init_lstm(1, 3, 4), "`key`", exc=TypeError),
    case("lstm.init_lstm1997", lambda: lstm.init_lstm1997(KEY, 0, 4), "input_size"),
    case("lstm.init_peephole_lstm", lambda: lstm.init_peephole_lstm(KEY, 3, 4, forget_bias=NAN), "forget_bias"),
    case("lstm.lstm_cell", lambda: lstm.lstm_cell(lstm_params(), ones(2, 4), ones(2, 3)), "`carry`", "(h, c)"),
    case("lstm.lstm_cell", lambda: lstm.lstm_cell(lstm_params(), (ones(2, 4), ones(2, 4)), ones(2, 2)), "`x`"),
    case("lstm.lstm_cell", lambda: lstm.lstm_cell(lstm_params(), (ones(2, 4), ones(2, 5)), ones(2, 3)), "`c`"),
    case("lstm.lstm_cell", lambda: lstm.lstm_cell(gru_params(), (ones(2, 4), ones(2, 4)), ones(2, 3)), "`params`"),
    case(
        "lstm.peephole_lstm_cell",
        lambda: lstm.peephole_lstm_cell(lstm_params(), (ones(2, 4), ones(2, 4)), ones(2, 3)),
        "peephole",
    ),
    case(
        "lstm.peephole_lstm_cell",
        lambda: lstm.peephole_lstm_cell(peephole_params(), (ones(2, 4),), ones(2, 3)),
        "`carry`",
    ),
    case(
        "lstm.lstm1997_cell",
        lambda: lstm.lstm1997_cell(lstm_params(), (ones(2, 4), ones(2, 4)), ones(2, 3)),
        "`params`",
    ),
    case(
        "lstm.lstm_gates", lambda: lstm.lstm_gates(gru_params(), XS, cell=gru.GRU), "cell must be one of the LSTM cells"
    ),
    case("lstm.lstm_gates", lambda: lstm.lstm_gates(lstm_params(), ones(2, 5, 2)), "input_size"),
    case("lstm.lstm_gates", lambda: lstm.lstm_gates(lstm_params(), XS, ones(2, 4)), "`carry`"),
    case("lstm.lstm_gates", lambda: lstm.lstm_gates(lstm_params(), XS * NAN), "NaN"),
    case("lstm.lstm_scan_hoisted", lambda: lstm.lstm_scan_hoisted(lstm_params(), XS, unroll=0), "unroll"),
    case("lstm.lstm_scan_hoisted", lambda: lstm.lstm_scan_hoisted(peephole_params(), XS), "modern cell only"),
    case("lstm.lstm_scan_hoisted", lambda: lstm.lstm_scan_hoisted(lstm_params(), XS.at[0, 0, 0].set(NAN)), "NaN"),
    case("lstm.lstm_scan_fused", lambda: lstm.lstm_scan_fused(lstm_params(), ones(2, 5)), "rank 3"),
    case("lstm.lstm_scan_fused", lambda: lstm.lstm_scan_fused(lstm_params(), XS, (ones(3, 4), ones(3, 4))), "h0"),
    # gru ------------------------------------------------------------------------------------
    case("gru.init_gru", lambda: gru.init_gru(KEY, 3, 0), "hidden_size"),
    case("gru.init_gru", lambda: gru.init_gru("seed", 3, 4), "`key`", exc=TypeError),
    case("gru.gru_cell", lambda: gru.gru_cell(gru_params(), ones(2, 4), ones(2, 2)), "`x`"),
    case("gru.gru_cell", lambda: gru.gru_cell(lstm_params(), ones(2, 4), ones(2, 3)), "`params`"),
    case("gru.gru_cell_cho2014", lambda: gru.gru_cell_cho2014(gru_params(), ones(2, 3), ones(2, 3)), "`h`"),
    case("gru.gru_scan_fused", lambda: gru.gru_scan_fused(gru_params(), ones(2, 5)), "rank 3"),
    case("gru.gru_scan_fused", lambda: gru.gru_scan_fused(lstm_params(), XS), "not a GRU's"),
    case("gru.gru_scan_fused", lambda: gru.gru_scan_fused(gru_params(), XS, ones(3, 4)), "h0"),
    case("gru.gru_scan_fused", lambda: gru.gru_scan_fused(gru_params(), XS, lengths=jnp.array([6, 1])), "lengths"),
    case("gru.gru_scan_fused", lambda: gru.gru_scan_fused(gru_params(), XS.at[0, 0, 0].set(NAN)), "NaN"),
    # ntm ------------------------------------------------------------------------------------
    case("ntm.cosine_similarity", lambda: ntm.cosine_similarity(ones(1, 2), MEM), "`key`", "width 3"),
    case("ntm.cosine_similarity", lambda: ntm.cosine_similarity(ones(1, 3), ones(4, 3)), "`memory`"),
    case("ntm.content_weights", lambda: ntm.content_weights(MEM, ones(1, 3), jnp.array([-1.0])), "beta", ">= 0"),
    case("ntm.content_weights", lambda: ntm.content_weights(MEM, ones(1, 3), jnp.array(5.0)), "beta", "[batch]"),
    case("ntm.content_weights", lambda: ntm.content_weights(MEM, ones(1, 3), jnp.array([NAN])), "beta", "finite"),
    case("ntm.interpolate", lambda: ntm.interpolate(W4, W4, jnp.array([1.5])), "`g`", "[0, 1]"),
    case("ntm.interpolate", lambda: ntm.interpolate(W4, W4[:, :3], jnp.array([0.5])), "w_prev", "slots 4"),
    case("ntm.interpolate", lambda: ntm.interpolate(-W4, W4, jnp.array([0.5])), "w_content", "non-negative"),
    case("ntm.shift", lambda: ntm.shift(W4, jnp.ones((1, 2)) / 2), "`s`", "slots 3"),
    case("ntm.shift", lambda: ntm.shift(W4, jnp.ones((1, 3)) / 3, shifts=(-0.5, 0, 0.5)), "shifts"),
    case("ntm.sharpen", lambda: ntm.sharpen(W4, jnp.array([0.5])), "gamma", ">= 1"),
    case("ntm.sharpen", lambda: ntm.sharpen(W4[0], jnp.array([2.0])), "`w`"),
    case(
        "ntm.address",
        lambda: ntm.address(MEM, W4, ones(1, 3), jnp.array([1.0]), jnp.array([2.0]), ones(1, 3) / 3, jnp.array([1.0])),
        "`g`",
    ),
    case(
        "ntm.address",
        lambda: ntm.address(
            ones(4, 3), W4, ones(1, 3), jnp.array([1.0]), jnp.array([0.5]), ones(1, 3) / 3, jnp.array([1.0])
        ),
        "memory",
    ),
    case("ntm.read", lambda: ntm.read(MEM, W4[:, :3]), "`w`", "slots 4"),
    case("ntm.read", lambda: ntm.read(MEM, W4 * NAN), "`w`", "finite"),
    case("ntm.write", lambda: ntm.write(MEM, W4, ones(1, 3) * 2, ones(1, 3)), "erase", "[0, 1]"),
    case("ntm.write", lambda: ntm.write(MEM, W4, ones(1, 3), ones(1, 2)), "`add`", "width 3"),
    case("ntm.head_sizes", lambda: ntm.head_sizes(0), "width"),
    case("ntm.init_ntm", lambda: ntm.init_ntm(KEY, 3, 2, controller=0), "controller"),
    case("ntm.init_ntm", lambda: ntm.init_ntm(3, 3, 2), "`key`", exc=TypeError),
    case("ntm.initial_state", lambda: ntm.initial_state(lstm_params(), 2, 4), "`params`"),
    case("ntm.initial_state", lambda: ntm.initial_state(ntm_params(), 2, 0), "slots"),
    case("ntm.ntm_cell", lambda: ntm.ntm_cell(ntm_params(), ntm.initial_state(ntm_params(), 2, 4), ones(2, 2)), "`x`"),
    case("ntm.ntm_cell", lambda: ntm.ntm_cell(ntm_params(), {"memory": MEM}, ones(1, 3)), "`state`"),
    case("ntm.ntm_scan", lambda: ntm.ntm_scan(ntm_params(), ones(2, 5, 2), slots=4), "input_size"),
    case("ntm.ntm_scan", lambda: ntm.ntm_scan(ntm_params(), XS, slots=0), "slots"),
    case("ntm.ntm_scan", lambda: ntm.ntm_scan(ntm_params(), XS * NAN, slots=4), "NaN"),
    case("ntm.bit_loss", lambda: ntm.bit_loss(ones(2, 5, 3), ones(2, 5, 3) * 2, ones(2, 5)), "`y`", "[0, 1]"),
    case("ntm.bit_loss", lambda: ntm.bit_loss(ones(2, 5, 3), ones(2, 5, 3), ones(2, 4)), "`mask`"),
    case("ntm.bit_loss", lambda: ntm.bit_loss(ones(2, 5, 3) * NAN, ones(2, 5, 3), ones(2, 5)), "logits", "finite"),
    case("ntm.bit_errors", lambda: ntm.bit_errors(ones(2, 5, 3), ones(2, 5, 2), ones(2, 5)), "`y`", "bits 3"),
    # layers ---------------------------------------------------------------------------------
    case("layers.get_cell", lambda: layers.get_cell("lsmt"), "cell must be one of"),
    case("layers.reverse_padded", lambda: layers.reverse_padded(XS, jnp.array([6, 2])), "lengths", "[1, time=5]"),
    case("layers.reverse_padded", lambda: layers.reverse_padded(XS, jnp.array([0, 2])), "lengths"),
    case("layers.reverse_padded", lambda: layers.reverse_padded(ones(5), None), "`xs`"),
    case(
        "layers.Recurrent",
        lambda: layers.Recurrent("gru", 3, 4, initial_state="random", rngs=nnx.Rngs(0)),
        "initial_state",
    ),
    case("layers.Recurrent", lambda: layers.Recurrent("gru", 3, 4, num_layers=0, rngs=nnx.Rngs(0)), "num_layers"),
    case(
        "layers.Recurrent",
        lambda: layers.Recurrent("lstm", 3, 4, fused="yes", rngs=nnx.Rngs(0)),
        "fused",
        exc=TypeError,
    ),
    case("lstm.lstm_scan_fused", lambda: lstm.lstm_scan_fused(lstm_params(), XS, lengths=jnp.array([6, 1])), "lengths"),
    case("layers.Recurrent.__call__", lambda: recurrent()(XS, lengths=jnp.array([6, 1])), "lengths"),
    case("layers.Recurrent.__call__", lambda: recurrent()(ones(2, 5, 4)), "input_size=3"),
    case("layers.Recurrent.__call__", lambda: recurrent()(XS, carry=[ones(2, 4), ones(2, 4)]), "carry must hold 1"),
    case("layers.Recurrent.__call__", lambda: recurrent()(XS, carry=[ones(3, 4)]), "carry[0]"),
    case("layers.Recurrent.step", lambda: recurrent().step([ones(2, 4)], ones(2, 4)), "input_size=3"),
    case("layers.Recurrent.step", lambda: recurrent().step([ones(2, 4)] * 2, ones(2, 3)), "carry must hold 1"),
    case("layers.Recurrent.step", lambda: recurrent().step([ones(3, 4)], ones(2, 3)), "carry[0]"),
    case("layers.Recurrent.step", lambda: recurrent(True).step([ones(2, 4)] * 2, ones(2, 3)), "bidirectional"),
    case("layers.Recurrent.initial_carry", lambda: recurrent().initial_carry(0), "batch"),
    case("layers.Recurrent.cell_params", lambda: recurrent().cell_params(1), "`k`", "[0, 0]"),
    case("layers.Recurrent", lambda: layers.Recurrent("gru", 3, 0, rngs=nnx.Rngs(0)), "hidden_size"),
    # models ---------------------------------------------------------------------------------
    case(
        "models.Regressor", lambda: models.Regressor("rnn", 3, 4, bidirectional=True, rngs=nnx.Rngs(0)), "bidirectional"
    ),
    case(
        "models.Regressor.__call__",
        lambda: models.Regressor("rnn", 3, 4, rngs=nnx.Rngs(0))(ones(2, 5, 2)),
        "input_size",
    ),
    case("models.Tagger", lambda: models.Tagger("rnn", 3, 4, 0, rngs=nnx.Rngs(0)), "output_size"),
    case("models.Tagger.__call__", lambda: models.Tagger("rnn", 3, 4, 2, rngs=nnx.Rngs(0))(XS, LENGTHS + 1), "lengths"),
    case("models.CharLM", lambda: models.CharLM("rnn", 0, rngs=nnx.Rngs(0)), "vocab_size"),
    case("models.CharLM.__call__", lambda: char_lm()(jnp.array([[1, 5]])), "tokens", "outside the vocabulary"),
    case("models.CharLM.__call__", lambda: char_lm()(jnp.array([[1, -1]])), "tokens", "outside the vocabulary"),
    case("models.CharLM.__call__", lambda: char_lm()(jnp.array([[1.0, 2.0]])), "tokens", "integer"),
    # losses ---------------------------------------------------------------------------------
    case("losses.mse", lambda: losses.mse(lambda x: x.sum(-1), (ones(2, 3), ones(2, 1))), "targets", "shape"),
    case("losses.mse", lambda: losses.mse(lambda x: x.sum(-1), (ones(2, 3), ones(2) * NAN)), "targets", "finite"),
    case("losses.mse", lambda: losses.mse(lambda x: x, ones(2, 3)), "`batch`", exc=TypeError),
    case(
        "losses.cross_entropy",
        lambda: losses.cross_entropy(lambda x: x, (ones(2, 3), jnp.array([0, 3]))),
        "labels",
        "outside the classes [0, 3)",
    ),
    case(
        "losses.cross_entropy",
        lambda: losses.cross_entropy(lambda x: x, (ones(2, 3), jnp.array([0.0, 1.0]))),
        "integer",
    ),
    case(
        "losses.cross_entropy", lambda: losses.cross_entropy(lambda x: x, (ones(2, 3), jnp.array([[0], [1]]))), "labels"
    ),
    # train ----------------------------------------------------------------------------------
    case("train.auroc", lambda: train.auroc(np.zeros(3), np.array([True, False])), "scores", "labels", "[n]"),
    case("train.auroc", lambda: train.auroc(np.zeros(3), np.array([1, 0, 1])), "labels", "booleans"),
    case("train.auroc", lambda: train.auroc(np.zeros(2), np.array([True, True])), "labels", "one negative"),
    case("train.auroc", lambda: train.auroc(np.array([0.0, NAN]), np.array([True, False])), "scores", "finite"),
    case("train.auroc", lambda: train.auroc(np.array(["a", "b"]), np.array([True, False])), "scores", "real"),
    case("train.accuracy", lambda: train.accuracy(jnp.eye(3), jnp.array([[0], [1], [2]])), "labels", "[3]"),
    case("train.accuracy", lambda: train.accuracy(jnp.eye(3), jnp.array([0, 1, 3])), "labels", "outside the classes"),
    case("train.accuracy", lambda: train.accuracy(jnp.eye(3), jnp.array([0.0, 1.0, 2.0])), "labels", "integers"),
    case("train.accuracy", lambda: train.accuracy(jnp.eye(3) * NAN, jnp.array([0, 1, 2])), "logits", "finite"),
    case("train.fit", lambda: fit((ones(4, 3, 1), ones(4)), epochs=0), "epochs"),
    case("train.fit", lambda: fit((ones(4, 3, 1), ones(4)), key=0), "`key`", exc=TypeError),
    case("train.fit", lambda: fit((ones(4, 3, 1), ones(4)), learning_rate=-1.0), "learning_rate"),
    case(
        "train.fit",
        lambda: fit((ones(4, 3, 1), ones(4)), val_batch=(ones(4, 3, 1), ones(4) * NAN)),
        "val_batch",
        "finite",
    ),
    case("train.fit", lambda: fit((ones(4, 3, 1).at[:, 0, 0].set(NAN), ones(4))), "data is at fault", "NaN"),
    case(
        "train.fit",
        lambda: fit(
            (jnp.array([[1, 2]]), jnp.array([[2, 7]])),
            loss=losses.cross_entropy,
            model=char_lm(),
        ),
        "data is at fault",
        "outside the classes",
    ),
    case(
        "train.fit",
        lambda: fit(
            (jnp.ones(4), 2 * jnp.ones(4)), loss=linear_loss, model={"w": jnp.ones(())}, optimizer=optax.sgd(1e30)
        ),
        "diverged",
        "learning rate",
        exc=FloatingPointError,
    ),
    case(
        "train.fit",
        lambda: fit(
            (jnp.ones(4), jnp.ones(4)), loss=lambda p, b: linear_loss(p, b) * jnp.nan, model={"w": jnp.ones(())}
        ),
        "loss or the data is at fault",
        "not the learning rate",
        exc=FloatingPointError,
    ),
    case("train.fit_seeds", lambda: fit_seeds(KEY), "`keys`", "[n]"),
    case("train.fit_seeds", lambda: fit_seeds(jax.random.split(KEY, 2), make=widening()), "one architecture"),
    case("train.fit_seeds", lambda: fit_seeds(jax.random.split(KEY, 2), evaluate=3), "`evaluate`", exc=TypeError),
    case("train.fit_seeds", lambda: fit_seeds(jax.random.split(KEY, 2), make=3), "`make`", exc=TypeError),
    case("train.fit_seeds", lambda: fit_seeds(0), "`keys`", exc=TypeError),
    case("train.fit_seeds", lambda: fit_seeds(jax.random.split(KEY, 2), target_score=0.1), "target_score", "evaluate"),
    case("train.fit", lambda: fit((ones(4, 3, 1), ones(4)), target_score=0.1), "target_score", "evaluate"),
    case("train.minibatches", lambda: train.minibatches((ones(4, 2), ones(4)), 0), "batch_size"),
    case("train.minibatches", lambda: train.minibatches((ones(4, 2), ones(3)), 2), "same leading size"),
    case("train.minibatches", lambda: train.minibatches((ones(4, 2), 1.0), 2), "`data`", "leading example axis"),
    case("train.progress", lambda: train.progress(range(3), total=0), "total"),
    case("train.progress", lambda: train.progress(3), "`iterable`", exc=TypeError),
    case("train.shard_batch", lambda: train.shard_batch(ones(4), "data"), "`mesh`", exc=TypeError),
    case("train.replicate", lambda: train.replicate(ones(4), None), "`mesh`", exc=TypeError),
    # transformer ----------------------------------------------------------------------------
    case(
        "transformer.scaled_dot_product_attention",
        lambda: transformer.scaled_dot_product_attention(
            ones(2, 2, 1, 4), ones(2, 5, 1, 4), ones(2, 5, 1, 4), ones(2, 5, dtype=bool)
        ),
        "`mask`",
        "[batch, heads, q_len, k_len]",
        "got [2, 5]",
    ),
    case(
        "transformer.scaled_dot_product_attention",
        lambda: transformer.scaled_dot_product_attention(
            ones(2, 2, 1, 4), ones(2, 5, 1, 4), ones(2, 5, 1, 4), ones(2, 1, 1, 5)
        ),
        "`mask`",
        "booleans",
    ),
    case(
        "transformer.scaled_dot_product_attention",
        lambda: transformer.scaled_dot_product_attention(
            ones(2, 2, 1, 4), ones(2, 5, 1, 4), ones(2, 5, 1, 4), jnp.zeros((2, 1, 1, 5), bool)
        ),
        "`mask`",
        "no key",
    ),
    case(
        "transformer.scaled_dot_product_attention",
        lambda: transformer.scaled_dot_product_attention(ones(2, 2, 1, 4), ones(2, 5, 1, 3), ones(2, 5, 1, 4)),
        "`k`",
        "d_head 4",
    ),
    case("transformer.causal_mask", lambda: transformer.causal_mask(0), "length"),
    case("transformer.padding_mask", lambda: transformer.padding_mask(jnp.array([0, 2]), 5), "lengths"),
    case("transformer.padding_mask", lambda: transformer.padding_mask(jnp.array([6, 2]), 5), "lengths", "time=5"),
    case("transformer.padding_mask", lambda: transformer.padding_mask(jnp.array([1.0, 2.0]), 5), "lengths", "integers"),
    case("transformer.sinusoidal_positions", lambda: transformer.sinusoidal_positions(0, 4), "length"),
    case("transformer.KVCache.empty", lambda: transformer.KVCache.empty(0, 4, 2, 4), "batch"),
    case(
        "transformer.KVCache.append",
        lambda: (
            transformer.KVCache.empty(1, 2, 1, 4)
            ._replace(length=jnp.array([2], jnp.int32))
            .append(ones(1, 1, 1, 4), ones(1, 1, 1, 4))
        ),
        "max_len",
    ),
    case(
        "transformer.KVCache.append",
        lambda: transformer.KVCache.empty(1, 2, 1, 4).append(ones(1, 1, 2, 4), ones(1, 1, 2, 4)),
        "`k`",
    ),
    case("transformer.KVCache.empty", lambda: transformer.KVCache.empty(1, 2, 0, 4), "heads"),
    case("transformer.MultiHeadAttention", lambda: transformer.MultiHeadAttention(8, 3, rngs=nnx.Rngs(0)), "divisible"),
    case("transformer.MultiHeadAttention.__call__", lambda: mha()(ones(2, 3, 6), ones(2, 3, 8)), "x_q", "d_model 8"),
    case(
        "transformer.MultiHeadAttention.__call__",
        lambda: mha()(ones(2, 2, 8), ones(2, 5, 8), ones(2, 5, dtype=bool)),
        "`mask`",
    ),
    case("transformer.MultiHeadAttention.__call__", lambda: mha()(ones(2, 2, 8), ones(3, 5, 8)), "x_kv", "batch 2"),
    case("transformer.MultiHeadAttention.split", lambda: mha().split(ones(2, 3, 6)), "`x`", "d_model 8"),
    case(
        "transformer.MultiHeadAttention.keys_values",
        lambda: mha().keys_values(ones(2, 3, 8), jnp.array([4, 1])),
        "length",
    ),
    case("transformer.FeedForward", lambda: transformer.FeedForward(8, 0, rngs=nnx.Rngs(0)), "d_ff"),
    case(
        "transformer.FeedForward.__call__",
        lambda: transformer.FeedForward(8, 4, rngs=nnx.Rngs(0))(ones(2, 3, 4)),
        "`x`",
    ),
    case("transformer.EncoderLayer", lambda: transformer.EncoderLayer(8, 0, 8, rngs=nnx.Rngs(0)), "heads"),
    case(
        "transformer.EncoderLayer.__call__",
        lambda: transformer.EncoderLayer(8, 2, 8, rngs=nnx.Rngs(0))(ones(2, 3, 8), ones(2, 3, dtype=bool)),
        "`mask`",
    ),
    case(
        "transformer.EncoderLayer.__call__",
        lambda: transformer.EncoderLayer(8, 2, 8, rngs=nnx.Rngs(0))(ones(2, 3, 4)),
        "`x`",
    ),
    case(
        "transformer.DecoderLayer.__call__",
        lambda: transformer.DecoderLayer(8, 2, 8, rngs=nnx.Rngs(0))(ones(2, 3, 8), ones(3, 4, 8), None, None),
        "memory",
        "batch 2",
    ),
    case("transformer.DecoderLayer", lambda: transformer.DecoderLayer(8, 3, 8, rngs=nnx.Rngs(0)), "divisible"),
    case(
        "transformer.Transformer",
        lambda: transformer.Transformer(6, 7, positions="rotary", rngs=nnx.Rngs(0)),
        "positions",
    ),
    case(
        "transformer.Transformer.__call__",
        lambda: tiny_transformer()(jnp.array([[4, 5]]), jnp.array([2]), jnp.array([[1, 7]])),
        "tgt_in",
        "outside the vocabulary",
    ),
    case(
        "transformer.Transformer.__call__",
        lambda: tiny_transformer()(jnp.array([[4, 5]]), jnp.array([0]), jnp.array([[1, 3]])),
        "src_len",
    ),
    case(
        "transformer.Transformer.encode",
        lambda: tiny_transformer().encode(jnp.ones((1, 5), jnp.int32), jnp.array([5])),
        "max_len",
    ),
    case(
        "transformer.Transformer.encode_states",
        lambda: tiny_transformer().encode_states(jnp.array([[4, 6]]), jnp.array([2])),
        "src",
    ),
    case("transformer.Transformer.step_fn", lambda: transformer_step([3, 7]), "token", "outside the vocabulary"),
    case("transformer.Transformer.step_fn", lambda: transformer_step([3, -1]), "token", "outside the vocabulary"),
    case("transformer.Transformer.step_fn", lambda: transformer_step([3, 3], fill=4), "max_len"),
    case("transformer.Transformer.step_fn", lambda: transformer_step([3, 3, 3]), "token", "batch 2"),
    case("transformer.Transformer", lambda: transformer.Transformer(6, 0, rngs=nnx.Rngs(0)), "tgt_vocab"),
    # seq2seq --------------------------------------------------------------------------------
    case(
        "seq2seq.additive_scores",
        lambda: seq2seq.additive_scores(ones(2, 4), ones(2, 3, 5), ones(4, 6), ones(5)),
        "W_q",
    ),
    case(
        "seq2seq.multiplicative_scores",
        lambda: seq2seq.multiplicative_scores(ones(2, 4), ones(2, 3, 5)),
        "keys_proj",
        "hidden 4",
    ),
    case(
        "seq2seq.masked_softmax",
        lambda: seq2seq.masked_softmax(ones(2, 3), jnp.array([[True] * 3, [False] * 3])),
        "`mask`",
        "no True",
    ),
    case("seq2seq.masked_softmax", lambda: seq2seq.masked_softmax(ones(2, 3), ones(2, 3)), "`mask`", "booleans"),
    case("seq2seq.masked_softmax", lambda: seq2seq.masked_softmax(ones(2, 3), ones(3, dtype=bool)), "`mask`"),
    case("seq2seq.attend", lambda: seq2seq.attend(ones(2, 3), ones(2, 4, 5)), "values", "src_len 3"),
    case("seq2seq.Seq2Seq", lambda: seq2seq.Seq2Seq(6, 7, attention="dot", rngs=nnx.Rngs(0)), "attention"),
    case(
        "seq2seq.Seq2Seq.__call__",
        lambda: tiny_seq2seq()(jnp.array([[4, 5]]), jnp.array([2]), jnp.array([[1, 3]]), sample_prob=1.5, key=KEY),
        "sample_prob",
    ),
    case(
        "seq2seq.Seq2Seq.__call__",
        lambda: tiny_seq2seq()(jnp.array([[4, 5]]), jnp.array([3]), jnp.array([[1, 3]])),
        "src_len",
    ),
    case(
        "seq2seq.Seq2Seq.__call__",
        lambda: tiny_seq2seq()(jnp.array([[4, 5]]), jnp.array([2]), jnp.array([[1, 3], [1, 3]])),
        "batch sizes",
    ),
    case(
        "seq2seq.Seq2Seq.encode",
        lambda: tiny_seq2seq().encode(jnp.array([[4, 6]]), jnp.array([2])),
        "src",
        "outside the vocabulary",
    ),
    case("seq2seq.Seq2Seq.step_fn", lambda: seq2seq_step([3, 7]), "token", "outside the vocabulary"),
    case("seq2seq.Seq2Seq.step_fn", lambda: seq2seq_step([3.0, 1.0]), "token", "integers"),
    case("seq2seq.Seq2Seq.step_fn", lambda: seq2seq_step([[3, 1]]), "token"),
    case(
        "seq2seq.Seq2Seq",
        lambda: seq2seq.Seq2Seq(6, 7, encoder="mean", bidirectional=True, rngs=nnx.Rngs(0)),
        "bidirectional",
    ),
    case(
        "seq2seq.make_batch",
        lambda: seq2seq.make_batch([np.array([4.0, 5.0])], [np.array([3])]),
        "src_ids[0]",
        "integer",
    ),
    case("seq2seq.make_batch", lambda: seq2seq.make_batch([np.array([4])], [np.array([3])] * 2), "mismatched sizes"),
    case("seq2seq.make_batch", lambda: seq2seq.make_batch([np.array([4])], [np.array([-3])]), "tgt_ids[0]", "negative"),
    case(
        "seq2seq.loss_fn",
        lambda: seq2seq.loss_fn(tiny_seq2seq(), with_(s2s_batch(), tgt_out=[[3, 7, 2], [3, 4, 2]])),
        "tgt_out",
        "outside the vocabulary",
    ),
    case("seq2seq.loss_fn", lambda: seq2seq.loss_fn(tiny_seq2seq(), with_(s2s_batch(), tgt_len=[0, 3])), "tgt_len"),
    case("seq2seq.loss_fn", lambda: seq2seq.loss_fn(tiny_seq2seq(), with_(s2s_batch(), tgt_len=[4, 3])), "tgt_len"),
    case(
        "seq2seq.loss_fn",
        lambda: seq2seq.loss_fn(tiny_seq2seq(), with_(s2s_batch(), tgt_out=[[3, 4], [3, 4]])),
        "tgt_out",
        "shape",
    ),
    case("seq2seq.loss_fn", lambda: seq2seq.loss_fn(tiny_seq2seq(), {"src": s2s_batch()["src"]}), "`batch`", "missing"),
    case(
        "seq2seq.greedy_decode",
        lambda: seq2seq.greedy_decode(tiny_transformer(), jnp.array([[4, 5]]), jnp.array([2]), 5),
        "max_len",
    ),
    case(
        "seq2seq.greedy_decode",
        lambda: seq2seq.greedy_decode(tiny_seq2seq(), jnp.array([[4, 5]]), jnp.array([0]), 3),
        "src_len",
    ),
    case(
        "seq2seq.greedy_decode",
        lambda: seq2seq.greedy_decode(object(), jnp.array([[4, 5]]), jnp.array([2]), 3),
        "EncoderDecoder",
    ),
    case(
        "seq2seq.beam_search",
        lambda: seq2seq.beam_search(tiny_seq2seq(), jnp.array([[4, 5]]), jnp.array([2]), 3, width=0),
        "width",
    ),
    case(
        "seq2seq.beam_search",
        lambda: seq2seq.beam_search(tiny_seq2seq(), jnp.array([[4, 5]]), jnp.array([2]), 3, alpha=-1.0),
        "alpha",
    ),
    case(
        "seq2seq.sequence_log_prob",
        lambda: seq2seq.sequence_log_prob(tiny_seq2seq(), jnp.array([[4, 5]]), jnp.array([2]), jnp.array([[3, 7]])),
        "tokens",
        "outside the vocabulary",
    ),
    case(
        "seq2seq.sequence_log_prob",
        lambda: seq2seq.sequence_log_prob(
            tiny_transformer(), jnp.array([[4, 5]]), jnp.array([2]), jnp.array([[3, -1]])
        ),
        "tokens",
        "outside the vocabulary",
    ),
    case(
        "seq2seq.sequence_log_prob",
        lambda: seq2seq.sequence_log_prob(
            tiny_seq2seq(), jnp.array([[4, 5]]), jnp.array([2]), jnp.array([[3, 2], [3, 2]])
        ),
        "`src`",
        "same batch size",
    ),
    case(
        "seq2seq.exact_match",
        lambda: seq2seq.exact_match(np.zeros((2, 3), int), np.zeros((3, 3), int)),
        "tgt_out",
        "batch 2",
    ),
    case(
        "seq2seq.exact_match", lambda: seq2seq.exact_match(np.zeros((2, 3)), np.zeros((2, 3), int)), "pred", "integers"
    ),
    case(
        "seq2seq.exact_match",
        lambda: seq2seq.exact_match(np.zeros(3, int), np.zeros(3, int)),
        "pred",
        "[batch, length]",
    ),
    case("seq2seq.flag_unfamiliar", lambda: seq2seq.flag_unfamiliar(np.zeros((2, 2)), np.zeros(5)), "log_p", "[batch]"),
    case("seq2seq.flag_unfamiliar", lambda: seq2seq.flag_unfamiliar(np.zeros(2), np.zeros(0)), "reference"),
    case(
        "seq2seq.flag_unfamiliar",
        lambda: seq2seq.flag_unfamiliar(np.zeros(2), np.array([0.0, NAN])),
        "reference",
        "finite",
    ),
    case("seq2seq.flag_unfamiliar", lambda: seq2seq.flag_unfamiliar(np.array([NAN]), np.zeros(3)), "log_p", "finite"),
    case(
        "seq2seq.flag_unfamiliar",
        lambda: seq2seq.flag_unfamiliar(np.zeros(2), np.zeros(3), false_alarm=1.0),
        "false_alarm",
    ),
    case("seq2seq.flag_unfamiliar", lambda: seq2seq.flag_unfamiliar(np.zeros(2, int), np.zeros(3)), "log_p", "float"),
    # nnlm -----------------------------------------------------------------------------------
    case("nnlm.init_nnlm", lambda: nnlm.init_nnlm(KEY, 5, 0), "context"),
    case(
        "nnlm.nnlm_logits",
        lambda: nnlm.nnlm_logits(nnlm.init_nnlm(KEY, 5, 2, 4, 4), jnp.array([[1, 5]])),
        "histories",
        "outside",
    ),
    case(
        "nnlm.nnlm_logits",
        lambda: nnlm.nnlm_logits(nnlm.init_nnlm(KEY, 5, 2, 4, 4), jnp.array([[1, -1]])),
        "histories",
        "outside",
    ),
    case(
        "nnlm.nnlm_logits",
        lambda: nnlm.nnlm_logits(nnlm.init_nnlm(KEY, 5, 2, 4, 4), jnp.array([[1.0, 2.0]])),
        "histories",
        "integers",
    ),
    case(
        "nnlm.nnlm_logits",
        lambda: nnlm.nnlm_logits(nnlm.init_nnlm(KEY, 5, 2, 4, 4), jnp.array([[1, 2, 3]])),
        "histories",
        "context 2",
    ),
    case(
        "nnlm.nnlm_loss",
        lambda: nnlm.nnlm_loss(nnlm.init_nnlm(KEY, 5, 2, 4, 4), (jnp.array([[1, 2]]), jnp.array([5]))),
        "targets",
        "outside",
    ),
    case("nnlm.windows", lambda: nnlm.windows(jnp.ones((2, 4), jnp.int32), 2), "1-D"),
    case("nnlm.windows", lambda: nnlm.windows(jnp.array([1, -2, 3, 4]), 2), "`ids`", "outside"),
    case(
        "nnlm.perplexity",
        lambda: nnlm.perplexity(nnlm.init_nnlm(KEY, 5, 2, 4, 4), jnp.array([1, 2, 3, 9]), 2),
        "`ids`",
        "outside",
    ),
    case(
        "nnlm.log_probs",
        lambda: nnlm.log_probs(nnlm.init_nnlm(KEY, 5, 2, 4, 4), jnp.array([1, 2, 3, 9]), 2),
        "`ids`",
        "outside",
    ),
    case(
        "nnlm.log_probs", lambda: nnlm.log_probs(nnlm.init_nnlm(KEY, 5, 2, 4, 4), jnp.array([1, 2]), 2), "longer than"
    ),
    case(
        "nnlm.log_probs", lambda: nnlm.log_probs(nnlm.init_nnlm(KEY, 5, 2, 4, 4), jnp.array([1, 2, 3]), 2, 0), "chunk"
    ),
    # ngram ----------------------------------------------------------------------------------
    case("ngram.NGramLM", lambda: ngram.NGramLM([0, 1, 5], 2, 3), "token ids must lie"),
    case("ngram.NGramLM", lambda: ngram.NGramLM([0.0, 1.5, 2.0], 2, 3), "`ids`", "integer"),
    case("ngram.NGramLM", lambda: ngram.NGramLM([0, 1, 2], 2, 3, d="0.5"), "`d`", exc=TypeError),
    case("ngram.NGramLM.prob", lambda: ngram_lm().prob([1], 3), "`word`", "outside"),
    case("ngram.NGramLM.prob", lambda: ngram_lm().prob([1], -1), "`word`", "outside"),
    case("ngram.NGramLM.prob", lambda: ngram_lm().prob([7], 1), "`history`", "outside"),
    case("ngram.NGramLM.prob", lambda: ngram_lm().prob([1.5], 1), "`history`", "integer"),
    case("ngram.NGramLM.prob", lambda: ngram_lm().prob([], 1), "`history`", "at least"),
    case("ngram.NGramLM.distribution", lambda: ngram_lm().distribution([3]), "`history`", "outside"),
    case("ngram.NGramLM.perplexity", lambda: ngram_lm().perplexity([0, 1, 3]), "`ids`", "outside"),
    case("ngram.NGramLM.perplexity", lambda: ngram_lm().perplexity([0.0, 1.0, 2.0]), "`ids`", "integer"),
    case("ngram.NGramLM.perplexity", lambda: ngram_lm().perplexity([0, 1, 2], order=3), "`order`", "at most"),
    case("ngram.NGramLM.perplexity", lambda: ngram_lm().perplexity([0, 1, 2], order=0), "order"),
    case(
        "ngram.NGramLM.perplexity",
        lambda: ngram.NGramLM([0, 1, 2, 1], 2, 3, smoothing="add-k").perplexity([0, 1, 2], order=1),
        "`order`",
        "Kneser-Ney",
    ),
    # vocab ----------------------------------------------------------------------------------
    case("vocab.Vocab", lambda: vocab.Vocab(["hello", "world"]), "sequences[0]", "not the string", exc=TypeError),
    case("vocab.Vocab", lambda: vocab.Vocab([["a"]], min_count=0), "min_count"),
    case("vocab.Vocab.encode", lambda: vocab.Vocab([["a", "b"]]).encode("ab"), "not a string"),
    case("vocab.Vocab.encode", lambda: vocab.Vocab([["a", "b"]]).encode([1, 2]), "string tokens", exc=TypeError),
    case("vocab.Vocab.decode", lambda: vocab.Vocab([["a", "b"]]).decode(np.array([1, 9])), "outside the vocabulary"),
    case("vocab.Vocab.decode", lambda: vocab.Vocab([["a", "b"]]).decode(np.array([1.0])), "integers"),
    case("vocab.Vocab.unk_share", lambda: vocab.Vocab([["a", "b"]]).unk_share("ab"), "sequences", exc=TypeError),
    case("vocab.pad_batch", lambda: vocab.pad_batch([np.array([1.5, 2.0])]), "seqs[0]", "integer"),
    case("vocab.pad_batch", lambda: vocab.pad_batch([np.array([1, 2])], length=0), "length"),
    case("vocab.pad_batch", lambda: vocab.pad_batch([np.array([1, 2, 3])], length=2), "more than length"),
    # subword --------------------------------------------------------------------------------
    case("subword.learn_bpe", lambda: subword.learn_bpe({"low": 2}, 0), "merges"),
    case("subword.learn_bpe", lambda: subword.learn_bpe({"low": -1}, 2), "word_counts", "positive integer"),
    case("subword.learn_bpe", lambda: subword.learn_bpe(["low", "lower"], 2), "word_counts", exc=TypeError),
    case("subword.segment", lambda: subword.segment(["low"], []), "`word`", exc=TypeError),
    case("subword.segment", lambda: subword.segment("low", ["lo"]), "merges"),
    case("subword.segment_all", lambda: subword.segment_all("low", []), "`words`", exc=TypeError),
    case("subword.segment_all", lambda: subword.segment_all(["low", ""], []), "words[1]", "empty"),
    case("subword.segment_all", lambda: subword.segment_all(["low", 3], []), "words[1]", exc=TypeError),
    case("subword.segment_all", lambda: subword.segment_all(["low"], [("l", "o", "w")]), "merges"),
    # explore --------------------------------------------------------------------------------
    case("explore.rounded", lambda: explore.rounded([1.0], digits=0), "digits"),
    case("explore.colorscale", lambda: explore.colorscale("no-such-map"), "`name`", "colormap"),
    case("explore.colorscale", lambda: explore.colorscale("Purples", steps=1), "`steps`"),
    case("explore.explorable", lambda: explore.explorable("ok", [], [], {}, _figure(), "x"), "`traces`", exc=TypeError),
    case(
        "explore.explorable", lambda: explore.explorable("ok", lambda: [], [], {}, None, "x"), "`static`", exc=TypeError
    ),
    case("explore.explorable", lambda: explore.explorable("Bad Name", lambda: [{}], [], {}, _figure(), "x"), "name"),
    case(
        "explore.explorable",
        lambda: explore.explorable("ok", lambda i: [{}], [("a", [])], {}, _figure(), "x"),
        "slider",
    ),
    case(
        "explore.explorable",
        lambda: explore.explorable("ok", lambda: None, [], {}, _figure(), "x"),
        "`traces`",
        exc=TypeError,
    ),
    case("explore.Explorable", lambda: explore.Explorable("a b", {}, {}, [], [], b"", "x"), "name"),
    # hlo ------------------------------------------------------------------------------------
    case("hlo.collectives", lambda: hlo.collectives(3), "hlo", "text", exc=TypeError),
    case("hlo.collectives", lambda: hlo.collectives(""), "hlo", "empty"),
    case("hlo.hlo_computations", lambda: hlo.hlo_computations(None), "hlo", exc=TypeError),
    case("hlo.loop_collectives", lambda: hlo.loop_collectives("  \n"), "hlo", "empty"),
    case("hlo.per_device_flops", lambda: hlo.per_device_flops("HloModule m"), "compiled", exc=TypeError),
    # timing ---------------------------------------------------------------------------------
    case("timing.best_time", lambda: timing.best_time(lambda: 1, repeats=0), "repeats"),
    case("timing.best_time", lambda: timing.best_time(3), "callable"),
    # data -----------------------------------------------------------------------------------
    case("data.windows", lambda: data.windows(np.ones((3, 4)), 2), "series must be 1-D"),
    case("data.windows", lambda: data.windows(np.array([1.0, NAN, 2.0, 3.0]), 2), "series", "finite"),
    case("data.windows", lambda: data.windows(np.ones(5), 0), "p must be a positive integer"),
    case("data.CharVocab", lambda: data.CharVocab(["a", "b"]), "`text`", exc=TypeError),
    case("data.CharVocab.encode", lambda: data.CharVocab("ab").encode("abc"), "outside the vocabulary"),
    case("data.CharVocab.decode", lambda: data.CharVocab("ab").decode(np.array([0.0, 1.0])), "`ids`", "integer"),
    case("data.CharVocab.decode", lambda: data.CharVocab("ab").decode(np.array([0, 2])), "outside the vocabulary"),
    case("data.text_windows", lambda: data.text_windows(jnp.arange(10), 0), "length"),
    case("data.text_windows", lambda: data.text_windows(jnp.array([1, 2, -1, 3, 4]), 2), "`ids`", "outside"),
    case("data.text_windows", lambda: data.text_windows(jnp.arange(10), 3)(KEY, 0), "batch"),
    case("data.flipflop", lambda: data.flipflop(KEY, 2, 5, p_command=1.5), "p_command", "[0, 1]"),
    case("data.flipflop", lambda: data.flipflop(KEY, 2, 0), "time"),
    case("data.adding_problem", lambda: data.adding_problem(KEY, 2, 1), "time must be an integer >= 2"),
    case("data.adding_problem", lambda: data.adding_problem(5, 2, 4), "`key`", exc=TypeError),
    case("data.delayed_echo", lambda: data.delayed_echo(KEY, 2, 5, 7), "delay", "[0, 4]"),
    case("data.delayed_echo", lambda: data.delayed_echo(KEY, 2, 5, -1), "delay"),
    case("data.delayed_echo", lambda: data.delayed_echo(KEY, 2, 5, 1.5), "delay", exc=TypeError),
    case("data.reviews", lambda: data.reviews(4, 0, length=5), "length"),
    case("data.reviews", lambda: data.reviews(0, 0), "n must be a positive integer"),
    case("data.two_tones", lambda: data.two_tones(KEY, 2, 5, p_switch=2.0), "p_switch"),
    case("data.two_tones", lambda: data.two_tones(KEY, 2, 5, noise=-1.0), "noise"),
    case("data.two_tones", lambda: data.two_tones(KEY, 2, 5, periods=(4.0, 0.0)), "periods"),
    case("data.tokenize_date", lambda: data.tokenize_date(20210304), "`text`", exc=TypeError),
    case("data.dates", lambda: data.dates(3, 0, locales=("xx_XX",)), "locales", "xx_XX"),
    case("data.dates", lambda: data.dates(3, 0, locales=("en_US",), formats=("yyyy",)), "formats", "yyyy"),
    case("data.dates", lambda: data.dates(3, 0, years=0), "years"),
    case("data.dates", lambda: data.dates(3, 0, locales="en_US"), "locales", exc=TypeError),
    case("data.date_vocabs", lambda: data.date_vocabs([["4", "March"]]), "examples", exc=TypeError),
    case(
        "data.date_batch",
        lambda: data.date_batch(data.dates(2, 0), *data.date_vocabs(data.dates(2, 0), 1), src_length=0),
        "src_length",
    ),
    case("data.date_batch", lambda: data.date_batch(data.dates(2, 0), None, None), "src_vocab", exc=TypeError),
    case("data.read_date", lambda: data.read_date(list("2021-03-04")), "`text`", exc=TypeError),
    case("data.read_dates", lambda: data.read_dates(np.zeros((2, 3), int), None), "tgt_vocab", exc=TypeError),
    case(
        "data.read_dates",
        lambda: data.read_dates(np.zeros(3, int), data.date_vocabs(data.dates(2, 0), 1)[1]),
        "tokens",
        "[batch, length]",
    ),
    case(
        "data.read_dates",
        lambda: data.read_dates(np.full((2, 3), 99), data.date_vocabs(data.dates(2, 0), 1)[1]),
        "tokens",
        "99",
        "outside the target vocabulary",
    ),
    case(
        "data.read_dates",
        lambda: data.read_dates(np.zeros((2, 3)), data.date_vocabs(data.dates(2, 0), 1)[1]),
        "tokens",
        "int",
    ),
    case("data.copy_task", lambda: data.copy_task(KEY, 2, 5, 3), "min_len"),
    case("data.copy_task", lambda: data.copy_task(KEY, 2, 1, 3, offset=-1), "offset"),
    case("data.bit_copy", lambda: data.bit_copy(KEY, 2, 1, 3, bits=0), "bits"),
    case("data.selective_copy", lambda: data.selective_copy(KEY, 2, 3, n_tokens=4), "time", ">= n_tokens=4"),
    case("data.selective_copy", lambda: data.selective_copy(KEY, 2, 8.0), "time", "integer"),
    case("data.selective_copy", lambda: data.selective_copy(KEY, 2, 8, n_colors=0), "n_colors"),
    case("data.selective_copy", lambda: data.selective_copy(0, 2, 8), "`key`", exc=TypeError),
    case("data.parity", lambda: data.parity(KEY, 2, 0), "time"),
    case("data.parity", lambda: data.parity(3, 2, 5), "`key`", exc=TypeError),
    case("data.mqar", lambda: data.mqar(KEY, 2, 4, 3, n_keys=3), "n_keys", ">= 4"),
    case("data.mqar", lambda: data.mqar(KEY, 2, 4, 0), "n_queries"),
    case("data.mqar", lambda: data.mqar(KEY, 2, 4, 3, n_values=0), "n_values"),
    case("data.mqar_paired", lambda: data.mqar_paired(KEY, 2, 4, 3, n_keys=3), "n_keys", ">= 4"),
    case("data.mqar_paired", lambda: data.mqar_paired(KEY, 2, 0, 3), "n_pairs"),
    # linear_rnn -----------------------------------------------------------------------------
    case(
        "linear_rnn.combine",
        lambda: linear_rnn.combine((ones(2, 3), ones(2, 1)), (ones(2, 3), ones(2, 3))),
        "`left`",
        "one shape",
    ),
    case("linear_rnn.combine", lambda: linear_rnn.combine((ones(2, 3),), (ones(2, 3), ones(2, 3))), "`left`", "pair"),
    case("linear_rnn.linear_scan", lambda: linear_rnn.linear_scan(XS, ones(2, 5, 4)), "`a`", "`b`", "same shape"),
    case("linear_rnn.linear_scan", lambda: linear_rnn.linear_scan(XS, XS, ones(3, 3)), "`h0`", "[2, 3]"),
    case("linear_rnn.linear_scan", lambda: linear_rnn.linear_scan(ones(2, 0, 3), ones(2, 0, 3)), "`b`", "empty"),
    case("linear_rnn.linear_scan", lambda: linear_rnn.linear_scan(ones(5), ones(5)), "`b`", "[batch, time"),
    case("linear_rnn.linear_scan", lambda: linear_rnn.linear_scan(XS, XS, method="fast"), "`method`", "'parallel'"),
    case("linear_rnn.log_linear_scan", lambda: linear_rnn.log_linear_scan(XS, ones(2, 5, 2)), "`log_a`", "`log_b`"),
    case("linear_rnn.log_linear_scan", lambda: linear_rnn.log_linear_scan(XS, XS, ones(2, 4)), "`log_h0`", "[2, 3]"),
    case(
        "linear_rnn.log_linear_scan",
        lambda: linear_rnn.log_linear_scan(XS.astype(jnp.complex64), XS),
        "`log_a`",
        "floating-point",
    ),
    case("linear_rnn.init_mingru", lambda: linear_rnn.init_mingru(0, 3, 4), "`key`", exc=TypeError),
    case("linear_rnn.init_mingru", lambda: linear_rnn.init_mingru(KEY, 0, 4), "input_size"),
    case("linear_rnn.init_minlstm", lambda: linear_rnn.init_minlstm(KEY, 3, 0), "hidden_size"),
    case(
        "linear_rnn.mingru_cell",
        lambda: linear_rnn.mingru_cell(mingru_params(), ones(2, 4), ones(2, 5)),
        "`x`",
        "input 3",
    ),
    case(
        "linear_rnn.mingru_cell",
        lambda: linear_rnn.mingru_cell(mingru_params(), ones(2, 5), ones(2, 3)),
        "`h`",
        "hidden 4",
    ),
    case(
        "linear_rnn.mingru_cell",
        lambda: linear_rnn.mingru_cell(slstm_params(), ones(2, 4), ones(2, 3)),
        "`params`",
        "init_mingru",
    ),
    case(
        "linear_rnn.minlstm_cell",
        lambda: linear_rnn.minlstm_cell(mingru_params(), ones(2, 4), ones(2, 3)),
        "`params`",
        "3*hidden",
    ),
    case("linear_rnn.mingru", lambda: linear_rnn.mingru(mingru_params(), ones(2, 5, 2)), "`xs`", "input 3"),
    case("linear_rnn.mingru", lambda: linear_rnn.mingru(mingru_params(), ones(2, 0, 3)), "`xs`", "empty"),
    case("linear_rnn.mingru", lambda: linear_rnn.mingru(mingru_params(), XS, ones(2, 5)), "`h0`", "hidden 4"),
    case("linear_rnn.mingru", lambda: linear_rnn.mingru(mingru_params(), XS, method="fast"), "`method`", "'log'"),
    case(
        "linear_rnn.mingru",
        lambda: linear_rnn.mingru(mingru_params(), XS, method="log", signed=True),
        "method='log'",
        "signed=True",
    ),
    case(
        "linear_rnn.mingru",
        lambda: linear_rnn.mingru(mingru_params(), XS, -ones(2, 4), method="log"),
        "`h0`",
        "positive",
    ),
    case("linear_rnn.mingru", lambda: linear_rnn.mingru(lru_params(), XS), "`params`", "init_mingru"),
    case(
        "linear_rnn.mingru",
        lambda: linear_rnn.mingru(mingru_params(), ones(2, 5, 3, dtype=jnp.int32)),
        "`xs`",
        "floating-point",
    ),
    case("linear_rnn.minlstm", lambda: linear_rnn.minlstm(mingru_params(), XS), "`params`", "3*hidden"),
    case("linear_rnn.minlstm", lambda: linear_rnn.minlstm(minlstm_params(), ones(2, 5, 4)), "`xs`", "input 3"),
    case(
        "linear_rnn.minlstm",
        lambda: linear_rnn.minlstm(minlstm_params(), XS, jnp.zeros((2, 4)), method="log"),
        "`h0`",
        "positive",
    ),
    case("linear_rnn.init_lru", lambda: linear_rnn.init_lru(KEY, 3, 4, r_min=0.9, r_max=0.5), "r_min", "r_max"),
    case("linear_rnn.init_lru", lambda: linear_rnn.init_lru(KEY, 3, 4, r_min=0.5, r_max=0.5), "r_min < r_max"),
    case("linear_rnn.init_lru", lambda: linear_rnn.init_lru(KEY, 3, 4, max_phase=0.0), "max_phase"),
    case("linear_rnn.init_lru", lambda: linear_rnn.init_lru(KEY, 3, 0), "state_size"),
    case("linear_rnn.init_lru", lambda: linear_rnn.init_lru("key", 3, 4), "`key`", exc=TypeError),
    case("linear_rnn.lru_eigenvalues", lambda: linear_rnn.lru_eigenvalues(s4d_params()), "`params`", "init_lru"),
    case("linear_rnn.lru", lambda: linear_rnn.lru(lru_params(), ones(2, 5, 4)), "`u`", "input 3"),
    case("linear_rnn.lru", lambda: linear_rnn.lru(s4d_params(), XS), "`params`", "init_lru"),
    case("linear_rnn.lru", lambda: linear_rnn.lru(lru_params(), XS, method="convolution"), "`method`"),
    case("linear_rnn.init_s4d", lambda: linear_rnn.init_s4d(KEY, 3, 4, dt_min=0.1, dt_max=0.01), "dt_min", "dt_max"),
    case("linear_rnn.init_s4d", lambda: linear_rnn.init_s4d(KEY, 0, 4), "channels"),
    case("linear_rnn.s4d_discretize", lambda: linear_rnn.s4d_discretize(lru_params()), "`params`", "init_s4d"),
    case("linear_rnn.s4d_kernel", lambda: linear_rnn.s4d_kernel(s4d_params(), 0), "length"),
    case("linear_rnn.s4d_kernel", lambda: linear_rnn.s4d_kernel(lru_params(), 5), "`params`", "init_s4d"),
    case("linear_rnn.s4d", lambda: linear_rnn.s4d(lru_params(), XS), "`params`", "init_s4d"),
    case("linear_rnn.s4d", lambda: linear_rnn.s4d(s4d_params(), ones(2, 5, 4)), "`u`", "channels 3"),
    case("linear_rnn.s4d", lambda: linear_rnn.s4d(s4d_params(), XS, method="fft"), "`method`", "'convolution'"),
    case("linear_rnn.selective_scan", lambda: selective_scan(delta=ones(2, 5, 2)), "`delta`", "channels 3"),
    case("linear_rnn.selective_scan", lambda: selective_scan(A=-ones(2, 4)), "`A`", "channels 3"),
    case("linear_rnn.selective_scan", lambda: selective_scan(B=ones(2, 5, 3)), "`B`", "state 4"),
    case("linear_rnn.selective_scan", lambda: selective_scan(D=ones(4)), "`D`", "channels 3"),
    case("linear_rnn.selective_scan", lambda: selective_scan(x=ones(2, 0, 3)), "`x`", "empty"),
    case("linear_rnn.selective_scan", lambda: selective_scan(x=XS.astype(jnp.int32)), "`x`", "floating-point"),
    case("linear_rnn.init_selective_ssm", lambda: linear_rnn.init_selective_ssm(KEY, 3, 4, dt_min=-1.0), "dt_min"),
    case("linear_rnn.init_selective_ssm", lambda: linear_rnn.init_selective_ssm(KEY, 3, 0), "state_size"),
    case("linear_rnn.selective_ssm", lambda: linear_rnn.selective_ssm(selective_params(), ones(2, 5, 4)), "`x`"),
    case(
        "linear_rnn.selective_ssm",
        lambda: linear_rnn.selective_ssm(s4d_params(), XS),
        "`params`",
        "init_selective_ssm",
    ),
    case(
        "linear_rnn.linear_attention",
        lambda: linear_rnn.linear_attention(XS, ones(2, 5, 4), ones(2, 5, 2)),
        "`k`",
        "d_k 3",
    ),
    case("linear_rnn.linear_attention", lambda: linear_rnn.linear_attention(XS, XS, ones(2, 4, 2)), "`v`", "time 5"),
    case(
        "linear_rnn.linear_attention",
        lambda: linear_rnn.linear_attention(XS, XS, XS, method="loop"),
        "`method`",
        "'recurrent'",
    ),
    case(
        "linear_rnn.linear_attention",
        lambda: linear_rnn.linear_attention(XS, XS, XS, feature_map=lambda x: x.sum(-1)),
        "feature_map(q)",
        "[batch, time, features]",
    ),
    case(
        "linear_rnn.linear_attention",
        lambda: linear_rnn.linear_attention(XS, XS, XS, feature_map="elu"),
        "`feature_map`",
        exc=TypeError,
    ),
    case(
        "linear_rnn.mlstm",
        lambda: linear_rnn.mlstm(XS, XS, XS, ones(2, 4), ones(2, 5)),
        "`i_pre`",
        "[batch, time]",
        "time 5",
    ),
    case("linear_rnn.mlstm", lambda: linear_rnn.mlstm(XS, XS, XS, ones(2, 5), ones(2, 5, 1)), "`f_pre`"),
    case("linear_rnn.mlstm", lambda: linear_rnn.mlstm(XS, ones(2, 5, 4), XS, ones(2, 5), ones(2, 5)), "`k`", "d_k 3"),
    case(
        "linear_rnn.mlstm",
        lambda: linear_rnn.mlstm(XS, XS, XS, ones(2, 5), ones(2, 5), method="sequential"),
        "`method`",
    ),
    case("linear_rnn.init_slstm", lambda: linear_rnn.init_slstm(KEY, 3, 0), "hidden_size"),
    case("linear_rnn.init_slstm", lambda: linear_rnn.init_slstm(0, 3, 4), "`key`", exc=TypeError),
    case(
        "linear_rnn.slstm_cell",
        lambda: linear_rnn.slstm_cell(slstm_params(), (ones(2, 4), ones(2, 4)), ones(2, 3)),
        "`carry`",
        "(h, c, n, m)",
    ),
    case(
        "linear_rnn.slstm_cell",
        lambda: linear_rnn.slstm_cell(slstm_params(), (ones(2, 4), ones(2, 4), ones(2, 5), ones(2, 4)), ones(2, 3)),
        "`n`",
        "hidden 4",
    ),
    case(
        "linear_rnn.slstm_cell",
        lambda: linear_rnn.slstm_cell(slstm_params(), (ones(2, 4),) * 4, ones(2, 2)),
        "`x`",
        "input 3",
    ),
    case(
        "linear_rnn.slstm_cell",
        lambda: linear_rnn.slstm_cell(mingru_params(), (ones(2, 4),) * 4, ones(2, 3)),
        "`params`",
        "W_h",
    ),
    case(
        "linear_rnn.SequenceModel",
        lambda: linear_rnn.SequenceModel("mamba", width=4, output_size=2, vocab_size=5, rngs=nnx.Rngs(0)),
        "`mixer`",
        "'selective'",
    ),
    case(
        "linear_rnn.SequenceModel",
        lambda: linear_rnn.SequenceModel("lru", width=4, output_size=2, vocab_size=5, input_size=3, rngs=nnx.Rngs(0)),
        "vocab_size",
        "input_size",
    ),
    case(
        "linear_rnn.SequenceModel",
        lambda: linear_rnn.SequenceModel("lru", width=4, output_size=2, vocab_size=5, method="log", rngs=nnx.Rngs(0)),
        "`method`",
    ),
    case(
        "linear_rnn.SequenceModel",
        lambda: linear_rnn.SequenceModel("s4d", width=4, output_size=2, vocab_size=5, state_size=0, rngs=nnx.Rngs(0)),
        "state_size",
    ),
    case(
        "linear_rnn.SequenceModel",
        lambda: linear_rnn.SequenceModel("lru", width=4, output_size=2, vocab_size=5, lru_r_min=1.0, rngs=nnx.Rngs(0)),
        "r_min",
    ),
    case(
        "linear_rnn.SequenceModel.__call__",
        lambda: sequence_model()(jnp.array([[1, 5]])),
        "token id 5",
        "outside the vocabulary",
    ),
    case("linear_rnn.SequenceModel.__call__", lambda: sequence_model()(jnp.array([[1.0, 2.0]])), "integer token ids"),
    case("linear_rnn.SequenceModel.__call__", lambda: sequence_model(False)(ones(2, 5, 2)), "`x`", "input 3"),
    # word2vec -------------------------------------------------------------------------------
    case("word2vec.tokenize", lambda: w2v.tokenize(["a b"]), "`text`", exc=TypeError),
    case("word2vec.split_blocks", lambda: w2v.split_blocks("a b c"), "`tokens`", exc=TypeError),
    case("word2vec.split_blocks", lambda: w2v.split_blocks(["a"] * 10, 2, every=1), "every"),
    case("word2vec.WordVocab", lambda: w2v.WordVocab(["a"], min_count=0), "min_count"),
    case("word2vec.WordVocab", lambda: w2v.WordVocab("a b a b", min_count=1), "`tokens`", exc=TypeError),
    case("word2vec.WordVocab.encode", lambda: word_vocab().encode("a"), "`tokens`", exc=TypeError),
    case("word2vec.WordVocab.decode", lambda: word_vocab().decode(np.array([1.0])), "`ids`", "integer"),
    case("word2vec.WordVocab.decode", lambda: word_vocab().decode(np.array([9])), "outside the vocabulary"),
    case("word2vec.keep_probabilities", lambda: w2v.keep_probabilities(np.array([1, 2, 3]), t=0.0), "threshold t"),
    case("word2vec.keep_probabilities", lambda: w2v.keep_probabilities(np.array([1, -2, 3])), "counts", "non-negative"),
    case("word2vec.keep_probabilities", lambda: w2v.keep_probabilities(np.array([5, 0, 0])), "counts", "all zero"),
    case("word2vec.noise_distribution", lambda: w2v.noise_distribution(np.zeros(4)), "counts", "all zero"),
    case("word2vec.noise_distribution", lambda: w2v.noise_distribution(np.ones((2, 2))), "counts", "[V]"),
    case("word2vec.noise_distribution", lambda: w2v.noise_distribution(np.array([1.0, NAN, 2.0])), "counts", "finite"),
    case("word2vec.offset_distribution", lambda: w2v.offset_distribution(0), "window"),
    case(
        "word2vec.sample_skipgram",
        lambda: w2v.sample_skipgram(KEY, jnp.array([1, 2, 3, 4, 9, 1, 2]), 4, 1, jnp.ones(5), jnp.ones(5) / 5, 2),
        "`ids`",
        "outside",
    ),
    case(
        "word2vec.sample_skipgram",
        lambda: w2v.sample_skipgram(KEY, jnp.array([1, 2, 3, 4]), 4, 2, jnp.ones(5), jnp.ones(5) / 5, 2),
        "`ids`",
        "2 * window",
    ),
    case(
        "word2vec.sample_skipgram",
        lambda: w2v.sample_skipgram(KEY, jnp.array([1, 2, 3, 4, 1, 2]), 4, 1, jnp.ones(5), jnp.ones(5), 2),
        "`noise`",
        "sum 1",
    ),
    case(
        "word2vec.sample_cbow",
        lambda: w2v.sample_cbow(KEY, jnp.array([1, 2, 3, 4, 1, 2]), 4, 1, jnp.ones(5), jnp.ones(5) / 5, 0),
        "negatives",
    ),
    case(
        "word2vec.sample_cbow",
        lambda: w2v.sample_cbow(KEY, jnp.array([1, 2, 3, 4, 1, 2]), 4, 1, jnp.ones(5), jnp.ones(4) / 4, 2),
        "`noise`",
        "vocab 5",
    ),
    case("word2vec.init_word2vec", lambda: w2v.init_word2vec(KEY, 5, 0), "dim"),
    case("word2vec.noise_table", lambda: w2v.noise_table(np.array([0.5, 0.2])), "`noise`", "sum 1"),
    case("word2vec.noise_table", lambda: w2v.noise_table(np.ones(4) / 4, size=0), "size"),
    case(
        "word2vec.train_sgd",
        lambda: w2v.train_sgd(KEY, np.array([1, 2, 3, 4, 1, 2]), np.ones(5), np.ones(5) / 5, kind="glove"),
        "`kind`",
    ),
    case(
        "word2vec.train_sgd",
        lambda: w2v.train_sgd(KEY, np.array([1, 2, 3, 4, 1, 9]), np.ones(5), np.ones(5) / 5, window=1, steps=1),
        "`ids`",
        "outside",
    ),
    case(
        "word2vec.train_sgd",
        lambda: w2v.train_sgd(KEY, np.array([1, 2, 3, 4, 1, 2]), np.ones(5), np.ones(5) / 5, alpha=float("nan")),
        "`alpha`",
    ),
    case(
        "word2vec.negative_sampling_loss",
        lambda: w2v.negative_sampling_loss(ones(2, 3), ones(2, 3), ones(2, 4, 2), ones(2)),
        "u_neg",
    ),
    case(
        "word2vec.skipgram_loss",
        lambda: w2v.skipgram_loss(
            w2v.init_word2vec(KEY, 5, 3), (jnp.array([1, 5]), jnp.array([1, 2]), jnp.ones((2, 2), int), ones(2))
        ),
        "centres",
        "outside",
    ),
    case(
        "word2vec.cbow_loss", lambda: w2v.cbow_loss(w2v.init_word2vec(KEY, 5, 3), (1, 2, 3)), "`batch`", exc=TypeError
    ),
    case(
        "word2vec.full_softmax_loss",
        lambda: w2v.full_softmax_loss(w2v.init_word2vec(KEY, 5, 3), jnp.array([1, 2]), jnp.array([1, 7])),
        "contexts",
        "outside",
    ),
    case("word2vec.normalise", lambda: w2v.normalise(np.ones(3)), "vectors", "[words, dim]"),
    case("word2vec.normalise", lambda: w2v.normalise(np.array([[1.0, NAN]])), "vectors", "finite"),
    case(
        "word2vec.most_similar",
        lambda: w2v.most_similar(np.ones((3, 2)), word_vocab(), "a"),
        "vectors",
        "one row per word",
    ),
    case(
        "word2vec.most_similar",
        lambda: w2v.most_similar(np.ones((4, 2)), word_vocab(), "a", k=0),
        "k must be a positive",
    ),
    case(
        "word2vec.similarity_correlation",
        lambda: w2v.similarity_correlation(np.ones((9, 2)), word_vocab(), [("a", "b", 1.0)]),
        "vectors",
        "one row per word",
    ),
    case(
        "word2vec.similarity_difference",
        lambda: w2v.similarity_difference(np.ones((4, 2)), np.ones((9, 2)), word_vocab(), [("a", "b", 1.0)], 0),
        "vectors",
        "one row per word",
    ),
    case(
        "word2vec.similarity_difference",
        lambda: w2v.similarity_difference(np.ones((4, 2)), np.ones((4, 2)), word_vocab(), [("a", "b", 1.0)], 0),
        "pairs",
        "at least 3",
    ),
    case(
        "word2vec.similarity_difference",
        lambda: w2v.similarity_difference(np.ones((4, 2)), np.ones((4, 2)), word_vocab(), [("a", "b", 1.0)] * 3, -1),
        "seed",
    ),
    case(
        "word2vec.similarity_difference",
        lambda: w2v.similarity_difference(np.ones((4, 2)), np.ones((4, 2)) * NAN, word_vocab(), [("a", "b", 1.0)], 0),
        "vectors",
        "finite",
    ),
    case("word2vec.cooccurrence", lambda: w2v.cooccurrence(np.array([0, 1, 5]), 4, 1), "ids", "outside"),
    case("word2vec.cooccurrence", lambda: w2v.cooccurrence(np.array([0, 1, 2]), 4, 0), "window"),
    case("word2vec.cooccurrence", lambda: w2v.cooccurrence(np.array([0, 1]), 4, 2), "ids", "longer than the window"),
    case("word2vec.cooccurrence", lambda: w2v.cooccurrence(np.zeros((2, 3), int), 4, 1), "ids", "[tokens]"),
    case("word2vec.cooccurrence", lambda: w2v.cooccurrence(np.array([0.0, 1.0, 2.0]), 4, 1), "ids", "int"),
    case("word2vec.ppmi", lambda: w2v.ppmi(np.ones((3, 3))), "counts", "sparse", exc=TypeError),
    case("word2vec.ppmi", lambda: w2v.ppmi(scipy.sparse.csr_matrix(np.ones((3, 2)))), "counts", "square"),
    case("word2vec.ppmi", lambda: w2v.ppmi(scipy.sparse.csr_matrix(-np.ones((3, 3)))), "counts", "non-negative"),
    case("word2vec.ppmi", lambda: w2v.ppmi(scipy.sparse.csr_matrix(np.ones((3, 3))), alpha=0.0), "alpha"),
    case("word2vec.svd_embeddings", lambda: w2v.svd_embeddings(np.ones((20, 20)), 2, 0), "matrix", exc=TypeError),
    case("word2vec.svd_embeddings", lambda: w2v.svd_embeddings(scipy.sparse.eye(20), 15, 0), "dim", "at most"),
    case("word2vec.svd_embeddings", lambda: w2v.svd_embeddings(scipy.sparse.eye(20), 0, 0), "dim"),
    case("word2vec.svd_embeddings", lambda: w2v.svd_embeddings(scipy.sparse.eye(20), 2, 0, power=2.0), "power"),
    case(
        "word2vec.analogy_accuracy",
        lambda: w2v.analogy_accuracy(np.ones((4, 2)), {"a": 1}, [("a", "b", "c", "a")]),
        "`vocab`",
        exc=TypeError,
    ),
    # figures --------------------------------------------------------------------------------
    case("figures.save", lambda: figures.save("figure", "out.svg"), "`fig`", exc=TypeError),
    case("figures.main", lambda: figures.main("--out x"), "`argv`", exc=TypeError),
]

# Public names with no bad input to give, each with its reason.
EXEMPT = {
    # take no argument at all
    "data.sunspots": "takes no argument",
    "data.shakespeare": "takes no argument",
    "data.shakespeare_milton": "takes no argument",
    "word2vec.similarity_benchmarks": "takes no argument (reads gensim's test data)",
    "figures.unrolled_rnn": "takes no argument",
    "figures.io_patterns": "takes no argument",
    "figures.lstm_cell": "takes no argument",
    "figures.logo": "takes no argument",
    "figures.seq2seq_attention": "takes no argument",
    "figures.ntm": "takes no argument",
    "figures.transformer": "takes no argument",
    "figures.word2vec": "takes no argument",
    "figures.chapter_map": "takes no argument",
    "seeds.base_seed": "takes no argument (reads RNNBOOK_SEED; its own tests cover a bad value)",
    # records and declarations: built by the package, not from a reader's input
    "train.History": "a dataclass of results that fit fills in",
    "seq2seq.GreedyState": "a NamedTuple, the state of greedy_decode's loop",
    "seq2seq.BeamState": "a NamedTuple, the state of beam_search's loop",
    "seq2seq.EncoderDecoder": "a Protocol (an interface), never called",
    "data.DateExample": "a NamedTuple that dates() makes",
    "data.DateReading": "a NamedTuple that read_date() makes",
    # elementwise maps: any array of any shape is a good input
    "linear_rnn.g": "elementwise on any shape (a non-array is JAX's own TypeError)",
    "linear_rnn.log_g": "elementwise on any shape (a non-array is JAX's own TypeError)",
    "linear_rnn.elu_plus_one": "elementwise on any shape (a non-array is JAX's own TypeError)",
}


def target_object(target):
    """The module attribute a target names ("module.name" or "module.Class.method")."""
    module, name, *_ = target.split(".")
    return getattr(importlib.import_module(f"rnnbook.{module}"), name)


@pytest.mark.parametrize(
    "row",
    [pytest.param(c, id=f"{c.target}-{i}", marks=c.marks) for i, c in enumerate(CASES)],
)
def test_bad_input_raises_and_names_it(row):
    with pytest.raises(row.exc) as info:
        row.call()
    message = str(info.value).lower()
    missing = [w for w in row.words if w.lower() not in message]
    assert not missing, f"{row.target}: message lacks {missing}: {info.value}"


@pytest.mark.smoke
def test_every_public_function_has_a_bad_input_case():
    covered = {id(target_object(c.target)) for c in CASES}
    missing = []
    for module_name in rnnbook.__all__:
        module = importlib.import_module(f"rnnbook.{module_name}")
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue  # constants, cells (instances of Cell, covered through Cell), type aliases
            if f"{module_name}.{name}" in EXEMPT or id(obj) in covered:
                continue
            missing.append(f"{module_name}.{name}")
    assert not missing, f"public functions with no row in tests/test_bad_inputs.py CASES: {missing}"


# ------------------------------------------------------------------ value checks inside jit
def _transformer_loss_and_bad_batch():
    model = transformer.Transformer(20, 20, d_model=8, heads=2, layers=1, d_ff=16, max_len=12, rngs=nnx.Rngs(0))
    batch = data.copy_task(KEY, 3, 2, 6)
    graphdef, state = nnx.split(model)
    loss = lambda state, batch: seq2seq.loss_fn(nnx.merge(graphdef, state), batch)
    return loss, state, batch, dict(batch, src=batch["src"].at[0, 0].set(25))


@pytest.mark.slow
def test_value_checks_inside_jit_compile_away_unless_checkified(monkeypatch):
    """The debug flag costs nothing: the compiled program with the traced checks equals the one without."""
    loss, state, batch, _ = _transformer_loss_and_bad_batch()
    grad = jax.grad(loss)
    with_checks = jax.jit(grad).lower(state, batch).compile().as_text()
    monkeypatch.setattr(rnnbook._checks, "traced_check", lambda *args: None)
    without = jax.jit(grad).lower(state, batch).compile().as_text()
    drop_names = lambda text: "\n".join(line for line in text.splitlines() if not line.startswith("HloModule"))
    assert drop_names(with_checks) == drop_names(without)


@pytest.mark.slow
def test_value_checks_fire_inside_jit_under_checkify():
    from jax.experimental import checkify

    loss, state, _, bad = _transformer_loss_and_bad_batch()
    assert not np.isfinite(float(jax.jit(loss)(state, bad)))  # without the flag: JAX's NaN, no error
    err, _ = checkify.checkify(jax.jit(loss), errors=checkify.user_checks)(state, bad)
    assert "src has a token id outside the vocabulary [0, 20) (checked inside jit): ids from" in err.get()
    assert "to 25" in err.get()
    # lengths and finite inputs, inside scan and vmap
    layer = layers.Recurrent("lstm", 3, 4, rngs=nnx.Rngs(0))
    run = lambda xs, lengths: layer(xs, lengths)[1]
    err, _ = checkify.checkify(jax.jit(run), errors=checkify.user_checks)(XS, jnp.array([5, 0]))
    assert "lengths must lie in [1, time=5]" in err.get() and "from 0 to 5" in err.get()
    err, _ = checkify.checkify(jax.jit(jax.vmap(run)), errors=checkify.user_checks)(
        jnp.stack([XS, XS.at[1, 2, 0].set(NAN)]), jnp.stack([LENGTHS, LENGTHS])
    )
    assert "xs contains NaN or infinite values (checked inside jit)" in err.get()
    err, _ = checkify.checkify(jax.jit(run), errors=checkify.user_checks)(XS, LENGTHS)
    assert err.get() is None


@pytest.mark.slow
def test_fit_with_checks_names_the_bad_ids_inside_jit():
    model = transformer.Transformer(20, 20, d_model=8, heads=2, layers=1, d_ff=16, max_len=12, rngs=nnx.Rngs(0))
    good = data.copy_task(KEY, 4, 2, 6)
    bad = dict(good, tgt_out=good["tgt_out"].at[1, 0].set(-3))
    run = dict(key=KEY, epochs=1, steps_per_epoch=2, progress=False)
    # minibatches index the data with a traced draw: the batch's ids are not known while tracing
    train.fit(model, seq2seq.loss_fn, train.minibatches(good, 4), checks=True, **run)  # clean data passes
    with pytest.raises(ValueError, match=r"checks=True.*tgt_out` has an id outside the vocabulary.*from -3"):
        train.fit(model, seq2seq.loss_fn, train.minibatches(bad, 4), checks=True, **run)
