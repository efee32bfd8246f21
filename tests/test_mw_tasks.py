"""Parity of the JAX MT10 task logic with CPU Meta-World (no MJX needed; the other MT50 tasks:
test_mw_tasks_mt50.py, with the same checks).

The JAX observation, reward and success are evaluated on physics states produced by Meta-World's
own CPU envs (random actions and the scripted experts) and must equal what Meta-World returned.
The reset logic (placement of objects/fixtures and the per-episode constants) and the goal sampler
are checked against Meta-World too. ``-m slow`` runs the long version (thousands of steps)."""

import copy
import pickle

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
mujoco = pytest.importorskip("mujoco")
metaworld = pytest.importorskip("metaworld")

from mtrl_jax.jax_compat import enable_x64  # noqa: E402

from mtrl_jax.envs.mw_tasks import (  # noqa: E402
    MOCAP_HIGH, MOCAP_LOW, MT10_TASKS, MT50_TASKS, SPECS, evaluate, hand_mocap_target, sample_rand_vecs)
from mtrl_jax.envs.mw_tasks import cpu_ref  # noqa: E402

TOL = 1e-5
pytestmark = pytest.mark.metaworld
TASKS = MT10_TASKS  # the other MT50 tasks: test_mw_tasks_mt50.py


class _Goals(dict):
    """MT10's goals (seed 0) for the MT10 tasks, MT1's for the others, drawn on first use."""

    def __missing__(self, name):
        self[name] = sample_rand_vecs((name,), seed=0)[name]
        return self[name]


@pytest.fixture(scope="module")
def rand_vecs():
    return _Goals(sample_rand_vecs(MT10_TASKS, seed=0))


def _check_record(name, rec, dtype=np.float64, tol=TOL):
    spec = SPECS[name]

    def one(p, c, prev, a):
        obs, _, r, s = evaluate(spec, p, prev, c, a)
        return obs, r, s

    cast = lambda t: jax.tree_util.tree_map(lambda x: np.asarray(x, dtype), t)  # noqa: E731
    obs, r, s = jax.jit(jax.vmap(one))(cast(rec["probe"]), cast(rec["consts"]), cast(rec["prev"]),
                                       cast(rec["action"]))
    np.testing.assert_allclose(np.asarray(obs), rec["obs"], atol=tol, rtol=0)
    np.testing.assert_allclose(np.asarray(r), rec["reward"], atol=tol * 10 if dtype == np.float32 else tol, rtol=0)
    if dtype == np.float64:
        np.testing.assert_array_equal(np.asarray(s).astype(float), rec["success"])
    else:  # float32 may flip a threshold test by rounding; allow a rare flip
        assert (np.asarray(s).astype(float) != rec["success"]).mean() <= 0.01


@pytest.mark.parametrize("name", TASKS)
def test_obs_reward_success_parity(name, rand_vecs, expert_goal=2):
    """Random and expert trajectories on CPU Meta-World; the expert must reach success so that the
    success branch of the reward is exercised."""
    with enable_x64():
        rec_rand = cpu_ref.record(name, rand_vecs[name][1], 60, policy="random", seed=1)
        _check_record(name, rec_rand)
        rec_exp = cpu_ref.record(name, rand_vecs[name][expert_goal], 500, policy="expert", seed=2,
                                 stop_after_success=20)
        assert rec_exp["success"].max() == 1.0, "expert did not succeed on CPU Meta-World"
        _check_record(name, rec_exp)
    _check_record(name, rec_exp, dtype=np.float32, tol=1e-4)


@pytest.mark.parametrize("name", TASKS)
def test_reset_matches_metaworld(name, rand_vecs):
    """Placement and per-episode constants from the JAX reset logic == Meta-World's after reset,
    for a first episode and for a second one with another goal."""
    spec = SPECS[name]
    env = cpu_ref.make_cpu_env(name, rand_vecs[name][3])
    with enable_x64():
        for k, rv in enumerate([rand_vecs[name][3], rand_vecs[name][4]]):
            if k:
                from metaworld.types import Task

                env.set_task(Task(env_name=name, data=pickle.dumps(
                    dict(rand_vec=rv, env_cls=type(env), partially_observable=False))))
            prev = cpu_ref.fixture_pos_of(spec, env.model)
            model = copy.deepcopy(env.model)
            data = mujoco.MjData(model)
            obs, _ = env.reset()
            consts, _ = cpu_ref.reset_cpu(name, model, data, rv, prev)
            ref = cpu_ref.env_consts(name, env)
            for field in ("target_pos", "obj_init_pos", "init_tcp", "aux", "aux2"):
                np.testing.assert_allclose(getattr(consts, field), getattr(ref, field), atol=TOL, rtol=0,
                                           err_msg=field)
            np.testing.assert_allclose(data.qpos, env.data.qpos, atol=TOL, rtol=0)
            np.testing.assert_allclose(data.qvel, env.data.qvel, atol=TOL, rtol=0)
            if spec.fixture_body is not None:
                np.testing.assert_allclose(cpu_ref.fixture_pos_of(spec, model), cpu_ref.fixture_pos_of(spec, env.model),
                                           atol=TOL, rtol=0)
    stock = getattr(env, "unwrapped", env)  # the mocap clip of every step (the port's action map)
    np.testing.assert_array_equal(spec.mocap_low, stock.mocap_low)
    np.testing.assert_array_equal(MOCAP_HIGH, stock.mocap_high)


