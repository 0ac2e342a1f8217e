"""Data parallelism in rnnbook.train: a sharded step equals the single-device step.

The pytest process has already started JAX with one CPU device, so the multi-device checks run in
a fresh interpreter with XLA_FLAGS=--xla_force_host_platform_device_count=8 set before JAX starts.
"""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AxisType

from rnnbook import train


def run_on_8_devices(code):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


PRELUDE = """
import jax, jax.numpy as jnp, numpy as np, optax
from flax import nnx
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
from rnnbook import train
from rnnbook.layers import Recurrent
assert len(jax.devices()) == 8
mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))

class Model(nnx.Module):
    def __init__(self, cell, *, rngs):
        self.rnn = Recurrent(cell, 3, 16, rngs=rngs)
        self.out = nnx.Linear(16, 1, rngs=rngs)
    def __call__(self, xs):
        return self.out(self.rnn(xs)[1])[..., 0]

def loss_fn(model, batch):
    xs, ys = batch
    return jnp.mean((model(xs) - ys) ** 2)

xs = jax.random.normal(jax.random.key(0), (256, 12, 3))
data = (xs, jnp.cumsum(xs[..., 0], axis=1) / 4)  # a running sum: learnable
"""


@pytest.mark.slow
def test_sharded_gradient_step_equals_the_single_device_step():
    out = run_on_8_devices(
        PRELUDE
        + """
for cell in ["rnn", "gru", "lstm"]:
    graph, state = nnx.split(Model(cell, rngs=nnx.Rngs(0)))
    step = jax.jit(jax.value_and_grad(lambda s, b: loss_fn(nnx.merge(graph, s), b)))
    batch = train.minibatches(data, 64)(jax.random.key(2))
    loss1, grads1 = step(state, batch)
    loss8, grads8 = step(train.replicate(state, mesh), train.shard_batch(batch, mesh))
    assert abs(float(loss1) - float(loss8)) <= 1e-6 * abs(float(loss1))
    for g1, g8 in zip(jax.tree_util.tree_leaves(grads1), jax.tree_util.tree_leaves(grads8)):
        np.testing.assert_allclose(np.asarray(g8), np.asarray(g1), rtol=1e-5, atol=1e-7)
        assert g8.sharding.is_fully_replicated       # the gradient was summed over the devices
    hlo = step.lower(train.replicate(state, mesh), train.shard_batch(batch, mesh)).compile().as_text()
    assert "all-reduce" in hlo
    assert "all-gather" not in hlo, cell  # the batch stays sharded (the fused LSTM's backward included)
# On several devices the fused LSTM and GRU contract over (time, batch) without reshaping them into one
# axis: still the scanned cell's numbers, values and gradients, with a sharded batch.
for cell in ["lstm", "gru"]:
    layer = Recurrent(cell, 3, 16, rngs=nnx.Rngs(1))
    graph, state = nnx.split(layer)
    scanned = nnx.merge(graph, state)
    scanned.fused = False
    lengths = jnp.asarray(np.random.default_rng(0).integers(1, 13, 64))
    value = lambda model, x: jnp.sum(jnp.sin(model(x, lengths)[1]))
    fast = jax.jit(jax.value_and_grad(lambda s, x: value(nnx.merge(graph, s), x), argnums=(0, 1)))
    v8, (g8, dx8) = fast(train.replicate(state, mesh), train.shard_batch(xs[:64], mesh))
    v1, (g1, dx1) = jax.value_and_grad(lambda m, x: value(m, x), argnums=(0, 1))(scanned, xs[:64])
    assert abs(float(v8) - float(v1)) <= 1e-5 * abs(float(v1)), cell
    np.testing.assert_allclose(np.asarray(dx8), np.asarray(dx1), rtol=1e-4, atol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(g8), jax.tree_util.tree_leaves(nnx.state(g1))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
print("ok")
"""
    )
    assert out.strip().endswith("ok")


@pytest.mark.slow
def test_fit_with_a_mesh_follows_the_single_device_losses():
    out = run_on_8_devices(
        PRELUDE
        + """
runs = {}
for mesh_arg in [None, mesh]:
    model, runs[mesh_arg is None] = train.fit(Model("lstm", rngs=nnx.Rngs(0)), loss_fn, train.minibatches(data, 64),
                                              key=jax.random.key(3), epochs=3, steps_per_epoch=5, learning_rate=1e-2,
                                              val_batch=(data[0][:64], data[1][:64]), mesh=mesh_arg, progress=False)
    if mesh_arg is not None:
        leaves = jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))
        assert all(leaf.sharding.spec == P() and leaf.sharding.mesh.size == 8 for leaf in leaves)
one, many = runs[True], runs[False]
np.testing.assert_allclose(many.train_loss, one.train_loss, rtol=1e-5)
np.testing.assert_allclose(many.val_loss, one.val_loss, rtol=1e-5)
assert one.val_loss[-1] < one.val_loss[0]
try:
    train.fit(Model("rnn", rngs=nnx.Rngs(0)), loss_fn, train.minibatches(data, 60), key=jax.random.key(3),
              epochs=1, steps_per_epoch=1, mesh=mesh, progress=False)
except ValueError as err:
    assert "batch size 60 is not divisible by the 8 devices" in str(err), err
else:
    raise AssertionError("a batch of 60 cannot be split over 8 devices")
print("ok")
"""
    )
    assert out.strip().endswith("ok")


@pytest.mark.smoke
def test_shard_batch_checks_its_inputs():
    mesh = jax.make_mesh((1,), ("data",), axis_types=(AxisType.Auto,))
    batch = train.shard_batch({"x": jnp.ones((4, 2)), "y": jnp.ones(4)}, mesh)
    wanted = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data", None))
    assert batch["x"].sharding.is_equivalent_to(wanted, 2) and (batch["x"] == 1).all()
    with pytest.raises(ValueError, match="no axis 'model'"):
        train.shard_batch(jnp.ones((4, 2)), mesh, axis="model")
    with pytest.raises(ValueError, match="scalar"):
        train.shard_batch(jnp.float32(1.0), mesh)
    explicit = jax.make_mesh((1,), ("data",), axis_types=(AxisType.Explicit,))
    with pytest.raises(ValueError, match="Explicit"):
        train.shard_batch(jnp.ones((4, 2)), explicit)
