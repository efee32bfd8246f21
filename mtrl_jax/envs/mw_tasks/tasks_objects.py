"""Meta-World v3 task logic (v2 reward) for the MT50 family: free objects pushed, picked or placed: walls, holes, bins, shelves, soccer, sweeps.

Re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py`` as in ``tasks.py``."""

from __future__ import annotations

import jax.numpy as jnp

from .common import tcp_center, tolerance
from .placement import consts_obj, place_obj
from .spec import TaskSpec, a64

def _reach_wall_reward(obs, p, c, a):
    target = c.target_pos
    d = jnp.linalg.norm(tcp_center(p) - target)
    # in_place_margin uses the constant hand_init_pos (0, 0.6, 0.2), not the measured tcp
    margin = jnp.linalg.norm(jnp.asarray(a64(0, 0.6, 0.2), d.dtype) - target)
    return 10 * tolerance(d, 0.0, 0.05, margin), d <= 0.05


SPECS: dict[str, TaskSpec] = {
    "reach-wall-v3": TaskSpec(
        "reach-wall-v3", "SawyerReachWallEnvV3", "sawyer_reach_wall_v3.xml", a64(0, 0.6, 0.2),
        a64(-0.05, 0.6, 0.015, -0.05, 0.85, 0.05), a64(0.05, 0.65, 0.015, 0.05, 0.9, 0.3),
        a64(-0.05, 0.85, 0.05), a64(0.05, 0.9, 0.3), ("body", "obj", (0, 0, 0)), ("geom_mat", "objGeom"),
        _reach_wall_reward, place_obj, consts_obj(), reject=(0.15, "obj_goal"),
        expert="SawyerReachWallV3Policy"),
}
