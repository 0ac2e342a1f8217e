"""rnnbook.linear_rnn against PyTorch implementations nobody here wrote, with the same inputs and weights.

The peers (pure-PyTorch CPU code paths only, nothing compiled):

* mambapy 1.2.0: ``mambapy.pscan.pscan`` (Blelloch scan of ``h_t = A_t h_{t-1} + X_t``) and
  ``MambaBlock.selective_scan_seq`` / ``MambaBlock.ssm`` (Mamba's S6 as a Python loop);
* minGRU-pytorch 0.2.1: ``minGRU``, ``minLSTM`` and their log-space (Heinsen) scan;
* xlstm 2.0.6: the mLSTM backends ``parallel_stabilized_simple`` and ``recurrent_step_stabilized_simple``,
  and the sLSTM's vanilla ``slstm_forward`` with ``slstm_forward_pointwise``;
* flash-linear-attention 0.6.0 (fla-core): ``naive_recurrent_linear_attn``, loaded from its file, since
  ``fla.ops`` imports triton (absent from the CPU build of torch) for all its other kernels.

Each test skips alone, with a reason, where its peer is absent (in CI a skip fails, tests/conftest.py).
Peers run in float32 on CPU; tolerances leave room for a different summation order on another CPU.
"""

import importlib.util
import pathlib
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnbook import linear_rnn as lr
from rnnbook.cells import scan_cell

try:
    import torch  # every peer below is a PyTorch package
except ModuleNotFoundError:
    torch = None

pytestmark = pytest.mark.torch

TOL = dict(rtol=1e-5, atol=1e-5)
GRAD_TOL = dict(rtol=1e-4, atol=1e-5)


def peer(name: str, version: str):
    """The peer package ``name``, or skip the calling test with how to install it."""
    return pytest.importorskip(name, reason=f"{name} is not installed (pip install --no-deps {version})")


def rand(rng: np.random.Generator, *shape, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def tt(a, grad: bool = False):
    """A float32 torch tensor with the values of ``a`` (a leaf needing its gradient if ``grad``)."""
    return torch.tensor(np.asarray(a, dtype=np.float32), requires_grad=grad)


def close(jax_value, torch_value, tol=TOL):
    if isinstance(torch_value, torch.Tensor):
        torch_value = torch_value.detach().numpy()
    np.testing.assert_allclose(np.asarray(jax_value), torch_value, **tol)


# --------------------------------------------------------------------------------------------
# The scan: mambapy's Blelloch scan and minGRU-pytorch's log-space scan
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["parallel", "sequential"])
@pytest.mark.parametrize("length", [8, 11])  # 11: mambapy pads to the next power of two
def test_linear_scan_equals_mambapy_pscan(method, length):
    peer("mambapy", "mambapy==1.2.0")
    from mambapy.pscan import pscan

    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.0, (2, length, 3, 4)).astype(np.float32)
    b = rand(rng, 2, length, 3, 4)
    w = rand(rng, 2, length, 3, 4)
    close(lr.linear_scan(a, b, method=method), pscan(tt(a), tt(b)))

    # gradients: mambapy's hand-written backward (a reverse scan) against jax.grad
    loss = lambda a, b: jnp.sum(jnp.sin(lr.linear_scan(a, b, method=method)) * w)
    ga, gb = jax.grad(loss, argnums=(0, 1))(a, b)
    ta, tb = tt(a, grad=True), tt(b, grad=True)
    (torch.sin(pscan(ta, tb)) * tt(w)).sum().backward()
    close(ga, ta.grad, GRAD_TOL)
    close(gb, tb.grad, GRAD_TOL)


def test_linear_scan_initial_state_equals_mambapy_pscan():
    """pscan has no initial state: ``h0`` enters as an extra first step (a = 1, b = h0), dropped after."""
    peer("mambapy", "mambapy==1.2.0")
    from mambapy.pscan import pscan

    rng = np.random.default_rng(1)
    a = rng.uniform(-1.0, 1.0, (2, 6, 5)).astype(np.float32)  # signed decays too
    b, h0 = rand(rng, 2, 6, 5), rand(rng, 2, 5)
    A = np.concatenate([np.ones_like(a[:, :1]), a], axis=1)[..., None]  # pscan wants [B, L, D, N]
    X = np.concatenate([h0[:, None], b], axis=1)[..., None]
    ref = pscan(tt(A), tt(X))[:, 1:, :, 0]
    for method in ("parallel", "sequential", "loop"):
        close(lr.linear_scan(a, b, h0, method=method), ref)


