"""rnnbook.linear_rnn and Chapter 8's tasks (data.selective_copy, parity, mqar): the package's own checks.

The PyTorch peers are in tests/test_linear_rnn_peers.py. Here: every way of computing each model family
(parallel scan, ``lax.scan``, the Python loop, the log-space scan, S4D's convolution, the attention
forms) gives the same values and the same gradients with respect to inputs and parameters; the
properties the chapter rests on (``combine`` is associative, the log form survives a product of gates
that underflows, a signed decay flips a sign, S4D's convolution is its recurrence, the LRU's
eigenvalues lie on their ring, a time-invariant SSM is a causal convolution, the stabilisers keep
exponential gates finite and change nothing); ``SequenceModel`` with every mixer; and the tasks' targets.

Shapes are tiny and the computations are jitted (eager dispatch of the parallel scan's many small
operations costs seconds a call on a CPU); tolerances are float32's.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnnbook import data
from rnnbook import linear_rnn as lr
from rnnbook.cells import scan_cell

BATCH, TIME, INPUT, HIDDEN = 2, 6, 3, 4
TOL = dict(rtol=1e-5, atol=1e-5)
GRAD_TOL = dict(rtol=1e-4, atol=1e-5)
KEY = jax.random.key(0)

# the functions under test, compiled (the same numerics as eagerly; tests/test_bad_inputs.py calls them eagerly)
linear_scan = jax.jit(lr.linear_scan, static_argnames="method")
log_linear_scan = jax.jit(lr.log_linear_scan)
mingru = jax.jit(lr.mingru, static_argnames=("method", "signed"))
minlstm = jax.jit(lr.minlstm, static_argnames="method")
lru = jax.jit(lr.lru, static_argnames="method")
s4d = jax.jit(lr.s4d, static_argnames="method")
selective_ssm = jax.jit(lr.selective_ssm, static_argnames="method")
selective_scan = jax.jit(lr.selective_scan, static_argnames="method")
linear_attention = jax.jit(lr.linear_attention, static_argnames=("method", "feature_map"))
mlstm = jax.jit(lr.mlstm, static_argnames="method")


def normal(seed, *shape, scale=1.0):
    return scale * jax.random.normal(jax.random.key(seed), shape)


def close(a, b, tol=TOL, err_msg=""):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol, err_msg=err_msg)


def trees_close(a, b, tol=GRAD_TOL, err_msg=""):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        close(x, y, tol, err_msg)


# --------------------------------------------------------------------------------------------
# Every family, every method: values and gradients
# --------------------------------------------------------------------------------------------
def _projections(seed, n, d):
    return {f"W_{i}": normal(seed + i, INPUT, d, scale=0.5) for i in range(n)}


def _scan(p, x, method):
    return lr.linear_scan(p["a"], x, p["h0"], method=method)


def _attention(p, x, method):
    return lr.linear_attention(x @ p["W_0"], x @ p["W_1"], x @ p["W_2"], method=method)


def _mlstm(p, x, method):
    q, k, v, i_pre, f_pre = (x @ p[f"W_{i}"] for i in range(5))
    return lr.mlstm(q, k, v, i_pre[..., 0], f_pre[..., 0], method=method)


H0 = jnp.abs(normal(9, BATCH, HIDDEN)) + 0.1  # positive, so that method="log" takes it too

# name: (parameters, the model as f(params, x, method), the reference method, the other methods)
FAMILIES = {
    "linear_scan": (
        lambda: {"a": jax.nn.sigmoid(normal(1, BATCH, TIME, INPUT)), "h0": normal(2, BATCH, INPUT)},
        _scan,
        "loop",
        ("parallel", "sequential"),
    ),
    "mingru": (
        lambda: lr.init_mingru(KEY, INPUT, HIDDEN),
        lambda p, x, m: lr.mingru(p, x, H0, method=m),
        "loop",
        ("parallel", "sequential", "log"),
    ),
    "mingru_signed": (
        lambda: lr.init_mingru(KEY, INPUT, HIDDEN),
        lambda p, x, m: lr.mingru(p, x, -H0, method=m, signed=True),
        "loop",
        ("parallel", "sequential"),
    ),
    "minlstm": (
        lambda: lr.init_minlstm(KEY, INPUT, HIDDEN),
        lambda p, x, m: lr.minlstm(p, x, H0, method=m),
        "loop",
        ("parallel", "sequential", "log"),
    ),
    "lru": (
        lambda: lr.init_lru(KEY, INPUT, HIDDEN, r_min=0.5, r_max=0.99),
        lambda p, x, m: lr.lru(p, x, method=m),
        "loop",
        ("parallel", "sequential"),
    ),
    "s4d": (
        lambda: lr.init_s4d(KEY, INPUT, HIDDEN, dt_min=0.05, dt_max=0.5),
        lambda p, x, m: lr.s4d(p, x, method=m),
        "loop",
        ("parallel", "sequential", "convolution"),
    ),
    "selective_ssm": (
        lambda: lr.init_selective_ssm(KEY, INPUT, HIDDEN, dt_min=0.05, dt_max=0.5),
        lambda p, x, m: lr.selective_ssm(p, x, method=m),
        "loop",
        ("parallel", "sequential"),
    ),
    "lti_ssm": (
        lambda: lr.init_selective_ssm(KEY, INPUT, HIDDEN, selective=False, dt_min=0.05, dt_max=0.5),
        lambda p, x, m: lr.selective_ssm(p, x, method=m),
        "loop",
        ("parallel", "sequential"),
    ),
    "linear_attention": (lambda: _projections(20, 3, 4), _attention, "recurrent", ("parallel",)),
    "mlstm": (lambda: _projections(30, 5, 4), _mlstm, "recurrent", ("parallel",)),
}


@functools.partial(jax.jit, static_argnums=(0, 1))
def outputs_and_gradients(f, method, params, xs, weights):
    """``f(params, xs, method)`` and the gradient of ``sum(f * weights)`` with respect to params and xs,
    compiled (eager dispatch of the parallel scan's many small operations costs seconds a call)."""
    out, vjp = jax.vjp(lambda p, x: f(p, x, method), params, xs)
    return out, vjp(weights)


@functools.cache
def reference(family):
    """A family's parameters, inputs, output weights, and its reference method's outputs and gradients."""
    make, f, method, _ = FAMILIES[family]
    params, xs = make(), normal(3, BATCH, TIME, INPUT)
    weights = normal(4, *jax.eval_shape(lambda p, x: f(p, x, method), params, xs).shape)  # weighs each output
    return params, xs, weights, outputs_and_gradients(f, method, params, xs, weights)


PAIRS = [(family, method) for family, (_, _, _, methods) in FAMILIES.items() for method in methods]


@pytest.mark.parametrize(("family", "method"), PAIRS, ids=[f"{f}-{m}" for f, m in PAIRS])
def test_every_method_gives_the_reference_values_and_gradients(family, method):
    params, xs, weights, (out, grads) = reference(family)
    assert out.shape[:2] == (BATCH, TIME) and bool(jnp.all(jnp.isfinite(out)))
    assert all(bool(jnp.any(g != 0)) for g in jax.tree_util.tree_leaves(grads))  # every gradient is exercised
    out_m, grads_m = outputs_and_gradients(FAMILIES[family][1], method, params, xs, weights)
    close(out_m, out)
    trees_close(grads_m, grads)


def test_loop_method_is_the_recurrence_written_out():
    """The reference of the test above is the definition h_t = a_t h_{t-1} + b_t, also for complex values."""
    a = jax.nn.sigmoid(normal(1, BATCH, TIME, INPUT)) * jnp.exp(1j * normal(2, BATCH, TIME, INPUT))
    b = normal(3, BATCH, TIME, INPUT) + 1j * normal(4, BATCH, TIME, INPUT)
    h0 = normal(5, BATCH, INPUT) + 1j * normal(6, BATCH, INPUT)
    h, want = h0, []
    for t in range(TIME):
        h = a[:, t] * h + b[:, t]
        want.append(h)
    want = jnp.stack(want, axis=1)
    got = jax.jit(lambda a, b, h0: [lr.linear_scan(a, b, h0, method=m) for m in lr.SCAN_METHODS])(a, b, h0)
    for method, h in zip(lr.SCAN_METHODS, got):
        assert h.shape == (BATCH, TIME, INPUT) and h.dtype == jnp.complex64
        close(h, want, err_msg=method)


def test_h0_is_a_first_step_with_b_equal_to_h0():
    """Starting from h0 is prepending one step (any a, b = h0) to a sequence started from zero."""
    a, b, h0 = jax.nn.sigmoid(normal(1, BATCH, TIME, 2, 3)), normal(2, BATCH, TIME, 2, 3), normal(3, BATCH, 2, 3)
    longer = linear_scan(jnp.concatenate([a[:, :1], a], 1), jnp.concatenate([h0[:, None], b], 1))
    close(linear_scan(a, b, h0), longer[:, 1:])
    close(linear_scan(a, b), linear_scan(a, b, jnp.zeros_like(h0)))


@pytest.mark.smoke
def test_combine_is_associative():
    x, y, z = [(jax.nn.sigmoid(normal(s, 3, 4)), normal(s + 10, 3, 4)) for s in (1, 2, 3)]
    left = lr.combine(lr.combine(x, y), z)
    right = lr.combine(x, lr.combine(y, z))
    for u, v in zip(left, right):
        close(u, v)
    # and (a, b) is the step h -> a h + b: composing is applying one after the other
    h = normal(4, 3, 4)
    a, b = lr.combine(x, y)
    close(a * h + b, y[0] * (x[0] * h + x[1]) + y[1])


# --------------------------------------------------------------------------------------------
# The log-space scan
# --------------------------------------------------------------------------------------------
def test_log_linear_scan_equals_linear_scan_for_positive_values():
    a, b = jax.nn.sigmoid(normal(1, BATCH, TIME, INPUT)), jnp.exp(normal(2, BATCH, TIME, INPUT))
    h0 = jnp.exp(normal(3, BATCH, INPUT))
    close(log_linear_scan(jnp.log(a), jnp.log(b)), linear_scan(a, b))
    close(log_linear_scan(jnp.log(a), jnp.log(b), jnp.log(h0)), linear_scan(a, b, h0))


def test_log_form_survives_a_product_of_gates_that_underflows():
    """2000 gates of 0.5: their product 2^-2000 is 0 in float32 (XLA flushes it to exactly 0 after ~126
    steps), so the closed form h_t = A_t sum_s b_s / A_s with A_t = prod a is 0 * inf = NaN. The log
    form adds log-gates instead (a* = -1386, finite) and stays finite. (The associative scan never
    divides by the product, so it is exact here: h_t -> 2.) The log form's price: its error is about one
    float32 ulp of |a*| ~ 1.2e-4, relative, which is what the tolerance below allows."""
    time = 2000
    a, b = jnp.full((1, time, 2), 0.5), jnp.ones((1, time, 2))
    product = jnp.cumprod(a, axis=1)
    assert float(product[0, -1, 0]) == 0.0 and float(product[0, 200, 0]) == 0.0
    assert float(jax.jit(lambda a, b: jax.lax.associative_scan(lr.combine, (a, b), axis=1))(a, b)[0][0, -1, 0]) == 0.0
    closed_form = product * jnp.cumsum(b / product, axis=1)
    assert not bool(jnp.all(jnp.isfinite(closed_form)))
    log_a_star = jnp.cumsum(jnp.log(a), axis=1)
    assert bool(jnp.all(jnp.isfinite(log_a_star))) and float(log_a_star[0, -1, 0]) == pytest.approx(-2000 * np.log(2))

    exact = 2.0 * (1.0 - 0.5 ** np.arange(1, time + 1))  # h_t = sum_{s<=t} 0.5^(t-s)
    h_log = log_linear_scan(jnp.log(a), jnp.log(b))
    assert bool(jnp.all(jnp.isfinite(h_log)))
    np.testing.assert_allclose(np.asarray(h_log[0, :, 0]), exact, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(linear_scan(a, b)[0, :, 0]), exact, rtol=1e-6)


def test_mingru_log_method_survives_near_one_update_gates_over_a_long_sequence():
    params = lr.init_mingru(KEY, INPUT, HIDDEN)
    xs = normal(1, 1, 512, INPUT, scale=3.0)
    h_log, h = mingru(params, xs, method="log"), mingru(params, xs)
    assert bool(jnp.all(jnp.isfinite(h_log)))
    close(h_log, h, dict(rtol=1e-3, atol=1e-4))


# --------------------------------------------------------------------------------------------
# minGRU and minLSTM
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("cell", "whole"), [(lr.MINGRU, mingru), (lr.MINLSTM, minlstm)], ids=["mingru", "minlstm"])
def test_cell_under_scan_cell_equals_the_whole_sequence_form(cell, whole):
    params = cell.init(KEY, INPUT, HIDDEN)
    xs = normal(1, BATCH, TIME, INPUT)
    carry, ys = scan_cell(cell, params, xs, cell.initial_carry(BATCH, HIDDEN))
    close(ys, whole(params, xs))
    close(carry, ys[:, -1])
    _, ys0 = scan_cell(cell, params, xs, H0)
    for method in ("parallel", "log"):
        close(ys0, whole(params, xs, H0, method=method))


