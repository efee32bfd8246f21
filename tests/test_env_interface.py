"""Every environment meets the one Env interface; point-mt's pre-sampled goals."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.envs.base import Env, EnvSpec
from mtrl_jax.envs.point_mt import TASK_NAMES, PointMT

MEMBERS = [name for name in dir(Env) if not name.startswith("_")] + list(Env.__annotations__)


def check_interface(env):
    missing = [m for m in MEMBERS if not hasattr(env, m)]
    assert not missing, missing
    assert env.spec == EnvSpec(tuple(env.task_names), env.obs_dim, env.act_dim, env.on_device,
                               env.max_episode_steps)
    assert env.spec.num_tasks == env.num_tasks


def test_point_mt_meets_the_interface_and_evaluates_a_policy():
    env = PointMT(envs_per_task=2)
    check_interface(env)
    assert env.with_envs(3).envs_per_task == 3 and env.with_envs(3).spec == env.spec
    toward_goal = lambda obs: jnp.clip(5.0 * (obs[..., 2:4] - obs[..., 0:2]), -1, 1)  # noqa: E731
    success = np.asarray(env.evaluate(toward_goal, episodes=8))
    assert success.shape == (len(TASK_NAMES),)
    assert success[TASK_NAMES.index("reach")] == 1.0            # the scripted reach succeeds
    standing = np.asarray(env.evaluate(lambda obs: jnp.zeros(obs.shape[:-1] + (2,)), 8))
    assert standing[TASK_NAMES.index("reach")] < 1.0
    env.close()


@pytest.mark.metaworld
def test_cpu_metaworld_meets_the_interface():
    from mtrl_jax.envs.metaworld import MetaWorldEnv
    env = MetaWorldEnv("MT1", seed=0, mt1_task="reach-v3")
    try:
        check_interface(env)
        assert env.with_envs(1) is env
        with pytest.raises(ValueError, match="one env per task"):
            env.with_envs(4)
    finally:
        env.close()


def test_point_mt_goal_index_picks_the_same_episode_whatever_the_key():
    env = PointMT(envs_per_task=3)
    index = jnp.array([[0, 1, 2]] * len(TASK_NAMES))
    a, obs_a = env.reset(jax.random.PRNGKey(1), index)
    b, obs_b = env.reset(jax.random.PRNGKey(2), index)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert not np.allclose(obs_a[:, 0], obs_a[:, 1])              # goals 0 and 1 differ
    # goal g is one episode per task: the same whichever env slot and envs_per_task ask for it
    _, swapped = env.reset(jax.random.PRNGKey(3), index[:, ::-1])
    np.testing.assert_array_equal(swapped[:, 0], obs_a[:, 2])
    _, one = env.with_envs(1).reset(jax.random.PRNGKey(4), index[:, 1:2])
    np.testing.assert_array_equal(one[:, 0], obs_a[:, 1])
    # without goal_index the key draws the episodes
    _, r1 = env.reset(jax.random.PRNGKey(1))
    _, r2 = env.reset(jax.random.PRNGKey(2))
    assert not np.allclose(r1, r2)
