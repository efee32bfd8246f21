import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm

from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.config import Config, resolve
from mtrl_jax.methods import make_agent
from mtrl_jax.nets.multihead import make_multihead
from mtrl_jax.nets.policy import sample_tanh_gaussian, tanh_gaussian_log_prob

T, N, OBS, ACT = 2, 3, 3, 2


def test_tanh_gaussian_log_prob_matches_numerical_change_of_variables():
    rng = np.random.default_rng(0)
    mean, log_std = rng.normal(size=3), rng.normal(scale=0.5, size=3)
    u = rng.normal(size=3)
    a = np.tanh(u)
    # density of a: Gaussian density of u over |det da/du|, the Jacobian by finite differences
    h = 1e-6
    jac = (np.tanh(u + h) - np.tanh(u - h)) / (2 * h)
    reference = norm.logpdf(u, mean, np.exp(log_std)).sum() - np.log(jac).sum()
    got = tanh_gaussian_log_prob(jnp.asarray(a), jnp.asarray(mean), jnp.asarray(log_std))
    np.testing.assert_allclose(float(got), reference, rtol=1e-4)
    # the sampler's log-prob is the same function at the sampled action
    key = jax.random.PRNGKey(4)
    act, logp = sample_tanh_gaussian(key, jnp.asarray(mean, jnp.float32),
                                     jnp.asarray(log_std, jnp.float32))
    np.testing.assert_allclose(float(logp), float(tanh_gaussian_log_prob(act, mean, log_std)),
                               rtol=1e-4)


def exact_log_prob(action, mean, log_std):
    """log pi(a) = log N(atanh a; mean, std) - sum log(1 - a^2), in float64."""
    a, mean, log_std = (np.asarray(x, np.float64) for x in (action, mean, log_std))
    z = (np.arctanh(a) - mean) / np.exp(log_std)
    return np.sum(-0.5 * z * z - log_std - 0.5 * np.log(2 * np.pi) - np.log1p(-a * a), -1)


def test_distrax_policy_log_prob_equals_the_exact_formula_up_to_0999():
    rng = np.random.default_rng(1)
    A, rows = 4, 4000
    mean = np.tanh(rng.normal(size=(rows, A))).astype(np.float32)
    log_std = rng.uniform(-3.0, 2.0, size=(rows, A)).astype(np.float32)
    a = rng.uniform(-0.999, 0.999, size=(rows, A)).astype(np.float32)
    a[:20] = 0.999
    a[20:40] = -0.999
    a[40:60, ::2] = 0.999
    got = np.asarray(tanh_gaussian_log_prob(jnp.asarray(a), jnp.asarray(mean),
                                            jnp.asarray(log_std), eps=0.0))
    assert got.dtype == np.float32
    exact = exact_log_prob(a, mean, log_std)
    error = np.abs(got - exact) / np.maximum(1.0, np.abs(exact))
    assert error.max() < 1e-5, error.max()
    # sample_and_log_prob: the sample is tanh(u), u = mean + std eps, and its log-prob is the
    # exact one of u (float64, from u itself: the float32 action rounds atanh(a) away from u)
    key = jax.random.PRNGKey(2)
    act, logp = sample_tanh_gaussian(key, jnp.asarray(mean), jnp.asarray(log_std))
    eps = np.asarray(jax.random.normal(key, mean.shape), np.float64)
    u = mean.astype(np.float64) + np.exp(log_std.astype(np.float64)) * eps
    np.testing.assert_allclose(act, np.tanh(u), atol=1e-6)
    exact = np.sum(-0.5 * eps * eps - log_std - 0.5 * np.log(2 * np.pi)
                   - 2.0 * (np.log(2.0) - u - np.logaddexp(0.0, -2.0 * u)), -1)
    error = np.abs(np.asarray(logp) - exact) / np.maximum(1.0, np.abs(exact))
    assert error.max() < 1e-5, error.max()
    assert np.mean(np.abs(np.asarray(act)) > 0.999) > 0.05     # saturated samples are covered
    assert np.all(np.isfinite(np.asarray(logp)))        # saturated samples too