def _decays(params, xs, signed):
    """The decays a_t of mingru read from its outputs alone: h is affine in h0, h_t = (a_1...a_t) h0 + c_t."""
    ones, zeros = jnp.ones((xs.shape[0], HIDDEN)), jnp.zeros((xs.shape[0], HIDDEN))
    products = mingru(params, xs, ones, signed=signed) - mingru(params, xs, zeros, signed=signed)
    return products / jnp.concatenate([ones[:, None], products[:, :-1]], axis=1)


def test_signed_mingru_decays_lie_in_minus_one_one_and_flip_signs():
    params = lr.init_mingru(KEY, INPUT, HIDDEN)
    xs = normal(1, BATCH, 4, INPUT, scale=2.0)
    unsigned, signed = _decays(params, xs, False), _decays(params, xs, True)
    z = jax.nn.sigmoid(jnp.split(xs @ params["W_x"] + params["b"], 2, axis=-1)[1])
    close(unsigned, 1 - z, dict(rtol=1e-3, atol=1e-4))
    close(signed, 1 - 2 * z, dict(rtol=1e-3, atol=1e-4))
    assert bool(jnp.all((unsigned > 0) & (unsigned < 1)))
    assert bool(jnp.all((signed > -1) & (signed < 1))) and bool(jnp.any(signed < 0))

    # update gate near 1 and a candidate near 0: the state flips its sign at every step
    flip = {"W_x": jnp.zeros_like(params["W_x"]), "b": jnp.repeat(jnp.array([-30.0, 4.0]), HIDDEN)}  # z = sigmoid(4)
    ones, still = jnp.ones((BATCH, HIDDEN)), jnp.zeros_like(xs)
    h = mingru(flip, still, ones, signed=True)
    assert bool(jnp.all(jnp.sign(h) == jnp.array([-1.0, 1.0, -1.0, 1.0])[None, :, None]))
    assert bool(jnp.all(mingru(flip, still, ones) > 0))