def test_log_linear_scan_equals_mingru_pytorch_heinsen_scan():
    peer("minGRU_pytorch", "minGRU-pytorch==0.2.1")
    from minGRU_pytorch.minGRU import heinsen_associative_scan_log

    rng = np.random.default_rng(2)
    log_a = -rng.uniform(0.01, 2.0, (2, 9, 4)).astype(np.float32)
    log_b = rand(rng, 2, 9, 4)
    close(lr.log_linear_scan(log_a, log_b), heinsen_associative_scan_log(tt(log_a), tt(log_b)))


# --------------------------------------------------------------------------------------------
# minGRU and minLSTM
# --------------------------------------------------------------------------------------------
def min_model(cls, input_size: int, hidden_size: int, W_x: np.ndarray):
    """minGRU-pytorch's module carrying ``W_x`` (rnnbook's ``x @ W_x`` is its ``Linear`` with weight ``W_x.T``).

    Its ``Linear`` has no bias, so the rnnbook side runs with ``b = 0``. Gate blocks come in the same
    order on both sides: (candidate, z) for minGRU, (candidate, f, i) for minLSTM. ``proj_out=False``
    keeps the output the hidden state itself (no output projection) when hidden != input.
    """
    m = cls(input_size, expansion_factor=hidden_size / input_size, proj_out=False)
    layer = m.to_hidden_and_gate if hasattr(m, "to_hidden_and_gate") else m.to_hidden_and_f_i_gate
    assert tuple(layer.weight.shape) == (W_x.shape[1], input_size)
    with torch.no_grad():
        layer.weight.copy_(tt(W_x.T))
    return m


@pytest.mark.parametrize("method", ["parallel", "sequential", "loop", "log"])
def test_mingru_equals_mingru_pytorch(method):
    mg = peer("minGRU_pytorch", "minGRU-pytorch==0.2.1")
    rng = np.random.default_rng(3)
    batch, time, input_size, hidden = 2, 7, 4, 8
    params = {"W_x": rand(rng, input_size, 2 * hidden), "b": np.zeros(2 * hidden, np.float32)}
    xs = rand(rng, batch, time, input_size)
    h0 = rng.uniform(0.1, 2.0, (batch, hidden)).astype(np.float32)  # positive: the log-space peer takes its log
    m = min_model(mg.minGRU, input_size, hidden, params["W_x"])
    close(lr.mingru(params, xs, method=method), m(tt(xs)))
    close(lr.mingru(params, xs, h0, method=method), m(tt(xs), prev_hidden=tt(h0[:, None])))


def test_mingru_cell_equals_mingru_pytorch_single_step():
    """A length-1 input takes minGRU-pytorch's sequential branch: ``lerp(h_prev, g(h~), sigmoid(gate))``."""
    mg = peer("minGRU_pytorch", "minGRU-pytorch==0.2.1")
    rng = np.random.default_rng(4)
    params = {"W_x": rand(rng, 5, 2 * 5), "b": np.zeros(10, np.float32)}
    x, h = rand(rng, 3, 5), rand(rng, 3, 5)  # any sign: this branch takes no log
    m = min_model(mg.minGRU, 5, 5, params["W_x"])
    h_new, _ = lr.mingru_cell(params, h, x)
    close(h_new, m(tt(x[:, None]), prev_hidden=tt(h[:, None]))[:, 0])


def test_mingru_gradients_equal_torch_autograd():
    mg = peer("minGRU_pytorch", "minGRU-pytorch==0.2.1")
    rng = np.random.default_rng(5)
    params = {"W_x": rand(rng, 3, 2 * 6), "b": np.zeros(12, np.float32)}
    xs, w = rand(rng, 2, 8, 3), rand(rng, 2, 8, 6)
    loss = lambda p, xs: jnp.sum(jnp.sin(lr.mingru(p, xs)) * w)
    gp, gx = jax.grad(loss, argnums=(0, 1))(params, xs)
    m = min_model(mg.minGRU, 3, 6, params["W_x"])
    txs = tt(xs, grad=True)
    (torch.sin(m(txs)) * tt(w)).sum().backward()
    close(gx, txs.grad, GRAD_TOL)
    close(gp["W_x"].T, m.to_hidden_and_gate.weight.grad, GRAD_TOL)


