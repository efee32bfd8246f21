"""BroNet (BRC), BRC's task embedding and the LayerNorm MLP (ARS): shapes, structure,
initialisation, the actor-side stop-gradient and parameter counts."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from init_checks import check_fan_in_uniform
from mtrl_jax.agents.sac import network_extra
from mtrl_jax.nets.base import Networks, example_extra
from mtrl_jax.nets.bronet import make_bronet, task_embedding
from mtrl_jax.nets.layernorm_mlp import make_layernorm_mlp

T, N, OBS, ACT, W, B, D = 5, 6, 7, 2, 32, 2, 32
LN_EPS = 1e-6                                   # flax nn.LayerNorm's default epsilon


def group_inputs(dim, seed=0):
    """obs (T, N, dim) and the task-grouped one-hot (T, N, T)."""
    obs = jax.random.normal(jax.random.key(seed), (T, N, dim))
    return obs, jnp.broadcast_to(jnp.eye(T)[:, None, :], (T, N, T))


def np_layernorm(h):
    h = np.asarray(h, np.float64)
    mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    return (h - mu) / np.sqrt(var + LN_EPS)


def np_dense(layer, x):
    return np.asarray(x, np.float64) @ np.asarray(layer["kernel"], np.float64) + \
        np.asarray(layer["bias"], np.float64)


def embedding_setup(seed=0):
    """Shared embedding params and its (T, D) unit rows for the task-grouped layout."""
    shared = task_embedding(T, D)
    params = shared.init(jax.random.key(seed))
    return shared, params, shared.apply(params, jnp.eye(T))


def leaf_count(tree):
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


# --- BroNet ---------------------------------------------------------------------------------

def assert_zero_biases_and_unit_scales(params):
    """Every Dense bias is zero and every LayerNorm scale one."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        name = getattr(path[-1], "key", "")
        if name == "bias":
            assert float(jnp.abs(leaf).max()) == 0.0, path
        elif name == "scale":
            np.testing.assert_array_equal(leaf, np.ones_like(leaf))


@pytest.mark.parametrize("task_input", ["onehot", "embedding"])
def test_bronet_output_shapes_and_parameter_tree(task_input):
    _, _, emb = embedding_setup()
    task_dim = T if task_input == "onehot" else D
    for in_dim, out_dim in ((OBS, 2 * ACT), (OBS + ACT, 1)):
        net = make_bronet(in_dim, T, out_dim, W, B, task_input=task_input)
        params = net.init(jax.random.key(1))
        p = params["params"]
        assert sorted(p) == ["block_0", "block_1", "head", "stem", "stem_norm"]
        assert sorted(p["block_0"]) == ["dense_0", "dense_1", "norm_0", "norm_1"]
        assert p["stem"]["kernel"].shape == (in_dim + task_dim, W)
        assert p["head"]["kernel"].shape == (W, out_dim)
        obs, onehot = group_inputs(in_dim)
        out, aux = net.apply(params, obs, onehot, None, example_extra(T, emb))
        assert out.shape == (T, N, out_dim) and aux == {}
        assert bool(jnp.all(jnp.isfinite(out)))


def test_embedding_mode_reads_each_groups_embedding_and_not_the_onehot():
    """The embedding torso equals the one-hot torso (same parameters) fed each group's embedding
    broadcast over its rows in place of the one-hot; the one-hot itself is ignored."""
    _, _, emb = embedding_setup()
    net = make_bronet(OBS, T, 4, W, B, task_input="embedding")
    params = net.init(jax.random.key(2))
    obs, onehot = group_inputs(OBS, seed=3)
    out = net.apply(params, obs, onehot, None, example_extra(T, emb))[0]
    as_onehot = make_bronet(OBS, D, 4, W, B, task_input="onehot")
    fed = jnp.broadcast_to(emb[:, None, :], (T, N, D))
    np.testing.assert_allclose(out, as_onehot.apply(params, obs, fed, None, example_extra(D))[0],
                               rtol=1e-6, atol=1e-6)
    shuffled = net.apply(params, obs, onehot[::-1], None, example_extra(T, emb))[0]
    np.testing.assert_array_equal(out, shuffled)
    # different groups, different embeddings: the same observation maps differently
    same_obs = jnp.broadcast_to(obs[:1], obs.shape)
    per_group = net.apply(params, same_obs, onehot, None, example_extra(T, emb))[0]
    assert float(jnp.abs(per_group[0] - per_group[1]).max()) > 1e-3


