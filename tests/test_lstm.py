"""LSTM, GRU, stacked and bidirectional layers against PyTorch and Flax, with the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnnbook import gru, lstm
from rnnbook.layers import Recurrent, reverse_padded
from rnnbook.rnn import scan_cell

try:
    import torch  # the reference implementation, for the tests marked `torch` alone
except ModuleNotFoundError:
    torch = None  # those tests are skipped with a reason (tests/conftest.py); the others run

TOL = dict(atol=2e-5, rtol=2e-5)


def to_torch(layer: Recurrent):
    """A torch.nn.LSTM/GRU/RNN carrying the same weights as ``layer``.

    The PyTorch name mapping, for every torch cross-check of the test suite, is the table of the cell
    contract (``rnnbook/cells.py``): ``W_x = weight_ih_l{k}.T``, ``W_h = weight_hh_l{k}.T``;
    ``b = bias_ih + bias_hh`` for the Elman cell and the LSTM (so ``b`` goes to ``bias_ih`` and
    ``bias_hh`` is zero); the GRU keeps two biases, ``b = bias_ih`` and ``b_h = bias_hh`` (its reset
    gate multiplies ``h W_hn + b_hn``). Gates are packed in PyTorch's order, so blocks copy as they are.
    """
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[layer.cell_name]
    t = cls(
        layer.input_size,
        layer.hidden_size,
        num_layers=layer.num_layers,
        bidirectional=layer.directions == 2,
        batch_first=True,
    )
    with torch.no_grad():
        for k in range(len(layer.weights)):
            p = layer.cell_params(k)
            suffix = f"l{k // layer.directions}" + ("_reverse" if k % layer.directions else "")
            getattr(t, f"weight_ih_{suffix}").copy_(torch.tensor(np.asarray(p["W_x"]).T))
            getattr(t, f"weight_hh_{suffix}").copy_(torch.tensor(np.asarray(p["W_h"]).T))
            getattr(t, f"bias_ih_{suffix}").copy_(torch.tensor(np.asarray(p["b"])))
            if layer.cell_name == "gru":
                getattr(t, f"bias_hh_{suffix}").copy_(torch.tensor(np.asarray(p["b_h"])))
            else:
                getattr(t, f"bias_hh_{suffix}").zero_()
    return t


def final_h(layer, finals):
    return np.stack([np.asarray(layer.cell.hidden(f)) for f in finals])


CONFIGS = [  # cell, batch, time, input, hidden, layers, bidirectional
    ("lstm", 1, 1, 1, 1, 1, False),
    ("lstm", 3, 7, 4, 5, 1, False),
    ("lstm", 2, 6, 3, 4, 2, False),
    ("lstm", 3, 5, 3, 4, 1, True),
    ("lstm", 4, 8, 2, 6, 2, True),
    ("gru", 1, 1, 1, 1, 1, False),
    ("gru", 3, 7, 4, 5, 1, False),
    ("gru", 2, 6, 3, 4, 2, True),
    ("rnn", 2, 5, 3, 4, 2, True),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.torch
def test_layers_equal_torch(cfg):
    cell, batch, time, inp, hidden, layers, bi = cfg
    layer = Recurrent(cell, inp, hidden, num_layers=layers, bidirectional=bi, rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(1), (batch, time, inp))
    finals, ys = layer(xs)
    out, state = to_torch(layer)(torch.tensor(np.asarray(xs)))
    np.testing.assert_allclose(ys, out.detach().numpy(), **TOL)
    h_n = state[0] if cell == "lstm" else state
    np.testing.assert_allclose(final_h(layer, finals), h_n.detach().numpy(), **TOL)
    if cell == "lstm":
        c_n = np.stack([np.asarray(f[1]) for f in finals])
        np.testing.assert_allclose(c_n, state[1].detach().numpy(), **TOL)


@pytest.mark.parametrize("cell,bi,layers", [("lstm", True, 2), ("gru", True, 1), ("lstm", False, 2)])
@pytest.mark.torch
def test_packed_variable_lengths_equal_torch(cell, bi, layers):
    layer = Recurrent(cell, 3, 5, num_layers=layers, bidirectional=bi, rngs=nnx.Rngs(2))
    xs = jax.random.normal(jax.random.key(3), (4, 9, 3))
    lengths = jnp.array([9, 2, 5, 1])
    finals, ys = layer(xs, lengths=lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.tensor(np.asarray(xs)), torch.tensor(np.asarray(lengths)), batch_first=True, enforce_sorted=False
    )
    out, state = to_torch(layer)(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=9)
    np.testing.assert_allclose(ys, out.detach().numpy(), **TOL)
    h_n = state[0] if cell == "lstm" else state
    np.testing.assert_allclose(final_h(layer, finals), h_n.detach().numpy(), **TOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.torch
def test_gradients_equal_torch_autograd(cell):
    layer = Recurrent(cell, 3, 4, num_layers=2, bidirectional=True, rngs=nnx.Rngs(4))
    xs = jax.random.normal(jax.random.key(5), (2, 6, 3))
    target = jax.random.normal(jax.random.key(6), (2, 6, 8))

    def loss(model):
        return jnp.sum(jnp.sin(model(xs)[1]) * target)

    grads = nnx.grad(loss)(layer)
    t = to_torch(layer)
    out, _ = t(torch.tensor(np.asarray(xs)))
    (torch.sin(out) * torch.tensor(np.asarray(target))).sum().backward()
    for k in range(4):
        suffix = f"l{k // 2}" + ("_reverse" if k % 2 else "")
        g = {name: np.asarray(v[...]) for name, v in grads.weights[k].items()}
        np.testing.assert_allclose(g["W_x"], getattr(t, f"weight_ih_{suffix}").grad.numpy().T, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(g["W_h"], getattr(t, f"weight_hh_{suffix}").grad.numpy().T, atol=1e-4, rtol=1e-4)
        if cell == "lstm":
            np.testing.assert_allclose(g["b"], getattr(t, f"bias_ih_{suffix}").grad.numpy(), atol=1e-4, rtol=1e-4)
        else:
            np.testing.assert_allclose(g["b_h"], getattr(t, f"bias_hh_{suffix}").grad.numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.smoke
def test_lstm_cell_equals_flax_lstm_cell():
    params = lstm.init_lstm(jax.random.key(0), 3, 4)
    cell = nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0))
    H = 4
    blocks = {name: slice(k * H, (k + 1) * H) for k, name in enumerate("ifgo")}
    for gate, flax_in in zip("ifgo", ["ii", "if_", "ig", "io"]):
        getattr(cell, flax_in).kernel[...] = params["W_x"][:, blocks[gate]]
        getattr(cell, "h" + gate).kernel[...] = params["W_h"][:, blocks[gate]]
        getattr(cell, "h" + gate).bias[...] = params["b"][blocks[gate]]
    xs = jax.random.normal(jax.random.key(1), (2, 5, 3))
    h0, c0 = 0.3 * jax.random.normal(jax.random.key(2), (2, 2, 4))
    carry_flax, out_flax = nnx.RNN(cell, return_carry=True)(xs, initial_carry=(c0, h0))  # flax carries (c, h)
    (h, c), ys = lstm.scan_cell(lstm.LSTM, params, xs, (h0, c0))  # ours carries (h, c)
    np.testing.assert_allclose(ys, out_flax, **TOL)
    np.testing.assert_allclose(c, carry_flax[0], **TOL)
    np.testing.assert_allclose(h, carry_flax[1], **TOL)


@pytest.mark.smoke
def test_gru_cell_equals_flax_gru_cell():
    # Flax's GRUCell is the PyTorch convention with no recurrent bias: set ours to zero and copy.
    params = gru.init_gru(jax.random.key(0), 3, 4)
    params["b_h"] = jnp.zeros_like(params["b_h"])
    cell = nnx.GRUCell(3, 4, rngs=nnx.Rngs(0))
    cell.dense_i.kernel[...] = params["W_x"]
    cell.dense_i.bias[...] = params["b"]
    cell.dense_h.kernel[...] = params["W_h"]
    xs = jax.random.normal(jax.random.key(1), (2, 5, 3))
    h0 = 0.3 * jax.random.normal(jax.random.key(2), (2, 4))
    carry_flax, out_flax = nnx.RNN(cell, return_carry=True)(xs, initial_carry=h0)
    h, ys = lstm.scan_cell(gru.GRU, params, xs, h0)
    np.testing.assert_allclose(ys, out_flax, **TOL)
    np.testing.assert_allclose(h, carry_flax, **TOL)


def test_step_by_step_equals_scan():
    for cell, layers in [("lstm", 2), ("gru", 1), ("rnn", 3)]:
        layer = Recurrent(cell, 3, 5, num_layers=layers, initial_state="learned", rngs=nnx.Rngs(0))
        layer.state0[...] = 0.1 * jax.random.normal(jax.random.key(9), layer.state0.shape)
        xs = jax.random.normal(jax.random.key(1), (2, 7, 3))
        finals, ys = layer(xs)
        carry = layer.initial_carry(2)
        outs = []
        for t in range(7):
            carry, y = layer.step(carry, xs[:, t])
            outs.append(y)
        np.testing.assert_allclose(jnp.stack(outs, axis=1), ys, atol=1e-6)
        for a, b in zip(jax.tree_util.tree_leaves(carry), jax.tree_util.tree_leaves(finals)):
            np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.smoke
def test_padded_steps_change_nothing_in_a_bidirectional_stack():
    layer = Recurrent("lstm", 2, 4, num_layers=2, bidirectional=True, rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(1), (3, 8, 2))
    lengths = jnp.array([8, 3, 5])
    finals, ys = layer(xs, lengths=lengths)
    garbage = xs.at[1, 3:].set(50.0).at[2, 5:].set(-3.0)
    finals_g, ys_g = layer(garbage, lengths=lengths)
    np.testing.assert_array_equal(ys, ys_g)
    for a, b in zip(jax.tree_util.tree_leaves(finals), jax.tree_util.tree_leaves(finals_g)):
        np.testing.assert_array_equal(a, b)
    for b, n in enumerate([8, 3, 5]):
        _, alone = layer(xs[b : b + 1, :n])
        np.testing.assert_allclose(ys[b, :n], alone[0], atol=1e-6)
        assert np.all(np.asarray(ys[b, n:]) == 0)


def test_reverse_padded_is_an_involution():
    xs = jnp.arange(2 * 5).reshape(2, 5)[..., None]
    lengths = jnp.array([5, 3])
    r = reverse_padded(xs, lengths)
    np.testing.assert_array_equal(r[1, :, 0], [7, 6, 5, 8, 9])
    np.testing.assert_array_equal(reverse_padded(r, lengths), xs)


def test_learned_initial_state_gets_a_gradient():
    layer = Recurrent("lstm", 2, 3, initial_state="learned", rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(1), (4, 3, 2))
    grads = nnx.grad(lambda m: jnp.sum(m(xs)[1] ** 2 + m(xs)[1]))(layer)
    g = np.asarray(grads.state0[...])
    assert g.shape == (1, 2, 3) and np.all(np.abs(g) > 0)
    zero = Recurrent("lstm", 2, 3, rngs=nnx.Rngs(0))
    assert "state0" not in nnx.to_pure_dict(nnx.state(zero, nnx.Param))


def test_forget_bias_and_1997_cell():
    p = lstm.init_lstm(jax.random.key(0), 2, 3, forget_bias=1.0)
    q = lstm.init_lstm(jax.random.key(0), 2, 3, forget_bias=0.0)
    np.testing.assert_allclose(p["b"][3:6] - q["b"][3:6], 1.0, atol=1e-6)
    np.testing.assert_array_equal(p["b"][:3], q["b"][:3])
    old = lstm.init_lstm1997(jax.random.key(0), 2, 3)
    assert old["W_x"].shape == (2, 9)
    # The 1997 cell's state is a running sum: with zero input gate bias pushed to -inf nothing is written.
    xs = jax.random.normal(jax.random.key(1), (1, 6, 2))
    gates = lstm.lstm_gates(old, xs, cell=lstm.LSTM_1997)
    np.testing.assert_array_equal(gates["f"], 1.0)
    c = np.asarray(gates["c"][0])
    np.testing.assert_allclose(np.diff(c, axis=0), np.asarray((gates["i"] * gates["g"])[0, 1:]), atol=1e-6)


def test_peepholes_change_the_cell_and_gates_match_the_cell():
    p = lstm.init_peephole_lstm(jax.random.key(0), 2, 3)
    xs = jax.random.normal(jax.random.key(1), (2, 5, 2))
    carry0 = lstm.PEEPHOLE_LSTM.initial_carry(2, 3)
    _, ys = lstm.scan_cell(lstm.PEEPHOLE_LSTM, p, xs, carry0)
    plain = {k: v for k, v in p.items() if not k.startswith("p_")}
    _, ys_plain = lstm.scan_cell(lstm.LSTM, plain, xs, carry0)
    assert not np.allclose(ys, ys_plain)
    np.testing.assert_allclose(lstm.lstm_gates(p, xs, cell=lstm.PEEPHOLE_LSTM)["h"], ys, atol=1e-6)
    # zero peepholes: the peephole cell is the modern one
    zero = {**p, "p_i": jnp.zeros(3), "p_f": jnp.zeros(3), "p_o": jnp.zeros(3)}
    np.testing.assert_allclose(lstm.scan_cell(lstm.PEEPHOLE_LSTM, zero, xs, carry0)[1], ys_plain, atol=1e-6)


def test_gru_conventions_differ():
    p = gru.init_gru(jax.random.key(0), 2, 3)
    h = jax.random.normal(jax.random.key(1), (4, 3))
    x = jax.random.normal(jax.random.key(2), (4, 2))
    assert not np.allclose(gru.gru_cell(p, h, x)[0], gru.gru_cell_cho2014(p, h, x)[0])


def test_parameter_counts_are_4x_and_3x():
    counts = {c: Recurrent(c, 10, 20, rngs=nnx.Rngs(0)).num_params() for c in ("rnn", "gru", "lstm")}
    assert counts["rnn"] == 10 * 20 + 20 * 20 + 20
    assert counts["lstm"] == 4 * counts["rnn"]
    assert counts["gru"] == 3 * counts["rnn"] + 3 * 20  # two bias vectors


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: Recurrent("tcn", 2, 3, rngs=nnx.Rngs(0)), "cell must be one of"),
        (lambda: Recurrent("lstm", 2, 3, initial_state="random", rngs=nnx.Rngs(0)), "initial_state must be"),
        (lambda: Recurrent("lstm", 2, 3, num_layers=0, rngs=nnx.Rngs(0)), "num_layers must be a positive integer"),
        (lambda: Recurrent("lstm", 2, 3, rngs=nnx.Rngs(0))(jnp.ones((1, 4, 3))), "expects input_size=2"),
        (lambda: Recurrent("lstm", 2, 3, rngs=nnx.Rngs(0))(jnp.ones((1, 0, 2))), "empty sequence"),
        (
            lambda: Recurrent("lstm", 2, 3, rngs=nnx.Rngs(0))(jnp.ones((2, 4, 2)), lengths=jnp.array([4, 5])),
            r"lengths must lie in \[1, time=4\]",
        ),
        (
            lambda: Recurrent("gru", 2, 3, bidirectional=True, rngs=nnx.Rngs(0)).step([None, None], jnp.ones((1, 2))),
            "bidirectional layer cannot run online",
        ),
        (
            lambda: Recurrent("gru", 2, 3, rngs=nnx.Rngs(0)).step([jnp.zeros((1, 3))], jnp.ones((1, 5))),
            r"x must have shape \[batch, input_size=2\]",
        ),
        (lambda: Recurrent("gru", 3, 4, forget_bias=5.0, rngs=nnx.Rngs(0)), "unknown option.*forget_bias"),
        (lambda: lstm.lstm_gates(lstm.init_lstm(jax.random.key(0), 2, 3), jnp.ones((1, 4, 2)), cell=gru.GRU), "LSTM"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("variant", ["lstm_scan_hoisted", "lstm_scan_fused"])
def test_fast_lstm_variants_equal_the_scanned_cell_with_their_gradients(variant):
    run = getattr(lstm, variant)
    params = lstm.init_lstm(jax.random.key(0), 5, 7)
    xs = jax.random.normal(jax.random.key(1), (3, 11, 5))
    carry0 = (jax.random.normal(jax.random.key(2), (3, 7)), jax.random.normal(jax.random.key(3), (3, 7)))
    (h, c), ys = run(params, xs, carry0)
    (h_ref, c_ref), ys_ref = scan_cell(lstm.LSTM, params, xs, carry0)
    np.testing.assert_allclose(ys, ys_ref, atol=1e-6)
    np.testing.assert_allclose(h, h_ref, atol=1e-6)
    np.testing.assert_allclose(c, c_ref, atol=1e-6)
    # A loss of every output: all states, the last h and the last c (the fused backward's three inputs).
    a, b = jax.random.normal(jax.random.key(4), (3, 7)), jax.random.normal(jax.random.key(5), (3, 7))

    def loss(f):
        def value(p, x, carry):
            (h, c), ys = f(p, x, carry)
            return jnp.sum(ys**2 * jnp.arange(11)[None, :, None]) + jnp.sum(h * a) + jnp.sum(c * b)

        return value

    g = jax.grad(loss(run), argnums=(0, 1, 2))(params, xs, carry0)
    g_ref = jax.grad(loss(lambda p, x, k: scan_cell(lstm.LSTM, p, x, k)), argnums=(0, 1, 2))(params, xs, carry0)
    assert jax.tree_util.tree_structure(g) == jax.tree_util.tree_structure(g_ref)
    for got, want in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(g_ref)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="modern cell only"):
        run(lstm.init_lstm1997(jax.random.key(0), 5, 7), xs)
    with pytest.raises(ValueError, match="modern cell only"):
        run(lstm.init_peephole_lstm(jax.random.key(0), 5, 7), xs)
    with pytest.raises(ValueError, match="4 features per step but the layer expects input_size=5"):
        run(params, xs[..., :4])
    with pytest.raises(ValueError, match="empty sequence"):
        run(params, xs[:, :0])


@pytest.mark.parametrize("lengths", [None, [11, 4, 1]])
def test_the_fused_gru_equals_the_scanned_cell_with_its_gradients(lengths):
    # gru_scan_fused against jax.grad of scan_cell(gru_cell): outputs, final state and the gradients of
    # every parameter, the input and the initial state, with and without padding.
    params = gru.init_gru(jax.random.key(0), 5, 7)
    xs = jax.random.normal(jax.random.key(1), (3, 11, 5))
    h0 = jax.random.normal(jax.random.key(2), (3, 7))
    lengths = None if lengths is None else jnp.array(lengths)
    h, ys = gru.gru_scan_fused(params, xs, h0, lengths)
    h_ref, ys_ref = scan_cell(gru.GRU, params, xs, h0, lengths)
    np.testing.assert_allclose(ys, ys_ref, atol=1e-6)
    np.testing.assert_allclose(h, h_ref, atol=1e-6)
    a = jax.random.normal(jax.random.key(4), (3, 7))

    def loss(f):
        def value(p, x, h0):
            h, ys = f(p, x, h0, lengths)
            return jnp.sum(jnp.sin(ys) * jnp.arange(11)[None, :, None]) + jnp.sum(h * a)

        return value

    g = jax.grad(loss(gru.gru_scan_fused), argnums=(0, 1, 2))(params, xs, h0)
    g_ref = jax.grad(loss(lambda p, x, k, n: scan_cell(gru.GRU, p, x, k, n)), argnums=(0, 1, 2))(params, xs, h0)
    assert jax.tree_util.tree_structure(g) == jax.tree_util.tree_structure(g_ref)
    for got, want in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(g_ref)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if lengths is not None:
        # a padded step's output is zero and its input gets no gradient; the final state is the last real one
        pad = jnp.arange(11)[None, :, None] >= lengths[:, None, None]
        assert float(jnp.max(jnp.abs(jnp.where(pad, ys, 0)))) == 0.0
        assert float(jnp.max(jnp.abs(jnp.where(pad, g[1], 0)))) == 0.0
        np.testing.assert_allclose(h[2], gru.gru_cell(params, h0[2:3], xs[2:3, 0])[0][0], atol=1e-6)
    np.testing.assert_allclose(gru.gru_scan_fused(params, xs)[1], scan_cell(gru.GRU, params, xs, 0 * h0)[1], atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_fused_layers_under_vmap_equal_the_scanned_cell(cell):
    # As train.fit_seeds trains the chapters' seeds: jax.vmap over three models' weights and inputs. The
    # forward loop's carried buffers then hold the models' axis first, as the backward loop's do; the
    # outputs and every gradient must be those of the scanned cell, model by model, padding included.
    init, fused = (lstm.init_lstm, lstm.lstm_scan_fused) if cell == "lstm" else (gru.init_gru, gru.gru_scan_fused)
    spec = lstm.LSTM if cell == "lstm" else gru.GRU
    params = jax.vmap(lambda k: init(k, 5, 7))(jax.random.split(jax.random.key(0), 3))
    xs = jax.random.normal(jax.random.key(1), (3, 4, 11, 5))
    lengths = jnp.array([11, 6, 1, 9])

    def loss(run):
        def value(p, x):
            return jnp.sum(jnp.sin(run(p, x)[1]) * jnp.arange(11)[None, :, None])

        return value

    scanned = lambda p, x: scan_cell(spec, p, x, spec.initial_carry(4, 7, x.dtype), lengths)
    ours = jax.jit(jax.vmap(jax.value_and_grad(loss(lambda p, x: fused(p, x, None, lengths)), argnums=(0, 1))))
    (value, g) = ours(params, xs)
    (value_ref, g_ref) = jax.vmap(jax.value_and_grad(loss(scanned), argnums=(0, 1)))(params, xs)
    np.testing.assert_allclose(value, value_ref, rtol=1e-5)
    for got, want in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(g_ref), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda p, xs: gru.gru_scan_fused(lstm.init_lstm(jax.random.key(0), 5, 7), xs), "not a GRU's"),
        (lambda p, xs: gru.gru_scan_fused(p, xs[..., :4]), "4 features per step but the layer expects input_size=5"),
        (lambda p, xs: gru.gru_scan_fused(p, xs[:, :0]), "empty sequence"),
        (lambda p, xs: gru.gru_scan_fused(p, xs, jnp.zeros((2, 7))), "h0"),
        (lambda p, xs: gru.gru_scan_fused(p, xs, lengths=jnp.array([3, 12, 1])), "lengths"),
        (lambda p, xs: gru.gru_scan_fused(p, xs, lengths=jnp.array([3, 1])), "lengths"),
    ],
)
def test_the_fused_gru_refuses_bad_input(call, match):
    params, xs = gru.init_gru(jax.random.key(0), 5, 7), jnp.ones((3, 11, 5))
    with pytest.raises(ValueError, match=match):
        call(params, xs)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    "bidirectional,layers,lengths,initial_state",
    [(False, 1, None, "zeros"), (True, 2, [9, 2, 5, 1], "learned"), (False, 2, [3, 9, 1, 7], "zeros")],
)
def test_the_fused_layer_equals_the_scanned_cell_with_padding_and_carries(
    cell, bidirectional, layers, lengths, initial_state
):
    # Recurrent("lstm") takes lstm_scan_fused, Recurrent("gru") gru_scan_fused; fused=False scans the cell.
    # Same weights (same Rngs): the outputs, the final carries and every gradient (weights, learned
    # initial state, input) agree.
    options = {"forget_bias": 1.0} if cell == "lstm" else {}
    make = lambda fused: Recurrent(
        cell, 3, 5, num_layers=layers, bidirectional=bidirectional, initial_state=initial_state,
        fused=fused, rngs=nnx.Rngs(0), **options,
    )  # fmt: skip
    fast, slow = make(True), make(False)
    if initial_state == "learned":
        for m in (fast, slow):
            m.state0[...] = jax.random.normal(jax.random.key(9), m.state0.shape)
    xs = jax.random.normal(jax.random.key(1), (4, 9, 3))
    lengths = None if lengths is None else jnp.array(lengths)

    def loss(model, x):
        finals, ys = model(x, lengths)
        weights = [jnp.sum(jnp.cos(a) * (k + 1)) for k, a in enumerate(jax.tree_util.tree_leaves(finals))]
        return jnp.sum(jnp.sin(ys) * jnp.arange(9)[None, :, None]) + sum(weights)

    (v_fast, (g_fast, dx_fast)) = nnx.value_and_grad(loss, argnums=(0, 1))(fast, xs)
    (v_slow, (g_slow, dx_slow)) = nnx.value_and_grad(loss, argnums=(0, 1))(slow, xs)
    np.testing.assert_allclose(v_fast, v_slow, rtol=1e-6)
    np.testing.assert_allclose(dx_fast, dx_slow, atol=1e-5)
    leaves = lambda g: jax.tree_util.tree_leaves(nnx.state(g, nnx.Param))
    assert len(leaves(g_fast)) == len(leaves(g_slow)) > 0
    for got, want in zip(leaves(g_fast), leaves(g_slow)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if lengths is not None:  # padded outputs are zero, as in the scanned cell
        ys = fast(xs, lengths)[1]
        assert float(jnp.max(jnp.abs(jnp.where(jnp.arange(9)[None, :, None] >= lengths[:, None, None], ys, 0)))) == 0.0


def _equations(jaxpr):
    """Every equation of ``jaxpr`` and of the jaxprs inside it (loop bodies, custom rules)."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                inner = getattr(sub, "jaxpr", sub)
                if isinstance(inner, jax.extend.core.Jaxpr):
                    yield from _equations(inner)


