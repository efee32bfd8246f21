"""The ten MT10 tasks of Meta-World v3 (with the v2 reward that the v3 MT10 uses by default),
as pure JAX functions of a small physics pytree (``Probe``) and per-episode constants (``Consts``).

Each ``TaskSpec`` says
- what to read from the physics (``obj``/``quat``/``theta``/``sites`` below, resolved to ids by
  ``make_probe_fn`` for a given MuJoCo model; works for ``mujoco.MjData`` and ``mjx.Data``),
- the reset distribution (``rv_low``/``rv_high``: Meta-World's ``_random_reset_space``, with its
  rejection rule) and how a sampled vector places the object / fixture (``place``),
- the constants Meta-World fixes at reset (``consts``), the reward and the success test (``reward``).

All of it was re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py``; quirks are kept on
purpose so that rewards match Meta-World's bit for bit (see docs/mjx_port.md).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .common import (
    Consts,
    gripper_caging_reward,
    hamacher_product,
    rect_prism_tolerance,
    tcp_center,
    tolerance,
)
from . import tasks_handles, tasks_hinge, tasks_objects, tasks_press, tasks_sweeps, tasks_tools
from .placement import consts_obj, place_fixture, place_obj
from .spec import MOCAP_HIGH, MOCAP_LOW, TaskSpec, a64, f32, make_probe_fn, zeros3  # noqa: F401

MT10_TASKS = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
)


# --------------------------------------------------------------------------- rewards


def _reach_reward(obs, p, c, a):
    target = c.target_pos
    d = jnp.linalg.norm(tcp_center(p) - target)
    margin = jnp.linalg.norm(jnp.asarray(SPECS["reach-v3"].hand_init_pos, d.dtype) - target)
    in_place = tolerance(d, 0.0, 0.05, margin)
    return 10 * in_place, d <= 0.05


def _push_reward(obs, p, c, a):
    obj, tcp_opened = obs[4:7], obs[3]
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    target_to_obj = jnp.linalg.norm(obj - c.target_pos)
    in_place = tolerance(target_to_obj, 0.0, 0.05, jnp.linalg.norm(c.obj_init_pos - c.target_pos))
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.015, pad_success_thresh=0.05,
                                    object_reach_radius=0.01, xz_thresh=0.005, high_density=True)
    reward = 2 * grasped
    reward = jnp.where((tcp_to_obj < 0.02) & (tcp_opened > 0), 1.0 + 2 * reward + 5.0 * in_place, reward)
    reward = jnp.where(target_to_obj < 0.05, 10.0, reward)
    return reward, target_to_obj <= 0.05


def _pick_place_caging(a, obj, p, c):
    tcp = tcp_center(p)
    d_left = p.lpad[1] - obj[1]
    d_right = obj[1] - p.rpad[1]
    # Meta-World's init_left_pad / init_right_pad are numpy *views* of data.xpos
    # (get_body_com returns data.body(...).xpos), so they always hold the current pads.
    r_margin = jnp.abs(jnp.abs(obj[1] - p.rpad[1]) - 0.05)
    l_margin = jnp.abs(jnp.abs(obj[1] - p.lpad[1]) - 0.05)
    r_cage = tolerance(d_right, 0.015, 0.05, r_margin)
    l_cage = tolerance(d_left, 0.015, 0.05, l_margin)
    y_caging = hamacher_product(l_cage, r_cage)
    xz = np.array([0, 2])
    tcp_obj_xz = jnp.linalg.norm(tcp[xz] - obj[xz])
    xz_margin = jnp.linalg.norm(c.obj_init_pos[xz] - c.init_tcp[xz]) - 0.005
    xz_caging = tolerance(tcp_obj_xz, 0.0, 0.005, xz_margin)
    closed = jnp.minimum(jnp.maximum(0.0, a[-1]), 1.0)
    caging = hamacher_product(y_caging, xz_caging)
    gripping = jnp.where(caging > 0.97, closed, 0.0)
    cg = hamacher_product(caging, gripping)
    return (cg + caging) / 2


def _pick_place_reward(obs, p, c, a):
    obj, tcp_opened = obs[4:7], obs[3]
    obj_to_target = jnp.linalg.norm(obj - c.target_pos)
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    in_place = tolerance(obj_to_target, 0.0, 0.05, jnp.linalg.norm(c.obj_init_pos - c.target_pos))
    grasped = _pick_place_caging(a, obj, p, c)
    reward = hamacher_product(grasped, in_place)
    lifted = (tcp_to_obj < 0.02) & (tcp_opened > 0) & (obj[2] - 0.01 > c.obj_init_pos[2])
    reward = jnp.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
    reward = jnp.where(obj_to_target < 0.05, 10.0, reward)
    return reward, obj_to_target <= 0.07


def _door_reward(obs, p, c, a):
    theta = p.theta
    grab = (jnp.clip(a[3], -1, 1) + 1.0) / 2.0
    hand = obs[:3]
    door = obs[4:7] + jnp.array([-0.05, 0.0, 0.0], obs.dtype)
    radius = jnp.linalg.norm(hand[:2] - door[:2])
    floor = jnp.where(radius <= 0.12, 0.0, 0.04 * jnp.log(jnp.maximum(radius - 0.12, 1e-30)) + 0.4)
    above_floor = jnp.where(hand[2] >= floor, 1.0, tolerance(floor - hand[2], 0.0, 0.01, floor / 2.0))
    in_place = tolerance(jnp.linalg.norm(hand - door - jnp.array([0.05, 0.03, -0.01], obs.dtype)), 0.0, 0.06, 0.5)
    ready = hamacher_product(above_floor, in_place)
    opened = 0.2 * (theta < -np.pi / 90.0) + 0.8 * tolerance(np.pi / 2.0 + np.pi / 6 + theta, 0.0, 0.5, np.pi / 3.0)
    reward = 2.0 * hamacher_product(ready, grab) + 8.0 * opened
    success = jnp.abs(obs[4] - c.target_pos[0]) <= 0.08
    return jnp.where(success, 10.0, reward), success


def _drawer_open_reward(obs, p, c, a):
    gripper, handle = obs[:3], obs[4:7]
    handle_error = jnp.linalg.norm(handle - c.target_pos)
    r_open = tolerance(handle_error, 0.0, 0.02, 0.2)
    handle_init = c.target_pos + jnp.array([0.0, 0.2, 0.0], obs.dtype)
    scale = jnp.array([3.0, 3.0, 1.0], obs.dtype)
    err = jnp.linalg.norm((handle - gripper) * scale)
    err_init = jnp.linalg.norm((handle_init - c.init_tcp) * scale)
    r_cage = tolerance(err, 0.0, 0.01, err_init)
    return 5.0 * (r_cage + r_open), handle_error <= 0.03


def _drawer_close_reward(obs, p, c, a):
    radius = 0.05  # self.TARGET_RADIUS is the base class's 0.05 (the class's _TARGET_RADIUS is unused)
    obj = obs[4:7]
    tcp = tcp_center(p)
    target_to_obj = jnp.linalg.norm(obj - c.target_pos)
    t2o_init = jnp.linalg.norm(c.obj_init_pos - c.target_pos)
    in_place = tolerance(target_to_obj, 0.0, radius, jnp.abs(t2o_init - radius))
    tcp_to_obj = jnp.linalg.norm(obj - tcp)
    tcp_to_obj_init = jnp.linalg.norm(c.obj_init_pos - c.init_tcp)
    reach = tolerance(tcp_to_obj, 0.0, 0.005, jnp.abs(tcp_to_obj_init - 0.005), sigmoid="gaussian")
    closed = jnp.minimum(jnp.maximum(0.0, a[-1]), 1.0)
    reach = hamacher_product(reach, closed)
    reward = hamacher_product(reach, in_place)
    success = target_to_obj <= radius + 0.015
    return 10 * jnp.where(success, 1.0, reward), success


def _button_topdown_reward(obs, p, c, a):
    obj = obs[4:7]
    tcp = tcp_center(p)
    tcp_to_obj = jnp.linalg.norm(obj - tcp)
    tcp_to_obj_init = jnp.linalg.norm(obj - c.init_tcp)
    obj_to_target = jnp.abs(c.target_pos[2] - obj[2])
    near = tolerance(tcp_to_obj, 0.0, 0.01, tcp_to_obj_init)
    pressed = tolerance(obj_to_target, 0.0, 0.005, c.aux[0])
    reward = 5 * hamacher_product(1 - obs[3], near)
    reward = jnp.where(tcp_to_obj <= 0.03, reward + 5 * pressed, reward)
    return reward, obj_to_target <= 0.024


def _peg_reward(obs, p, c, a):
    tcp = tcp_center(p)
    obj, tcp_opened = obs[4:7], obs[3]
    head, brc1, tlc1, brc2, tlc2 = p.sites[0], p.sites[1], p.sites[2], p.sites[3], p.sites[4]
    tcp_to_obj = jnp.linalg.norm(obj - tcp)
    scale = jnp.array([1.0, 2.0, 2.0], obs.dtype)
    obj_to_target = jnp.linalg.norm((head - c.target_pos) * scale)
    margin = jnp.linalg.norm((c.aux - c.target_pos) * scale)
    in_place = tolerance(obj_to_target, 0.0, 0.07, margin)
    boxes = hamacher_product(rect_prism_tolerance(head, brc2, tlc2), rect_prism_tolerance(head, brc1, tlc1))
    in_place = hamacher_product(in_place, boxes)
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.0075, pad_success_thresh=0.03,
                                    object_reach_radius=0.01, xz_thresh=0.005, high_density=True)
    lifted = (tcp_to_obj < 0.08) & (tcp_opened > 0) & (obj[2] - 0.01 > c.obj_init_pos[2])
    grasped = jnp.where(lifted, 1.0, grasped)
    reward = hamacher_product(grasped, in_place)
    reward = jnp.where(lifted, reward + 1.0 + 5 * in_place, reward)
    success = obj_to_target <= 0.07
    return jnp.where(success, 10.0, reward), success


def _window_reward(sigmoid, close):
    def fn(obs, p, c, a):
        obj = p.obj_pos
        tcp = tcp_center(p)
        target_to_obj = jnp.abs(obj[0] - c.target_pos[0])
        init_x = c.aux[0] if close else c.obj_init_pos[0]
        t2o_init = jnp.abs(init_x - c.target_pos[0])
        in_place = tolerance(target_to_obj, 0.0, 0.05, jnp.abs(t2o_init - 0.05))
        tcp_to_obj = jnp.linalg.norm(obj - tcp)
        tcp_to_obj_init = jnp.linalg.norm(c.aux - c.init_tcp)
        reach = tolerance(tcp_to_obj, 0.0, 0.02, jnp.abs(tcp_to_obj_init - 0.02), sigmoid=sigmoid)
        return 10 * hamacher_product(reach, in_place), target_to_obj <= 0.05

    return fn


# --------------------------------------------------------------------------- resets


_z3 = zeros3


_place_obj, _consts_obj, _place_fixture = place_obj, consts_obj, place_fixture


def _place_drawer_close(rv, qpos, qvel, settled, adr):
    # _set_obj_xyz(-maxDist) writes qpos[9] only (qvel untouched)
    return qpos.at[9].set(-0.15), qvel, rv[:3]


def _place_peg(rv, qpos, qvel, settled, adr):
    qpos = qpos.at[9:12].set(rv[:3].astype(qpos.dtype))
    qvel = qvel.at[9:15].set(0.0)
    return qpos, qvel, rv[3:6]


def _consts_simple(target_offset, obj_from_placed=False):
    def fn(rv, settled, placed, prev, spec):
        obj_init = placed.obj_pos if obj_from_placed else rv[:3]
        return Consts(target_pos=rv[:3] + jnp.asarray(target_offset, rv.dtype), obj_init_pos=obj_init,
                      init_tcp=tcp_center(settled), init_lpad=settled.lpad, init_rpad=settled.rpad,
                      aux=_z3(rv), aux2=_z3(rv))

    return fn


def _consts_button(rv, settled, placed, prev, spec):
    target = placed.sites[0]  # site "hole" after forward
    start = placed.sites[1]  # site "buttonStart"
    aux = jnp.stack([jnp.abs(target[2] - start[2]), 0.0 * target[0], 0.0 * target[0]])
    return Consts(target_pos=target, obj_init_pos=rv[:3], init_tcp=tcp_center(settled),
                  init_lpad=settled.lpad, init_rpad=settled.rpad, aux=aux, aux2=_z3(rv))


def _consts_peg(rv, settled, placed, prev, spec):
    # peg_head_pos_init is read before the peg is moved: the settled pegHead
    return Consts(target_pos=rv[3:6] + jnp.array([0.03, 0.0, 0.13], rv.dtype), obj_init_pos=rv[:3],
                  init_tcp=tcp_center(settled), init_lpad=settled.lpad, init_rpad=settled.rpad,
                  aux=settled.sites[0], aux2=_z3(rv))


def _consts_window(close):
    def fn(rv, settled, placed, prev, spec):
        # window_handle_pos_init: the handle site with the window at its new place; window-close
        # reads it at slide 0 and adds 0.2 in x, which is where the slide (+x) at 0.2 puts it.
        # (Measured against Meta-World; ``prev`` is unused.)
        target = rv[:3] if close else rv[:3] + jnp.array([0.2, 0.0, 0.0], rv.dtype)
        return Consts(target_pos=target, obj_init_pos=rv[:3], init_tcp=tcp_center(settled),
                      init_lpad=settled.lpad, init_rpad=settled.rpad, aux=placed.obj_pos, aux2=_z3(rv))

    return fn


_f32 = f32
_a = a64


SPECS: dict[str, TaskSpec] = {
    "reach-v3": TaskSpec(
        "reach-v3", "SawyerReachEnvV3", "sawyer_reach_v3.xml", _a(0, 0.6, 0.2),
        _a(-0.1, 0.6, 0.02, -0.1, 0.8, 0.05), _a(0.1, 0.7, 0.02, 0.1, 0.9, 0.3),
        _a(-0.1, 0.8, 0.05), _a(0.1, 0.9, 0.3), ("body", "obj", (0, 0, 0)), ("geom_mat", "objGeom"),
        _reach_reward, _place_obj, _consts_obj(), reject=(0.15, "obj_goal")),
    "push-v3": TaskSpec(
        "push-v3", "SawyerPushEnvV3", "sawyer_push_v3.xml", _a(0, 0.6, 0.2),
        _a(-0.1, 0.6, 0.02, -0.1, 0.8, 0.01), _a(0.1, 0.7, 0.02, 0.1, 0.9, 0.02),
        _a(-0.1, 0.8, 0.01), _a(0.1, 0.9, 0.02), ("body", "obj", (0, 0, 0)), ("geom_mat", "objGeom"),
        _push_reward, lambda rv, q, v, s, adr: _place_obj(rv, q, v, s, adr, z_from_settled=True),
        _consts_obj(push=True), reject=(0.15, "obj_goal")),
    "pick-place-v3": TaskSpec(
        "pick-place-v3", "SawyerPickPlaceEnvV3", "sawyer_pick_place_v3.xml", _a(0, 0.6, 0.2),
        _a(-0.1, 0.6, 0.02, -0.1, 0.8, 0.05), _a(0.1, 0.7, 0.02, 0.1, 0.9, 0.3),
        _a(-0.1, 0.8, 0.05), _a(0.1, 0.9, 0.3), ("body", "obj", (0, 0, 0)), ("geom_mat", "objGeom"),
        _pick_place_reward, _place_obj, _consts_obj(pick=True), reject=(0.15, "obj_goal")),
    "door-open-v3": TaskSpec(
        "door-open-v3", "SawyerDoorEnvV3", "sawyer_door_pull.xml", _a(0, 0.6, 0.2),
        _a(0.0, 0.85, 0.15), _a(0.1, 0.95, 0.15), _a(-0.3, 0.4, 0.1499), _a(-0.2, 0.5, 0.1501),
        ("geom", "handle", (0, 0, 0)), ("geom_mat", "handle"), _door_reward, _place_fixture(0.0, zero_vel=True),
        _consts_simple((-0.3, -0.45, 0.0)), theta_joint="doorjoint", fixture_body="door",
        qpos_joint="doorjoint"),
    "drawer-open-v3": TaskSpec(
        "drawer-open-v3", "SawyerDrawerOpenEnvV3", "sawyer_drawer.xml", _f32(0, 0.6, 0.2),
        _a(-0.1, 0.9, 0.0), _a(0.1, 0.9, 0.0), MOCAP_LOW, MOCAP_HIGH,
        ("body", "drawer_link", (0, -0.16, 0)), ("body_quat", "drawer_link"), _drawer_open_reward,
        _place_fixture(None), _consts_simple((0.0, -0.36, 0.09)), fixture_body="drawer"),
    "drawer-close-v3": TaskSpec(
        "drawer-close-v3", "SawyerDrawerCloseEnvV3", "sawyer_drawer.xml", _f32(0, 0.6, 0.2),
        _a(-0.1, 0.9, 0.0), _a(0.1, 0.9, 0.0), MOCAP_LOW, MOCAP_HIGH,
        ("body", "drawer_link", (0, -0.16, 0.05)), ("zeros", None), _drawer_close_reward,
        _place_drawer_close, _consts_simple((0.0, -0.16, 0.09), obj_from_placed=True),
        fixture_body="drawer"),
    "button-press-topdown-v3": TaskSpec(
        "button-press-topdown-v3", "SawyerButtonPressTopdownEnvV3", "sawyer_button_press_topdown.xml",
        _f32(0, 0.4, 0.2), _a(-0.1, 0.8, 0.115), _a(0.1, 0.9, 0.115), MOCAP_LOW, MOCAP_HIGH,
        ("body", "button", (0, 0, 0.193)), ("body_quat", "button"), _button_topdown_reward,
        _place_fixture(None), _consts_button, sites=("hole", "buttonStart"), fixture_body="box"),
    "peg-insert-side-v3": TaskSpec(
        "peg-insert-side-v3", "SawyerPegInsertionSideEnvV3", "sawyer_peg_insertion_side.xml",
        _a(0, 0.6, 0.2), _a(0.0, 0.5, 0.02, -0.35, 0.4, -0.001), _a(0.2, 0.7, 0.02, -0.25, 0.7, 0.001),
        _a(-0.32, 0.4, 0.129), _a(-0.22, 0.7, 0.131), ("site", "pegGrasp", (0, 0, 0)),
        ("site_mat", "pegGrasp"), _peg_reward, _place_peg, _consts_peg,
        sites=("pegHead", "bottom_right_corner_collision_box_1", "top_left_corner_collision_box_1",
               "bottom_right_corner_collision_box_2", "top_left_corner_collision_box_2"),
        fixture_body="box", reject=(0.1, "peg_box")),
    "window-open-v3": TaskSpec(
        "window-open-v3", "SawyerWindowOpenEnvV3", "sawyer_window_horizontal.xml", _f32(0, 0.4, 0.2),
        _a(-0.1, 0.7, 0.16), _a(0.1, 0.9, 0.16), MOCAP_LOW, MOCAP_HIGH,
        ("site", "handleOpenStart", (0, 0, 0)), ("zeros", None), _window_reward("long_tail", False),
        _place_fixture(0.0), _consts_window(False), fixture_body="window", qpos_joint="window_slide"),
    "window-close-v3": TaskSpec(
        "window-close-v3", "SawyerWindowCloseEnvV3", "sawyer_window_horizontal.xml", _f32(0, 0.4, 0.2),
        _a(0.0, 0.75, 0.2), _a(0.0, 0.9, 0.2), MOCAP_LOW, MOCAP_HIGH,
        ("site", "handleCloseStart", (0, 0, 0)), ("zeros", None), _window_reward("gaussian", True),
        _place_fixture(0.2), _consts_window(True), fixture_body="window", qpos_joint="window_slide"),
}


# The other 40 tasks of MT50, one module per family.
for _family in (tasks_press.SPECS, tasks_handles.SPECS, tasks_hinge.SPECS, tasks_objects.SPECS, tasks_sweeps.SPECS,
                tasks_tools.SPECS):
    assert not set(_family) & set(SPECS), set(_family) & set(SPECS)
    SPECS.update(_family)

# metaworld.env_dict.ALL_V3_ENVIRONMENTS' order: MT50's task order (and the order of its goal draws).
MT50_TASKS = (
    "assembly-v3", "basketball-v3", "bin-picking-v3", "box-close-v3", "button-press-topdown-v3",
    "button-press-topdown-wall-v3", "button-press-v3", "button-press-wall-v3", "coffee-button-v3",
    "coffee-pull-v3", "coffee-push-v3", "dial-turn-v3", "disassemble-v3", "door-close-v3",
    "door-lock-v3", "door-open-v3", "door-unlock-v3", "hand-insert-v3", "drawer-close-v3",
    "drawer-open-v3", "faucet-open-v3", "faucet-close-v3", "hammer-v3", "handle-press-side-v3",
    "handle-press-v3", "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3", "pick-place-wall-v3",
    "pick-out-of-hole-v3", "pick-place-v3", "plate-slide-v3", "plate-slide-side-v3",
    "plate-slide-back-v3", "plate-slide-back-side-v3", "peg-insert-side-v3", "peg-unplug-side-v3",
    "soccer-v3", "stick-push-v3", "stick-pull-v3", "push-v3", "push-wall-v3", "push-back-v3",
    "reach-v3", "reach-wall-v3", "shelf-place-v3", "sweep-into-v3", "sweep-v3", "window-open-v3",
    "window-close-v3",
)


def accepts(spec: TaskSpec, rv: np.ndarray) -> bool:
    """Whether Meta-World's resampling loop keeps the draw ``rv``."""
    if spec.reject is None:
        return True
    if callable(spec.reject):
        return bool(spec.reject(rv))
    return bool(np.linalg.norm(rv[:2] - rv[3:5]) >= spec.reject[0])


