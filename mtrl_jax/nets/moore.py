"""MOORE torso: a mixture of orthogonal experts (Hendawy et al., ICLR 2024).

k expert MLPs map the input to k representations U_s (k, d) per sample; Gram-Schmidt turns them
into an orthonormal basis V_s (rows orthonormal, k <= d); the task's weights w_t (k,), a linear
map from the one-hot without bias, mix them: v = ReLU(w_t^T V_s) (d,); a per-task linear head
(as MOORE's multi-head Meta-World setup) gives the output. Each expert is an MLP
``in -> hidden...`` (ReLU between layers, linear last layer), so d = hidden[-1]. The critic's
experts take concat(obs, action), the interface's critic input.

The task weights are computed once per group (task-grouped layout), the k experts run as one
``vmap`` over their stacked parameters, the heads as one batched matmul over groups.
Departures: the activation after the mixture is ReLU (the hidden activation of every other torso
here); the width of every expert is the run's ``hidden``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import Method, Network, mlp_apply, mlp_init, task_index, uniform_fan_in


def gram_schmidt_leading(u: jax.Array, eps: float = 1e-8) -> jax.Array:
    """(k, ..., d) vectors -> (k, ..., d) orthonormal along d, spanning the same nested subspaces:
    v_j = normalise(u_j - sum_{l<j} <u_j, v_l> v_l). Needs k <= d. The vector index leads so that
    each step is one contiguous slice and one einsum (several times faster on CPU than slicing a
    (..., k, d) array)."""
    basis = []
    for j in range(u.shape[0]):
        w = u[j]
        if basis:
            b = jnp.stack(basis)
            w = w - jnp.einsum("k...,k...d->...d", jnp.einsum("...d,k...d->k...", w, b), b)
        basis.append(w / (jnp.linalg.norm(w, axis=-1, keepdims=True) + eps))
    return jnp.stack(basis)


def gram_schmidt(u: jax.Array, eps: float = 1e-8) -> jax.Array:
    """(..., k, d) vectors -> (..., k, d) orthonormal rows (see :func:`gram_schmidt_leading`)."""
    return jnp.moveaxis(gram_schmidt_leading(jnp.moveaxis(u, -2, 0), eps), 0, -2)


def expert_basis(params: dict, x: jax.Array) -> jax.Array:
    """A MOORE network's orthonormalised expert outputs: x (..., in_dim) -> (..., k, width)."""
    u = jax.vmap(lambda layers: mlp_apply(layers, x))(params["experts"])     # (k, ..., width)
    return jnp.moveaxis(gram_schmidt_leading(u), 0, -2)


def make_moore(in_dim: int, num_tasks: int, out_dim: int, hidden: tuple[int, ...],
               num_experts: int) -> Network:
    sizes = (in_dim, *hidden)
    width = hidden[-1]
    if num_experts > width:
        raise ValueError(f"MOORE needs experts <= expert width for an orthonormal basis, got "
                         f"{num_experts} experts of width {width}")

    def init(key):
        k_exp, k_task, k_w, k_b = jax.random.split(key, 4)
        return {"experts": jax.vmap(lambda k: mlp_init(k, sizes))(
                    jax.random.split(k_exp, num_experts)),
                "task_weights": uniform_fan_in(k_task, (num_tasks, num_experts), num_tasks),
                "heads_w": uniform_fan_in(k_w, (num_tasks, width, out_dim), width),
                "heads_b": uniform_fan_in(k_b, (num_tasks, out_dim), width)}

    def apply(params, obs, task_onehot, rng, extra):
        """obs (G, n, in_dim) -> (G, n, out_dim); aux["task_weights"] (G, k)."""
        task = task_index(task_onehot[:, 0])                                  # (G,)
        w = params["task_weights"][task]                                      # (G, k)
        v = jax.nn.relu(jnp.einsum("gnkd,gk->gnd", expert_basis(params, obs), w))    # (G, n, width)
        out = jnp.einsum("gnd,gdo->gno", v, params["heads_w"][task])
        return out + params["heads_b"][task][:, None, :], {"task_weights": w}

    return Network(init, apply)


def make_method(cfg, obs_dim: int, act_dim: int, num_tasks: int) -> Method:
    return Method(
        actor=make_moore(obs_dim, num_tasks, 2 * act_dim, cfg.hidden, cfg.moore_experts),
        critic=make_moore(obs_dim + act_dim, num_tasks, 1, cfg.hidden, cfg.moore_experts))
