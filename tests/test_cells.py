"""The cell contract of rnnbook.cells, checked once for every cell of the package.

Every cell of ``layers.CELLS`` (Elman, GRU in both conventions, LSTM in its three variants, and
Chapter 8's minGRU, minLSTM and sLSTM) and the
NTM (``ntm.NTM``, where a check applies to it) is driven by the same generic tests: ``scan_cell``
equals an unrolled Python loop; padding changes nothing; ``initial_carry``, ``hidden`` and
``carry_from_hidden`` agree; unknown options are refused; ``init`` is a function of its key; the
weights follow the one naming scheme (the table in ``rnnbook/cells.py``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnnbook import cells, gru, layers, linear_rnn, lstm, ntm, rnn
from rnnbook.layers import Recurrent

BATCH, TIME, INPUT, HIDDEN = 3, 5, 4, 6
SLOTS, WIDTH, OUTPUT = 7, 3, 2  # the NTM's memory and read-out

ALL = {**layers.CELLS, "ntm": ntm.NTM}
NAMES = list(layers.CELLS)  # the recurrent cells: carry h or (h, c), output h
WEIGHT_NAMES = {"W_x", "W_h", "b", "b_h", "p_i", "p_f", "p_o"}
GATES = {"rnn": 1, "gru": 3, "gru_cho2014": 3, "lstm": 4, "peephole_lstm": 4, "lstm1997": 3}
GATES |= {"mingru": 2, "minlstm": 3, "slstm": 4}
LSTMS = [lstm.LSTM, lstm.PEEPHOLE_LSTM, lstm.LSTM_1997]


def init_options(cell):
    return {"output_size": OUTPUT, "width": WIDTH} if cell is ntm.NTM else {}


def carry_options(cell):
    return {"slots": SLOTS, "width": WIDTH} if cell is ntm.NTM else {}


def zero_carry(cell, batch=BATCH, dtype=jnp.float32):
    return cell.initial_carry(batch, HIDDEN, dtype, **carry_options(cell))


def setup(cell, seed=0):
    """Parameters, inputs ``[BATCH, TIME, INPUT]`` and a non-zero initial carry."""
    kp, kx, kc = jax.random.split(jax.random.key(seed), 3)
    params = cell.init(kp, INPUT, HIDDEN, **init_options(cell))
    xs = jax.random.normal(kx, (BATCH, TIME, INPUT))
    carry0 = zero_carry(cell)
    if cell is ntm.NTM:  # a written memory; the heads' weightings stay distributions
        carry0 = {**carry0, "memory": carry0["memory"] + 0.5 * jax.random.normal(kc, carry0["memory"].shape)}
    else:
        leaves, treedef = jax.tree_util.tree_flatten(carry0)
        keys = jax.random.split(kc, len(leaves))
        carry0 = jax.tree_util.tree_unflatten(
            treedef, [0.5 * jax.random.normal(k, a.shape) for k, a in zip(keys, leaves)]
        )
    return params, xs, carry0


def rows(tree, start, stop):
    return jax.tree_util.tree_map(lambda a: a[start:stop], tree)


def assert_trees_close(a, b, **tol):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, **tol)


# ----------------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_cells_are_registered_by_name():
    assert set(layers.CELLS) == {"rnn", "gru", "gru_cho2014", "lstm", "peephole_lstm", "lstm1997"} | {
        "mingru",
        "minlstm",
        "slstm",
    }
    assert layers.CELLS["mingru"] is linear_rnn.MINGRU and layers.CELLS["slstm"] is linear_rnn.SLSTM
    assert layers.CELLS["rnn"] is rnn.ELMAN and layers.CELLS["gru"] is gru.GRU
    assert layers.CELLS["gru_cho2014"] is gru.GRU_CHO2014 and layers.CELLS["lstm"] is lstm.LSTM
    assert layers.CELLS["peephole_lstm"] is lstm.PEEPHOLE_LSTM and layers.CELLS["lstm1997"] is lstm.LSTM_1997
    for name, cell in ALL.items():
        assert isinstance(cell, cells.Cell) and cell.name == name and repr(cell) == f"Cell({name!r})"
    for name, cell in layers.CELLS.items():
        assert layers.get_cell(name) is cell and layers.get_cell(cell) is cell
        assert Recurrent(name, 2, 3, rngs=nnx.Rngs(0)).cell is cell
    assert Recurrent(lstm.PEEPHOLE_LSTM, 2, 3, rngs=nnx.Rngs(0)).cell_name == "peephole_lstm"
    assert rnn.scan_cell is cells.scan_cell and lstm.scan_cell is cells.scan_cell
    with pytest.raises(ValueError, match="cell must be one of"):
        layers.get_cell("tcn")


# ----------------------------------------------------------------------------------------------
# The scan
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ALL))
def test_scan_equals_an_unrolled_loop(name):
    cell = ALL[name]
    params, xs, carry0 = setup(cell)
    carry, ys = cells.scan_cell(cell, params, xs, carry0)
    loop, outs = carry0, []
    for t in range(TIME):
        loop, y = cell(params, loop, xs[:, t])
        outs.append(y)
    assert_trees_close(carry, loop, atol=1e-5, rtol=1e-5)
    assert_trees_close(ys, jax.tree_util.tree_map(lambda *a: jnp.stack(a, axis=1), *outs), atol=1e-5, rtol=1e-5)
    if cell is not ntm.NTM:  # the output is the state h
        assert ys.shape == (BATCH, TIME, HIDDEN)
        np.testing.assert_array_equal(ys[:, -1], cell.hidden(carry))


@pytest.mark.parametrize("name", list(ALL))
def test_padded_steps_change_nothing(name):
    cell = ALL[name]
    params, xs, carry0 = setup(cell)
    lengths = [TIME, 2, 4]
    carry, ys = cells.scan_cell(cell, params, xs, carry0, jnp.array(lengths))
    garbage = xs.at[1, 2:].set(100.0).at[2, 4:].set(-7.0)
    carry_g, ys_g = cells.scan_cell(cell, params, garbage, carry0, jnp.array(lengths))
    for a, b in zip(jax.tree_util.tree_leaves((carry, ys)), jax.tree_util.tree_leaves((carry_g, ys_g))):
        np.testing.assert_array_equal(a, b)
    for b, n in enumerate(lengths):
        alone, ys_alone = cells.scan_cell(cell, params, xs[b : b + 1, :n], rows(carry0, b, b + 1))
        assert_trees_close(rows(carry, b, b + 1), alone, atol=1e-5, rtol=1e-5)
        for y, y_alone in zip(jax.tree_util.tree_leaves(ys), jax.tree_util.tree_leaves(ys_alone)):
            np.testing.assert_allclose(y[b, :n], y_alone[0], atol=1e-5, rtol=1e-5)
            assert np.all(np.asarray(y[b, n:]) == 0), "an output at a padded step is not zero"


def test_ntm_scan_is_scan_cell_from_the_initial_carry():
    params, xs, _ = setup(ntm.NTM)
    state, (logits, w_read, w_write) = ntm.ntm_scan(params, xs, slots=SLOTS)
    assert_trees_close(ntm.initial_state(params, BATCH, SLOTS), zero_carry(ntm.NTM), atol=0)
    carry, ys = cells.scan_cell(ntm.NTM, params, xs, zero_carry(ntm.NTM))
    assert_trees_close((state, (logits, w_read, w_write)), (carry, ys), atol=1e-6)


# ----------------------------------------------------------------------------------------------
# initial_carry, hidden, carry_from_hidden
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("name", list(ALL))
def test_initial_carry_shapes_and_dtype(name, dtype):
    cell = ALL[name]
    carry = zero_carry(cell, dtype=dtype)
    assert all(leaf.dtype == dtype for leaf in jax.tree_util.tree_leaves(carry))
    h = cell.hidden(carry)
    assert h.shape == (BATCH, HIDDEN) and h.dtype == dtype and not np.any(np.asarray(h, np.float32))
    if cell is ntm.NTM:
        assert carry["memory"].shape == (BATCH, SLOTS, WIDTH)
        assert carry["read"].shape == (BATCH, WIDTH)
        for w in (carry["w_read"], carry["w_write"]):  # both heads on slot 0
            np.testing.assert_array_equal(np.asarray(w, np.float32), np.eye(SLOTS)[[0] * BATCH])
        assert [a.shape for a in jax.tree_util.tree_leaves(carry["lstm"])] == [(BATCH, HIDDEN)] * 2
    else:
        leaves = jax.tree_util.tree_leaves(carry)
        assert len(leaves) == {"minlstm": 1, "slstm": 4}.get(name, 2 if "lstm" in name else 1)
        for leaf in leaves:
            assert leaf.shape == (BATCH, HIDDEN) and not np.any(np.asarray(leaf, np.float32))
        # the same zero carry the layer starts from
        assert_trees_close(Recurrent(name, INPUT, HIDDEN, rngs=nnx.Rngs(0)).initial_carry(BATCH)[0], carry, atol=0)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        cell.initial_carry(0, HIDDEN, **carry_options(cell))


@pytest.mark.parametrize("name", NAMES)
def test_carry_from_hidden_round_trips_through_hidden(name):
    cell = ALL[name]
    h = jax.random.normal(jax.random.key(3), (BATCH, HIDDEN))
    carry = cell.carry_from_hidden(h)
    np.testing.assert_array_equal(cell.hidden(carry), h)
    zero = zero_carry(cell)
    assert jax.tree_util.tree_structure(carry) == jax.tree_util.tree_structure(zero)
    leaves = jax.tree_util.tree_leaves(carry)
    assert [a.shape for a in leaves] == [a.shape for a in jax.tree_util.tree_leaves(zero)]
    others = [a for a in leaves if not np.array_equal(a, h)]
    assert len(others) == len(leaves) - 1 and all(not np.any(a) for a in others)  # the LSTM's c is zero
    # and hidden reads the state that the step outputs
    params, xs, carry0 = setup(cell)
    new, y = cell(params, carry0, xs[:, 0])
    np.testing.assert_array_equal(cell.hidden(new), y)


def test_the_ntm_carry_cannot_be_built_from_h_and_its_hidden_is_the_controllers():
    h = jnp.ones((BATCH, HIDDEN))
    with pytest.raises(ValueError, match="ntm cell's carry cannot be built from h"):
        ntm.NTM.carry_from_hidden(h)
    params, xs, carry0 = setup(ntm.NTM)
    new, (y, w_read, w_write) = ntm.NTM(params, carry0, xs[:, 0])
    np.testing.assert_array_equal(ntm.NTM.hidden(new), new["lstm"][0])
    assert y.shape == (BATCH, OUTPUT) and w_read.shape == w_write.shape == (BATCH, SLOTS)


# ----------------------------------------------------------------------------------------------
# init: options, keys, names
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ALL))
def test_an_unknown_option_is_refused_by_name(name):
    cell = ALL[name]
    with pytest.raises(ValueError, match=rf"unknown option\(s\) for the {name} cell's init: typo_option"):
        cell.init(jax.random.key(0), 3, 4, typo_option=1, **init_options(cell))
    with pytest.raises(ValueError, match=rf"unknown option\(s\) for the {name} cell's initial_carry: typo_option"):
        cell.initial_carry(2, 4, typo_option=1)
    if cell is not ntm.NTM:
        with pytest.raises(ValueError, match="typo_option"):
            Recurrent(name, 3, 4, typo_option=1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        cell.init(jax.random.key(0), 3, 0, **init_options(cell))


def test_known_options_are_those_of_each_variant():
    for cell in (lstm.LSTM, lstm.PEEPHOLE_LSTM):
        p = cell.init(jax.random.key(0), 2, 3, forget_bias=2.0)
        q = cell.init(jax.random.key(0), 2, 3, forget_bias=0.0)
        np.testing.assert_allclose(p["b"][3:6] - q["b"][3:6], 2.0, atol=1e-6)
    for name in ("rnn", "gru", "gru_cho2014", "lstm1997"):  # no forget gate to bias
        with pytest.raises(ValueError, match="forget_bias"):
            layers.CELLS[name].init(jax.random.key(0), 2, 3, forget_bias=1.0)
    with pytest.raises(ValueError, match="unknown option.*forget_bias"):
        Recurrent("gru", 3, 4, forget_bias=5.0, rngs=nnx.Rngs(0))
    assert Recurrent("lstm", 3, 4, forget_bias=5.0, rngs=nnx.Rngs(0)).cell_params(0)["b"][4:8].min() > 4


@pytest.mark.parametrize("name", list(ALL))
def test_init_is_a_function_of_the_key(name):
    cell = ALL[name]
    a = cell.init(jax.random.key(42), INPUT, HIDDEN, **init_options(cell))
    b = cell.init(jax.random.key(42), INPUT, HIDDEN, **init_options(cell))
    c = cell.init(jax.random.key(43), INPUT, HIDDEN, **init_options(cell))
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(c)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(c)))
    half = cell.init(jax.random.key(42), INPUT, HIDDEN, dtype=jnp.bfloat16, **init_options(cell))
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree_util.tree_leaves(half))


@pytest.mark.parametrize("name", list(ALL))
def test_weight_names_follow_the_one_scheme(name):
    cell = ALL[name]
    params = cell.init(jax.random.key(0), INPUT, HIDDEN, **init_options(cell))
    if cell is ntm.NTM:  # its controller is an LSTM cell and follows the scheme
        params, name, n_in = params["controller"], "lstm", INPUT + WIDTH
    else:
        n_in = INPUT
    assert set(params) <= WEIGHT_NAMES
    assert {"W_x", "b"} <= set(params)
    assert ("W_h" in params) == (name not in ("mingru", "minlstm"))  # minGRU/minLSTM: no recurrent weights
    gates = GATES[name]  # the shapes of the table in rnnbook/cells.py
    assert params["W_x"].shape == (n_in, gates * HIDDEN)
    if "W_h" in params:
        assert params["W_h"].shape == (HIDDEN, gates * HIDDEN)
    assert params["b"].shape == (gates * HIDDEN,)
    assert ("b_h" in params) == name.startswith("gru")
    assert {"p_i", "p_f", "p_o"} <= set(params) if name == "peephole_lstm" else not {"p_i", "p_f", "p_o"} & set(params)
    for k in set(params) - {"W_x", "W_h", "b"}:
        assert params[k].shape == ((3 * HIDDEN,) if k == "b_h" else (HIDDEN,))


# ----------------------------------------------------------------------------------------------
# Through the cell contract: carry_gradients and lstm_gates for any cell
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_carry_gradients_take_any_cell(name):
    cell = ALL[name]
    params, xs, carry0 = setup(cell)
    grads = rnn.carry_gradients(cell, params, xs, carry0, lambda ys, final: jnp.sum(ys[:, -1]))
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(carry0)
    assert all(g.shape == (BATCH, TIME, HIDDEN) for g in jax.tree_util.tree_leaves(grads))
    np.testing.assert_allclose(cell.hidden(grads)[:, -1], 1.0)  # dL/dh_T: the loss sums h_T


@pytest.mark.parametrize("cell", LSTMS, ids=lambda c: c.name)
def test_lstm_gates_reproduce_the_cell(cell):
    params, xs, carry0 = setup(cell)
    gates = lstm.lstm_gates(params, xs, carry0, cell=cell)
    assert set(gates) == set("ifgoch") and all(g.shape == (BATCH, TIME, HIDDEN) for g in gates.values())
    (h, c), hs = cells.scan_cell(cell, params, xs, carry0)
    np.testing.assert_allclose(gates["h"], hs, atol=1e-6)
    np.testing.assert_allclose(gates["h"][:, -1], h, atol=1e-6)
    np.testing.assert_allclose(gates["c"][:, -1], c, atol=1e-6)
    np.testing.assert_allclose(gates["h"], gates["o"] * jnp.tanh(gates["c"]), atol=1e-6)
    if cell is lstm.LSTM_1997:
        np.testing.assert_array_equal(gates["f"], 1.0)  # no forget gate
    # without carry0: from the zero carry
    _, hs0 = cells.scan_cell(cell, params, xs, cell.initial_carry(BATCH, HIDDEN))
    np.testing.assert_allclose(lstm.lstm_gates(params, xs, cell=cell)["h"], hs0, atol=1e-6)


def test_lstm_gates_refuse_a_cell_that_is_not_an_lstm():
    params = lstm.init_lstm(jax.random.key(0), INPUT, HIDDEN)
    with pytest.raises(ValueError, match="cell must be one of the LSTM cells"):
        lstm.lstm_gates(params, jnp.ones((1, 2, INPUT)), cell=gru.GRU)
