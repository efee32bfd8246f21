"""``sample_rand_vecs`` for MT50 against ``metaworld.MT50`` (a file of its own so that
``--dist loadfile`` runs it beside the parity files). Marked ``mt50``: CI's second stage leaves it
to the pin."""

import pickle

import numpy as np
import pytest

metaworld = pytest.importorskip("metaworld")

from mtrl_jax.envs.mw_tasks import MT50_TASKS, SPECS, sample_rand_vecs  # noqa: E402

pytestmark = [pytest.mark.metaworld, pytest.mark.mt50]


def test_mt50_covers_metaworld_and_its_goal_sampler():
    """MT50_TASKS is metaworld.MT50's task order, every task has JAX logic, and the 50 goals per
    task equal ``metaworld.MT50(seed)``'s: one global numpy stream through all 50 tasks in that
    order, so one wrong draw count in any task shifts every later task's goals (about 40 s)."""
    bench = metaworld.MT50(seed=5)
    assert list(bench.train_classes) == list(MT50_TASKS)
    assert set(MT50_TASKS) <= set(SPECS)
    mine = sample_rand_vecs(MT50_TASKS, seed=5)
    for name in MT50_TASKS:
        ref = np.stack([pickle.loads(t.data)["rand_vec"] for t in bench.train_tasks if t.env_name == name])
        np.testing.assert_array_equal(mine[name], ref, err_msg=name)
