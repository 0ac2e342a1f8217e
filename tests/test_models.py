"""The chapters' shared models (rnnbook.models) are their recurrent layer plus a linear read-out, computed
by hand here with the same weights; they train; bad arguments are refused. Also: the modules with an
``__all__`` list every public function and class they define."""

import importlib
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnnbook import data, losses, models, train


def read_out(model, h):
    return h @ model.out.kernel[...] + model.out.bias[...]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_regressor_reads_the_last_state(cell):
    model = models.Regressor(cell, 2, 8, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (3, 7, 2))
    _, hs = model.rnn(x)
    y = model(x)
    assert y.shape == (3,)
    np.testing.assert_allclose(y, read_out(model, hs[:, -1])[:, 0], rtol=1e-6, atol=1e-6)
    # Only the state after the last step counts: a change of the last input changes the output.
    assert not np.allclose(model(x.at[:, -1].add(1.0)), y)


def test_regressor_passes_options_to_the_recurrent_layer_and_refuses_bidirectional():
    model = models.Regressor("lstm1997", 2, 8, num_layers=2, rngs=nnx.Rngs(0))
    assert model.rnn.num_layers == 2 and model(jnp.ones((1, 4, 2))).shape == (1,)
    with pytest.raises(ValueError, match="bidirectional"):
        models.Regressor("lstm", 2, 8, bidirectional=True, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_reads_every_step_and_padding_changes_no_real_step(bidirectional):
    model = models.Tagger("gru", 3, 6, 4, bidirectional=bidirectional, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(2), (2, 5, 3))
    lengths = jnp.array([5, 3])
    y = model(x, lengths)
    assert y.shape == (2, 5, 4)
    np.testing.assert_allclose(y, read_out(model, model.rnn(x, lengths)[1]), rtol=1e-6, atol=1e-6)
    garbage = x.at[1, 3:].set(100.0)  # the padded steps of the second sequence
    np.testing.assert_allclose(model(garbage, lengths)[1, :3], y[1, :3], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="output_size"):
        models.Tagger("gru", 3, 6, 0, rngs=nnx.Rngs(0))


@pytest.mark.smoke
def test_char_lm_is_an_embedding_then_a_tagger():
    model = models.CharLM("lstm", 11, embed=4, hidden=8, rngs=nnx.Rngs(0))
    tokens = jax.random.randint(jax.random.key(3), (2, 6), 0, 11)
    logits = model(tokens)
    assert logits.shape == (2, 6, 11)
    embedded = model.embed.embedding[...][tokens]
    np.testing.assert_allclose(logits, read_out(model, model.rnn(embedded)[1]), rtol=1e-6, atol=1e-6)
    # Causal: the logits at step t do not depend on later characters.
    later = tokens.at[:, 4:].set((tokens[:, 4:] + 1) % 11)
    np.testing.assert_allclose(model(later)[:, :4], logits[:, :4], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(jnp.array([[0, 11]]))
    with pytest.raises(ValueError, match="bidirectional"):
        models.CharLM("lstm", 11, bidirectional=True, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="vocab_size"):
        models.CharLM("lstm", 0, rngs=nnx.Rngs(0))


@pytest.mark.slow
def test_char_lm_learns_a_repeating_text():
    text = "abcd" * 200
    vocab = data.CharVocab(text)
    windows = data.text_windows(vocab.encode(text), 12)
    model = models.CharLM("gru", len(vocab), embed=8, hidden=16, rngs=nnx.Rngs(0))
    _, history = train.fit(
        model,
        losses.cross_entropy,
        lambda key: windows(key, 16),
        key=jax.random.key(0),
        epochs=2,
        steps_per_epoch=100,
        learning_rate=1e-2,
        progress=False,
    )
    assert history.train_loss[0] < np.log(4) and history.train_loss[-1] < 0.05  # the next letter is certain


@pytest.mark.parametrize("name", ["data", "losses", "models", "timing"])
def test_all_lists_every_public_function_and_class(name):
    module = importlib.import_module(f"rnnbook.{name}")
    defined = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }
    assert defined <= set(module.__all__), f"rnnbook.{name}.__all__ misses {sorted(defined - set(module.__all__))}"
    assert all(hasattr(module, n) for n in module.__all__)
