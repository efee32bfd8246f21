"""Meta-World v3 task logic (v2 reward) for the MT50 family: button presses (side, walls, coffee machine).

Re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py`` as in ``tasks.py``."""

from __future__ import annotations

import jax.numpy as jnp

from .common import Consts, hamacher_product, tcp_center, tolerance
from .placement import place_fixture
from .spec import MOCAP_HIGH, MOCAP_LOW, TaskSpec, a64, f32, zeros3


def _press_terms(obs, p, c, axis, near_hi, margin):
    """(tcp_to_obj, near_button, button_pressed, obj_to_target) of the button tasks."""
    obj = obs[4:7]
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    # Meta-World's margin uses the current button position, not its start
    tcp_to_obj_init = jnp.linalg.norm(obj - c.init_tcp)
    obj_to_target = jnp.abs(c.target_pos[axis] - obj[axis])
    near = tolerance(tcp_to_obj, 0.0, near_hi, tcp_to_obj_init)
    pressed = tolerance(obj_to_target, 0.0, 0.005, margin)
    return tcp_to_obj, near, pressed, obj_to_target


def _side_press_reward(success_thresh, fixed_margin=None):
    """button-press-v3 / coffee-button-v3 (coffee's press margin is its max_dist, 0.03)."""

    def fn(obs, p, c, a):
        margin = c.aux[0] if fixed_margin is None else fixed_margin
        tcp_to_obj, near, pressed, obj_to_target = _press_terms(obs, p, c, 1, 0.05, margin)
        reward = 2 * hamacher_product(jnp.maximum(obs[3], 0.0), near)
        reward = jnp.where(tcp_to_obj <= 0.05, reward + 8 * pressed, reward)
        return reward, obj_to_target <= success_thresh

    return fn


def _press_wall_reward(obs, p, c, a):
    tcp_to_obj, near, pressed, obj_to_target = _press_terms(obs, p, c, 1, 0.01, c.aux[0])
    far = 2 * hamacher_product((1 - obs[3]) / 2.0, near)
    close = 2 + 2 * (1 + obs[3]) + 4 * pressed**2
    return jnp.where(tcp_to_obj > 0.07, far, close), obj_to_target <= 0.03


def _topdown_wall_reward(obs, p, c, a):
    tcp_to_obj, near, pressed, obj_to_target = _press_terms(obs, p, c, 2, 0.01, c.aux[0])
    reward = 5 * hamacher_product(jnp.maximum(obs[3], 0.0), near)
    reward = jnp.where(tcp_to_obj <= 0.03, reward + 5 * pressed, reward)
    return reward, obj_to_target <= 0.024


def _consts_button(axis):
    """Target: site "hole" after the box moved; aux[0]: _obj_to_target_init along ``axis``."""

    def fn(rv, settled, placed, prev, spec):
        target, start = placed.sites[0], placed.sites[1]
        z = 0.0 * target[0]
        aux = jnp.stack([jnp.abs(target[axis] - start[axis]), z, z])
        return Consts(target_pos=target, obj_init_pos=rv[:3], init_tcp=tcp_center(settled),
                      init_lpad=settled.lpad, init_rpad=settled.rpad, aux=aux, aux2=zeros3(rv))

    return fn


def _consts_coffee_button(rv, settled, placed, prev, spec):
    pos_button = rv[:3] + jnp.array([0.0, -0.22, 0.3], rv.dtype)
    target = pos_button + jnp.array([0.0, 0.03, 0.0], rv.dtype)
    return Consts(target_pos=target, obj_init_pos=rv[:3], init_tcp=tcp_center(settled),
                  init_lpad=settled.lpad, init_rpad=settled.rpad, aux=zeros3(rv), aux2=zeros3(rv))


def _place_coffee_button(rv, qpos, qvel, settled, adr):
    # sawyer_coffee.xml: the mug's free joint is qpos[0:7]; _set_obj_xyz zeroes qvel[9:15] (arm dofs)
    pos_mug = rv[:3] + jnp.array([0.0, -0.22, 0.0], rv.dtype)
    qpos = qpos.at[0:3].set(pos_mug.astype(qpos.dtype))
    qvel = qvel.at[9:15].set(0.0)
    return qpos, qvel, rv[:3]


def _obj_to_target_init(env):
    return [env._obj_to_target_init, 0.0, 0.0], [0.0, 0.0, 0.0]


_BUTTON_SITES = ("hole", "buttonStart")
_SIDE_OBJ = ("body", "button", (0, -0.193, 0))
_TOP_OBJ = ("body", "button", (0, 0, 0.193))
# _set_obj_xyz(0): button slide (qpos[9]) and its velocity to 0
_place_side = place_fixture(0.0, zero_vel=True)

SPECS: dict[str, TaskSpec] = {
    "button-press-v3": TaskSpec(
        "button-press-v3", "SawyerButtonPressEnvV3", "sawyer_button_press.xml", f32(0, 0.4, 0.2),
        a64(-0.1, 0.85, 0.115), a64(0.1, 0.9, 0.115), MOCAP_LOW, MOCAP_HIGH, _SIDE_OBJ,
        ("body_quat", "button"), _side_press_reward(0.02), _place_side, _consts_button(1),
        sites=_BUTTON_SITES, fixture_body="box", qpos_joint="btnbox_joint",
        expert="SawyerButtonPressV3Policy", env_aux=_obj_to_target_init),
    "button-press-wall-v3": TaskSpec(
        "button-press-wall-v3", "SawyerButtonPressWallEnvV3", "sawyer_button_press_wall.xml", f32(0, 0.4, 0.2),
        a64(-0.05, 0.85, 0.1149), a64(0.05, 0.9, 0.1151), MOCAP_LOW, MOCAP_HIGH, _SIDE_OBJ,
        ("body_quat", "button"), _press_wall_reward, _place_side, _consts_button(1),
        sites=_BUTTON_SITES, fixture_body="box", qpos_joint="btnbox_joint",
        expert="SawyerButtonPressWallV3Policy", env_aux=_obj_to_target_init),
    "button-press-topdown-wall-v3": TaskSpec(
        "button-press-topdown-wall-v3", "SawyerButtonPressTopdownWallEnvV3", "sawyer_button_press_topdown_wall.xml",
        f32(0, 0.4, 0.2), a64(-0.1, 0.8, 0.115), a64(0.1, 0.9, 0.115), MOCAP_LOW, MOCAP_HIGH, _TOP_OBJ,
        ("body_quat", "button"), _topdown_wall_reward, place_fixture(None), _consts_button(2),
        sites=_BUTTON_SITES, fixture_body="box", expert="SawyerButtonPressTopdownWallV3Policy",
        env_aux=_obj_to_target_init),
    "coffee-button-v3": TaskSpec(
        "coffee-button-v3", "SawyerCoffeeButtonEnvV3", "sawyer_coffee.xml", a64(0, 0.4, 0.2),
        a64(-0.1, 0.8, -0.001), a64(0.1, 0.9, 0.001),
        a64(-0.1, 0.8, -0.001) + a64(-0.001, -0.22 + 0.03, 0.299),
        a64(0.1, 0.9, 0.001) + a64(0.001, -0.22 + 0.03, 0.301),
        ("site", "buttonStart", (0, 0, 0)), ("body_quat", "coffee_machine"), _side_press_reward(0.02, 0.03),
        _place_coffee_button, _consts_coffee_button, fixture_body="coffee_machine",
        expert="SawyerCoffeeButtonV3Policy"),
}
