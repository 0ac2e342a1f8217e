"""Seq2seq: vocabulary, batches, attention (against a hand computation and Flax), masks, decoding."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnnbook import data, seq2seq, train, vocab
from rnnbook.vocab import EOS, PAD, SOS, UNK


# ----------------------------------------------------------------------------------------------
# Vocabulary and batches
# ----------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_vocab_round_trip_specials_and_unk_cutoff():
    seqs = [["a", "b", "a"], ["a", "c"], ["b", "a"]]
    v = vocab.Vocab(seqs, min_count=2)
    assert v.tokens[:4] == ["<PAD>", "<SOS>", "<EOS>", "<UNK>"]
    assert v.tokens[4:] == ["a", "b"]  # by frequency; "c" (seen once) is cut
    ids = v.encode(["b", "a", "b"], sos=True, eos=True)
    assert ids.tolist() == [SOS, 5, 4, 5, EOS]
    assert v.decode(ids) == ["b", "a", "b"]
    assert v.encode(["c", "zebra"]).tolist() == [UNK, UNK]
    assert v.decode(v.encode(["c"])) == ["<UNK>"]
    assert v.decode([4, EOS, 5]) == ["a"]  # stops at EOS
    assert v.decode([4, EOS, 5], strip=False) == ["a", "<EOS>", "b"]
    assert v.unk_share([["a", "c"], ["zebra", "b"]]) == 0.5


@pytest.mark.parametrize(
    "bad, match",
    [
        ([0, 7], "token id 7 is outside the vocabulary"),
        ([-1], "token id -1 is outside"),
        ([[4]], "rank 1"),
        ([1.5], "integers"),
    ],
)
def test_vocab_decode_rejects_bad_ids(bad, match):
    v = vocab.Vocab([["a", "b", "c"]])
    with pytest.raises(ValueError, match=match):
        v.decode(np.array(bad))


def test_vocab_rejects_bad_construction():
    with pytest.raises(ValueError, match="empty"):
        vocab.Vocab([[]])
    with pytest.raises(ValueError, match="min_count"):
        vocab.Vocab([["a"]], min_count=0)
    with pytest.raises(ValueError, match="special tokens"):
        vocab.Vocab([["<EOS>"]])
    with pytest.raises(ValueError, match="not a string"):
        vocab.Vocab([["a"]]).encode("a")


def test_make_batch_frames_targets_with_sos_and_eos():
    b = seq2seq.make_batch([np.array([4, 5, 6]), np.array([7])], [np.array([8, 9]), np.array([10, 11, 12])])
    np.testing.assert_array_equal(b["src"], [[4, 5, 6], [7, PAD, PAD]])
    np.testing.assert_array_equal(b["src_len"], [3, 1])
    np.testing.assert_array_equal(b["tgt_out"], [[8, 9, EOS, PAD], [10, 11, 12, EOS]])
    np.testing.assert_array_equal(b["tgt_in"], [[SOS, 8, 9, PAD], [SOS, 10, 11, 12]])
    np.testing.assert_array_equal(b["tgt_len"], [3, 4])
    with pytest.raises(ValueError, match="mismatched sizes"):
        seq2seq.make_batch([np.array([4])], [])
    with pytest.raises(ValueError, match="empty"):
        seq2seq.make_batch([np.array([], np.int32)], [np.array([4])])


def test_copy_task_matches_its_definition():
    b = {k: np.asarray(v) for k, v in data.copy_task(jax.random.key(0), 64, 2, 9).items()}
    for i in range(64):
        L = b["src_len"][i]
        assert 2 <= L <= 9 and b["tgt_len"][i] == L + 1
        assert np.all(b["src"][i, :L] >= 4) and np.all(b["src"][i, L:] == PAD)
        np.testing.assert_array_equal(b["tgt_out"][i, :L], b["src"][i, :L])
        assert b["tgt_out"][i, L] == EOS and np.all(b["tgt_out"][i, L + 1 :] == PAD)
        np.testing.assert_array_equal(b["tgt_in"][i, : L + 1], np.r_[SOS, b["src"][i, :L]])
    with pytest.raises(ValueError, match="min_len"):
        data.copy_task(jax.random.key(0), 4, 5, 3)


@pytest.mark.smoke
def test_dates_are_real_babel_dates_with_iso_targets():
    import datetime

    from babel.dates import format_date, parse_date

    examples = data.dates(200, seed=0)
    assert examples == data.dates(200, seed=0)  # deterministic
    assert {e.locale for e in examples} == set(data.DATE_LOCALES)
    assert {e.format for e in examples} == set(data.DATE_FORMATS)
    for e in examples:
        day = datetime.date.fromisoformat("".join(e.target))
        assert 1950 <= day.year < 2050
        assert format_date(day, e.format, locale=e.locale) == e.text and e.source[0] == e.locale
        assert "".join(e.source[1:]) == e.text.replace(" ", "")
        if e.format == "short" and e.locale != "en_US":  # Babel's own parser agrees (day-first locales)
            parsed = parse_date(e.text, locale=e.locale)
            assert (parsed.month, parsed.day) == (day.month, day.day)


# ----------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------
def test_attention_scores_match_a_hand_computation():
    rng = np.random.default_rng(0)
    q, keys = rng.normal(size=(2, 5)).astype(np.float32), rng.normal(size=(2, 4, 3)).astype(np.float32)
    W_q, W_k, v = rng.normal(size=(5, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)
    kp = keys @ W_k
    add = np.asarray(
        seq2seq.additive_scores(
            jnp.asarray(q), jnp.asarray(kp, jnp.float32), jnp.asarray(W_q, jnp.float32), jnp.asarray(v, jnp.float32)
        )
    )
    for b in range(2):
        for j in range(4):
            expected = sum(v[a] * np.tanh(sum(q[b, i] * W_q[i, a] for i in range(5)) + kp[b, j, a]) for a in range(3))
            np.testing.assert_allclose(add[b, j], expected, rtol=1e-5)
    W = rng.normal(size=(3, 5))
    mul = np.asarray(seq2seq.multiplicative_scores(jnp.asarray(q), jnp.asarray(keys @ W, jnp.float32)))
    for b in range(2):
        for j in range(4):
            np.testing.assert_allclose(mul[b, j], q[b] @ W.T @ keys[b, j], rtol=1e-5)


def test_masked_attention_sums_to_one_and_is_exactly_zero_on_padding():
    scores = jax.random.normal(jax.random.key(0), (3, 6)) * 5
    mask = jnp.arange(6)[None, :] < jnp.array([6, 2, 1])[:, None]
    w = np.asarray(seq2seq.masked_softmax(scores, mask))
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-6)
    assert np.all(w[~np.asarray(mask)] == 0.0) and w[2, 0] == 1.0


def test_luong_attention_equals_flax_scaled_dot_product_attention():
    """With W = I / sqrt(d), the multiplicative score is Flax's dot-product attention (one head)."""
    B, S, d = 3, 7, 8
    kq, kk, kv = jax.random.split(jax.random.key(1), 3)
    q, k, v = jax.random.normal(kq, (B, d)), jax.random.normal(kk, (B, S, d)), jax.random.normal(kv, (B, S, d))
    mask = jnp.arange(S)[None, :] < jnp.array([7, 3, 1])[:, None]
    w = seq2seq.masked_softmax(seq2seq.multiplicative_scores(q, k / jnp.sqrt(d)), mask)
    ours = seq2seq.attend(w, v)
    flax_mask = mask[:, None, None, :]  # [batch, heads, q_len, kv_len]
    ref = nnx.dot_product_attention(q[:, None, None, :], k[:, :, None, :], v[:, :, None, :], mask=flax_mask)
    np.testing.assert_allclose(ours, ref[:, 0, 0], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------
def small_model(attention="bahdanau", cell="lstm", **kw):
    return seq2seq.Seq2Seq(14, 9, embed=8, hidden=16, cell=cell, attention=attention, rngs=nnx.Rngs(0), **kw)


def batch_of(src, tgt):
    return {
        k: jnp.asarray(v) for k, v in seq2seq.make_batch([np.array(s) for s in src], [np.array(t) for t in tgt]).items()
    }


@pytest.mark.parametrize("attention", [None, "bahdanau", "luong"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_padding_changes_neither_loss_nor_outputs(attention, cell):
    m = small_model(attention, cell)
    b = batch_of([[4, 5, 6], [7, 8]], [[4, 5], [6, 7, 8]])
    wide = dict(
        b,
        src=jnp.pad(b["src"], ((0, 0), (0, 4))),
        tgt_in=jnp.pad(b["tgt_in"], ((0, 0), (0, 3))),
        tgt_out=jnp.pad(b["tgt_out"], ((0, 0), (0, 3))),
    )
    np.testing.assert_allclose(seq2seq.loss_fn(m, b), seq2seq.loss_fn(m, wide), rtol=1e-6)
    logits, w = m(b["src"], b["src_len"], b["tgt_in"])
    logits_w, w_w = m(wide["src"], wide["src_len"], wide["tgt_in"])
    np.testing.assert_allclose(logits_w[:, :4], logits, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(w_w)[:, :, 3:] == 0.0)  # no weight on padding
    if attention:
        np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)
        assert np.all(np.asarray(w)[1, :, 2:] == 0.0)


def test_mean_encoder_and_bidirectional_encoder_run():
    b = batch_of([[4, 5, 6], [7, 8]], [[4, 5], [6, 7, 8]])
    for kw in [dict(encoder="mean"), dict(bidirectional=True), dict(encoder="mean", attention="luong")]:
        m = seq2seq.Seq2Seq(14, 9, embed=8, hidden=16, rngs=nnx.Rngs(0), **kw)
        assert np.isfinite(float(seq2seq.loss_fn(m, b)))
    # the mean encoder ignores order: a permuted source gives the same loss
    m = seq2seq.Seq2Seq(14, 9, embed=8, hidden=16, encoder="mean", rngs=nnx.Rngs(0))
    perm = dict(b, src=jnp.array([[6, 4, 5], [8, 7, PAD]]))
    np.testing.assert_allclose(seq2seq.loss_fn(m, b), seq2seq.loss_fn(m, perm), rtol=1e-6)


def test_scheduled_sampling_with_probability_zero_is_teacher_forcing():
    m = small_model()
    b = batch_of([[4, 5, 6]], [[4, 5, 7, 8]])
    tf = seq2seq.loss_fn(m, b)
    np.testing.assert_allclose(seq2seq.loss_fn(m, b, sample_prob=1e-9, key=jax.random.key(0)), tf, rtol=1e-6)
    # probability one: every input after SOS is the model's previous prediction, which changes the loss
    assert abs(float(seq2seq.loss_fn(m, b, sample_prob=1.0, key=jax.random.key(0))) - float(tf)) > 1e-4
    with pytest.raises(ValueError, match="needs a PRNG key"):
        seq2seq.loss_fn(m, b, sample_prob=0.5)


@pytest.mark.parametrize(
    "attention, cell", [(None, "lstm"), ("bahdanau", "lstm"), ("luong", "lstm"), ("bahdanau", "gru")]
)
def test_the_teacher_forcing_fast_path_equals_the_step_by_step_decoder(attention, cell):
    """Teacher forcing (the training path) applies the output layer after the scan and recomputes
    each step in the backward pass (`jax.checkpoint`); scheduled sampling with a vanishing
    probability runs `step_fn` step by step. Same logits, weights and gradients."""
    m = small_model(attention, cell)
    b = batch_of([[4, 5, 6], [7, 8], [9]], [[4, 5, 7, 8], [6], [5, 5]])
    key = jax.random.key(0)
    fast = m(b["src"], b["src_len"], b["tgt_in"])
    slow = m(b["src"], b["src_len"], b["tgt_in"], sample_prob=1e-9, key=key)
    for a, c in zip(fast, slow):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    graphdef, params, rest = nnx.split(m, nnx.Param, ...)
    grad = lambda **kw: jax.grad(lambda p: seq2seq.loss_fn(nnx.merge(graphdef, p, rest), b, **kw))(params)
    leaves = zip(jax.tree_util.tree_leaves(grad()), jax.tree_util.tree_leaves(grad(sample_prob=1e-9, key=key)))
    for a, c in leaves:
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m(jnp.array([[4, 99]]), jnp.array([2]), jnp.array([[SOS]])), "token id 99 outside the vocabulary"),
        (lambda m: m(jnp.array([[4, 5]]), jnp.array([2]), jnp.array([[SOS, 9]])), "tgt_in has token id 9"),
        (lambda m: m(jnp.array([[4, 5]]), jnp.array([0]), jnp.array([[SOS]])), "src_len must lie in"),
        (lambda m: m(jnp.array([[4, 5]]), jnp.array([3]), jnp.array([[SOS]])), "src_len must lie in"),
        (lambda m: m(jnp.zeros((1, 0), jnp.int32), jnp.array([1]), jnp.array([[SOS]])), "empty sequence"),
        (lambda m: m(jnp.array([4, 5]), jnp.array([2]), jnp.array([[SOS]])), "shape \\[batch, time\\]"),
        (lambda m: m(jnp.array([[4.0, 5.0]]), jnp.array([2]), jnp.array([[SOS]])), "integer token ids"),
        (lambda m: m(jnp.array([[4, 5]]), jnp.array([2]), jnp.array([[SOS], [SOS]])), "different batch sizes"),
        (lambda m: seq2seq.greedy_decode(m, jnp.array([[4, 5]]), jnp.array([2]), 0), "max_len"),
        (lambda m: seq2seq.beam_search(m, jnp.array([[4, 5]]), jnp.array([2]), 3, width=0), "width"),
        (lambda m: seq2seq.beam_search(m, jnp.array([[4, 14]]), jnp.array([2]), 3), "outside the vocabulary"),
    ],
)
def test_bad_inputs_raise_named_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(small_model())


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="attention must be"):
        seq2seq.Seq2Seq(5, 5, attention="dot", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="encoder must be"):
        seq2seq.Seq2Seq(5, 5, encoder="cnn", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="cell must be"):
        seq2seq.Seq2Seq(5, 5, cell="tcn", rngs=nnx.Rngs(0))