def test_g_is_positive_continuous_and_log_g_is_its_log():
    x = jnp.linspace(-40.0, 40.0, 801)
    assert bool(jnp.all(lr.g(x) > 0))
    close(lr.g(jnp.array([-1e-6, 0.0, 1e-6])), jnp.full(3, 0.5))
    close(lr.log_g(x), jnp.log(lr.g(x)))
    assert float(lr.log_g(jnp.array(-200.0))) == pytest.approx(-200.0)  # where g itself is 0 in float32


# --------------------------------------------------------------------------------------------
# LRU and S4D
# --------------------------------------------------------------------------------------------
def test_lru_eigenvalues_lie_on_their_ring_with_bounded_phase():
    draws = [
        lr.init_lru(k, INPUT, HIDDEN, r_min=0.4, r_max=0.9, max_phase=np.pi / 5) for k in jax.random.split(KEY, 32)
    ]
    lam = np.concatenate([np.asarray(lr.lru_eigenvalues(p)) for p in draws])
    radius, phase = np.abs(lam), np.angle(lam)
    assert lam.shape == (32 * HIDDEN,) and np.all(radius >= 0.4 - 1e-6) and np.all(radius <= 0.9 + 1e-6)
    assert radius.min() < 0.5 and radius.max() > 0.8  # spread over the ring, not one radius
    assert np.all(phase >= 0) and np.all(phase <= np.pi / 5 + 1e-6)


