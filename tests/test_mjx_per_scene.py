"""The MJX env compiled as one program per scene (``envs.mjx.per_scene``): the same transitions
as the one-program env, in task order, and its host-env form (``--env mt50-mjx-scenes``) plugs
into the host loop and evaluates.

Kept small for CI: reach-v3 twice (one shared scene) around reach-wall-v3, 2 envs each, XLA:CPU's
quick compile (``xla_cache.quick_compile_options``) for both forms."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("mujoco.mjx")
pytest.importorskip("metaworld")

import jax.numpy as jnp  # noqa: E402

from mtrl_jax.config import Config, ConfigError, resolve  # noqa: E402
from mtrl_jax.envs.mw_tasks import cpu_ref  # noqa: E402
from mtrl_jax.xla_cache import quick_compile_options  # noqa: E402

pytestmark = pytest.mark.metaworld

TASKS = ("reach-v3", "reach-wall-v3", "reach-v3")  # groups ((0, 2), (1,)): not contiguous
E = 2
HORIZON = 80


@pytest.fixture(scope="module")
def envs():
    from mtrl_jax.envs.mjx import MJXMultiTaskEnv
    from mtrl_jax.envs.mjx.per_scene import PerSceneEnv
    one = MJXMultiTaskEnv(E, tasks=TASKS, max_episode_steps=HORIZON)
    per_scene = PerSceneEnv(one, quick_compile_options("cpu"))
    per_scene.compile(workers=2)
    return one, per_scene


def expert_actions(policies, obs):
    """(T, E, 4) Meta-World's scripted experts' actions on obs (T, E, 39)."""
    obs = np.asarray(obs, np.float64)
    return np.stack([[p.get_action(o) for o in task_obs] for p, task_obs in zip(policies, obs)]
                    ).astype(np.float32)


@pytest.mark.mjx_compile
def test_per_scene_steps_equal_the_one_program_steps_in_task_order(envs):
    """Reset and every step until the time limit give the one-program env's outputs, task by
    task; at the limit both truncate, the pre-reset observations agree and the obs to act on is
    the reset observation of the goal each env drew."""
    one, per_scene = envs
    assert per_scene.groups == ((0, 2), (1,)) and per_scene.spec.task_names == TASKS
    one_reset = jax.jit(one.reset)
    one_step = jax.jit(one.step, compiler_options=quick_compile_options("cpu"))
    key = jax.random.PRNGKey(0)
    goals = jnp.array([[1, 2], [3, 4], [5, 6]], jnp.int32)
    s1, o1 = one_reset(key, goals)
    s2, o2 = per_scene.reset(key, goals)
    np.testing.assert_array_equal(np.asarray(o2), np.asarray(o1))
    assert not np.allclose(np.asarray(o2[0]), np.asarray(o2[2]))  # reach's two rows: other goals
    experts = [cpu_ref.expert_policy(t) for t in TASKS]
    for t in range(HORIZON):
        action = jnp.asarray(expert_actions(experts, o2))
        k = jax.random.fold_in(key, t)
        s1, r1 = one_step(s1, action, k)
        s2, r2 = per_scene.step(s2, action, k)
        if t < HORIZON - 1:
            for name, a, b in zip(r1._fields, r1, r2):
                np.testing.assert_allclose(np.asarray(b, np.float64), np.asarray(a, np.float64),
                                           atol=1e-5, err_msg=f"{name} at step {t}")
        o2 = r2.obs
    assert bool(r2.truncated.all()) and bool(r1.truncated.all())
    np.testing.assert_allclose(np.asarray(r2.next_obs), np.asarray(r1.next_obs), atol=1e-5)
    drawn = jnp.concatenate([s2[0][0].goal[None], s2[1][0].goal[None], s2[0][1].goal[None]])
    _, fresh = per_scene.reset(key, drawn)
    np.testing.assert_array_equal(np.asarray(r2.obs), np.asarray(fresh))
    assert [np.asarray(s.t).tolist() for group in s2 for s in group] == [[0] * E] * 3


@pytest.mark.mjx_compile
def test_host_per_scene_env_runs_the_host_loop_and_evaluates_the_expert(envs):
    """HostPerSceneEnv in the host loop: its transitions land in the replay buffer; its
    evaluation (3 goals: two rounds of E = 2 on the training programs, the last env of the
    second round not counted) scores Meta-World's experts 1.0."""
    from mtrl_jax.envs.base import EnvSpec
    from mtrl_jax.envs.mjx.per_scene import HostPerSceneEnv
    from mtrl_jax.host_loop import HostCarry, host_step, make_host_pieces
    from mtrl_jax.buffer import buffer_init
    from mtrl_jax.methods import make_agent
    from mtrl_jax.train import initial_stats, transition_example

    _, per_scene = envs
    env = HostPerSceneEnv(per_scene, seed=0)
    assert not env.on_device and env.spec.num_tasks == 3
    cfg = resolve(Config(algo="mtsac", env="mt10-mjx-scenes", hidden=(8,), batch_size=6,
                         buffer_size=600, warmup_steps=6, envs_per_task=E, compile_cache=None), 3)
    sac = make_agent(cfg, EnvSpec.sized(39, 4, 3, on_device=False))
    pieces = make_host_pieces(cfg, sac)
    _, obs = env.reset()
    carry = HostCarry(sac.init(jax.random.PRNGKey(0)),
                      buffer_init(transition_example(39, 4, sac.networks.store_spec), 3, 200),
                      jnp.asarray(obs), jax.random.PRNGKey(1), 0, initial_stats(cfg, 3, E, HORIZON))
    for _ in range(3):
        before = carry.obs
        carry, out, info, _ = host_step(pieces, env, carry, learn=carry.env_steps >= 6)
        assert out.obs.shape == (3, E, 39) and not bool(out.truncated.any())
    assert carry.env_steps == 3 * 3 * E and info is not None
    assert np.asarray(carry.buffer.size).tolist() == [3 * E] * 3
    np.testing.assert_array_equal(np.asarray(carry.buffer.data["next_obs"][:, 2 * E:3 * E]),
                                  np.asarray(out.next_obs))
    assert not np.allclose(np.asarray(before), np.asarray(carry.obs))
    experts = [cpu_ref.expert_policy(t) for t in TASKS]
    seen = []

    def policy(o):
        seen.append(np.asarray(o))
        return expert_actions(experts, o)

    success = env.evaluate(policy, episodes=3)
    np.testing.assert_array_equal(success, [1.0, 1.0, 1.0])
    assert len(seen) == 2 * HORIZON and env.evaluations == 1
    # the second round starts on goals 2 (and 0, not counted): its first obs is goal 2's reset
    _, fresh = per_scene.reset(jax.random.PRNGKey(0), jnp.full((3, E), 2, jnp.int32))
    np.testing.assert_array_equal(seen[HORIZON][:, 0], np.asarray(fresh)[:, 0])


