"""rnnbook.losses: the mean squared error and the cross-entropy equal their definitions, computed here
in NumPy, and refuse targets of the wrong shape or type."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnbook import losses


@pytest.mark.smoke
def test_mse_is_the_mean_of_squared_errors():
    x = jax.random.normal(jax.random.key(0), (4, 3))
    y = jax.random.normal(jax.random.key(1), (4,))
    model = lambda inputs: inputs.sum(-1)
    expected = np.mean((np.asarray(x).sum(-1) - np.asarray(y)) ** 2)
    np.testing.assert_allclose(losses.mse(model, (x, y)), expected, rtol=1e-6)
    assert losses.mse(model, (x, model(x))) == 0.0
    grad = jax.grad(lambda scale: losses.mse(lambda inputs: scale * inputs.sum(-1), (x, y)))(1.0)
    np.testing.assert_allclose(grad, np.mean(2 * (np.asarray(x).sum(-1) - y) * np.asarray(x).sum(-1)), rtol=1e-5)


def test_mse_refuses_targets_that_would_broadcast():
    with pytest.raises(ValueError, match="shape of the predictions"):
        losses.mse(lambda inputs: inputs, (jnp.ones((4, 1)), jnp.ones(4)))


def test_cross_entropy_is_the_mean_negative_log_probability_of_the_labels():
    logits = jax.random.normal(jax.random.key(2), (3, 5, 7))
    labels = jax.random.randint(jax.random.key(3), (3, 5), 0, 7)
    lp = np.asarray(jax.nn.log_softmax(logits))
    expected = -np.mean(np.take_along_axis(lp, np.asarray(labels)[..., None], -1))
    np.testing.assert_allclose(losses.cross_entropy(lambda x: x, (logits, labels)), expected, rtol=1e-6)
    # Inside jit too (labels traced): the shape and dtype checks need no values.
    np.testing.assert_allclose(jax.jit(losses.cross_entropy, static_argnums=0)(lambda x: x, (logits, labels)), expected)


def test_cross_entropy_refuses_wrong_labels():
    logits = jnp.zeros((3, 5, 7))
    with pytest.raises(ValueError, match="labels must have shape"):
        losses.cross_entropy(lambda x: x, (logits, jnp.zeros((3, 5, 1), jnp.int32)))
    with pytest.raises(ValueError, match="integer"):
        losses.cross_entropy(lambda x: x, (logits, jnp.zeros((3, 5))))
