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


def test_fit_seeds_equals_each_model_trained_alone_and_records_scores():
    """Stacked and vmapped, each model follows the run fit gives it alone: own gradient, own Adam state,
    own clipping (a clip of the summed gradient would tie the models together)."""
    x = jax.random.normal(jax.random.key(1), (16, 5, 2))
    batch = (x, jnp.cumsum(x[..., :1], axis=1))
    make = lambda key: rnn.ElmanModel(2, 6, 1, rngs=nnx.Rngs(key))
    loss = lambda m, b: jnp.mean((m(b[0]) - b[1]) ** 2)
    keys = jax.random.split(jax.random.key(3), 3)
    options = dict(epochs=3, steps_per_epoch=20, learning_rate=1e-2, clip_norm=0.05, progress=False)
    models, hist = train.fit_seeds(
        make, keys, loss, lambda k: batch, key=jax.random.key(0), evaluate=lambda m: loss(m, batch), **options
    )
    assert len(models) == 3 and all(isinstance(m, rnn.ElmanModel) for m in models)
    alone = [train.fit(make(k), loss, lambda k: batch, key=jax.random.key(0), **options) for k in keys]
    for model, (single, single_hist) in zip(models, alone):
        for a, b in zip(jax.tree.leaves(nnx.state(model, nnx.Param)), jax.tree.leaves(nnx.state(single, nnx.Param))):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    scores = np.stack(hist.scores)  # [epochs, models]
    assert scores.shape == (3, 3)
    np.testing.assert_allclose(scores[-1], [float(loss(m, batch)) for _, m in zip(range(3), models)], rtol=1e-4)
    np.testing.assert_allclose(hist.train_loss, np.mean([h.train_loss for _, h in alone], axis=0), rtol=1e-4)
    assert len(set(np.round(scores[-1], 6))) == 3  # three different models


def test_fit_seeds_one_by_one_equals_the_vmapped_run():
    """The loop over the models (``parallel=False``) and the default vmapped fit draw the same batches for
    each model (a stream of random batches, not a fixed one) and give the same models and history."""
    make = lambda key: rnn.ElmanModel(2, 6, 1, rngs=nnx.Rngs(key))
    loss = lambda m, b: jnp.mean((m(b[0]) - b[1]) ** 2)

    def batches(k):
        x = jax.random.normal(k, (8, 5, 2))
        return x, jnp.cumsum(x[..., :1], axis=1)

    check = batches(jax.random.key(9))
    options = dict(key=jax.random.key(0), epochs=3, steps_per_epoch=10, learning_rate=1e-2, clip_norm=0.5)
    options.update(evaluate=lambda m: loss(m, check), progress=False)
    keys = jax.random.split(jax.random.key(3), 3)
    loop, loop_hist = train.fit_seeds(make, keys, loss, batches, parallel=False, **options)
    stacked, stacked_hist = train.fit_seeds(make, keys, loss, batches, parallel=True, **options)
    for a, b in zip(loop, stacked):
        for x, y in zip(jax.tree.leaves(nnx.state(a, nnx.Param)), jax.tree.leaves(nnx.state(b, nnx.Param))):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
    assert loop_hist.step == stacked_hist.step == [10, 20, 30]
    np.testing.assert_allclose(loop_hist.train_loss, stacked_hist.train_loss, rtol=1e-4)
    np.testing.assert_allclose(np.stack(loop_hist.scores), np.stack(stacked_hist.scores), rtol=1e-4)