def linear_cfg(**kw):
    return resolve(Config(algo="mtsac", env="point-mt", hidden=(), **kw))


def tiny_batch(seed=0, terminated=None, truncated=None):
    rng = np.random.default_rng(seed)
    f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)  # noqa: E731
    zeros = jnp.zeros((T, N), bool)
    return {"obs": f(T, N, OBS), "action": jnp.tanh(f(T, N, ACT)), "reward": f(T, N),
            "next_obs": f(T, N, OBS),
            "terminated": zeros if terminated is None else terminated,
            "truncated": zeros if truncated is None else truncated, "stored": {}}


def setup(cfg, key=0):
    sac = make_agent(cfg, EnvSpec.sized(OBS, ACT, T))
    state = sac.init(jax.random.PRNGKey(key))
    # a target critic different from the critic, so that the test can tell them apart
    state = state._replace(target_critic=jax.tree.map(lambda x: 0.5 * x + 0.1, state.critic))
    return sac, state


def np_linear(layer, x):
    return x @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"], np.float64)


def first_layer(params):
    """The first dense layer of an MT-SAC network's variables."""
    return params["params"]["mlp"]["layers_0"]


def hand_losses(state, batch, key, cfg):
    """The per-task SAC losses of the module docstring, in float64 numpy with the update's noise."""
    k_loss, _ = jax.random.split(key)
    k_next, _, k_pi = jax.random.split(k_loss, 3)
    eps = lambda k: np.asarray(jax.random.normal(jax.random.split(k)[1], (T, N, ACT)), np.float64)  # noqa: E731
    onehot = np.broadcast_to(np.eye(T)[:, None], (T, N, T))
    alpha = np.exp(np.asarray(state.log_alpha, np.float64))[:, None]
    b = {k: np.asarray(v, np.float64) for k, v in batch.items() if k != "stored"}

    def policy(obs, noise):
        out = np_linear(first_layer(state.actor), np.concatenate([obs, onehot], -1))
        mean, log_std = out[..., :ACT], np.clip(out[..., ACT:], cfg.log_std_min, cfg.log_std_max)
        u = mean + np.exp(log_std) * noise
        logp = (norm.logpdf(u, mean, np.exp(log_std)) - np.log(1 - np.tanh(u) ** 2)).sum(-1)
        return np.tanh(u), logp

    def q(params, obs, act):
        x = np.concatenate([obs, act, onehot], -1)
        return np.stack([np_linear(jax.tree.map(lambda p: p[j], first_layer(params)), x)[..., 0]
                         for j in range(2)])

    next_a, next_logp = policy(b["next_obs"], eps(k_next))
    target_q = q(state.target_critic, b["next_obs"], next_a).min(0)
    y = b["reward"] + cfg.gamma * (1 - b["terminated"]) * (target_q - alpha * next_logp)
    critic = ((q(state.critic, b["obs"], b["action"]) - y) ** 2).mean(2).sum(0)
    pi_a, logp = policy(b["obs"], eps(k_pi))
    actor = (alpha * logp - q(state.critic, b["obs"], pi_a).min(0)).mean(1)
    log_alpha = np.asarray(state.log_alpha, np.float64)[:, None]
    alpha_loss = (-log_alpha * (logp - ACT)).mean(1)
    return critic, actor, alpha_loss


