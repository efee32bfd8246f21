"""The drivers of the run engine (``mtrl_jax.engine``): R rows trained in lockstep.

- :class:`DeviceRows`: a device env (point-mt, MJX); the rows (the seeds of a run, or the
  points x seeds of a sweep group) are one vmapped, jitted program, optionally sharded over the
  devices, with traced per-row float hyperparameters;
- :class:`HostRows`: CPU Meta-World stepped from Python while the device updates
  (``host_loop``); one row.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.agents.sac import SAC, task_onehots
from mtrl_jax.buffer import buffer_init
from mtrl_jax.config import Config
from mtrl_jax.engine import Progress, crossed, eval_key, phase_name
from mtrl_jax.host_loop import HostCarry, host_step, make_host_pieces
from mtrl_jax.run_folder import RunFolder
from mtrl_jax.train import (TrainState, episode_metrics, initial_stats, is_reset_step,
                            make_device_evaluate, make_train, reset_counts, transition_example)

def make_program(cfg: Config, traced: tuple[str, ...], env, build_sac):
    """(init(h, key), chunk(h, state), evaluate(h, sac_state, key)) for one row; ``h`` maps each
    traced field to its (scalar) value. ``build_sac(cfg) -> SAC`` runs inside the trace, so the
    traced hyperparameters are runtime values of one compiled program."""

    def parts(h):
        row_cfg = cfg.replace(**{name: h[name] for name in traced})
        sac = build_sac(row_cfg)
        init, chunk = make_train(row_cfg, env, sac)
        return init, chunk, make_device_evaluate(row_cfg, env, sac)

    def init(h, key):
        return parts(h)[0](key)

    def chunk(h, state, start_steps):
        return parts(h)[1](state, start_steps)

    def evaluate(h, sac_state, key):
        return parts(h)[2](sac_state, key)

    return init, chunk, evaluate


def row_sharding(devices=None):
    """NamedSharding that splits a leading axis over all (global) devices."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    mesh = Mesh(np.array(devices if devices is not None else jax.devices()), ("runs",))
    return NamedSharding(mesh, PartitionSpec("runs"))


def put_rows(host_array: np.ndarray, sharding):
    """A global array from a host array that every process holds in full."""
    if sharding is None:
        return jnp.asarray(host_array)
    return jax.make_array_from_callback(host_array.shape, sharding, lambda idx: host_array[idx])


def to_host(tree):
    """Fetch a (possibly multi-host) sharded pytree to numpy on every process."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils
    return multihost_utils.process_allgather(tree, tiled=True)


class DeviceRows:
    """R rows of one jitted, vmapped program over a device env.

    ``seeds`` (R,) seed each row; ``hparams`` maps each traced field to its (R,) values;
    ``sharding`` (``row_sharding()``) splits the rows over the devices, None keeps them on the
    default device."""

    def __init__(self, cfg: Config, env, build_sac, seeds, hparams: dict | None = None,
                 sharding=None):
        hparams = hparams or {}
        self.cfg, self.seeds, self.sharding = cfg, [int(s) for s in seeds], sharding
        init, chunk, evaluate = make_program(cfg, tuple(hparams), env, build_sac)
        shard = {} if sharding is None else {"out_shardings": sharding}
        self._init = jax.jit(jax.vmap(init), **shard)
        self._chunk = jax.jit(jax.vmap(chunk, in_axes=(0, 0, None)), donate_argnums=1, **shard)
        self._evaluate = jax.jit(jax.vmap(evaluate), **shard)
        self.h = {k: put_rows(np.asarray(v, np.float32), sharding) for k, v in hparams.items()}
        keys = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in self.seeds])
        self._compiled = False
        self.state = self._init(self.h, put_rows(keys, sharding))
        self.env_steps, self.updates = 0, 0

    @property
    def devices_used(self) -> int:
        return len(jax.tree.leaves(self.state)[0].sharding.device_set)

    def restore(self, folder: RunFolder) -> int:
        """Continue from the folder's latest checkpoint (all rows); the restored env steps."""
        self.state = folder.restore_checkpoint(self.state)
        self.env_steps = int(np.asarray(to_host(self.state.env_steps))[0])
        return self.env_steps

    def chunk(self, progress: Progress) -> dict:
        phase = phase_name(self.env_steps, self.cfg)
        progress.phase(phase if self._compiled else f"compiling the training step, then {phase}")
        self.state, metrics = self._chunk(self.h, self.state, jnp.int32(self.env_steps))
        self._compiled = True
        metrics = to_host(metrics)
        self.env_steps = int(np.asarray(to_host(self.state.env_steps))[0])
        self.updates += int(np.asarray(metrics["updates"])[0])
        return metrics

    def evaluate(self) -> np.ndarray:
        keys = np.stack([np.asarray(eval_key(s, self.env_steps)) for s in self.seeds])
        return np.asarray(to_host(self._evaluate(self.h, self.state.sac,
                                                 put_rows(keys, self.sharding))))

    def states(self, rows: list[slice]) -> list:
        if jax.process_count() == 1 and rows == [slice(0, len(self.seeds))]:
            return [self.state]
        host = to_host(self.state) if rows else None
        return [jax.tree.map(lambda x: jnp.asarray(x[r]), host) for r in rows]


