"""Shared pieces of the Meta-World task logic, written as pure JAX functions.

Everything here is a re-implementation (from reading metaworld 3.1.1's source) of what the
v3 environments compute on top of the physics state: the dm_control-style ``tolerance``
shaping, the Hamacher t-norm, the rectangular-prism tolerance, the gripper caging terms, the
rotation-matrix -> quaternion conversion used in the observation (scipy's algorithm, so the
sign convention matches), and the 39-value observation layout.

The functions are dtype-generic: they compute in the dtype of their inputs (float32 on device,
float64 when checking parity against Meta-World).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

# Meta-World's observation bounds for the hand (SawyerXYZEnv._HAND_SPACE).
HAND_SPACE_LOW = np.array([-0.525, 0.348, -0.0525])
HAND_SPACE_HIGH = np.array([0.525, 1.025, 0.7])
OBS_DIM = 39
ACT_DIM = 4
MAX_EPISODE_STEPS = 500
NUM_GOALS = 50
NUM_POINTS = 8  # rows of Probe.sites


class Probe(NamedTuple):
    """What the task logic reads from the physics, one pytree for every task.

    Fields a task does not use are zero. Shapes are per env; leading batch axes are allowed.
    """

    hand: jnp.ndarray  # (3,) xpos of body "hand"
    rclaw: jnp.ndarray  # (3,) xpos of body "rightclaw"
    lclaw: jnp.ndarray  # (3,) xpos of body "leftclaw"
    r_ee: jnp.ndarray  # (3,) site "rightEndEffector"
    l_ee: jnp.ndarray  # (3,) site "leftEndEffector"
    lpad: jnp.ndarray  # (3,) xpos of body "leftpad"
    rpad: jnp.ndarray  # (3,) xpos of body "rightpad"
    obj_pos: jnp.ndarray  # (3,) the task's object position as Meta-World observes it
    obj_quat: jnp.ndarray  # (4,) the task's object quaternion as Meta-World observes it
    theta: jnp.ndarray  # () a joint angle the reward reads (door hinge, dial), else 0
    sites: jnp.ndarray  # (NUM_POINTS, 3) extra site/body/geom positions a task reads, else 0
    obj2_pos: jnp.ndarray  # (3,) a second object (hammer's nail, stick tasks' container), else 0
    obj2_quat: jnp.ndarray  # (4,) its quaternion as Meta-World observes it, else 0


class Consts(NamedTuple):
    """Per-episode constants Meta-World fixes at reset (its instance attributes)."""

    target_pos: jnp.ndarray  # (3,) self._target_pos
    obj_init_pos: jnp.ndarray  # (3,) self.obj_init_pos
    init_tcp: jnp.ndarray  # (3,) self.init_tcp
    init_lpad: jnp.ndarray  # (3,) self.init_left_pad
    init_rpad: jnp.ndarray  # (3,) self.init_right_pad
    aux: jnp.ndarray  # (3,) task extra: peg_head_pos_init / window_handle_pos_init / [obj_to_target_init, 0, 0]
    aux2: jnp.ndarray  # (3,) a second task extra (e.g. a second object's start), else 0


def tcp_center(p: Probe) -> jnp.ndarray:
    return (p.r_ee + p.l_ee) / 2.0


def _long_tail(d, value_at_1=0.1):
    scale = np.sqrt(1.0 / value_at_1 - 1.0)
    return 1.0 / ((d * scale) ** 2 + 1.0)


def _gaussian(d, value_at_1=0.1):
    scale = np.sqrt(-2.0 * np.log(value_at_1))
    return jnp.exp(-0.5 * (d * scale) ** 2)


def tolerance(x, lower, upper, margin, sigmoid="long_tail"):
    """reward_utils.tolerance with value_at_margin 0.1; margin may be traced (>= 0)."""
    x = jnp.asarray(x)
    in_bounds = (lower <= x) & (x <= upper)
    safe_margin = jnp.where(margin == 0, 1.0, margin)
    d = jnp.where(x < lower, lower - x, x - upper) / safe_margin
    sig = _long_tail(d) if sigmoid == "long_tail" else _gaussian(d)
    value = jnp.where(in_bounds, 1.0, sig)
    return jnp.where(margin == 0, jnp.where(in_bounds, 1.0, 0.0), value).astype(x.dtype)


def hamacher_product(a, b):
    denom = a + b - a * b
    safe = jnp.where(denom > 0, denom, 1.0)
    return jnp.where(denom > 0, a * b / safe, 0.0 * a)


def rect_prism_tolerance(curr, zero, one):
    def in_range(a, b, c):
        return jnp.where(c >= b, (b <= a) & (a <= c), (c <= a) & (a <= b))

    inside = in_range(curr[0], zero[0], one[0]) & in_range(curr[1], zero[1], one[1]) & in_range(
        curr[2], zero[2], one[2]
    )
    diff = one - zero
    safe = jnp.where(diff == 0, 1.0, diff)
    scale = (curr - zero) / safe
    return jnp.where(inside, scale[0] * scale[1] * scale[2], 1.0)


def quat_from_mat(m):
    """scipy.spatial.transform.Rotation.from_matrix(m).as_quat() (x, y, z, w), same signs."""
    m = jnp.reshape(m, m.shape[:-1] + (3, 3)) if m.shape[-1] == 9 else m
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    decision = jnp.stack([m[..., 0, 0], m[..., 1, 1], m[..., 2, 2], tr], axis=-1)
    choice = jnp.argmax(decision, axis=-1)
    q0 = jnp.stack(
        [1 - tr + 2 * m[..., 0, 0], m[..., 1, 0] + m[..., 0, 1], m[..., 2, 0] + m[..., 0, 2],
         m[..., 2, 1] - m[..., 1, 2]], axis=-1)
    q1 = jnp.stack(
        [m[..., 0, 1] + m[..., 1, 0], 1 - tr + 2 * m[..., 1, 1], m[..., 2, 1] + m[..., 1, 2],
         m[..., 0, 2] - m[..., 2, 0]], axis=-1)
    q2 = jnp.stack(
        [m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 - tr + 2 * m[..., 2, 2],
         m[..., 1, 0] - m[..., 0, 1]], axis=-1)
    q3 = jnp.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1],
         1 + tr], axis=-1)
    c = choice[..., None]
    q = jnp.where(c == 0, q0, jnp.where(c == 1, q1, jnp.where(c == 2, q2, q3)))
    return q / jnp.linalg.norm(q, axis=-1, keepdims=True)


def curr_obs(p: Probe) -> jnp.ndarray:
    """SawyerXYZEnv._get_curr_obs_combined_no_goal: 18 values (a one-object task's second
    object is zero, which is Meta-World's padding)."""
    gripper = jnp.clip(jnp.linalg.norm(p.rclaw - p.lclaw, axis=-1) / 0.1, 0.0, 1.0)
    return jnp.concatenate([p.hand, gripper[..., None], p.obj_pos, p.obj_quat, p.obj2_pos, p.obj2_quat], axis=-1)


def full_obs(curr, prev, goal, goal_low, goal_high, clip=True):
    """Frame-stacked observation (curr, prev, goal); clipped as SawyerXYZEnv.step clips it."""
    obs = jnp.concatenate([curr, prev, goal], axis=-1)
    if not clip:
        return obs
    inf = np.full(14, np.inf)
    low18 = np.concatenate([HAND_SPACE_LOW, [-1.0], -inf])
    high18 = np.concatenate([HAND_SPACE_HIGH, [1.0], inf])
    low = np.concatenate([low18, low18, goal_low])
    high = np.concatenate([high18, high18, goal_high])
    return jnp.clip(obs, low.astype(obs.dtype), high.astype(obs.dtype))


def gripper_caging_reward(action, obj_pos, p: Probe, c: Consts, obj_radius, pad_success_thresh,
                          object_reach_radius, xz_thresh, desired_gripper_effort=1.0,
                          high_density=False, medium_density=False):
    """SawyerXYZEnv._gripper_caging_reward."""
    pad_y = jnp.stack([p.lpad[1], p.rpad[1]])
    pad_to_obj = jnp.abs(pad_y - obj_pos[1])
    pad_to_objinit = jnp.abs(pad_y - c.obj_init_pos[1])
    lr_margin = jnp.abs(pad_to_objinit - pad_success_thresh)
    caging_l = tolerance(pad_to_obj[0], obj_radius, pad_success_thresh, lr_margin[0])
    caging_r = tolerance(pad_to_obj[1], obj_radius, pad_success_thresh, lr_margin[1])
    caging_y = hamacher_product(caging_l, caging_r)
    tcp = tcp_center(p)
    xz = np.array([0, 2])
    xz_margin = jnp.linalg.norm(c.obj_init_pos[xz] - c.init_tcp[xz]) - xz_thresh
    caging_xz = tolerance(jnp.linalg.norm(tcp[xz] - obj_pos[xz]), 0.0, xz_thresh, xz_margin)
    gripper_closed = jnp.minimum(jnp.maximum(0.0, action[-1]), desired_gripper_effort) / desired_gripper_effort
    caging = hamacher_product(caging_y, caging_xz)
    gripping = jnp.where(caging > 0.97, gripper_closed, 0.0)
    cg = hamacher_product(caging, gripping)
    if high_density:
        cg = (cg + caging) / 2
    if medium_density:
        tcp_to_obj = jnp.linalg.norm(obj_pos - tcp)
        tcp_to_obj_init = jnp.linalg.norm(c.obj_init_pos - c.init_tcp)
        reach_margin = jnp.abs(tcp_to_obj_init - object_reach_radius)
        reach = tolerance(tcp_to_obj, 0.0, object_reach_radius, reach_margin)
        cg = (cg + reach) / 2
    return cg
