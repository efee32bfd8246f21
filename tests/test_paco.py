"""PaCo: composition, identical-copy initialisation, loss mask-out through the real SAC loss,
w-reset, and learning on point-mt."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mtrl_jax.agents import sac as sac_module
from mtrl_jax.agents.sac import make_sac, network_extra, task_onehots
from mtrl_jax.config import Config, resolve
from mtrl_jax.agents import paco as paco_hooks
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.methods import build_method
from mtrl_jax.nets import paco
from mtrl_jax.nets.base import mlp_apply, mlp_layers

T, OBS, ACT, K = 5, 7, 2, 5


def paco_cfg(**changes):
    return resolve(Config(algo="paco", env="point-mt", hidden=(32, 32), **changes))


def paco_method(cfg, obs_dim, act_dim, num_tasks):
    return build_method(cfg, EnvSpec.sized(obs_dim, act_dim, num_tasks))


def group_inputs(key, n=6):
    obs = jax.random.normal(key, (T, n, OBS))
    return obs, task_onehots(T, n)


def init_layers(key, sizes):
    """The PacoMLP's layers [{"phi": (K, out, in), "bias": (K, out)}, ...] as initialised."""
    params = paco.make_paco_net(sizes[0], sizes[-1], sizes[1:-1], K).init(key)
    return mlp_layers(params["params"])


def test_layers_have_k_identical_copies_and_paper_shapes():
    layers = init_layers(jax.random.key(0), (OBS, 32, 4))
    assert [l["phi"].shape for l in layers] == [(K, 32, OBS), (K, 4, 32)]
    assert [l["bias"].shape for l in layers] == [(K, 32), (K, 4)]
    for layer in layers:
        np.testing.assert_array_equal(layer["phi"], jnp.broadcast_to(layer["phi"][0], layer["phi"].shape))
        np.testing.assert_array_equal(layer["bias"], jnp.broadcast_to(layer["bias"][0], layer["bias"].shape))
    # the copies are a real initialisation, not zeros
    assert float(jnp.std(layers[0]["phi"][0])) > 0.1


def test_init_is_fan_in_uniform_tiled_k_times_and_w_is_n01():
    """Actor and critic trees, every leaf within +-1/sqrt(fan-in) of its layer and not degenerate,
    the K copies identical, phi and bias independent draws; w (T, K) N(0, 1)."""
    cfg = resolve(Config(algo="paco", env="point-mt", hidden=(64, 48)))
    nets = paco_method(cfg, OBS, ACT, T).networks
    for net, in_dim, out_dim in ((nets.actor, OBS, 2 * ACT), (nets.critic, OBS + ACT, 1)):
        params = net.init(jax.random.key(40))
        assert list(params) == ["params"] and list(params["params"]) == [
            "layers_0", "layers_1", "layers_2"]
        sizes = (in_dim, 64, 48, out_dim)
        for layer, fan_in, out in zip(mlp_layers(params["params"]), sizes[:-1], sizes[1:]):
            assert set(layer) == {"phi", "bias"}
            assert layer["phi"].shape == (K, out, fan_in) and layer["bias"].shape == (K, out)
            bound = 1.0 / np.sqrt(fan_in)
            for leaf in (layer["phi"], layer["bias"]):
                leaf = np.asarray(leaf)
                assert np.all(np.abs(leaf) <= bound)
                if leaf[0].size > 1:
                    assert np.abs(leaf).max() > 0.5 * bound
                    assert np.unique(leaf[0]).size == leaf[0].size
                for k in range(1, K):
                    np.testing.assert_array_equal(leaf[k], leaf[0])
            if out > 1:
                assert not np.allclose(layer["phi"][0, :, 0], layer["bias"][0])
    shared = nets.shared.init(jax.random.key(41))
    assert list(shared) == ["params"] and list(shared["params"]) == ["w"]
    w = np.asarray(shared["params"]["w"])
    assert w.shape == (T, K) and np.unique(w).size == T * K
    big = np.asarray(paco_method(paco_cfg(paco_k=400), OBS, ACT, 50).networks.shared.init(
        jax.random.key(42))["params"]["w"])
    assert big.shape == (50, 400)
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1.0) < 0.02
    assert abs(float(np.mean(np.abs(big) < 1.0)) - 0.6827) < 0.01   # N(0, 1), not uniform
    # the shared module is the one linear map: group one-hot (G, T) -> rows of w
    rows = nets.shared.apply(shared, jnp.eye(T)[jnp.array([3, 0])])
    np.testing.assert_array_equal(rows, w[[3, 0]])


