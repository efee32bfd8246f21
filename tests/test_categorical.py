"""The categorical critic: the projection onto the fixed support against hand computations on
5 bins over [-2, 2] (atoms -2, -1, 0, 1, 2; dz = 1), the target, the loss and its gradient."""

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.agents.categorical import (cross_entropy, expected_value, project, support,
                                         target_distribution)

V = 2.0
ATOMS = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])


def reference_projection(probs, positions, v_max):
    """The floor/ceil rule, one mass at a time."""
    bins = probs.shape[-1]
    dz = 2 * v_max / (bins - 1)
    out = np.zeros(probs.shape)
    for idx in np.ndindex(probs.shape[:-1]):
        for p, z in zip(probs[idx], positions[idx]):
            b = (np.clip(z, -v_max, v_max) + v_max) / dz
            lo, up = int(np.floor(b)), int(np.ceil(b))
            out[idx + (lo,)] += p * (up + (lo == up) - b)
            out[idx + (up,)] += p * (b - lo)
    return out


def test_support():
    np.testing.assert_allclose(support(5, V), ATOMS)
    atoms = np.asarray(support(101, 10.0))
    assert atoms.shape == (101,)
    assert atoms[0] == -10.0 and atoms[-1] == 10.0
    np.testing.assert_allclose(np.diff(atoms), 0.2, atol=1e-5)


def test_targets_between_bins():
    probs = np.array([0.1, 0.2, 0.3, 0.4, 0.0])
    positions = np.array([-1.5, -0.25, 0.6, 1.75, 0.0])
    # 0.1 at b=0.5 -> .05/.05 to bins 0/1; 0.2 at b=1.75 -> .05/.15 to 1/2;
    # 0.3 at b=2.6 -> .12/.18 to 2/3; 0.4 at b=3.75 -> .10/.30 to 3/4.
    expected = [0.05, 0.10, 0.27, 0.28, 0.30]
    np.testing.assert_allclose(project(jnp.asarray(probs), jnp.asarray(positions), V), expected,
                               atol=1e-6)
    np.testing.assert_allclose(project(jnp.asarray([0, 0, 1.0, 0, 0]),
                                       jnp.asarray([0, 0, 0.3, 0, 0]), V),
                               [0, 0, 0.7, 0.3, 0], atol=1e-6)


def test_target_on_a_bin_keeps_all_its_mass():
    np.testing.assert_allclose(project(jnp.asarray([0, 0, 0, 1.0, 0]),
                                       jnp.asarray([0, 0, 0, 1.0, 0]), V),
                               [0, 0, 0, 1, 0], atol=1e-6)
    probs = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
    positions = np.array([-1.0, 1.0, 1.0, 0.0, 2.0])
    np.testing.assert_allclose(project(jnp.asarray(probs), jnp.asarray(positions), V),
                               [0, 0.25, 0.25, 0.5, 0], atol=1e-6)
    # The end atoms themselves.
    np.testing.assert_allclose(project(jnp.asarray([0.5, 0, 0, 0, 0.5]),
                                       jnp.asarray(ATOMS), V), [0.5, 0, 0, 0, 0.5], atol=1e-6)


def test_targets_beyond_the_support_are_clipped_to_the_end_bins():
    probs = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    positions = np.array([-5.0, -2.0, 3.0, 2.5, 100.0])
    np.testing.assert_allclose(project(jnp.asarray(probs), jnp.asarray(positions), V),
                               [0.3, 0, 0, 0, 0.7], atol=1e-6)


def test_mass_is_conserved_and_matches_the_floor_ceil_rule():
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    probs = jax.nn.softmax(jax.random.normal(k1, (3, 4, 101)) * 3, axis=-1)
    positions = 8.0 * jax.random.normal(k2, (3, 4, 101))        # many beyond +/- 10
    out = jax.jit(project, static_argnums=2)(probs, positions, 10.0)
    assert out.shape == (3, 4, 101)
    assert np.all(np.asarray(out) >= 0)
    np.testing.assert_allclose(np.asarray(out).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out, reference_projection(np.asarray(probs, np.float64),
                                                         np.asarray(positions, np.float64),
                                                         10.0), atol=1e-5)
    # Atoms shifted by whole bins land on bins (floating point puts them a hair off).
    shifted = support(101, 10.0) + 0.2 * 7
    out = project(probs[0, 0], shifted, 10.0)
    np.testing.assert_allclose(np.asarray(out).sum(), 1.0, atol=1e-5)
    p = np.asarray(probs[0, 0])
    np.testing.assert_allclose(out[:7], 0.0, atol=1e-5)
    np.testing.assert_allclose(out[7:100], p[:93], atol=1e-4)
    np.testing.assert_allclose(out[100], p[93:].sum(), atol=1e-4)


def test_target_with_zero_discount_is_the_projected_reward():
    probs = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(1), (2, 3, 5)), axis=-1)
    reward = jnp.array([[0.3, 1.0, 5.0], [-0.5, -2.0, -9.0]])
    zeros = jnp.zeros((2, 3))
    offset = jnp.full((2, 3), 0.7)
    out = target_distribution(probs, reward, zeros, offset, jnp.asarray(ATOMS), V)
    assert out.shape == (2, 3, 5)
    expected = [[[0, 0, 0.7, 0.3, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]],
                [[0, 0.5, 0.5, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0]]]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_target_shifts_scales_and_subtracts_the_entropy_offset():
    # z' = 0.5 + 0.5 (z - 1) = -1, -0.5, 0, 0.5, 1 with 0.2 each.
    out = target_distribution(jnp.full((1, 5), 0.2), jnp.array([0.5]), jnp.array([0.5]),
                              jnp.array([1.0]), jnp.asarray(ATOMS), V)
    np.testing.assert_allclose(out, [[0, 0.3, 0.4, 0.3, 0]], atol=1e-6)


def test_cross_entropy_gradient_is_softmax_minus_target():
    logits = jax.random.normal(jax.random.PRNGKey(2), (4, 5)) * 2
    logits = logits.at[3].set(jnp.array([60.0, -60.0, 0.0, 30.0, -30.0]))
    target = jnp.array([[0, 0, 0.7, 0.3, 0], [0, 0, 0, 1, 0], [0.2] * 5, [0, 1, 0, 0, 0]])
    grad = jax.grad(lambda lg: cross_entropy(lg, target).sum())(logits)
    assert np.all(np.isfinite(np.asarray(grad)))
    np.testing.assert_allclose(grad, jax.nn.softmax(logits) - target, atol=1e-6)
    loss = cross_entropy(logits, target)
    assert loss.shape == (4,)
    np.testing.assert_allclose(loss[1], -jax.nn.log_softmax(logits[1])[3], rtol=1e-6)


def test_expected_value():
    logits = jnp.log(jnp.array([[0.1, 0.2, 0.3, 0.2, 0.2], [0, 0, 0, 0, 1.0]]) + 1e-30)
    np.testing.assert_allclose(expected_value(logits, jnp.asarray(ATOMS)), [0.2, 2.0], atol=1e-5)