def test_the_fused_lstm_backward_builds_no_sequence_long_concatenation():
    # The forward loop writes what the backward pass reads (lstm._fused_forward): the cell states with c0
    # first and each step's product input [x_t, h_{t-1}]. Building them afterwards took three
    # [time, batch, .] concatenations, about 4 % of the layer's time at batch 64, 100 steps, 256 units.
    params = lstm.init_lstm(jax.random.key(0), 3, 5)
    xs = jax.random.normal(jax.random.key(1), (4, 7, 3))
    loss = lambda p, x: jnp.sum(lstm.lstm_scan_fused(p, x, None, jnp.array([7, 2, 5, 1]))[1] ** 2)
    jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(params, xs).jaxpr
    joins = [e for e in _equations(jaxpr) if e.primitive.name == "concatenate"]
    assert joins, "the per-step [x_t, h] and the gate gradients are concatenations: the walk must find them"
    long = [e.outvars[0].aval.shape for e in joins if e.outvars[0].aval.ndim == 3]
    assert not long, f"concatenations over the whole sequence in the fused LSTM's gradient: {long}"


def test_the_lstm_layer_runs_in_bfloat16_and_agrees_with_float32():
    # bfloat16 is a float (the input checks once took numpy's word for it, which files it under void);
    # weights, inputs and state in bfloat16 give a bfloat16 output within its precision (8 bits of
    # mantissa: about 3e-3 relative) of the float32 one over 30 steps.
    layer = Recurrent("lstm", 8, 16, rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(1), (4, 30, 8))
    y32 = layer(xs)[1]
    graph, params, rest = nnx.split(layer, nnx.Param, ...)
    half = lambda tree: jax.tree.map(lambda a: a.astype(jnp.bfloat16), tree)
    y16 = nnx.merge(graph, half(params), rest)(xs.astype(jnp.bfloat16), carry=half(layer.initial_carry(4)))[1]
    assert y16.dtype == jnp.bfloat16
    assert float(jnp.abs(y16.astype(jnp.float32) - y32).max()) < 0.03 * float(jnp.abs(y32).max())
    with pytest.raises(ValueError, match="must hold floating-point numbers, got dtype int32"):
        layer(jnp.ones((4, 30, 8), jnp.int32))
