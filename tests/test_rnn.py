"""The Elman network of rnnbook.rnn against PyTorch, Flax, an unrolled loop and jax.grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnnbook import rnn

try:
    import torch  # the reference implementation, for the tests marked `torch` alone
except ModuleNotFoundError:
    torch = None  # those tests are skipped with a reason (tests/conftest.py); the others run

SHAPES = [(1, 1, 1, 1), (1, 5, 3, 4), (4, 1, 3, 4), (3, 9, 2, 7), (8, 20, 5, 16)]  # batch, time, in, hidden


def setup(shape, seed=0):
    batch, time, inp, hidden = shape
    kp, kx, kh = jax.random.split(jax.random.key(seed), 3)
    params = rnn.init_elman(kp, inp, hidden)
    xs = jax.random.normal(kx, (batch, time, inp))
    h0 = 0.5 * jax.random.normal(kh, (batch, hidden))
    return params, xs, h0


def torch_rnn(params):
    """A torch.nn.RNN with our weights (names: the table of rnnbook/cells.py; b = bias_ih + bias_hh)."""
    inp, hidden = params["W_x"].shape
    layer = torch.nn.RNN(inp, hidden, nonlinearity="tanh", batch_first=True)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.tensor(np.asarray(params["W_x"]).T))
        layer.weight_hh_l0.copy_(torch.tensor(np.asarray(params["W_h"]).T))
        layer.bias_ih_l0.copy_(torch.tensor(np.asarray(params["b"])))
        layer.bias_hh_l0.zero_()
    return layer


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.torch
def test_scan_equals_torch_rnn(shape):
    params, xs, h0 = setup(shape)
    h_last, hs = rnn.rnn_scan(params, xs, h0)
    out, h_n = torch_rnn(params)(torch.tensor(np.asarray(xs)), torch.tensor(np.asarray(h0))[None])
    np.testing.assert_allclose(hs, out.detach().numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(h_last, h_n[0].detach().numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.torch
def test_gradients_equal_torch_autograd():
    params, xs, h0 = setup((3, 9, 2, 7))
    targets = jax.random.normal(jax.random.key(9), (3, 9, 7))
    loss = lambda p: 0.5 * jnp.sum((rnn.rnn_scan(p, xs, h0)[1] - targets) ** 2)
    grads = jax.grad(loss)(params)
    layer = torch_rnn(params)
    out, _ = layer(torch.tensor(np.asarray(xs)), torch.tensor(np.asarray(h0))[None])
    (0.5 * ((out - torch.tensor(np.asarray(targets))) ** 2).sum()).backward()
    np.testing.assert_allclose(grads["W_x"], layer.weight_ih_l0.grad.numpy().T, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(grads["W_h"], layer.weight_hh_l0.grad.numpy().T, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(grads["b"], layer.bias_ih_l0.grad.numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.torch
def test_lengths_equal_torch_packed_sequence():
    params, xs, _ = setup((4, 9, 3, 6))
    lengths = jnp.array([9, 1, 5, 3])
    h_last, hs = rnn.rnn_scan(params, xs, lengths=lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.tensor(np.asarray(xs)), torch.tensor(np.asarray(lengths)), batch_first=True, enforce_sorted=False
    )
    out, h_n = torch_rnn(params)(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=9)
    np.testing.assert_allclose(hs, out.detach().numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(h_last, h_n[0].detach().numpy(), atol=1e-5, rtol=1e-5)


def test_scan_equals_flax_simple_cell():
    params, xs, h0 = setup((3, 6, 2, 5))
    cell = nnx.SimpleCell(2, 5, rngs=nnx.Rngs(0))  # h' = tanh(x W_i + b + h W_h)
    cell.dense_i.kernel[...] = params["W_x"]
    cell.dense_i.bias[...] = params["b"]
    cell.dense_h.kernel[...] = params["W_h"]
    layer = nnx.RNN(cell, return_carry=True)
    carry, out = layer(xs, initial_carry=h0)
    h_last, hs = rnn.rnn_scan(params, xs, h0)  # the same (carry, outputs) order as nnx.RNN
    np.testing.assert_allclose(hs, out, atol=1e-5)
    np.testing.assert_allclose(h_last, carry, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_scan_equals_unrolled_loop(shape):
    params, xs, h0 = setup(shape)
    h_last, hs = rnn.rnn_scan(params, xs, h0)
    h_loop, hs_loop = rnn.rnn_unrolled(params, xs, h0)
    np.testing.assert_allclose(hs, hs_loop, atol=1e-6)
    np.testing.assert_allclose(h_last, h_loop, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 7, 3, 5), (4, 30, 2, 8)])
def test_hand_bptt_equals_jax_grad(shape):
    params, xs, h0 = setup(shape)
    readout = rnn.init_readout(jax.random.key(5), shape[3], 2)
    targets = jax.random.normal(jax.random.key(6), shape[:2] + (2,))
    loss, grads, grads_out = rnn.bptt_grads(params, readout, xs, targets, h0)
    auto, auto_out = jax.grad(rnn.sequence_loss, argnums=(0, 1))(params, readout, xs, targets, h0)
    np.testing.assert_allclose(loss, rnn.sequence_loss(params, readout, xs, targets, h0), rtol=1e-6)
    for name in grads:
        np.testing.assert_allclose(grads[name], auto[name], atol=1e-5, rtol=1e-4)
    for name in grads_out:
        np.testing.assert_allclose(grads_out[name], auto_out[name], atol=1e-5, rtol=1e-4)


def test_hand_bptt_equals_finite_differences():
    params, xs, h0 = setup((2, 5, 2, 3))
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if jax.config.jax_enable_x64 else a, params)
    readout = rnn.init_readout(jax.random.key(5), 3, 1)
    targets = jax.random.normal(jax.random.key(6), (2, 5, 1))
    _, grads, _ = rnn.bptt_grads(params, readout, xs, targets, h0)
    eps = 1e-2
    for i, j in [(0, 0), (1, 2), (2, 1)]:
        bump = jnp.zeros_like(params["W_h"]).at[i, j].set(eps)
        up = rnn.sequence_loss({**params, "W_h": params["W_h"] + bump}, readout, xs, targets, h0)
        down = rnn.sequence_loss({**params, "W_h": params["W_h"] - bump}, readout, xs, targets, h0)
        np.testing.assert_allclose(grads["W_h"][i, j], (up - down) / (2 * eps), rtol=2e-2, atol=2e-3)


def enable_x64(on=True):
    """float64 within a block: ``jax.enable_x64`` (jax 0.8 on), ``jax.experimental.enable_x64`` before
    (Colab's jax 0.7.2, tests/colab_runtime.txt)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(on)
    from jax.experimental import enable_x64 as old

    return old(on)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 7, 3, 5), (3, 12, 2, 6), (1, 25, 4, 9)])
