"""D2R: routes, sampling, top-k, ResRouting's rsg gradient and stored routes, modules used."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.agents.sac import task_onehots
from mtrl_jax.buffer import buffer_init, stratified_sample
from mtrl_jax.config import Config, resolve
from mtrl_jax.envs.point_mt import PointMT
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.methods import build_method, make_agent
from mtrl_jax.nets import d2r
from mtrl_jax.train import make_learner, transition_example

T, N, OBS, OUT, n = 3, 5, 4, 2, 6


def net(**kw):
    args = dict(modules=n, width=8, gate=16, embed=8, k=2, routing="samplek", resrouting="on",
                balance=True, stores_routes=True)
    return d2r.make_d2r(OBS, T, OUT, **{**args, **kw})


def inputs(seed=0):
    obs = jax.random.normal(jax.random.PRNGKey(seed), (T, N, OBS))
    return obs, task_onehots(T, N)


def extra(mode, stored=None, log_alpha=None):
    return {"mode": mode, "shared": {}, "stored": stored or {},
            "log_alpha": jnp.zeros(T) if log_alpha is None else log_alpha}


_JITTED = {}


def apply(network, params, obs, onehot, rng, ex):
    """``network.apply`` jitted per (network, mode): eager D2R dispatches too many small ops."""
    mode = ex["mode"]
    key = (id(network.apply), mode)
    if key not in _JITTED:
        _JITTED[key] = (network, jax.jit(lambda p, o, oh, k, la, st: network.apply(
            p, o, oh, k, {"mode": mode, "shared": {}, "log_alpha": la, "stored": st})))
    return _JITTED[key][1](params, obs, onehot, rng, ex["log_alpha"], ex["stored"])


def expected_counts(k):
    return np.minimum(k, np.arange(1, n + 1))


@pytest.mark.parametrize("routing,mode,k_eff", [
    ("samplek", "act", 2), ("samplek", "eval", 2), ("samplek", "target", 2),
    ("topk", "act", 2), ("hard", "act", 1), ("hard", "eval", 1), ("soft", "act", n)])
def test_every_node_has_min_k_sources_among_its_predecessors(routing, mode, k_eff):
    network = net(routing=routing, resrouting="off" if routing == "soft" else "on")
    params = network.init(jax.random.PRNGKey(1))
    obs, onehot = inputs()
    for seed in range(3):
        _, aux = apply(network, params, obs, onehot, jax.random.PRNGKey(seed),
                               extra(mode, log_alpha=jnp.array([0.5, -1.0, 2.0])))
        routes = np.asarray(aux["routes"])                                   # (T, N, n, n)
        assert not routes[..., ~d2r.candidate_mask(n)].any()                # only predecessors
        np.testing.assert_array_equal(routes.sum(-1), np.broadcast_to(
            expected_counts(k_eff), routes.shape[:-1]))


def plackett_luce_pairs(p):
    """Exact probability of each unordered pair drawn without replacement from p."""
    return {(a, b): p[a] * p[b] / (1 - p[a]) + p[b] * p[a] / (1 - p[b])
            for a, b in itertools.combinations(range(len(p)), 2)}


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_sampled_routes_follow_the_tempered_softmax_without_replacement(tau):
    z = np.array([1.0, 0.0, -0.5, 0.7], np.float32)                  # candidates of row 3
    logits = np.full((n, n), d2r.NEG, np.float32)
    logits[3, :4] = z
    draws = 20_000
    keys = jax.random.split(jax.random.PRNGKey(0), draws)
    idx = np.asarray(jax.jit(jax.vmap(lambda k: d2r.sample_routes(k, jnp.asarray(logits),
                                                                   tau, 2)))(keys))[:, 3]
    assert (idx >= 0).all() and (idx[:, 0] != idx[:, 1]).all()            # without replacement
    p = np.exp(z / tau) / np.exp(z / tau).sum()
    for (a, b), prob in plackett_luce_pairs(p).items():
        freq = np.mean(((idx[:, 0] == a) & (idx[:, 1] == b)) | ((idx[:, 0] == b) & (idx[:, 1] == a)))
        assert abs(freq - prob) < 4 * np.sqrt(prob * (1 - prob) / draws) + 1e-3, (a, b, freq, prob)
    # k = 1 (hard routing): the first pick follows softmax(z / tau) itself
    first = np.bincount(idx[:, 0], minlength=4) / draws
    np.testing.assert_allclose(first, p, atol=4 * np.sqrt(0.25 / draws))


def test_route_balancing_temperature_comes_from_the_per_task_alphas():
    log_alpha = jnp.array([3.0, 0.0, -3.0])
    onehot = task_onehots(T, N)
    tau = np.asarray(d2r.route_temperature(log_alpha, onehot, True))[..., 0, 0]
    want = T * np.exp(-np.asarray(log_alpha)) / np.exp(-np.asarray(log_alpha)).sum()
    np.testing.assert_allclose(tau, np.broadcast_to(want[:, None], (T, N)), rtol=1e-6)
    assert (np.asarray(d2r.route_temperature(log_alpha, onehot, False)) == 1).all()
    # through the network: a mastered task (large alpha, tiny tau) samples its top-k routes,
    # an unmastered one (small alpha, large tau) explores
    network = net()
    params = network.init(jax.random.PRNGKey(2))
    obs, onehot = inputs()
    log_alpha = jnp.array([12.0, 0.0, -12.0])
    _, top = apply(network, params, obs, onehot, None, extra("eval"))
    differs = np.zeros(T)
    for seed in range(5):
        _, aux = apply(network, params, obs, onehot, jax.random.PRNGKey(seed),
                               extra("act", log_alpha=log_alpha))
        differs += np.asarray(jnp.any(aux["routes"] != top["routes"], axis=(1, 2, 3)))
    assert differs[0] == 0 and differs[2] == 5


def test_topk_is_deterministic_and_picks_the_largest_logits():
    network = net()
    params = network.init(jax.random.PRNGKey(3))
    obs, onehot = inputs()
    _, a = apply(network, params, obs, onehot, None, extra("eval"))
    _, b = apply(network, params, obs, onehot, jax.random.PRNGKey(7), extra("eval"))
    _, c = apply(network, params, obs, onehot, jax.random.PRNGKey(8), extra("target"))
    np.testing.assert_array_equal(a["routes"], b["routes"])
    np.testing.assert_array_equal(a["routes"], c["routes"])
    logits = np.asarray(a["logits"])
    for r in range(n):
        k = min(2, r + 1)
        best = np.argsort(-logits[..., r, :r + 1], axis=-1)[..., :k]
        want = np.zeros(logits.shape[:-2] + (n,), bool)
        np.put_along_axis(want, best, True, axis=-1)
        np.testing.assert_array_equal(np.asarray(a["routes"])[..., r, :], want)
    # sampling does explore: act-mode routes are not always the top-k ones
    _, s = apply(network, params, obs, onehot, jax.random.PRNGKey(9), extra("act"))
    assert np.any(np.asarray(s["routes"]) != np.asarray(a["routes"]))


def indices_from_sources(sources):
    """{module (1-indexed, or 'out'): source modules} -> (n, 2) int8 stored route indices."""
    idx = -np.ones((n, 2), np.int8)
    for node, srcs in sources.items():
        r = n - 1 if node == "out" else node - 2
        idx[r, :len(srcs)] = [s - 1 for s in srcs]
    return idx


# Module 3 feeds only module 5, with a full softmax probability below sigma = 1/5; module 2
# feeds only module 3 (and module 4, which nothing uses).
HAND_ROUTES = {2: [1], 3: [1, 2], 4: [1, 2], 5: [1, 3], 6: [1, 5], "out": [5, 6]}


def gate_bias(row_logits):
    """Flat gate bias putting ``row_logits[r]`` (length r+1) into group r; zero elsewhere."""
    flat = np.zeros(n * (n + 1) // 2, np.float32)
    for r, z in row_logits.items():
        flat[r * (r + 1) // 2:r * (r + 1) // 2 + r + 1] = z
    return flat


def with_fixed_logits(params, flat):
    gate = dict(params["params"]["gate"])
    last = f"layers_{len(gate) - 1}"
    gate[last] = {"kernel": jnp.zeros_like(gate[last]["kernel"]), "bias": jnp.asarray(flat)}
    return {"params": {**params["params"], "gate": gate}}


def test_select_sources_orders_like_a_stable_sort():
    """select_sources: the k best candidates of every row, best first, ties to the lower index
    (integer scores make ties common)."""
    m, k = 6, 3
    scores = jax.random.randint(jax.random.PRNGKey(0), (40, m, m), 0, 4).astype(jnp.float32)
    got = np.asarray(d2r.select_sources(scores, k))
    for r in range(m):
        order = np.argsort(-np.asarray(scores)[:, r, :r + 1], axis=-1, kind="stable")
        want = np.full((40, k), -1)
        want[:, :min(k, r + 1)] = order[:, :k]
        np.testing.assert_array_equal(got[:, r], want)


@pytest.mark.parametrize("resrouting", ["on", "off"])
def test_rsg_blocks_a_below_threshold_module_but_not_its_shortcut(resrouting):
    network = net(resrouting=resrouting)
    # node of module 5 is row 3 (sources 1..4): p(module 3) = e^-2 / (e^2 + 1 + e^-2 + 1) < 1/5
    params = with_fixed_logits(network.init(jax.random.PRNGKey(4)), gate_bias({3: [2, 0, -2, 0]}))
    obs, onehot = inputs()
    stored = {"routes": jnp.broadcast_to(jnp.asarray(indices_from_sources(HAND_ROUTES)),
                                         (T, N, n, 2))}

    def loss(p):
        out, _ = network.apply(p, obs, onehot, jax.random.PRNGKey(0), extra("update", stored))
        return jnp.sum(out ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    g_norm = lambda m: float(jnp.abs(grads["params"][f"module_{m}"]["kernel"]).sum())  # noqa: E731
    assert g_norm(2) > 1e-6          # reaches module 2 only through module 3's shortcut
    assert g_norm(5) > 1e-6 and g_norm(6) > 1e-6
    assert g_norm(4) == 0.0          # unused module
    if resrouting == "on":
        assert g_norm(3) == 0.0      # below threshold: module weights get no gradient
    else:
        assert g_norm(3) > 1e-6      # w/o ResRouting every stored source is trained
    # rsg changes gradients only, never the forward value
    out_on, _ = apply(net(resrouting="on"), params, obs, onehot, None, extra("update", stored))
    out_off, _ = apply(net(resrouting="off"), params, obs, onehot, None, extra("update", stored))
    np.testing.assert_array_equal(out_on, out_off)


def test_rsg_leaves_an_above_threshold_source_trained():
    network = net()
    params = with_fixed_logits(network.init(jax.random.PRNGKey(4)), gate_bias({3: [0, 0, 0, 0]}))
    obs, onehot = inputs()
    stored = {"routes": jnp.broadcast_to(jnp.asarray(indices_from_sources(HAND_ROUTES)),
                                         (T, N, n, 2))}
    grads = jax.jit(jax.grad(lambda p: jnp.sum(network.apply(
        p, obs, onehot, None, extra("update", stored))[0] ** 2)))(params)
    assert float(jnp.abs(grads["params"]["module_3"]["kernel"]).sum()) > 1e-6  # p = 1/4 >= 1/5


def reference_chain(layers, m1, w, blocked, idx):
    """module_chain by plain autodiff: each node mixes mhat_j = m_j - blocked (u_j - sg(u_j))
    of its slots' sources (m_1 = u_1); an empty slot (-1) adds nothing."""
    mods, parts = [m1], [m1]
    rows = np.arange(m1.shape[0])[:, None]
    for r in range(w.shape[1]):
        m, u = jnp.stack(mods), jnp.stack(parts)
        src = jnp.maximum(idx[:, r], 0)
        b = blocked[:, r, :, None]
        mhat = m[src, rows] - b * (u[src, rows] - jax.lax.stop_gradient(u[src, rows]))
        x = jnp.sum(jnp.where(idx[:, r, :, None] >= 0, w[:, r, :, None] * mhat, 0.0), axis=1)
        if r < len(layers):
            u_new = jax.nn.relu(x @ layers[r]["kernel"] + layers[r]["bias"])
            mods.append(x + u_new)
            parts.append(u_new)
    return x


