"""CPU Meta-World as the reference: build one v3 env with a given reset vector and record, step by
step, what the JAX task logic needs (probe inputs, episode constants) next to what Meta-World
returns (observation, reward, success). Used by the parity tests and scripts."""

from __future__ import annotations

import pickle

import numpy as np

from .common import Consts, Probe
from .spec import FRAME_SKIP, MOCAP_QUAT, fixture_bodies
from .tasks import SPECS, make_probe_fn

EXPERT_POLICIES = {
    "reach-v3": "SawyerReachV3Policy",
    "push-v3": "SawyerPushV3Policy",
    "pick-place-v3": "SawyerPickPlaceV3Policy",
    "door-open-v3": "SawyerDoorOpenV3Policy",
    "drawer-open-v3": "SawyerDrawerOpenV3Policy",
    "drawer-close-v3": "SawyerDrawerCloseV3Policy",
    "button-press-topdown-v3": "SawyerButtonPressTopdownV3Policy",
    "peg-insert-side-v3": "SawyerPegInsertionSideV3Policy",
    "window-open-v3": "SawyerWindowOpenV3Policy",
    "window-close-v3": "SawyerWindowCloseV3Policy",
}


def expert_policy(name):
    import metaworld.policies as P

    return getattr(P, SPECS[name].expert or EXPERT_POLICIES[name])()


def make_policy(name: str, policy):
    """``policy`` as an object with ``get_action(obs (39,)) -> (4,)``: "expert" is the task's
    scripted expert, "random" is None (uniform actions), anything else is used as it is."""
    if isinstance(policy, str):
        if policy not in ("expert", "random"):
            raise ValueError(f"policy {policy!r}: use 'expert', 'random' or an object with get_action")
        return expert_policy(name) if policy == "expert" else None
    return policy


def make_cpu_env(name: str, rand_vec):
    """A Meta-World v3 env (v2 reward, goal observable, as in MT10) fixed to one reset vector."""
    import metaworld  # noqa: F401  (registers envs)
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS
    from metaworld.types import Task

    cls = ALL_V3_ENVIRONMENTS[name]
    env = cls()
    data = dict(rand_vec=np.asarray(rand_vec, np.float64), env_cls=cls, partially_observable=False)
    env.set_task(Task(env_name=name, data=pickle.dumps(data)))
    return env


def env_consts(name: str, env) -> Consts:
    """Meta-World's per-episode constants, read from the env's attributes."""
    aux, aux2 = np.zeros(3), np.zeros(3)
    if SPECS[name].env_aux is not None:
        aux, aux2 = (np.array(x, np.float64) for x in SPECS[name].env_aux(env))
    elif name == "peg-insert-side-v3":
        aux = np.array(env.peg_head_pos_init, np.float64)
    elif name.startswith("window"):
        aux = np.array(env.window_handle_pos_init, np.float64)
    elif name == "button-press-topdown-v3":
        aux = np.array([env._obj_to_target_init, 0.0, 0.0])
    c = lambda x: np.array(x, np.float64).copy()  # noqa: E731
    return Consts(target_pos=c(env._target_pos), obj_init_pos=c(env.obj_init_pos), init_tcp=c(env.init_tcp),
                  init_lpad=c(env.init_left_pad), init_rpad=c(env.init_right_pad), aux=aux, aux2=aux2)


def _np_probe(probe_fn, data) -> Probe:
    return Probe(*[np.asarray(x, np.float64) for x in probe_fn(data)])


def record(name: str, rand_vec, n_steps: int, policy="random", seed: int = 0, env=None,
           noise: float = 0.0, stop_after_success: int | None = None):
    """Runs one CPU episode (``n_steps`` <= 500; optionally ending ``stop_after_success`` steps
    after the first success) and returns a dict of stacked arrays:
    probe (Probe of (n, ...)), consts (Consts of (n, ...)), prev (n, 18) the previous frame the
    step's observation stacks, obs (n, 39), reward (n,), success (n,), action (n, 4),
    plus reset_obs (39,) and the probe/consts at reset."""
    rng = np.random.default_rng(seed)
    env = env if env is not None else make_cpu_env(name, rand_vec)
    spec = SPECS[name]
    probe_fn = _probe_cache(name, env.model)
    obs, _ = env.reset()
    out = dict(reset_obs=obs.copy(), reset_probe=_np_probe(probe_fn, env.data), reset_consts=env_consts(name, env))
    pol = make_policy(name, policy)
    rows = []
    first_success = None
    for t in range(n_steps):
        if first_success is not None and stop_after_success is not None and t >= first_success + stop_after_success:
            break
        if pol is None:
            a = rng.uniform(-1, 1, 4).astype(np.float32)
        else:
            a = np.clip(pol.get_action(obs) + noise * rng.normal(size=4), -1, 1).astype(np.float32)
        prev = np.array(env._prev_obs, np.float64).copy()
        obs, r, term, trunc, info = env.step(a)
        rows.append(dict(probe=_np_probe(probe_fn, env.data), consts=env_consts(name, env), prev=prev,
                         obs=obs.copy(), reward=float(r), success=float(info["success"]), action=a.astype(np.float64)))
        if info["success"] and first_success is None:
            first_success = t
    stack = lambda k: np.stack([r[k] for r in rows])  # noqa: E731
    out.update(obs=stack("obs"), reward=stack("reward"), success=stack("success"), action=stack("action"),
               prev=stack("prev"))
    out["probe"] = Probe(*[np.stack([r["probe"][i] for r in rows]) for i in range(len(Probe._fields))])
    out["consts"] = Consts(*[np.stack([r["consts"][i] for r in rows]) for i in range(len(Consts._fields))])
    del spec
    return out


