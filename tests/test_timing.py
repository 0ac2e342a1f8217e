"""rnnbook.timing.best_time: one untimed call, then the best of its rounds, per call."""

import time

import jax.numpy as jnp
import pytest

from rnnbook import timing


@pytest.mark.smoke
def test_best_time_counts_calls_and_measures_per_call():
    calls = []

    def work(x):
        calls.append(x)
        time.sleep(0.002)
        return jnp.asarray(x)

    seconds = timing.best_time(work, 1.0, repeats=3, number=2)
    assert len(calls) == 1 + 3 * 2  # the untimed first call, then 3 rounds of 2
    assert 0.002 <= seconds < 0.05


def test_best_time_refuses_bad_arguments():
    with pytest.raises(ValueError, match="repeats"):
        timing.best_time(jnp.sin, 1.0, repeats=0)
    with pytest.raises(ValueError, match="number"):
        timing.best_time(jnp.sin, 1.0, number=1.5)
    with pytest.raises(ValueError, match="callable"):
        timing.best_time("not a function")
