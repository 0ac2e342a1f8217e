"""rnnbook: the code of an executable textbook on recurrent neural networks."""

__version__ = "0.1.0"
