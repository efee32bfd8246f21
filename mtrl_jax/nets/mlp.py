"""MT-SAC torso: one MLP on concat(obs, one-hot task id) (Yu et al. 2019, Meta-World)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from mtrl_jax.nets.base import MLP, Network, Networks, linen_network


class MultiTaskMLP(nn.Module):
    """obs (G, n, obs_dim), one-hot (G, n, T) -> MLP(concat) (G, n, out_dim)."""

    sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        return MLP(self.sizes, name="mlp")(jnp.concatenate([obs, task_onehot], axis=-1)), {}


def make_mlp(obs_dim: int, num_tasks: int, out_dim: int, hidden: tuple[int, ...]) -> Network:
    return linen_network(MultiTaskMLP((obs_dim + num_tasks, *hidden, out_dim)), obs_dim,
                         num_tasks)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int,
                  hidden: tuple[int, ...], critic_out: int = 1) -> Networks:
    """MT-SAC: one MLP actor and critic on (obs, task one-hot)."""
    return Networks(actor=make_mlp(obs_dim, num_tasks, 2 * act_dim, hidden),
                    critic=make_mlp(obs_dim + act_dim, num_tasks, critic_out, hidden))
