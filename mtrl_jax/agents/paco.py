"""PaCo's stabilisation (Sun et al. 2022, Sec. 4.2 and Algorithm 1) as SAC hooks: the loss
mask-out and the w-reset of the tasks whose loss J_t = actor + critic loss exceeds epsilon.
The networks (theta_t = Phi w_t) are in ``mtrl_jax.nets.paco``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mtrl_jax.agents.sac import SACHooks


def exploded(task_loss: jax.Array, epsilon: float) -> jax.Array:
    """(T,) bool: loss above epsilon, or not finite."""
    return ~(task_loss <= epsilon)


def reset_w(w: jax.Array, bad: jax.Array, key: jax.Array) -> jax.Array:
    """Replace rows of w (T, K) where ``bad`` (T,) by random convex combinations of the others.

    beta for each bad row is uniform on the simplex over the healthy rows (normalised Exp(1)
    draws, i.e. Dirichlet(1, ..., 1)); rows stay unchanged if no row is healthy.
    """
    T = w.shape[0]
    healthy = ~bad
    draws = jax.random.exponential(key, (T, T)) * healthy[None, :]           # (new row, source)
    beta = draws / jnp.maximum(draws.sum(axis=1, keepdims=True), 1e-30)
    replace = bad & jnp.any(healthy)
    return jnp.where(replace[:, None], beta @ w, w)


def make_paco_hooks(epsilon: float, maskout: bool, reset: bool) -> SACHooks:
    """The mask-out (a task above ``epsilon`` gets mask 0 in that update) and the w-reset
    (after the update, each such task's w becomes a random convex combination of the healthy
    tasks' w), each switchable for the ablation."""

    def task_loss_mask(task_loss):
        return jnp.where(exploded(task_loss, epsilon), 0.0, 1.0)

    def post_update(state, info, key):
        params = state.shared["params"]
        w = reset_w(params["w"], exploded(info["task_loss"], epsilon), key)
        return state._replace(shared={**state.shared, "params": {**params, "w": w}})

    return SACHooks(task_loss_mask=task_loss_mask if maskout else None,
                    post_update=post_update if reset else None)
