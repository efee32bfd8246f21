"""The MJX env as one compiled program per scene, called in turn from Python.

``MJXMultiTaskEnv.step`` is one jitted function: XLA compiles every physics group's program in
one module. For MT50 (40 groups) that module outgrows this CPU's 24 GiB (docs/mjx_port.md,
section 7). :class:`PerSceneEnv` compiles the reset and step of each group's sub-env
(``MJXMultiTaskEnv.subset``) by itself: one small module per scene, each one its own entry in
the persistent compilation cache, compiled concurrently (XLA releases the GIL; the tracing is
serial). Its ``step`` calls the group programs one after the other, all dispatched
asynchronously, and gathers their outputs in task order with one more small program.

Reset and step are pure functions of explicit state (a tuple of the groups' state tuples), but
not jittable as a whole: training drives them from the host (:class:`HostPerSceneEnv`, the
host loop). The goals a step's autoresets draw come from ``fold_in(key, group)``, so they differ
from the one-program env's draws for the same key (both are uniform over the 50 goals).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.envs.base import spec_of
from mtrl_jax.envs.mw_tasks import NUM_GOALS

from .env import MJXMultiTaskEnv


class PerSceneEnv:
    """``env``'s tasks with one reset and one step program per physics group.

    ``compile(workers)`` builds every program ahead of time (else the first reset and step do);
    ``compile_seconds`` then holds each group's (reset s, step s) of XLA compile."""

    on_device = False  # reset and step are pure, but not jittable as a whole

    def __init__(self, env: MJXMultiTaskEnv, compiler_options: Optional[dict] = None):
        self.env = env
        self.task_names, self.num_tasks = env.task_names, env.num_tasks
        self.envs_per_task, self.max_episode_steps = env.envs_per_task, env.max_episode_steps
        self.obs_dim, self.act_dim = env.obs_dim, env.act_dim
        self.groups = env.physics_groups
        self.parts = [env.subset(g) for g in self.groups]
        self.compiler_options = compiler_options or None
        order = np.concatenate([np.asarray(g) for g in self.groups])
        inverse = np.argsort(order)
        index = [np.asarray(g) for g in self.groups]
        self._split = jax.jit(lambda x: tuple(x[i] for i in index))
        self._gather = jax.jit(lambda xs: jnp.concatenate(xs)[inverse])
        self._gather_out = jax.jit(lambda outs: jax.tree.map(lambda *x: jnp.concatenate(x)[inverse], *outs))
        self._draw = jax.jit(lambda key: jax.random.randint(key, (self.num_tasks, self.envs_per_task), 0,
                                                            NUM_GOALS))
        self._resets: list = [None] * len(self.groups)
        self._steps: list = [None] * len(self.groups)
        self.compile_seconds: list = [None] * len(self.groups)

    @property
    def spec(self):
        return spec_of(self)

    def _reset_fn(self, g: int) -> Callable:
        part = self.parts[g]
        return jax.jit(lambda goal_index: part.reset(None, goal_index))

    def _step_fn(self, g: int) -> Callable:
        part = self.parts[g]
        return jax.jit(lambda s, a, key: part.step(s, a, jax.random.fold_in(key, g)))

    def _examples(self, g: int):
        T, E = len(self.groups[g]), self.envs_per_task
        goal = jax.ShapeDtypeStruct((T, E), jnp.int32)
        state, _ = jax.eval_shape(self.parts[g].reset, None, goal)
        act = jax.ShapeDtypeStruct((T, E, self.act_dim), jnp.float32)
        return goal, state, act

    def compile(self, workers: int = 1, on_done: Optional[Callable] = None) -> list:
        """Lower (serially) and compile (on ``workers`` threads) every group's reset and step
        that is not built yet; ``on_done(done, total, task, reset_s, step_s)`` after each group
        (``task``: the group's first). Returns ``compile_seconds``."""
        def build(g, lowered_reset, lowered_step):
            t0 = time.perf_counter()
            reset = lowered_reset.compile()
            t1 = time.perf_counter()
            step = lowered_step.compile(compiler_options=self.compiler_options)
            return g, reset, step, t1 - t0, time.perf_counter() - t1

        todo = [g for g in range(len(self.groups)) if self._steps[g] is None]
        pending, done = set(), 0

        def finish(futures):
            nonlocal done
            for f in futures:
                g, reset, step, reset_s, step_s = f.result()
                self._resets[g], self._steps[g] = reset, step
                self.compile_seconds[g] = (reset_s, step_s)
                pending.discard(f)
                done += 1
                if on_done is not None:
                    on_done(done, len(todo), self.task_names[self.groups[g][0]], reset_s, step_s)

        with ThreadPoolExecutor(max(1, int(workers))) as pool:
            for g in todo:
                goal, state, act = self._examples(g)
                key = jax.eval_shape(lambda: jax.random.PRNGKey(0))
                pending.add(pool.submit(build, g, self._reset_fn(g).lower(goal),
                                        self._step_fn(g).lower(state, act, key)))
                finish([f for f in list(pending) if f.done()])
            finish(as_completed(list(pending)))
        return self.compile_seconds

    def reset(self, key, goal_index: Optional[jax.Array] = None):
        """-> (state: one state tuple per group, obs (T, E, obs_dim))."""
        self.compile()
        goal_index = self._draw(key) if goal_index is None else jnp.asarray(goal_index, jnp.int32)
        states, obs = zip(*[reset(goal) for reset, goal in zip(self._resets, self._split(goal_index))])
        return tuple(states), self._gather(list(obs))

    def step(self, state, action, key):
        """action (T, E, act_dim) -> (state, StepOut (T, E, ...) in task order)."""
        self.compile()
        pairs = [step(s, a, key) for step, s, a in zip(self._steps, state, self._split(jnp.asarray(action)))]
        return tuple(p[0] for p in pairs), self._gather_out([p[1] for p in pairs])

    def with_envs(self, envs_per_task: int) -> "PerSceneEnv":
        """The same tasks with another E (its programs compile anew)."""
        return PerSceneEnv(self.env.with_envs(envs_per_task), self.compiler_options)


