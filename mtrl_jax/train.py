"""The collect + update loop as pure functions of an explicit :class:`TrainState`.

For device environments (pure-JAX suite, MJX) ``make_train(cfg, env, sac)`` returns ``init(key)``
and ``train_chunk(state)``: one jittable function that runs ``cfg.steps_per_call`` vector-env
steps, each followed by ``cfg.updates_per_step`` SAC updates once the warm-up is done. ``vmap``
over keys trains several seeds in one program. For host environments (CPU Meta-World) the same
pieces (``select_action``, ``store``, ``learn``) are jitted separately and driven from Python.

A collect function maps ``(sac_state, obs (T, E, d), onehot (T, E, T), key, env_steps)`` to
``(action (T, E, A), aux)``; ``aux["store"]`` is kept in the replay buffer with the transition and
``aux["stats"]`` (arrays) is summed over a chunk and logged (QMP's selection counts).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mtrl_jax.agents.reward_scaling import ars_scales, brc_denominator, brc_init, brc_step
from mtrl_jax.agents.sac import SAC, SACState, default_target_entropy, task_onehots
from mtrl_jax.buffer import ReplayBuffer, buffer_add, buffer_init, stratified_sample
from mtrl_jax.envs.base import rollout_success


class EpisodeStats(NamedTuple):
    ep_return: jax.Array       # (T, E) return of the running episode
    ep_success: jax.Array      # (T, E) bool: the running episode has succeeded
    done: jax.Array            # (T,) episodes finished since the last reset of the stats
    done_success: jax.Array    # (T,) of which succeeded
    done_return: jax.Array     # (T,) summed returns of the finished episodes
    returns: Any = None        # BRCStats of --reward-scaling brc (kept for the run), else None


class TrainState(NamedTuple):
    sac: SACState
    buffer: ReplayBuffer
    env_state: Any
    obs: jax.Array             # (T, E, obs_dim)
    key: jax.Array
    env_steps: jax.Array       # int32: transitions collected over all tasks
    stats: EpisodeStats
    sac_key: jax.Array         # the SAC state's init key; a reset starts from it again


def reset_interval(cfg, num_tasks: int) -> int:
    """Transitions (over all tasks) between two of ``cfg.resets`` resets, ARS's spacing:
    ceil(B / (1000 (N + 1))) x 1000 per task for the per-task budget B."""
    per_task = cfg.total_steps // num_tasks
    return -(-per_task // (1000 * (cfg.resets + 1))) * 1000 * num_tasks


def is_reset_step(cfg, num_tasks: int, before, after):
    """Whether a reset falls in the transitions (before, after] (traced or Python ints)."""
    every = reset_interval(cfg, num_tasks)
    return (cfg.resets > 0) & (before // every != after // every) & (
        after // every <= cfg.resets) & (after > cfg.warmup_steps) & (after < cfg.total_steps)


def default_collect(sac: SAC):
    def collect(sac_state, obs, onehot, key, env_steps):
        return sac.explore(sac_state, obs, onehot, key)
    return collect


def make_collect(sac: SAC):
    """The method's collect function (QMP's mixture) or each task's own policy."""
    factory = sac.hooks.make_collect
    return default_collect(sac) if factory is None else factory(sac)


def transition_example(obs_dim: int, act_dim: int, store_spec: dict) -> dict:
    """One transition's fields (shapes without leading axes) for ``buffer_init``."""
    return {"obs": jnp.zeros((obs_dim,)), "action": jnp.zeros((act_dim,)),
            "reward": jnp.zeros(()), "next_obs": jnp.zeros((obs_dim,)),
            "terminated": jnp.zeros((), bool), "truncated": jnp.zeros((), bool),
            "stored": {k: jnp.zeros(shape, dtype) for k, (shape, dtype) in store_spec.items()}}


def empty_stats(num_tasks: int, envs_per_task: int, returns_horizon: int | None = None
                ) -> EpisodeStats:
    """Zero stats; with ``returns_horizon`` (the episode length) also BRC's return range."""
    z = jnp.zeros((num_tasks, envs_per_task))
    t = jnp.zeros((num_tasks,))
    returns = (None if returns_horizon is None
               else brc_init(num_tasks, envs_per_task, returns_horizon))
    return EpisodeStats(z, z.astype(bool), t, t, t, returns)


def initial_stats(cfg, num_tasks: int, envs_per_task: int, max_episode_steps: int
                  ) -> EpisodeStats:
    """The stats a run starts from: with BRC's return range under --reward-scaling brc."""
    return empty_stats(num_tasks, envs_per_task,
                       max_episode_steps if cfg.reward_scaling == "brc" else None)