def test_one_update_equals_hand_computation():
    cfg = linear_cfg(log_std_min=-2.0)
    sac, state = setup(cfg)
    state = state._replace(log_alpha=jnp.array([0.3, -0.7]))
    batch = tiny_batch(terminated=jnp.array([[True, False, False], [False, False, True]]))
    key = jax.random.PRNGKey(7)
    new, info = jax.jit(sac.update)(state, batch, key)
    critic, actor, alpha_loss = hand_losses(state, batch, key, cfg)
    np.testing.assert_allclose(info["critic_loss"], critic, rtol=1e-4)
    np.testing.assert_allclose(info["actor_loss"], actor, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(info["alpha_loss"], alpha_loss, rtol=1e-4, atol=1e-6)
    # Adam's first step moves every parameter by lr against the sign of its gradient
    g_alpha = -(np.asarray(info["entropy"]) * -1 - ACT) / T     # d total / d log_alpha_t
    np.testing.assert_allclose(new.log_alpha, state.log_alpha - cfg.alpha_lr * np.sign(g_alpha),
                               atol=1e-7)
    # Polyak averaging of the target critics with the updated critics
    expected = jax.tree.map(lambda t, c: (1 - cfg.tau) * t + cfg.tau * c,
                            state.target_critic, new.critic)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), new.target_critic,
                 expected)
    assert int(new.steps) == 1


def test_target_bootstraps_through_truncation_not_termination():
    cfg = linear_cfg()
    sac, state = setup(cfg)
    key = jax.random.PRNGKey(3)
    update = jax.jit(sac.update)
    ones = jnp.ones((T, N), bool)
    base = update(state, tiny_batch(), key)[1]["critic_loss"]
    truncated = update(state, tiny_batch(truncated=ones), key)[1]["critic_loss"]
    terminated = update(state, tiny_batch(terminated=ones), key)[1]["critic_loss"]
    np.testing.assert_allclose(truncated, base, rtol=1e-6)     # truncation changes nothing
    assert np.all(np.abs(np.asarray(terminated) - np.asarray(base)) > 1e-4)
    batch = tiny_batch(terminated=ones)
    np.testing.assert_allclose(terminated, hand_losses(state, batch, key, cfg)[0], rtol=1e-4)


def test_alpha_moves_toward_the_target_entropy():
    cfg = linear_cfg()
    sac, state = setup(cfg)
    layer = first_layer(state.actor)

    def with_log_std(value):
        w = jnp.zeros_like(layer["kernel"])                  # mean 0, log-std = value
        b = jnp.zeros_like(layer["bias"]).at[ACT:].set(value)
        return state._replace(actor={"params": {"mlp": {"layers_0": {"kernel": w, "bias": b}}}})

    update = jax.jit(sac.update)
    narrow, _ = update(with_log_std(-8.0), tiny_batch(), jax.random.PRNGKey(0))
    wide, _ = update(with_log_std(0.0), tiny_batch(), jax.random.PRNGKey(0))
    assert np.all(np.asarray(narrow.log_alpha) > 0)   # entropy below -|A|: alpha grows
    assert np.all(np.asarray(wide.log_alpha) < 0)     # entropy above -|A|: alpha shrinks


def test_multihead_gradient_reaches_only_its_own_head():
    net = make_multihead(OBS, 3, 2, (8, 8))
    params = net.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (1, 4, OBS))
    onehot = jnp.broadcast_to(jnp.eye(3)[1], (1, 4, 3))   # one group of task 1

    def loss(p):
        return jnp.sum(net.apply(p, obs, onehot, None, {})[0] ** 2)

    g = jax.grad(loss)(params)
    heads = g["params"]["heads"]
    head_norms = np.linalg.norm(np.asarray(heads["kernel"]).reshape(3, -1), axis=1)
    assert head_norms[1] > 0 and head_norms[0] == 0 and head_norms[2] == 0
    assert np.all(np.asarray(heads["bias"])[[0, 2]] == 0)
    trunk = g["params"]["trunk"]["layers_0"]["kernel"]
    assert np.linalg.norm(np.asarray(trunk)) > 0                      # the trunk is shared


def test_task_weighting_is_softmax_of_minus_log_alpha():
    cfg = linear_cfg(task_weighting=True)
    sac, state = setup(cfg)
    state = state._replace(log_alpha=jnp.array([0.0, jnp.log(3.0)]))
    _, info = jax.jit(sac.update)(state, tiny_batch(), jax.random.PRNGKey(0))
    w = np.exp([0.0, -np.log(3.0)])
    np.testing.assert_allclose(info["task_weight"], T * w / w.sum(), rtol=1e-6)