class HostPerSceneEnv:
    """:class:`PerSceneEnv` behind the host-env interface of the training loop (``host_loop``:
    ``on_device`` False, one seed per process): it holds the env state and derives each
    step's key from ``seed`` and the step count. Arrays stay on the device."""

    on_device = False

    def __init__(self, env: PerSceneEnv, seed: int = 0, workers: int = 2,
                 on_compiled: Optional[Callable] = None):
        self.inner = env
        self.task_names, self.num_tasks = env.task_names, env.num_tasks
        self.envs_per_task, self.max_episode_steps = env.envs_per_task, env.max_episode_steps
        self.obs_dim, self.act_dim = env.obs_dim, env.act_dim
        self.key, self.eval_key = jax.random.split(jax.random.PRNGKey(seed))
        self.workers, self.on_compiled = workers, on_compiled
        self.state, self.steps = None, 0
        self.evaluations = 0

    @property
    def spec(self):
        return spec_of(self)

    def reset(self, key=None, goal_index=None):
        self.inner.compile(self.workers, self.on_compiled)
        self.state, obs = self.inner.reset(jax.random.fold_in(self.key, 0), goal_index)
        return None, obs

    def step(self, state, action, key=None):
        if self.state is None:
            self.reset()
        self.steps += 1
        self.state, out = self.inner.step(self.state, action, jax.random.fold_in(self.key, self.steps))
        return None, out

    def with_envs(self, envs_per_task: int) -> "HostPerSceneEnv":
        raise ValueError("the per-scene MJX env evaluates through evaluate(); it does not change E")

    def evaluate(self, policy: Callable, episodes: int = 50) -> np.ndarray:
        """(T,) success of ``policy(obs (T, E, d)) -> action`` over pre-sampled goals 0 ..
        ``episodes - 1`` (success: at any step of the episode), run in rounds of the training
        E on the training programs: E = ``episodes`` would compile a second program per scene
        (XLA:CPU holds each MT50 step program in about 0.4 GiB)."""
        T, E = self.num_tasks, self.envs_per_task
        key = jax.random.fold_in(self.eval_key, self.evaluations)
        self.evaluations += 1
        total = np.zeros(T)
        for start in range(0, episodes, E):
            goal = np.arange(start, start + E)
            counted = goal < episodes
            goal = np.where(counted, goal, 0) % NUM_GOALS
            state, obs = self.inner.reset(key, np.broadcast_to(goal, (T, E)))
            succeeded = jnp.zeros((T, E), bool)
            for t in range(self.max_episode_steps):
                state, out = self.inner.step(state, policy(obs), jax.random.fold_in(key, t))
                obs, succeeded = out.obs, succeeded | out.success
            total += np.asarray(succeeded)[:, counted].sum(axis=1)
        return total / episodes

    def close(self) -> None:
        pass
