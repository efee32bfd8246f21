"""Tanh-squashed diagonal Gaussian policy head over any actor network's output.

The actor network emits ``2 * act_dim`` values per row: the Gaussian mean and log-std of the
pre-squash action u; the action is a = tanh(u). The log-density includes the change of
variables: log pi(a) = log N(u; mean, std) - sum_i log(1 - tanh(u_i)^2), with the stable form
log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LOG_SQRT_2PI = 0.5 * jnp.log(2.0 * jnp.pi)


def split_gaussian(out: jax.Array, log_std_min: float, log_std_max: float):
    """(..., 2A) network output -> mean (..., A), log_std (..., A) clipped to [min, max]."""
    mean, log_std = jnp.split(out, 2, axis=-1)
    return mean, jnp.clip(log_std, log_std_min, log_std_max)


def log_det_tanh(u: jax.Array) -> jax.Array:
    """sum_i log(1 - tanh(u_i)^2), numerically stable for large |u|."""
    return jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def gaussian_log_prob(u: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    z = (u - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z * z - log_std - LOG_SQRT_2PI, axis=-1)


def sample_tanh_gaussian(key: jax.Array, mean: jax.Array, log_std: jax.Array):
    """Reparameterised sample: returns action (..., A) in (-1, 1) and its log-prob (...)."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    return jnp.tanh(u), gaussian_log_prob(u, mean, log_std) - log_det_tanh(u)


def tanh_gaussian_log_prob(action: jax.Array, mean: jax.Array, log_std: jax.Array,
                           eps: float = 1e-6) -> jax.Array:
    """log pi(action) for a given squashed action (clipped away from +-1 by ``eps``)."""
    a = jnp.clip(action, -1.0 + eps, 1.0 - eps)
    u = jnp.arctanh(a)
    return gaussian_log_prob(u, mean, log_std) - log_det_tanh(u)


def deterministic_action(mean: jax.Array) -> jax.Array:
    """The evaluation action tanh(mean)."""
    return jnp.tanh(mean)