def test_lru_normaliser_and_skip():
    params = lr.init_lru(KEY, INPUT, HIDDEN, r_min=0.5)
    lam = lr.lru_eigenvalues(params)
    close(jnp.exp(params["gamma_log"]), jnp.sqrt(1 - jnp.abs(lam) ** 2))
    u = normal(1, BATCH, TIME, INPUT)
    no_b = {**params, "B_re": jnp.zeros_like(params["B_re"]), "B_im": jnp.zeros_like(params["B_im"])}
    close(lru(no_b, u), params["D"] * u)  # without B the state stays 0: y = D u


def test_s4d_kernel_is_the_impulse_response_of_the_recurrence():
    """The convolution and the loop give K (+ D at lag 0) for an impulse; the other methods equal these
    on any input (test_every_method_gives_the_reference_values_and_gradients)."""
    params = FAMILIES["s4d"][0]()
    K = lr.s4d_kernel(params, TIME)
    A_bar, B_bar = lr.s4d_discretize(params)
    C = params["C_re"] + 1j * params["C_im"]
    assert K.shape == (INPUT, TIME)
    close(K[:, 0], 2 * jnp.sum(C * B_bar, axis=-1).real)
    close(K[:, 5], 2 * jnp.sum(C * B_bar * A_bar**5, axis=-1).real)
    impulse = jnp.zeros((BATCH, TIME, INPUT)).at[:, 0].set(1.0)
    want = K.T + jnp.zeros((TIME, INPUT)).at[0].set(params["D"])
    for method in ("convolution", "loop"):
        close(s4d(params, impulse, method=method)[0], want, err_msg=method)


def test_s4d_discretisation_is_zero_order_hold():
    params = lr.init_s4d(KEY, INPUT, 4)
    A_bar, B_bar = lr.s4d_discretize(params)
    A = -jnp.exp(params["A_log_re"]) + 1j * params["A_im"]
    dt = jnp.exp(params["log_dt"])[:, None]
    close(A_bar, jnp.exp(dt * A))
    assert bool(jnp.all(jnp.abs(A_bar) < 1))  # stable: Re A < 0
    close(B_bar, (A_bar - 1) / A)