def test_fit_seeds_map_equals_the_vmapped_run():
    """``parallel="map"`` (the models one after another inside one program, each model's forward and
    backward pass back to back) gives the vmapped run's models and history: on a fused LSTM layer (whose
    backward pass is its own, jax.custom_vjp) with integer lengths in the batch (no gradient for them)."""
    from rnnbook.layers import Recurrent

    class Tagger(nnx.Module):
        def __init__(self, rngs):
            self.rnn = Recurrent("lstm", 2, 8, rngs=rngs)
            self.out = nnx.Linear(8, 1, rngs=rngs)

        def __call__(self, x, lengths):
            return self.out(self.rnn(x, lengths=lengths)[1])

    def batches(k):
        x = jax.random.normal(k, (8, 6, 2))
        return x, jnp.cumsum(x[..., :1], axis=1), jax.random.randint(k, (8,), 1, 7)

    loss = lambda m, b: jnp.mean((m(b[0], b[2]) - b[1]) ** 2)
    check = batches(jax.random.key(9))
    options = dict(key=jax.random.key(0), epochs=2, steps_per_epoch=10, learning_rate=1e-2, clip_norm=0.5)
    options.update(evaluate=lambda m: loss(m, check), progress=False)
    keys = jax.random.split(jax.random.key(3), 3)
    make = lambda key: Tagger(nnx.Rngs(key))
    stacked, stacked_hist = train.fit_seeds(make, keys, loss, batches, parallel=True, **options)
    mapped, mapped_hist = train.fit_seeds(make, keys, loss, batches, parallel="map", **options)
    for a, b in zip(stacked, mapped):
        for x, y in zip(jax.tree.leaves(nnx.state(a, nnx.Param)), jax.tree.leaves(nnx.state(b, nnx.Param))):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
    assert mapped_hist.step == stacked_hist.step == [10, 20]
    np.testing.assert_allclose(mapped_hist.train_loss, stacked_hist.train_loss, rtol=1e-4)
    np.testing.assert_allclose(np.stack(mapped_hist.scores), np.stack(stacked_hist.scores), rtol=1e-4)
    assert len({round(float(s), 6) for s in mapped_hist.scores[-1]}) == 3  # three different models


def test_fit_seeds_rejects_an_unknown_parallel_mode():
    make = lambda key: {"w": jnp.zeros(2)}
    with pytest.raises(ValueError, match="`parallel` must be True, False or 'map'"):
        train.fit_seeds(make, jax.random.split(jax.random.key(0), 2), mse_params, lambda k: linear_problem(),
                        key=jax.random.key(1), epochs=1, parallel="vmap")  # fmt: skip


def test_fit_seeds_draws_each_models_batches_from_its_own_key():
    # A pytree model whose loss is the batch itself: each model sees a different stream of batches.
    seen = lambda p, batch: jnp.sum(p["w"] * batch)
    models, _ = train.fit_seeds(
        lambda key: {"w": jnp.zeros(3)},
        jax.random.split(jax.random.key(0), 2),
        seen,
        lambda k: jax.random.normal(k, (3,)),
        key=jax.random.key(1),
        epochs=1,
        steps_per_epoch=5,
        optimizer=optax.sgd(1.0),
        progress=False,
    )
    assert not np.allclose(models[0]["w"], models[1]["w"])


class Scaled(nnx.Module):
    """A linear map times a constant that is state but not a parameter (nnx.Variable)."""

    def __init__(self, scale, rngs):
        self.linear = nnx.Linear(2, 1, rngs=rngs)
        self.scale = nnx.Variable(jnp.asarray(scale))

    def __call__(self, x):
        return self.linear(x) * self.scale[...]


def test_fit_compiles_once_for_repeated_runs_and_never_bakes_in_the_state():
    traces = []

    def loss(model, batch):
        traces.append(1)  # runs when JAX traces the loss, not at every step
        x, y = batch
        return jnp.mean((model(x) - y) ** 2)

    data = linear_problem()
    batches = lambda k: data
    options = dict(key=jax.random.key(0), epochs=2, steps_per_epoch=10, learning_rate=0.05, progress=False)
    first, _ = train.fit(Scaled(1.0, nnx.Rngs(0)), loss, batches, **options)
    traced = len(traces)
    second, _ = train.fit(Scaled(3.0, nnx.Rngs(1)), loss, batches, **options)
    assert len(traces) == traced, "the second run of the same setting traced (and compiled) again"
    # Not a stale program: the second run equals the same run with fresh functions (nothing reused).
    fresh, _ = train.fit(Scaled(3.0, nnx.Rngs(1)), lambda m, b: loss(m, b), lambda k: data, **options)
    assert len(traces) > traced
    np.testing.assert_allclose(second.linear.kernel[...], fresh.linear.kernel[...], rtol=1e-6)
    assert not np.allclose(second.linear.kernel[...], first.linear.kernel[...])


