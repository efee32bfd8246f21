"""The MJX port: every port scene loads in MJX; one task outside MT10 (reach-wall, built as ``--env mt1-mjx``)
resets, steps, autoresets and reports success through the env interface, with Meta-World's
scripted expert succeeding on it.

Kept small for CI: one task, 2 envs, one compile (reused from the persistent compilation cache)."""


import mujoco
import numpy as np
import pytest

jax = pytest.importorskip("jax")
mjx = pytest.importorskip("mujoco.mjx")
pytest.importorskip("metaworld")

import jax.numpy as jnp  # noqa: E402

from mtrl_jax.envs import mjx_port_task_names  # noqa: E402
from mtrl_jax.envs.mjx import MJXMultiTaskEnv, build_port_spec, original_model, port_model  # noqa: E402
from mtrl_jax.envs.mjx.scene import PORT_PAIRS  # noqa: E402
from mtrl_jax.envs.mw_tasks import MT10_TASKS, cpu_ref, sample_rand_vecs  # noqa: E402

pytestmark = pytest.mark.metaworld


def test_mesh_part_box_bounds_the_vertices_in_a_slab():
    """On a Π-shaped mesh (two posts 0.1 wide, a bar across their tops; MuJoCo recentres it and
    turns it to its principal axes: the posts lie along z, across y): the whole range is
    MuJoCo's own bounding box, the slab y >= 0.15 is one post (with the bar's end, which lies
    inside its bounds) and an empty slab is refused."""
    from mtrl_jax.envs.mjx.scene import mesh_part_box

    spec = mujoco.MjSpec()
    verts = []
    for x0, x1, y0, y1 in ((-0.3, -0.2, 0, 1), (0.2, 0.3, 0, 1), (-0.3, 0.3, 0.8, 1)):
        verts += [[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (-0.05, 0.05)]
    spec.add_mesh(name="pi", uservert=np.ravel(verts).tolist())
    spec.worldbody.add_body().add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname="pi")
    m = spec.compile()
    center, half = mesh_part_box(m, 0, 1, -1.0, 1.0)
    np.testing.assert_allclose(np.concatenate([center, half]), m.geom_aabb[0], atol=1e-6)
    center, half = mesh_part_box(m, 0, 1, 0.15, 1.0)
    np.testing.assert_allclose(center, [0.0, 0.25, 0.0], atol=1e-6)
    np.testing.assert_allclose(half, [0.05, 0.05, 0.5], atol=1e-6)
    with pytest.raises(ValueError, match="no vertex"):
        mesh_part_box(m, 0, 1, 0.31, 1.0)


@pytest.mark.parametrize("name", mjx_port_task_names())
def test_port_scene_loads(name):
    """The derived scene loads in MJX, keeps Meta-World's joints and masses, collides only through
    explicit pairs (at least one), and the stock scene is left as it was."""
    spec, info = build_port_spec(name)
    m = port_model(name)
    m0 = original_model(name)
    assert m.nq == m0.nq and m.nv == m0.nv and m.nu == m0.nu
    np.testing.assert_allclose(m.body_mass[: m0.nbody], m0.body_mass)
    assert m.npair >= 1 and len(info["pairs"]) == m.npair
    assert not np.any(m.geom_contype | m.geom_conaffinity)
    assert m0.npair == 0 and np.any(m0.geom_contype)
    mjx.put_model(m)


def test_pair_margins_are_dropped_unless_the_spec_keeps_them():
    """A pair's margin and gap are 0 by default; with ``PortSpec.margins`` they are the larger of
    the two geoms' stock values (MuJoCo's rule): handle-pull-side's fingers have 1 mm, the handle
    none."""
    import dataclasses

    from mtrl_jax.envs.mjx import scene

    name = "handle-pull-side-v3"
    m0 = original_model(name)
    kept = port_model(name)
    assert scene.PORT_PAIRS[name].margins
    for k in range(kept.npair):
        g1, g2 = (mujoco.mj_name2id(m0, mujoco.mjtObj.mjOBJ_GEOM,
                                    mujoco.mj_id2name(kept, mujoco.mjtObj.mjOBJ_GEOM, int(g)))
                  for g in (kept.pair_geom1[k], kept.pair_geom2[k]))
        assert kept.pair_margin[k] == max(m0.geom_margin[g1], m0.geom_margin[g2]) == 0.001
        assert kept.pair_gap[k] == 0.0
    original = scene.PORT_PAIRS[name]
    try:
        scene.PORT_PAIRS[name] = dataclasses.replace(original, margins=False)
        dropped = port_model(name)
    finally:
        scene.PORT_PAIRS[name] = original
    assert dropped.npair == kept.npair and not np.any(dropped.pair_margin)


