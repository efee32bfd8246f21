"""PaCo (Sun et al. 2022): parameter-compositional multi-task SAC, theta_t = Phi w_t.

Every linear layer of the actor and of both critics holds a parameter set Phi of shape
(K, out, in) and a bias set (K, out); task t uses W_t = sum_k w_t[k] Phi[k] and
b_t = sum_k w_t[k] bias[k] (ReLU between layers, the last layer linear). All K copies start
identical (one PyTorch-style fan-in initialisation tiled K times), so at initialisation every
task's network is the base network with all its weights and biases scaled by sum_k w_t[k].

w is one linear map from the one-hot task id to K values, without bias or activation: a (T, K)
matrix initialised N(0, 1). It lives in its own module (:class:`TaskWeights`, the
``Networks.shared`` module, parameters ``{"params": {"w": (T, K)}}`` in the SAC state's
``shared``); the actor and both critics take its output, each group's w_g ``(G, K)``, as
``extra["shared"]``, and it is trained by its own optimiser from their summed gradients (the SAC
core does this). The networks see the observation only; the task enters through w.

Composition: in the task-grouped layout each group g is one task, so each layer composes
W_g = sum_k w_g[k] Phi[k] once per group (:func:`compose_params`, G x K x out x in, with a
hand-written gradient that avoids transposed copies on the CPU) and runs the group's n rows
through it as one batched matmul over groups. :func:`mixed_preactivation_apply`, the equivalent
form sum_k w_g[k] (Phi[k] x + bias[k]) that runs the K layers, is kept for the equivalence test.

Stabilisation (paper Sec. 4.2, Algorithm 1), each switchable for ablation:

- loss mask-out (``paco_maskout``): a task whose loss exceeds epsilon = ``paco_epsilon`` (3e3)
  gets mask 0 in the shared update of that step;
- w-reset (``paco_reset``): after the update, each such task's w is replaced by
  sum_{j in V} beta_j w_j over the healthy tasks V, beta uniform on the simplex (independently
  per exploded task); nothing else in the state changes.

Both act on the SAC update, not on the networks: they are SAC hooks in ``mtrl_jax.agents.paco``.

The task loss compared with epsilon is the paper's J_t = actor + critic loss (Algorithm 1;
DESIGN.md section 5 also adds the temperature loss: we follow the paper). A masked task's
temperature loss is masked too. Departures from the paper: a non-finite loss counts as exploded;
if every task exploded, w is left as it is (V is empty).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import (Network, Networks, SharedNetwork, fan_in_uniform,
                                linen_network)


def tiled(init):
    """Flax initialiser of shape (K, *S): one draw of ``init`` of shape S, repeated K times."""
    def tiled_init(key, shape, dtype=jnp.float32):
        return jnp.broadcast_to(init(key, shape[1:], dtype), shape)

    return tiled_init


@jax.custom_vjp
def compose_params(phi: jax.Array, w: jax.Array) -> jax.Array:
    """phi (K, *S), w (G, K) -> (G, *S): every group's sum_k w[g, k] phi[k]."""
    return jnp.tensordot(w, phi, axes=1)


def compose_params_autodiff(phi: jax.Array, w: jax.Array) -> jax.Array:
    """:func:`compose_params` with autodiff's gradient (the plain form, for the comparison on
    other backends)."""
    return jnp.tensordot(w, phi, axes=1)


def _compose_fwd(phi, w):
    return compose_params(phi, w), (phi, w)


def _compose_bwd(res, d):
    # Autodiff's gradient for w contracts d and phi over their trailing axes after transposing
    # d to (S, G) (a 6.4 MB copy per 400 x 400 layer on the CPU); a matmul of the flat arrays
    # reads both as they are laid out. benchmarks/layouts.py on the 2-core CPU,
    # compose_params_autodiff / this: 1.62 for one 400 x 400 layer's forward + backward, 0.94-0.99
    # (no gain) for the whole MT10 PaCo update, where XLA fuses the transposes away.
    phi, w = res
    G, K = w.shape
    d_phi = jnp.tensordot(w.T, d, axes=1)
    d_w = (phi.reshape(K, -1) @ d.reshape(G, -1).T).T
    return d_phi, d_w