@pytest.mark.parametrize("k", [1, 2, 3])       # hard routing's one slot, D2R's k = 2, more
def test_module_chain_gradient_equals_autodiff_of_the_rsg_mix(k):
    """The hand-written gather/scatter VJP against autodiff of the dense rsg formulation."""
    rows, width = 7, 5
    ks = jax.random.split(jax.random.PRNGKey(11), 6)
    layers = [{"kernel": jax.random.normal(kk, (width, width)) / 2,
               "bias": jnp.full((width,), 0.1)}
              for kk in jax.random.split(ks[0], n - 1)]
    m1 = jax.nn.relu(jax.random.normal(ks[1], (rows, width)))
    logits = d2r.logits_to_rows(jax.random.normal(ks[2], (rows, n * (n + 1) // 2)), n)
    idx = d2r.sample_routes(ks[3], logits, 1.0, k)           # (rows, n, k), -1: empty slots
    w = jnp.where(idx >= 0, jax.random.uniform(ks[4], idx.shape), 0.0)
    blocked = ((jax.random.uniform(ks[5], idx.shape) < 0.4) & (idx >= 0)).astype(jnp.float32)
    assert 0 < float(blocked.sum()) < float((idx >= 0).sum())

    def loss(chain):
        return lambda ly, m, ww: jnp.sum(jnp.sin(chain(ly, m, ww, blocked, idx)))

    value, grads = jax.jit(jax.value_and_grad(loss(d2r.module_chain), argnums=(0, 1, 2)))(
        layers, m1, w)
    want_value, want = jax.jit(jax.value_and_grad(loss(reference_chain), argnums=(0, 1, 2)))(
        layers, m1, w)
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    for got, ref in zip(jax.tree.leaves(grads), jax.tree.leaves(want)):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    # without rsg every slot trains its source whole
    plain = jax.jit(jax.grad(lambda ly: jnp.sum(jnp.sin(d2r.module_chain(ly, m1, w, None,
                                                                          idx)))))(layers)
    ref = jax.jit(jax.grad(lambda ly: jnp.sum(jnp.sin(reference_chain(ly, m1, w, 0 * blocked,
                                                                      idx)))))(layers)
    for got, r in zip(jax.tree.leaves(plain), jax.tree.leaves(ref)):
        np.testing.assert_allclose(got, r, rtol=1e-4, atol=1e-5)


def test_modules_used_on_a_hand_built_routing():
    routes = np.asarray(d2r.routes_mask(jnp.asarray(indices_from_sources(HAND_ROUTES)), n))
    assert int(d2r.modules_used(routes)) == 5                       # all but module 4
    chain = {i: [i - 1] for i in range(2, n + 1)}
    short = {**chain, "out": [2]}                                   # output reads module 2 only
    masks = np.stack([np.asarray(d2r.routes_mask(jnp.asarray(indices_from_sources(s)), n))
                      for s in ({**chain, "out": [n]}, short)])
    np.testing.assert_array_equal(d2r.modules_used(masks), [n, 2])


def reference_forward(params, obs, onehot, routes):
    """NumPy D2R forward for given route masks (T, N, n, n): MaskSoftmax weights."""
    P = jax.tree.map(lambda x: np.asarray(x, np.float64), params["params"])
    lin = lambda layer, x: x @ layer["kernel"] + layer["bias"]  # noqa: E731
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    state, gate = P["state"], P["gate"]
    f = lin(state["layers_1"], relu(lin(state["layers_0"], np.asarray(obs, np.float64))))
    h = lin(P["task"], np.asarray(onehot, np.float64))
    g = lin(gate["layers_2"], relu(lin(gate["layers_1"], relu(lin(gate["layers_0"], f * h)))))
    outs = [relu(lin(P["first"], relu(f)))]
    for r in range(n):
        z = g[..., r * (r + 1) // 2:(r + 1) * (r + 2) // 2]
        e = np.exp(z - z.max(-1, keepdims=True)) * routes[..., r, :r + 1]
        w = e / e.sum(-1, keepdims=True)
        x = sum(w[..., j, None] * outs[j] for j in range(r + 1))
        if r < n - 1:
            outs.append(x + relu(lin(P[f"module_{r + 2}"], x)))
    return lin(P["head"], x)


def test_init_is_fan_in_uniform_per_layer_and_modules_are_independent():
    """Every kernel/bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with its layer's fan-in (the
    authors' PyTorch nn.Linear default), the modules are drawn independently."""
    width, gate, embed, out = 16, 24, 12, 16
    network = d2r.make_d2r(OBS, T, out, modules=n, width=width, gate=gate, embed=embed, k=2,
                           routing="samplek", resrouting="on", balance=True, stores_routes=True)
    params = network.init(jax.random.PRNGKey(0))["params"]
    num_logits = n * (n + 1) // 2
    layers = {("state", "layers_0"): (OBS, embed), ("state", "layers_1"): (embed, embed),
              ("task",): (T, embed), ("gate", "layers_0"): (embed, gate),
              ("gate", "layers_1"): (gate, gate), ("gate", "layers_2"): (gate, num_logits),
              ("first",): (embed, width), ("head",): (width, out),
              **{(f"module_{i}",): (width, width) for i in range(2, n + 1)}}
    found = {tuple(k.key for k in path[:-1]) for path, _ in
             jax.tree_util.tree_flatten_with_path(params)[0]}
    assert found == set(layers)
    for path, (fan_in, fan_out) in layers.items():
        layer = params
        for name in path:
            layer = layer[name]
        assert set(layer) == {"kernel", "bias"}
        assert layer["kernel"].shape == (fan_in, fan_out) and layer["bias"].shape == (fan_out,)
        bound = 1 / np.sqrt(fan_in)
        for leaf in (np.asarray(layer["kernel"]), np.asarray(layer["bias"])):
            assert np.abs(leaf).max() <= bound, path
            assert np.abs(leaf).max() > 0.5 * bound and leaf.std() > 0.2 * bound, path
    modules = [params[f"module_{i}"] for i in range(2, n + 1)]
    for a, b in itertools.combinations(modules, 2):
        assert not np.allclose(a["kernel"], b["kernel"]) and not np.allclose(a["bias"], b["bias"])


def test_forward_matches_reference_for_given_routes():
    network = net()
    params = network.init(jax.random.PRNGKey(5))
    obs, onehot = inputs()
    _, aux = apply(network, params, obs, onehot, jax.random.PRNGKey(1), extra("act"))
    out, aux_u = apply(network, params, obs, onehot, None, extra("update", aux["store"]))
    np.testing.assert_array_equal(aux_u["routes"], aux["routes"])
    np.testing.assert_allclose(out, reference_forward(params, obs, onehot,
                                                      np.asarray(aux["routes"])), atol=1e-5)


def test_stored_routes_are_the_ones_the_update_reuses():
    """select_action -> store -> stratified_sample -> the actor in 'update' mode (sac path)."""
    cfg = resolve(Config(algo="d2r", env="point-mt", d2r_modules=n, d2r_module_width=8,
                         d2r_gate_width=16, d2r_embed_dim=8, warmup_steps=0, batch_size=40,
                         buffer_size=200))
    env = PointMT(envs_per_task=3)
    sac = make_agent(cfg, env.spec)
    method = sac.networks
    learner = make_learner(cfg, sac)
    select_action, store = learner.select_action, learner.store
    select_action, store = jax.jit(select_action), jax.jit(store)
    state = sac.init(jax.random.PRNGKey(0))
    buffer = buffer_init(transition_example(env.obs_dim, env.act_dim, method.store_spec),
                         env.num_tasks, 40)
    env_state, obs = env.reset(jax.random.PRNGKey(1))
    acted = {}
    for step in range(4):
        action, aux = select_action(state, obs, jax.random.PRNGKey(10 + step), 100)
        for t in range(env.num_tasks):
            for e in range(3):
                acted[(t, np.asarray(obs[t, e]).tobytes())] = np.asarray(aux["routes"][t, e])
        env_state, out = env.step(env_state, action, jax.random.PRNGKey(20 + step))
        buffer = store(buffer, obs, action, out, aux)
        obs = out.obs
    batch = stratified_sample(buffer, jax.random.PRNGKey(2), 8)
    # a later actor whose own routes differ from the behaviour routes
    actor = sac.init(jax.random.PRNGKey(99)).actor
    onehot = task_onehots(env.num_tasks, 8)
    sample_action = jax.jit(sac.sample_action, static_argnums=6)
    _, _, aux_u = sample_action(actor, {}, state.log_alpha, batch["obs"], onehot,
                                jax.random.PRNGKey(3), "update", batch["stored"])
    _, aux_now = apply(method.actor, actor, batch["obs"], onehot, None, extra("eval"))
    want = np.stack([[acted[(t, np.asarray(batch["obs"][t, i]).tobytes())] for i in range(8)]
                     for t in range(env.num_tasks)])
    np.testing.assert_array_equal(np.asarray(aux_u["routes"]), want)
    assert np.any(np.asarray(aux_now["routes"]) != want)       # reuse, not recomputation
    out, _ = apply(method.actor, actor, batch["obs"], onehot, None, extra("update", batch["stored"]))
    np.testing.assert_allclose(out, reference_forward(actor, batch["obs"], onehot, want),
                               atol=1e-5)


def test_ablation_switches():
    base = dict(algo="d2r", env="point-mt", d2r_modules=n)
    spec = lambda **kw: build_method(resolve(Config(**base, **kw)),  # noqa: E731
                                     EnvSpec.sized(OBS, 2, T)).networks.store_spec
    assert spec() == {"routes": ((n, 2), jnp.int8)}
    assert spec(d2r_routing="hard") == {"routes": ((n, 1), jnp.int8)}
    assert spec(d2r_routing="soft") == {} and spec(d2r_resrouting="target") == {}
    # target routing: the update samples fresh routes and needs nothing stored
    network = net(resrouting="target")
    params = network.init(jax.random.PRNGKey(6))
    obs, onehot = inputs()
    routes = [np.asarray(apply(network, params, obs, onehot, jax.random.PRNGKey(s),
                                       extra("update"))[1]["routes"]) for s in range(3)]
    assert any(np.any(r != routes[0]) for r in routes[1:])
    with pytest.raises(KeyError):
        net().apply(params, obs, onehot, jax.random.PRNGKey(0), extra("update"))


def test_one_sac_update_is_finite():
    cfg = resolve(Config(algo="d2r", env="point-mt", d2r_modules=n))
    sac = make_agent(cfg, EnvSpec.sized(OBS, 2, T))
    state = sac.init(jax.random.PRNGKey(0))
    r = np.random.default_rng(0)
    f = lambda *s: jnp.asarray(r.normal(size=s), jnp.float32)  # noqa: E731
    idx = np.broadcast_to(indices_from_sources(HAND_ROUTES), (T, 4, n, 2))
    batch = {"obs": f(T, 4, OBS), "action": jnp.tanh(f(T, 4, 2)), "reward": f(T, 4),
             "next_obs": f(T, 4, OBS), "terminated": jnp.zeros((T, 4), bool),
             "truncated": jnp.zeros((T, 4), bool), "stored": {"routes": jnp.asarray(idx)}}
    new, info = jax.jit(sac.update)(state, batch, jax.random.PRNGKey(1))
    assert np.isfinite(np.asarray(info["total_loss"])).all()
    assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(new.actor),
                                              jax.tree.leaves(state.actor)))


@pytest.mark.learning
def test_d2r_learns_point_mt():
    """About 2 min on a quiet 2-core CPU (CI: 0.95 mean success at 60k steps in 122 s; 0.82
    already at 30k in an earlier run), with point-mt's D2R sizes (methods.METHODS["d2r"]: 6
    modules of width 64)."""
    from learning_utils import train_point_mt
    # point-mt's defaults (alpha_lr 3e-4, not D2R's 1e-4: too slow for this budget)
    summary = train_point_mt("d2r", early_stop_success=0.8)
    assert summary["mean_success"] >= 0.8, summary


# --- routing levels (paper Fig. 2(b, c), Fig. 7(d)) ------------------------------------------

# n = 7: the stem (module 1, source 0) and 2 layers x 3 modules (sources 1-3, then 4-6).
LEVEL_CANDIDATES = {
    "layer": {0: [0], 1: [0], 2: [0], 3: [1, 2, 3], 4: [1, 2, 3], 5: [1, 2, 3], 6: [4, 5, 6]},
    "model": {0: [0], 1: [0], 2: [0], 3: [1], 4: [2], 5: [3], 6: [4, 5, 6]},
}


@pytest.mark.parametrize("level", ["layer", "model"])
def test_level_candidate_sets(level):
    cand = d2r.candidate_mask(7, level, 3)
    want = np.zeros((7, 7), bool)
    for r, sources in LEVEL_CANDIDATES[level].items():
        want[r, sources] = True
    np.testing.assert_array_equal(cand, want)
    np.testing.assert_array_equal(d2r.candidate_mask(7, "module", 3), np.tril(np.ones((7, 7))))
    with pytest.raises(ValueError, match="--d2r-modules 7"):
        d2r.candidate_mask(6, level, 3)         # 5 routed modules are not layers of 3


@pytest.mark.parametrize("level", ["module", "layer", "model"])
@pytest.mark.parametrize("routing,mode", [("samplek", "act"), ("samplek", "eval"),
                                          ("hard", "act"), ("soft", "act")])
def test_level_routes_stay_in_the_candidate_sets(level, routing, mode):
    network = d2r.make_d2r(OBS, T, OUT, modules=7, width=8, gate=16, embed=8, k=2,
                           routing=routing, resrouting="off" if routing == "soft" else "on",
                           balance=True, stores_routes=True, level=level, level_width=3)
    cand = d2r.candidate_mask(7, level, 3)
    params = network.init(jax.random.PRNGKey(1))
    obs, onehot = inputs()
    k = {"samplek": 2, "hard": 1, "soft": 7}[routing]
    fn = jax.jit(lambda p, key: network.apply(p, obs, onehot, key, extra(
        mode, log_alpha=jnp.array([0.5, -1.0, 2.0]))))
    for seed in range(4):
        _, aux = fn(params, jax.random.PRNGKey(seed))
        routes = np.asarray(aux["routes"])
        assert not routes[..., ~cand].any()
        np.testing.assert_array_equal(routes.sum(-1), np.broadcast_to(
            np.minimum(k, cand.sum(1)), routes.shape[:-1]))
        used = np.asarray(aux["modules_used"])
        np.testing.assert_array_equal(used, d2r.modules_used(routes))
        if level == "model":       # the stem + the chains the output picks (2 modules each)
            assert (used == {"samplek": 5, "hard": 3, "soft": 7}[routing]).all()


def test_modules_used_on_a_model_level_routing():
    # output reads chain ends 5 and 7 (sources 4, 6) -> chains 1 and 3 and the stem: 5 modules
    idx = -np.ones((7, 2), np.int8)
    for r, sources in LEVEL_CANDIDATES["model"].items():
        idx[r, :1] = sources[:1]
    idx[6] = [4, 6]
    assert int(d2r.modules_used(d2r.routes_mask(jnp.asarray(idx), 7))) == 5


def test_layer_level_rsg_threshold_counts_the_candidates():
    """Node 3 (module 5) of the layer case has 3 candidates: sigma = 1/4, not 1/(r+2) = 1/5.
    p(module 4) = 0.202 lies between: blocked, so module 4 (used only there) gets no gradient."""
    network = d2r.make_d2r(OBS, T, OUT, modules=7, width=8, gate=16, embed=8, k=2,
                           routing="samplek", resrouting="on", balance=True, stores_routes=True,
                           level="layer", level_width=3)
    params = network.init(jax.random.PRNGKey(4))
    flat = np.zeros(15, np.float32)          # groups of sizes 1, 1, 1, 3, 3, 3, 3
    flat[3:6] = [0.6, 0.1, -0.3]
    params = with_fixed_logits(params, flat)
    idx = -np.ones((7, 2), np.int8)
    idx[:3, 0] = 0
    idx[3], idx[4], idx[5], idx[6] = [1, 3], [1, 2], [1, 2], [4, 5]
    obs, onehot = inputs()
    stored = {"routes": jnp.broadcast_to(jnp.asarray(idx), (T, N, 7, 2))}
    grads = jax.jit(jax.grad(lambda p: jnp.sum(network.apply(
        p, obs, onehot, None, extra("update", stored))[0] ** 2)))(params)
    g_norm = lambda m: float(jnp.abs(grads["params"][f"module_{m}"]["kernel"]).sum())  # noqa: E731
    assert g_norm(4) == 0.0 and g_norm(2) > 1e-6 and g_norm(3) > 1e-6 and g_norm(5) > 1e-6


@pytest.mark.parametrize("level", ["layer", "model"])
def test_level_sac_update_is_finite(level):
    cfg = resolve(Config(algo="d2r", env="point-mt", d2r_modules=7, d2r_level=level,
                         d2r_level_width=3, d2r_module_width=8, d2r_gate_width=16,
                         d2r_embed_dim=8))
    sac = make_agent(cfg, EnvSpec.sized(OBS, 2, T))
    state = sac.init(jax.random.PRNGKey(0))
    r = np.random.default_rng(0)
    f = lambda *s: jnp.asarray(r.normal(size=s), jnp.float32)  # noqa: E731
    obs = f(T, 4, OBS)
    _, aux = jax.jit(sac.explore)(state, obs, task_onehots(T, 4), jax.random.PRNGKey(2))
    batch = {"obs": obs, "action": jnp.tanh(f(T, 4, 2)), "reward": f(T, 4),
             "next_obs": f(T, 4, OBS), "terminated": jnp.zeros((T, 4), bool),
             "truncated": jnp.zeros((T, 4), bool), "stored": aux["store"]}
    new, info = jax.jit(sac.update)(state, batch, jax.random.PRNGKey(1))
    assert np.isfinite(np.asarray(info["total_loss"])).all()
    assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(new.actor),
                                              jax.tree.leaves(state.actor)))
    with pytest.raises(ValueError, match="d2r-level-width"):
        build_method(cfg.replace(d2r_modules=6), EnvSpec.sized(OBS, 2, T))