def test_composed_forward_equals_mixed_preactivation_forward():
    k_layers, k_w, k_x, k_noise = jax.random.split(jax.random.key(1), 4)
    layers = init_layers(k_layers, (OBS, 32, 32, 4))
    # make the K copies different so that the composition matters
    layers = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(k_noise, p.shape), layers)
    w = jax.random.normal(k_w, (T, K))
    x = jax.random.normal(k_x, (T, 6, OBS))
    composed = jax.jit(paco.composed_apply)(layers, w, x)
    mixed = jax.jit(paco.mixed_preactivation_apply)(layers, w, x)
    assert composed.shape == (T, 6, 4)
    np.testing.assert_allclose(composed, mixed, atol=1e-5, rtol=1e-5)
    # hand-composed in float64 for one group: W_t = sum_k w_t[k] Phi[k]
    t = 3
    layers64, w64 = jax.tree.map(lambda a: np.asarray(a, np.float64), (layers, w))
    h = np.asarray(x[t], np.float64)
    for i, layer in enumerate(layers64):
        weight = sum(w64[t, k] * layer["phi"][k] for k in range(K))
        bias = sum(w64[t, k] * layer["bias"][k] for k in range(K))
        h = h @ weight.T + bias
        h = np.maximum(h, 0.0) if i < len(layers) - 1 else h
    np.testing.assert_allclose(composed[t], h, atol=1e-5, rtol=1e-5)


def test_compose_params_gradient_equals_autodiff_of_the_plain_sum():
    """The hand-written VJP of compose_params against autodiff of sum_k w[g, k] phi[k]."""
    k_phi, k_w, k_d = jax.random.split(jax.random.key(7), 3)
    phi = jax.random.normal(k_phi, (K, 5, 3))
    w = jax.random.normal(k_w, (T, K))
    probe = jax.random.normal(k_d, (T, 5, 3))          # a random cotangent for the output

    def plain(phi, w):
        return sum(w[:, k, None, None] * phi[k] for k in range(K))

    np.testing.assert_allclose(paco.compose_params(phi, w), plain(phi, w), atol=1e-6)
    ours = jax.grad(lambda p, v: jnp.sum(probe * paco.compose_params(p, v)), (0, 1))(phi, w)
    ref = jax.grad(lambda p, v: jnp.sum(probe * plain(p, v)), (0, 1))(phi, w)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    # by hand for one entry: d/dw[g, k] = <probe[g], phi[k]>
    np.testing.assert_allclose(ours[1][2, 1], jnp.sum(probe[2] * phi[1]), rtol=1e-5)


def test_identical_copies_make_every_task_the_base_network_scaled_by_sum_w():
    cfg = paco_cfg()
    method = paco_method(cfg, OBS, ACT, T)
    params = method.networks.actor.init(jax.random.key(2))
    shared = method.networks.shared.init(jax.random.key(3))
    w = shared["params"]["w"]
    assert w.shape == (T, K)
    obs, onehot = group_inputs(jax.random.key(4))
    net = method.networks.actor
    extra = lambda s: network_extra(method.networks, "eval", s, jnp.zeros(T), onehot)  # noqa: E731
    actor = jax.jit(lambda p, o, s: net.apply(p, o, onehot, None, extra(s))[0])
    out = actor(params, obs, shared)
    scale = w.sum(axis=1)                                                    # (T,)

    @jax.jit
    def base_net(s, x):   # the plain MLP of the first copy, every weight and bias times s
        return mlp_apply([{"kernel": s * l["phi"][0].T, "bias": s * l["bias"][0]}
                          for l in mlp_layers(params["params"])], x)

    for t in range(T):
        np.testing.assert_allclose(out[t], base_net(scale[t], obs[t]), atol=1e-5, rtol=1e-4)
    # two tasks with the same sum of w compute the same function on the same input
    w_equal = w.at[1].set(w[0][::-1])
    same_obs = jnp.broadcast_to(obs[0], obs.shape)
    out = actor(params, same_obs, {"params": {"w": w_equal}})
    np.testing.assert_allclose(out[0], out[1], atol=1e-5, rtol=1e-5)
    assert not np.allclose(out[0], out[2], atol=1e-3)