_PROBES = {}


def _probe_cache(name, model):
    key = (name, id(model))
    if key not in _PROBES:
        _PROBES[key] = make_probe_fn(SPECS[name], model)
    return _PROBES[key]


def settle_hand(spec, model, data, fixture_pos=None):
    """Meta-World's reset up to the end of ``_reset_hand`` on a CPU MuJoCo model: mj_resetData,
    then 50 env steps with the mocap held at hand_init_pos and the gripper open."""
    import mujoco

    if fixture_pos is not None:
        set_fixture_pos(spec, model, fixture_pos)
    mujoco.mj_resetData(model, data)
    hand = int(model.body_mocapid[model.body("mocap").id])
    for _ in range(50):
        data.mocap_pos[hand] = spec.hand_init_pos
        data.mocap_quat[hand] = MOCAP_QUAT
        data.ctrl[:] = [-1.0, 1.0]
        mujoco.mj_step(model, data, nstep=FRAME_SKIP)
        mujoco.mj_rnePostConstraint(model, data)
    return data


def fixture_pos_of(spec, model):
    """Where the model has the spec's fixture bodies: (3,) for one body, (k, 3) for k, None for none."""
    bodies = fixture_bodies(spec)
    if not bodies:
        return None
    pos = np.stack([np.array(model.body(b).pos) for b in bodies])
    return pos[0] if isinstance(spec.fixture_body, str) else pos


def set_fixture_pos(spec, model, pos):
    """Moves the spec's fixture bodies to ``pos`` ((3,) or (k, 3), as ``fixture_pos_of``)."""
    pos = np.asarray(pos).reshape(-1, 3)
    for b, p in zip(fixture_bodies(spec), pos):
        model.body(b).pos[:] = p


def task_adr(spec, model):
    """(qposadr, dofadr) of the joint the task's placement writes, or (0, 0)."""
    if spec.qpos_joint is None:
        return (0, 0)
    j = model.joint(spec.qpos_joint)
    return (int(j.qposadr[0]), int(j.dofadr[0]))


def reset_cpu(name, model, data, rand_vec, prev_fixture_pos=None):
    """Runs the JAX reset logic (placement + constants) on a CPU MuJoCo model: returns
    (consts, probe after reset) and leaves ``data`` at the reset state."""
    import jax.numpy as jnp
    import mujoco

    spec = SPECS[name]
    if prev_fixture_pos is None:
        prev_fixture_pos = fixture_pos_of(spec, model)
    probe_fn = _probe_cache(name, model)
    rv = jnp.asarray(rand_vec, jnp.float64)
    adr = task_adr(spec, model)
    # The hand settles with the fixture already at its new place: Meta-World's reset runs
    # reset_model twice and the first run moved it (it matters where the settle touches the
    # fixture, as box-close's lid does the box).
    mujoco.mj_resetData(model, data)
    fix = spec.place(rv, jnp.asarray(data.qpos), jnp.asarray(data.qvel), _np_probe(probe_fn, data), adr)[2]
    settle_hand(spec, model, data, prev_fixture_pos if fix is None else np.asarray(fix))
    settled = _np_probe(probe_fn, data)
    qpos, qvel, fix = spec.place(rv, jnp.asarray(data.qpos), jnp.asarray(data.qvel), settled, adr)
    data.qpos[:] = np.asarray(qpos)
    data.qvel[:] = np.asarray(qvel)
    if fix is not None:
        set_fixture_pos(spec, model, np.asarray(fix))
    mujoco.mj_forward(model, data)
    if spec.settle_steps:
        for _ in range(spec.settle_steps):  # ctrl and mocap as settle_hand left them
            mujoco.mj_step(model, data)
        if spec.after_settle is not None:
            qpos, qvel = spec.after_settle(rv, jnp.asarray(data.qpos), jnp.asarray(data.qvel), adr)
            data.qpos[:] = np.asarray(qpos)
            data.qvel[:] = np.asarray(qvel)
            mujoco.mj_forward(model, data)
    placed = _np_probe(probe_fn, data)
    prev = prev_fixture_pos if prev_fixture_pos is not None else np.zeros(3)
    consts = spec.consts(rv, settled, placed, jnp.asarray(prev), spec)
    return Consts(*[np.asarray(x) for x in consts]), placed
