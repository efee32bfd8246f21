"""Meta-World v3 task logic (v2 reward) for the MT50 family: two-part and tool tasks: assembly, disassemble, hammer, sticks, peg unplug, basketball, coffee mugs.

Re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py`` as in ``tasks.py``."""

from __future__ import annotations

import jax.numpy as jnp

from .common import Consts, gripper_caging_reward, hamacher_product, tcp_center, tolerance
from .spec import TaskSpec, a64, zeros3


def _coffee_push_reward(obs, p, c, a):
    obj, tcp_opened = obs[4:7], obs[3]
    scale = jnp.array([2.0, 2.0, 1.0], obs.dtype)
    target_to_obj = jnp.linalg.norm((obj - c.target_pos) * scale)
    target_to_obj_init = jnp.linalg.norm((c.obj_init_pos - c.target_pos) * scale)
    in_place = tolerance(target_to_obj, 0.0, 0.05, target_to_obj_init)
    tcp_to_obj = jnp.linalg.norm(obj - tcp_center(p))
    grasped = gripper_caging_reward(a, obj, p, c, obj_radius=0.02, pad_success_thresh=0.05,
                                    object_reach_radius=0.04, xz_thresh=0.05,
                                    desired_gripper_effort=0.7, medium_density=True)
    reward = hamacher_product(grasped, in_place)
    reward = jnp.where((tcp_to_obj < 0.04) & (tcp_opened > 0), reward + 1.0 + 5.0 * in_place, reward)
    reward = jnp.where(target_to_obj < 0.05, 10.0, reward)
    return reward, jnp.linalg.norm(obj - c.target_pos) <= 0.07


def _place_coffee_push(rv, qpos, qvel, settled, adr):
    # sawyer_coffee.xml: the mug's free joint is qpos[0:7]; _set_obj_xyz zeroes qvel[9:15] anyway
    qpos = qpos.at[0:3].set(rv[:3].astype(qpos.dtype))
    qvel = qvel.at[9:15].set(0.0)
    return qpos, qvel, rv[3:6] + jnp.array([0.0, 0.22, 0.0], rv.dtype)


def _consts_coffee_push(rv, settled, placed, prev, spec):
    return Consts(target_pos=rv[3:6], obj_init_pos=rv[:3], init_tcp=tcp_center(settled),
                  init_lpad=settled.lpad, init_rpad=settled.rpad, aux=zeros3(rv), aux2=zeros3(rv))


SPECS: dict[str, TaskSpec] = {
    "coffee-push-v3": TaskSpec(
        "coffee-push-v3", "SawyerCoffeePushEnvV3", "sawyer_coffee.xml", a64(0, 0.4, 0.2),
        a64(-0.1, 0.55, -0.001, -0.05, 0.7, -0.001), a64(0.1, 0.65, 0.001, 0.05, 0.75, 0.001),
        a64(-0.05, 0.7, -0.001), a64(0.05, 0.75, 0.001), ("body", "obj", (0, 0, 0)), ("geom_mat", "mug"),
        _coffee_push_reward, _place_coffee_push, _consts_coffee_push, fixture_body="coffee_machine",
        reject=(0.15, "obj_goal"), expert="SawyerCoffeePushV3Policy"),
}