def test_w_is_n01_and_shared_by_actor_and_critic():
    cfg = paco_cfg()
    method = paco_method(resolve(Config(algo="paco", env="point-mt", paco_k=400)),
                              OBS, ACT, 50)
    w = method.networks.shared.init(jax.random.key(5))["params"]["w"]
    assert abs(float(w.mean())) < 0.02 and abs(float(w.std()) - 1.0) < 0.02
    # the critic reads the same w: changing w changes the critic's output
    method = paco_method(cfg, OBS, ACT, T)
    critic = method.networks.critic.init(jax.random.key(6))
    shared = method.networks.shared.init(jax.random.key(7))
    obs, onehot = group_inputs(jax.random.key(8))
    w_g = method.networks.shared.apply(shared, onehot[:, 0])                 # (G, K)
    np.testing.assert_array_equal(w_g, shared["params"]["w"])               # group g is task g
    x = jnp.concatenate([obs, jnp.zeros((T, 6, ACT))], -1)
    net = method.networks.critic
    q1, _ = net.apply(critic, x, onehot, None, {"shared": w_g})
    q2, _ = net.apply(critic, x, onehot, None, {"shared": w_g * 2.0})
    assert q1.shape == (T, 6, 1) and not np.allclose(q1, q2)


# --- mask-out through the real SAC loss -------------------------------------------------------

def sgd_grads(monkeypatch, method, cfg, state, batch, key):
    """The gradient the real SAC update applies: with SGD(lr=1) the step is params - grad."""
    monkeypatch.setattr(sac_module, "make_optimizer", lambda *args, **kwargs: optax.sgd(1.0))
    sac = make_sac(method.networks, cfg, T, ACT, method.hooks)
    new, info = jax.jit(sac.update)(state, batch, key)
    grads = jax.tree.map(lambda a, b: a - b, (state.actor, state.critic, state.shared),
                         (new.actor, new.critic, new.shared))
    return grads, info


def make_batch(key, n=8, exploding_task=0, reward=1e3):
    ks = jax.random.split(key, 4)
    reward_ = jax.random.uniform(ks[0], (T, n)).at[exploding_task].set(reward)
    return {"obs": jax.random.normal(ks[1], (T, n, OBS)),
            "action": jax.random.uniform(ks[2], (T, n, ACT), minval=-1, maxval=1),
            "reward": reward_, "next_obs": jax.random.normal(ks[3], (T, n, OBS)),
            "terminated": jnp.zeros((T, n), bool), "truncated": jnp.zeros((T, n), bool),
            "stored": {}}


def flat(tree):
    return jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)])


def test_maskout_removes_exactly_the_exploded_tasks_gradient(monkeypatch):
    cfg = paco_cfg(paco_reset=False)
    method = paco_method(cfg, OBS, ACT, T)
    state = make_sac(method.networks, cfg, T, ACT, method.hooks).init(jax.random.key(10))
    batch, key = make_batch(jax.random.key(11)), jax.random.key(12)

    masked, info = sgd_grads(monkeypatch, method, cfg, state, batch, key)
    assert float(info["task_loss"][0]) > cfg.paco_epsilon
    assert np.all(np.asarray(info["task_loss"][1:]) < cfg.paco_epsilon)
    np.testing.assert_array_equal(info["task_mask"], [0, 1, 1, 1, 1])

    with_mask = lambda m: method._replace(hooks=method.hooks._replace(task_loss_mask=m))  # noqa: E731
    no_mask, _ = sgd_grads(monkeypatch, with_mask(None), cfg, state, batch, key)
    only_0 = with_mask(lambda l: jnp.eye(T)[0])
    exploded_grad, _ = sgd_grads(monkeypatch, only_0, cfg, state, batch, key)
    others = with_mask(lambda l: 1.0 - jnp.eye(T)[0])
    others_grad, _ = sgd_grads(monkeypatch, others, cfg, state, batch, key)

    for part in range(2):   # actor Phi, critic Phi
        g_mask, g_all = flat(masked[part]), flat(no_mask[part])
        g_0, g_rest = flat(exploded_grad[part]), flat(others_grad[part])
        scale = float(jnp.max(jnp.abs(g_0)))
        assert scale > 0
        if part == 1:   # the huge reward makes task 0's critic gradient dominate
            assert scale > 10 * float(jnp.max(jnp.abs(g_mask)))
        # mask-out keeps exactly the other tasks' gradient ...
        np.testing.assert_allclose(g_mask, g_rest, atol=1e-6, rtol=1e-5)
        assert float(jnp.max(jnp.abs(g_mask))) > 0
        # ... and what it removed is exactly the exploded task's gradient
        np.testing.assert_allclose(g_mask + g_0, g_all, atol=1e-5 * scale)
    # w: the exploded task's row gets no gradient, the others' rows are untouched by mask-out
    g_w, g_w_all = masked[2]["params"]["w"], no_mask[2]["params"]["w"]
    np.testing.assert_array_equal(g_w[0], 0.0)
    assert float(jnp.max(jnp.abs(g_w_all[0]))) > 0
    np.testing.assert_allclose(g_w[1:], g_w_all[1:], atol=1e-6, rtol=1e-5)
    assert np.all(np.asarray(jnp.max(jnp.abs(g_w[1:]), axis=1)) > 0)