def test_per_scene_envs_take_their_mjx_envs_defaults_and_one_seed(tmp_path):
    """mt50-mjx-scenes resolves to mt50-mjx's budget and the methods' MT50 settings; --seeds
    needs a device env."""
    from mtrl_jax.experiment import run
    for algo in ("mtsac", "brc"):
        a = resolve(Config(algo=algo, env="mt50-mjx-scenes"))
        b = resolve(Config(algo=algo, env="mt50-mjx"))
        assert a.replace(env="mt50-mjx") == b
    with pytest.raises(ConfigError, match="--seeds needs a device env"):
        run(Config(env="mt10-mjx-scenes", seeds=(0, 1), out_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="compile-workers"):
        resolve(Config(env="mt10-mjx-scenes", compile_workers=0))


def test_make_env_mt10_mjx_scenes_is_the_host_form_of_mt10_mjx():
    """--env mt10-mjx-scenes: MT10's tasks and goals, one program per scene (8: the drawers and
    the windows share theirs), a host env."""
    from mtrl_jax.envs import make_env
    from mtrl_jax.envs.mjx.per_scene import HostPerSceneEnv
    from mtrl_jax.envs.mw_tasks import MT10_TASKS
    cfg = resolve(Config(env="mt10-mjx-scenes", seed=2))
    env = make_env(cfg, 2)
    assert isinstance(env, HostPerSceneEnv) and not env.on_device
    assert env.task_names == MT10_TASKS and env.envs_per_task == cfg.envs_per_task == 16
    ref = make_env(resolve(Config(env="mt10-mjx", seed=2)), 2)
    assert env.inner.groups == ref.physics_groups and len(ref.physics_groups) == 8  # drawers, windows
    for a, b in zip(env.inner.env.goals, ref.goals):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
