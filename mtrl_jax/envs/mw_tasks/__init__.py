"""Meta-World MT50 task logic (v3 envs, v2 reward) as pure JAX functions of the physics state.

Typical use (one env, any backend)::

    spec = SPECS["drawer-open-v3"]
    probe = make_probe_fn(spec, mj_model)(data)          # data: mujoco.MjData or mjx.Data
    obs, curr, reward, success = evaluate(spec, probe, prev_curr, consts, action)
"""

from .common import (  # noqa: F401
    ACT_DIM,
    MAX_EPISODE_STEPS,
    NUM_GOALS,
    NUM_POINTS,
    OBS_DIM,
    Consts,
    Probe,
    curr_obs,
    full_obs,
    tcp_center,
)
from .spec import FRAME_SKIP, MOCAP_QUAT, fixture_bodies, hand_mocap_target  # noqa: F401
from .tasks import (  # noqa: F401
    MOCAP_HIGH,
    MOCAP_LOW,
    MT10_TASKS,
    MT50_TASKS,
    SPECS,
    TaskSpec,
    make_probe_fn,
    sample_rand_vecs,
)


def evaluate(spec: TaskSpec, probe: Probe, prev_curr, consts: Consts, action, clip: bool = True):
    """One step's observation, reward and success from the physics after the step.

    Returns (obs (39,), curr (18,) the frame to stack next time, reward (), success () bool)."""
    curr = curr_obs(probe)
    obs = full_obs(curr, prev_curr, consts.target_pos, spec.goal_low, spec.goal_high, clip=clip)
    reward, success = spec.reward(obs, probe, consts, action)
    return obs, curr, reward, success


def reset_obs(spec: TaskSpec, probe: Probe, consts: Consts):
    """The observation Meta-World's reset returns (current frame stacked twice, not clipped)."""
    curr = curr_obs(probe)
    return full_obs(curr, curr, consts.target_pos, spec.goal_low, spec.goal_high, clip=False), curr
