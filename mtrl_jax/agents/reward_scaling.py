"""Per-task reward scales for the critic target: ARS (Cho et al. 2025) and BRC's return-range
normalisation (Nauman et al. 2025). Pure, jittable functions on the task-major layouts of
``buffer.py`` (``(T, capacity)``) and of the device loop (``(T, E)``).

ARS multiplies the sampled rewards (T, n) by ``ars_scales(...)[:, None]``; BRC divides them by
``brc_denominator(...)[:, None]``. Both scale the critic target only.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


def ars_scales(buffer_rewards: jax.Array, size: jax.Array, min_mean: float = 0.01) -> jax.Array:
    """(T,) ARS scales c_k = max_j |mean_j| / max(|mean_k|, min_mean).

    buffer_rewards (T, C): the rings' rewards (``buffer.data["reward"]``); size (T,): written
    slots per ring (== C once a ring has wrapped). mean_k averages slots < size[k] only. A ring
    with no written slot has mean 0: call this after the warm-up.

    ARS writes c_k = max_j mean_j / max(mean_k, 0.01) for Meta-World's non-negative rewards;
    the magnitudes give the same scales there and keep every scale positive, and the rewards'
    signs, where a task's rewards are negative (point-mt's distance penalties).
    """
    capacity = buffer_rewards.shape[1]
    written = jnp.arange(capacity)[None, :] < size[:, None]
    total = jnp.sum(jnp.where(written, buffer_rewards, 0.0), axis=1)
    magnitude = jnp.abs(total / jnp.maximum(size, 1).astype(total.dtype))
    return jnp.max(magnitude) / jnp.maximum(magnitude, min_mean)


def discounted_returns(rewards: jax.Array, length: jax.Array, truncated: jax.Array,
                       gamma: float) -> jax.Array:
    """(..., H) discounted returns V_t = r_t + gamma V_{t+1} of episodes stored as rewards
    (..., H) with ``length`` (...) valid steps; V_t = 0 for t >= length.

    V_length = mean(r[:length]) / (1 - gamma) where ``truncated`` (...) is true, else 0. The
    backward recursion is one ``lax.associative_scan`` over H (log H depth), composing the affine
    maps v -> a_t v + b_t with (a_t, b_t) = (gamma, r_t) on valid steps and (1, 0) after them.
    """
    horizon = rewards.shape[-1]
    valid = jnp.arange(horizon) < length[..., None]                              # (..., H)
    r = jnp.where(valid, rewards, 0.0)
    mean = r.sum(-1) / jnp.maximum(length, 1).astype(r.dtype)
    bootstrap = jnp.where(truncated, mean / (1.0 - gamma), 0.0)                  # (...)
    a = jnp.where(valid, jnp.asarray(gamma, r.dtype), 1.0)

    def compose(later, earlier):
        (a_l, b_l), (a_e, b_e) = later, earlier
        return a_e * a_l, a_e * b_l + b_e

    a_rev, b_rev = jnp.flip(a, -1), jnp.flip(r, -1)
    a_acc, b_acc = jax.lax.associative_scan(compose, (a_rev, b_rev), axis=a.ndim - 1)
    values = jnp.flip(a_acc, -1) * bootstrap[..., None] + jnp.flip(b_acc, -1)
    return jnp.where(valid, values, 0.0)


def return_range(rewards: jax.Array, length: jax.Array, truncated: jax.Array,
                 gamma: float) -> tuple[jax.Array, jax.Array]:
    """(min, max) (...) of the :func:`discounted_returns` over each episode's valid steps;
    (+inf, -inf) where length == 0."""
    values = discounted_returns(rewards, length, truncated, gamma)
    valid = jnp.arange(rewards.shape[-1]) < length[..., None]
    return (jnp.min(jnp.where(valid, values, jnp.inf), -1),
            jnp.max(jnp.where(valid, values, -jnp.inf), -1))


class BRCStats(NamedTuple):
    rewards: jax.Array    # (T, E, H) rewards of each env's running episode, zero past count
    count: jax.Array      # (T, E) int32: steps of the running episode
    g_min: jax.Array      # (T,) running min of episode discounted returns (+inf before any)
    g_max: jax.Array      # (T,) running max (-inf before any)


def brc_init(num_tasks: int, envs_per_task: int, horizon: int) -> BRCStats:
    """Empty stats; ``horizon`` H must be at least the longest episode (steps past H are
    dropped from the history)."""
    return BRCStats(jnp.zeros((num_tasks, envs_per_task, horizon), jnp.float32),
                    jnp.zeros((num_tasks, envs_per_task), jnp.int32),
                    jnp.full((num_tasks,), jnp.inf, jnp.float32),
                    jnp.full((num_tasks,), -jnp.inf, jnp.float32))


def brc_step(stats: BRCStats, reward: jax.Array, terminated: jax.Array, truncated: jax.Array,
             gamma: float) -> BRCStats:
    """Append one lockstep env step, reward/terminated/truncated (T, E), to ``stats``.

    Every env whose episode ends here (terminated | truncated) has its discounted returns
    computed (:func:`return_range`; bootstrapped where truncated and not terminated), folded into
    its task's g_min / g_max, and its history cleared. The fold runs under ``lax.cond`` on any
    env ending, so steps where none ends skip it (a vmap turns the cond into a select).
    """
    num_tasks, num_envs, horizon = stats.rewards.shape
    rows = jnp.arange(num_tasks)[:, None]
    cols = jnp.arange(num_envs)[None, :]
    rewards = stats.rewards.at[rows, cols, stats.count].set(
        reward.astype(stats.rewards.dtype), mode="drop")
    count = stats.count + 1
    ended = terminated | truncated

    def fold(operand):
        rewards, g_min, g_max = operand
        lo, hi = return_range(rewards, jnp.minimum(count, horizon), truncated & ~terminated,
                              gamma)
        g_min = jnp.minimum(g_min, jnp.where(ended, lo, jnp.inf).min(axis=1))
        g_max = jnp.maximum(g_max, jnp.where(ended, hi, -jnp.inf).max(axis=1))
        return jnp.where(ended[..., None], 0.0, rewards), g_min, g_max

    rewards, g_min, g_max = jax.lax.cond(jnp.any(ended), fold, lambda operand: operand,
                                         (rewards, stats.g_min, stats.g_max))
    return BRCStats(rewards, jnp.where(ended, 0, count), g_min, g_max)


def brc_denominator(g_min: jax.Array, g_max: jax.Array, alpha, gamma: float,
                    target_entropy: float, v_max: float,
                    min_denominator: float = 1e-2) -> jax.Array:
    """(T,) BRC reward divisor (max(G_max, |G_min|) - alpha H_target / (2 (1 - gamma))) / v_max.

    g_min, g_max (T,); alpha (T,) or scalar. H_target is the (negative, -|A| / 2) target
    entropy, so the entropy term adds alpha |H_target| / (2 (1 - gamma)) to the return range.
    A task with no finished episode yet (infinite g_min / g_max) gets 1.0 (rewards unscaled);
    otherwise the divisor is floored at ``min_denominator`` (only reached with a non-negative
    target entropy or a vanishing alpha and return range).
    """
    seen = jnp.isfinite(g_min) & jnp.isfinite(g_max)
    scale = jnp.maximum(g_max, jnp.abs(g_min))
    denom = (scale - alpha * target_entropy / (2.0 * (1.0 - gamma))) / v_max
    return jnp.where(seen, jnp.maximum(denom, min_denominator), 1.0)
