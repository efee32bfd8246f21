"""Meta-World v3 task logic (v2 reward) for the MT50 family: an object moved into a fixed place: shelf, hole, soccer goal, sweeps.

Re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py`` as in ``tasks.py``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .common import Consts, gripper_caging_reward, hamacher_product, tcp_center, tolerance
from .placement import consts_obj, place_obj
from .spec import TaskSpec, a64, f32, zeros3

_SHELF_GOAL = a64(0.0, 0.0, 0.3)  # site "goal" in the shelf body's frame
_SHELF_DROP = a64(0.0, 0.0, 0.3)  # the shelf body sits this far below the sampled goal
_SWEEP_INTO_GOAL = a64(0.0, 0.84, 0.02)  # sweep-into's fixed target (the hole); rv[3:6] is unused


# --------------------------------------------------------------------------- rewards


def _cage_grip(obj, p, c, obj_radius, grip_margin, xz_margin):
    """The ``_gripper_caging_reward`` that soccer, sweep and sweep-into override (pads in y
    against the object, gripping bounds, caging > 0.95; the action is not read)."""
    pad_margin = 0.05
    d_left = p.lpad[1] - obj[1]
    d_right = obj[1] - p.rpad[1]
    # init_left_pad / init_right_pad are views of data.xpos: the current pads
    r_margin = jnp.abs(jnp.abs(obj[1] - p.rpad[1]) - pad_margin)
    l_margin = jnp.abs(jnp.abs(obj[1] - p.lpad[1]) - pad_margin)
    r_cage = tolerance(d_right, obj_radius, pad_margin, r_margin)
    l_cage = tolerance(d_left, obj_radius, pad_margin, l_margin)
    r_grip = tolerance(d_right, obj_radius, grip_margin, r_margin)
    l_grip = tolerance(d_left, obj_radius, grip_margin, l_margin)
    y_caging = hamacher_product(r_cage, l_cage)
    y_gripping = hamacher_product(r_grip, l_grip)
    xz = np.array([0, 2])
    tcp = tcp_center(p)
    tcp_obj_xz = jnp.linalg.norm(tcp[xz] - obj[xz])
    margin_xz = jnp.linalg.norm(c.obj_init_pos[xz] - c.init_tcp[xz]) - xz_margin
    xz_caging = tolerance(tcp_obj_xz, 0.0, xz_margin, margin_xz)
    caging = hamacher_product(y_caging, xz_caging)
    gripping = jnp.where(caging > 0.95, y_gripping, 0.0)
    return (caging + gripping) / 2


def _shelf_reward(obs, p, c, a):
    radius = 0.05
    obj, tcp_opened = obs[4:7], obs[3]
    target = c.target_pos
    obj_to_target = jnp.linalg.norm(obj - target)
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    in_place = tolerance(obj_to_target, 0.0, radius, jnp.linalg.norm(c.obj_init_pos - target))
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.02, pad_success_thresh=0.05,
                                    object_reach_radius=0.01, xz_thresh=0.01)
    reward = hamacher_product(grasped, in_place)
    # below the shelf board and in front of the goal: in_place loses a bound penalty; behind it: 0
    y_front = target[1] - 3 * radius
    low_x = (0.0 < obj[2]) & (obj[2] < 0.24) & (target[0] - 0.15 < obj[0]) & (obj[0] < target[0] + 0.15)
    in_front = low_x & (y_front < obj[1]) & (obj[1] < target[1])
    z_scaling = (0.24 - obj[2]) / 0.24
    y_scaling = (obj[1] - y_front) / (3 * radius)
    bound_loss = hamacher_product(jnp.clip(y_scaling, 0.0, 1.0), jnp.clip(z_scaling, 0.0, 1.0))
    in_place = jnp.where(in_front, jnp.clip(in_place - bound_loss, 0.0, 1.0), in_place)
    in_place = jnp.where(low_x & (obj[1] > target[1]), 0.0, in_place)
    lifted = (tcp_to_obj < 0.025) & (tcp_opened > 0) & (obj[2] - 0.01 > c.obj_init_pos[2])
    reward = jnp.where(lifted, reward + (1.0 + 5.0 * in_place), reward)
    reward = jnp.where(obj_to_target < radius, 10.0, reward)
    return reward, obj_to_target <= 0.07


def _hand_insert_reward(obs, p, c, a):
    obj, tcp_opened = obs[4:7], obs[3]
    target_to_obj = jnp.linalg.norm(obj - c.target_pos)
    in_place = tolerance(target_to_obj, 0.0, 0.05, jnp.linalg.norm(c.obj_init_pos - c.target_pos))
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.015, pad_success_thresh=0.05,
                                    object_reach_radius=0.01, xz_thresh=0.005, high_density=True)
    reward = hamacher_product(grasped, in_place)
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    reward = jnp.where((tcp_to_obj < 0.02) & (tcp_opened > 0), reward + (1.0 + 7.0 * in_place), reward)
    reward = jnp.where(target_to_obj < 0.05, 10.0, reward)
    return reward, target_to_obj <= 0.05


def _soccer_reward(obs, p, c, a):
    radius = 0.07  # the class's TARGET_RADIUS
    obj = obs[4:7]
    target = c.target_pos
    scale = jnp.array([3.0, 1.0, 1.0], obs.dtype)
    target_to_obj = jnp.linalg.norm((obj - target) * scale)
    # the margin is measured from the *current* ball to its start
    margin = jnp.linalg.norm((obj - c.obj_init_pos) * scale)
    in_place = tolerance(target_to_obj, 0.0, radius, margin)
    goal_line = target[1] - 0.1
    off_goal = (obj[1] > goal_line) & (jnp.abs(obj[0] - target[0]) > 0.10)
    in_place = jnp.where(off_goal, jnp.clip(in_place - 2 * ((obj[1] - goal_line) / (1 - goal_line)), 0.0, 1.0),
                         in_place)
    grasped = _cage_grip(obj, p, c, 0.013, 0.013 + 0.01, 0.005)
    reward = 3 * grasped + 6.5 * in_place
    reward = jnp.where(target_to_obj < radius, 10.0, reward)
    return reward, jnp.linalg.norm(obj - target) <= 0.07


def _sweep_reward(grip_margin, xz_margin, target_at_obj_z):
    def fn(obs, p, c, a):
        obj = obs[4:7]
        target = c.target_pos
        if target_at_obj_z:  # sweep-into compares in xy only (the target takes the object's z)
            target = jnp.stack([target[0], target[1], obj[2]])
        obj_to_target = jnp.linalg.norm(obj - target)
        in_place = tolerance(obj_to_target, 0.0, 0.05, jnp.linalg.norm(c.obj_init_pos - target))
        grasped = _cage_grip(obj, p, c, 0.02, grip_margin, xz_margin)
        reward = 2 * grasped + 6 * hamacher_product(grasped, in_place)
        reward = jnp.where(obj_to_target < 0.05, 10.0, reward)
        return reward, obj_to_target <= 0.05

    return fn


# --------------------------------------------------------------------------- resets


def _place_shelf(rv, qpos, qvel, settled, adr):
    qpos, qvel, _ = place_obj(rv, qpos, qvel, settled, adr, z_from_settled=True)
    return qpos, qvel, rv[3:6] - jnp.asarray(_SHELF_DROP, rv.dtype)


def _consts_shelf(rv, settled, placed, prev, spec):
    # target = model.site("goal").pos + model.body("shelf").pos
    shelf = rv[3:6] - jnp.asarray(_SHELF_DROP, rv.dtype)
    return Consts(target_pos=jnp.asarray(_SHELF_GOAL, rv.dtype) + shelf,
                  obj_init_pos=jnp.stack([rv[0], rv[1], settled.obj_pos[2]]), init_tcp=tcp_center(settled),
                  init_lpad=settled.lpad, init_rpad=settled.rpad, aux=zeros3(rv), aux2=zeros3(rv))


def _place_soccer(rv, qpos, qvel, settled, adr):
    qpos, qvel, _ = place_obj(rv, qpos, qvel, settled, adr)
    return qpos, qvel, rv[3:6]


def _consts_sweep(rv, settled, placed, prev, spec):
    return Consts(target_pos=jnp.stack([0.5 + 0.0 * rv[1], rv[1], 0.01 + 0.0 * rv[1]]), obj_init_pos=rv[:3],
                  init_tcp=tcp_center(settled), init_lpad=settled.lpad, init_rpad=settled.rpad,
                  aux=zeros3(rv), aux2=zeros3(rv))


def _consts_sweep_into(rv, settled, placed, prev, spec):
    return Consts(target_pos=jnp.asarray(_SWEEP_INTO_GOAL, rv.dtype),
                  obj_init_pos=jnp.stack([rv[0], rv[1], settled.obj_pos[2]]), init_tcp=tcp_center(settled),
                  init_lpad=settled.lpad, init_rpad=settled.rpad, aux=zeros3(rv), aux2=zeros3(rv))


def _reject_sweep_into(rv):
    # the resampling loop compares the object with the fixed target, not with rv[3:5]
    return np.linalg.norm(rv[:2] - _SWEEP_INTO_GOAL[:2]) >= 0.15


SPECS: dict[str, TaskSpec] = {
    "shelf-place-v3": TaskSpec(
        "shelf-place-v3", "SawyerShelfPlaceEnvV3", "sawyer_shelf_placing.xml", f32(0, 0.6, 0.2),
        a64(-0.1, 0.5, 0.019, -0.1, 0.8, 0.299), a64(0.1, 0.6, 0.021, 0.1, 0.9, 0.301),
        a64(-0.1, 0.8, 0.299), a64(0.1, 0.9, 0.301), ("body", "obj", (0, 0, 0)), ("geom_mat", "objGeom"),
        _shelf_reward, _place_shelf, _consts_shelf, fixture_body="shelf", reject=(0.1, "obj_goal"),
        expert="SawyerShelfPlaceV3Policy"),
    "hand-insert-v3": TaskSpec(
        "hand-insert-v3", "SawyerHandInsertEnvV3", "sawyer_table_with_hole.xml", f32(0, 0.6, 0.2),
        a64(-0.1, 0.6, 0.05, -0.04, 0.8, -0.0201), a64(0.1, 0.7, 0.05, 0.04, 0.88, -0.0199),
        a64(-0.04, 0.8, -0.0201), a64(0.04, 0.88, -0.0199), ("body", "obj", (0, 0, 0)), ("body_quat", "obj"),
        _hand_insert_reward, place_obj, consts_obj(), reject=(0.15, "obj_goal"),
        expert="SawyerHandInsertV3Policy", mocap_low=(-0.5, 0.4, -0.15)),
    "soccer-v3": TaskSpec(
        "soccer-v3", "SawyerSoccerEnvV3", "sawyer_soccer.xml", a64(0, 0.6, 0.2),
        a64(-0.1, 0.6, 0.03, -0.1, 0.8, 0.0), a64(0.1, 0.7, 0.03, 0.1, 0.9, 0.0),
        a64(-0.1, 0.8, 0.0), a64(0.1, 0.9, 0.0), ("body", "soccer_ball", (0, 0, 0)), ("geom_mat", "objGeom"),
        _soccer_reward, _place_soccer, consts_obj(), fixture_body="goal_whole", reject=(0.15, "obj_goal"),
        expert="SawyerSoccerV3Policy"),
    "sweep-v3": TaskSpec(
        "sweep-v3", "SawyerSweepEnvV3", "sawyer_sweep_v3.xml", a64(0, 0.6, 0.2),
        a64(-0.1, 0.6, 0.02), a64(0.1, 0.7, 0.02), a64(0.49, 0.6, 0.0), a64(0.51, 0.7, 0.02),
        ("body", "obj", (0, 0, 0)), ("body_quat", "obj"), _sweep_reward(0.02 + 0.01, 0.005, False),
        place_obj, _consts_sweep, expert="SawyerSweepV3Policy"),
    "sweep-into-v3": TaskSpec(
        "sweep-into-v3", "SawyerSweepIntoGoalEnvV3", "sawyer_table_with_hole.xml", a64(0, 0.6, 0.2),
        a64(-0.1, 0.6, 0.02, -0.001, 0.8399, 0.0199), a64(0.1, 0.7, 0.02, 0.001, 0.8401, 0.0201),
        a64(-0.001, 0.8399, 0.0199), a64(0.001, 0.8401, 0.0201), ("body", "obj", (0, 0, 0)),
        ("geom_mat", "objGeom"), _sweep_reward(0.02 + 0.005, 0.01, True),
        lambda rv, q, v, s, adr: place_obj(rv, q, v, s, adr, z_from_settled=True), _consts_sweep_into,
        reject=_reject_sweep_into, expert="SawyerSweepIntoV3Policy"),
}