# the tasks whose hand may leave SawyerXYZEnv's default box, and one that keeps it
_OWN_MOCAP_BOX = tuple(t for t in MT50_TASKS if tuple(SPECS[t].mocap_low) != tuple(MOCAP_LOW))


@pytest.mark.parametrize("name", _OWN_MOCAP_BOX + ("reach-v3",))
def test_hand_mocap_target_is_metaworlds_set_xyz_action(name, rand_vecs):
    """The action map of the MJX env and the CPU port (``hand_mocap_target``) moves the hand mocap
    where Meta-World's ``set_xyz_action`` does, at the task's own box: from just inside its low
    and high corners and a mixed one, with actions beyond [-1, 1] as well; numpy exact, jnp
    float32 to float32 rounding."""
    spec = SPECS[name]
    env = cpu_ref.make_cpu_env(name, rand_vecs[name][0])
    env.reset()
    stock = getattr(env, "unwrapped", env)
    rng = np.random.default_rng(0)
    low, high = np.asarray(spec.mocap_low), MOCAP_HIGH
    mixed = np.where(rng.random(3) < 0.5, low, high) + rng.uniform(-0.003, 0.003, 3)
    starts = [low + 0.004, high - 0.004, mixed]
    acts = np.concatenate([np.array([[-1, -1, -1, 0], [1, 1, 1, 0], [-2, 3, -1.5, 1]], np.float32),
                           rng.uniform(-1.5, 1.5, (5, 4)).astype(np.float32)])
    hand = int(stock.model.body_mocapid[stock.model.body("mocap").id])
    reached_low, reached_high = np.zeros(3, bool), np.zeros(3, bool)
    for p in starts:
        for a in acts:
            stock.data.mocap_pos[hand] = p
            mocap = stock.data.mocap_pos.copy()
            stock.set_xyz_action(a[:3])
            ref = stock.data.mocap_pos[hand].copy()
            np.testing.assert_array_equal(hand_mocap_target(spec, a, mocap, hand, xp=np), ref)
            on_device = hand_mocap_target(spec, jnp.asarray(a), jnp.asarray(mocap, jnp.float32), hand)
            np.testing.assert_allclose(np.asarray(on_device), ref, atol=1e-6, rtol=0)
            reached_low |= ref == low
            reached_high |= ref == high
    assert reached_low.all() and reached_high.all()  # every bound was hit, so a wrong one would show


def test_goal_sampler_matches_mt1():
    """The 50 pre-sampled goals equal metaworld.MT1(name, seed)'s (one plain and one rejection task)."""
    for name in ("drawer-open-v3", "peg-insert-side-v3"):
        bench = metaworld.MT1(name, seed=3)
        ref = np.stack([pickle.loads(t.data)["rand_vec"] for t in bench.train_tasks])
        np.testing.assert_array_equal(sample_rand_vecs((name,), seed=3)[name], ref)


@pytest.mark.slow
def test_goal_sampler_matches_mt10():
    bench = metaworld.MT10(seed=7)
    mine = sample_rand_vecs(MT10_TASKS, seed=7)
    for name in MT10_TASKS:
        ref = np.stack([pickle.loads(t.data)["rand_vec"] for t in bench.train_tasks if t.env_name == name])
        np.testing.assert_array_equal(mine[name], ref)


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_parity_long(name, rand_vecs):
    """Thousands of steps per task: 4 full random episodes and 4 expert episodes (with action noise)."""
    with enable_x64():
        for ep in range(4):
            _check_record(name, cpu_ref.record(name, rand_vecs[name][10 + ep], 500, policy="random", seed=ep))
            _check_record(name, cpu_ref.record(name, rand_vecs[name][20 + ep], 500, policy="expert", seed=ep,
                                               noise=0.1 * ep))