def test_zeroed_blocks_are_identity_so_output_is_head_of_stem():
    """Both Dense kernels of every block zero (biases are zero): each block adds LN(0) = 0, and
    the output is head(ReLU(LN(stem(x)))), computed here with numpy."""
    net = make_bronet(OBS, T, 3, W, B)
    params = net.init(jax.random.key(4))
    zeroed = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.zeros_like(x)
        if any(getattr(k, "key", "").startswith("block_") for k in path)
        and getattr(path[-1], "key", "") == "kernel" else x, params)
    p = params["params"]
    for b in range(B):
        for d in ("dense_0", "dense_1"):
            assert float(jnp.abs(zeroed["params"][f"block_{b}"][d]["kernel"]).max()) == 0.0
            assert float(jnp.abs(p[f"block_{b}"][d]["bias"]).max()) == 0.0
    obs, onehot = group_inputs(OBS, seed=5)
    x = np.concatenate([np.asarray(obs), np.asarray(onehot)], -1)
    hand = np_dense(p["head"], np.maximum(np_layernorm(np_dense(p["stem"], x)), 0.0))
    out = net.apply(zeroed, obs, onehot, None, example_extra(T))[0]
    np.testing.assert_allclose(out, hand, rtol=1e-4, atol=1e-5)
    full = net.apply(params, obs, onehot, None, example_extra(T))[0]
    assert float(jnp.abs(full - hand).max()) > 1e-2


def test_orthogonal_init_scale_sqrt2_and_zero_biases():
    """Hidden kernels W x W: K^T K = 2 I; the stem (in < W): K K^T = 2 I; the head (W > out):
    K^T K = out_scale^2 I; every bias zero, every LayerNorm scale 1 / bias 0."""
    width = 64
    params = make_bronet(OBS + ACT, T, 3, width, B).init(jax.random.key(6))["params"]
    for b in range(B):
        for d in ("dense_0", "dense_1"):
            k = np.asarray(params[f"block_{b}"][d]["kernel"], np.float64)
            assert k.shape == (width, width)
            np.testing.assert_allclose(k.T @ k, 2.0 * np.eye(width), atol=1e-4)
    stem = np.asarray(params["stem"]["kernel"], np.float64)
    np.testing.assert_allclose(stem @ stem.T, 2.0 * np.eye(stem.shape[0]), atol=1e-4)
    head = np.asarray(params["head"]["kernel"], np.float64)
    np.testing.assert_allclose(head.T @ head, 2.0 * np.eye(3), atol=1e-4)
    custom = make_bronet(OBS, T, 3, width, 1, out_scale=0.5).init(jax.random.key(6))["params"]
    head = np.asarray(custom["head"]["kernel"], np.float64)
    np.testing.assert_allclose(head.T @ head, 0.25 * np.eye(3), atol=1e-5)
    assert_zero_biases_and_unit_scales(params)


def test_task_embedding_rows_are_unit_norm_and_init_like_embed():
    _, params, emb = embedding_setup(seed=7)
    table = np.asarray(params["params"]["embedding"])
    assert table.shape == (T, D) and emb.shape == (T, D)
    np.testing.assert_allclose(jnp.linalg.norm(emb, axis=-1), np.ones(T), rtol=1e-6)
    np.testing.assert_allclose(emb, table / np.linalg.norm(table, axis=-1, keepdims=True),
                               rtol=1e-6)
    # group one-hots pick their task's row
    shared = task_embedding(T, D)
    picked = shared.apply(params, jnp.eye(T)[jnp.array([3, 0, 3])])
    np.testing.assert_array_equal(picked, emb[jnp.array([3, 0, 3])])
    # nn.Embed's N(0, 1/D) initialisation, on a larger table
    big = np.asarray(task_embedding(50, D).init(jax.random.key(8))["params"]["embedding"])
    np.testing.assert_allclose(big.std(), 1.0 / np.sqrt(D), rtol=0.1)


