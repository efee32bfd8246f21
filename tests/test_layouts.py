"""Each backend-specific form the library uses equals its plain form (benchmarks/layouts.py
times the pairs), in value and, where the library differentiates it, in gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.agents.sac import task_onehots, twin_apply_loop, twin_apply_vmap
from mtrl_jax.nets import care, d2r, paco
from mtrl_jax.nets.base import StackedMLPParams, mlp_layers

T, N = 3, 5


def close_in_value_and_gradient(library, plain, *args, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(library(*args), plain(*args), rtol=rtol, atol=atol)
    loss = lambda f: jax.grad(lambda *a: jnp.sum(jnp.sin(f(*a))),  # noqa: E731
                              argnums=tuple(range(len(args))))(*args)
    for a, b in zip(jax.tree.leaves(loss(library)), jax.tree.leaves(loss(plain))):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_twin_critics_loop_equals_vmap():
    net = paco.make_paco_net(6, 1, (8, 8), 3)
    params = jax.vmap(net.init)(jax.random.split(jax.random.PRNGKey(0), 2))
    x = jax.random.normal(jax.random.PRNGKey(1), (T, N, 6))
    shared = jax.random.normal(jax.random.PRNGKey(2), (T, 3))      # each group's w (G, K)
    onehot = task_onehots(T, N)
    apply = lambda form: (lambda p, s: form(net, p, x, onehot, None, {"shared": s}))  # noqa
    out = apply(twin_apply_loop)(params, shared)
    assert out.shape == (2, T, N, 1) and not np.allclose(out[0], out[1])
    close_in_value_and_gradient(apply(twin_apply_loop), apply(twin_apply_vmap), params, shared)


def test_paco_hand_written_gradient_equals_autodiff():
    phi = jax.random.normal(jax.random.PRNGKey(3), (4, 7, 6))
    w = jax.random.normal(jax.random.PRNGKey(4), (T, 4))
    close_in_value_and_gradient(paco.compose_params, paco.compose_params_autodiff, phi, w)


def test_d2r_running_max_selection_equals_top_k_including_ties():
    n, k = 6, 2
    cand = d2r.candidate_mask(n)
    scores = jax.random.normal(jax.random.PRNGKey(5), (T, N, n, n))
    scores = scores.at[0, 0, 5, jnp.array([3, 1])].set(10.0)       # a tie on top: lower first
    ours = np.asarray(d2r.select_sources(scores, k, cand))
    np.testing.assert_array_equal(ours, d2r.select_sources_top_k(scores, k, cand))
    np.testing.assert_array_equal(ours[0, 0, 5], [1, 3])
    assert (ours[..., 0, :] == [0, -1]).all()                      # row 0: one candidate


def test_care_side_by_side_mixture_equals_vmap():
    for sizes in ((7, 5), (7, 5, 4), (7, 6, 5, 4)):
        encoders = mlp_layers(StackedMLPParams(sizes, 3).init(jax.random.PRNGKey(7))["params"])
        state = jax.random.normal(jax.random.PRNGKey(8), (T, N, 7))
        alpha = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(9), (T, 3)), -1)
        close_in_value_and_gradient(lambda e, a: care.mix_encoders(e, state, a),
                                    lambda e, a: care.mix_encoders_vmap(e, state, a),
                                    encoders, alpha)