@pytest.mark.parametrize("method", ["parallel", "sequential", "log"])
def test_minlstm_equals_mingru_pytorch_minlstm(method):
    peer("minGRU_pytorch", "minGRU-pytorch==0.2.1")
    from minGRU_pytorch.minLSTM import minLSTM

    rng = np.random.default_rng(6)
    batch, time, input_size, hidden = 2, 7, 4, 8
    params = {"W_x": rand(rng, input_size, 3 * hidden), "b": np.zeros(3 * hidden, np.float32)}
    xs = rand(rng, batch, time, input_size)
    m = min_model(minLSTM, input_size, hidden, params["W_x"])
    close(lr.minlstm(params, xs, method=method), m(tt(xs)))
    # With an initial state, minLSTM's parallel branch starts from log_g(prev_hidden), i.e. from
    # h0 = g(prev_hidden) (it treats prev_hidden as a pre-activation; its length-1 branch does not):
    # so rnnbook gets h0 = g(p) where the peer gets p.
    p = rand(rng, batch, hidden)
    h0 = np.asarray(lr.g(jnp.asarray(p)))
    close(lr.minlstm(params, xs, h0, method=method), m(tt(xs), prev_hidden=tt(p[:, None])))


# --------------------------------------------------------------------------------------------
# Mamba's selective scan
# --------------------------------------------------------------------------------------------
def selective_inputs(rng, batch=2, time=9, channels=3, state=4):
    x = rand(rng, batch, time, channels)
    delta = np.log1p(np.exp(rand(rng, batch, time, channels))).astype(np.float32)  # softplus: > 0
    A = -rng.uniform(0.5, 4.0, (channels, state)).astype(np.float32)
    B, C = rand(rng, batch, time, state), rand(rng, batch, time, state)
    D = rand(rng, channels)
    return x, delta, A, B, C, D


@pytest.mark.parametrize("method", ["parallel", "sequential"])
def test_selective_scan_equals_mambapy(method):
    """mambapy's ``selective_scan_seq`` reads only ``self.config.d_inner`` and ``d_state`` (for its zero h0)."""
    peer("mambapy", "mambapy==1.2.0")
    from mambapy.mamba import MambaBlock

    rng = np.random.default_rng(7)
    args = selective_inputs(rng)
    _, _, channels = args[0].shape
    block = types.SimpleNamespace(config=types.SimpleNamespace(d_inner=channels, d_state=args[2].shape[1]))
    targs = [tt(a, grad=True) for a in args]
    ref = MambaBlock.selective_scan_seq(block, *targs)
    close(lr.selective_scan(*args, method=method), ref)
    close(lr.selective_scan(*args, method=method), MambaBlock.selective_scan(block, *map(tt, args)))

    w = rand(rng, *ref.shape)
    grads = jax.grad(lambda *a: jnp.sum(jnp.sin(lr.selective_scan(*a, method=method)) * w), argnums=range(6))(*args)
    (torch.sin(ref) * tt(w)).sum().backward()
    for g_jax, t in zip(grads, targs):
        close(g_jax, t.grad, GRAD_TOL)


@pytest.mark.parametrize("pscan", [False, True])
def test_selective_ssm_equals_mambapy_ssm(pscan):
    """rnnbook's full-rank step ``softplus(x W_dt + b_dt)`` is mambapy's low-rank one with ``dt_rank =
    channels``, the x_proj rows for delta set to ``W_dt.T`` and ``dt_proj.weight`` the identity; its
    ``x_proj`` rows for B and C are ``W_B.T`` and ``W_C.T`` (mambapy's ``ssm(x, z)`` ignores ``z`` off CUDA)."""
    peer("mambapy", "mambapy==1.2.0")
    from mambapy.mamba import MambaBlock, MambaConfig

    rng = np.random.default_rng(8)
    channels, state = 4, 3
    params = {k: np.asarray(v) for k, v in lr.init_selective_ssm(jax.random.key(0), channels, state).items()}
    params["A_log"] = params["A_log"] + rng.uniform(-0.3, 0.3, (channels, state)).astype(np.float32)
    params["D"] = rand(rng, channels)
    params["b_dt"] = rng.uniform(-1.0, 1.0, channels).astype(np.float32)  # steps near 1, not 1e-3: A matters
    x = rand(rng, 2, 10, channels)
    cfg = MambaConfig(d_model=channels, n_layers=1, d_state=state, expand_factor=1, dt_rank=channels, pscan=pscan)
    block = MambaBlock(cfg)
    with torch.no_grad():
        block.x_proj.weight.copy_(tt(np.concatenate([params["W_dt"], params["W_B"], params["W_C"]], axis=1).T))
        block.dt_proj.weight.copy_(torch.eye(channels))
        block.dt_proj.bias.copy_(tt(params["b_dt"]))
        block.A_log.copy_(tt(params["A_log"]))
        block.D.copy_(tt(params["D"]))
    close(lr.selective_ssm(params, x), block.ssm(tt(x), None))


