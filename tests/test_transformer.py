"""The Transformer against JAX's, Flax's and PyTorch's attention and encoder layer; masks; the KV cache."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnnbook import data, seq2seq, transformer
from rnnbook.vocab import PAD

try:
    import torch  # the reference implementation, for the tests marked `torch` alone
except ModuleNotFoundError:
    torch = None  # those tests are skipped with a reason (tests/conftest.py); the others run


def t(a):
    return torch.tensor(np.asarray(a))


def copy_linear(torch_linear, ours: nnx.Linear):
    with torch.no_grad():
        torch_linear.weight.copy_(t(ours.kernel[...]).T)
        torch_linear.bias.copy_(t(ours.bias[...]))


def copy_mha(torch_mha, ours: transformer.MultiHeadAttention):
    with torch.no_grad():
        torch_mha.in_proj_weight.copy_(
            t(jnp.concatenate([ours.q.kernel[...], ours.k.kernel[...], ours.v.kernel[...]], 1)).T
        )
        torch_mha.in_proj_bias.copy_(t(jnp.concatenate([ours.q.bias[...], ours.k.bias[...], ours.v.bias[...]])))
    copy_linear(torch_mha.out_proj, ours.o)


def test_scaled_dot_product_attention_equals_jax():
    kq, kk, kv = jax.random.split(jax.random.key(0), 3)
    q, k, v = (
        jax.random.normal(kq, (2, 5, 3, 8)),
        jax.random.normal(kk, (2, 7, 3, 8)),
        jax.random.normal(kv, (2, 7, 3, 8)),
    )
    mask = transformer.padding_mask(jnp.array([7, 4]), 7)
    ours, weights = transformer.scaled_dot_product_attention(q, k, v, mask)
    ref = jax.nn.dot_product_attention(q, k, v, mask=mask)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.asarray(weights)[1, :, :, 4:] == 0.0)  # padded keys: weight exactly 0
    causal = transformer.causal_mask(5)
    q5, k5, v5 = q, k[:, :5], v[:, :5]
    np.testing.assert_allclose(
        transformer.scaled_dot_product_attention(q5, k5, v5, causal)[0],
        jax.nn.dot_product_attention(q5, k5, v5, is_causal=True),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.smoke
def test_multi_head_attention_equals_flax():
    ours = transformer.MultiHeadAttention(16, 4, rngs=nnx.Rngs(0))
    ref = nnx.MultiHeadAttention(
        num_heads=4, in_features=16, qkv_features=16, out_features=16, decode=False, rngs=nnx.Rngs(1)
    )
    for name in ("query", "key", "value"):
        lin = {"query": ours.q, "key": ours.k, "value": ours.v}[name]
        getattr(ref, name).kernel[...] = lin.kernel[...].reshape(16, 4, 4)
        getattr(ref, name).bias[...] = lin.bias[...].reshape(4, 4)
    ref.out.kernel[...] = ours.o.kernel[...].reshape(4, 4, 16)
    ref.out.bias[...] = ours.o.bias[...]
    xq, xkv = jax.random.normal(jax.random.key(2), (3, 5, 16)), jax.random.normal(jax.random.key(3), (3, 6, 16))
    mask = transformer.padding_mask(jnp.array([6, 3, 1]), 6)
    np.testing.assert_allclose(
        ours(xq, xkv, mask)[0], ref(xq, xkv, mask=mask, deterministic=True), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(ours(xq, xkv)[0], ref(xq, xkv, deterministic=True), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.torch
def test_multi_head_attention_equals_torch(masked):
    ours = transformer.MultiHeadAttention(16, 4, rngs=nnx.Rngs(0))
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    copy_mha(ref, ours)
    xq, xkv = jax.random.normal(jax.random.key(2), (3, 5, 16)), jax.random.normal(jax.random.key(3), (3, 6, 16))
    lengths = jnp.array([6, 3, 1])
    mask = transformer.padding_mask(lengths, 6) if masked else None
    out, weights = ours(xq, xkv, mask)
    pad = t(np.arange(6)[None, :] >= np.asarray(lengths)[:, None]) if masked else None
    ref_out, ref_w = ref(t(xq), t(xkv), t(xkv), key_padding_mask=pad, average_attn_weights=False)
    np.testing.assert_allclose(out, ref_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weights, ref_w.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.torch
def test_encoder_layer_equals_torch(norm_first):
    ours = transformer.EncoderLayer(16, 4, 32, norm_first=norm_first, rngs=nnx.Rngs(0))
    ours.norm1.scale[...] = 1 + 0.1 * jax.random.normal(jax.random.key(5), (16,))  # non-trivial norms
    ours.norm2.bias[...] = 0.1 * jax.random.normal(jax.random.key(6), (16,))
    ref = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    ref.eval()
    copy_mha(ref.self_attn, ours.attn)
    copy_linear(ref.linear1, ours.ff.w1)
    copy_linear(ref.linear2, ours.ff.w2)
    with torch.no_grad():
        for tn, on in [(ref.norm1, ours.norm1), (ref.norm2, ours.norm2)]:
            tn.weight.copy_(t(on.scale[...]))
            tn.bias.copy_(t(on.bias[...]))
    x = jax.random.normal(jax.random.key(4), (2, 7, 16))
    lengths = jnp.array([7, 4])
    out = ours(x, transformer.padding_mask(lengths, 7))
    pad = t(np.arange(7)[None, :] >= np.asarray(lengths)[:, None])
    ref_out = ref(t(x), src_key_padding_mask=pad).detach().numpy()
    np.testing.assert_allclose(np.asarray(out)[0], ref_out[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out)[1, :4], ref_out[1, :4], rtol=1e-4, atol=1e-5)  # real positions


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.torch
def test_decoder_layer_equals_torch_whole_and_one_cached_position_at_a_time(norm_first):
    ours = transformer.DecoderLayer(16, 4, 32, norm_first=norm_first, rngs=nnx.Rngs(0))
    for i, norm in enumerate(ours.norms):  # non-trivial norms
        norm.scale[...] = 1 + 0.1 * jax.random.normal(jax.random.key(10 + i), (16,))
        norm.bias[...] = 0.1 * jax.random.normal(jax.random.key(20 + i), (16,))
    ref = torch.nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    ref.eval()
    copy_mha(ref.self_attn, ours.self_attn)
    copy_mha(ref.multihead_attn, ours.cross_attn)
    copy_linear(ref.linear1, ours.ff.w1)
    copy_linear(ref.linear2, ours.ff.w2)
    with torch.no_grad():
        for tn, on in zip([ref.norm1, ref.norm2, ref.norm3], ours.norms):
            tn.weight.copy_(t(on.scale[...]))
            tn.bias.copy_(t(on.bias[...]))
    x, memory = jax.random.normal(jax.random.key(4), (2, 5, 16)), jax.random.normal(jax.random.key(7), (2, 6, 16))
    src_len = jnp.array([6, 3])
    out, cross, no_cache = ours(x, memory, transformer.causal_mask(5), transformer.padding_mask(src_len, 6))
    ref_out = ref(
        t(x),
        t(memory),
        tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(5),
        memory_key_padding_mask=t(np.arange(6)[None, :] >= np.asarray(src_len)[:, None]),
    ).detach()
    np.testing.assert_allclose(out, ref_out.numpy(), rtol=1e-4, atol=1e-5)
    assert no_cache is None
    # decoding: the same layer, one position at a time, with a cache and the memory projected once
    cache, memory_kv = transformer.KVCache.empty(2, 8, 4, 4), ours.cross_attn.keys_values(memory, src_len)
    for i in range(5):
        y, w, cache = ours(x[:, i : i + 1], memory_kv, None, None, cache=cache)
        np.testing.assert_allclose(y[:, 0], ref_out.numpy()[:, i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(w[:, :, 0], cross[:, :, i], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(cache.length, [5, 5])


def test_kv_cache_appends_per_row_and_masks_what_is_not_written():
    cache = transformer.KVCache.empty(2, 4, 1, 1)._replace(length=jnp.array([0, 2], jnp.int32))
    k = jnp.array([[1.0, 2.0], [3.0, 4.0]])[:, :, None, None]  # [batch 2, time 2, heads 1, d 1]
    cache = cache.append(k, -k)
    np.testing.assert_array_equal(cache.k[..., 0, 0], [[1, 2, 0, 0], [0, 0, 3, 4]])
    np.testing.assert_array_equal(cache.v, -cache.k)
    np.testing.assert_array_equal(cache.length, [2, 4])
    np.testing.assert_array_equal(cache.mask()[:, 0, 0], [[True, True, False, False], [True] * 4])
    # attending over projected keys and values = attending over the inputs with their padding mask
    mha = transformer.MultiHeadAttention(16, 4, rngs=nnx.Rngs(0))
    xq, xkv = jax.random.normal(jax.random.key(2), (3, 5, 16)), jax.random.normal(jax.random.key(3), (3, 6, 16))
    lengths = jnp.array([6, 3, 1])
    out, w = mha(xq, mha.keys_values(xkv, lengths))
    ref_out, ref_w = mha(xq, xkv, transformer.padding_mask(lengths, 6))
    np.testing.assert_allclose(out, ref_out, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(w, ref_w)


def test_sinusoidal_positions_match_the_formula():
    pe = np.asarray(transformer.sinusoidal_positions(50, 16))
    for pos in (0, 1, 7, 49):
        for i in range(8):
            np.testing.assert_allclose(pe[pos, 2 * i], np.sin(pos / 10000 ** (2 * i / 16)), atol=1e-6)
            np.testing.assert_allclose(pe[pos, 2 * i + 1], np.cos(pos / 10000 ** (2 * i / 16)), atol=1e-6)


@pytest.mark.parametrize("norm_first", [True, False])
def test_layers_without_residuals_are_the_sublayers_composed(norm_first):
    """``residual=False``: every sub-layer is F(LN(x)) (pre-LN) or LN(F(x)) (post-LN), nothing added back."""
    x, memory = jax.random.normal(jax.random.key(4), (2, 5, 16)), jax.random.normal(jax.random.key(7), (2, 6, 16))
    mask, mem_mask = transformer.causal_mask(5), transformer.padding_mask(jnp.array([6, 3]), 6)

    def wrap(f, norm):
        return (lambda h: f(norm(h))) if norm_first else (lambda h: norm(f(h)))

    enc = transformer.EncoderLayer(16, 4, 32, norm_first=norm_first, residual=False, rngs=nnx.Rngs(0))
    expected = wrap(enc.ff, enc.norm2)(wrap(lambda h: enc.attn(h, h, mask)[0], enc.norm1)(x))
    np.testing.assert_allclose(enc(x, mask), expected, rtol=1e-5, atol=1e-6)

    dec = transformer.DecoderLayer(16, 4, 32, norm_first=norm_first, residual=False, rngs=nnx.Rngs(0))
    h = wrap(lambda h: dec.self_attn(h, h, mask)[0], dec.norms[0])(x)
    h = wrap(lambda h: dec.cross_attn(h, memory, mem_mask)[0], dec.norms[1])(h)
    expected = wrap(dec.ff, dec.norms[2])(h)
    out, _, _ = dec(x, memory, mask, mem_mask)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    with_residual = transformer.DecoderLayer(16, 4, 32, norm_first=norm_first, rngs=nnx.Rngs(0))
    assert not np.allclose(with_residual(x, memory, mask, mem_mask)[0], out, atol=1e-3)  # the flag does something


def small(norm_first=True, layers=2, **kw):
    return transformer.Transformer(
        14, 14, d_model=16, heads=2, d_ff=32, layers=layers, max_len=12, norm_first=norm_first, rngs=nnx.Rngs(0), **kw
    )


@pytest.mark.slow  # compiles long scans: about 10 s cold, too long for `make unit`
def test_causal_mask_hides_the_future_and_padding_changes_nothing():
    m = small()
    b = data.copy_task(jax.random.key(0), 3, 2, 6)
    logits, _ = m(b["src"], b["src_len"], b["tgt_in"])
    changed = b["tgt_in"].at[:, 4:].set(9)  # change the decoder inputs from step 4 on
    logits2, _ = m(b["src"], b["src_len"], changed)
    np.testing.assert_allclose(logits2[:, :4], logits[:, :4], rtol=1e-5, atol=1e-5)
    assert float(jnp.abs(logits2[:, 4:] - logits[:, 4:]).max()) > 1e-3
    src_wide = jnp.pad(b["src"], ((0, 0), (0, 3)))  # more source padding
    logits3, w3 = m(src_wide, b["src_len"], b["tgt_in"])
    np.testing.assert_allclose(logits3, logits, rtol=1e-5, atol=1e-5)
    assert np.all(
        np.asarray(w3)[np.arange(9)[None, None, :].repeat(3, 0) >= np.asarray(b["src_len"])[:, None, None].repeat(7, 1)]
        == 0.0
    )
    # padded source tokens can be anything
    garbage = jnp.where(jnp.arange(6)[None, :] < b["src_len"][:, None], b["src"], 13)
    np.testing.assert_allclose(m(garbage, b["src_len"], b["tgt_in"])[0], logits, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # compiles long scans: about 10 s cold, too long for `make unit`
@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("positions", ["sinusoidal", "learned", "no residual"])
def test_kv_cache_decoding_equals_full_recomputation(norm_first, positions):
    options = dict(residual=False) if positions == "no residual" else dict(positions=positions)
    m = small(norm_first, layers=3, **options)
    b = data.copy_task(jax.random.key(1), 3, 2, 6)
    full, full_w = m(b["src"], b["src_len"], b["tgt_in"])
    (memory, cache), step = m.encode(b["src"], b["src_len"]), m.step_fn()
    for i in range(b["tgt_in"].shape[1]):
        cache, logits, w = step(memory, cache, b["tgt_in"][:, i])
        np.testing.assert_allclose(logits, full[:, i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(w, full_w[:, i], rtol=1e-4, atol=1e-6)
    assert len(cache) == 3 and all(np.all(np.asarray(c.length) == b["tgt_in"].shape[1]) for c in cache)
    assert isinstance(m, seq2seq.EncoderDecoder)
    tokens, score, _ = seq2seq.greedy_decode(m, b["src"], b["src_len"], 9)
    np.testing.assert_allclose(score, seq2seq.sequence_log_prob(m, b["src"], b["src_len"], tokens), rtol=1e-4)
    beam, b_score = seq2seq.beam_search(m, b["src"], b["src_len"], 9, width=1)
    np.testing.assert_array_equal(beam, tokens)


def test_bad_inputs():
    with pytest.raises(ValueError, match="divisible"):
        transformer.MultiHeadAttention(10, 3, rngs=nnx.Rngs(0))
    m = small()
    src, src_len = jnp.array([[4, 5, PAD]]), jnp.array([2])
    with pytest.raises(ValueError, match="longer than the model's max_len"):
        seq2seq.greedy_decode(m, src, src_len, 13)
    with pytest.raises(ValueError, match="more than max_len"):
        m(jnp.full((1, 13), 4), jnp.array([13]), jnp.array([[1]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        m(jnp.array([[4, 14]]), jnp.array([2]), jnp.array([[1]]))
    with pytest.raises(ValueError, match="scheduled sampling"):
        m(src, src_len, jnp.array([[1]]), sample_prob=0.5, key=jax.random.key(0))
    with pytest.raises(ValueError, match="positions must be"):
        small(positions="rotary")
