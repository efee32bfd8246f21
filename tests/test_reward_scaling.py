"""ARS scales and BRC's return-range normalisation against hand computations (gamma 0.5)."""

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.agents.reward_scaling import (BRCStats, ars_scales, brc_denominator, brc_init,
                                            brc_step, discounted_returns, return_range)

INF = np.inf


def test_ars_scales_on_a_hand_built_buffer():
    rewards = jnp.array([[1.0, 2.0, 3.0, 2.0],          # full (wrapped) ring: mean 2
                         [4.0, 2.0, 99.0, 99.0],        # 2 slots written: mean 3
                         [0.001, 0.0, 0.002, 0.001]])   # mean 0.001 < 0.01
    size = jnp.array([4, 2, 4], jnp.int32)
    np.testing.assert_allclose(ars_scales(rewards, size), [1.5, 1.0, 300.0], rtol=1e-5)
    np.testing.assert_allclose(jax.jit(ars_scales)(rewards, size), [1.5, 1.0, 300.0], rtol=1e-5)
    # Negative rewards (point-mt's penalties) are scaled by their magnitude, never flipped.
    negative = rewards.at[0].multiply(-2.0)                # mean -4: the largest magnitude
    np.testing.assert_allclose(ars_scales(negative, size), [1.0, 4.0 / 3.0, 400.0], rtol=1e-5)


def test_returns_of_a_terminated_episode():
    # r = 1, 2, 4 then stale slots: V2 = 4, V1 = 2 + 2 = 4, V0 = 1 + 2 = 3.
    rewards = jnp.array([1.0, 2.0, 4.0, 7.0, 7.0])
    values = discounted_returns(rewards, jnp.array(3), jnp.array(False), 0.5)
    np.testing.assert_allclose(values, [3.0, 4.0, 4.0, 0.0, 0.0], rtol=1e-6)
    lo, hi = return_range(rewards, jnp.array(3), jnp.array(False), 0.5)
    np.testing.assert_allclose([lo, hi], [3.0, 4.0], rtol=1e-6)


def test_returns_of_a_truncated_episode_bootstrap_the_mean_reward():
    # Bootstrap (7/3) / (1 - 0.5) = 14/3: V2 = 4 + 7/3 = 19/3, V1 = 2 + 19/6 = 31/6,
    # V0 = 1 + 31/12 = 43/12.
    rewards = jnp.array([[1.0, 2.0, 4.0, 7.0, 7.0], [1.0, 2.0, 4.0, 7.0, 7.0]])
    values = discounted_returns(rewards, jnp.array([3, 3]), jnp.array([True, False]), 0.5)
    np.testing.assert_allclose(values, [[43 / 12, 31 / 6, 19 / 3, 0, 0], [3, 4, 4, 0, 0]],
                               rtol=1e-6)
    lo, hi = return_range(rewards, jnp.array([3, 0]), jnp.array([True, True]), 0.5)
    np.testing.assert_allclose(lo, [43 / 12, INF], rtol=1e-6)
    np.testing.assert_allclose(hi, [19 / 3, -INF], rtol=1e-6)


def test_returns_match_the_backward_loop_on_random_episodes():
    key = jax.random.PRNGKey(0)
    rewards = jax.random.normal(key, (6, 37))
    length = jnp.array([0, 1, 5, 20, 36, 37])
    truncated = jnp.array([True, False, True, False, True, True])
    gamma = 0.97
    values = np.asarray(discounted_returns(rewards, length, truncated, gamma))
    r = np.asarray(rewards, np.float64)
    for i in range(6):
        L = int(length[i])
        v = r[i, :L].mean() / (1 - gamma) if (truncated[i] and L) else 0.0
        expected = np.zeros(37)
        for t in reversed(range(L)):
            v = r[i, t] + gamma * v
            expected[t] = v
        np.testing.assert_allclose(values[i], expected, rtol=1e-4, atol=1e-4)


def run_steps(step_fn, stats, steps):
    for reward, terminated, truncated in steps:
        stats = step_fn(stats, jnp.array(reward), jnp.array(terminated), jnp.array(truncated),
                        0.5)
    return stats