def test_rtrl_equals_jax_grad_of_the_bptt_loss(shape):
    """Forward-mode RTRL gives the gradient of reverse-mode BPTT, in float64 to rounding error."""
    with enable_x64(True):
        to64 = lambda tree: jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)
        params, xs, h0 = to64(setup(shape, seed=shape[1]))
        readout = to64(rnn.init_readout(jax.random.key(5), shape[3], 2))
        targets = jax.random.normal(jax.random.key(6), shape[:2] + (2,), jnp.float64)
        loss, grads, grads_out = rnn.rtrl_grads(params, readout, xs, targets, h0)
        auto, auto_out = jax.grad(rnn.sequence_loss, argnums=(0, 1))(params, readout, xs, targets, h0)
        assert grads["W_h"].dtype == jnp.float64
        np.testing.assert_allclose(loss, rnn.sequence_loss(params, readout, xs, targets, h0), rtol=1e-12)
        for name in auto:
            np.testing.assert_allclose(grads[name], auto[name], atol=1e-12, rtol=1e-10)
        for name in auto_out:
            np.testing.assert_allclose(grads_out[name], auto_out[name], atol=1e-12, rtol=1e-10)


def test_rtrl_in_float32_under_jit_equals_hand_bptt():
    params, xs, h0 = setup((4, 30, 2, 8))
    readout = rnn.init_readout(jax.random.key(5), 8, 3)
    targets = jax.random.normal(jax.random.key(6), (4, 30, 3))
    online = jax.jit(rnn.rtrl_grads)(params, readout, xs, targets, h0)
    hand = rnn.bptt_grads(params, readout, xs, targets, h0)
    for a, b in zip(jax.tree_util.tree_leaves(online), jax.tree_util.tree_leaves(hand)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.smoke
def test_padded_steps_change_nothing():
    params, xs, _ = setup((3, 8, 2, 4))
    lengths = jnp.array([8, 3, 5])
    h_last, hs = rnn.rnn_scan(params, xs, lengths=lengths)
    garbage = xs.at[1, 3:].set(100.0).at[2, 5:].set(-7.0)
    h_last_g, hs_g = rnn.rnn_scan(params, garbage, lengths=lengths)
    np.testing.assert_array_equal(hs, hs_g)
    np.testing.assert_array_equal(h_last, h_last_g)
    for b, n in enumerate([8, 3, 5]):
        h_alone, alone = rnn.rnn_scan(params, xs[b : b + 1, :n])
        np.testing.assert_allclose(hs[b, :n], alone[0], atol=1e-6)
        np.testing.assert_allclose(h_last[b], h_alone[0], atol=1e-6)
        assert np.all(np.asarray(hs[b, n:]) == 0)


@pytest.mark.slow  # compiles long scans: about 10 s cold, too long for `make unit`
def test_tbptt_with_full_horizon_is_bptt_and_short_horizon_cuts():
    params, xs, h0 = setup((2, 12, 3, 5))
    loss = lambda states: lambda p: jnp.sum(jnp.sin(states(p)))
    full = jax.jit(jax.grad(loss(lambda p: rnn.rnn_scan(p, xs, h0)[1])))(params)
    for k1, k2 in [(12, 12), (1, 12), (3, 12), (4, 20)]:  # jitted: one compilation each, not an op at a time
        cut = jax.jit(jax.grad(loss(lambda p, k1=k1, k2=k2: rnn.tbptt_states(p, xs, k1, k2, h0))))(params)
        for name in full:
            np.testing.assert_allclose(cut[name], full[name], atol=1e-5, rtol=1e-5)
    # Forward values never change; gradients do once k2 is short.
    np.testing.assert_allclose(rnn.tbptt_states(params, xs, 2, 4, h0), rnn.rnn_scan(params, xs, h0)[1], atol=1e-6)
    short = jax.jit(jax.grad(loss(lambda p: rnn.tbptt_states(p, xs, 2, 4, h0))))(params)
    assert not np.allclose(short["W_h"], full["W_h"], atol=1e-4)


@pytest.mark.parametrize("k1,k2", [(1, 3), (2, 4), (4, 4)])
def test_tbptt_gradient_horizon(k1, k2):
    params, xs, _ = setup((1, 8, 2, 4))
    # jac[t, s] = |d sum(h_t) / d x_s|, for all t and s at once
    jac = jax.jacrev(lambda x: rnn.tbptt_states(params, x, k1, k2)[0].sum(-1))(xs)  # [t, batch, s, in]
    jac = np.abs(np.asarray(jac[:, 0])).sum(-1)
    for t in range(8):
        reach = jac[t]
        block_end = (t // k1 + 1) * k1 - 1  # last step of t's block
        first = max(block_end - k2 + 1, 0)  # first step inside t's window
        assert np.all(reach[:first] == 0) and np.all(reach[t + 1 :] == 0)
        assert np.all(reach[first : t + 1] > 0)


def test_nnx_modules_match_functions():
    layer = rnn.ElmanRNN(3, 5, rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(1), (2, 4, 3))
    h_last, hs = layer(xs)
    np.testing.assert_array_equal(hs, rnn.rnn_scan(layer.params, xs)[1])
    np.testing.assert_array_equal(h_last, hs[:, -1])
    model = rnn.ElmanModel(3, 5, 2, output="last", rngs=nnx.Rngs(0))
    assert model(xs).shape == (2, 2)
    assert model(xs, lengths=jnp.array([4, 2])).shape == (2, 2)
    assert rnn.ElmanModel(3, 5, 2, rngs=nnx.Rngs(0))(xs).shape == (2, 4, 2)


def test_same_key_same_result():
    a = rnn.init_elman(jax.random.key(42), 3, 8)
    b = rnn.init_elman(jax.random.key(42), 3, 8)
    c = rnn.init_elman(jax.random.key(43), 3, 8)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["W_h"], c["W_h"])
    xs = jax.random.normal(jax.random.key(0), (2, 5, 3))
    np.testing.assert_array_equal(rnn.rnn_scan(a, xs)[1], rnn.rnn_scan(b, xs)[1])


# ----------------------------------------------------------------------------------------------
# Bad input: a ValueError that names the argument
# ----------------------------------------------------------------------------------------------
PARAMS = rnn.init_elman(jax.random.key(0), 3, 4)
XS = jnp.ones((2, 5, 3))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: rnn.rnn_scan(PARAMS, jnp.ones((5, 3))), r"xs must have shape \[batch, time, features\]"),
        (
            lambda: rnn.rnn_scan(PARAMS, jnp.ones((2, 5, 4))),
            "xs has 4 features per step but the layer expects input_size=3",
        ),
        (lambda: rnn.rnn_scan(PARAMS, jnp.ones((2, 0, 3))), "xs is an empty sequence"),
        (lambda: rnn.rnn_scan(PARAMS, jnp.ones((0, 5, 3))), "xs has an empty batch"),
        (lambda: rnn.rnn_scan(PARAMS, XS.at[0, 0, 0].set(jnp.nan)), "xs contains NaN"),
        (lambda: rnn.rnn_scan(PARAMS, XS, lengths=jnp.array([5, 0])), r"lengths must lie in \[1, time=5\]"),
        (lambda: rnn.rnn_scan(PARAMS, XS, lengths=jnp.array([6, 2])), r"lengths must lie in \[1, time=5\]"),
        (lambda: rnn.rnn_scan(PARAMS, XS, lengths=jnp.array([5, 2, 1])), r"lengths must have shape \[batch\]"),
        (lambda: rnn.rnn_scan(PARAMS, XS, lengths=jnp.array([5.0, 2.0])), "lengths must be integers"),
        (lambda: rnn.rnn_scan(PARAMS, XS, h0=jnp.zeros((2, 5))), r"h0 must have shape \[batch, hidden\]"),
        (lambda: rnn.tbptt_states(PARAMS, XS, 2, 1), "k2 .* must be >= k1"),
        (lambda: rnn.tbptt_states(PARAMS, XS, 2, 4), "multiple of k1=2"),
        (lambda: rnn.tbptt_states(PARAMS, XS, 0, 4), "k1 must be a positive integer"),
        (lambda: rnn.init_elman(jax.random.key(0), 0, 4), "input_size must be a positive integer"),
        (
            lambda: rnn.sequence_loss(PARAMS, rnn.init_readout(jax.random.key(0), 4, 2), XS, jnp.ones((2, 5, 3))),
            "targets must have shape",
        ),
        (lambda: rnn.ElmanModel(3, 4, 2, output="first", rngs=nnx.Rngs(0)), "output must be 'all' or 'last'"),
    ],
)
def test_bad_input_raises_named_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_lengths_accept_python_lists():
    _, hs = rnn.rnn_scan(PARAMS, XS, lengths=np.array([5, 2]))
    assert np.all(np.asarray(hs[1, 2:]) == 0)


