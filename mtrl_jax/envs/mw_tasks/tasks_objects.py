"""Meta-World v3 task logic (v2 reward) for the MT50 family: free objects pushed, picked or placed: walls, push-back, the hole, the bins.

Re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py`` as in ``tasks.py``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .common import Consts, gripper_caging_reward, hamacher_product, tcp_center, tolerance
from .placement import consts_obj, place_obj
from .spec import TaskSpec, a64, f32, zeros3


def _reach_wall_reward(obs, p, c, a):
    target = c.target_pos
    d = jnp.linalg.norm(tcp_center(p) - target)
    # in_place_margin uses the constant hand_init_pos (0, 0.6, 0.2), not the measured tcp
    margin = jnp.linalg.norm(jnp.asarray(a64(0, 0.6, 0.2), d.dtype) - target)
    return 10 * tolerance(d, 0.0, 0.05, margin), d <= 0.05


def _push_wall_reward(obs, p, c, a):
    obj, tcp_opened = obs[4:7], obs[3]
    target = c.target_pos
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    # the waypoint beside the wall follows the object's height
    midpoint = jnp.stack([jnp.asarray(-0.05, obj.dtype), jnp.asarray(0.77, obj.dtype), obj[2]])
    scale = jnp.array([3.0, 1.0, 1.0], obj.dtype)
    to_mid = jnp.linalg.norm((obj - midpoint) * scale)
    to_mid_init = jnp.linalg.norm((c.obj_init_pos - midpoint) * scale)
    obj_to_target = jnp.linalg.norm(obj - target)
    part1 = tolerance(to_mid, 0.0, 0.05, to_mid_init)
    part2 = tolerance(obj_to_target, 0.0, 0.05, jnp.linalg.norm(c.obj_init_pos - target))
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.015, pad_success_thresh=0.05,
                                    object_reach_radius=0.01, xz_thresh=0.005, high_density=True)
    near = (tcp_to_obj < 0.02) & (tcp_opened > 0)
    reward = 2 * grasped
    reward = jnp.where(near, 2.0 * grasped + 1.0 + 4.0 * part1, reward)
    reward = jnp.where(near & (obj[1] > 0.75), 2 * grasped + 1.0 + 4.0 + 3.0 * part2, reward)
    reward = jnp.where(obj_to_target < 0.05, 10.0, reward)
    return reward, obj_to_target <= 0.07


def _pick_place_wall_reward(obs, p, c, a):
    obj, tcp_opened = obs[4:7], obs[3]
    target = c.target_pos
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    # the waypoint above the wall, in line with the target's x
    midpoint = jnp.stack([target[0], jnp.asarray(0.77, obj.dtype), jnp.asarray(0.25, obj.dtype)])
    scale = jnp.array([1.0, 1.0, 3.0], obj.dtype)
    to_mid = jnp.linalg.norm((obj - midpoint) * scale)
    to_mid_init = jnp.linalg.norm((c.obj_init_pos - midpoint) * scale)
    obj_to_target = jnp.linalg.norm(obj - target)
    part1 = tolerance(to_mid, 0.0, 0.05, to_mid_init)
    part2 = tolerance(obj_to_target, 0.0, 0.05, jnp.linalg.norm(c.obj_init_pos - target))
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.015, pad_success_thresh=0.05,
                                    object_reach_radius=0.01, xz_thresh=0.005)
    both = hamacher_product(grasped, part1)
    lifted = (tcp_to_obj < 0.02) & (tcp_opened > 0) & (obj[2] - 0.015 > c.obj_init_pos[2])
    reward = both
    reward = jnp.where(lifted, both + 1.0 + 4.0 * part1, reward)
    reward = jnp.where(lifted & (obj[1] > 0.75), both + 1.0 + 4.0 + 3.0 * part2, reward)
    reward = jnp.where(obj_to_target < 0.05, 10.0, reward)
    return reward, obj_to_target <= 0.07


def _push_back_caging(obj, p, c, obj_radius=0.007):
    """SawyerPushBackEnvV3._gripper_caging_reward: its own caging (pad y margins from the live
    pads, gripping from the pad gap, no gripper effort)."""
    tcp = tcp_center(p)
    d_left = p.lpad[1] - obj[1]
    d_right = obj[1] - p.rpad[1]
    # init_left_pad / init_right_pad are views of data.xpos: the current pads
    r_margin = jnp.abs(jnp.abs(obj[1] - p.rpad[1]) - 0.05)
    l_margin = jnp.abs(jnp.abs(obj[1] - p.lpad[1]) - 0.05)
    grip_hi = obj_radius + 0.003
    r_cage = tolerance(d_right, obj_radius, 0.05, r_margin)
    l_cage = tolerance(d_left, obj_radius, 0.05, l_margin)
    r_grip = tolerance(d_right, obj_radius, grip_hi, r_margin)
    l_grip = tolerance(d_left, obj_radius, grip_hi, l_margin)
    y_caging = hamacher_product(r_cage, l_cage)
    y_gripping = hamacher_product(r_grip, l_grip)
    xz = np.array([0, 2])
    xz_dist = jnp.linalg.norm(tcp[xz] - obj[xz])
    xz_margin = jnp.linalg.norm(c.obj_init_pos[xz] - c.init_tcp[xz]) - 0.01
    xz_caging = tolerance(xz_dist, 0.0, 0.01, xz_margin)
    caging = hamacher_product(y_caging, xz_caging)
    gripping = jnp.where(caging > 0.95, y_gripping, 0.0)
    return (caging + gripping) / 2


def _push_back_reward(obs, p, c, a):
    obj, tcp_opened = obs[4:7], obs[3]
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    target_to_obj = jnp.linalg.norm(obj - c.target_pos)
    t2o_init = jnp.linalg.norm(c.obj_init_pos - c.target_pos)
    in_place = tolerance(target_to_obj, 0.0, 0.05, t2o_init)
    reward = hamacher_product(_push_back_caging(obj, p, c), in_place)
    pushing = (tcp_to_obj < 0.01) & (tcp_opened > 0) & (tcp_opened < 0.55) & (t2o_init - target_to_obj > 0.01)
    reward = jnp.where(pushing, reward + 1.0 + 5.0 * in_place, reward)
    reward = jnp.where(target_to_obj < 0.05, 10.0, reward)
    return reward, target_to_obj <= 0.07


def _funnel_floor(radius, slope, height):
    """0 within 0.03 of the funnel's axis, else slope * log(radius - 0.03) + height."""
    safe = jnp.maximum(radius - 0.03, 1e-30)
    return jnp.where(radius <= 0.03, 0.0, slope * jnp.log(safe) + height)


