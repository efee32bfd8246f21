"""MH-SAC torso: a shared MLP trunk on the observation and one linear output head per task.

The head of each row is picked by its task id; in the task-grouped layout that is one head per
group, so the heads are applied as a batched matmul over groups (T heads, never T x T work).
As in Meta-World's MH-SAC the one-hot is also appended to the trunk input.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import Network, Networks, mlp_apply, mlp_init, task_index, uniform_fan_in


def make_multihead(obs_dim: int, num_tasks: int, out_dim: int,
                   hidden: tuple[int, ...]) -> Network:
    trunk_sizes = (obs_dim + num_tasks, *hidden)
    width = hidden[-1]

    def init(key):
        k_trunk, k_w, k_b = jax.random.split(key, 3)
        return {"trunk": mlp_init(k_trunk, trunk_sizes),
                "heads_w": uniform_fan_in(k_w, (num_tasks, width, out_dim), width),
                "heads_b": uniform_fan_in(k_b, (num_tasks, out_dim), width)}

    def apply(params, obs, task_onehot, rng, extra):
        h = mlp_apply(params["trunk"], jnp.concatenate([obs, task_onehot], -1),
                      activate_last=True)                               # (G, n, width)
        task = task_index(task_onehot[..., 0, :])                       # (G,) one task a group
        w = params["heads_w"][task]                                     # (G, width, out)
        b = params["heads_b"][task]                                     # (G, out)
        return jnp.einsum("gnh,gho->gno", h, w) + b[:, None, :], {}

    return Network(init, apply)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int,
                  hidden: tuple[int, ...]) -> Networks:
    """MH-SAC: a shared torso with one output head per task."""
    return Networks(actor=make_multihead(obs_dim, num_tasks, 2 * act_dim, hidden),
                    critic=make_multihead(obs_dim + act_dim, num_tasks, 1, hidden))
