"""Soft Modularization: routing probabilities, task/state conditioning, shapes, a loop-by-loop
reference forward, and learning on point-mt."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.agents.sac import task_onehots
from mtrl_jax.config import Config, resolve
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.methods import build_method
from mtrl_jax.nets import soft_modules
from init_checks import check_fan_in_uniform

T, OBS, ACT, N = 5, 7, 2, 3


def make_net(layers, modules, width=16):
    return soft_modules.make_soft_modules(OBS, T, 2 * ACT, embed_dim=24, gate_width=20,
                                          num_layers=layers, num_modules=modules,
                                          module_width=width)


def forward(net, params, obs, onehot=None):
    onehot = task_onehots(T, obs.shape[1]) if onehot is None else onehot
    return jax.jit(lambda p, o, h: net.apply(p, o, h, None, {}))(params, obs, onehot)


def inputs(seed=0):
    return jax.random.normal(jax.random.key(seed), (T, N, OBS))


@pytest.mark.parametrize("layers,modules", [(2, 2), (4, 4)])
def test_shapes(layers, modules):
    net = make_net(layers, modules)
    params = net.init(jax.random.key(0))
    assert [params["params"][f"modules_{i}"]["kernel"].shape for i in range(layers)] == (
        [(modules, 24, 16)] + [(modules, 16, 16)] * (layers - 1))
    out, aux = forward(net, params, inputs())
    assert out.shape == (T, N, 2 * ACT)
    assert len(aux["routing"]) == layers - 1
    assert all(p.shape == (T, N, modules, modules) for p in aux["routing"])
    assert aux["output_weights"].shape == (T, N, modules)


@pytest.mark.parametrize("layers,modules", [(2, 2), (4, 4)])
def test_routing_rows_sum_to_one_over_source_modules(layers, modules):
    net = make_net(layers, modules)
    params = net.init(jax.random.key(1))
    # larger routing logits so that a softmax over the wrong axis would show
    tree = params["params"]
    for name in ["route_first", *(f"route_out_{i}" for i in range(layers - 1))]:
        tree[name] = jax.tree.map(lambda x: 5 * x, tree[name])
    _, aux = forward(net, params, inputs(1))
    for p in aux["routing"]:
        assert np.all(np.asarray(p) > 0)
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-5)        # over sources k
        assert not np.allclose(p.sum(axis=-2), 1.0, atol=1e-3)            # not over targets
    np.testing.assert_allclose(aux["output_weights"].sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("layers,modules", [(2, 2), (4, 4)])
def test_changing_only_the_task_changes_the_routing(layers, modules):
    net = make_net(layers, modules)
    params = net.init(jax.random.key(2))
    obs = jnp.broadcast_to(inputs(2)[0], (T, N, OBS))       # the same states in every group
    out, aux = forward(net, params, obs)
    for p in (*aux["routing"], aux["output_weights"]):
        for t in range(1, T):
            assert float(jnp.max(jnp.abs(p[t] - p[0]))) > 1e-4, (t, p.shape)
    assert float(jnp.max(jnp.abs(out[1] - out[0]))) > 1e-6   # near-uniform routing at init
    # and the routing depends on the state too (f(s) * z(task))
    _, aux2 = forward(net, params, obs + 1.0)
    assert float(jnp.max(jnp.abs(aux2["routing"][0] - aux["routing"][0]))) > 1e-4


def test_each_routing_is_conditioned_on_all_earlier_routings():
    net = make_net(4, 4)
    params = net.init(jax.random.key(3))
    obs = inputs(3)
    _, base = forward(net, params, obs)
    routings = (*base["routing"], base["output_weights"])    # p^1, p^2, p^3, q
    M2 = 16
    for i in range(3):                     # route_cond_i builds routing i + 1 (0-based)
        for j in range(i + 1):             # ... from each earlier routing j
            cut = jax.tree.map(lambda x: x, params)
            layer = cut["params"][f"route_cond_{i}"]
            layer["kernel"] = layer["kernel"].at[j * M2:(j + 1) * M2].set(0.0)
            _, aux = forward(net, cut, obs)
            changed = (*aux["routing"], aux["output_weights"])
            for r in range(i + 1):         # routings before it are unaffected
                np.testing.assert_array_equal(changed[r], routings[r])
            assert float(jnp.max(jnp.abs(changed[i + 1] - routings[i + 1]))) > 1e-5, (i, j)


def reference_forward(params, x, onehot, L, M):
    """One row, with explicit loops over modules (numpy, float64)."""
    P = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
    relu = lambda v: np.maximum(v, 0.0)
    lin = lambda p, v: v @ p["kernel"] + p["bias"]

    def softmax(v):
        e = np.exp(v - v.max())
        return e / e.sum()

    f = lin(P["f"]["layers_1"], relu(lin(P["f"]["layers_0"], x)))
    e = f * lin(P["z"], onehot)
    g = lin(P["gate"]["layers_1"], relu(lin(P["gate"]["layers_0"], relu(e))))
    logits = lin(P["route_first"], relu(g)).reshape(M, M)
    probs = [np.stack([softmax(logits[j]) for j in range(M)])]
    for i in range(L - 1):
        cond = relu(lin(P[f"route_cond_{i}"], np.concatenate([p.ravel() for p in probs])) * g)
        logits = lin(P[f"route_out_{i}"], cond)
        if i < L - 2:
            logits = logits.reshape(M, M)
            probs.append(np.stack([softmax(logits[j]) for j in range(M)]))
        else:
            q = softmax(logits)
    mods = [P[f"modules_{l}"] for l in range(L)]
    m = [relu(f) @ mods[0]["kernel"][k] + mods[0]["bias"][k] for k in range(M)]
    for l in range(1, L):
        p = probs[l - 1]
        inputs_ = [relu(sum(p[j, k] * m[k] for k in range(M))) for j in range(M)]
        m = [inputs_[j] @ mods[l]["kernel"][j] + mods[l]["bias"][j] for j in range(M)]
    h = relu(sum(q[k] * m[k] for k in range(M)))
    return lin(P["head"], h), probs, q


@pytest.mark.parametrize("layers,modules", [(2, 2), (4, 4)])
def test_forward_matches_a_loop_reference(layers, modules):
    net = make_net(layers, modules)
    params = net.init(jax.random.key(4))
    obs = inputs(4)
    onehot = task_onehots(T, N)
    out, aux = forward(net, params, obs, onehot)
    for g, r in [(0, 0), (3, 2)]:
        ref_out, ref_probs, ref_q = reference_forward(params, np.asarray(obs[g, r], np.float64),
                                                      np.asarray(onehot[g, r]), layers, modules)
        np.testing.assert_allclose(out[g, r], ref_out, atol=1e-5, rtol=1e-4)
        for p, ref in zip(aux["routing"], ref_probs):
            np.testing.assert_allclose(p[g, r], ref, atol=1e-6)
        np.testing.assert_allclose(aux["output_weights"][g, r], ref_q, atol=1e-6)


def test_bad_sizes_are_rejected():
    for layers, modules in [(1, 2), (2, 0)]:
        with pytest.raises(ValueError, match="soft modularization needs"):
            make_net(layers, modules)


def test_init_is_fan_in_uniform_per_layer_and_modules_differ():
    L, M, D, GATE, W = 4, 4, 24, 20, 16
    params = make_net(L, M, width=W).init(jax.random.key(5))["params"]
    fan_ins = {("f", "layers_0"): OBS, ("f", "layers_1"): D, ("z",): T,
               ("gate", "layers_0"): D, ("gate", "layers_1"): GATE, ("route_first",): GATE,
               ("head",): W}
    for i in range(L - 1):
        fan_ins[(f"route_cond_{i}",)] = (i + 1) * M * M
        fan_ins[(f"route_out_{i}",)] = GATE
    for i in range(L):
        fan_ins[(f"modules_{i}",)] = D if i == 0 else W
    seen = set()
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        keys = tuple(k.key for k in path)
        layer, kind = keys[:-1], keys[-1]
        seen.add(layer)
        fan_in = fan_ins[layer]
        if kind == "kernel":
            assert leaf.shape[-2] == fan_in, (layer, leaf.shape)
        check_fan_in_uniform(leaf, fan_in, keys)
    assert seen == set(fan_ins)
    for i in range(L):                     # each module of a layer has its own draw
        stack = params[f"modules_{i}"]
        assert stack["kernel"].shape[0] == M and stack["bias"].shape == (M, W)
        for leaf in (stack["kernel"], stack["bias"]):
            for a in range(M):
                for b in range(a + 1, M):
                    assert not np.allclose(leaf[a], leaf[b]), (i, a, b)


def test_method_sizes_and_task_weighting():
    """The widths are resolved into the config (config.json holds what the networks use)."""
    sizes = lambda c: (c.sm_embed_dim, c.sm_gate_width, c.sm_layers, c.sm_modules,  # noqa: E731
                       c.sm_module_width)
    cfg = resolve(Config(algo="sm", env="mt10"))
    assert cfg.task_weighting is True and cfg.sm_widths_from_hidden is False
    assert sizes(cfg) == (400, 256, 2, 2, 256)
    deep = resolve(Config(algo="sm", env="mt10", sm_layers=4, sm_modules=4))
    assert deep.sm_module_width == 128
    small = resolve(Config(algo="sm", env="point-mt", hidden=(128, 128)))
    assert small.sm_widths_from_hidden is True and sizes(small) == (50, 32, 2, 2, 32)
    small_deep = resolve(Config(algo="sm", env="point-mt", hidden=(128, 128), sm_layers=4,
                                sm_modules=4))
    assert small_deep.sm_module_width == 16
    paper_on_point = resolve(Config(algo="sm", env="point-mt", sm_widths_from_hidden=False))
    assert paper_on_point.sm_embed_dim == 400 and paper_on_point.sm_module_width == 256
    assert resolve(small) == small                                   # resolving is idempotent
    method = build_method(cfg, EnvSpec.sized(39, 4, 10)).networks
    critic = jax.eval_shape(method.critic.init, jax.random.key(0))["params"]
    assert critic["f"]["layers_0"]["kernel"].shape == (39 + 4, 400)
    assert critic["head"]["kernel"].shape == (256, 1)
    actor = jax.eval_shape(method.actor.init, jax.random.key(0))["params"]
    assert actor["head"]["kernel"].shape == (256, 8) and actor["z"]["kernel"].shape == (10, 400)


@pytest.mark.learning
def test_sm_learns_point_mt():
    from learning_utils import train_point_mt
    summary = train_point_mt("sm", early_stop_success=0.8)
    assert summary["mean_success"] >= 0.8, summary["eval_success"]