def test_maskout_switch_off_keeps_all_tasks():
    cfg = paco_cfg(paco_maskout=False, paco_reset=False)
    method = paco_method(cfg, OBS, ACT, T)
    assert method.hooks.task_loss_mask is None and method.hooks.post_update is None
    on = paco_method(paco_cfg(), OBS, ACT, T)
    mask = on.hooks.task_loss_mask(jnp.array([1.0, 3e3, 3001.0, jnp.nan, -5.0]))
    np.testing.assert_array_equal(mask, [1, 1, 0, 0, 1])


# --- w-reset ------------------------------------------------------------------------------------

def test_w_reset_is_a_convex_combination_of_healthy_w_and_touches_nothing_else():
    cfg = paco_cfg()
    method = paco_method(cfg, OBS, ACT, T)
    state = make_sac(method.networks, cfg, T, ACT, method.hooks).init(jax.random.key(20))
    loss = jnp.array([1.0, 5e3, 2.0, jnp.inf, 3.0])
    info = {"task_loss": loss, "task_mask": method.hooks.task_loss_mask(loss)}
    new = jax.jit(method.hooks.post_update)(state, info, jax.random.key(21))

    w_old, w_new = np.asarray(state.shared["params"]["w"]), np.asarray(new.shared["params"]["w"])
    healthy, bad = [0, 2, 4], [1, 3]
    np.testing.assert_array_equal(w_new[healthy], w_old[healthy])
    basis = w_old[healthy].T                                              # (K, |V|)
    betas = []
    for t in bad:
        beta, *_ = np.linalg.lstsq(basis, w_new[t], rcond=None)
        np.testing.assert_allclose(basis @ beta, w_new[t], atol=1e-5)
        assert np.all(beta >= -1e-6) and abs(beta.sum() - 1.0) < 1e-5
        assert not np.allclose(w_new[t], w_old[t])
        betas.append(beta)
    assert not np.allclose(betas[0], betas[1])   # independent draws per exploded task

    rest = lambda s: [s.actor, s.critic, s.target_critic, s.log_alpha, s.actor_opt,
                      s.critic_opt, s.shared_opt, s.alpha_opt, s.steps]
    for a, b in zip(jax.tree.leaves(rest(state)), jax.tree.leaves(rest(new))):
        np.testing.assert_array_equal(a, b)

    # nothing exploded: nothing changes
    calm = {"task_loss": jnp.ones(T), "task_mask": jnp.ones(T)}
    unchanged = method.hooks.post_update(state, calm, jax.random.key(1))
    np.testing.assert_array_equal(unchanged.shared["params"]["w"], w_old)


def test_w_reset_weights_are_uniform_on_the_simplex():
    w = jnp.concatenate([jnp.eye(3), jnp.zeros((1, 3))])    # rows 0-2 healthy, beta = new row 3
    bad = jnp.array([False, False, False, True])
    keys = jax.random.split(jax.random.key(30), 4000)
    beta = np.asarray(jax.vmap(lambda k: paco_hooks.reset_w(w, bad, k)[3])(keys))
    # Dirichlet(1, 1, 1): each coordinate is Beta(1, 2): mean 1/3, variance 1/18
    np.testing.assert_allclose(beta.mean(0), 1 / 3, atol=0.015)
    np.testing.assert_allclose(beta.var(0), 1 / 18, atol=0.005)
    np.testing.assert_allclose(beta.sum(1), 1.0, atol=1e-6)
    # P(beta_0 < 1/2) = 1 - (1/2)^2 = 3/4 for Beta(1, 2)
    assert abs(float(np.mean(beta[:, 0] < 0.5)) - 0.75) < 0.03


@pytest.mark.learning
def test_paco_learns_point_mt():
    from learning_utils import train_point_mt
    summary = train_point_mt("paco", early_stop_success=0.8)
    assert summary["mean_success"] >= 0.8, summary["eval_success"]