compose_params.defvjp(_compose_fwd, _compose_bwd)


def composed_apply(layers: list[dict], w: jax.Array, x: jax.Array) -> jax.Array:
    """w (G, K), x (G, n, in) -> (G, n, out): compose each group's weights once, then run its
    rows through them (one batched matmul over groups)."""
    for i, layer in enumerate(layers):
        weight = compose_params(layer["phi"], w)                     # (G, out, in)
        bias = compose_params(layer["bias"], w)                      # (G, out)
        x = jnp.einsum("gni,goi->gno", x, weight) + bias[:, None, :]
        if i < len(layers) - 1:
            x = jax.nn.relu(x)
    return x


def mixed_preactivation_apply(layers: list[dict], w: jax.Array, x: jax.Array) -> jax.Array:
    """Same function as :func:`composed_apply`, by mixing the K layers' pre-activations."""
    for i, layer in enumerate(layers):
        pre = jnp.einsum("gni,koi->gnko", x, layer["phi"]) + layer["bias"]   # (G, n, K, out)
        x = jnp.einsum("gk,gnko->gno", w, pre)
        if i < len(layers) - 1:
            x = jax.nn.relu(x)
    return x


class PacoLayer(nn.Module):
    """Declares one compositional layer ``{"phi": (K, out, in), "bias": (K, out)}``: one fan-in
    uniform draw (fan-in ``in_dim``) tiled K times, so the K copies start identical."""

    in_dim: int
    out_dim: int
    num_sets: int

    @nn.compact
    def __call__(self) -> dict:
        init = tiled(fan_in_uniform(self.in_dim))
        return {"phi": self.param("phi", init, (self.num_sets, self.out_dim, self.in_dim)),
                "bias": self.param("bias", init, (self.num_sets, self.out_dim))}


class PacoMLP(nn.Module):
    """Compositional MLP over ``sizes`` (input, hidden..., output), layers ``layers_0``, ...:
    obs (G, n, in) with each group's w_g (G, K) as ``extra["shared"]`` -> (G, n, out)."""

    sizes: tuple[int, ...]
    num_sets: int

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        layers = [PacoLayer(i, o, self.num_sets, name=f"layers_{n}")()
                  for n, (i, o) in enumerate(zip(self.sizes[:-1], self.sizes[1:]))]
        return composed_apply(layers, extra["shared"], obs), {}


class TaskWeights(nn.Module):
    """PaCo's w: ``{"w": (T, K)}`` initialised N(0, 1); group one-hot (G, T) -> w_g (G, K)."""

    num_tasks: int
    num_sets: int

    @nn.compact
    def __call__(self, group_onehot):
        w = self.param("w", nn.initializers.normal(1.0), (self.num_tasks, self.num_sets))
        return group_onehot @ w                                # the one linear map, no bias


def make_paco_net(in_dim: int, out_dim: int, hidden: tuple[int, ...], num_sets: int) -> Network:
    """Compositional MLP; reads each group's w (G, K) from ``extra["shared"]`` (the task one-hot
    is not read, so one task suffices for the init trace)."""
    return linen_network(PacoMLP((in_dim, *hidden, out_dim), num_sets), in_dim, 1,
                         shared_example=jnp.zeros((1, num_sets), jnp.float32))


def make_task_weights(num_tasks: int, num_sets: int) -> SharedNetwork:
    """w (T, K) as the shared module: ``init(key) -> {"params": {"w"}}``, ``apply(params,
    group_onehot (G, T)) -> (G, K)``."""
    module = TaskWeights(num_tasks, num_sets)
    return SharedNetwork(lambda key: module.init(key, jnp.zeros((1, num_tasks), jnp.float32)),
                         module.apply)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, hidden: tuple[int, ...],
                  num_sets: int, critic_out: int = 1) -> Networks:
    """PaCo actor and critic over K = ``num_sets`` parameter sets; the task weights w (T, K)
    (N(0, 1) initial values) are the module they share."""
    return Networks(actor=make_paco_net(obs_dim, 2 * act_dim, hidden, num_sets),
                    critic=make_paco_net(obs_dim + act_dim, critic_out, hidden, num_sets),
                    shared=make_task_weights(num_tasks, num_sets))
