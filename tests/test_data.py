"""Task generators: their targets follow their definitions, and they are deterministic."""

import datetime
import re

import jax
import numpy as np
import pytest

from rnnbook import data


def test_flipflop_targets_and_lags_follow_the_definition():
    x, target, lag = map(np.asarray, data.flipflop(jax.random.key(0), 16, 50, p_command=0.1))
    for b in range(16):
        state, since = 0, 50
        for t in range(50):
            if x[b, t, 0] != 0:
                state, since = int(x[b, t, 0] > 0), 0
            else:
                since = min(since + 1, 50)
            assert target[b, t] == state and lag[b, t] == since
    again = data.flipflop(jax.random.key(0), 16, 50, p_command=0.1)
    np.testing.assert_array_equal(x, again[0])


def test_delayed_echo():
    x, y, mask = map(np.asarray, data.delayed_echo(jax.random.key(1), 4, 12, 3))
    np.testing.assert_array_equal(y[:, 3:], x[:, :-3])
    assert mask[:, :3].sum() == 0 and mask[:, 3:].min() == 1


def test_reviews_labels_follow_negation_rule():
    tokens, labels = data.reviews(300, seed=0)
    assert tokens.shape == (300, 12) and set(np.unique(labels)) == {0, 1}
    vocab = data.VOCAB
    for row, label in zip(tokens, labels):
        words = [vocab[i] for i in row]
        score = 0
        for i, w in enumerate(words):
            if w in data.POSITIVE or w in data.NEGATIVE:
                sign = 1 if w in data.POSITIVE else -1
                score += -sign if i and words[i - 1] == "not" else sign
        assert label == int(score > 0)
    np.testing.assert_array_equal(tokens, data.reviews(300, seed=0)[0])


def test_two_tones_and_sunspots():
    x, labels = data.two_tones(jax.random.key(0), 3, 40)
    assert x.shape == (3, 40, 1) and labels.shape == (3, 40)
    years, spots = data.sunspots()
    assert years[0] == 1700 and years[-1] == 2008 and len(spots) == 309


