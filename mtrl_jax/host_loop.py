"""The training step of host environments (CPU Meta-World): MuJoCo on the host, SAC on the device.

One vector-env step (T tasks x E envs) runs, in this order::

    action = select_action(sac, obs)       device; the host waits for it
    sac    = update(sac, buffer)           device, dispatched and left running
    out    = env.step(action)              host MuJoCo, while the update computes
    buffer = store(buffer, transition)     device, queued behind the update's reads

JAX dispatches asynchronously, so the env step overlaps the update (``overlap=False`` waits for
the update first: the sequential loop). The update of step t samples the transitions up to t-1
(the one being collected is stored after it), and the action of step t comes from the parameters
after update t-1, as in the sequential loop. ``update`` donates the SAC state and ``store`` the
replay buffer, so neither is copied per step (a store into the 1M-transition MT10 buffer: 174 ms
as a copy, 0.76 ms donated, with the episode stats; benchmarks/README.md). Randomness is ``fold_in(key, env_steps)`` inside
the jitted functions: one constant key, no per-step key dispatch.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.agents.sac import SAC, SACState
from mtrl_jax.buffer import ReplayBuffer
from mtrl_jax.train import EpisodeStats, make_learner


class HostPieces(NamedTuple):
    """The jitted parts of one host-loop step."""

    select_action: Callable  # (sac, obs (T, E, d), key, env_steps) -> (action (T, E, A), aux)
    update: Callable         # (sac, buffer, key, env_steps) -> (sac, info); sac is donated
    store: Callable          # (buffer, obs, action, StepOut, aux) -> buffer; buffer is donated
    observe: Callable        # (EpisodeStats, log_alpha, reward, success, terminated, truncated)
                             #   -> (EpisodeStats, BRC's reward scales or None)
    reset: Callable          # (buffer, key, sac_key, reward_scale) -> sac: fresh, then updated


class HostCarry(NamedTuple):
    """What the host loop carries from one step to the next."""

    sac: SACState
    buffer: ReplayBuffer
    obs: jax.Array           # (T, E, obs_dim) on the device
    key: jax.Array           # constant; per-step keys are folded in from env_steps
    env_steps: int           # transitions collected over all tasks
    stats: EpisodeStats


def make_host_pieces(cfg, sac: SAC) -> HostPieces:
    learner = make_learner(cfg, sac)
    select_action, store, updates = learner.select_action, learner.store, learner.updates

    def act(sac_state, obs, key, env_steps):
        return select_action(sac_state, obs, jax.random.fold_in(jax.random.fold_in(key, 0),
                                                                 env_steps), env_steps)

    def update(sac_state, buffer, key, env_steps):
        return updates(sac_state, buffer, jax.random.fold_in(jax.random.fold_in(key, 1),
                                                             env_steps))

    return HostPieces(jax.jit(act), jax.jit(update, donate_argnums=0),
                      jax.jit(store, donate_argnums=0), jax.jit(learner.observe),
                      jax.jit(learner.reset))


def host_step(pieces: HostPieces, env, carry: HostCarry, learn: bool, overlap: bool = True):
    """One vector-env step, and one round of ``updates_per_step`` updates if ``learn``.

    Returns (carry, StepOut (numpy), update info or None, collect aux)."""
    action, aux = pieces.select_action(carry.sac, carry.obs, carry.key, carry.env_steps)
    host_action = np.asarray(action)
    sac_state, info = carry.sac, None
    if learn:
        sac_state, info = pieces.update(carry.sac, carry.buffer, carry.key, carry.env_steps)
        if not overlap:
            jax.block_until_ready(sac_state)
    _, out = env.step(None, host_action)
    buffer = pieces.store(carry.buffer, carry.obs, action, out, aux)
    stats, scale = pieces.observe(carry.stats, sac_state.log_alpha, out.reward, out.success,
                                  out.terminated, out.truncated)
    if scale is not None:
        sac_state = sac_state._replace(reward_scale=scale)
    steps = carry.env_steps + env.num_tasks * env.envs_per_task
    return HostCarry(sac_state, buffer, jnp.asarray(out.obs), carry.key, steps, stats), out, info, aux
