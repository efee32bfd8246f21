"""MJXMultiTaskEnv: E envs per task of MT10, MT50 or any subset on MJX, reset/step as pure
jittable functions.

Each scene has its own MJX model (the scenes differ in size and contact pairs), so a step runs
one physics program per scene one after the other inside the same jitted function; each is a
``vmap`` over the scene's envs of 5 ``mjx.step`` substeps (a ``lax.scan``) followed by the
forward kinematics Meta-World recomputes before it observes (``mj_forward``). Tasks that share a
scene (the same metaworld XML and port spec: drawer-open/-close, window-open/-close, the plate
slides, ...) share that program: their envs are stacked into one batch (``physics_groups``).
The task logic (observation, reward, success, reset constants) is ``mtrl_jax.envs.mw_tasks``,
per task.

Fixtures (door, drawer, button box, peg box, window) are placed per env by batching the one
``body_pos`` row of the fixture body in the model passed to ``mjx.step`` (``TaskState.fixture``).

Reset: the arm's start (Meta-World's ``_reset_hand``: 50 env steps with the mocap held at the
hand's start) does not depend on the goal, so it is simulated once per task at construction (CPU
MuJoCo on the port scene) and every reset starts from it; the goal (one of the 50 pre-sampled
reset vectors per task, Meta-World's for ``seed``) places the object / fixture and fixes the
episode constants. Truncation at ``max_episode_steps`` autoresets the env (goal drawn at random
among the 50, as Meta-World's task-select wrapper does).
"""

from __future__ import annotations

import copy
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from mtrl_jax.envs.base import DeviceEnv, StepOut
from mtrl_jax.envs.mw_tasks import (
    ACT_DIM,
    MAX_EPISODE_STEPS,
    MT10_TASKS,
    MT50_TASKS,
    NUM_GOALS,
    OBS_DIM,
    SPECS,
    Consts,
    Probe,
    evaluate,
    FRAME_SKIP,
    MOCAP_QUAT,
    fixture_bodies,
    hand_mocap_target,
    make_probe_fn,
    reset_obs,
    sample_rand_vecs,
)
from mtrl_jax.envs.mw_tasks import cpu_ref

from .scene import port_model



class TaskState(NamedTuple):
    data: mjx.Data  # batched over E
    consts: Consts  # (E, ...)
    prev: jax.Array  # (E, 18) frame the next observation stacks
    t: jax.Array  # (E,) int32 steps in the episode
    goal: jax.Array  # (E,) int32 index of the pre-sampled goal
    fixture: Optional[jax.Array] = None  # (E, 3) or (E, k, 3) where the reset put the fixture bodies (None: none)


class _Task:
    """Everything static about one task's port: model, settled start, goals, ids."""

    def __init__(self, name: str, rand_vecs: np.ndarray, iterations: int, ls_iterations: int):
        self.name = name
        self.spec = SPECS[name]
        self.mj_model = port_model(name, iterations, ls_iterations)
        self.model = mjx.put_model(self.mj_model)
        m = copy.deepcopy(self.mj_model)
        d = mujoco.MjData(m)
        cpu_ref.settle_hand(self.spec, m, d)
        self.probe_fn = make_probe_fn(self.spec, self.mj_model)
        self.settled_probe = Probe(*[np.asarray(x, np.float32) for x in self.probe_fn(d)])
        self.settled = mjx.put_data(m, d)
        self.hand_mocap = int(m.body_mocapid[m.body("mocap").id])
        self.fix_bodies = np.array([m.body(b).id for b in fixture_bodies(self.spec)], np.int32)
        self.adr = cpu_ref.task_adr(self.spec, m)
        self.rand_vecs = jnp.asarray(rand_vecs, jnp.float32)  # (50, d)

    # ---- single env (vmapped by the caller)
    def model_for(self, fixture):
        """The task's model with this env's fixture placement (only the fixture bodies' body_pos
        rows vary): ``fixture`` (3,) for one fixture body, (k, 3) for k."""
        if fixture is None:
            return self.model
        rows = jnp.reshape(fixture, (-1, 3))
        return self.model.replace(body_pos=self.model.body_pos.at[self.fix_bodies].set(rows))

    def reset_one(self, goal):
        spec = self.spec
        rv = self.rand_vecs[goal]
        d = self.settled
        qpos, qvel, fix = spec.place(rv, d.qpos, d.qvel, self.settled_probe, self.adr)
        d = d.replace(qpos=qpos, qvel=qvel)
        if fix is not None:
            fix = fix.astype(self.model.body_pos.dtype)
        model = self.model_for(fix)
        d = mjx.kinematics(model, d)
        if spec.settle_steps:  # ctrl and mocap as the hand settle left them, as cpu_ref.reset_cpu
            d, _ = jax.lax.scan(lambda d, _: (mjx.step(model, d), None), d, None, length=spec.settle_steps)
            if spec.after_settle is not None:
                qpos, qvel = spec.after_settle(rv, d.qpos, d.qvel, self.adr)
                d = mjx.kinematics(model, d.replace(qpos=qpos, qvel=qvel))
        placed = self.probe_fn(d)
        consts = spec.consts(rv, self.settled_probe, placed, jnp.zeros(3, rv.dtype), spec)
        obs, curr = reset_obs(spec, placed, consts)
        return d, consts, curr, obs, fix

    def physics_one(self, d, action, fixture=None):
        model = self.model_for(fixture)
        pos = hand_mocap_target(self.spec, action, d.mocap_pos, self.hand_mocap)
        d = d.replace(mocap_pos=d.mocap_pos.at[self.hand_mocap].set(pos),
                      mocap_quat=d.mocap_quat.at[self.hand_mocap].set(jnp.asarray(MOCAP_QUAT, pos.dtype)),
                      ctrl=jnp.stack([action[3], -action[3]]).astype(d.ctrl.dtype))

        def sub(d, _):
            return mjx.step(model, d), None

        d, _ = jax.lax.scan(sub, d, None, length=FRAME_SKIP)
        return mjx.kinematics(model, d)