# --------------------------------------------------------------------------------------------
# Selective SSM
# --------------------------------------------------------------------------------------------
def _impulse_response(params, time):
    return selective_ssm(params, jnp.zeros((1, time, INPUT)).at[0, 0].set(1.0))[0]  # [time, channels]


def test_time_invariant_ssm_is_a_causal_convolution():
    params = lr.init_selective_ssm(KEY, INPUT, HIDDEN, selective=False, dt_min=0.05, dt_max=0.5)
    x = normal(1, BATCH, TIME, INPUT)
    y = selective_ssm(params, x)
    K = _impulse_response(params, TIME)  # channels are independent: one impulse probes them all
    conv = jnp.stack([sum(K[k] * x[:, t - k] for k in range(t + 1)) for t in range(TIME)], axis=1)
    close(y, conv)
    shifted = selective_ssm(params, jnp.pad(x, ((0, 0), (1, 0), (0, 0)))[:, :TIME])
    close(shifted[:, 1:], y[:, :-1])
    close(shifted[:, 0], jnp.zeros((BATCH, INPUT)))


def test_selective_ssm_is_not_a_convolution():
    """With step and projections read from the input, the response to an impulse says nothing about the
    response to a sum (the model is not linear): the time-invariant ablation's superposition fails."""
    params = lr.init_selective_ssm(KEY, INPUT, HIDDEN, dt_min=0.05, dt_max=0.5)
    x1, x2 = normal(1, BATCH, TIME, INPUT), normal(2, BATCH, TIME, INPUT)
    gap = jnp.abs(selective_ssm(params, x1 + x2) - selective_ssm(params, x1) - selective_ssm(params, x2))
    assert float(gap.max()) > 1e-2
    lti = lr.init_selective_ssm(KEY, INPUT, HIDDEN, selective=False)
    close(selective_ssm(lti, x1 + x2), selective_ssm(lti, x1) + selective_ssm(lti, x2))


def test_selective_scan_is_its_equations_written_out():
    x, delta = normal(1, BATCH, TIME, INPUT), jax.nn.softplus(normal(2, BATCH, TIME, INPUT))
    A, B, C, D = (
        -jnp.exp(normal(3, INPUT, HIDDEN)),
        normal(4, BATCH, TIME, HIDDEN),
        normal(5, BATCH, TIME, HIDDEN),
        normal(6, INPUT),
    )
    h, want = jnp.zeros((BATCH, INPUT, HIDDEN)), []
    for t in range(TIME):
        h = jnp.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * x[:, t])[:, :, None] * B[:, t, None, :]
        want.append(jnp.einsum("bcn,bn->bc", h, C[:, t]) + D * x[:, t])
    close(selective_scan(x, delta, A, B, C, D), jnp.stack(want, axis=1))


# --------------------------------------------------------------------------------------------
# Linear attention and the xLSTM
# --------------------------------------------------------------------------------------------
def test_linear_attention_is_causal_attention_with_a_feature_map():
    q, k, v = normal(1, BATCH, TIME, 3), normal(2, BATCH, TIME, 3), normal(3, BATCH, TIME, 5)
    fq, fk = lr.elu_plus_one(q), lr.elu_plus_one(k)
    assert bool(jnp.all(fq > 0))
    for t in (0, 3, TIME - 1):
        w = jnp.einsum("bd,bsd->bs", fq[:, t], fk[:, : t + 1])
        want = jnp.einsum("bs,bse->be", w, v[:, : t + 1]) / (w.sum(-1, keepdims=True) + 1e-6)
        for method in ("parallel", "recurrent"):
            close(linear_attention(q, k, v, method=method)[:, t], want)
    square = lambda x: x**2 + 1.0  # another feature map
    close(
        linear_attention(q, k, v, feature_map=square), linear_attention(q, k, v, method="recurrent", feature_map=square)
    )


def _mlstm_float64(q, k, v, i_pre, f_pre):
    """The mLSTM's equations, unstabilised, in float64 NumPy: exp(i_pre) of 50 or 60 is finite there."""
    q, k, v, i_pre, f_pre = (np.asarray(a, np.float64) for a in (q, k, v, i_pre, f_pre))
    batch, time, d = q.shape
    k = k / np.sqrt(d)
    C, n, hs = np.zeros((batch, d, v.shape[-1])), np.zeros((batch, d)), []
    for t in range(time):
        i, f = np.exp(i_pre[:, t])[:, None], (1 / (1 + np.exp(-f_pre[:, t])))[:, None]
        C = f[..., None] * C + i[..., None] * k[:, t, :, None] * v[:, t, None, :]
        n = f * n + i * k[:, t]
        den = np.maximum(np.abs(np.sum(n * q[:, t], -1, keepdims=True)), 1.0)
        hs.append(np.einsum("bd,bde->be", q[:, t], C) / den)
    return np.stack(hs, axis=1)


