"""``TaskSpec``: what one Meta-World v3 task is to the JAX task logic, and ``make_probe_fn``, which
reads a task's ``Probe`` from MuJoCo or MJX data. The specs themselves are in ``tasks.py`` (MT10)
and ``tasks_*.py`` (the other 40 tasks of MT50)."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import jax.numpy as jnp
import numpy as np

from .common import NUM_POINTS, Probe, quat_from_mat

# SawyerXYZEnv's hand (mocap) bounds, the clip of every mocap move: the v3 tasks' default. The
# upper bound is this for all 50; a task's ``TaskSpec.mocap_low`` may lower or raise the lower one.
MOCAP_LOW = np.array([-0.5, 0.40, 0.05])
MOCAP_HIGH = np.array([0.5, 1.0, 0.5])


def f32(*v):
    """A constant Meta-World stores as float32 (e.g. several ``hand_init_pos``), in float64."""
    return np.array(np.array(v, np.float32), np.float64)


def a64(*v):
    return np.array(v, np.float64)


def zeros3(x):
    """(3,) zeros in the dtype of ``x`` (a Consts field a task does not use)."""
    return jnp.zeros(3, x.dtype)


def fixture_bodies(spec) -> tuple:
    """The spec's fixture bodies as a tuple (empty without one)."""
    fb = spec.fixture_body
    return () if fb is None else (fb,) if isinstance(fb, str) else tuple(fb)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    env_cls: str  # metaworld class name (for the CPU reference)
    xml: str  # file under metaworld/assets/sawyer_xyz/
    hand_init_pos: np.ndarray
    rv_low: np.ndarray  # _random_reset_space
    rv_high: np.ndarray
    goal_low: np.ndarray  # goal_space (the goal part of the observation is clipped to it)
    goal_high: np.ndarray
    obj: tuple  # ("body"|"geom"|"site", name, offset)
    quat: tuple  # ("geom_mat"|"site_mat"|"body_quat"|"zeros", name)
    reward: Callable  # (obs, probe, consts, action) -> (reward, success)
    place: Callable  # (rv, qpos, qvel, settled_probe, adr) -> (qpos, qvel, fixture_pos)
    consts: Callable  # (rv, settled_probe, placed_probe, prev_fixture_pos, spec) -> Consts
    theta_joint: Optional[str] = None
    # up to NUM_POINTS extra positions: "name" (a site), "body:name" or "geom:name"
    sites: tuple = ()
    # body (or tuple of bodies) whose position the reset moves (door, drawer, ...); ``place``
    # returns (3,) for one body, (k, 3) for a tuple of k
    fixture_body: Optional[str | tuple] = None
    # Meta-World's resampling loop: (min distance, rule) with rv[:2] vs rv[3:5], or a callable
    # rv -> bool that accepts a draw
    reject: Optional[tuple | Callable] = None
    qpos_joint: Optional[str] = None  # joint the placement writes (besides qpos[9:12])
    obj2: Optional[tuple] = None  # a second observed object, as ``obj``
    quat2: tuple = ("zeros", None)  # its quaternion, as ``quat``
    expert: Optional[str] = None  # metaworld.policies class of the scripted expert
    # CPU reference: env -> (aux (3,), aux2 (3,)), the Consts extras read from Meta-World's env
    env_aux: Optional[Callable] = None
    draws_per_reset: int = 2  # rand-vec draws Meta-World's reset makes (reset_model runs twice)
    # Probe -> the observed object position, for a point no body, geom or site marks (dial-turn's
    # knob tip): applied to ``obj`` by the probe, so rewards and observation read the result
    obj_fn: Optional[Callable] = None
    # Resets that run the physics after the placement (door-lock, box-close): this many single
    # mj_step calls with the fixture at its new place and ctrl / mocap as the hand settle left
    # them ([-1, 1], hand_init_pos). Then ``after_settle`` (rv, qpos, qvel, adr) -> (qpos, qvel),
    # the state edit Meta-World makes after the steps (set_state: a forward follows), or None: no
    # forward, the state is observed as the last mj_step leaves it (xpos one integration behind
    # qpos). ``consts`` gets the probe of that final state as its placed probe.
    settle_steps: int = 0
    after_settle: Optional[Callable] = None
    # the env's mocap_low (its hand_low) where it is not MOCAP_LOW: the clip of every mocap move
    # (pick-out-of-hole's hand reaches into the hole, below z = 0.05)
    mocap_low: tuple = tuple(MOCAP_LOW)


# SawyerXYZEnv's action_scale: mocap metres per unit of xyz action
ACTION_SCALE = 0.01
# the hand mocap's orientation, written with every position (SawyerXYZEnv.set_xyz_action, _reset_hand)
MOCAP_QUAT = (1.0, 0.0, 1.0, 0.0)
# MuJoCo steps per env step (SawyerXYZEnv's frame_skip)
FRAME_SKIP = 5


