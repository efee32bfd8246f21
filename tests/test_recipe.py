"""The 2025 recipe's switches inside the SAC core: the categorical critic and the replaced
torsos, on tiny networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.config import Config, ConfigError, resolve
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.methods import make_agent

T, N, OBS, ACT = 3, 8, 4, 2
SPEC = EnvSpec.sized(OBS, ACT, T)


def tiny(**changes) -> Config:
    return resolve(Config(algo="mtsac", env="point-mt", hidden=(32, 32), batch_size=T * N,
                          lr=3e-3, **changes))


def fixed_batch(key, terminated: bool):
    k = jax.random.split(key, 4)
    return {"obs": jax.random.normal(k[0], (T, N, OBS)),
            "action": jax.random.uniform(k[1], (T, N, ACT), minval=-1, maxval=1),
            "reward": jax.random.uniform(k[2], (T, N), minval=-1.5, maxval=1.5),
            "next_obs": jax.random.normal(k[3], (T, N, OBS)),
            "terminated": jnp.full((T, N), terminated), "truncated": jnp.zeros((T, N), bool),
            "stored": {}}


def train_on(cfg, batch, steps: int):
    sac = make_agent(cfg, SPEC)
    state = sac.init(jax.random.key(0))

    @jax.jit
    def run(state, key):
        def body(s, k):
            return sac.update(s, batch, k)[0], None
        return jax.lax.scan(body, state, jax.random.split(key, steps))[0]

    return sac, run(state, jax.random.key(1))


@pytest.mark.parametrize("critic_loss", ["categorical", "mse"])
def test_terminal_transitions_teach_the_critic_their_reward(critic_loss):
    """With every transition terminal the target is the reward itself (the categorical target
    a point mass projected at r), so the critics' (expected) value must fit the rewards."""
    cfg = tiny(critic_loss=critic_loss, critic_bins=41, v_max=2.0)
    batch = fixed_batch(jax.random.key(2), terminated=True)
    sac, state = train_on(cfg, batch, 600)
    onehot = jnp.broadcast_to(jnp.eye(T)[:, None], (T, N, T))
    q = sac.q_values(state, batch["obs"], batch["action"], onehot)
    np.testing.assert_allclose(np.asarray(q), np.asarray(batch["reward"]), atol=0.1)
    if critic_loss == "categorical":
        leaves = jax.tree.leaves(state.critic)
        assert any(x.shape[-1] == 41 for x in leaves)            # a 41-logit head
        assert np.all(np.abs(np.asarray(q)) <= 2.0 + 1e-5)


def test_categorical_critic_loss_is_the_cross_entropy_of_the_projected_target():
    """At a fresh init with terminal transitions, the reported critic loss is the two critics'
    summed cross-entropy against the reward projected on the support (numpy)."""
    from mtrl_jax.agents.sac import twin_apply_loop
    cfg = tiny(critic_loss="categorical", critic_bins=5, v_max=2.0)
    batch = fixed_batch(jax.random.key(3), terminated=True)
    sac = make_agent(cfg, SPEC)
    state = sac.init(jax.random.key(4))
    _, info = jax.jit(sac.update)(state, batch, jax.random.key(5))
    onehot = jnp.broadcast_to(jnp.eye(T)[:, None], (T, N, T))
    x = jnp.concatenate([batch["obs"], batch["action"]], -1)
    extra = {"mode": "update", "shared": {}, "log_alpha": state.log_alpha, "stored": {}}
    logits = np.asarray(twin_apply_loop(sac.networks.critic, state.critic, x, onehot, None,
                                        extra), np.float64)                 # (2, T, N, 5)
    r = np.clip(np.asarray(batch["reward"], np.float64), -2, 2)
    target = np.maximum(0.0, 1.0 - np.abs((r[..., None] + 2) / 1.0 - np.arange(5)))
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(target[None] * log_p).sum(-1).mean(-1).sum(0)              # (T,)
    np.testing.assert_allclose(np.asarray(info["critic_loss"]), expected, rtol=1e-4)


