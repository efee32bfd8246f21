"""The environment interface shared by the pure-JAX suite, the MJX port and CPU Meta-World.

An environment steps ``E`` envs for each of ``T`` tasks; arrays are task-grouped ``(T, E, ...)``:

    num_tasks, envs_per_task, obs_dim (without the one-hot), act_dim, max_episode_steps,
    task_names, on_device (True: reset/step are pure jittable functions of explicit state)
    reset(key, goal_index=None) -> (state, obs)         obs (T, E, obs_dim)
    step(state, action, key) -> (state, StepOut)        action (T, E, act_dim) in [-1, 1]

``goal_index`` (T, E) picks pre-sampled goals (evaluation); None draws them at random.
Episodes never terminate on their own; truncation at ``max_episode_steps`` autoresets the env.
"""

from __future__ import annotations

from typing import NamedTuple

import jax


class StepOut(NamedTuple):
    obs: jax.Array         # (T, E, obs_dim): observation to act on next (after any autoreset)
    next_obs: jax.Array    # (T, E, obs_dim): the true observation after the action
    reward: jax.Array      # (T, E)
    terminated: jax.Array  # (T, E) bool: a true terminal, the bootstrap is cut
    truncated: jax.Array   # (T, E) bool: time limit, the bootstrap goes on
    success: jax.Array     # (T, E) bool: the task's success test at this step