def hand_mocap_target(spec: TaskSpec, action, mocap_pos, hand: int, xp=jnp):
    """The hand mocap's position after ``action`` (4,), from row ``hand`` of ``mocap_pos``
    (nmocap, 3): the action clipped to [-1, 1], its xyz times ``ACTION_SCALE`` added, and the sum
    clipped to the task's mocap box, as ``SawyerXYZEnv.set_xyz_action``. Returns (3,). ``xp``:
    ``jnp`` (the MJX env) or ``np`` (CPU MuJoCo)."""
    a = xp.clip(action, -1.0, 1.0)
    pos = mocap_pos[hand] + a[:3] * ACTION_SCALE
    return xp.clip(pos, xp.asarray(spec.mocap_low, pos.dtype), xp.asarray(MOCAP_HIGH, pos.dtype))


# --------------------------------------------------------------------------- probes


def make_probe_fn(spec: TaskSpec, model):
    """Returns probe(data) -> Probe for a MuJoCo model (mujoco.MjModel) with Meta-World's names.

    ``data`` may be a ``mujoco.MjData`` (numpy) or an ``mjx.Data`` (JAX, inside jit/vmap)."""
    import mujoco

    def bid(n):
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n)

    def gid(n):
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, n)

    def sid(n):
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n)

    ids = dict(hand=bid("hand"), rclaw=bid("rightclaw"), lclaw=bid("leftclaw"), lpad=bid("leftpad"),
               rpad=bid("rightpad"), r_ee=sid("rightEndEffector"), l_ee=sid("leftEndEffector"))
    for k, v in ids.items():
        assert v >= 0, k
    def point_reader(kind, name):
        i = {"body": bid, "geom": gid, "site": sid}[kind](name)
        assert i >= 0, (kind, name)
        return kind, i

    def pos_reader(sel):
        kind, name, off = sel
        return point_reader(kind, name) + (np.asarray(off, np.float64),)

    def quat_reader(sel):
        qkind, qname = sel
        qid = {"geom_mat": gid, "site_mat": sid, "body_quat": bid, "zeros": lambda n: 0}[qkind](qname)
        assert qid >= 0, qname
        return qkind, qid

    obj_r, quat_r = pos_reader(spec.obj), quat_reader(spec.quat)
    obj2_r = pos_reader(spec.obj2) if spec.obj2 is not None else None
    quat2_r = quat_reader(spec.quat2)
    assert len(spec.sites) <= NUM_POINTS, spec.sites
    point_r = [point_reader(*s.split(":", 1)) if ":" in s else point_reader("site", s) for s in spec.sites]
    theta_adr = None
    if spec.theta_joint is not None:
        theta_adr = int(model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, spec.theta_joint)])

    def probe(data) -> Probe:
        xpos = jnp.asarray(data.xpos)
        site_xpos = jnp.asarray(data.site_xpos)
        dt = xpos.dtype
        table = {"body": xpos, "geom": jnp.asarray(data.geom_xpos), "site": site_xpos}

        def read_pos(r):
            kind, i, off = r
            return table[kind][i] + off.astype(dt)

        def read_quat(r):
            qkind, qid = r
            if qkind == "geom_mat":
                return quat_from_mat(jnp.reshape(jnp.asarray(data.geom_xmat)[qid], (3, 3)))
            if qkind == "site_mat":
                return quat_from_mat(jnp.reshape(jnp.asarray(data.site_xmat)[qid], (3, 3)))
            if qkind == "body_quat":
                return jnp.asarray(data.xquat)[qid]
            return jnp.zeros(4, dt)

        sites = jnp.zeros((NUM_POINTS, 3), dt)
        if point_r:
            sites = sites.at[: len(point_r)].set(jnp.stack([table[k][i] for k, i in point_r]))
        theta = jnp.asarray(data.qpos)[theta_adr].astype(dt) if theta_adr is not None else jnp.zeros((), dt)
        obj2 = read_pos(obj2_r) if obj2_r is not None else jnp.zeros(3, dt)
        p = Probe(hand=xpos[ids["hand"]], rclaw=xpos[ids["rclaw"]], lclaw=xpos[ids["lclaw"]],
                  r_ee=site_xpos[ids["r_ee"]], l_ee=site_xpos[ids["l_ee"]], lpad=xpos[ids["lpad"]],
                  rpad=xpos[ids["rpad"]], obj_pos=read_pos(obj_r), obj_quat=read_quat(quat_r), theta=theta,
                  sites=sites, obj2_pos=obj2, obj2_quat=read_quat(quat2_r))
        return p if spec.obj_fn is None else p._replace(obj_pos=spec.obj_fn(p))

    return probe
