"""rnnbook.hlo reads what XLA prints: checked on a module written out by hand (every kind of line the
readers handle) and on programs JAX compiles here on one device. The Scaling appendix checks them on
8 devices, where it asserts what its sharded programs send."""

import jax
import jax.numpy as jnp
import pytest

from rnnbook import hlo

MODULE = """HloModule jit_step, entry_computation_layout={(f32[4,8]{1,0})->f32[4,8]{1,0}}

%add (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %sum = f32[] add(f32[] %a, f32[] %b)
}

%inner.1 (p: f32[2,8]) -> f32[4,8] {
  %p = f32[2,8]{1,0} parameter(0)
  ROOT %ag = f32[4,8]{1,0} all-gather(f32[2,8]{1,0} %p), dimensions={0}
}

%body.2 (t: (s32[], f32[4,8])) -> (s32[], f32[4,8]) {
  %t = (s32[], f32[4,8]{1,0}) parameter(0)
  %x = f32[4,8]{1,0} get-tuple-element(%t), index=1
  %c = f32[4,8]{1,0} call(f32[2,8]{1,0} %x), to_apply=%inner.1
  ROOT %r = (s32[], f32[4,8]{1,0}) tuple(s32[] %i, f32[4,8]{1,0} %c)
}

%cond.3 (t: (s32[], f32[4,8])) -> pred[] {
  %t = (s32[], f32[4,8]{1,0}) parameter(0)
  ROOT %lt = pred[] compare(s32[] %i, s32[] %n), direction=LT
}

ENTRY %main.4 (x: f32[4,8]) -> f32[4,8] {
  %x = f32[4,8]{1,0} parameter(0)
  %ar = (f32[2]{0}, /*index=1*/bf16[3]{0}) all-reduce(f32[2]{0} %u, bf16[3]{0} %v), to_apply=%add
  %w = (s32[], f32[4,8]{1,0}) while((s32[], f32[4,8]{1,0}) %init), condition=%cond.3, body=%body.2
  %s = f32[4,8]{1,0} all-reduce-start(f32[4,8]{1,0} %x), to_apply=%add
  %d = f32[4,8]{1,0} all-reduce-done(f32[4,8]{1,0} %s)
  ROOT %out = f32[4,8]{1,0} get-tuple-element(%w), index=1
}
"""


def test_collectives_counts_each_once_with_the_bytes_of_its_result():
    found = hlo.collectives(MODULE)
    # the tuple all-reduce: 2 floats + 3 bfloat16s; the all-gather of [4, 8] floats; the async pair once
    assert found == [("all-gather", 4 * 8 * 4), ("all-reduce", 2 * 4 + 3 * 2), ("all-reduce", 4 * 8 * 4)]


def test_hlo_computations_and_the_collectives_of_each_loop():
    blocks = hlo.hlo_computations(MODULE)
    assert set(blocks) == {"add", "inner.1", "body.2", "cond.3", "main.4"}
    assert "all-gather" in blocks["inner.1"] and "while(" in blocks["main.4"]
    # the loop body sends what the computation it calls sends; the entry's collectives are not in a loop
    assert hlo.loop_collectives(MODULE) == {"body.2": [("all-gather", 128)]}


def test_one_device_programs_send_nothing_and_a_product_counts_its_flops():
    loop = jax.jit(lambda x: jax.lax.fori_loop(0, 5, lambda i, h: jnp.tanh(h @ x), x))
    compiled = loop.lower(jnp.ones((16, 16))).compile()
    text = compiled.as_text()
    assert hlo.collectives(text) == []
    bodies = hlo.loop_collectives(text)
    assert len(bodies) == 1 and list(bodies.values()) == [[]]
    product = jax.jit(lambda a, b: a @ b).lower(jnp.ones((32, 64)), jnp.ones((64, 16))).compile()
    assert hlo.per_device_flops(product) == pytest.approx(2 * 32 * 64 * 16, rel=0.05)