# ----------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------
SRC, SRC_LEN = jnp.array([[4, 5, 6, 7], [8, 9, PAD, PAD], [10, PAD, PAD, PAD]]), jnp.array([4, 2, 1])


@pytest.mark.parametrize("attention", [None, "bahdanau", "luong"])
def test_greedy_decoding_is_the_argmax_of_teacher_forced_steps(attention):
    m = small_model(attention)
    tokens, score, attn = seq2seq.greedy_decode(m, SRC, SRC_LEN, 6)
    tokens = np.asarray(tokens)
    # feeding the greedy output back under teacher forcing reproduces its argmaxes and its score
    tgt_in = np.concatenate([np.full((3, 1), SOS), np.where(tokens[:, :-1] == EOS, PAD, tokens[:, :-1])], 1)
    logits, _ = m(SRC, SRC_LEN, jnp.asarray(tgt_in))
    logp = np.asarray(seq2seq._forbid(jax.nn.log_softmax(logits)))
    for b in range(3):
        for t in range(6):
            if t > 0 and tokens[b, t - 1] in (EOS, PAD):
                assert tokens[b, t] == PAD
            else:
                assert tokens[b, t] == logp[b, t].argmax()
    np.testing.assert_allclose(score, seq2seq.sequence_log_prob(m, SRC, SRC_LEN, tokens), rtol=1e-5)


