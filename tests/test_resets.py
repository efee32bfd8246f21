"""Resets (ARS): the schedule, the fresh state and its updates, and a reset inside the device
loop."""

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.config import Config, resolve
from mtrl_jax.envs import make_env
from mtrl_jax.methods import make_agent
from mtrl_jax.envs.base import spec_of
from mtrl_jax.train import is_reset_step, make_learner, make_train, reset_interval


def test_the_ars_schedule_on_mt10_and_mt50():
    mt10 = resolve(Config(algo="ars", env="mt10"))
    assert (mt10.resets, mt10.batch_size) == (4, 1000)
    assert reset_interval(mt10, 10) == 400_000 * 10          # every 400k steps per task
    hits = [s for s in range(0, mt10.total_steps, 10 * 1000)
            if is_reset_step(mt10, 10, s, s + 10 * 1000)]
    assert hits == [4_000_000 - 10_000, 8_000_000 - 10_000, 12_000_000 - 10_000,
                    16_000_000 - 10_000]
    mt50 = resolve(Config(algo="ars", env="mt50"))
    assert mt50.resets == 6 and reset_interval(mt50, 50) == 286_000 * 50
    # 4 resets over 12k steps per task: every 3k, so the 4th falls on the last step, where it
    # is dropped; a reset inside the warm-up is dropped too.
    short = resolve(Config(algo="mtsac", env="point-mt", total_steps=60_000, resets=4))
    after = [s + 5 for s in range(0, 60_000, 5) if is_reset_step(short, 5, s, s + 5)]
    assert after == [15_000, 30_000, 45_000]
    late = short.replace(warmup_steps=20_000)
    after = [s + 5 for s in range(0, 60_000, 5) if is_reset_step(late, 5, s, s + 5)]
    assert after == [30_000, 45_000]


def tiny(**changes):
    return resolve(Config(algo="mtsac", env="point-mt", hidden=(16, 16), total_steps=20_000,
                          warmup_steps=1000, steps_per_call=500, batch_size=40,
                          buffer_size=20_000, **changes))


def test_a_reset_is_a_fresh_init_followed_by_its_updates():
    cfg = tiny(resets=1, reset_updates=0)
    env = make_env(cfg)
    sac = make_agent(cfg, spec_of(env))
    init, chunk = make_train(cfg, env, sac)
    ts = jax.jit(init)(jax.random.key(0))
    ts, _ = jax.jit(chunk)(ts)                                   # 2500 transitions, buffer filled
    fresh = make_learner(cfg, sac).reset(ts.buffer, jax.random.key(1), ts.sac_key,
                                         ts.sac.reward_scale)
    for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(sac.init(ts.sac_key))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(ts.sac.steps) > 0 and int(fresh.steps) == 0
    cfg = cfg.replace(reset_updates=6)
    trained = jax.jit(make_learner(cfg, make_agent(cfg, spec_of(env))).reset)(
        ts.buffer, jax.random.key(1), ts.sac_key, ts.sac.reward_scale)
    assert int(trained.steps) == 6
    moved = [not np.array_equal(np.asarray(a), np.asarray(b))
             for a, b in zip(jax.tree.leaves(trained.actor), jax.tree.leaves(fresh.actor))]
    assert all(moved)


def test_the_device_loop_resets_once_at_its_point_and_keeps_the_buffer():
    cfg = tiny(resets=1, reset_updates=7)
    assert reset_interval(cfg, 5) == 10_000                   # per task 4000 -> every 2000
    env = make_env(cfg)
    sac = make_agent(cfg, spec_of(env))
    init, chunk = make_train(cfg, env, sac)
    chunk = jax.jit(jax.vmap(chunk, in_axes=(0, None)))        # as the engine runs it
    ts = jax.jit(jax.vmap(init))(jax.random.split(jax.random.key(0), 2))
    steps, sizes = [], []
    for _ in range(6):                                         # 2500 transitions a chunk
        ts, metrics = chunk(ts, ts.env_steps[0])
        steps.append(int(ts.sac.steps[0]))
        sizes.append(int(ts.buffer.size[0, 0]))
    # Updates from 1000 transitions on, one per vector step of 5; the reset at 10000 (the last
    # step of chunk 4) restarts the count: its 7 updates, then that step's own update.
    assert steps[:3] == [301, 801, 1301]
    assert steps[3] == 7 + 1
    assert steps[4:] == [8 + 500, 8 + 1000]
    assert sizes == [500, 1000, 1500, 2000, 2500, 3000]        # the buffer keeps filling
    assert bool(jnp.all(ts.sac.steps == ts.sac.steps[0]))
