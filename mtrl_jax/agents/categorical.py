"""The categorical (distributional) critic of BRC: a fixed support, the projected Bellman target,
and the cross-entropy loss. Pure, jittable functions that broadcast over any leading axes (the
task-grouped ``(T, n)`` of ``sac.py``, with an ensemble axis in front where a caller adds one).

With ``B`` bins on ``[-v_max, v_max]`` the atoms are ``z_i = -v_max + i dz``,
``dz = 2 v_max / (B - 1)`` (BRC: 101 bins on [-10, 10], dz = 0.2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def support(bins: int, v_max: float) -> jax.Array:
    """(bins,) atoms evenly spaced on [-v_max, v_max], both ends included."""
    return jnp.linspace(-v_max, v_max, bins, dtype=jnp.float32)


def project(next_probs: jax.Array, atoms_next: jax.Array, v_max: float) -> jax.Array:
    """Project masses ``next_probs`` (..., B) sitting at positions ``atoms_next`` (..., B) onto
    the fixed support of B bins on [-v_max, v_max]; returns (..., B) probabilities.

    Positions are clipped to the support, b = (z' - v_min) / dz, l = floor b, u = ceil b; mass
    p (u + [l == u] - b) goes to bin l and p (b - l) to bin u. This is computed as one
    (..., B, B) weight tensor w[i, j] = max(0, 1 - |b_i - j|) contracted with the masses: the
    triangular kernel equals that rule exactly (b - l for bin u, u - b for bin l, 1 on the bin
    itself when b is an integer, 0 elsewhere). It is chosen over a scatter-add because it is a
    dense, deterministic contraction (no atomics on a GPU, batches and vmaps as plain
    broadcasting) and needs no floor/ceil bookkeeping; its cost, B^2 per row, is small at B = 101.
    Measured on XLA:CPU (2 cores, interleaved): a floor/ceil scatter-add is 13.6x faster alone
    at (10, 128, 101) (3.4 against 46 ms), but inside brc's update the two are within noise
    (0.97-1.08 at point-mt sizes, 0.99 at MT10 batch 1280 with a 512-wide critic).
    b is clipped to [0, B - 1] so that rounding at the ends loses no mass, and the contraction
    runs at full float32 precision (not TF32 on a GPU).
    """
    bins = next_probs.shape[-1]
    dz = 2.0 * v_max / (bins - 1)
    z = jnp.clip(atoms_next, -v_max, v_max)
    b = jnp.clip((z + v_max) / dz, 0.0, bins - 1.0)                              # (..., B)
    j = jnp.arange(bins, dtype=b.dtype)
    weight = jnp.maximum(0.0, 1.0 - jnp.abs(b[..., :, None] - j))                # (..., B, B)
    return jnp.einsum("...i,...ij->...j", next_probs, weight,
                      precision=jax.lax.Precision.HIGHEST)


def target_distribution(next_probs: jax.Array, reward: jax.Array, discount: jax.Array,
                        next_value_offset: jax.Array, atoms: jax.Array,
                        v_max: float) -> jax.Array:
    """The soft Bellman target distribution (..., B), gradient stopped.

    next_probs (..., B): next-state probabilities (BRC: the ensemble mean of the target critics'
    softmax); reward (...); discount (...) = gamma (1 - terminated); next_value_offset (...) =
    alpha log pi(a'|s'); atoms (B,) the support. The atoms move to
    z' = reward + discount (z - next_value_offset) and are projected onto the support. In
    ``sac.py``'s loss every per-row input is (T, n) and next_probs is (T, n, B).
    """
    z = reward[..., None] + discount[..., None] * (atoms - next_value_offset[..., None])
    return jax.lax.stop_gradient(project(next_probs, z, v_max))


def cross_entropy(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """(...) cross-entropy -sum_j target_j log softmax(logits)_j over the last axis (B).

    Its gradient with respect to the logits is softmax(logits) - target for a target that sums
    to 1; zero target entries are safe (the log-softmax is finite)."""
    return -jnp.sum(target_probs * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def expected_value(logits: jax.Array, atoms: jax.Array) -> jax.Array:
    """(...) expected value sum_j softmax(logits)_j atoms_j of logits (..., B), atoms (B,)."""
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * atoms, axis=-1)
