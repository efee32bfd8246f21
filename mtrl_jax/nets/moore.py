"""MOORE torso: a mixture of orthogonal experts (Hendawy et al., ICLR 2024).

k expert MLPs map the input to k representations U_s (k, d) per sample; Gram-Schmidt turns them
into an orthonormal basis V_s (rows orthonormal, k <= d); the task's weights w_t (k,), a linear
map from the one-hot without bias, mix them: v = ReLU(w_t^T V_s) (d,); a per-task linear head
(as MOORE's multi-head Meta-World setup) gives the output. Each expert is an MLP
``in -> hidden...`` (ReLU between layers, linear last layer), so d = hidden[-1]. The critic's
experts take concat(obs, action), the interface's critic input.

How it is computed (the same function, arranged for XLA on the CPU, where a batched matmul over
the stacked experts, vmapped again over the twin critics, and a Gram-Schmidt of k sequential
passes over the samples cost several times MT-SAC's update):

- The expert parameters stay stacked (leading axis k), but the experts run as a Python loop of k
  plain matmuls per layer.
- Gram-Schmidt is done through its triangular factor: with the Gram matrix G = U U^T (k x k per
  sample) and its Cholesky factor L (lower, positive diagonal), U = L V, so V = L^{-1} U is the
  Gram-Schmidt basis (v_j spans the same nested subspaces, <u_j, v_j> = L_jj > 0). L and L^{-1}
  are unrolled scalar formulas over the samples (k is small), and the mixture is folded into the
  coefficients: w^T V = (w^T L^{-1}) U, one pass over U instead of materialising V.
  Numerically this is classical Gram-Schmidt's behaviour (orthogonality lost as eps * cond(U)^2
  for nearly dependent experts, about 1.5x classical GS's error). :func:`gram_schmidt` is the
  explicit recursion, kept as the reference.

The task weights are computed once per group (task-grouped layout), the heads as one batched
matmul over groups. Departures: the activation after the mixture is ReLU (the hidden activation
of every other torso here); the width of every expert is the run's ``hidden``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import (Network, Networks, StackedMLPParams, fan_in_uniform,
                                linen_network, mlp_layers, task_index)
from mtrl_jax.nets.multihead import TaskHeads

EPS = 1e-8


def gram_schmidt_leading(u: jax.Array, eps: float = EPS) -> jax.Array:
    """(k, ..., d) vectors -> (k, ..., d) orthonormal along d, spanning the same nested subspaces:
    v_j = normalise(u_j - sum_{l<j} <u_j, v_l> v_l). Needs k <= d. The explicit recursion (the
    reference for :func:`gram_factor`)."""
    basis = []
    for j in range(u.shape[0]):
        w = u[j]
        for v in basis:
            w = w - jnp.sum(u[j] * v, axis=-1, keepdims=True) * v
        basis.append(w / (jnp.linalg.norm(w, axis=-1, keepdims=True) + eps))
    return jnp.stack(basis)


def gram_schmidt(u: jax.Array, eps: float = EPS) -> jax.Array:
    """(..., k, d) vectors -> (..., k, d) orthonormal rows (see :func:`gram_schmidt_leading`)."""
    return jnp.moveaxis(gram_schmidt_leading(jnp.moveaxis(u, -2, 0), eps), 0, -2)


def gram_factor(us: list[jax.Array], eps: float = EPS) -> dict:
    """k arrays (..., d) -> {(j, l): (..., 1)} for l <= j: the lower-triangular M = L^{-1} with
    Gram-Schmidt's basis v_j = sum_{l<=j} M_jl u_l.

    L is the Cholesky factor of the Gram matrix, L_jl = <u_j, v_l> (Gram-Schmidt's projection
    coefficients) and L_jj = |u_j - sum_{l<j} L_jl v_l|; ``eps`` enters as in the recursion,
    v_j = (...) / (L_jj + eps)."""
    k = len(us)
    gram = {(i, j): jnp.sum(us[i] * us[j], axis=-1, keepdims=True)
            for i in range(k) for j in range(i + 1)}
    fac = {}
    for j in range(k):
        for l in range(j):
            fac[j, l] = (gram[j, l] - sum((fac[j, m] * fac[l, m] for m in range(l)), 0.0)) / (
                fac[l, l] + eps)
        sq = gram[j, j] - sum((fac[j, m] ** 2 for m in range(j)), 0.0)
        fac[j, j] = jnp.sqrt(jnp.maximum(sq, 0.0))
    inv = {}
    for j in range(k):
        inv[j, j] = 1.0 / (fac[j, j] + eps)
        for l in range(j):
            inv[j, l] = -inv[j, j] * sum(fac[j, m] * inv[m, l] for m in range(l, j))
    return inv


def run_experts(experts: list[dict], x: jax.Array) -> list[jax.Array]:
    """Stacked expert MLPs (each leaf with a leading axis k) on x (..., in) -> k arrays
    (..., width): a Python loop of plain matmuls (ReLU between layers, linear last layer)."""
    k = experts[0]["kernel"].shape[0]
    hs = [x @ experts[0]["kernel"][j] + experts[0]["bias"][j] for j in range(k)]
    for layer in experts[1:]:
        hs = [jax.nn.relu(h) @ layer["kernel"][j] + layer["bias"][j] for j, h in enumerate(hs)]
    return hs


def expert_basis(params: dict, x: jax.Array) -> jax.Array:
    """A MOORE network's orthonormalised expert outputs: ``params`` its variables
    (``{"params": ...}``), x (..., in_dim) -> (..., k, width)."""
    us = run_experts(mlp_layers(params["params"]["experts"]), x)
    inv = gram_factor(us)
    return jnp.stack([sum(inv[j, l] * us[l] for l in range(j + 1)) for j in range(len(us))],
                     axis=-2)


class Moore(nn.Module):
    """MOORE on inputs (G, n, in_dim) -> (G, n, out_dim); aux["task_weights"] (G, k).

    Parameters: ``experts`` (``StackedMLPParams``, k stacked MLPs in_dim -> hidden),
    ``task_weights`` (T, k), ``heads`` (:class:`TaskHeads`, kernel (T, width, out_dim), bias
    (T, out_dim))."""

    in_dim: int
    num_tasks: int
    out_dim: int
    hidden: tuple[int, ...]
    num_experts: int

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        k = self.num_experts
        task = task_index(task_onehot[:, 0])                                  # (G,)
        w = self.param("task_weights", fan_in_uniform(self.num_tasks),
                       (self.num_tasks, k))[task]                             # (G, k)
        experts = StackedMLPParams((self.in_dim, *self.hidden), k, name="experts")()
        us = run_experts(experts, obs)                                        # k x (G, n, width)
        inv = gram_factor(us)                                                 # (G, n, 1) each
        # sum_j w_j v_j = sum_l (sum_{j>=l} w_j M_jl) u_l
        coef = [sum(w[:, j, None, None] * inv[j, l] for j in range(l, k)) for l in range(k)]
        v = jax.nn.relu(sum(c * u for c, u in zip(coef, us)))                 # (G, n, width)
        heads = TaskHeads(self.num_tasks, self.hidden[-1], self.out_dim, name="heads")
        return heads(v, task), {"task_weights": w}


def make_moore(in_dim: int, num_tasks: int, out_dim: int, hidden: tuple[int, ...],
               num_experts: int) -> Network:
    width = hidden[-1]
    if num_experts > width:
        raise ValueError(f"MOORE needs experts <= expert width for an orthonormal basis, got "
                         f"{num_experts} experts of width {width}")
    return linen_network(Moore(in_dim, num_tasks, out_dim, tuple(hidden), num_experts), in_dim,
                         num_tasks)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, hidden: tuple[int, ...],
                  experts: int, critic_out: int = 1) -> Networks:
    return Networks(actor=make_moore(obs_dim, num_tasks, 2 * act_dim, hidden, experts),
                    critic=make_moore(obs_dim + act_dim, num_tasks, critic_out, hidden,
                                      experts))
