"""Small models that several chapters train: a recurrent layer (:class:`rnnbook.layers.Recurrent`)
with a linear read-out, in the input/output patterns of the Recurrence chapter.

* :class:`Regressor`, many to one: the state after the last step predicts one number
  (the adding problem).
* :class:`Tagger`, many to many: the state at every step predicts that step's output
  (a label per frame, the NTM chapter's copy task).
* :class:`CharLM`, a character-level language model: a :class:`Tagger` over character
  embeddings whose outputs are the logits of the next character.

Each keeps its recurrent layer as ``.rnn`` and its read-out as ``.out``, so a chapter can look
inside (``model.rnn.cell_params(0)``, ``model.rnn.num_params()``).
"""

from __future__ import annotations

from typing import Any

from flax import nnx

from ._checks import check_positive_int, check_token_ids
from ._types import Array, ArrayLike
from .layers import Recurrent

__all__ = ["CharLM", "Regressor", "Tagger"]


class Regressor(nnx.Module):
    """Many to one: ``y = W h_T + b``, a linear output read from the last step's state.

    ``x: [batch, time, input_size]`` -> ``y: [batch]``. ``cell`` is a cell's name (``"rnn"``,
    ``"gru"``, ``"lstm"``, ``"lstm1997"``, ...: :data:`rnnbook.layers.CELLS`); ``options`` go to
    :class:`~rnnbook.layers.Recurrent` (``num_layers=2``, ``forget_bias=1.0``, ...). Not
    bidirectional: a backward pass would be read after one step only.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, *, rngs: nnx.Rngs, **options: Any):
        if options.get("bidirectional"):
            raise ValueError("bidirectional must be False: a Regressor reads the state after the last step only")
        self.rnn = Recurrent(cell, input_size, hidden_size, rngs=rngs, **options)
        self.out = nnx.Linear(hidden_size, 1, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        """The prediction ``[batch]`` for sequences ``x: [batch, time, input_size]``."""
        _, hs = self.rnn(x)
        return self.out(hs[:, -1])[:, 0]


class Tagger(nnx.Module):
    """Many to many: ``y_t = W h_t + b`` at every step.

    ``x: [batch, time, input_size]`` -> ``y: [batch, time, output_size]`` (outputs, or logits
    for a classifier). With ``bidirectional=True`` (in ``options``, for
    :class:`~rnnbook.layers.Recurrent`) ``h_t`` is both directions' states side by side.
    """

    def __init__(
        self, cell: str, input_size: int, hidden_size: int, output_size: int, *, rngs: nnx.Rngs, **options: Any
    ):
        check_positive_int(output_size, "output_size")
        self.rnn = Recurrent(cell, input_size, hidden_size, rngs=rngs, **options)
        self.out = nnx.Linear(hidden_size * self.rnn.directions, output_size, rngs=rngs)

    def __call__(self, x: Array, lengths: ArrayLike | None = None) -> Array:
        """The outputs ``[batch, time, output_size]`` of ``x: [batch, time, input_size]``.

        ``lengths: [batch]`` marks padding, as in :class:`~rnnbook.layers.Recurrent`: a padded
        step's state is zero there, so its output is the bias alone.
        """
        _, hs = self.rnn(x, lengths=lengths)
        return self.out(hs)


class CharLM(Tagger):
    """A character-level language model: embedding, a recurrent layer, logits over the vocabulary.

    ``tokens: [batch, time]`` character ids -> ``logits: [batch, time, vocab_size]``, where the
    logits at step ``t`` score the character at ``t + 1``
    (train with :func:`rnnbook.losses.cross_entropy` on :func:`rnnbook.data.text_windows`).
    ``embed``: the width of the character embedding; ``options`` go to
    :class:`~rnnbook.layers.Recurrent` (not ``bidirectional``: a language model may not read ahead).
    """

    def __init__(
        self, cell: str, vocab_size: int, *, embed: int = 32, hidden: int = 128, rngs: nnx.Rngs, **options: Any
    ):
        check_positive_int(vocab_size, "vocab_size")
        check_positive_int(embed, "embed")
        if options.get("bidirectional"):
            raise ValueError("bidirectional must be False: a language model may not read the characters it predicts")
        self.vocab_size = vocab_size
        self.embed = nnx.Embed(vocab_size, embed, rngs=rngs)
        super().__init__(cell, embed, hidden, vocab_size, rngs=rngs, **options)

    def __call__(self, tokens: ArrayLike) -> Array:
        """The next-character logits ``[batch, time, vocab_size]`` of ``tokens: [batch, time]``."""
        check_token_ids(tokens, self.vocab_size, "tokens")
        return super().__call__(self.embed(tokens))
