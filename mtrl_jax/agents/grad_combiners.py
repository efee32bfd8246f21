"""Gradient combiners over per-task gradients: PCGrad (Yu et al. 2020) and GradNorm (Chen et
al. 2018). Pure functions over pytrees whose leaves carry a leading task axis ``(T, ...)``.

Both return the combined gradient in the convention of the SAC core's loss, a *mean* over
tasks: with no conflict (PCGrad) or equal weights (GradNorm) the result is the plain gradient
of ``mean_t L_t``. The papers sum over tasks; Adam, which follows, is invariant to that
constant factor T (up to its epsilon), and gradient clipping then sees the same scale as
without a combiner.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

PCGRAD_EPS = 1e-8      # added to |g_j|^2 in the projection (metaworld-algorithms' value)
GRADNORM_EPS = 1e-8    # floor of |L_i(0)| in the training rates


def task_gram(grads) -> jax.Array:
    """(T, T) inner products g_i . g_j of the per-task gradients (leaves ``(T, ...)``)."""
    leaves = jax.tree.leaves(grads)
    flat = [g.reshape(g.shape[0], -1) for g in leaves]
    return sum(f @ f.T for f in flat)


def combine(grads, weights: jax.Array):
    """sum_t weights_t g_t over the leading task axis of every leaf."""
    return jax.tree.map(lambda g: jnp.tensordot(weights.astype(g.dtype), g, axes=1), grads)


def pcgrad_weights(gram: jax.Array, order: jax.Array) -> jax.Array:
    """(T,) weights v with ``sum_t v_t g_t`` = the mean over tasks of the PCGrad-projected
    gradients, from the Gram matrix (T, T) of the original gradients and a task order (T,).

    Each g_i is projected, in ``order``, against every other task's *original* gradient g_j
    where they conflict: g_i <- g_i - min(g_i . g_j / (|g_j|^2 + eps), 0) g_j. Every projected
    gradient stays a combination of the originals, so the projection runs on the (T, T)
    coefficient matrix A (row i: g_i's coefficients) and never touches a parameter-sized
    array: g_i . g_j = (A @ gram)_ij.
    """
    T = gram.shape[0]
    eye = jnp.eye(T, dtype=gram.dtype)

    def project(p, coef):
        j = order[p]
        dots = coef @ gram[:, j]                                          # (T,) g_i . g_j
        scale = jnp.minimum(dots / (gram[j, j] + PCGRAD_EPS), 0.0)
        scale = jnp.where(jnp.arange(T) == j, 0.0, scale)
        return coef - scale[:, None] * eye[j][None, :]

    coef = jax.lax.fori_loop(0, T, project, eye)
    return coef.sum(axis=0) / T


def pcgrad(grads, key: jax.Array):
    """PCGrad's combined gradient (mean over tasks) of per-task gradients ``(T, ...)``, with one
    random task order per call (metaworld-algorithms; the paper shuffles per task)."""
    gram = task_gram(grads)
    order = jax.random.permutation(key, gram.shape[0])
    return combine(grads, pcgrad_weights(gram, order))


class GradNormState(NamedTuple):
    weights: jax.Array        # (T,) task weights, summing to T
    opt: Any                  # Adam state of the weights
    initial_loss: jax.Array   # (T,) L_i(0), taken at the first update
    started: jax.Array        # bool scalar: initial_loss is set


def gradnorm_optimizer(lr: float) -> optax.GradientTransformation:
    return optax.adam(lr)


def gradnorm_init(num_tasks: int, lr: float) -> GradNormState:
    weights = jnp.ones((num_tasks,), jnp.float32)
    return GradNormState(weights, gradnorm_optimizer(lr).init(weights),
                         jnp.zeros((num_tasks,), jnp.float32), jnp.zeros((), bool))


def gradnorm_objective(weights: jax.Array, norms: jax.Array, rates: jax.Array,
                       alpha: float) -> jax.Array:
    """sum_i |G_i - mean(G) r_i^alpha| with G_i = w_i |g_i| and r_i the relative inverse
    training rate; the target mean(G) r^alpha is a constant (the paper, Sec. 3.2)."""
    G = weights * norms
    target = jax.lax.stop_gradient(jnp.mean(G) * rates ** alpha)
    return jnp.sum(jnp.abs(G - target))


def gradnorm(state: GradNormState, losses: jax.Array, grads, alpha: float, lr: float):
    """GradNorm on per-task losses (T,) and gradients ``(T, ...)``: returns (the combined
    gradient ``sum_i w_i g_i / T`` with the current weights, the next state).

    G_i is the norm of task i's gradient over the whole parameter group (metaworld-algorithms;
    the paper uses the last shared layer, which not every architecture here has). The training
    rates use |L_i| / |L_i(0)|, since an actor loss can be negative. After their Adam step the
    weights are kept positive and renormalised to sum to T.
    """
    T = losses.shape[0]
    initial = jnp.where(state.started, state.initial_loss, losses)
    ratio = jnp.abs(losses) / jnp.maximum(jnp.abs(initial), GRADNORM_EPS)
    rates = ratio / jnp.maximum(jnp.mean(ratio), GRADNORM_EPS)
    norms = jnp.sqrt(jnp.maximum(jnp.diag(task_gram(grads)), 0.0))
    g_weights = jax.grad(gradnorm_objective)(state.weights, norms, rates, alpha)
    update, opt = gradnorm_optimizer(lr).update(g_weights, state.opt, state.weights)
    weights = jnp.maximum(optax.apply_updates(state.weights, update), GRADNORM_EPS)
    weights = T * weights / jnp.sum(weights)
    combined = combine(grads, state.weights / T)
    return combined, GradNormState(weights, opt, initial, jnp.ones((), bool))
