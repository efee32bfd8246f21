"""point-mt: a pure-JAX multi-task suite on one kinematic point mass (jittable, vmappable).

The point moves in [-1, 1]^2 by 0.2 * action per step; episodes last 30 steps. Five tasks of
different difficulty share the observation layout ``[pos(2), goal(2), aux(2), flag(1)]``:

===============  ================================================  ===========================
task             reward                                            success (any step counts)
===============  ================================================  ===========================
reach            -|p - g|                                          |p - g| < 0.1
reach-sparse     1 if |p - g| < 0.1 else 0 (goal 0.2-0.5 away)     |p - g| < 0.1
waypoint         -(|p - w| + |w - g|) until w is visited (within   visited and |p - g| < 0.1
                 0.2), then -|p - g| (aux = w, flag = visited)
push             -(|p - o| + |o - g|); the object o is carried     |o - g| < 0.1
                 while the point is within 0.2 (aux = o, flag)
flee             min(|p - g|, 1) (goal starts 0.1-0.2 away)        |p - g| > 0.6
===============  ================================================  ===========================

``flee`` conflicts with the others: the same observation asks for the opposite motion, the case
where selective sharing (QMP) matters.

``reset(key, goal_index)`` starts env (t, e) in episode ``goal_index[t, e]`` of task t, a fixed
draw (the evaluation's pre-sampled goals, as Meta-World's); without it the key draws them.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mtrl_jax.envs.base import DeviceEnv, StepOut

TASK_NAMES = ("reach", "reach-sparse", "waypoint", "push", "flee")
REACH, SPARSE, WAYPOINT, PUSH, FLEE = range(5)
STEP_SCALE = 0.2
GOAL_KEY = jax.random.PRNGKey(20_240_601)  # the pre-sampled goals of every point-mt task
RADIUS = 0.1
VISIT_RADIUS = 0.2   # waypoint counts as visited / object is grabbed within this distance
FLEE_RADIUS = 0.6


class PointState(NamedTuple):
    pos: jax.Array    # (T, E, 2)
    goal: jax.Array   # (T, E, 2)
    aux: jax.Array    # (T, E, 2) waypoint or object position (zeros otherwise)
    flag: jax.Array   # (T, E) float: waypoint visited / object held
    t: jax.Array      # (T, E) int32 steps in the episode


def _dist(a, b):
    return jnp.linalg.norm(a - b, axis=-1)


class PointMT(DeviceEnv):
    """E envs per task of the five point-mass tasks (a subset via ``tasks``)."""

    obs_dim = 7
    act_dim = 2

    def __init__(self, envs_per_task: int = 4, max_episode_steps: int = 30,
                 tasks: tuple[str, ...] = TASK_NAMES):
        unknown = set(tasks) - set(TASK_NAMES)
        if unknown:
            raise ValueError(f"unknown point-mt tasks {sorted(unknown)}; known: {TASK_NAMES}")
        self.task_names = tuple(tasks)
        self.num_tasks = len(tasks)
        self.envs_per_task = envs_per_task
        self.max_episode_steps = max_episode_steps
        self._kind = jnp.array([TASK_NAMES.index(t) for t in tasks], jnp.int32)

    def with_envs(self, envs_per_task: int) -> "PointMT":
        return PointMT(envs_per_task, self.max_episode_steps, self.task_names)

    # -- pure functions of explicit state --------------------------------------------------------
    def _kinds(self):
        return jnp.broadcast_to(self._kind[:, None], (self.num_tasks, self.envs_per_task))

    def _sample(self, key):
        shape = (self.num_tasks, self.envs_per_task)
        kind = self._kinds()
        k_pos, k_goal, k_aux, k_ang, k_rad = jax.random.split(key, 5)
        pos = jax.random.uniform(k_pos, (*shape, 2), minval=-0.8, maxval=0.8)
        goal = jax.random.uniform(k_goal, (*shape, 2), minval=-0.8, maxval=0.8)
        aux = jax.random.uniform(k_aux, (*shape, 2), minval=-0.6, maxval=0.6)
        angle = jax.random.uniform(k_ang, shape, maxval=2 * jnp.pi)
        unit = jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)
        u = jax.random.uniform(k_rad, shape)[..., None]
        near_goal = jnp.where((kind == FLEE)[..., None], pos + (0.1 + 0.1 * u) * unit,
                              jnp.clip(pos + (0.2 + 0.3 * u) * unit, -0.95, 0.95))
        goal = jnp.where(((kind == SPARSE) | (kind == FLEE))[..., None], near_goal, goal)
        aux = jnp.where(((kind == WAYPOINT) | (kind == PUSH))[..., None], aux, 0.0)
        zeros = jnp.zeros(shape)
        return PointState(pos, goal, aux, zeros, zeros.astype(jnp.int32))

    def observe(self, s: PointState) -> jax.Array:
        return jnp.concatenate([s.pos, s.goal, s.aux, s.flag[..., None]], axis=-1)

    def reset(self, key, goal_index=None):
        """Random start states, or with ``goal_index`` (T, E) the pre-sampled episode g of each
        task: the state drawn from the fixed key ``fold_in(GOAL_KEY, g)``."""
        if goal_index is None:
            state = self._sample(key)
        else:
            T, E = goal_index.shape
            one = self.with_envs(1)
            drawn = jax.vmap(lambda g: one._sample(jax.random.fold_in(GOAL_KEY, g)))(
                goal_index.reshape(-1))                                # leaves (T * E, T, 1, ...)
            t, e = jnp.arange(T)[:, None], jnp.arange(E)[None, :]
            state = jax.tree.map(lambda x: x.reshape(T, E, T, *x.shape[3:])[t, e, t], drawn)
        return state, self.observe(state)

    def step(self, state: PointState, action, key):
        kind = self._kinds()
        a = jnp.clip(action, -1.0, 1.0)
        pos = jnp.clip(state.pos + STEP_SCALE * a, -1.0, 1.0)
        is_push, is_way = (kind == PUSH), (kind == WAYPOINT)
        held = is_push & (_dist(state.pos, state.aux) < VISIT_RADIUS)
        aux = jnp.where(held[..., None], jnp.clip(state.aux + (pos - state.pos), -1.0, 1.0),
                        state.aux)
        visited = is_way & ((state.flag > 0) | (_dist(pos, aux) < VISIT_RADIUS))
        flag = jnp.where(is_push, (_dist(pos, aux) < VISIT_RADIUS), visited).astype(jnp.float32)

        d_goal = _dist(pos, state.goal)
        reward = jnp.select(
            [kind == REACH, kind == SPARSE, is_way, is_push, kind == FLEE],
            [-d_goal,
             (d_goal < RADIUS).astype(jnp.float32),
             jnp.where(visited, -d_goal, -(_dist(pos, aux) + _dist(aux, state.goal))),
             -(_dist(pos, aux) + _dist(aux, state.goal)),
             jnp.minimum(d_goal, 1.0)])
        success = jnp.select(
            [is_way, is_push, kind == FLEE],
            [visited & (d_goal < RADIUS), _dist(aux, state.goal) < RADIUS, d_goal > FLEE_RADIUS],
            d_goal < RADIUS)

        t = state.t + 1
        truncated = t >= self.max_episode_steps
        next_state = PointState(pos, state.goal, aux, flag, t)
        next_obs = self.observe(next_state)
        fresh = self._sample(key)
        state = jax.tree.map(
            lambda f, s: jnp.where(truncated.reshape(truncated.shape + (1,) * (s.ndim - 2)), f, s),
            fresh, next_state)
        return state, StepOut(self.observe(state), next_obs, reward,
                              jnp.zeros_like(truncated), truncated, success)