def _qkv(positive):
    q, k, v = normal(1, BATCH, TIME, 4), normal(2, BATCH, TIME, 4), normal(3, BATCH, TIME, 4)
    return (jnp.abs(q), jnp.abs(k), v) if positive else (q, k, v)


@pytest.mark.parametrize(("shift", "positive"), [(0.0, False), (0.0, True), (50.0, True), (60.0, True)])
def test_mlstm_parallel_equals_recurrent_and_the_equations_also_for_large_input_gates(shift, positive):
    """For large input gates the bound max(|n^T q|, 1) never applies and h = C q / |n^T q|: with q and k of
    random signs n^T q can nearly cancel and float32 loses digits in both forms alike (the problem's
    conditioning, not the stabiliser's), so those cases take positive q and k, where n^T q is a sum of
    positive terms and h a weighted mean of the v's."""
    q, k, v = _qkv(positive)
    i_pre, f_pre = shift + normal(4, BATCH, TIME, scale=2.0), normal(5, BATCH, TIME, scale=2.0)
    if shift:
        assert not bool(jnp.all(jnp.isfinite(jnp.exp(i_pre) * jnp.exp(i_pre))))  # C's terms would overflow float32
    parallel, recurrent = mlstm(q, k, v, i_pre, f_pre), mlstm(q, k, v, i_pre, f_pre, method="recurrent")
    assert bool(jnp.all(jnp.isfinite(parallel))) and bool(jnp.all(jnp.isfinite(recurrent)))
    close(parallel, recurrent, dict(rtol=1e-4, atol=1e-5))
    close(parallel, _mlstm_float64(q, k, v, i_pre, f_pre), dict(rtol=1e-4, atol=1e-5))


def test_mlstm_stays_finite_for_huge_input_gates():
    q, k, v = _qkv(positive=True)
    i_pre, f_pre = 1000.0 + normal(4, BATCH, TIME), normal(5, BATCH, TIME)
    assert not bool(jnp.any(jnp.isfinite(jnp.exp(i_pre))))
    parallel, recurrent = mlstm(q, k, v, i_pre, f_pre), mlstm(q, k, v, i_pre, f_pre, method="recurrent")
    assert bool(jnp.all(jnp.isfinite(parallel))) and bool(jnp.all(jnp.isfinite(recurrent)))
    close(parallel, recurrent, dict(rtol=1e-4, atol=1e-4))


def _slstm_float64(params, xs):
    """The sLSTM's equations, unstabilised, in float64 NumPy."""
    p = {name: np.asarray(a, np.float64) for name, a in params.items()}
    xs = np.asarray(xs, np.float64)
    batch, hidden = xs.shape[0], p["W_h"].shape[0]
    h, c, n, hs = np.zeros((batch, hidden)), np.zeros((batch, hidden)), np.zeros((batch, hidden)), []
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    for t in range(xs.shape[1]):
        ipre, fpre, zpre, opre = np.split(xs[:, t] @ p["W_x"] + h @ p["W_h"] + p["b"], 4, axis=-1)
        c = sigmoid(fpre) * c + np.exp(ipre) * np.tanh(zpre)
        n = sigmoid(fpre) * n + np.exp(ipre)
        h = sigmoid(opre) * c / n
        hs.append(h)
    return np.stack(hs, axis=1)


@pytest.mark.parametrize("bias", [0.0, 60.0, 1000.0])
def test_slstm_cell_stays_finite_and_equals_its_equations_for_large_input_gates(bias):
    params = lr.SLSTM.init(KEY, INPUT, HIDDEN)
    params = {**params, "b": params["b"].at[:HIDDEN].add(bias)}  # the input gate's bias
    xs = normal(1, BATCH, TIME, INPUT)
    _, hs = scan_cell(lr.SLSTM, params, xs, lr.SLSTM.initial_carry(BATCH, HIDDEN))
    assert hs.shape == (BATCH, TIME, HIDDEN) and bool(jnp.all(jnp.isfinite(hs)))
    assert bool(jnp.all(jnp.abs(hs) <= 1))  # |c / n| <= 1: a weighted mean of tanh values
    if bias < 700:  # exp(1000) overflows float64 too
        close(hs, _slstm_float64(params, xs), dict(rtol=1e-4, atol=1e-5))