# --------------------------------------------------------------------------------------------
# Linear attention: fla's naive recurrent form
# --------------------------------------------------------------------------------------------
def fla_naive():
    """fla's ``ops/linear_attn/naive.py`` (plain torch + einops), loaded from its file: ``import
    fla.ops.linear_attn`` runs ``fla/ops/__init__.py``, which imports triton for every other kernel."""
    fla = peer("fla", "fla-core==0.6.0 flash-linear-attention==0.6.0")
    peer("einops", "einops==0.8.2")
    path = pathlib.Path(fla.__file__).parent / "ops" / "linear_attn" / "naive.py"
    spec = importlib.util.spec_from_file_location("fla_linear_attn_naive", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.naive_recurrent_linear_attn


@pytest.mark.parametrize("method", ["parallel", "recurrent"])
def test_linear_attention_equals_fla_naive(method):
    """fla applies no feature map and wants ``[batch, time, heads, d]``: it gets ``elu(q) + 1``,
    ``elu(k) + 1`` with one head, ``scale=1``, ``normalize=True`` (whose epsilon is 1e-10, so rnnbook's
    ``eps`` is set to the same)."""
    naive = fla_naive()
    rng = np.random.default_rng(9)
    q, k, v = rand(rng, 2, 7, 3), rand(rng, 2, 7, 3), rand(rng, 2, 7, 5)
    w = rand(rng, 2, 7, 5)
    phi = lambda a: torch.nn.functional.elu(a) + 1
    tq, tk, tv = (tt(a, grad=True) for a in (q, k, v))
    ref, _ = naive(phi(tq)[:, :, None], phi(tk)[:, :, None], tv[:, :, None], scale=1.0, normalize=True)
    ref = ref[:, :, 0]
    f = lambda q, k, v: lr.linear_attention(q, k, v, method=method, eps=1e-10)
    close(f(q, k, v), ref)

    grads = jax.grad(lambda *a: jnp.sum(jnp.sin(f(*a)) * w), argnums=(0, 1, 2))(q, k, v)
    (torch.sin(ref) * tt(w)).sum().backward()
    for g_jax, t in zip(grads, (tq, tk, tv)):
        close(g_jax, t.grad, GRAD_TOL)


# --------------------------------------------------------------------------------------------
# xLSTM: mLSTM backends and the vanilla sLSTM
# --------------------------------------------------------------------------------------------
def mlstm_inputs(rng, batch=2, heads=2, time=8, d=4):
    """Inputs for ``heads`` xlstm heads; rnnbook's one-head ``mlstm`` sees them as ``batch * heads`` rows.

    Input-gate pre-activations spread over [-3, 5] (the exponential gate and its stabiliser matter),
    forget-gate ones around +2 (as xlstm's bias init) and some negative."""
    q, k, v = (rand(rng, batch, heads, time, d) for _ in range(3))
    i_pre = rng.uniform(-3.0, 5.0, (batch, heads, time, 1)).astype(np.float32)
    f_pre = (2.0 + 2.0 * rng.standard_normal((batch, heads, time, 1))).astype(np.float32)
    return q, k, v, i_pre, f_pre


def rows(a: np.ndarray) -> np.ndarray:
    """xlstm's ``[batch, heads, time, d]`` (or ``[..., 1]`` gates) as rnnbook's ``[batch*heads, time, d]``."""
    b, h, t, d = a.shape
    a = a.reshape(b * h, t, d)
    return a[..., 0] if d == 1 else a


def xlstm_mlstm_recurrent(q, k, v, i_pre, f_pre):
    from xlstm.blocks.mlstm.backends import recurrent_step_stabilized_simple

    b, h, time, d = q.shape
    c, n, m = torch.zeros(b, h, d, d), torch.zeros(b, h, d, 1), torch.zeros(b, h, 1, 1)  # as mLSTMCell.step
    hs = []
    for t in range(time):  # slices: the backend squeezes q, k, v in place
        s = slice(t, t + 1)
        h_t, (c, n, m) = recurrent_step_stabilized_simple(
            c, n, m, q[:, :, s], k[:, :, s], v[:, :, s], i_pre[:, :, s], f_pre[:, :, s]
        )
        hs.append(h_t)
    return torch.cat(hs, dim=2)


def test_mlstm_equals_xlstm_backends():
    peer("xlstm", "xlstm==2.0.6")
    from xlstm.blocks.mlstm.backends import parallel_stabilized_simple

    rng = np.random.default_rng(10)
    args = mlstm_inputs(rng)
    b, h, time, d = args[0].shape
    par = parallel_stabilized_simple(*map(tt, args))
    rec = xlstm_mlstm_recurrent(*map(tt, args))
    ours_par = lr.mlstm(*map(rows, args), method="parallel")
    ours_rec = lr.mlstm(*map(rows, args), method="recurrent")
    close(ours_par, par.reshape(b * h, time, d))
    close(ours_rec, rec.reshape(b * h, time, d))
    # across forms: the stabilisers differ (row max against the running m from m_0 = 0), which only
    # moves the epsilon of the denominator, so the two agree to a little more than float32 rounding
    close(ours_par, rec.reshape(b * h, time, d), dict(rtol=1e-4, atol=1e-5))


def test_mlstm_gradients_equal_torch_autograd():
    peer("xlstm", "xlstm==2.0.6")
    from xlstm.blocks.mlstm.backends import parallel_stabilized_simple

    rng = np.random.default_rng(11)
    args = mlstm_inputs(rng, batch=1, heads=2, time=6, d=3)
    targs = [tt(a, grad=True) for a in args]
    out = parallel_stabilized_simple(*targs)
    w = rand(rng, *out.shape)
    (torch.sin(out) * tt(w)).sum().backward()
    loss = lambda *a: jnp.sum(jnp.sin(lr.mlstm(*a, method="parallel")) * rows(w))
    grads = jax.grad(loss, argnums=range(5))(*map(rows, args))
    for g_jax, t in zip(grads, targs):
        close(g_jax, rows(t.grad.numpy()), GRAD_TOL)


def xlstm_slstm(params, xs):
    """xlstm's vanilla sLSTM over ``xs: [batch, time, input]`` from the zero state, one head.

    Gate blocks are (i, f, z, o) on both sides. ``slstm_forward`` takes the input projection already
    made (``[time, batch, 4*hidden]``) and the recurrent kernel as ``R: [heads, 4*hidden, hidden]``
    with ``Ry = y @ R[0].T``, so ``R[0] = W_h.T``."""
    from xlstm.blocks.slstm.src.vanilla import slstm_forward
    from xlstm.blocks.slstm.src.vanilla.slstm import slstm_forward_pointwise

    W_x, W_h, b = (tt(params[n], grad=True) for n in ("W_x", "W_h", "b"))
    txs = tt(xs, grad=True)
    hidden = W_h.shape[0]
    states0 = torch.zeros(4, xs.shape[0], hidden)  # (y, c, n, m)
    states, _, _ = slstm_forward((txs @ W_x).transpose(0, 1), states0, W_h.T[None], b, slstm_forward_pointwise)
    return states[0, 1:].transpose(0, 1), (txs, W_x, W_h, b)


def test_slstm_equals_xlstm_vanilla():
    peer("xlstm", "xlstm==2.0.6")
    rng = np.random.default_rng(12)
    batch, time, input_size, hidden = 2, 9, 3, 5
    params = {
        "W_x": rand(rng, input_size, 4 * hidden),
        "W_h": rand(rng, hidden, 4 * hidden, scale=0.5),
        "b": rand(rng, 4 * hidden),
    }
    xs = rand(rng, batch, time, input_size, scale=2.0)
    run = lambda p, xs: scan_cell(lr.slstm_cell, p, xs, lr.SLSTM.initial_carry(xs.shape[0], hidden))[1]
    ref, leaves = xlstm_slstm(params, xs)
    close(run(params, xs), ref)

    w = rand(rng, batch, time, hidden)
    gp, gx = jax.grad(lambda p, xs: jnp.sum(jnp.sin(run(p, xs)) * w), argnums=(0, 1))(params, xs)
    (torch.sin(ref) * tt(w)).sum().backward()
    txs, W_x, W_h, b = leaves
    close(gx, txs.grad, GRAD_TOL)
    for name, t in (("W_x", W_x), ("W_h", W_h), ("b", b)):
        close(gp[name], t.grad, GRAD_TOL)