def _reset_if_any(trunc, reset_fn, goals, current):
    """``reset_fn(goals)`` if any env of the batch is truncated, else ``current`` (same pytree).

    Envs of a batch start together, so they truncate on the same step: a step without a
    truncation skips the reset's kinematics (and a task's settle steps) instead of computing them
    for a ``where`` that throws them away. Under a ``vmap`` over seeds the cond becomes a select,
    the cost without it."""
    return jax.lax.cond(jnp.any(trunc), reset_fn, lambda _: current, goals)


def scene_key(task: str) -> tuple:
    """Tasks with equal keys have the same port scene (same metaworld XML, same PortSpec, same
    fixture bodies), so one physics program can step the envs of all of them."""
    from .scene import PORT_PAIRS

    return (SPECS[task].xml, PORT_PAIRS[task], fixture_bodies(SPECS[task]))


def physics_groups(tasks: tuple) -> tuple:
    """Indices of ``tasks`` grouped by ``scene_key``, in first-appearance order."""
    groups: dict = {}
    for i, t in enumerate(tasks):
        groups.setdefault(scene_key(t), []).append(i)
    return tuple(tuple(g) for g in groups.values())


class MJXMultiTaskEnv(DeviceEnv):
    """MT10 (or MT50, or a subset, via ``tasks``) on MJX with the shared env interface
    (mtrl_jax.envs.base). ``share_scenes=False`` steps every task in its own physics program.

    The goals are Meta-World's draws for ``seed`` of the benchmark ``goal_benchmark`` (task
    names in the benchmark's order): MT10's by default, ``(task,)`` for MT1's."""

    obs_dim = OBS_DIM
    act_dim = ACT_DIM

    def __init__(self, envs_per_task: int = 1, tasks: tuple = MT10_TASKS, seed: int = 0,
                 max_episode_steps: int = MAX_EPISODE_STEPS, iterations: int = 4, ls_iterations: int = 8,
                 goal_benchmark: Optional[tuple] = None, share_scenes: bool = True):
        self.envs_per_task = int(envs_per_task)
        self.task_names = tuple(tasks)
        self.num_tasks = len(self.task_names)
        self.max_episode_steps = int(max_episode_steps)
        if goal_benchmark is None:  # a subset of MT10 (MT50) keeps MT10's (MT50's) draws for its tasks
            goal_benchmark = next((b for b in (MT10_TASKS, MT50_TASKS) if set(self.task_names) <= set(b)),
                                  self.task_names)
        goals = sample_rand_vecs(tuple(goal_benchmark), seed)
        self._tasks = [_Task(n, goals[n], iterations, ls_iterations) for n in self.task_names]
        self.physics_groups = physics_groups(self.task_names) if share_scenes else tuple(
            (i,) for i in range(self.num_tasks))

    def with_envs(self, envs_per_task: int) -> "MJXMultiTaskEnv":
        """The same tasks, goals and scenes with another number of envs per task (evaluation)."""
        other = copy.copy(self)
        other.envs_per_task = int(envs_per_task)
        return other

    def subset(self, indices) -> "MJXMultiTaskEnv":
        """The env over the tasks at ``indices`` (in that order): the same built scenes, goals
        and E, and the physics groups of those tasks."""
        indices = tuple(int(i) for i in indices)
        other = copy.copy(self)
        other.task_names = tuple(self.task_names[i] for i in indices)
        other.num_tasks = len(indices)
        other._tasks = [self._tasks[i] for i in indices]
        pos = {i: k for k, i in enumerate(indices)}
        other.physics_groups = tuple(tuple(pos[i] for i in g) for g in self.physics_groups
                                     if all(i in pos for i in g))
        if sum(map(len, other.physics_groups)) != other.num_tasks:
            raise ValueError(f"subset {indices} splits a physics group of {self.physics_groups}")
        return other

    @property
    def mj_models(self) -> tuple:
        """The port scenes as CPU ``mujoco.MjModel``s, one per task in ``task_names`` order (what
        ``TaskState.data`` of that task indexes; e.g. to render evaluation frames from MJX states
        with ``mjx.get_data``). Treat as read-only: the env's MJX models were made from them."""
        return tuple(t.mj_model for t in self._tasks)

    @property
    def goals(self):
        """(T, 50, d) the pre-sampled reset vectors (d = 3 or 6 per task: a list)."""
        return [t.rand_vecs for t in self._tasks]

    def _random_goals(self, key):
        return jax.random.randint(key, (self.num_tasks, self.envs_per_task), 0, NUM_GOALS)

    def reset(self, key, goal_index: Optional[jax.Array] = None):
        if goal_index is None:
            goal_index = self._random_goals(key)
        goal_index = jnp.asarray(goal_index, jnp.int32)
        states, obs = [], []
        for i, task in enumerate(self._tasks):
            d, c, curr, o, fix = jax.vmap(task.reset_one)(goal_index[i])
            states.append(TaskState(d, c, curr, jnp.zeros(self.envs_per_task, jnp.int32), goal_index[i], fix))
            obs.append(o)
        return tuple(states), jnp.stack(obs).astype(jnp.float32)

    def _physics(self, state, action):
        """(T,) the stepped mjx.Data of every task: one vmapped physics program per group of
        ``physics_groups`` (the tasks of a group share one scene, so their envs are stacked)."""
        out = [None] * self.num_tasks
        for group in self.physics_groups:
            lead = self._tasks[group[0]]
            cat = lambda *xs: jnp.concatenate(xs, axis=0)  # noqa: E731
            d = jax.tree_util.tree_map(cat, *[state[i].data for i in group])
            a = jnp.concatenate([action[i] for i in group], axis=0)
            fix = None if state[group[0]].fixture is None else jnp.concatenate([state[i].fixture for i in group])
            d = jax.vmap(lead.physics_one)(d, a, fix)
            for k, i in enumerate(group):
                sl = slice(k * self.envs_per_task, (k + 1) * self.envs_per_task)
                out[i] = jax.tree_util.tree_map(lambda x: x[sl], d)
        return out

    def step(self, state, action, key):
        goals = self._random_goals(key)
        outs = []
        new_states = []
        physics = self._physics(state, action)
        for i, task in enumerate(self._tasks):
            s = state[i]
            d = physics[i]
            obs, curr, reward, success = jax.vmap(
                lambda p, prev, c, a: evaluate(task.spec, p, prev, c, a))(jax.vmap(task.probe_fn)(d), s.prev, s.consts,
                                                                          action[i])
            t = s.t + 1
            trunc = t >= self.max_episode_steps
            rd, rc, rcurr, robs, rfix = _reset_if_any(trunc, jax.vmap(task.reset_one), goals[i],
                                                      (d, s.consts, curr, obs, s.fixture))

            def pick(new, old):
                m = trunc.reshape(trunc.shape + (1,) * (new.ndim - 1))
                return jnp.where(m, new, old)

            d = jax.tree_util.tree_map(pick, rd, d)
            consts = jax.tree_util.tree_map(pick, rc, s.consts)
            prev = pick(rcurr, curr)
            goal = jnp.where(trunc, goals[i], s.goal)
            fix = None if s.fixture is None else pick(rfix, s.fixture)
            new_states.append(TaskState(d, consts, prev, jnp.where(trunc, 0, t), goal, fix))
            outs.append((pick(robs, obs), obs, reward, trunc, success))
        obs_next, next_obs, reward, trunc, success = [jnp.stack(x) for x in zip(*outs)]
        out = StepOut(obs=obs_next.astype(jnp.float32), next_obs=next_obs.astype(jnp.float32),
                      reward=reward.astype(jnp.float32), terminated=jnp.zeros_like(trunc),
                      truncated=trunc, success=success)
        return tuple(new_states), out
