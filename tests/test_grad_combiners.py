"""PCGrad and GradNorm against hand computations, and the combined SAC update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.agents import grad_combiners as gc


def as_tree(rows):
    """Per-task 2-d gradients (T, 2) as a two-leaf pytree, so the leaf handling is exercised."""
    rows = jnp.asarray(rows, jnp.float32)
    return {"a": rows[:, :1], "b": {"c": rows[:, 1:]}}


def flat(tree):
    return np.concatenate([np.ravel(tree["a"]), np.ravel(tree["b"]["c"])])


def test_pcgrad_two_conflicting_tasks_equal_the_hand_projection():
    # g1 . g2 = -1: g1 -> g1 + g2 / 2 = (0.5, 0.5), g2 -> g2 + g1 = (0, 1); mean (0.25, 0.75).
    out = gc.pcgrad(as_tree([[1.0, 0.0], [-1.0, 1.0]]), jax.random.key(0))
    np.testing.assert_allclose(flat(out), [0.25, 0.75], atol=1e-6)


def test_pcgrad_three_tasks_project_in_the_given_order_against_the_originals():
    grads = as_tree([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])
    # Order (0, 1, 2), by hand: g1 -> (0.5, 0.5) -> (0.5, 0); g2 -> (0, 1) -> (0, 0);
    # g3 -> (0, -1) (no conflict with g1) -> (-0.5, -0.5). Mean (0, -1/6).
    v = gc.pcgrad_weights(gc.task_gram(grads), jnp.arange(3))
    np.testing.assert_allclose(flat(gc.combine(grads, v)), [0.0, -1.0 / 6.0], atol=1e-6)
    # Order (2, 1, 0): g1 -> g1 (g1 . g3 = 0) -> (0.5, 0.5); g2 -> g2 + g3 = (-1, 0) -> (0, 0);
    # g3 -> (-0.5, -0.5) -> (0, -0.5), now in conflict with g1. Mean (1/6, 0).
    v = gc.pcgrad_weights(gc.task_gram(grads), jnp.array([2, 1, 0]))
    np.testing.assert_allclose(flat(gc.combine(grads, v)), [1.0 / 6.0, 0.0], atol=1e-6)


def test_pcgrad_passes_non_conflicting_gradients_through_as_their_mean():
    rows = [[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]
    for seed in range(3):
        out = gc.pcgrad(as_tree(rows), jax.random.key(seed))
        np.testing.assert_allclose(flat(out), np.mean(rows, axis=0), atol=1e-6)


def test_gradnorm_moves_toward_equal_weighted_norms_and_keeps_the_sum():
    grads = as_tree([[1.0, 0.0], [0.0, 3.0]])             # |g1| = 1, |g2| = 3
    losses = jnp.array([2.0, 5.0])                         # unchanged: equal training rates
    state = gc.gradnorm_init(2, lr=1e-2)
    out, state = gc.gradnorm(state, losses, grads, alpha=0.12, lr=1e-2)
    np.testing.assert_allclose(flat(out), [0.5, 1.5], atol=1e-6)   # weights 1: the mean
    gaps = []
    for _ in range(150):
        gaps.append(abs(float(state.weights[0] * 1.0 - state.weights[1] * 3.0)))
        np.testing.assert_allclose(float(state.weights.sum()), 2.0, rtol=1e-6)
        _, state = gc.gradnorm(state, losses, grads, alpha=0.12, lr=1e-2)
    assert gaps[-1] < 0.1 * gaps[0], gaps[::30]
    # The equal-norm point is w = (1.5, 0.5).
    np.testing.assert_allclose(np.asarray(state.weights), [1.5, 0.5], atol=0.05)


def test_gradnorm_favours_the_task_that_trains_slower():
    grads = as_tree([[1.0, 0.0], [0.0, 1.0]])             # equal norms
    state = gc.gradnorm_init(2, lr=1e-2)
    _, state = gc.gradnorm(state, jnp.array([1.0, 1.0]), grads, 0.12, 1e-2)   # L(0)
    for _ in range(20):                                    # task 1's loss halved, task 0's not
        _, state = gc.gradnorm(state, jnp.array([1.0, 0.5]), grads, 0.12, 1e-2)
    assert state.weights[0] > 1.0 > state.weights[1]
    np.testing.assert_allclose(np.asarray(state.initial_loss), [1.0, 1.0])


@pytest.fixture(scope="module")
def point_agents():
    from mtrl_jax.config import Config, resolve
    from mtrl_jax.envs.base import EnvSpec
    from mtrl_jax.methods import make_agent
    base = Config(algo="mtsac", env="point-mt", hidden=(16, 16), batch_size=12,
                  log_std_min=-20.0, log_std_max=-20.0, init_alpha=1e-8)
    spec = EnvSpec.sized(5, 2, 3)
    return {name: make_agent(resolve(base.replace(grad_combiner=name)), spec)
            for name in ("none", "gradnorm")}, spec


def test_gradnorm_first_update_equals_the_plain_update(point_agents):
    """At its first update GradNorm's weights are 1, so the vmapped per-task gradients,
    averaged, must give the plain gradient. Adam's first moment after one step is 0.1 x the
    gradient, so the optimiser states compare the gradients themselves. (With the policy's std
    at e^-20 and alpha at 1e-8 the actions and the actor and critic losses do not depend on the
    sampling keys, which differ between the two paths.)"""
    agents, spec = point_agents
    T, n = spec.num_tasks, 4
    keys = jax.random.split(jax.random.key(3), 5)
    batch = {"obs": jax.random.normal(keys[0], (T, n, spec.obs_dim)),
             "action": jax.random.uniform(keys[1], (T, n, spec.act_dim), minval=-1, maxval=1),
             "reward": jax.random.normal(keys[2], (T, n)),
             "next_obs": jax.random.normal(keys[3], (T, n, spec.obs_dim)),
             "terminated": jnp.zeros((T, n), bool), "truncated": jnp.zeros((T, n), bool),
             "stored": {}}
    plain, plain_info = jax.jit(agents["none"].update)(agents["none"].init(keys[4]), batch,
                                                       keys[4])
    combined, info = jax.jit(agents["gradnorm"].update)(agents["gradnorm"].init(keys[4]), batch,
                                                        keys[4])
    moments = lambda s: jax.tree.leaves((s.actor_opt, s.critic_opt))  # noqa: E731
    for a, b in zip(moments(plain), moments(combined)):
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * (np.abs(a).max() + 1e-30))
    for name in ("critic_loss", "actor_loss"):
        np.testing.assert_allclose(np.asarray(info[name]), np.asarray(plain_info[name]),
                                   rtol=1e-4)
    assert float(combined.combiner["critic"].weights.sum()) == pytest.approx(T, rel=1e-5)
    assert bool(combined.combiner["actor"].started)
    assert set(info) >= set(plain_info)
