"""CPU Meta-World through the env interface, and one short train + eval cycle end to end."""

import numpy as np
import pytest

from mtrl_jax.config import Config
from mtrl_jax.envs.metaworld import MT10_TASKS, MetaWorldEnv, make_vector_env
from mtrl_jax.experiment import run

pytestmark = pytest.mark.metaworld


def test_mt10_vector_env_obs_success_and_truncation_at_500():
    vec = make_vector_env("MT10", seed=0)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (10, 49)
    np.testing.assert_array_equal(obs[:, 39:], np.eye(10))     # one-hot task ids
    vec.close()
    env = MetaWorldEnv("MT10", seed=0)
    assert env.task_names == MT10_TASKS
    _, obs = env.reset()
    assert obs.shape == (10, 1, 39)
    rng = np.random.default_rng(0)
    for t in range(1, 501):
        _, out = env.step(None, rng.uniform(-1, 1, (10, 1, 4)))
        assert out.success.shape == (10, 1) and out.success.dtype == bool
        assert not out.terminated.any()
        assert out.truncated.all() == (t == 500)
    # at truncation next_obs is the final observation, obs the first of the next episode
    assert not np.allclose(out.next_obs, out.obs)
    env.close()


def test_short_train_and_eval_cycle_runs_end_to_end(tmp_path):
    cfg = Config(algo="mtsac", env="mt10", hidden=(32, 32), total_steps=300, warmup_steps=100,
                 batch_size=20, buffer_size=1000, steps_per_call=10, eval_every=0,
                 eval_episodes=1, checkpoint_every=200, out_dir=str(tmp_path), run_name="mt10",
                 progress=False)
    summary = run(cfg)
    assert summary["env_steps"] == 300 and summary["task_names"] == list(MT10_TASKS)
    success = np.asarray(summary["eval_success"])
    assert success.shape == (1, 10) and np.all((success >= 0) & (success <= 1))
    rows = open(tmp_path / "mt10" / "metrics.jsonl").read().splitlines()
    assert any('"critic_loss"' in r for r in rows) and any('"eval_success"' in r for r in rows)