# --------------------------------------------------------------------------------------------
# SequenceModel
# --------------------------------------------------------------------------------------------
def _model(mixer, seed=0, tokens=True, **options):
    sizes = {"vocab_size": 7} if tokens else {"input_size": 5}
    options = {"num_layers": 1, "mlp": False, "state_size": 4, **options}
    return lr.SequenceModel(mixer, width=8, output_size=3, rngs=nnx.Rngs(seed), **sizes, **options)


@functools.cache
def built(mixer, tokens=True):
    """One model a mixer and input kind, shared by the tests below (building costs a second or so)."""
    return _model(mixer, tokens=tokens)


TOKENS = jax.random.randint(KEY, (BATCH, TIME), 0, 7)
REALS = normal(7, BATCH, TIME, 5)


@nnx.jit
def token_and_real_outputs(token_model, real_model, tokens, reals):
    return token_model(tokens), real_model(reals)


@pytest.mark.parametrize("mixer", lr.MIXERS)
def test_sequence_model_runs_every_mixer_causally_on_tokens_and_reals(mixer):
    """Output [batch, time, output_size], finite, and causal: changing steps t >= 3 changes no output before."""
    tokens = jnp.concatenate([TOKENS, TOKENS.at[:, 3:].set((TOKENS[:, 3:] + 1) % 7)])  # a batch and a changed copy
    reals = jnp.concatenate([REALS, REALS.at[:, 3:].multiply(-2.0)])
    for y in token_and_real_outputs(built(mixer), built(mixer, tokens=False), tokens, reals):
        assert y.shape == (2 * BATCH, TIME, 3) and bool(jnp.all(jnp.isfinite(y)))
        close(y[BATCH:, :3], y[:BATCH, :3])
        assert float(jnp.abs(y[BATCH:, 3:] - y[:BATCH, 3:]).max()) > 1e-4
    assert built(mixer).num_params() > 0


@pytest.mark.parametrize("mixer", ["mingru", "mingru_signed", "minlstm", "lru", "selective", "lti"])
def test_sequence_model_methods_give_the_same_outputs(mixer):
    """The same weights run with each scan method give the same outputs."""
    graphdefs = [nnx.graphdef(nnx.eval_shape(lambda m=m: _model(mixer, method=m))) for m in lr.SCAN_METHODS]
    state = nnx.state(built(mixer), nnx.Param)
    outputs = jax.jit(lambda state, x: [nnx.merge(g, state)(x) for g in graphdefs])(state, TOKENS)
    for method, y in zip(lr.SCAN_METHODS, outputs):
        close(y, outputs[0], err_msg=method)


def test_sequence_model_is_a_function_of_its_seed():
    again, other = _model("lru"), _model("lru", seed=1)
    leaves = lambda m: jax.tree_util.tree_leaves(nnx.state(m, nnx.Param))
    for x, y in zip(leaves(built("lru")), leaves(again)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(leaves(again), leaves(other)))
    y_again, y_built = token_and_real_outputs(again, built("lru"), TOKENS, TOKENS)  # the compiled call above
    np.testing.assert_array_equal(np.asarray(y_again), np.asarray(y_built))


def test_sequence_model_gradients_reach_every_parameter():
    graphdef, state = nnx.split(built("selective"), nnx.Param)
    loss = lambda state: jnp.mean(nnx.merge(graphdef, state)(TOKENS) ** 2)
    grads = jax.jit(jax.grad(loss))(state)
    leaves = jax.tree_util.tree_leaves(grads)
    assert len(leaves) == len(jax.tree_util.tree_leaves(state))
    assert all(bool(jnp.all(jnp.isfinite(g))) and bool(jnp.any(g != 0)) for g in leaves)


# --------------------------------------------------------------------------------------------
# The tasks
# --------------------------------------------------------------------------------------------
def test_selective_copy_targets_are_the_colours_in_order():
    batch, time, n_tokens, n_colors = 16, 12, 4, 5
    x, y, mask = data.selective_copy(KEY, batch, time, n_tokens, n_colors)
    assert x.shape == y.shape == mask.shape == (batch, time + n_tokens)
    assert x.dtype == y.dtype == jnp.int32
    x, y, mask = np.asarray(x), np.asarray(y), np.asarray(mask)
    np.testing.assert_array_equal(mask[:, :time], 0)
    np.testing.assert_array_equal(mask[:, time:], 1)
    np.testing.assert_array_equal(x[:, time:], n_colors + 1)  # the markers
    np.testing.assert_array_equal(y[:, :time], 0)
    assert x.min() >= 0 and x.max() <= n_colors + 1 and y.max() < n_colors
    for row in range(batch):
        body = x[row, :time]
        assert np.all(body <= n_colors)  # no marker among the tokens
        colours = body[body > 0]
        assert len(colours) == n_tokens  # n_tokens colours at distinct positions, noise elsewhere
        np.testing.assert_array_equal(y[row, time:], colours - 1)
    firsts = [int(np.flatnonzero(r[:time])[0]) for r in x]
    assert len(set(firsts)) > 1  # the positions vary between sequences