F, T_ = False, True
# Tasks x envs (2, 2), history H = 4.
# task 0, env 0: [1, 2] terminated at step 2 (V = 2, 2), then a new episode [8, 0].
# task 0, env 1: [0, -4, 2] truncated at step 3: bootstrap (-2/3) / 0.5 = -4/3,
#                V2 = 2 - 2/3 = 4/3, V1 = -4 + 2/3 = -10/3, V0 = -5/3; then [0].
# task 1, env 0: [1, 1, 1, 1] truncated at step 4 (length H): bootstrap 2, every V = 2.
# task 1, env 1: [3, 0, 0, 0] terminated at step 4: V = 3, 0, 0, 0.
STEPS = [
    ([[1.0, 0.0], [1.0, 3.0]], [[F, F], [F, F]], [[F, F], [F, F]]),
    ([[2.0, -4.0], [1.0, 0.0]], [[T_, F], [F, F]], [[F, F], [F, F]]),
    ([[8.0, 2.0], [1.0, 0.0]], [[F, F], [F, F]], [[F, T_], [F, F]]),
    ([[0.0, 0.0], [1.0, 0.0]], [[F, F], [F, T_]], [[F, F], [T_, F]]),
]


def test_brc_step_tracks_the_return_range_of_envs_ending_at_different_times():
    stats = brc_init(2, 2, 4)
    assert stats.rewards.shape == (2, 2, 4) and stats.count.shape == (2, 2)
    np.testing.assert_array_equal(stats.g_min, [INF, INF])
    np.testing.assert_array_equal(stats.g_max, [-INF, -INF])

    stats = run_steps(brc_step, stats, STEPS[:2])
    np.testing.assert_allclose(stats.g_min, [2.0, INF])
    np.testing.assert_allclose(stats.g_max, [2.0, -INF])
    np.testing.assert_array_equal(stats.count, [[0, 2], [2, 2]])
    np.testing.assert_array_equal(stats.rewards[0, 0], [0, 0, 0, 0])
    np.testing.assert_array_equal(stats.rewards[0, 1], [0, -4, 0, 0])

    stats = run_steps(brc_step, stats, STEPS[2:3])
    np.testing.assert_allclose(stats.g_min, [-10 / 3, INF], rtol=1e-6)
    np.testing.assert_allclose(stats.g_max, [2.0, -INF], rtol=1e-6)
    np.testing.assert_array_equal(stats.count, [[1, 0], [3, 3]])
    np.testing.assert_array_equal(stats.rewards[0, 0], [8, 0, 0, 0])

    stats = run_steps(brc_step, stats, STEPS[3:])
    np.testing.assert_allclose(stats.g_min, [-10 / 3, 0.0], rtol=1e-6)
    np.testing.assert_allclose(stats.g_max, [2.0, 3.0], rtol=1e-6)
    np.testing.assert_array_equal(stats.count, [[2, 1], [0, 0]])
    np.testing.assert_array_equal(stats.rewards[1], np.zeros((2, 4)))


def test_brc_step_jits_and_vmaps():
    eager = run_steps(brc_step, brc_init(2, 2, 4), STEPS)
    jitted = run_steps(jax.jit(brc_step, static_argnums=4), brc_init(2, 2, 4), STEPS)
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-6)

    # A seed axis in front: the cond becomes a select.
    seeds = jax.tree.map(lambda x: jnp.stack([x, x]), brc_init(2, 2, 4))
    vstep = jax.jit(jax.vmap(brc_step, in_axes=(0, 0, 0, 0, None)), static_argnums=4)
    for reward, terminated, truncated in STEPS:
        two = lambda x: jnp.stack([jnp.array(x)] * 2)  # noqa: E731
        seeds = vstep(seeds, two(reward), two(terminated), two(truncated), 0.5)
    assert isinstance(seeds, BRCStats)
    for a, b in zip(eager, seeds):
        np.testing.assert_allclose(np.asarray(b)[1], a, rtol=1e-6)


def test_brc_denominator_on_hand_values():
    g_min, g_max = jnp.array([-3.0, -1.0]), jnp.array([2.0, 5.0])
    # Entropy term: -0.1 * (1 / 0.01) * (-2) / 2 = +10.
    np.testing.assert_allclose(brc_denominator(g_min, g_max, 0.1, 0.99, -2.0, 10.0),
                               [1.3, 1.5], rtol=1e-5)
    np.testing.assert_allclose(
        brc_denominator(g_min, g_max, jnp.array([0.1, 0.2]), 0.99, -2.0, 10.0), [1.3, 2.5],
        rtol=1e-5)
    # No episode finished yet: 1.0 (rewards unscaled).
    fresh = brc_init(2, 1, 3)
    np.testing.assert_array_equal(
        jax.jit(brc_denominator, static_argnums=(3, 4, 5))(fresh.g_min, fresh.g_max, 0.1, 0.99,
                                                           -2.0, 10.0), [1.0, 1.0])
    # Partly seen, and a non-positive value floored.
    np.testing.assert_allclose(
        brc_denominator(jnp.array([INF, 0.0]), jnp.array([-INF, 1.0]), 0.1, 0.99, 2.0, 10.0),
        [1.0, 1e-2], rtol=1e-6)