def update_stats(stats: EpisodeStats, reward, success, ended) -> EpisodeStats:
    ep_return = stats.ep_return + reward
    ep_success = stats.ep_success | success
    return stats._replace(
        ep_return=jnp.where(ended, 0.0, ep_return), ep_success=ep_success & ~ended,
        done=stats.done + ended.sum(1), done_success=stats.done_success + (ep_success & ended).sum(1),
        done_return=stats.done_return + jnp.where(ended, ep_return, 0.0).sum(1))


def episode_metrics(stats: EpisodeStats) -> dict:
    """A chunk's episode metrics: finished episodes (T,), their success rate and mean return."""
    done = jnp.maximum(stats.done, 1)
    return {"episodes": stats.done, "train_success": stats.done_success / done,
            "train_return": stats.done_return / done}


def reset_counts(stats: EpisodeStats) -> EpisodeStats:
    t = jnp.zeros_like(stats.done)
    return stats._replace(done=t, done_success=t, done_return=t)


def make_learner(cfg, sac: SAC):
    """Pieces shared by the device and host loops, all pure and jittable:
    (select_action, store, learn, collect, updates)."""
    collect = make_collect(sac)
    T = sac.num_tasks
    per_task = cfg.batch_size // T

    def select_action(sac_state, obs, key, env_steps):
        """Policy action, or uniform random during the warm-up; returns (action, aux)."""
        k_act, k_rand = jax.random.split(key)
        onehot = task_onehots(T, obs.shape[1])
        action, aux = collect(sac_state, obs, onehot, k_act, env_steps)
        random_action = jax.random.uniform(k_rand, action.shape, minval=-1.0, maxval=1.0)
        warming_up = env_steps < cfg.warmup_steps
        action = jnp.where(warming_up, random_action, action)
        # The collect's counts describe the policy's actions: none while random actions act.
        stats = jax.tree.map(lambda x: jnp.where(warming_up, jnp.zeros_like(x), x),
                             aux.get("stats", {}))
        return action, {**aux, "stats": stats}

    def store(buffer, obs, action, out, aux):
        return buffer_add(buffer, {"obs": obs, "action": action, "reward": out.reward,
                                   "next_obs": out.next_obs, "terminated": out.terminated,
                                   "truncated": out.truncated, "stored": aux.get("store", {})})

    def many_updates(sac_state, buffer, key, count: int):
        """``count`` SAC updates on fresh stratified batches; mean metrics. The first update of
        a SAC state (after the warm-up, after a reset) sets its ARS reward scales from the
        buffer."""
        if cfg.reward_scaling == "ars":
            sac_state = jax.lax.cond(
                sac_state.steps == 0,
                lambda s: s._replace(reward_scale=ars_scales(buffer.data["reward"], buffer.size)),
                lambda s: s, sac_state)

        def one(state, k):
            k_sample, k_update = jax.random.split(k)
            return sac.update(state, stratified_sample(buffer, k_sample, per_task), k_update)
        sac_state, info = jax.lax.scan(one, sac_state, jax.random.split(key, count))
        return sac_state, jax.tree.map(lambda x: x.mean(0), info)

    def updates(sac_state, buffer, key):
        """``updates_per_step`` SAC updates on fresh stratified batches; mean metrics."""
        return many_updates(sac_state, buffer, key, cfg.updates_per_step)

    target_entropy = default_target_entropy(cfg, sac.act_dim)

    def observe(stats, log_alpha, reward, success, terminated, truncated):
        """Fold one vector-env step (T, E) into the episode stats; returns (stats, the (T,)
        reward scales of --reward-scaling brc from the updated return range, else None)."""
        new = update_stats(stats, reward, success, terminated | truncated)
        if cfg.reward_scaling != "brc":
            return new, None
        returns = brc_step(stats.returns, reward, terminated, truncated, cfg.gamma)
        denominator = brc_denominator(returns.g_min, returns.g_max, jnp.exp(log_alpha),
                                      cfg.gamma, target_entropy, cfg.v_max)
        return new._replace(returns=returns), 1.0 / denominator

    def reset(buffer, key, sac_key, reward_scale):
        """A fresh SAC state from ``sac_key`` (params, targets, temperatures, every optimiser
        state) keeping ``reward_scale`` (T,), then ``reset_updates`` updates on the kept
        buffer (ARS's scales are recomputed at the fresh state's first update)."""
        fresh = sac.init(sac_key)._replace(reward_scale=reward_scale)
        if cfg.reset_updates == 0:
            return fresh
        return many_updates(fresh, buffer, key, cfg.reset_updates)[0]

    def learn(sac_state, buffer, key, env_steps):
        """Updates once ``env_steps`` has passed the warm-up, else nothing (zero metrics)."""
        shapes = jax.eval_shape(updates, sac_state, buffer, key)[1]
        skip = lambda s, b, k: (s, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes))  # noqa: E731
        return jax.lax.cond(env_steps >= max(cfg.warmup_steps, 1), updates, skip,
                            sac_state, buffer, key)

    return Learner(select_action, store, learn, collect, updates, reset, observe)