def test_parity_targets_are_the_running_sum_mod_two():
    x, y = data.parity(KEY, 8, 20)
    assert x.shape == y.shape == (8, 20)
    x, y = np.asarray(x), np.asarray(y)
    assert set(np.unique(x)) <= {0, 1} and 0.3 < x.mean() < 0.7
    np.testing.assert_array_equal(y, np.cumsum(x, axis=1) % 2)
    np.testing.assert_array_equal(y[:, 1:], (y[:, :-1] + x[:, 1:]) % 2)  # one bit of state, flipped by a 1


def test_mqar_answers_are_the_values_of_the_queried_keys():
    batch, n_pairs, n_queries, n_keys, n_values = 16, 5, 7, 8, 6
    x, y, mask = data.mqar(KEY, batch, n_pairs, n_queries, n_keys, n_values)
    length = 2 * n_pairs + n_queries
    assert x.shape == y.shape == mask.shape == (batch, length)
    x, y, mask = np.asarray(x), np.asarray(y), np.asarray(mask)
    np.testing.assert_array_equal(mask[:, : 2 * n_pairs], 0)
    np.testing.assert_array_equal(mask[:, 2 * n_pairs :], 1)
    np.testing.assert_array_equal(y[:, : 2 * n_pairs], 0)
    assert x.min() >= 0 and x.max() < n_keys + n_values
    for row in range(batch):
        keys, values = x[row, 0 : 2 * n_pairs : 2], x[row, 1 : 2 * n_pairs : 2]
        assert len(set(keys.tolist())) == n_pairs and keys.max() < n_keys  # distinct keys
        assert values.min() >= n_keys  # values have their own ids
        table = dict(zip(keys.tolist(), (values - n_keys).tolist()))
        queries = x[row, 2 * n_pairs :]
        assert all(q in table for q in queries.tolist())
        np.testing.assert_array_equal(y[row, 2 * n_pairs :], [table[q] for q in queries.tolist()])
    # n_keys == n_pairs: every key is used, once
    x, _, _ = data.mqar(KEY, 4, 6, 2, n_keys=6)
    np.testing.assert_array_equal(np.sort(np.asarray(x)[:, 0:12:2], axis=1), np.tile(np.arange(6), (4, 1)))


def test_mqar_paired_holds_the_same_pairs_and_queries_as_mqar():
    batch, n_pairs, n_queries, n_keys, n_values = 8, 5, 7, 8, 6
    tokens, y_tokens, mask_tokens = map(np.asarray, data.mqar(KEY, batch, n_pairs, n_queries, n_keys, n_values))
    x, y, mask = map(np.asarray, data.mqar_paired(KEY, batch, n_pairs, n_queries, n_keys, n_values))
    assert x.shape == (batch, n_pairs + n_queries, n_keys + n_values) and x.dtype == np.float32
    assert y.shape == mask.shape == (batch, n_pairs + n_queries)
    np.testing.assert_array_equal(x.sum(-1), np.r_[[2] * n_pairs, [1] * n_queries][None].repeat(batch, 0))
    np.testing.assert_array_equal(
        x[:, :, :n_keys].argmax(-1), np.c_[tokens[:, 0 : 2 * n_pairs : 2], tokens[:, 2 * n_pairs :]]
    )
    np.testing.assert_array_equal(x[:, :n_pairs, n_keys:].argmax(-1), tokens[:, 1 : 2 * n_pairs : 2] - n_keys)
    np.testing.assert_array_equal(x[:, n_pairs:, n_keys:], 0)  # a query carries no value
    np.testing.assert_array_equal(y, y_tokens[:, n_pairs:])  # the answers of mqar, at the queries
    np.testing.assert_array_equal(mask, mask_tokens[:, n_pairs:])


def test_tasks_are_functions_of_their_key_and_traceable():
    for make in (
        lambda k: data.selective_copy(k, 16, 12, 4, 5),
        lambda k: data.parity(k, 8, 20),
        lambda k: data.mqar(k, 16, 5, 7, 8, 6),
        lambda k: data.mqar_paired(k, 16, 5, 7, 8, 6),
    ):
        first, again, other = make(KEY), make(KEY), make(jax.random.key(1))
        for a, b in zip(first, again):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, other))
        traced = jax.eval_shape(make, KEY)  # runs under jit: no Python decision on a value
        assert [(t.shape, t.dtype) for t in traced] == [(a.shape, a.dtype) for a in first]