def _above_floor(z, floor, margin):
    return jnp.where(z >= floor, 1.0, tolerance(jnp.maximum(floor - z, 0.0), 0.0, 0.01, margin))


def _pick_out_of_hole_reward(obs, p, c, a):
    obj = obs[4:7]
    tcp = tcp_center(p)
    target = c.target_pos
    obj_to_target = jnp.linalg.norm(obj - target)
    tcp_to_obj = jnp.linalg.norm(obj - tcp)
    floor = _funnel_floor(jnp.linalg.norm(tcp[:2] - c.obj_init_pos[:2]), 0.015, 0.15)
    above = _above_floor(tcp[2], floor, 0.02)
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.015, pad_success_thresh=0.02,
                                    object_reach_radius=0.01, xz_thresh=0.03, desired_gripper_effort=0.1,
                                    high_density=True)
    in_place = tolerance(obj_to_target, 0.0, 0.02, jnp.linalg.norm(c.obj_init_pos - target))
    reward = hamacher_product(grasped, in_place)
    grasp = (tcp_to_obj < 0.04) & (obj[2] - 0.02 > c.obj_init_pos[2]) & ~(obs[3] < 0.33)
    reward = jnp.where(grasp, reward + 1.0 + 5.0 * hamacher_product(in_place, above), reward)
    # self.TARGET_RADIUS is the base class's 0.05 (the class's _TARGET_RADIUS 0.02 is unused)
    reward = jnp.where(obj_to_target < 0.05, 10.0, reward)
    return reward, obj_to_target <= 0.07


def _bin_picking_reward(obs, p, c, a):
    hand, obj = obs[:3], obs[4:7]
    target = c.target_pos
    target_to_obj = jnp.linalg.norm(obj - target)
    in_place = tolerance(target_to_obj, 0.0, 0.05, c.aux[0])
    floor = jnp.minimum(_funnel_floor(jnp.linalg.norm(hand[:2] - c.obj_init_pos[:2]), 0.02, 0.2),
                        _funnel_floor(jnp.linalg.norm(hand[:2] - target[:2]), 0.02, 0.2))
    above = _above_floor(hand[2], floor, 0.05)
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.015, pad_success_thresh=0.05,
                                    object_reach_radius=0.01, xz_thresh=0.01, desired_gripper_effort=0.7,
                                    high_density=True)
    reward = hamacher_product(grasped, in_place)
    grasp = (jnp.linalg.norm(obj - hand) < 0.04) & (obj[2] - 0.02 > c.obj_init_pos[2]) & ~(obs[3] < 0.43)
    reward = jnp.where(grasp, reward + 1.0 + 5.0 * hamacher_product(above, in_place), reward)
    reward = jnp.where(target_to_obj < 0.05, 10.0, reward)
    return reward, target_to_obj <= 0.05


def _place_push(rv, qpos, qvel, settled, adr):
    """The object to rv[:2] at the settled object's height."""
    return place_obj(rv, qpos, qvel, settled, adr, z_from_settled=True)


def _consts_bin(rv, settled, placed, prev, spec):
    # target: bin_goal's body position; aux[0]: the in_place margin, which Meta-World sets on the
    # first step (|obj - target| then); the object rests at obj_init_pos, so that distance is used
    obj_init = jnp.stack([rv[0], rv[1], settled.obj_pos[2]])
    target = placed.sites[0]
    d0 = jnp.linalg.norm(obj_init - target)
    return Consts(target_pos=target, obj_init_pos=obj_init, init_tcp=tcp_center(settled), init_lpad=settled.lpad,
                  init_rpad=settled.rpad, aux=jnp.stack([d0, 0.0 * d0, 0.0 * d0]), aux2=zeros3(rv))