class HostRows:
    """One row on a host env (CPU Meta-World): Python steps the vector env while the device
    updates (``host_loop``). A chunk ends at the next multiple of ``steps_per_call`` vector
    steps, of ``eval_every`` or ``checkpoint_every``, or at ``total_steps``. On resume the envs
    start fresh episodes (MuJoCo state lives outside JAX)."""

    def __init__(self, cfg: Config, env, sac: SAC, seed: int):
        self.cfg, self.env, self.sac = cfg, env, sac
        T, E = env.num_tasks, env.envs_per_task
        self.pieces = make_host_pieces(cfg, sac)
        self._eval_action = jax.jit(lambda s, o: sac.eval_action(s, o, task_onehots(T, o.shape[1])))
        k_sac, _, k_loop = jax.random.split(jax.random.PRNGKey(seed), 3)
        example = transition_example(env.obs_dim, env.act_dim, sac.networks.store_spec)
        _, obs = env.reset()
        self.carry = HostCarry(sac.init(k_sac), buffer_init(example, T, cfg.buffer_size // T),
                               jnp.asarray(obs), k_loop, 0,
                               initial_stats(cfg, T, E, env.max_episode_steps))
        self.sac_key = k_sac
        # The phases whose programs have compiled, and the label the bar shows now.
        self.updates, self._compiled_phases, self._label = 0, set(), None

    @property
    def env_steps(self) -> int:
        return self.carry.env_steps

    def restore(self, folder: RunFolder) -> int:
        c = self.carry
        state = folder.restore_checkpoint(self.states([slice(0, 1)])[0])
        # The envs restart their episodes: BRC's return range is kept, its running histories not.
        returns = (None if state.stats.returns is None else
                   state.stats.returns._replace(rewards=c.stats.returns.rewards,
                                                count=c.stats.returns.count))
        self.carry = HostCarry(state.sac, state.buffer, c.obs, state.key, int(state.env_steps),
                               c.stats._replace(returns=returns))
        return self.env_steps

    def chunk(self, progress: Progress) -> dict:
        cfg, T, E = self.cfg, self.env.num_tasks, self.env.envs_per_task
        before, infos, collect_stats = self.env_steps, [], []
        bounds = (cfg.steps_per_call * T * E, cfg.eval_every, cfg.checkpoint_every)
        while True:
            learn = self.env_steps >= max(cfg.warmup_steps, 1)
            phase = phase_name(self.env_steps, cfg)
            if phase not in self._compiled_phases:  # its first step compiles its programs
                progress.phase(f"compiling, then {phase}")
                self._label = None
            steps_before = self.env_steps
            self.carry, _, info, aux = host_step(self.pieces, self.env, self.carry, learn)
            if is_reset_step(cfg, T, steps_before, self.env_steps):
                progress.phase(f"reset at {self.env_steps} env steps: {cfg.reset_updates} updates")
                reset_key = jax.random.fold_in(jax.random.fold_in(self.carry.key, 2),
                                               self.env_steps)
                self.carry = self.carry._replace(sac=self.pieces.reset(
                    self.carry.buffer, reset_key, self.sac_key, self.carry.sac.reward_scale))
                self.updates += cfg.reset_updates
                self._label = None
            if phase != self._label:
                progress.phase(phase)
                self._label = phase
                self._compiled_phases.add(phase)
            collect_stats.append(aux.get("stats", {}))
            if info is not None:
                infos.append(info)
                self.updates += cfg.updates_per_step
            progress.tick(self.env_steps, self.updates)
            if (self.env_steps >= cfg.total_steps
                    or any(crossed(before, self.env_steps, every) for every in bounds)):
                break
        metrics = jax.tree.map(lambda *x: jnp.stack(x).mean(0), *infos) if infos else {}
        metrics["collect"] = jax.tree.map(lambda *x: jnp.stack(x).sum(0), *collect_stats)
        metrics.update(episode_metrics(self.carry.stats))
        self.carry = self.carry._replace(stats=reset_counts(self.carry.stats))
        return jax.tree.map(lambda x: np.asarray(x)[None], metrics)

    def evaluate(self) -> np.ndarray:
        sac_state = self.carry.sac
        self._label = None                         # the bar says "evaluating" until the next step
        return self.env.evaluate(lambda o: self._eval_action(sac_state, jnp.asarray(o)),
                                 self.cfg.eval_episodes)[None]

    def states(self, rows: list[slice]) -> list:
        c = self.carry
        return [TrainState(c.sac, c.buffer, {}, c.obs, c.key, jnp.int32(c.env_steps), c.stats,
                           self.sac_key) for _ in rows]
