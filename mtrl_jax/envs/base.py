"""The environment interface shared by the pure-JAX suite, the MJX port and CPU Meta-World.

An environment (:class:`Env`) steps ``E`` envs for each of ``T`` tasks; arrays are task-grouped
``(T, E, ...)``. ``goal_index`` (T, E) picks pre-sampled goals (evaluation); None draws them at
random. Episodes never terminate on their own; truncation at ``max_episode_steps`` autoresets
the env. :class:`EnvSpec` is what a method is built from: the env's sizes and task names.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp


class StepOut(NamedTuple):
    obs: jax.Array         # (T, E, obs_dim): observation to act on next (after any autoreset)
    next_obs: jax.Array    # (T, E, obs_dim): the true observation after the action
    reward: jax.Array      # (T, E)
    terminated: jax.Array  # (T, E) bool: a true terminal, the bootstrap is cut
    truncated: jax.Array   # (T, E) bool: time limit, the bootstrap goes on
    success: jax.Array     # (T, E) bool: the task's success test at this step


class EnvSpec(NamedTuple):
    """What methods and the loop need to know of an env, without the env."""

    task_names: tuple[str, ...]
    obs_dim: int               # without the task one-hot
    act_dim: int
    on_device: bool            # reset/step are pure jittable functions of explicit state
    max_episode_steps: int

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    @classmethod
    def sized(cls, obs_dim: int, act_dim: int, num_tasks: int, on_device: bool = True,
              max_episode_steps: int = 500) -> "EnvSpec":
        """A spec with placeholder task names task0.. (tests and benchmarks)."""
        return cls(tuple(f"task{i}" for i in range(num_tasks)), obs_dim, act_dim, on_device,
                   max_episode_steps)


def spec_of(env) -> EnvSpec:
    return EnvSpec(tuple(env.task_names), env.obs_dim, env.act_dim, env.on_device,
                   env.max_episode_steps)


class Env(Protocol):
    """Every environment. On-device envs' reset and step are pure and jittable (``state`` is
    a pytree); the CPU env's state is None and its arrays are numpy."""

    num_tasks: int
    envs_per_task: int
    obs_dim: int
    act_dim: int
    max_episode_steps: int
    task_names: tuple[str, ...]
    on_device: bool

    @property
    def spec(self) -> EnvSpec: ...

    def reset(self, key, goal_index=None):
        """-> (state, obs (T, E, obs_dim))."""

    def step(self, state, action, key):
        """action (T, E, act_dim) in [-1, 1] -> (state, StepOut)."""

    def with_envs(self, envs_per_task: int) -> "Env":
        """The same tasks with ``envs_per_task`` envs each."""

    def evaluate(self, policy: Callable, episodes: int) -> "jax.Array":
        """(T,) success of ``policy(obs (T, E, d)) -> action`` over ``episodes`` pre-sampled
        goals per task (success: at any step of the episode)."""

    def close(self) -> None: ...


def rollout_success(env, policy: Callable, key) -> jax.Array:
    """(T,) success of ``policy`` on a device env, one episode per env, env e of every task on
    pre-sampled goal e. Pure and jittable."""
    T, E = env.num_tasks, env.envs_per_task
    k_reset, k_steps = jax.random.split(key)
    env_state, obs = env.reset(k_reset, jnp.broadcast_to(jnp.arange(E), (T, E)))

    def step(carry, k):
        env_state, obs, succeeded = carry
        env_state, out = env.step(env_state, policy(obs), k)
        return (env_state, out.obs, succeeded | out.success), None

    keys = jax.random.split(k_steps, env.max_episode_steps)
    (_, _, succeeded), _ = jax.lax.scan(step, (env_state, obs, jnp.zeros((T, E), bool)), keys)
    return succeeded.mean(axis=1)


class DeviceEnv:
    """What every on-device env shares: its spec, evaluation through :func:`rollout_success`
    and a close that has nothing to release."""

    on_device = True

    @property
    def spec(self) -> EnvSpec:
        return spec_of(self)

    def evaluate(self, policy: Callable, episodes: int, key=None) -> jax.Array:
        """``policy`` must be jittable. Compiles on every call (a new policy closure each
        time): for one-off checks; the training loop compiles ``rollout_success`` once through
        ``train.make_device_evaluate``."""
        key = jax.random.PRNGKey(0) if key is None else key
        return jax.jit(lambda k: rollout_success(self.with_envs(episodes), policy, k))(key)

    def close(self) -> None:
        pass
