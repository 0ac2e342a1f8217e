"""n-gram and neural language models, byte-pair encoding."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnnbook import ngram, nnlm, subword, train

IDS = [0, 1, 2, 1, 2, 3, 0, 1, 2, 4, 1, 3, 3, 2, 1, 0]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
def test_ngram_distributions_sum_to_one_and_prob_agrees(n, smoothing):
    lm = ngram.NGramLM(IDS, n, 6, smoothing=smoothing)
    for history in [(1, 2), (0, 1), (5, 5), (4, 4)]:  # seen, seen, unseen histories
        p = lm.distribution(history)
        np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
        assert np.all(p > 0), "smoothing leaves mass for every word"
        np.testing.assert_allclose([lm.prob(history, w) for w in range(6)], p, rtol=1e-12)


@pytest.mark.smoke
def test_add_k_and_kneser_ney_by_hand():
    lm = ngram.NGramLM(IDS, 2, 6, smoothing="add-k", k=1.0)
    # after 1: followers 2, 2, 2, 3 (c(1) = 5 with the final 1 -> 0)
    assert lm.prob((1,), 2) == pytest.approx((3 + 1) / (5 + 6))
    kn = ngram.NGramLM(IDS, 2, 6, d=0.5)
    # continuation unigram: distinct predecessors of each word, over all distinct bigram types
    n_types = len(set(zip(IDS, IDS[1:])))
    followers_of_1 = {2: 3, 3: 1, 0: 1}
    uniform = 1 / 6
    # the lower-order distribution, computed as the model defines it
    cont = {}
    for a, b in set(zip(IDS, IDS[1:])):
        cont[b] = cont.get(b, 0) + 1
    lower2 = max(cont.get(2, 0) - 0.5, 0) / n_types + 0.5 * len(cont) / n_types * uniform
    expected = max(3 - 0.5, 0) / 5 + 0.5 * len(followers_of_1) / 5 * lower2
    assert kn.prob((1,), 2) == pytest.approx(expected)


def test_uniform_model_perplexity_is_the_vocabulary_size():
    lm = ngram.NGramLM(IDS, 1, 6, smoothing="add-k", k=1e9)  # add-k with huge k: uniform
    assert lm.perplexity([0, 1, 2, 3, 4, 5, 5, 1]) == pytest.approx(6.0, rel=1e-6)


def test_a_lower_order_of_a_model_is_the_model_of_that_order():
    """perplexity(order=m) of an n-gram model equals the perplexity of the m-gram model of the same text."""
    rng = np.random.default_rng(0)
    text, held = rng.integers(0, 7, 400).tolist(), rng.integers(0, 7, 120).tolist()
    five = ngram.NGramLM(text, 5, 7)
    for m in (1, 2, 3, 4, 5):
        assert five.perplexity(held, order=m) == pytest.approx(ngram.NGramLM(text, m, 7).perplexity(held), rel=1e-12)
    assert five.perplexity(held, order=5) == five.perplexity(held)


def test_ngram_rejects_bad_input():
    with pytest.raises(ValueError, match="token ids must lie"):
        ngram.NGramLM([0, 7], 2, 6)
    with pytest.raises(ValueError, match="smoothing"):
        ngram.NGramLM(IDS, 2, 6, smoothing="witten-bell")
    with pytest.raises(ValueError, match="discount"):
        ngram.NGramLM(IDS, 2, 6, d=1.5)


@pytest.mark.slow
@pytest.mark.smoke
def test_nnlm_windows_lookup_and_learning():
    ids = jnp.array([5, 6, 7, 8, 9])
    h, t = nnlm.windows(ids, 2)
    np.testing.assert_array_equal(h, [[5, 6], [6, 7], [7, 8]])
    np.testing.assert_array_equal(t, [7, 8, 9])
    params = nnlm.init_nnlm(jax.random.key(0), 10, 2, embed=4, hidden=8)
    # the lookup table is the embedding: one-hot rows times C
    x = params["C"][h].reshape(3, -1)
    np.testing.assert_allclose(x, (jax.nn.one_hot(h, 10) @ params["C"]).reshape(3, -1), rtol=1e-6)
    # a deterministic sequence (0 1 2 ... 9 repeated) is learned to near-certainty
    seq = jnp.tile(jnp.arange(10), 50)
    data_ = nnlm.windows(seq, 2)
    trained, hist = train.fit(
        params,
        nnlm.nnlm_loss,
        lambda k: data_,
        key=jax.random.key(0),
        epochs=2,
        steps_per_epoch=150,
        optimizer=optax.adam(3e-2),
        progress=False,
    )
    assert nnlm.perplexity(trained, seq, 2) < 1.1
    assert nnlm.perplexity(params, seq, 2) > 5


def test_nnlm_log_probs_score_every_position_in_padded_chunks():
    params = nnlm.init_nnlm(jax.random.key(1), 10, 2, embed=4, hidden=8)
    ids = jax.random.randint(jax.random.key(2), (23,), 0, 10)
    h, t = nnlm.windows(ids, 2)
    direct = np.log(np.asarray(jax.nn.softmax(nnlm.nnlm_logits(params, h)))[np.arange(len(t)), np.asarray(t)])
    for chunk in (1, 4, 21, 4096):  # 21 positions: chunks that divide them, that do not, and one larger
        scored = nnlm.log_probs(params, ids, 2, chunk=chunk)
        assert scored.shape == (21,)
        np.testing.assert_allclose(scored, direct, rtol=1e-5, atol=1e-6)
    assert nnlm.perplexity(params, ids, 2, chunk=4) == pytest.approx(np.exp(-direct.mean()), rel=1e-5)


@pytest.mark.smoke
def test_bpe_learns_frequent_pieces_and_segments_unseen_words():
    counts = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # Sennrich et al.'s example
    merges = subword.learn_bpe(counts, 10)
    assert merges[:4] == [("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o")]  # as in the paper
    assert subword.learn_bpe(counts, 10) == merges  # deterministic
    assert subword.segment("lowest", merges) == ["low", "est</w>"]  # unseen word, known pieces
    assert "".join(subword.segment("zebra", merges)).replace("</w>", "") == "zebra"
    with pytest.raises(ValueError, match="empty"):
        subword.segment("", merges)


def recount_bpe(word_counts, merges):
    """Byte-pair encoding as the paper's reference code learns it: recount every pair before each
    merge; a tie goes to the pair met first (words in order, symbols left to right)."""
    words = {tuple(w) + ("</w>",): c for w, c in word_counts.items()}
    learned = []
    for _ in range(merges):
        pairs = {}
        for symbols, c in words.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] = pairs.get(pair, 0) + c
        if not pairs:
            break
        best = max(pairs, key=pairs.get)  # the first of the most frequent, in the order met
        learned.append(best)
        merged = {}
        for symbols, c in words.items():
            out, i = [], 0
            while i < len(symbols):
                if symbols[i : i + 2] == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = c
        words = merged
    return learned


def test_learn_bpe_learns_what_recounting_every_pair_learns():
    """learn_bpe keeps its pair counts up to date merge by merge; the merges, ties included, are those
    of recounting every pair before each merge, until no pair is left."""
    rng = np.random.default_rng(0)
    for trial in range(60):
        words = {"".join(rng.choice(list("abcd"), rng.integers(1, 8))) for _ in range(rng.integers(1, 40))}
        counts = {w: int(rng.integers(1, 4)) for w in sorted(words, key=lambda w: rng.random())}  # many ties
        merges = int(rng.integers(1, 80))
        assert subword.learn_bpe(counts, merges) == recount_bpe(counts, merges), (trial, counts, merges)


def test_segment_all_gives_the_pieces_of_segment():
    """segment_all applies the merges by rank; the pieces are those of applying every merge in turn,
    also where a later merge builds a symbol that an earlier merge would have joined (there the earlier
    merge has already passed, and applying merges by rank alone would join it)."""
    counts = {"low": 5, "lower": 2, "newest": 6, "widest": 3, "lowest": 1, "slower": 2}
    merges = subword.learn_bpe(counts, 20)
    words = ["lowest", "zebra", "newer", "slowest", "w", "lowlow"]
    assert subword.segment_all(words, merges) == [subword.segment(w, merges) for w in words]
    # "ab" + "c" learned before "a" + "bc": in "abcd" the pair ("abc", "d") appears only after merge 3
    tricky = [("b", "c"), ("abc", "d"), ("x", "y"), ("a", "bc")]
    assert subword.segment("abcd", tricky) == ["abc", "d", "</w>"]
    assert subword.segment_all(["abcd"], tricky) == [["abc", "d", "</w>"]]
    rng = np.random.default_rng(0)
    text = ["".join(rng.choice(list("abcde"), rng.integers(1, 7))) for _ in range(300)]
    merges = subword.learn_bpe({w: int(c) for w, c in zip(text, rng.integers(1, 9, 300))}, 40)
    assert subword.segment_all(text, merges) == [subword.segment(w, merges) for w in text]