def sample_rand_vecs(task_names=MT10_TASKS, seed: int | None = 0, n_goals: int = 50) -> dict:
    """The pre-sampled reset vectors ("goals") Meta-World's MT benchmarks draw for a seed.

    Re-implements metaworld._make_tasks: np.random.seed(seed), then for each task in order
    ``n_goals`` resets, each drawing ``uniform(low, high)`` from the global numpy stream (redrawn
    while the task's rejection rule fails) twice, keeping the second. ``MT10(seed)`` ==
    ``sample_rand_vecs(MT10_TASKS, seed)``, ``MT50(seed)`` == ``sample_rand_vecs(MT50_TASKS, seed)``
    and ``MT1(name, seed)`` == ``sample_rand_vecs((name,), seed)``."""
    rs = np.random.RandomState(seed)

    def draw(s):
        while True:
            rv = rs.uniform(s.rv_low, s.rv_high, size=s.rv_low.size).astype(np.float64)
            if accepts(s, rv):
                return rv

    out = {}
    missing = [n for n in task_names if n not in SPECS]
    if missing:
        raise KeyError(f"no JAX task logic for {', '.join(missing)} (it has: {', '.join(SPECS)})")
    for name in task_names:
        s = SPECS[name]
        vecs = []
        for _ in range(n_goals):
            # SawyerXYZEnv.reset() calls reset_model() itself and again through
            # MujocoEnv.reset(): two draws per reset (``draws_per_reset``), the last one is kept.
            for _ in range(s.draws_per_reset - 1):
                draw(s)
            vecs.append(draw(s))
        out[name] = np.stack(vecs)
    return out
