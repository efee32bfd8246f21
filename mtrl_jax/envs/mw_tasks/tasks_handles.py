"""Meta-World v3 task logic (v2 reward) for the MT50 family: handle presses and pulls, the lever and the dial.

Re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py`` as in ``tasks.py``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .common import Consts, gripper_caging_reward, hamacher_product, tcp_center, tolerance
from .spec import TaskSpec, a64, f32, zeros3

# hand_low / hand_high of the side handles and the lever: their goal_space
_SIDE_LOW, _SIDE_HIGH = a64(-0.5, 0.40, 0.05), a64(0.5, 1.0, 0.5)
_LEVER_LOW, _LEVER_HIGH = a64(-0.5, 0.40, -0.15), a64(0.5, 1.0, 0.5)


# --------------------------------------------------------------------------- rewards


def _handle_press_reward(obs, p, c, a):
    radius = 0.02
    obj = p.obj_pos  # _get_pos_objects(): site handleStart, unclipped
    target = c.target_pos
    handle_init = c.aux  # _handle_init_pos
    target_to_obj = jnp.abs(obj[2] - target[2])
    t2o_init = jnp.abs(handle_init[2] - target[2])
    in_place = tolerance(target_to_obj, 0.0, radius, jnp.abs(t2o_init - radius))
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    tcp_to_obj_init = jnp.linalg.norm(handle_init - c.init_tcp)
    reach = tolerance(tcp_to_obj, 0.0, 0.02, jnp.abs(tcp_to_obj_init - 0.02))
    reward = hamacher_product(reach, in_place)
    success = target_to_obj <= radius
    return 10 * jnp.where(success, 1.0, reward), success


def _handle_pull_reward(side):
    """handle-pull-v3 (z error only, TARGET_RADIUS the base class's 0.05) or handle-pull-side-v3."""
    radius = 0.05

    def fn(obs, p, c, a):
        obj, tcp_opened = obs[4:7], obs[3]
        target = c.target_pos
        if side:
            target_to_obj = jnp.linalg.norm(obj - target)
            t2o_init = jnp.linalg.norm(c.obj_init_pos - target)
            grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.032, pad_success_thresh=0.06,
                                            object_reach_radius=0.01, xz_thresh=0.01, high_density=True)
            lifted_axis = 2
        else:
            target_to_obj = jnp.abs(target[2] - obj[2])
            t2o_init = jnp.abs(target[2] - c.obj_init_pos[2])
            grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.022, pad_success_thresh=0.05,
                                            object_reach_radius=0.01, xz_thresh=0.01, high_density=True)
            lifted_axis = 1  # Meta-World compares obj[1] (y) with obj_init_pos[2]
        in_place = tolerance(target_to_obj, 0.0, radius, t2o_init)
        reward = hamacher_product(grasped, in_place)
        tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
        lifted = (tcp_to_obj < 0.035) & (tcp_opened > 0) & (obj[lifted_axis] - 0.01 > c.obj_init_pos[2])
        reward = jnp.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
        reward = jnp.where(target_to_obj < radius, 10.0, reward)
        return reward, target_to_obj <= (0.08 if side else radius)

    return fn


def _lever_reward(obs, p, c, a):
    gripper, lever = obs[:3], obs[4:7]
    scale = jnp.array([4.0, 1.0, 4.0], obs.dtype)
    offset = jnp.array([0.0, 0.055, 0.07], obs.dtype)
    lever_init = c.aux  # _lever_pos_init
    s2l = jnp.linalg.norm((gripper + offset - lever) * scale)
    s2l_init = jnp.linalg.norm((c.init_tcp + offset - lever_init) * scale)
    ready = tolerance(s2l, 0.0, 0.02, s2l_init)
    lever_error = jnp.abs(-p.theta - np.pi / 2.0)
    target = c.target_pos
    in_place = tolerance(jnp.linalg.norm(lever - target), 0.0, 0.04, jnp.linalg.norm(lever_init - target))
    return 10.0 * hamacher_product(ready, in_place), lever_error <= np.pi / 24


