"""MT-SAC torso: one MLP on concat(obs, one-hot task id) (Yu et al. 2019, Meta-World)."""

from __future__ import annotations

import jax.numpy as jnp

from mtrl_jax.nets.base import Network, Networks, mlp_apply, mlp_init


def make_mlp(obs_dim: int, num_tasks: int, out_dim: int, hidden: tuple[int, ...]) -> Network:
    sizes = (obs_dim + num_tasks, *hidden, out_dim)

    def init(key):
        return {"layers": mlp_init(key, sizes)}

    def apply(params, obs, task_onehot, rng, extra):
        x = jnp.concatenate([obs, task_onehot], axis=-1)
        return mlp_apply(params["layers"], x), {}

    return Network(init, apply)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int,
                  hidden: tuple[int, ...]) -> Networks:
    """MT-SAC: one MLP actor and critic on (obs, task one-hot)."""
    return Networks(actor=make_mlp(obs_dim, num_tasks, 2 * act_dim, hidden),
                    critic=make_mlp(obs_dim + act_dim, num_tasks, 1, hidden))