def test_actor_side_stop_gradient_blocks_the_embedding_gradient():
    """Through the critic (embedding trainable) the gradient reaches the table; through the
    actor-side torso (embedding_trainable=False) it is exactly zero, although the core passes
    ``shared`` in without a stop-gradient (``agents.sac.network_extra`` builds the extra)."""
    critic = make_bronet(OBS + ACT, T, 1, W, B, task_input="embedding")
    actor = make_bronet(OBS, T, 2 * ACT, W, B, task_input="embedding", embedding_trainable=False)
    trainable_actor = make_bronet(OBS, T, 2 * ACT, W, B, task_input="embedding")
    shared, shared_params, _ = embedding_setup(seed=9)
    networks = Networks(actor=actor, critic=critic, shared=shared)
    log_alpha = jnp.zeros((T,))

    def grad_through(net, in_dim, seed):
        params = net.init(jax.random.key(seed))
        obs, onehot = group_inputs(in_dim, seed=seed)

        def f(sp):
            extra = network_extra(networks, "update", sp, log_alpha, onehot)
            return jnp.sum(jnp.sin(net.apply(params, obs, onehot, None, extra)[0]))

        return jax.grad(f)(shared_params)["params"]["embedding"]

    g_critic = grad_through(critic, OBS + ACT, 10)
    g_actor = grad_through(actor, OBS, 11)
    g_trainable = grad_through(trainable_actor, OBS, 11)
    assert float(jnp.abs(g_actor).max()) == 0.0
    assert bool(jnp.all(jnp.abs(g_critic).max(axis=-1) > 1e-6))       # every task's row
    assert bool(jnp.all(jnp.abs(g_trainable).max(axis=-1) > 1e-6))


def test_bronet_rejects_an_unknown_task_input():
    with pytest.raises(ValueError, match="task input"):
        make_bronet(OBS, T, 1, W, B, task_input="film")


def bronet_count(in_dim, out_dim, width, blocks):
    """stem + its LayerNorm, per block two W x W Dense and two LayerNorms, the head."""
    return (in_dim * width + 3 * width + blocks * (2 * width * width + 6 * width)
            + width * out_dim + out_dim)


@pytest.mark.parametrize("in_dim,task_input,out_dim,width,blocks,expected", [
    (39 + 4, "onehot", 1, 4096, 2, 67_391_489),         # MT10 critic, one-hot
    (39 + 4, "onehot", 101, 4096, 2, 67_801_189),       # BRC's categorical head
    (39 + 4, "embedding", 1, 4096, 2, 67_481_601),
    (39, "onehot", 8, 4096, 2, 67_403_784),             # MT10 actor
    (39 + 4, "onehot", 1, 1024, 2, 4_264_961),
    (39, "onehot", 8, 1024, 2, 4_268_040),
    (39, "onehot", 8, 256, 1, 147_976),                 # BRC's actor size
    (OBS, "onehot", 3, W, B, None),
])
def test_parameter_counts(in_dim, task_input, out_dim, width, blocks, expected):
    num_tasks = 10 if expected is not None else T
    net = make_bronet(in_dim, num_tasks, out_dim, width, blocks, task_input=task_input)
    shapes = jax.eval_shape(net.init, jax.random.key(0))
    task_dim = num_tasks if task_input == "onehot" else D
    count = leaf_count(shapes)
    assert count == bronet_count(in_dim + task_dim, out_dim, width, blocks)
    if expected is not None:
        assert count == expected


# --- LayerNorm MLP --------------------------------------------------------------------------

def np_layernorm_mlp(params, obs, onehot, activation, input_layernorm, layernorm):
    act = {"relu": lambda v: np.maximum(v, 0.0), "tanh": np.tanh}[activation]
    x = np.concatenate([np.asarray(obs), np.asarray(onehot)], -1).astype(np.float64)
    if input_layernorm:
        x = np_layernorm(x)
    L = sum(k.startswith("layers_") for k in params)
    for i in range(L - 1):
        x = np_dense(params[f"layers_{i}"], x)
        if layernorm:
            x = np_layernorm(x)
        x = act(x)
    return np_dense(params[f"layers_{L - 1}"], x)