def test_windows_and_bad_input():
    X, y = data.windows(np.arange(6.0), 2)
    np.testing.assert_array_equal(X, [[0, 1], [1, 2], [2, 3], [3, 4]])
    np.testing.assert_array_equal(y, [2, 3, 4, 5])
    with pytest.raises(ValueError, match="too short"):
        data.windows(np.arange(3.0), 3)
    with pytest.raises(ValueError, match="series must be 1-D"):
        data.windows(np.ones((3, 3)), 1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.reviews(0, seed=0)


@pytest.mark.smoke
def test_shakespeare_ships_and_char_vocab_round_trips():
    text = data.shakespeare()
    assert len(text) == 530_334 and text.startswith("HAMLET, PRINCE OF DENMARK")
    vocab = data.CharVocab(text)
    assert len(vocab) == 74
    ids = vocab.encode(text[:1000])
    assert vocab.decode(ids) == text[:1000]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.encode("caf\u00e9")
    with pytest.raises(ValueError, match="token id outside the vocabulary"):
        vocab.decode([0, 74])
    with pytest.raises(ValueError, match="text is empty"):
        data.CharVocab("")


def test_text_windows_shift_targets_by_one():
    ids = np.arange(100, dtype=np.int32)
    inputs, targets = data.text_windows(ids, 10)(jax.random.key(0), 4)
    assert inputs.shape == targets.shape == (4, 10)
    np.testing.assert_array_equal(np.asarray(targets), np.asarray(inputs) + 1)
    with pytest.raises(ValueError, match="longer than length"):
        data.text_windows(ids[:5], 10)


def test_adding_problem_targets_are_the_sum_of_the_two_marked_values():
    x, target = map(np.asarray, data.adding_problem(jax.random.key(0), 32, 20))
    assert x.shape == (32, 20, 2) and target.shape == (32,)
    markers = x[..., 1]
    assert np.all(markers.sum(1) == 2)
    assert np.all(markers[:, :10].sum(1) == 1) and np.all(markers[:, 10:].sum(1) == 1)
    np.testing.assert_allclose(target, (x[..., 0] * markers).sum(1), rtol=1e-6)
    assert np.all((x[..., 0] >= 0) & (x[..., 0] <= 1))
    with pytest.raises(ValueError, match="time must be an integer >= 2"):
        data.adding_problem(jax.random.key(0), 4, 1)


@pytest.mark.smoke
def test_word_embedding_corpus_ships_with_the_package():
    text = data.shakespeare_milton()
    assert len(text) == 5_717_526 and len(text.split()) == 1_018_866  # as PROVENANCE.md states
    assert text.startswith("ALL'S WELL THAT ENDS WELL") and "HAMLET, PRINCE OF DENMARK" in text
    assert "Of Mans First Disobedience" in text and "gutenberg" not in text.lower()  # licence boilerplate removed


def test_dates_are_named_records_and_exclude_drops_seen_dates():
    train = data.dates(300, seed=0)
    ex = train[0]
    assert isinstance(ex, data.DateExample)
    assert ex.source[0] == ex.locale and "".join(ex.target)[4] == "-" and ex.format in data.DATE_FORMATS
    one_year = dict(locales=("en_US", "fr_FR"), formats=("short",), first_year=2000, years=1)  # 732 dates
    train = data.dates(300, seed=0, **one_year)
    test = data.dates(300, seed=1, exclude=train, **one_year)
    seen = {(e.text, e.locale) for e in train}
    assert test == [e for e in data.dates(300, seed=1, **one_year) if (e.text, e.locale) not in seen]
    assert 0 < len(test) < 300  # a third of the dates were drawn for training


def test_date_vocabs_and_batch_frame_targets_for_the_decoder():
    from rnnbook.vocab import EOS, PAD, SOS

    train = data.dates(200, seed=0)
    src_vocab, tgt_vocab = data.date_vocabs(train)
    assert set(tgt_vocab.tokens[4:]) == set("0123456789-")
    assert src_vocab.min_count == 3 and all(src_vocab.counts[t] >= 3 for t in src_vocab.tokens[4:])
    b = data.date_batch(train[:5], src_vocab, tgt_vocab)
    assert {k: v.shape for k, v in b.items()} == {
        "src": (5, 12),
        "src_len": (5,),
        "tgt_in": (5, 11),
        "tgt_out": (5, 11),
        "tgt_len": (5,),
    }
    for i, e in enumerate(train[:5]):
        n = len(e.source)
        assert int(b["src_len"][i]) == n and np.all(np.asarray(b["src"][i, n:]) == PAD)
        assert src_vocab.decode(np.asarray(b["src"][i])) == [t if t in src_vocab else "<UNK>" for t in e.source]
        assert tgt_vocab.decode(np.asarray(b["tgt_out"][i])) == e.target and int(b["tgt_out"][i, 10]) == EOS
        assert int(b["tgt_in"][i, 0]) == SOS
    with pytest.raises(ValueError):
        data.date_batch(train[:5], src_vocab, tgt_vocab, src_length=3)
    with pytest.raises(ValueError, match="at least one"):
        data.date_vocabs([])


def test_tokenize_date_splits_scripts_without_spaces_into_characters():
    # Chinese and Japanese dates have no spaces: one \w+ word would be one <UNK>.
    assert data.tokenize_date("2021年3月4日") == ["2021", "年", "3", "月", "4", "日"]
    assert data.tokenize_date("2021年3月4日木曜日")[6:] == ["木", "曜", "日"]
    assert data.tokenize_date("2021년 3월 4일") == ["2021", "년", "3", "월", "4", "일"]  # digits split from Hangul
    assert data.tokenize_date("4\u200f/3\u200f/2021") == ["4", "/", "3", "/", "2021"]  # Arabic RTL marks dropped
    # the six training locales tokenise as before: words, numbers, punctuation
    assert data.tokenize_date("Donnerstag, 4. März 2021") == ["Donnerstag", ",", "4", ".", "März", "2021"]
    assert data.tokenize_date("jeudi 4 mars 2021") == ["jeudi", "4", "mars", "2021"]
    for ex in data.dates(300, seed=0):
        assert ex.source[1:] == re.findall(r"\w+|[^\w\s]", ex.text)
    ja = data.dates(50, seed=0, locales=("ja_JP",), formats=("long",))
    assert all(len(t) == 1 for ex in ja for t in ex.source[1:] if not t.isdigit())


def test_read_date_reports_outputs_that_name_no_day():
    assert data.read_date("2021-03-04") == data.DateReading("2021-03-04", datetime.date(2021, 3, 4), "")
    assert data.read_date("2008-02-29").date == datetime.date(2008, 2, 29)  # a leap year
    bad = {
        "2007-02-29": "day 29 is not in February 2007, which has 28 days",
        "2000-04-31": "day 31 is not in April 2000, which has 30 days",
        "1999-12-00": "day 00 is not in December 1999",
        "1987-13-02": "month 13 does not exist",
        "1987-00-02": "month 00 does not exist",
        "0000-01-01": "year 0000 does not exist",
        "2021-03-041": "not of the form YYYY-MM-DD",
        "2021-3-4": "not of the form YYYY-MM-DD",
        "": "not of the form YYYY-MM-DD",
        "\u0662\u0660\u0662\u0661-03-04": "not of the form YYYY-MM-DD",  # Arabic-Indic digits are not ISO
    }
    for text, problem in bad.items():
        reading = data.read_date(text)
        assert reading.date is None and reading.text == text and problem in reading.problem, (text, reading)


def test_read_dates_reads_decoder_output_up_to_eos():
    from rnnbook.vocab import EOS, PAD, UNK

    _, tgt_vocab = data.date_vocabs(data.dates(200, seed=0))
    rows = [tgt_vocab.encode(list(text), eos=True) for text in ["2021-03-04", "2007-02-31", "1999-1"]]
    tokens = np.full((4, 11), PAD)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = row
    tokens[3] = tgt_vocab.encode(list("2021-03-04"), eos=False).tolist() + [UNK]  # no <EOS> in 11 steps
    readings = data.read_dates(tokens, tgt_vocab)
    assert [r.text for r in readings] == ["2021-03-04", "2007-02-31", "1999-1", "2021-03-04<UNK>"]
    assert readings[0].date == datetime.date(2021, 3, 4) and [r.date for r in readings[1:]] == [None] * 3
    assert "February 2007" in readings[1].problem and "YYYY-MM-DD" in readings[2].problem
    assert int(tokens[0, 10]) == EOS
