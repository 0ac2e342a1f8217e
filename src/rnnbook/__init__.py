"""rnnbook: the code of an executable textbook on recurrent neural networks.

The public API is each module's ``__all__``; modules are imported on demand (``from rnnbook import
lstm``). Start with :mod:`rnnbook.cells`, the contract every recurrent cell follows.
"""

from rnnbook import _xla

_xla.configure()  # XLA's flags for the book, before JAX starts (rnnbook._xla says which and why)

__version__ = "0.1.0"

__all__ = [
    "cells",
    "data",
    "explore",
    "figures",
    "gru",
    "hlo",
    "layers",
    "linear_rnn",
    "losses",
    "lstm",
    "models",
    "ngram",
    "nnlm",
    "ntm",
    "rnn",
    "seeds",
    "seq2seq",
    "subword",
    "timing",
    "train",
    "transformer",
    "vocab",
    "word2vec",
]