def test_layernorm_mlp_shapes_and_parameter_tree():
    widths = (16, 12, 8)
    net = make_layernorm_mlp(OBS + ACT, T, 1, widths)
    params = net.init(jax.random.key(20))["params"]
    assert sorted(params) == ["input_norm", "layers_0", "layers_1", "layers_2", "layers_3",
                              "norm_0", "norm_1", "norm_2"]
    assert [params[f"layers_{i}"]["kernel"].shape for i in range(4)] == \
        [(OBS + ACT + T, 16), (16, 12), (12, 8), (8, 1)]
    obs, onehot = group_inputs(OBS + ACT)
    out, aux = net.apply({"params": params}, obs, onehot, None, example_extra(T))
    assert out.shape == (T, N, 1) and aux == {}
    plain = make_layernorm_mlp(OBS, T, 2 * ACT, widths, "relu", False, False)
    assert sorted(plain.init(jax.random.key(0))["params"]) == [f"layers_{i}" for i in range(4)]
    with pytest.raises(ValueError, match="activation"):
        make_layernorm_mlp(OBS, T, 1, widths, activation="gelu")


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("input_layernorm,layernorm", [(False, False), (True, True),
                                                       (False, True), (True, False)])
def test_layernorm_mlp_equals_hand_numpy(activation, input_layernorm, layernorm):
    """Both switches off: a plain MLP; each switch adds exactly its LayerNorms."""
    net = make_layernorm_mlp(OBS, T, 3, (16, 16), activation, input_layernorm, layernorm)
    params = net.init(jax.random.key(21))
    obs, onehot = group_inputs(OBS, seed=22)
    out = net.apply(params, obs, onehot, None, example_extra(T))[0]
    hand = np_layernorm_mlp(params["params"], obs, onehot, activation, input_layernorm,
                            layernorm)
    np.testing.assert_allclose(out, hand, rtol=1e-4, atol=1e-5)


def test_input_layernorm_makes_output_invariant_to_affine_rescale_of_the_row():
    """x -> a x + b (scalar a > 0, b) on the whole input row concat(obs, one-hot) leaves the
    output unchanged with the input LayerNorm, and changes it without."""
    obs, onehot = group_inputs(OBS, seed=23)
    a, b = 3.5, -1.25
    for input_layernorm, invariant in ((True, True), (False, False)):
        net = make_layernorm_mlp(OBS, T, 2, (32, 32), "tanh", input_layernorm, True)
        params = net.init(jax.random.key(24))
        out = net.apply(params, obs, onehot, None, example_extra(T))[0]
        moved = net.apply(params, a * obs + b, a * onehot + b, None, example_extra(T))[0]
        if invariant:
            np.testing.assert_allclose(moved, out, rtol=1e-4, atol=1e-5)
        else:
            assert float(jnp.abs(moved - out).max()) > 1e-2


def test_xavier_normal_init_and_zero_biases():
    """Kernel variance 2 / (fan_in + fan_out) (flax's truncated normal, rescaled: every entry
    within 2 underlying standard deviations), zero biases, LayerNorm scale 1 / bias 0."""
    net = make_layernorm_mlp(OBS, T, 1, (400, 400))
    params = net.init(jax.random.key(25))["params"]
    for name, fan_in, fan_out, rtol in (("layers_1", 400, 400, 0.03),
                                        ("layers_0", OBS + T, 400, 0.1)):
        k = np.asarray(params[name]["kernel"], np.float64)
        var = 2.0 / (fan_in + fan_out)
        np.testing.assert_allclose(k.var(), var, rtol=rtol, err_msg=name)
        assert abs(k.mean()) < 0.05 * np.sqrt(var), name
        assert np.abs(k).max() <= 2.0 * np.sqrt(var) / 0.87962566103423978 + 1e-6, name
    assert_zero_biases_and_unit_scales(params)


def test_torch_init_option_is_the_fan_in_uniform():
    net = make_layernorm_mlp(OBS, T, 1, (400, 300), "relu", False, True, init_scheme="torch")
    params = net.init(jax.random.key(26))["params"]
    for name, fan_in in (("layers_0", OBS + T), ("layers_1", 400), ("layers_2", 300)):
        check_fan_in_uniform(params[name]["kernel"], fan_in, name)
    for name, fan_in in (("layers_0", OBS + T), ("layers_1", 400)):    # large biases only
        check_fan_in_uniform(params[name]["bias"], fan_in, name)
    with pytest.raises(ValueError, match="init"):
        make_layernorm_mlp(OBS, T, 1, (8,), init_scheme="kaiming")