@pytest.mark.parametrize("attention", [None, "bahdanau", "luong"])
def test_beam_search_of_width_one_is_greedy(attention):
    m = small_model(attention)
    greedy, g_score, _ = seq2seq.greedy_decode(m, SRC, SRC_LEN, 7)
    beam, b_score = seq2seq.beam_search(m, SRC, SRC_LEN, 7, width=1)
    np.testing.assert_array_equal(beam, greedy)
    np.testing.assert_allclose(b_score, g_score, rtol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_beam_search_finds_the_best_sequence_by_enumeration(alpha):
    """A target vocabulary of 6 (4 specials + 2 words): every output of up to 3 tokens can be scored."""
    m = seq2seq.Seq2Seq(14, 6, embed=8, hidden=16, attention="luong", rngs=nnx.Rngs(3))
    L, allowed = 3, [EOS, UNK, 4, 5]
    hyps = []
    for n in range(1, L + 1):
        for body in itertools.product([UNK, 4, 5], repeat=n - 1):
            hyps.append(list(body) + [EOS])
    hyps += [list(h) for h in itertools.product([UNK, 4, 5], repeat=L)]  # unfinished at max_len
    assert len(hyps) == 1 + 3 + 9 + 27
    padded = np.array([h + [PAD] * (L - len(h)) for h in hyps], np.int32)
    lengths = np.array([len(h) for h in hyps])
    for b in range(SRC.shape[0]):
        src = jnp.repeat(SRC[b : b + 1], len(hyps), 0)
        logp = np.asarray(seq2seq.sequence_log_prob(m, src, jnp.repeat(SRC_LEN[b : b + 1], len(hyps)), padded))
        norm = logp / lengths**alpha
        best = int(np.argmax(norm))
        tokens, score = seq2seq.beam_search(m, SRC[b : b + 1], SRC_LEN[b : b + 1], L, width=40, alpha=alpha)
        np.testing.assert_array_equal(np.asarray(tokens)[0], padded[best])
        np.testing.assert_allclose(float(score[0]), norm[best], rtol=1e-5)
        # a narrow beam never beats the exhaustive one
        _, narrow = seq2seq.beam_search(m, SRC[b : b + 1], SRC_LEN[b : b + 1], L, width=2, alpha=alpha)
        assert float(narrow[0]) <= norm[best] + 1e-5
    assert set(allowed) >= set(np.unique(padded[padded != PAD]))


@pytest.mark.smoke
def test_decoding_is_deterministic_and_jitted_once_per_shape():
    m = small_model()
    a = seq2seq.beam_search(m, SRC, SRC_LEN, 5, width=3)
    b = seq2seq.beam_search(m, SRC, SRC_LEN, 5, width=3)
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("kind", ["seq2seq", "transformer"])
def test_both_models_implement_the_decoding_interface_batch_first(kind):
    from rnnbook.transformer import Transformer

    if kind == "seq2seq":
        m = small_model()
    else:
        m = Transformer(14, 9, d_model=8, heads=2, d_ff=16, layers=1, max_len=8, rngs=nnx.Rngs(0))
    assert isinstance(m, seq2seq.EncoderDecoder)
    memory, carry = m.encode(SRC, SRC_LEN)
    # beam search repeats memory and carry per hypothesis and reorders the carry: every array is batch first
    assert all(leaf.shape[0] == SRC.shape[0] for leaf in jax.tree_util.tree_leaves((memory, carry)))
    carry, logits, weights = m.step_fn()(memory, carry, jnp.full(SRC.shape[0], SOS))
    assert logits.shape == (3, m.tgt_vocab) and weights.shape == SRC.shape
    with pytest.raises(ValueError, match="must implement seq2seq.EncoderDecoder"):
        seq2seq.greedy_decode(m.encode, SRC, SRC_LEN, 3)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_attention_model_learns_to_copy():
    m = seq2seq.Seq2Seq(14, 14, embed=16, hidden=48, attention="bahdanau", rngs=nnx.Rngs(0))
    val = data.copy_task(jax.random.key(1), 256, 2, 8)
    m, hist = train.fit(
        m,
        seq2seq.loss_fn,
        lambda k: data.copy_task(k, 64, 2, 8),
        key=jax.random.key(0),
        epochs=4,
        steps_per_epoch=200,
        learning_rate=3e-3,
        val_batch=val,
        progress=False,
    )
    tokens, _, _ = seq2seq.greedy_decode(m, val["src"], val["src_len"], 9)
    acc = seq2seq.exact_match(tokens, val["tgt_out"]).mean()
    assert acc > 0.95, (acc, hist.val_loss)


def test_flag_unfamiliar_flags_the_chosen_share_of_the_reference():
    reference = np.linspace(-2.0, 0.0, 1001)
    assert seq2seq.flag_unfamiliar(reference, reference, false_alarm=0.05).mean() == pytest.approx(0.05, abs=0.002)
    flags = seq2seq.flag_unfamiliar(np.array([-5.0, -1.0, -0.01]), reference, false_alarm=0.01)
    assert flags.tolist() == [True, False, False]