def _dial_obj(p):
    """SawyerDialTurnEnvV3._get_pos_objects: the dial body plus 0.05 along the knob's angle."""
    q = p.theta
    return p.obj_pos + jnp.stack([jnp.sin(q), -jnp.cos(q), 0.0 * q]) * 0.05


def _dial_reward(obs, p, c, a):
    radius = 0.07
    obj = p.obj_pos
    push_pos = obj + jnp.array([0.05, 0.02, 0.09], obs.dtype)
    push_init = c.aux  # dial_push_position
    target = c.target_pos
    target_to_obj = jnp.linalg.norm(obj - target)
    t2o_init = jnp.linalg.norm(push_init - target)
    in_place = tolerance(target_to_obj, 0.0, radius, jnp.abs(t2o_init - radius))
    tcp_to_obj = jnp.linalg.norm(push_pos - tcp_center(p))
    tcp_to_obj_init = jnp.linalg.norm(push_init - c.init_tcp)
    reach = tolerance(tcp_to_obj, 0.0, 0.005, jnp.abs(tcp_to_obj_init - 0.005), sigmoid="gaussian")
    reach = hamacher_product(reach, jnp.minimum(jnp.maximum(0.0, a[-1]), 1.0))
    return 10 * hamacher_product(reach, in_place), target_to_obj <= radius


# --------------------------------------------------------------------------- resets


def _place_handle(q9):
    """Box to rv; _set_obj_xyz(q9) writes the handle slide qpos[9] and zeroes qvel[9]."""

    def fn(rv, qpos, qvel, settled, adr):
        return qpos.at[9].set(q9), qvel.at[9].set(0.0), rv[:3]

    return fn


def _place_body(rv, qpos, qvel, settled, adr):
    return qpos, qvel, rv[:3]


def _consts_handle(obj_init, aux_from_placed):
    """Target: the goal site (sites[0]) after the box moved; obj_init_pos: rv or, for
    handle-pull-side, the handle after placement; aux: _handle_init_pos (handle-press)."""

    def fn(rv, settled, placed, prev, spec):
        obj0 = placed.obj_pos if obj_init == "placed" else rv[:3]
        aux = placed.obj_pos if aux_from_placed else zeros3(rv)
        return Consts(target_pos=placed.sites[0], obj_init_pos=obj0, init_tcp=tcp_center(settled),
                      init_lpad=settled.lpad, init_rpad=settled.rpad, aux=aux, aux2=zeros3(rv))

    return fn


def _consts_lever(rv, settled, placed, prev, spec):
    return Consts(target_pos=rv[:3] + jnp.array([0.12, 0.0, 0.45], rv.dtype), obj_init_pos=rv[:3],
                  init_tcp=tcp_center(settled), init_lpad=settled.lpad, init_rpad=settled.rpad,
                  aux=rv[:3] + jnp.array([0.12, -0.2, 0.25], rv.dtype), aux2=zeros3(rv))


def _consts_dial(rv, settled, placed, prev, spec):
    # dial_push_position: the observed dial point once the dial moved, knob angle as the settle left it
    return Consts(target_pos=rv[:3] + jnp.array([0.0, 0.03, 0.03], rv.dtype), obj_init_pos=rv[:3],
                  init_tcp=tcp_center(settled), init_lpad=settled.lpad, init_rpad=settled.rpad,
                  aux=placed.obj_pos + jnp.array([0.05, 0.02, 0.09], rv.dtype), aux2=zeros3(rv))


def _aux_handle_init(env):
    return env._handle_init_pos, np.zeros(3)


def _aux_lever_init(env):
    return env._lever_pos_init, np.zeros(3)


def _aux_dial_push(env):
    return env.dial_push_position, np.zeros(3)