def test_physics_groups_share_a_scene():
    """Tasks with one scene (same XML and port spec) are stepped by one physics program; the
    others each by their own."""
    from mtrl_jax.envs.mjx.env import physics_groups

    tasks = ("reach-v3", "drawer-open-v3", "push-v3", "drawer-close-v3", "window-close-v3", "window-open-v3")
    assert physics_groups(tasks) == ((0,), (1, 3), (2,), (4, 5))
    port = mjx_port_task_names()
    groups = physics_groups(port)
    assert sorted(i for g in groups for i in g) == list(range(len(port)))


TASK = "reach-wall-v3"  # a task outside MT10 (its scene: the puck on the table, as reach-v3)
E = 2
HORIZON = 80  # a short time limit so that the test sees an autoreset


@pytest.fixture(scope="module")
def env():
    from mtrl_jax.config import Config, resolve
    from mtrl_jax.envs import make_env
    env = make_env(resolve(Config(env="mt1-mjx", mt1_task=TASK, envs_per_task=E)), seed=0)
    assert isinstance(env, MJXMultiTaskEnv)
    env.max_episode_steps = HORIZON
    return env


@pytest.mark.mjx_compile
def test_interface_reset_matches_metaworld(env):
    assert (env.num_tasks, env.envs_per_task, env.obs_dim, env.act_dim) == (1, E, 39, 4)
    assert env.task_names == (TASK,) and env.max_episode_steps == HORIZON
    goal_index = jnp.array([[3, 7]], jnp.int32)
    state, obs = jax.jit(env.reset)(jax.random.PRNGKey(0), goal_index)
    assert obs.shape == (1, E, 39)
    rv = sample_rand_vecs((TASK,), 0)[TASK]  # metaworld.MT1(TASK, 0)'s goals
    for e, g in enumerate([3, 7]):
        ref = cpu_ref.make_cpu_env(TASK, rv[g])
        ref_obs, _ = ref.reset()
        # positions to 1e-4; the puck settles exactly upright on the port (stock: tilted ~1e-4)
        np.testing.assert_allclose(np.asarray(obs[0, e]), ref_obs, atol=1e-3)
        np.testing.assert_allclose(np.asarray(obs[0, e])[:7], ref_obs[:7], atol=1e-4)


@pytest.mark.mjx_compile
def test_expert_succeeds_and_autoreset(env):
    """Meta-World's scripted reach-wall expert on the MJX port: success within the episode, then the
    time limit truncates and the env autoresets (obs is a reset observation, next_obs is not)."""
    step = jax.jit(env.step)
    key = jax.random.PRNGKey(1)
    state, obs = jax.jit(env.reset)(key, jnp.array([[0, 1]], jnp.int32))
    pol = [cpu_ref.expert_policy(TASK) for _ in range(E)]
    obs = np.array(obs[0], np.float64)
    success = np.zeros(E, bool)
    rewards = []
    for t in range(HORIZON):
        a = np.stack([p.get_action(o) for p, o in zip(pol, obs)]).astype(np.float32)
        state, out = step(state, jnp.asarray(a)[None], jax.random.fold_in(key, t))
        assert out.obs.shape == out.next_obs.shape == (1, E, 39)
        assert out.reward.shape == out.truncated.shape == out.success.shape == (1, E)
        assert not bool(out.terminated.any())
        success |= np.asarray(out.success[0])
        rewards.append(np.asarray(out.reward[0]))
        if t < HORIZON - 1:
            assert not bool(out.truncated.any())
            np.testing.assert_array_equal(np.asarray(out.obs), np.asarray(out.next_obs))
        obs = np.array(out.obs[0], np.float64)
    assert success.all(), "the scripted expert did not succeed on the MJX port"
    assert max(r.max() for r in rewards) > 9.0  # reach-wall's reward reaches ~10 at the goal
    assert bool(out.truncated.all())
    # autoreset: the obs to act on is a fresh reset (frame stacked twice, hand back at the start)
    o, n = np.asarray(out.obs[0]), np.asarray(out.next_obs[0])
    np.testing.assert_allclose(o[:, :18], o[:, 18:36], atol=1e-6)
    assert np.linalg.norm(o[:, :3] - n[:, :3], axis=-1).min() > 0.02
    assert np.asarray(state[0].t).tolist() == [0] * E


def test_mj_models_property(env):
    """The port scenes' CPU models, public (video rendering from MJX states reads them)."""
    models = env.mj_models
    assert isinstance(models, tuple) and len(models) == env.num_tasks
    assert models[0].nq == port_model(TASK).nq and models[0].npair == port_model(TASK).npair


