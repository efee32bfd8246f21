"""MH-SAC torso: a shared MLP trunk on the observation and one linear output head per task.

The head of each row is picked by its task id; in the task-grouped layout that is one head per
group, so the heads are applied as a batched matmul over groups (T heads, never T x T work).
As in Meta-World's MH-SAC the one-hot is also appended to the trunk input.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from mtrl_jax.nets.base import (MLP, Network, Networks, fan_in_uniform, linen_network,
                                task_index)


class TaskHeads(nn.Module):
    """T linear heads ``{"kernel": (T, in, out), "bias": (T, out)}``: h (G, n, in) through each
    group's head -> (G, n, out); ``task`` (G,) is each group's task id."""

    num_tasks: int
    in_dim: int
    out_dim: int

    @nn.compact
    def __call__(self, h, task):
        init = fan_in_uniform(self.in_dim)
        kernel = self.param("kernel", init, (self.num_tasks, self.in_dim, self.out_dim))
        bias = self.param("bias", init, (self.num_tasks, self.out_dim))
        w, b = kernel[task], bias[task]                                 # (G, in, out), (G, out)
        return jnp.einsum("gnh,gho->gno", h, w) + b[:, None, :]


class MultiHead(nn.Module):
    obs_dim: int
    num_tasks: int
    out_dim: int
    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        h = MLP((self.obs_dim + self.num_tasks, *self.hidden), activate_last=True,
                name="trunk")(jnp.concatenate([obs, task_onehot], -1))  # (G, n, width)
        task = task_index(task_onehot[..., 0, :])                       # (G,) one task a group
        return TaskHeads(self.num_tasks, self.hidden[-1], self.out_dim, name="heads")(h, task), {}


def make_multihead(obs_dim: int, num_tasks: int, out_dim: int,
                   hidden: tuple[int, ...]) -> Network:
    return linen_network(MultiHead(obs_dim, num_tasks, out_dim, tuple(hidden)), obs_dim,
                         num_tasks)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int,
                  hidden: tuple[int, ...], critic_out: int = 1) -> Networks:
    """MH-SAC: a shared torso with one output head per task."""
    return Networks(actor=make_multihead(obs_dim, num_tasks, 2 * act_dim, hidden),
                    critic=make_multihead(obs_dim + act_dim, num_tasks, critic_out, hidden))
