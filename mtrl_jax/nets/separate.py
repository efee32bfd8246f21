"""T independent per-task MLPs behind the one network interface (QMP's separate networks).

Every layer's parameters are stacked on a leading task axis: ``layers_i``: ``{"kernel": (T, in,
out), "bias": (T, out)}``, each task's slice initialised independently with the layer's fan-in.
In the task-grouped layout each group g uses the slice of its task, ``task_onehot[g, 0]``, and
the groups run as one ``vmap`` over the gathered slices: T networks cost one batched call, and
task t's rows touch only slice t (its gradients reach no other task's parameters). The one-hot
is not appended to the input: a separate network already knows its task, as in the QMP paper
(which feeds no task id).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import LinearParams, Network, Networks, linen_network, task_index

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh}


class Separate(nn.Module):
    """obs (G, n, in_dim), one-hot (G, n, T) -> group g's task's MLP on its rows (G, n, out_dim);
    ``sizes`` = (in_dim, hidden..., out_dim), ``activation`` between layers, linear output."""

    num_tasks: int
    sizes: tuple[int, ...]
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        act = ACTIVATIONS[self.activation]
        layers = [LinearParams(fan_in, out, lead=(self.num_tasks,), name=f"layers_{i}")()
                  for i, (fan_in, out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]))]

        def one_task(layers, x):
            """layers: one task's slice; x (n, in_dim) -> (n, out_dim)."""
            for i, layer in enumerate(layers):
                x = x @ layer["kernel"] + layer["bias"]
                if i < len(layers) - 1:
                    x = act(x)
            return x

        task = task_index(task_onehot[:, 0])                                  # (G,)
        per_group = jax.tree.map(lambda p: p[task], layers)                   # (G, ...) slices
        return jax.vmap(one_task)(per_group, obs), {}


def make_separate(in_dim: int, num_tasks: int, out_dim: int, hidden: tuple[int, ...],
                  activation: str = "relu") -> Network:
    """T MLPs ``in_dim -> hidden... -> out_dim``; ``activation`` between layers, linear output."""
    if activation not in ACTIVATIONS:
        raise KeyError(activation)
    return linen_network(Separate(num_tasks, (in_dim, *hidden, out_dim), activation), in_dim,
                         num_tasks)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, hidden: tuple[int, ...],
                  activation: str, critic_out: int = 1) -> Networks:
    """Separate actor and twin critics per task (plain per-task SAC, no sharing)."""
    return Networks(actor=make_separate(obs_dim, num_tasks, 2 * act_dim, hidden, activation),
                    critic=make_separate(obs_dim + act_dim, num_tasks, critic_out, hidden,
                                          activation))