def test_carry_gradients_equal_finite_differences_and_hand_bptt():
    params, xs, h0 = setup((2, 6, 3, 4))
    readout = rnn.init_readout(jax.random.key(5), 4, 2)
    targets = jax.random.normal(jax.random.key(6), (2, 6, 2))
    loss = lambda ys, final: 0.5 * jnp.sum((ys @ readout["W_hy"] + readout["b_y"] - targets) ** 2)
    grads = rnn.carry_gradients(rnn.ELMAN, params, xs, h0, loss)
    assert grads.shape == (2, 6, 4)

    # finite differences: nudge the state after step t, run the rest of the sequence
    def loss_after(t, delta):
        h_t, hs_head = rnn.rnn_scan(params, xs[:, : t + 1], h0)
        h_t = h_t + delta
        ys = [hs_head[:, :t], h_t[:, None]]
        if t + 1 < xs.shape[1]:
            ys.append(rnn.rnn_scan(params, xs[:, t + 1 :], h_t)[1])
        return loss(jnp.concatenate(ys, axis=1), None)

    eps = 1e-2
    for t, b, j in [(0, 0, 0), (2, 1, 3), (5, 0, 2)]:
        bump = jnp.zeros((2, 4)).at[b, j].set(eps)
        fd = (loss_after(t, bump) - loss_after(t, -bump)) / (2 * eps)
        np.testing.assert_allclose(grads[b, t, j], fd, rtol=2e-2, atol=2e-3)

    # and the hand BPTT's backward recursion: dL/dh_t = e_t W_hy^T + g_{t+1} W_h^T
    _, hs = rnn.rnn_scan(params, xs, h0)
    e = hs @ readout["W_hy"] + readout["b_y"] - targets
    g = jnp.zeros((2, 4))
    for t in reversed(range(6)):
        dh = e[:, t] @ readout["W_hy"].T + g @ params["W_h"].T
        np.testing.assert_allclose(grads[:, t], dh, atol=1e-5, rtol=1e-4)
        g = (1 - hs[:, t] ** 2) * dh
    norms = rnn.gradient_norms(grads)
    np.testing.assert_allclose(norms, jnp.sqrt(jnp.sum(grads**2, axis=(0, 2))), rtol=1e-6)


def test_carry_gradients_of_an_lstm_cover_h_and_c():
    from rnnbook import lstm

    p = lstm.init_lstm(jax.random.key(0), 2, 3)
    xs = jax.random.normal(jax.random.key(1), (1, 5, 2))
    carry0 = lstm.LSTM.initial_carry(1, 3)
    gh, gc = rnn.carry_gradients(lstm.LSTM, p, xs, carry0, lambda ys, final: jnp.sum(final[1]))
    # dL/dc_T = 1 at the last step; dL/dh_T = 0 there (the loss reads c_T only)
    np.testing.assert_allclose(gc[0, -1], 1.0)
    np.testing.assert_allclose(gh[0, -1], 0.0)


def test_gradient_norms_do_not_overflow_and_handle_zero_steps():
    grads = jnp.zeros((2, 3, 4)).at[:, 0].set(1e30).at[:, 1].set(3.0)  # squares of 1e30 overflow float32
    norms = np.asarray(rnn.gradient_norms(grads))
    assert np.all(np.isfinite(norms))
    np.testing.assert_allclose(norms, [1e30 * np.sqrt(8), 3.0 * np.sqrt(8), 0.0], rtol=1e-6)