def _handle(name, cls, xml, rv_lo, rv_hi, goal_lo, goal_hi, site, reward, q9, goal_site, obj_init, expert,
            env_aux=None):
    return TaskSpec(
        name, cls, xml, a64(0, 0.6, 0.2), a64(*rv_lo), a64(*rv_hi), a64(*goal_lo), a64(*goal_hi),
        ("site", site, (0, 0, 0)), ("zeros", None), reward, _place_handle(q9),
        _consts_handle(obj_init, env_aux is not None), sites=(goal_site,), fixture_body="box", expert=expert,
        env_aux=env_aux)


_PRESS_XML, _SIDE_XML = "sawyer_handle_press.xml", "sawyer_handle_press_sideways.xml"

SPECS: dict[str, TaskSpec] = {
    "handle-press-v3": _handle(
        "handle-press-v3", "SawyerHandlePressEnvV3", _PRESS_XML, (-0.1, 0.8, -0.001), (0.1, 0.9, 0.001),
        (-0.1, 0.55, 0.04), (0.1, 0.70, 0.08), "handleStart", _handle_press_reward, -0.001, "goalPress", "rv",
        "SawyerHandlePressV3Policy", env_aux=_aux_handle_init),
    "handle-press-side-v3": _handle(
        "handle-press-side-v3", "SawyerHandlePressSideEnvV3", _SIDE_XML, (-0.35, 0.65, -0.001),
        (-0.25, 0.75, 0.001), _SIDE_LOW, _SIDE_HIGH, "handleStart", _handle_press_reward, -0.001, "goalPress",
        "rv", "SawyerHandlePressSideV3Policy", env_aux=_aux_handle_init),
    "handle-pull-v3": _handle(
        "handle-pull-v3", "SawyerHandlePullEnvV3", _PRESS_XML, (-0.1, 0.8, -0.001), (0.1, 0.9, 0.001),
        (-0.1, 0.55, 0.04), (0.1, 0.70, 0.18), "handleRight", _handle_pull_reward(False), -0.1, "goalPull", "rv",
        "SawyerHandlePullV3Policy"),
    "handle-pull-side-v3": _handle(
        "handle-pull-side-v3", "SawyerHandlePullSideEnvV3", _SIDE_XML, (-0.35, 0.65, 0.0), (-0.25, 0.75, 0.0),
        _SIDE_LOW, _SIDE_HIGH, "handleCenter", _handle_pull_reward(True), -0.1, "goalPull", "placed",
        "SawyerHandlePullSideV3Policy"),
    "lever-pull-v3": TaskSpec(
        "lever-pull-v3", "SawyerLeverPullEnvV3", "sawyer_lever_pull.xml", f32(0, 0.4, 0.2),
        a64(-0.1, 0.7, 0.0), a64(0.1, 0.8, 0.0), _LEVER_LOW, _LEVER_HIGH, ("site", "leverStart", (0, 0, 0)),
        ("geom_mat", "objGeom"), _lever_reward, _place_body, _consts_lever, theta_joint="LeverAxis",
        fixture_body="lever", expert="SawyerLeverPullV3Policy", env_aux=_aux_lever_init,
        mocap_low=(-0.5, 0.4, -0.15)),
    "dial-turn-v3": TaskSpec(
        "dial-turn-v3", "SawyerDialTurnEnvV3", "sawyer_dial.xml", f32(0, 0.6, 0.2), a64(-0.1, 0.7, 0.0),
        a64(0.1, 0.8, 0.0), a64(-0.1, 0.73, 0.0299), a64(0.1, 0.83, 0.0301), ("body", "dial", (0, 0, 0)),
        ("body_quat", "dial"), _dial_reward, _place_body, _consts_dial, theta_joint="knob_Joint_1",
        fixture_body="dial", expert="SawyerDialTurnV3Policy", env_aux=_aux_dial_push, obj_fn=_dial_obj),
}
