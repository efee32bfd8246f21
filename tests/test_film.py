"""FiLM: shapes, task-dependent modulation, per-layer scalars, initialisation, a hand-computed
encoder, and learning on point-mt."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.agents.sac import task_onehots
from mtrl_jax.config import Config, resolve
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.methods import build_method
from mtrl_jax.nets.base import linen_network, mlp_apply, mlp_layers
from mtrl_jax.nets.film import FiLMTorso
from init_checks import check_fan_in_uniform

T, N, OBS, ACT = 4, 3, 7, 2
EMBED, ENCODER, GENERATOR, HIDDEN = 6, (10, 8, 5), (9, 9), (16, 16)


def torso(per_layer, in_dim=OBS, out_dim=2 * ACT):
    return FiLMTorso(in_dim, T, out_dim, HIDDEN, EMBED, ENCODER, GENERATOR, per_layer)


def init(module, seed=0):
    return linen_network(module, module.in_dim, T).init(jax.random.PRNGKey(seed))


def inputs(dim=OBS, seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), (T, N, dim))


def modulation(module, params, tasks):
    onehot = jax.nn.one_hot(jnp.asarray(tasks), T)
    return module.apply(params, onehot, method=FiLMTorso.modulation)


@pytest.mark.parametrize("per_layer", [False, True])
def test_actor_and_critic_shapes_and_modulation_shapes(per_layer):
    cfg = resolve(Config(algo="film", env="point-mt", hidden=HIDDEN, film_embed_dim=EMBED,
                         film_encoder_hidden=ENCODER, film_generator_hidden=GENERATOR,
                         film_per_layer=per_layer))
    method = build_method(cfg, EnvSpec.sized(OBS, ACT, T))
    for net, dim, out_dim in ((method.networks.actor, OBS, 2 * ACT),
                              (method.networks.critic, OBS + ACT, 1)):
        params = net.init(jax.random.PRNGKey(1))
        out, aux = net.apply(params, inputs(dim), task_onehots(T, N), None, {})
        assert out.shape == (T, N, out_dim) and aux == {}
        assert params["params"]["encoder_0"]["kernel"].shape == (dim, ENCODER[0])
        gammas, betas = modulation(torso(per_layer, dim, out_dim), params, np.arange(T))
        sizes = [1] * len(ENCODER) if per_layer else list(ENCODER)
        assert [g.shape for g in gammas] == [b.shape for b in betas] == [(T, m) for m in sizes]


@pytest.mark.parametrize("per_layer", [False, True])
def test_only_the_task_changes_gamma_beta_and_the_output(per_layer):
    module = torso(per_layer)
    params = init(module)
    gammas, betas = modulation(module, params, np.arange(T))
    for g, b in zip(gammas, betas):
        assert np.abs(np.asarray(g[0] - g[1])).max() > 1e-5
        assert np.abs(np.asarray(b[0] - b[1])).max() > 1e-5
    same_g, same_b = modulation(module, params, [2, 2, 2])
    for rows, ref in ((same_g, gammas), (same_b, betas)):
        for x, r in zip(rows, ref):
            np.testing.assert_array_equal(x, jnp.broadcast_to(x[:1], x.shape))
            np.testing.assert_allclose(x[0], r[2], rtol=1e-6, atol=1e-6)
    obs = jnp.broadcast_to(inputs()[:1], (T, N, OBS))       # one observation batch, every task
    out, _ = module.apply(params, obs, task_onehots(T, N), None, {})
    assert np.abs(np.asarray(out[0] - out[1])).max() > 1e-5
    # the per-group modulation is the per-row one: each row alone in its group gives the same
    rows, _ = module.apply(params, obs.reshape(T * N, 1, OBS),
                           task_onehots(T, N).reshape(T * N, 1, T), None, {})
    np.testing.assert_allclose(rows.reshape(out.shape), out, rtol=1e-5, atol=1e-6)


def test_per_layer_mode_emits_one_scalar_gamma_and_beta_per_layer():
    module = torso(True)
    params = init(module)
    last = params["params"]["generator"][f"layers_{len(GENERATOR)}"]
    assert last["kernel"].shape == (GENERATOR[-1], 2 * len(ENCODER))
    gammas, betas = modulation(module, params, np.arange(T))
    assert len(gammas) == len(betas) == len(ENCODER)
    assert all(g.shape == b.shape == (T, 1) for g, b in zip(gammas, betas))
    per_unit = init(torso(False))["params"]["generator"][f"layers_{len(GENERATOR)}"]
    assert per_unit["kernel"].shape == (GENERATOR[-1], 2 * sum(ENCODER))


@pytest.mark.parametrize("per_layer", [False, True])
def test_every_layer_has_the_pytorch_fan_in_init(per_layer):
    module = FiLMTorso(OBS, 10, 8, (400, 400), 50, (50, 50, 50), (50, 50), per_layer)
    p = linen_network(module, OBS, 10).init(jax.random.PRNGKey(3))["params"]
    layers = {f"encoder_{i}": p[f"encoder_{i}"] for i in range(3)}
    layers |= {f"{m}/{k}": v for m in ("generator", "torso") for k, v in p[m].items()}
    assert len(layers) == 3 + 3 + 3
    for name, layer in layers.items():
        fan_in = layer["kernel"].shape[0]
        check_fan_in_uniform(layer["kernel"], fan_in, f"{name}/kernel")
        check_fan_in_uniform(layer["bias"], fan_in, f"{name}/bias")
    assert p["torso"]["layers_0"]["kernel"].shape == (50 + 50, 400)
    check_fan_in_uniform(p["embedding"], 10, "embedding")


@pytest.mark.parametrize("per_layer", [False, True])
def test_encoder_and_output_match_a_hand_computation_with_known_gamma_beta(per_layer):
    module = torso(per_layer)
    params = init(module, seed=4)
    sizes = [1] * len(ENCODER) if per_layer else list(ENCODER)
    rng = np.random.default_rng(0)
    raw_gamma = [rng.uniform(-2, 2, m).astype(np.float32) for m in sizes]
    beta = [rng.uniform(-1, 1, m).astype(np.float32) for m in sizes]
    p = params["params"]
    last = f"layers_{len(GENERATOR)}"
    p["generator"][last] = {"kernel": jnp.zeros_like(p["generator"][last]["kernel"]),
                            "bias": jnp.asarray(np.concatenate(raw_gamma + beta))}
    gamma = raw_gamma if per_layer else [1 + g for g in raw_gamma]
    obs, t = np.asarray(inputs(seed=5)), 2
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    x = obs[t].astype(np.float64)
    for i in range(len(ENCODER)):
        layer = p[f"encoder_{i}"]
        x = x @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"], np.float64)
        activate = i < len(ENCODER) - 1
        if activate and per_layer:
            x = relu(x)
        x = gamma[i] * x + beta[i]
        if activate and not per_layer:
            x = relu(x)
    encoded = module.apply(params, jnp.asarray(obs), jnp.eye(T), method=FiLMTorso.encode)
    np.testing.assert_allclose(encoded[t], x, rtol=1e-5, atol=1e-5)
    out, _ = module.apply(params, jnp.asarray(obs), task_onehots(T, N), None, {})
    e = relu(np.asarray(p["embedding"][t]))
    trunk_in = np.concatenate([x, np.broadcast_to(e, (N, EMBED))], axis=-1)
    expected = mlp_apply(mlp_layers(p["torso"]), jnp.asarray(trunk_in, jnp.float32))
    np.testing.assert_allclose(out[t], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.learning
def test_film_learns_the_point_mt_suite():
    from learning_utils import train_point_mt
    summary = train_point_mt("film", early_stop_success=0.9)
    assert summary["mean_success"] >= 0.9, summary["eval_success"]