@pytest.mark.parametrize("name", ["window-open-v3", "window-close-v3"])
def test_window_port_scene_pushes_handle_cpu(name):
    """The window scenes keep the contact that opens/closes the window in the stock scene (the
    gripper base, as its bounding box, against the handle): the expert succeeds on the port scene
    stepped by CPU MuJoCo (no MJX compile)."""
    from mtrl_jax.envs.mjx import cpu_port

    spec, info = build_port_spec(name)
    assert "__hand_box" in info["added"] and any(a == "__hand_box" for a, _ in info["pairs"])
    rv = sample_rand_vecs(MT10_TASKS, 0)[name][1]
    r = cpu_port.run_episode(name, port_model(name), rv, n_steps=150)
    assert r["success"].any()


class _PressDown:
    """Moves the hand over ``xy`` (the reset hand's own when None), then straight down."""

    def __init__(self, xy=None):
        self.xy = None if xy is None else np.asarray(xy)

    def get_action(self, obs):
        hand = obs[:3]
        xy = hand[:2] if self.xy is None else self.xy
        a = np.zeros(4)
        a[:2] = np.clip(10.0 * (xy - hand[:2]), -1.0, 1.0)
        a[2] = -1.0 if np.linalg.norm(xy - hand[:2]) < 0.01 else 0.0
        return a


@pytest.mark.parametrize("name, xy, stock_rest", [
    ("hand-insert-v3", (0.0, 0.84), 0.04), ("hand-insert-v3", (0.15, 0.84), 0.09),
    ("hand-insert-v3", (0.0, 0.65), 0.09), ("sweep-into-v3", (-0.15, 0.84), 0.09),
    ("lever-pull-v3", None, 0.04), ("faucet-open-v3", None, 0.04), ("door-lock-v3", None, 0.04)])
def test_fingers_stop_on_the_table_where_the_hand_may_go_below_it(name, xy, stock_rest):
    """Pressed straight down, the stock fingers stop on the table: hand z ~0.04 on a flat table or
    on the holed table's floor (hand-insert at the hole, x 0, y 0.84), ~0.09 on the holed table's
    top boxes around the hole. The port scene's pads-table pairs must stop them there too, on CPU
    MuJoCo: without them lever-pull's hand ends 9 cm lower, and off the hole hand-insert's and
    sweep-into's fingers sank through the top boxes to the floor box (hand z 0.036)."""
    from mtrl_jax.envs.mjx import cpu_port

    rv = sample_rand_vecs((name,), 0)[name][0]
    stock = cpu_ref.record(name, rv, 150, policy=_PressDown(xy))["obs"][:, 2].min()
    port = cpu_port.run_episode(name, port_model(name), rv, 150, policy=_PressDown(xy))["hand"][:, 2].min()
    assert abs(stock - stock_rest) < 0.01, stock  # the press reached the surface named
    assert abs(port - stock) < 0.005, (port, stock)


@pytest.mark.parametrize("goal", [2, 9])
def test_box_close_expert_carries_the_lid_over_the_walls_cpu(goal):
    """box-close's port scene on CPU MuJoCo: the lid's rims have no box-wall pairs (stock's rims
    touch the walls before the success in 2 steps over the 8 goals of 10 its expert succeeds on),
    and the expert carries the lid to the box within 20 steps of stock's first success. With the
    16 rim-wall pairs the rims caught on the walls and the port missed both goals."""
    from mtrl_jax.envs.mjx import cpu_port

    name = "box-close-v3"
    rv = sample_rand_vecs((name,), 0)[name][goal]
    first = lambda s: int(np.argmax(s)) if np.any(s) else -1  # noqa: E731
    stock = first(cpu_ref.record(name, rv, 200, policy="expert", stop_after_success=1)["success"])
    port = first(cpu_port.run_episode(name, port_model(name), rv, 200, stop_after_success=1)["success"])
    assert 0 <= stock and 0 <= port and abs(port - stock) <= 20, (port, stock)


def test_scene_solver_floor_overrides_a_smaller_budget_only():
    """box-close's scene sets a solver floor (``PortSpec.min_solver_iterations``): a smaller env
    budget is raised to it, a larger one is kept, and scenes without a floor keep the budget."""
    floor = PORT_PAIRS["box-close-v3"].min_solver_iterations
    assert floor[0] > 4 and floor[1] > 8
    m = port_model("box-close-v3", 4, 8)
    assert (m.opt.iterations, m.opt.ls_iterations) == floor
    m = port_model("box-close-v3", floor[0] + 5, floor[1] + 5)
    assert (m.opt.iterations, m.opt.ls_iterations) == (floor[0] + 5, floor[1] + 5)
    m = port_model("reach-v3", 4, 8)
    assert (m.opt.iterations, m.opt.ls_iterations) == (4, 8)