def _bin_aux(env):
    d0 = env._target_to_obj_init
    if d0 is None:  # before the first step
        d0 = np.linalg.norm(np.asarray(env.obj_init_pos) - np.asarray(env._target_pos))
    return np.array([d0, 0.0, 0.0]), np.zeros(3)


SPECS: dict[str, TaskSpec] = {
    "reach-wall-v3": TaskSpec(
        "reach-wall-v3", "SawyerReachWallEnvV3", "sawyer_reach_wall_v3.xml", a64(0, 0.6, 0.2),
        a64(-0.05, 0.6, 0.015, -0.05, 0.85, 0.05), a64(0.05, 0.65, 0.015, 0.05, 0.9, 0.3),
        a64(-0.05, 0.85, 0.05), a64(0.05, 0.9, 0.3), ("body", "obj", (0, 0, 0)), ("geom_mat", "objGeom"),
        _reach_wall_reward, place_obj, consts_obj(), reject=(0.15, "obj_goal"),
        expert="SawyerReachWallV3Policy"),
    "push-wall-v3": TaskSpec(
        "push-wall-v3", "SawyerPushWallEnvV3", "sawyer_push_wall_v3.xml", a64(0, 0.6, 0.2),
        a64(-0.05, 0.6, 0.015, -0.05, 0.85, 0.01), a64(0.05, 0.65, 0.015, 0.05, 0.9, 0.02),
        a64(-0.05, 0.85, 0.01), a64(0.05, 0.9, 0.02), ("geom", "objGeom", (0, 0, 0)), ("geom_mat", "objGeom"),
        _push_wall_reward, _place_push, consts_obj(push=True), reject=(0.15, "obj_goal"),
        expert="SawyerPushWallV3Policy"),
    "pick-place-wall-v3": TaskSpec(
        "pick-place-wall-v3", "SawyerPickPlaceWallEnvV3", "sawyer_pick_place_wall_v3.xml", a64(0, 0.6, 0.2),
        a64(-0.05, 0.6, 0.015, -0.05, 0.85, 0.05), a64(0.05, 0.65, 0.015, 0.05, 0.9, 0.3),
        a64(-0.05, 0.85, 0.05), a64(0.05, 0.9, 0.3), ("geom", "objGeom", (0, 0, 0)), ("geom_mat", "objGeom"),
        _pick_place_wall_reward, place_obj, consts_obj(pick=True), reject=(0.15, "obj_goal"),
        expert="SawyerPickPlaceWallV3Policy"),
    "push-back-v3": TaskSpec(
        "push-back-v3", "SawyerPushBackEnvV3", "sawyer_push_back_v3.xml", f32(0, 0.6, 0.2),
        a64(-0.1, 0.8, 0.02, -0.1, 0.6, 0.0199), a64(0.1, 0.85, 0.02, 0.1, 0.7, 0.0201),
        a64(-0.1, 0.6, 0.0199), a64(0.1, 0.7, 0.0201), ("geom", "objGeom", (0, 0, 0)), ("geom_mat", "objGeom"),
        _push_back_reward, _place_push, consts_obj(push=True), reject=(0.15, "obj_goal"),
        expert="SawyerPushBackV3Policy"),
    "pick-out-of-hole-v3": TaskSpec(
        "pick-out-of-hole-v3", "SawyerPickOutOfHoleEnvV3", "sawyer_pick_out_of_hole.xml", a64(0, 0.6, 0.2),
        a64(0, 0.75, 0.02, -0.1, 0.5, 0.15), a64(0, 0.75, 0.02, 0.1, 0.6, 0.3),
        a64(-0.1, 0.5, 0.15), a64(0.1, 0.6, 0.3), ("body", "obj", (0, 0, 0)), ("body_quat", "obj"),
        _pick_out_of_hole_reward, place_obj, consts_obj(pick=True), reject=(0.15, "obj_goal"),
        expert="SawyerPickOutOfHoleV3Policy", mocap_low=(-0.5, 0.4, -0.05)),
    "bin-picking-v3": TaskSpec(
        "bin-picking-v3", "SawyerBinPickingEnvV3", "sawyer_bin_picking.xml", a64(0, 0.6, 0.2),
        a64(-0.21, 0.65, 0.02, 0.1199, 0.699, -0.001), a64(-0.03, 0.75, 0.02, 0.1201, 0.701, 0.001),
        a64(0.1199, 0.699, -0.001), a64(0.1201, 0.701, 0.001), ("body", "obj", (0, 0, 0)), ("body_quat", "obj"),
        _bin_picking_reward, _place_push, _consts_bin, sites=("body:bin_goal",), env_aux=_bin_aux,
        expert="SawyerBinPickingV3Policy", mocap_low=(-0.5, 0.4, 0.07)),
}
