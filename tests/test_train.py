"""The shared training loop: it trains, it is deterministic, and it refuses bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from rnnbook import rnn, train


def linear_problem():
    w_true = jnp.array([[2.0], [-1.0]])
    x = jax.random.normal(jax.random.key(0), (64, 2))
    return x, x @ w_true


def mse_params(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] - y) ** 2)


@pytest.mark.smoke
def test_fit_pytree_learns_a_linear_map():
    data = linear_problem()
    params, hist = train.fit(
        {"w": jnp.zeros((2, 1))},
        mse_params,
        lambda k: data,
        key=jax.random.key(0),
        epochs=5,
        steps_per_epoch=100,
        learning_rate=0.05,
        progress=False,
    )
    np.testing.assert_allclose(params["w"], [[2.0], [-1.0]], atol=1e-2)
    assert hist.train_loss[-1] < 1e-3 < hist.train_loss[0]
    assert hist.step == [100, 200, 300, 400, 500]


def test_fit_nnx_module_and_validation_history():
    x = jax.random.normal(jax.random.key(1), (32, 6, 2))
    y = jnp.cumsum(x[..., :1], axis=1)  # a running sum: needs memory
    model = rnn.ElmanModel(2, 8, 1, rngs=nnx.Rngs(0))
    loss = lambda m, b: jnp.mean((m(b[0]) - b[1]) ** 2)
    before = float(loss(model, (x, y)))
    model, hist = train.fit(
        model,
        loss,
        train.minibatches((x, y), 8),
        key=jax.random.key(0),
        epochs=4,
        steps_per_epoch=50,
        learning_rate=1e-2,
        clip_norm=1.0,
        val_batch=(x, y),
        progress=False,
    )
    assert isinstance(model, rnn.ElmanModel)
    assert len(hist.val_loss) == 4 and hist.val_loss[-1] < 0.5 * before
    assert float(loss(model, (x, y))) == pytest.approx(hist.val_loss[-1], rel=1e-5)


def test_same_key_same_run_and_keep_best():
    data = linear_problem()
    runs = [
        train.fit(
            {"w": jnp.zeros((2, 1))},
            mse_params,
            train.minibatches(data, 8),
            key=jax.random.key(3),
            epochs=3,
            steps_per_epoch=20,
            learning_rate=0.05,
            val_batch=data,
            progress=False,
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0][0]["w"], runs[1][0]["w"])
    assert runs[0][1].train_loss == runs[1][1].train_loss
    # keep_best returns the parameters of the best validation epoch
    noisy = optax.sgd(0.9)  # too large a step: the loss oscillates, so the last epoch is not the best
    p, hist = train.fit(
        {"w": jnp.zeros((2, 1))},
        mse_params,
        lambda k: data,
        key=jax.random.key(0),
        epochs=6,
        steps_per_epoch=1,
        optimizer=noisy,
        val_batch=data,
        keep_best=True,
        progress=False,
    )
    assert float(mse_params(p, data)) == pytest.approx(min(hist.val_loss), rel=1e-5)


def test_target_loss_stops_after_the_first_epoch_below_it():
    data = linear_problem()
    full = train.fit(
        {"w": jnp.zeros((2, 1))},
        mse_params,
        lambda k: data,
        key=jax.random.key(0),
        epochs=20,
        steps_per_epoch=10,
        learning_rate=0.05,
        val_batch=data,
        progress=False,
    )[1]
    first_below = next(i for i, v in enumerate(full.val_loss) if v < 1e-2)
    assert 0 < first_below < 19
    params, hist = train.fit(
        {"w": jnp.zeros((2, 1))},
        mse_params,
        lambda k: data,
        key=jax.random.key(0),
        epochs=20,
        steps_per_epoch=10,
        learning_rate=0.05,
        val_batch=data,
        target_loss=1e-2,
        progress=False,
    )
    assert hist.val_loss == full.val_loss[: first_below + 1] and hist.step[-1] == 10 * (first_below + 1)
    assert float(mse_params(params, data)) < 1e-2


def test_nan_loss_stops_with_a_clear_error():
    data = linear_problem()
    with pytest.raises(FloatingPointError, match="epoch 1"):
        train.fit(
            {"w": jnp.zeros((2, 1))},
            lambda p, b: mse_params(p, b) * jnp.nan,
            lambda k: data,
            key=jax.random.key(0),
            epochs=2,
            steps_per_epoch=2,
            progress=False,
        )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 1, "steps_per_epoch": -1}, "steps_per_epoch must be a positive integer"),
        ({"epochs": 1, "clip_norm": 0.0}, "clip_norm must be positive"),
        ({"epochs": 1, "keep_best": True}, "keep_best=True needs a val_batch"),
        ({"epochs": 1, "target_loss": 0.1}, "target_loss needs a val_batch"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train.fit(
            {"w": jnp.zeros((2, 1))},
            mse_params,
            lambda k: linear_problem(),
            key=jax.random.key(0),
            progress=False,
            **kwargs,
        )


def test_minibatches_checks_and_draws():
    x, y = linear_problem()
    batch = train.minibatches((x, y), 5)(jax.random.key(0))
    assert batch[0].shape == (5, 2) and batch[1].shape == (5, 1)
    with pytest.raises(ValueError, match="same leading size"):
        train.minibatches((x, y[:3]), 5)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train.minibatches((x, y), 0)


def test_auroc_is_the_share_of_positive_negative_pairs_ranked_right():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.random(60) < 0.4
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert train.auroc(scores, labels) == pytest.approx(pairs, abs=1e-12)
    assert train.auroc(np.arange(4.0), np.array([False, False, True, True])) == 1.0
    assert train.auroc(-np.arange(4.0), np.array([False, False, True, True])) == 0.0
    assert train.auroc(np.zeros(4), np.array([False, False, True, True])) == 0.5