class Learner(NamedTuple):
    """The pure pieces of :func:`make_learner`."""

    select_action: Any   # (sac, obs (T, E, d), key, env_steps) -> (action, aux)
    store: Any           # (buffer, obs, action, StepOut, aux) -> buffer
    learn: Any           # (sac, buffer, key, env_steps) -> (sac, info); nothing in the warm-up
    collect: Any         # the method's collect function
    updates: Any         # (sac, buffer, key) -> (sac, info): updates_per_step updates
    reset: Any           # (buffer, key, sac_key, reward_scale) -> sac: a fresh state, updated
    observe: Any         # (stats, log_alpha, reward, success, terminated, truncated)
                         #   -> (stats, reward_scale (T,) or None)


def make_train(cfg, env, sac: SAC):
    """(init(key) -> TrainState, train_chunk(TrainState) -> (TrainState, metrics)) for a
    device env. Both are pure and jittable; vmap them over keys for several seeds."""
    T, E = env.num_tasks, env.envs_per_task
    learner = make_learner(cfg, sac)
    example = transition_example(env.obs_dim, env.act_dim, sac.networks.store_spec)

    def init(key):
        k_sac, k_env, k_loop = jax.random.split(key, 3)
        env_state, obs = env.reset(k_env)
        buffer = buffer_init(example, T, cfg.buffer_size // T)
        return TrainState(sac.init(k_sac), buffer, env_state, obs, k_loop,
                          jnp.zeros((), jnp.int32),
                          initial_stats(cfg, T, E, env.max_episode_steps), k_sac)

    def env_step(start_steps, ts: TrainState, i):
        key, k_act, k_env, k_learn, *k_reset = jax.random.split(ts.key,
                                                                5 if cfg.resets > 0 else 4)
        action, aux = learner.select_action(ts.sac, ts.obs, k_act, ts.env_steps)
        env_state, out = env.step(ts.env_state, action, k_env)
        buffer = learner.store(ts.buffer, ts.obs, action, out, aux)
        env_steps = ts.env_steps + T * E
        sac_state = ts.sac
        if cfg.resets > 0:
            # The step count of the chunk's start, not the state's, decides: it is the same
            # for every vmapped row, so the reset stays a branch and is not computed per step.
            after = start_steps + (i + 1) * T * E
            sac_state = jax.lax.cond(is_reset_step(cfg, T, after - T * E, after),
                                     lambda: learner.reset(buffer, k_reset[0], ts.sac_key,
                                                           sac_state.reward_scale),
                                     lambda: sac_state)
        sac_state, info = learner.learn(sac_state, buffer, k_learn, env_steps)
        stats, scale = learner.observe(ts.stats, sac_state.log_alpha, out.reward, out.success,
                                       out.terminated, out.truncated)
        if scale is not None:
            sac_state = sac_state._replace(reward_scale=scale)
        ts = TrainState(sac_state, buffer, env_state, out.obs, key, env_steps, stats, ts.sac_key)
        return ts, (info, aux.get("stats", {}), env_steps >= cfg.warmup_steps)

    def train_chunk(ts: TrainState, start_steps=None):
        """``cfg.steps_per_call`` vector-env steps from ``ts``; ``start_steps`` is
        ``ts.env_steps`` as an unbatched value when the chunk is vmapped over rows (resets)."""
        start_steps = ts.env_steps if start_steps is None else start_steps
        ts = ts._replace(stats=reset_counts(ts.stats))
        ts, (info, collect_stats, learning) = jax.lax.scan(
            lambda t, i: env_step(start_steps, t, i), ts, jnp.arange(cfg.steps_per_call))
        # Average update metrics over the steps that did update.
        n = jnp.maximum(learning.sum(), 1)
        metrics = jax.tree.map(lambda x: x.sum(0) / n, info)
        metrics["updates"] = learning.sum() * cfg.updates_per_step
        metrics["collect"] = jax.tree.map(lambda x: x.sum(0), collect_stats)
        return ts, {**metrics, **episode_metrics(ts.stats)}

    return init, train_chunk


def make_device_evaluate(cfg, env, sac: SAC):
    """evaluate(sac_state, key) -> (T,) success rate over ``cfg.eval_episodes`` episodes per task:
    deterministic actions, success if the task succeeds at any step. Pure and jittable."""
    eval_env = env.with_envs(cfg.eval_episodes)
    onehot = task_onehots(eval_env.num_tasks, eval_env.envs_per_task)

    def evaluate(sac_state: SACState, key):
        return rollout_success(eval_env, lambda obs: sac.eval_action(sac_state, obs, onehot), key)

    return evaluate