@pytest.mark.parametrize("parallel", [True, "map"])
def test_fit_seeds_gives_each_model_exactly_its_own_gradient(parallel):
    # Plain SGD shows the scale of the gradient (Adam and clipping would hide a factor): one step of
    # fit_seeds moves each model by learning rate x its own gradient.
    batch = linear_problem()
    keys = jax.random.split(jax.random.key(0), 2)
    make = lambda key: {"w": jax.random.normal(key, (2, 1))}
    models, hist = train.fit_seeds(
        make,
        keys,
        mse_params,
        lambda k: batch,
        key=jax.random.key(1),
        epochs=1,
        steps_per_epoch=1,
        optimizer=optax.sgd(0.1),
        progress=False,
        parallel=parallel,
    )
    for key, model in zip(keys, models):
        p = make(key)
        np.testing.assert_allclose(model["w"], p["w"] - 0.1 * jax.grad(mse_params)(p, batch)["w"], rtol=1e-5)
    np.testing.assert_allclose(hist.train_loss[0], np.mean([mse_params(make(k), batch) for k in keys]), rtol=1e-5)


def test_fit_evaluate_scores_the_model_after_every_epoch():
    data = linear_problem()
    loss = lambda m, b: jnp.mean((m(b[0]) - b[1]) ** 2)
    model, hist = train.fit(
        Scaled(1.0, nnx.Rngs(0)),
        loss,
        lambda k: data,
        key=jax.random.key(0),
        epochs=3,
        steps_per_epoch=10,
        learning_rate=0.05,
        evaluate=lambda m: loss(m, data),
        progress=False,
    )
    assert len(hist.scores) == 3 and hist.scores[0] > hist.scores[-1]
    np.testing.assert_allclose(hist.scores[-1], float(loss(model, data)), rtol=1e-5)


def test_fit_seeds_target_score_stops_when_every_model_is_there_and_counts_each_ones_steps():
    """Three learning rates (one per model, through the initial scale) reach the target at different
    epochs: the run stops at the slowest one's, and steps_to gives each model's own first epoch below it."""
    data = linear_problem()
    make = lambda key: {"w": jax.random.normal(key, (2, 1))}
    keys = jax.random.split(jax.random.key(7), 3)
    evaluate = lambda p: mse_params(p, data)
    options = dict(key=jax.random.key(0), steps_per_epoch=5, learning_rate=0.05, evaluate=evaluate, progress=False)
    _, full = train.fit_seeds(make, keys, mse_params, lambda k: data, epochs=40, **options)
    scores = np.stack(full.scores)  # [epochs, 3]
    first = np.array([np.flatnonzero(scores[:, i] < 1e-2)[0] for i in range(3)])  # epoch index per model
    assert len(set(first)) > 1 and first.max() < 39, first  # the models get there at different epochs
    np.testing.assert_array_equal(full.steps_to(1e-2), 5 * (first + 1))
    assert list(full.steps_to(-1.0)) == [0, 0, 0]  # never
    for parallel in [False, True]:
        _, stopped = train.fit_seeds(
            make, keys, mse_params, lambda k: data, epochs=40, target_score=1e-2, parallel=parallel, **options
        )
        assert len(stopped.scores) == first.max() + 1 and stopped.step[-1] == 5 * (first.max() + 1)
        np.testing.assert_array_equal(stopped.steps_to(1e-2), full.steps_to(1e-2))
        if not parallel:  # a model that stopped keeps its last score
            last = np.stack(stopped.scores)[:, first.argmin()]
            assert (last[first.min() :] == last[first.min()]).all()
    with pytest.raises(ValueError, match="target_score needs an `evaluate`"):
        train.fit_seeds(make, keys, mse_params, lambda k: data, epochs=2, key=jax.random.key(0), target_score=0.1)
    with pytest.raises(ValueError, match="no scores"):
        train.History().steps_to(0.1)
