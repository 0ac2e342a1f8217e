"""The NTM: each addressing step against a hand computation, memory read/write, gradients, safety."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnbook import data, ntm


@pytest.mark.smoke
def test_content_weights_match_a_hand_computation_and_sum_to_one():
    rng = np.random.default_rng(0)
    memory, key, beta = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 3)), np.array([0.5, 4.0])
    w = np.asarray(
        ntm.content_weights(
            jnp.asarray(memory, jnp.float32), jnp.asarray(key, jnp.float32), jnp.asarray(beta, jnp.float32)
        )
    )
    for b in range(2):
        cos = np.array([key[b] @ m / (np.linalg.norm(key[b]) * np.linalg.norm(m)) for m in memory[b]])
        e = np.exp(beta[b] * cos)
        np.testing.assert_allclose(w[b], e / e.sum(), rtol=1e-5)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)


def test_content_addressing_finds_the_matching_row_as_beta_grows():
    memory = jnp.eye(4)[None] * 3.0  # four orthogonal rows
    key = jnp.array([[0.0, 0.0, 2.0, 0.0]])  # same direction as row 2
    for beta, least in [(1.0, 0.4), (50.0, 0.999)]:
        w = ntm.content_weights(memory, key, jnp.array([beta]))
        assert int(jnp.argmax(w)) == 2 and float(w[0, 2]) > least


def test_interpolation_gate():
    w_c, w_prev = jnp.array([[1.0, 0, 0]]), jnp.array([[0, 0, 1.0]])
    np.testing.assert_allclose(ntm.interpolate(w_c, w_prev, jnp.array([1.0])), w_c)
    np.testing.assert_allclose(ntm.interpolate(w_c, w_prev, jnp.array([0.0])), w_prev)
    np.testing.assert_allclose(ntm.interpolate(w_c, w_prev, jnp.array([0.25])), [[0.25, 0, 0.75]])


def test_shift_moves_a_one_hot_weighting_circularly():
    w = jnp.array([[0.0, 0, 0, 0, 1]])  # focus on the last slot
    plus, minus, stay = jnp.array([[0, 0, 1.0]]), jnp.array([[1.0, 0, 0]]), jnp.array([[0, 1.0, 0]])
    np.testing.assert_allclose(ntm.shift(w, plus), [[1, 0, 0, 0, 0]])  # +1 wraps to slot 0
    np.testing.assert_allclose(ntm.shift(w, minus), [[0, 0, 0, 1, 0]])
    np.testing.assert_allclose(ntm.shift(w, stay), w)
    # a general shift is the circular convolution w~_i = sum_j w_j s[(i - j) mod N] (offsets -1, 0, 1)
    rng = np.random.default_rng(1)
    w, s = rng.dirichlet(np.ones(6), 2), rng.dirichlet(np.ones(3), 2)
    out = np.asarray(ntm.shift(jnp.asarray(w, jnp.float32), jnp.asarray(s, jnp.float32)))
    for b in range(2):
        for i in range(6):
            expected = sum(
                w[b, j] * s[b, k] for j in range(6) for k, off in enumerate((-1, 0, 1)) if (i - j) % 6 == off % 6
            )
            np.testing.assert_allclose(out[b, i], expected, rtol=1e-5)


def test_sharpening():
    w = jnp.array([[0.1, 0.2, 0.7]])
    np.testing.assert_allclose(ntm.sharpen(w, jnp.array([1.0])), w, rtol=1e-6)  # gamma = 1: identity
    sharp = np.asarray(ntm.sharpen(w, jnp.array([3.0])))
    np.testing.assert_allclose(sharp, w**3 / np.sum(w**3), rtol=1e-5)
    assert sharp[0, 2] > 0.7 and abs(sharp.sum() - 1) < 1e-6


def test_sharpening_has_a_finite_gradient_where_every_power_underflows():
    """An even weighting over 32 slots raised to gamma = 21 (the largest a trained head can emit: 1 +
    softplus(20)) sums to about 1e-30; w^gamma / sum(w^gamma) computed as written has a NaN gradient
    there (the backward divides by the sum squared). The gradient must be finite and the value even."""
    w = jnp.full((2, 32), 1 / 32).at[1, 3].add(1e-3)
    gamma = jnp.array([21.0, 21.0])
    position = jnp.arange(32.0)
    grads = jax.grad(lambda w, g: (ntm.sharpen(w, g) * position).sum(), argnums=(0, 1))(w, gamma)
    assert all(np.all(np.isfinite(np.asarray(a))) for a in grads)
    np.testing.assert_allclose(ntm.sharpen(w, gamma)[0], 1 / 32, rtol=1e-5)
    # and the power form's value where it is representable: 0.2^21 / (0.2^21 + 0.8^21) etc.
    w = jnp.array([[0.2, 0.8], [0.5, 0.5]])
    expected = np.asarray(w, np.float64) ** 21 / np.sum(np.asarray(w, np.float64) ** 21, -1, keepdims=True)
    np.testing.assert_allclose(ntm.sharpen(w, jnp.array([21.0, 21.0])), expected, rtol=1e-5, atol=1e-30)


def test_erase_with_one_clears_exactly_that_row_and_write_then_read_returns_it():
    memory = jnp.arange(12.0).reshape(1, 4, 3) + 1
    w = jnp.array([[0.0, 1.0, 0.0, 0.0]])
    cleared = ntm.write(memory, w, erase=jnp.ones((1, 3)), add=jnp.zeros((1, 3)))
    np.testing.assert_allclose(cleared[0, 1], 0.0)
    np.testing.assert_allclose(np.delete(np.asarray(cleared[0]), 1, 0), np.delete(np.asarray(memory[0]), 1, 0))
    vector = jnp.array([[0.5, -2.0, 7.0]])
    written = ntm.write(memory, w, erase=jnp.ones((1, 3)), add=vector)
    np.testing.assert_allclose(ntm.read(written, w), vector)
    # a soft weighting reads the convex combination of the rows
    soft = jnp.array([[0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(ntm.read(memory, soft), 0.5 * (memory[:, 0] + memory[:, 1]))


def test_no_nan_on_zero_memory_or_zero_key():
    zeros = jnp.zeros((1, 4, 3))
    w = ntm.address(
        zeros,
        jnp.full((1, 4), 0.25),
        jnp.zeros((1, 3)),
        jnp.array([5.0]),
        jnp.array([1.0]),
        jnp.array([[0.0, 1.0, 0.0]]),
        jnp.array([2.0]),
    )
    assert np.all(np.isfinite(np.asarray(w))) and abs(float(w.sum()) - 1) < 1e-5
    grads = jax.grad(lambda k: ntm.content_weights(zeros, k, jnp.array([5.0]))[0, 0])(jnp.zeros((1, 3)))
    assert np.all(np.isfinite(np.asarray(grads)))


@pytest.mark.slow  # compiles long scans: about 10 s cold, too long for `make unit`
def test_machine_shapes_memory_size_free_and_gradients_reach_the_controller():
    params = ntm.init_ntm(jax.random.key(0), 5, 4, controller=16, width=6)
    x, y, mask = data.bit_copy(jax.random.key(1), 3, 1, 4, bits=4)
    for slots in (8, 20):  # the same parameters, any memory size
        state, (logits, w_read, w_write) = ntm.ntm_scan(params, x, slots=slots)
        assert logits.shape == (3, 9, 4) and w_read.shape == (3, 9, slots) and state["memory"].shape == (3, slots, 6)
        np.testing.assert_allclose(np.asarray(w_read).sum(-1), 1.0, rtol=1e-4)
        np.testing.assert_allclose(np.asarray(w_write).sum(-1), 1.0, rtol=1e-4)

    def loss(p):
        _, (logits, _, _) = ntm.ntm_scan(p, x, slots=8)
        return jnp.sum(jax.nn.softplus(-logits * (2 * y - 1)) * mask[..., None])

    grads = jax.grad(loss)(params)
    for name in ("W_x", "W_h", "b"):
        assert float(jnp.abs(grads["controller"][name]).max()) > 0, f"no gradient reached controller {name}"
    assert float(jnp.abs(grads["W_heads"]).max()) > 0
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(grads))


def test_ntm_scan_rejects_bad_input():
    params = ntm.init_ntm(jax.random.key(0), 5, 4, controller=8, width=4)
    with pytest.raises(ValueError, match="expects input_size=5"):
        ntm.ntm_scan(params, jnp.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="rank 3"):
        ntm.ntm_scan(params, jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match="empty sequence"):
        ntm.ntm_scan(params, jnp.zeros((2, 0, 5)))
    with pytest.raises(ValueError, match="NaN"):
        ntm.ntm_scan(params, jnp.full((1, 2, 5), jnp.nan))
    with pytest.raises(ValueError, match="slots"):
        ntm.ntm_scan(params, jnp.zeros((1, 2, 5)), slots=0)


@pytest.mark.smoke
def test_bit_copy_matches_its_definition():
    x, y, mask = map(np.asarray, data.bit_copy(jax.random.key(3), 16, 1, 6, bits=5))
    assert x.shape == (16, 13, 6) and y.shape == (16, 13, 5) and mask.shape == (16, 13)
    for b in range(16):
        L = int(np.flatnonzero(x[b, :, -1])[0])  # the delimiter's step
        assert 1 <= L <= 6 and x[b, :, -1].sum() == 1 and np.all(x[b, L:, :-1] == 0)
        np.testing.assert_array_equal(y[b, L + 1 : 2 * L + 1], x[b, :L, :-1])
        np.testing.assert_array_equal(mask[b], (np.arange(13) > L) & (np.arange(13) <= 2 * L))
        assert np.all(y[b, mask[b] == 0] == 0)
    with pytest.raises(ValueError, match="min_len"):
        data.bit_copy(jax.random.key(0), 2, 0, 3)


def test_bit_loss_and_bit_errors():
    y = jnp.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    mask = jnp.array([[0.0, 1.0, 1.0]])
    perfect = jnp.where(y > 0, 30.0, -30.0)
    assert float(ntm.bit_loss(perfect, y, mask)) < 1e-10 and float(ntm.bit_errors(perfect, y, mask)[0]) == 0
    logits = jnp.array([[[-5.0, 5.0], [5.0, 5.0], [-1.0, -1.0]]])  # step 0 all wrong but not asked
    assert float(ntm.bit_errors(logits, y, mask)[0]) == 3.0  # 1 wrong at step 1, 2 at step 2
    np.testing.assert_allclose(ntm.bit_loss(jnp.zeros_like(y), y, mask), 2 * np.log(2), rtol=1e-6)