@pytest.mark.parametrize("role", ["critic", "actor"])
@pytest.mark.parametrize("kind", ["bronet", "mlp"])
def test_a_replaced_torso_trains_under_any_method(role, kind):
    for algo in ("mhsac", "paco"):
        cfg = tiny(**{f"{role}_torso": kind}).replace(algo=algo)
        cfg = resolve(cfg)
        sac = make_agent(cfg, SPEC)
        state = sac.init(jax.random.key(0))
        params = getattr(state, role)["params"]
        names = set(params)
        if kind == "bronet":
            assert {"stem", "head"} <= names, names
            width = cfg.critic_width if role == "critic" else cfg.actor_width
            assert params["stem"]["kernel"].shape[-1] == width
        else:
            assert names == {f"layers_{i}" for i in range(len(cfg.hidden) + 1)}, names
        new, info = jax.jit(sac.update)(state, fixed_batch(jax.random.key(1), False),
                                        jax.random.key(2))
        assert np.all(np.isfinite(np.asarray(info["total_loss"])))
        moved = jax.tree.leaves(jax.tree.map(lambda a, b: jnp.any(a != b), getattr(state, role),
                                             getattr(new, role)))
        assert any(bool(m) for m in moved)


def test_torso_sizes_resolve_from_the_paper_and_bad_switches_fail():
    brc = resolve(Config(algo="mtsac", critic_torso="bronet", actor_torso="bronet"))
    assert (brc.critic_width, brc.critic_blocks, brc.actor_width, brc.actor_blocks) == \
        (4096, 2, 256, 1)
    mlp = resolve(Config(algo="mtsac", critic_torso="mlp", layernorm=True))
    assert (mlp.critic_width, mlp.critic_blocks) == (400, 3)
    assert resolve(Config(algo="mtsac")).critic_width is None
    with pytest.raises(ConfigError, match="--layernorm applies to mlp torsos"):
        resolve(Config(algo="mtsac", layernorm=True))
    with pytest.raises(ConfigError, match="--critic-width must be positive"):
        resolve(Config(algo="mtsac", critic_torso="bronet", critic_width=0))
    with pytest.raises(ConfigError, match="--critic-bins"):
        resolve(Config(algo="mtsac", critic_loss="categorical", critic_bins=1))


def test_ars_reward_scale_multiplies_the_sampled_rewards():
    cfg = tiny(reward_scaling="ars")
    sac = make_agent(cfg, SPEC)
    batch = fixed_batch(jax.random.key(6), terminated=False)
    scale = jnp.array([0.5, 2.0, 3.0])
    state = sac.init(jax.random.key(7))
    _, scaled = jax.jit(sac.update)(state._replace(reward_scale=scale), batch, jax.random.key(8))
    by_hand = {**batch, "reward": batch["reward"] * scale[:, None]}
    _, plain = jax.jit(sac.update)(state, by_hand, jax.random.key(8))
    np.testing.assert_allclose(np.asarray(scaled["critic_loss"]),
                               np.asarray(plain["critic_loss"]), rtol=1e-6)
    _, unscaled = jax.jit(sac.update)(state, batch, jax.random.key(8))
    assert not np.allclose(np.asarray(unscaled["critic_loss"]), np.asarray(plain["critic_loss"]))


def test_the_first_update_sets_the_ars_scales_from_the_buffer_and_later_ones_keep_them():
    from mtrl_jax.buffer import buffer_add, buffer_init
    from mtrl_jax.train import make_learner, transition_example
    cfg = tiny(reward_scaling="ars")
    sac = make_agent(cfg, SPEC)
    buffer = buffer_init(transition_example(OBS, ACT, {}), T, 16)
    rows = fixed_batch(jax.random.key(9), terminated=False)
    rewards = jnp.array([[0.2] * N, [0.8] * N, [0.001] * N])        # task means 0.2, 0.8, 0.001
    buffer = buffer_add(buffer, {**rows, "reward": rewards})
    updates = jax.jit(make_learner(cfg, sac)[4])
    state, _ = updates(sac.init(jax.random.key(10)), buffer, jax.random.key(11))
    np.testing.assert_allclose(np.asarray(state.reward_scale), [4.0, 1.0, 80.0], rtol=1e-5)
    buffer = buffer_add(buffer, {**rows, "reward": rewards[::-1]})
    state, _ = updates(state, buffer, jax.random.key(12))
    np.testing.assert_allclose(np.asarray(state.reward_scale), [4.0, 1.0, 80.0], rtol=1e-5)
