"""Meta-World v3 task logic (v2 reward) for the MT50 family: doors, faucets, plate slides and box-close.

Re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py`` as in ``tasks.py``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .common import Consts, hamacher_product, tcp_center, tolerance
from .spec import TaskSpec, a64, f32, zeros3

_HAND_LOW = a64(-0.5, 0.40, -0.15)  # hand_low of the faucet / door-lock tasks: their goal_space
_HAND_HIGH = a64(0.5, 1.0, 0.5)


# --------------------------------------------------------------------------- rewards


def _door_close_reward(obs, p, c, a):
    radius = 0.05
    tcp = tcp_center(p)
    obj = obs[4:7]
    target = c.target_pos
    tcp_to_target = jnp.linalg.norm(tcp - target)
    obj_to_target = jnp.linalg.norm(obj - target)
    in_place = tolerance(obj_to_target, 0.0, radius, jnp.linalg.norm(c.obj_init_pos - target), sigmoid="gaussian")
    # hand_init_pos is a float32 array in Meta-World
    hand_margin = jnp.linalg.norm(jnp.asarray(f32(-0.5, 0.6, 0.2), obs.dtype) - obj) + 0.1
    hand_in_place = tolerance(tcp_to_target, 0.0, 0.25 * radius, hand_margin, sigmoid="gaussian")
    reward = 3 * hand_in_place + 6 * in_place
    reward = jnp.where(obj_to_target < radius, 10.0, reward)
    return reward, obj_to_target <= 0.08


def _door_unlock_reward(obs, p, c, a):
    gripper, lock = obs[:3], obs[4:7]
    offset = jnp.array([0.0, 0.055, 0.07], obs.dtype)
    scale = jnp.array([0.25, 1.0, 0.5], obs.dtype)
    # obj_init_pos is a view of data.body("lock_link").xpos: always the current lock_link
    lock_link = p.sites[0]
    s2l = jnp.linalg.norm((gripper + offset - lock) * scale)
    s2l_init = jnp.linalg.norm((c.init_tcp + offset - lock_link) * scale)
    ready = tolerance(s2l, 0.0, 0.02, s2l_init)
    obj_to_target = jnp.abs(c.target_pos[0] - lock[0])
    pushed = tolerance(obj_to_target, 0.0, 0.005, 0.1)
    return 2 * ready + 8 * pushed, obj_to_target <= 0.02


def _door_lock_reward(obs, p, c, a):
    obj = obs[4:7]
    scale = jnp.array([0.25, 1.0, 0.5], obs.dtype)
    # tcp is the left pad; init_left_pad is a view of its xpos, so the margin is the same distance
    tcp_to_obj = jnp.linalg.norm((obj - p.lpad) * scale)
    obj_to_target = jnp.abs(c.target_pos[2] - obj[2])
    near_lock = tolerance(tcp_to_obj, 0.0, 0.01, tcp_to_obj)
    pressed = tolerance(obj_to_target, 0.0, 0.005, 0.1)
    reward = 2 * hamacher_product(jnp.maximum(obs[3], 0.0), near_lock) + 8 * pressed
    return reward, obj_to_target <= 0.02


def _box_close_reward(obs, p, c, a):
    grab = jnp.clip((jnp.clip(a[3], -1, 1) + 1.0) / 2.0, 0.0, 1.0)
    ideal = jnp.array([0.707, 0.0, 0.0, 0.707], obs.dtype)
    quat = jnp.maximum(1.0 - jnp.linalg.norm(obs[7:11] - ideal) / 0.2, 0.0)
    hand = obs[:3]
    lid = obs[4:7] + jnp.array([0.0, 0.0, 0.02], obs.dtype)
    radius = jnp.linalg.norm(hand[:2] - lid[:2])
    floor = jnp.where(radius <= 0.02, 0.0, 0.04 * jnp.log(jnp.maximum(radius - 0.02, 1e-30)) + 0.4)
    above_floor = jnp.where(hand[2] >= floor, 1.0, tolerance(floor - hand[2], 0.0, 0.01, floor / 2.0))
    in_place = tolerance(jnp.linalg.norm(hand - lid), 0.0, 0.02, 0.5)
    ready = hamacher_product(above_floor, in_place)
    err = jnp.linalg.norm((c.target_pos - lid) * jnp.array([1.0, 1.0, 3.0], obs.dtype))
    lifted = 0.2 * (lid[2] > 0.04) + 0.8 * tolerance(err, 0.0, 0.05, 0.25)
    reward = 2.0 * hamacher_product(grab, ready) + 8.0 * lifted
    success = jnp.linalg.norm(obs[4:7] - c.target_pos) < 0.08
    return jnp.where(success, 10.0, reward) * quat, success


def _faucet_reward(obj_offset):
    def fn(obs, p, c, a):
        radius = 0.07
        obj = obs[4:7] + jnp.asarray(obj_offset, obs.dtype)
        tcp = tcp_center(p)
        target = c.target_pos
        target_to_obj = jnp.linalg.norm(obj - target)
        t2o_init = jnp.linalg.norm(c.obj_init_pos - target)
        in_place = tolerance(target_to_obj, 0.0, radius, jnp.abs(t2o_init - radius))
        tcp_to_obj = jnp.linalg.norm(obj - tcp)
        tcp_to_obj_init = jnp.linalg.norm(c.obj_init_pos - c.init_tcp)
        reach = tolerance(tcp_to_obj, 0.0, 0.01, jnp.abs(tcp_to_obj_init - 0.01), sigmoid="gaussian")
        reward = 2 * (2 * reach + 3 * in_place)
        success = target_to_obj <= radius
        return jnp.where(success, 10.0, reward), success

    return fn


def _plate_reward(variant):
    """variant False: plate-slide (hamacher of both terms); True: the side/back ones."""

    def fn(obs, p, c, a):
        radius = 0.05
        tcp = tcp_center(p)
        obj = obs[4:7]
        target = c.target_pos
        obj_to_target = jnp.linalg.norm(obj - target)
        ip_margin = jnp.linalg.norm(c.obj_init_pos - target)
        tcp_to_obj = jnp.linalg.norm(tcp - obj)
        og_margin = jnp.linalg.norm(c.init_tcp - c.obj_init_pos)
        if variant:
            ip_margin, og_margin = ip_margin - radius, og_margin - radius
        in_place = tolerance(obj_to_target, 0.0, radius, ip_margin)
        grasped = tolerance(tcp_to_obj, 0.0, radius, og_margin)
        if variant:
            reward = 1.5 * grasped
            reward = jnp.where((tcp[2] <= 0.03) & (tcp_to_obj < 0.07), 2.0 + 7.0 * in_place, reward)
        else:
            reward = 8 * hamacher_product(grasped, in_place)
        reward = jnp.where(obj_to_target < radius, 10.0, reward)
        return reward, obj_to_target <= 0.07

    return fn


# --------------------------------------------------------------------------- resets


def _place_door_close(rv, qpos, qvel, settled, adr):
    # model.body("door").pos = rv; _set_obj_xyz(-1.5708) on the door joint (its qvel zeroed)
    return qpos.at[adr[0]].set(-1.5708), qvel.at[adr[1]].set(0.0), rv[:3]


def _place_door_unlock(rv, qpos, qvel, settled, adr):
    # _set_obj_xyz(1.5708) writes qpos[9] / qvel[9]
    return qpos.at[9].set(1.5708), qvel.at[9].set(0.0), rv[:3]


def _place_door_lock(rv, qpos, qvel, settled, adr):
    return qpos, qvel, rv[:3]


def _place_box(rv, qpos, qvel, settled, adr):
    # box_height: the box body's z, which no reset changes from the XML's 0
    return qpos, qvel, jnp.stack([rv[3], rv[4], 0.0 * rv[5]])


def _after_settle_box(rv, qpos, qvel, adr):
    # _set_obj_xyz(obj_init_pos) after the steps: the lid's position (its settled quaternion kept)
    qpos = qpos.at[9:12].set(_box_lid_init(rv).astype(qpos.dtype))
    return qpos, qvel.at[9:15].set(0.0)


def _box_lid_init(rv):
    # obj_init_pos: rv's xy and init_config's float32 z
    return jnp.stack([rv[0], rv[1], jnp.asarray(f32(0.02)[0], rv.dtype)])


def _consts_box(rv, settled, placed, prev, spec):
    return Consts(target_pos=rv[3:6], obj_init_pos=_box_lid_init(rv), init_tcp=tcp_center(settled),
                  init_lpad=settled.lpad, init_rpad=settled.rpad, aux=zeros3(rv), aux2=zeros3(rv))


def _place_faucet(rv, qpos, qvel, settled, adr):
    return qpos, qvel, rv[:3]


def _place_plate(qxy, fixture):
    """_set_obj_xyz(qxy) writes qpos[9:11] (qvel kept); fixture: None, "goal" (rv[3:]) or "obj" (rv[:3])."""

    def fn(rv, qpos, qvel, settled, adr):
        qpos = qpos.at[9:11].set(jnp.asarray(qxy, qpos.dtype))
        fix = None if fixture is None else (rv[3:6] if fixture == "goal" else rv[:3])
        return qpos, qvel, fix

    return fn


def _consts_offset(offset, obj_init="rv"):
    def fn(rv, settled, placed, prev, spec):
        if obj_init == "lock":
            obj0 = placed.sites[0]
        else:
            obj0 = rv[:3]
        return Consts(target_pos=obj0 + jnp.asarray(offset, rv.dtype), obj_init_pos=obj0,
                      init_tcp=tcp_center(settled), init_lpad=settled.lpad, init_rpad=settled.rpad,
                      aux=zeros3(rv), aux2=zeros3(rv))

    return fn


def _consts_plate(rv, settled, placed, prev, spec):
    return Consts(target_pos=rv[3:6], obj_init_pos=rv[:3], init_tcp=tcp_center(settled),
                  init_lpad=settled.lpad, init_rpad=settled.rpad, aux=zeros3(rv), aux2=zeros3(rv))


def _plate(name, cls, xml, obj_lo, goal_lo, goal_hi, variant, qxy, fixture, expert):
    return TaskSpec(
        name, cls, xml, f32(0, 0.6, 0.2), a64(*obj_lo, *goal_lo), a64(*obj_lo, *goal_hi),
        a64(*goal_lo), a64(*goal_hi), ("geom", "puck", (0, 0, 0)), ("geom_mat", "puck"),
        _plate_reward(variant), _place_plate(qxy, fixture), _consts_plate,
        fixture_body="puck_goal" if fixture else None, expert=expert)


SPECS: dict[str, TaskSpec] = {
    "door-close-v3": TaskSpec(
        "door-close-v3", "SawyerDoorCloseEnvV3", "sawyer_door_pull.xml", f32(-0.5, 0.6, 0.2),
        a64(0.0, 0.85, 0.15), a64(0.1, 0.95, 0.15), a64(0.2, 0.65, 0.1499), a64(0.3, 0.75, 0.1501),
        ("geom", "handle", (0, 0, 0)), ("geom_mat", "handle"), _door_close_reward, _place_door_close,
        _consts_offset((0.2, -0.2, 0.0)), fixture_body="door", qpos_joint="doorjoint",
        expert="SawyerDoorCloseV3Policy"),
    "door-unlock-v3": TaskSpec(
        "door-unlock-v3", "SawyerDoorUnlockEnvV3", "sawyer_door_lock.xml", f32(0, 0.6, 0.2),
        a64(-0.1, 0.8, 0.15), a64(0.1, 0.85, 0.15), a64(0.0, 0.64, 0.21), a64(0.2, 0.7, 0.2111),
        ("site", "lockStartUnlock", (0, 0, 0)), ("body_quat", "door_link"), _door_unlock_reward,
        _place_door_unlock, _consts_offset((0.1, -0.04, 0.0), obj_init="lock"), sites=("body:lock_link",),
        fixture_body="door", expert="SawyerDoorUnlockV3Policy", mocap_low=(-0.5, 0.4, -0.15)),
    "door-lock-v3": TaskSpec(
        "door-lock-v3", "SawyerDoorLockEnvV3", "sawyer_door_lock.xml", f32(0, 0.6, 0.2),
        a64(-0.1, 0.8, 0.15), a64(0.1, 0.85, 0.15), _HAND_LOW, _HAND_HIGH,
        ("site", "lockStartLock", (0, 0, 0)), ("body_quat", "door_link"), _door_lock_reward,
        _place_door_lock, _consts_offset((0.0, -0.04, -0.1), obj_init="lock"), sites=("body:lock_link",),
        fixture_body="door", settle_steps=5, expert="SawyerDoorLockV3Policy",
        mocap_low=(-0.5, 0.4, -0.15)),
    "box-close-v3": TaskSpec(
        "box-close-v3", "SawyerBoxCloseEnvV3", "sawyer_box.xml", f32(0, 0.6, 0.2),
        a64(-0.05, 0.5, 0.02, -0.1, 0.7, 0.133), a64(0.05, 0.55, 0.02, 0.1, 0.8, 0.133),
        a64(-0.1, 0.7, 0.133), a64(0.1, 0.8, 0.133), ("body", "top_link", (0, 0, 0)),
        ("body_quat", "top_link"), _box_close_reward, _place_box, _consts_box, fixture_body="boxbody",
        reject=(0.25, "obj_goal"), settle_steps=5, after_settle=_after_settle_box,
        expert="SawyerBoxCloseV3Policy"),
    "faucet-open-v3": TaskSpec(
        "faucet-open-v3", "SawyerFaucetOpenEnvV3", "sawyer_faucet.xml", a64(0.0, 0.4, 0.2),
        a64(-0.05, 0.8, 0.0), a64(0.05, 0.85, 0.0), _HAND_LOW, _HAND_HIGH,
        ("site", "handleStartOpen", (0, 0, -0.01)), ("body_quat", "faucetBase"),
        _faucet_reward((-0.04, 0.0, 0.03)), _place_faucet, _consts_offset((0.175, 0.0, 0.125)),
        fixture_body="faucetBase", expert="SawyerFaucetOpenV3Policy", mocap_low=(-0.5, 0.4, -0.15)),
    "faucet-close-v3": TaskSpec(
        "faucet-close-v3", "SawyerFaucetCloseEnvV3", "sawyer_faucet.xml", a64(0.0, 0.4, 0.2),
        a64(-0.1, 0.8, 0.0), a64(0.1, 0.85, 0.0), _HAND_LOW, _HAND_HIGH,
        ("site", "handleStartClose", (0, 0, -0.01)), ("body_quat", "faucetBase"),
        _faucet_reward((0.0, 0.0, 0.0)), _place_faucet, _consts_offset((-0.175, 0.0, 0.125)),
        fixture_body="faucetBase", expert="SawyerFaucetCloseV3Policy", mocap_low=(-0.5, 0.4, -0.15)),
    "plate-slide-v3": _plate(
        "plate-slide-v3", "SawyerPlateSlideEnvV3", "sawyer_plate_slide.xml", (0.0, 0.6, 0.0),
        (-0.1, 0.85, 0.0), (0.1, 0.9, 0.0), False, (0.0, 0.0), "goal", "SawyerPlateSlideV3Policy"),
    "plate-slide-side-v3": _plate(
        "plate-slide-side-v3", "SawyerPlateSlideSideEnvV3", "sawyer_plate_slide_sideway.xml", (0.0, 0.6, 0.0),
        (-0.3, 0.54, 0.0), (-0.25, 0.66, 0.0), True, (0.0, 0.0), None, "SawyerPlateSlideSideV3Policy"),
    "plate-slide-back-v3": _plate(
        "plate-slide-back-v3", "SawyerPlateSlideBackEnvV3", "sawyer_plate_slide.xml", (0.0, 0.85, 0.0),
        (-0.1, 0.6, 0.015), (0.1, 0.6, 0.015), True, (0.0, 0.15), None, "SawyerPlateSlideBackV3Policy"),
    "plate-slide-back-side-v3": _plate(
        "plate-slide-back-side-v3", "SawyerPlateSlideBackSideEnvV3", "sawyer_plate_slide_sideway.xml",
        (-0.25, 0.6, 0.0), (-0.05, 0.6, 0.015), (0.15, 0.6, 0.015), True, (-0.15, 0.0), "obj",
        "SawyerPlateSlideBackSideV3Policy"),
}
del np
