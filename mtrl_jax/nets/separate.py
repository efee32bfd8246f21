"""T independent per-task MLPs behind the one network interface (QMP's separate networks).

Every layer's parameters are stacked on a leading task axis: ``w (T, in, out)``, ``b (T, out)``,
each task's slice initialised independently. In the task-grouped layout each group g uses the
slice of its task, ``task_onehot[g, 0]``, and the groups run as one ``vmap`` over the gathered
slices: T networks cost one batched call, and task t's rows touch only slice t (its gradients
reach no other task's parameters). The one-hot is not appended to the input: a separate network
already knows its task, as in the QMP paper (which feeds no task id).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import Network, Networks, mlp_init, task_index

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh}


def make_separate(in_dim: int, num_tasks: int, out_dim: int, hidden: tuple[int, ...],
                  activation: str = "relu") -> Network:
    """T MLPs ``in_dim -> hidden... -> out_dim``; ``activation`` between layers, linear output."""
    sizes = (in_dim, *hidden, out_dim)
    act = ACTIVATIONS[activation]

    def init(key):
        return {"layers": jax.vmap(lambda k: mlp_init(k, sizes))(jax.random.split(key, num_tasks))}

    def one_task(layers, x):
        """layers: one task's slice; x (n, in_dim) -> (n, out_dim)."""
        for i, layer in enumerate(layers):
            x = x @ layer["w"] + layer["b"]
            if i < len(layers) - 1:
                x = act(x)
        return x

    def apply(params, obs, task_onehot, rng, extra):
        """obs (G, n, in_dim), task_onehot (G, n, T) -> (G, n, out_dim), {}."""
        task = task_index(task_onehot[:, 0])                                  # (G,)
        per_group = jax.tree.map(lambda p: p[task], params["layers"])         # (G, ...) slices
        return jax.vmap(one_task)(per_group, obs), {}

    return Network(init, apply)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, hidden: tuple[int, ...],
                  activation: str) -> Networks:
    """Separate actor and twin critics per task (plain per-task SAC, no sharing)."""
    return Networks(actor=make_separate(obs_dim, num_tasks, 2 * act_dim, hidden, activation),
                    critic=make_separate(obs_dim + act_dim, num_tasks, 1, hidden, activation))
