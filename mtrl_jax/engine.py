"""The one run engine: the chunk / evaluate / checkpoint / finish loop of every run kind.

A *driver* trains R rows in lockstep and hides how:

- :class:`DeviceRows`: a device env (point-mt, MJX); the rows (the seeds of a run, or the
  points x seeds of a sweep group) are one vmapped, jitted program, optionally sharded over the
  devices, with traced per-row float hyperparameters;
- :class:`HostRows`: CPU Meta-World stepped from Python while the device updates
  (``host_loop``); one row.

A :class:`PointRun` is one run folder's share of the rows (a run: all of them; a sweep point:
its seeds). :func:`drive` runs the loop over a driver and its points; a point that diverges
fails alone, one that early-stops finishes at that step, and the loop ends when every point
has finished or failed, or at ``cfg.total_steps``.
"""

from __future__ import annotations

import time
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.agents.sac import SAC, task_onehots
from mtrl_jax.buffer import buffer_init
from mtrl_jax.config import Config
from mtrl_jax.host_loop import HostCarry, host_step, make_host_pieces
from mtrl_jax.logging import success_table
from mtrl_jax.run_folder import RunFolder
from mtrl_jax.train import (TrainState, empty_stats, make_device_evaluate, make_train,
                            reset_counts, transition_example)


class TrainingDiverged(RuntimeError):
    """A loss became NaN/inf; the last good checkpoint is kept."""


class Progress(Protocol):
    """What the loop reports while it runs (RunLogger draws a bar; sweeps print a line)."""

    def phase(self, text: str) -> None: ...
    def tick(self, env_steps: int, updates: int, success: float | None = None) -> None: ...
    def write(self, message: str) -> None: ...


class Driver(Protocol):
    """R rows trained in lockstep."""

    env_steps: int   # transitions collected per row so far
    updates: int     # SAC updates per row since the driver was made

    def chunk(self, progress: Progress) -> dict:
        """Train to the next chunk boundary; the chunk's metrics, leading axis R, on the host."""

    def evaluate(self) -> np.ndarray:
        """(R, T) success of the deterministic policies at ``env_steps``."""

    def states(self, rows: list[slice]) -> list:
        """The checkpointable state of each slice of rows."""


def crossed(before: int, after: int, every: int) -> bool:
    return every > 0 and before // every != after // every


def eval_key(seed: int, env_steps: int) -> jax.Array:
    """The evaluation key of ``seed`` at ``env_steps``: independent of the training keys, so
    evaluating (or not) never changes training."""
    return jax.random.fold_in(jax.random.PRNGKey(seed + 1_000_003), env_steps)


def phase_name(env_steps: int, cfg: Config) -> str:
    return "warm-up (random actions)" if env_steps < cfg.warmup_steps else "training"


def divergence(metrics: dict, env_steps: int) -> str | None:
    """The error of a chunk whose loss is NaN/inf, else None."""
    if "total_loss" not in metrics:
        return None
    loss = np.asarray(metrics["total_loss"])
    if np.all(np.isfinite(loss)):
        return None
    return (f"loss became {loss.tolist()} at {env_steps} env steps; stopped without saving, the "
            "last good checkpoint is intact (lower --lr or set --grad-clip, then --resume)")


class EarlyStop:
    """Stops a run once two evaluations in a row reach ``cfg.early_stop_success`` on every
    seed, from ``cfg.early_stop_min_steps`` transitions on (off when the threshold is None)."""

    def __init__(self, cfg: Config):
        self.threshold, self.min_steps = cfg.early_stop_success, cfg.early_stop_min_steps
        self.previous_ok = False

    def _ok(self, per_seed_mean) -> bool:
        return bool(np.all(np.asarray(per_seed_mean) >= self.threshold))

    def __call__(self, env_steps: int, success: np.ndarray) -> bool:
        """``success`` (S, T) of an evaluation at ``env_steps``: stop now?"""
        if self.threshold is None:
            return False
        ok = self._ok(np.atleast_2d(success).mean(axis=-1))
        stop = ok and self.previous_ok and env_steps >= self.min_steps
        self.previous_ok = ok
        return stop

    def resume(self, folder: RunFolder) -> "EarlyStop":
        """Continue the count from the last evaluation in the run folder."""
        rows = folder.read_evals() if self.threshold is not None else []
        if rows:
            last = max(r["env_steps"] for r in rows)
            self.previous_ok = self._ok([r["eval_success"] for r in rows
                                         if r["env_steps"] == last])
        return self


class PointRun:
    """One run folder's rows: logs their chunks and evaluations, checkpoints them, applies the
    early stop, and finishes (eval_table.md, summary.json, the method's end-of-run files) or
    fails (failed.json). With ``logger=None`` (another host of a multi-host sweep) it writes
    nothing."""

    def __init__(self, cfg: Config, folder: RunFolder, rows: slice, task_names, logger,
                 on_run_end=None, stop: EarlyStop | None = None):
        self.cfg, self.folder, self.rows, self.logger = cfg, folder, rows, logger
        self.seeds = tuple(cfg.seeds or (cfg.seed,))
        self.task_names, self.on_run_end = list(task_names), on_run_end
        self.stop = stop or EarlyStop(cfg)
        self.failed: str | None = None
        self.summary: dict | None = None
        self.evaluated_at: int | None = None

    @property
    def running(self) -> bool:
        return self.failed is None and self.summary is None

    def train(self, env_steps: int, metrics: dict) -> None:
        """Log one chunk's metrics (leading axis R); a non-finite loss fails the point."""
        mine = jax.tree.map(lambda x: x[self.rows], metrics)
        error = divergence(mine, env_steps)
        if error is not None:
            self.fail(error, env_steps)
            return
        if self.logger is not None:
            for i, seed in enumerate(self.seeds):
                self.logger.log_train(env_steps, jax.tree.map(lambda x: x[i], mine), seed)

    def evaluate(self, env_steps: int, success: np.ndarray) -> bool:
        """Log an evaluation (R, T); True when the early stop ends this point here."""
        self.evaluated_at = env_steps
        mine = success[self.rows]
        if self.logger is not None:
            self.logger.log_eval(env_steps, self.task_names, mine, self.seeds)
        if self.stop(env_steps, mine):
            self.say(f"early stop at {env_steps} env steps: two evaluations in a row "
                     f">= {self.cfg.early_stop_success}")
            return True
        return False

    def checkpoint(self, env_steps: int, state) -> None:
        if self.logger is not None:
            self.folder.save_checkpoint(env_steps, state)

    def finish(self, env_steps: int, success: np.ndarray, state, wall: float) -> None:
        """Checkpoint, the final per-task table and summary.json; then the method's files."""
        self.checkpoint(env_steps, state)
        mine = success[self.rows]
        self.summary = {"run_dir": self.folder.path, "env_steps": env_steps,
                        "seeds": list(self.seeds), "task_names": self.task_names,
                        "eval_success": np.asarray(mine).tolist(),
                        "mean_success": float(np.mean(mine)), "wall_s": wall}
        if self.logger is None:
            return
        table = success_table(self.task_names, mine)
        self.say(f"\nevaluation at {env_steps} env steps\n{table}")
        self.folder.write_eval_table(table)
        self.folder.write_summary(self.summary)
        self.logger.close()
        if self.on_run_end is not None:
            self.on_run_end(self.folder.path)

    def fail(self, error: str, env_steps: int | None = None) -> None:
        """Mark the point failed (failed.json); it logs nothing more."""
        self.failed = error
        if self.logger is not None:
            self.folder.write_failed(error, env_steps)
            self.logger.close()

    def say(self, message: str) -> None:
        if self.logger is not None:
            self.logger.write(message)


def drive(cfg: Config, driver: Driver, points: list[PointRun], progress: Progress) -> None:
    """Train until ``cfg.total_steps`` or until no point is running; every point ends finished
    (``point.summary``) or failed (``point.failed``)."""
    start = time.perf_counter()
    wall = lambda: time.perf_counter() - start  # noqa: E731

    def with_states(chosen: list[PointRun]):
        return zip(chosen, driver.states([p.rows for p in chosen]))
    while driver.env_steps < cfg.total_steps and any(p.running for p in points):
        before = driver.env_steps
        metrics = driver.chunk(progress)
        env_steps = driver.env_steps
        for p in points:
            if p.running:
                p.train(env_steps, metrics)
        train_success = metrics.get("train_success")
        progress.tick(env_steps, driver.updates,
                      None if train_success is None else float(np.mean(train_success)))
        if env_steps >= cfg.total_steps:
            break
        if crossed(before, env_steps, cfg.eval_every) and any(p.running for p in points):
            progress.phase("evaluating")
            success = driver.evaluate()
            stopped = [p for p in points if p.running and p.evaluate(env_steps, success)]
            for p, state in with_states(stopped):
                p.finish(env_steps, success, state, wall())
        if crossed(before, env_steps, cfg.checkpoint_every):
            for p, state in with_states([p for p in points if p.running]):
                p.checkpoint(env_steps, state)
    env_steps = driver.env_steps
    if any(p.running and p.evaluated_at != env_steps for p in points):
        progress.phase("evaluating")
        success = driver.evaluate()
        for p in points:
            if p.running:
                p.evaluate(env_steps, success)
    for p, state in with_states([p for p in points if p.running]):
        p.finish(env_steps, success, state, wall())


# ------------------------------------------------------------------------------------------------
# Drivers
# ------------------------------------------------------------------------------------------------

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

    def chunk(h, state):
        return parts(h)[1](state)

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
        self._chunk = jax.jit(jax.vmap(chunk), donate_argnums=1, **shard)
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
        self.state, metrics = self._chunk(self.h, self.state)
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
                               jnp.asarray(obs), k_loop, 0, empty_stats(T, E))
        self.updates, self._shown = 0, None

    @property
    def env_steps(self) -> int:
        return self.carry.env_steps

    def restore(self, folder: RunFolder) -> int:
        c = self.carry
        state = folder.restore_checkpoint(self.states([slice(0, 1)])[0])
        self.carry = HostCarry(state.sac, state.buffer, c.obs, state.key, int(state.env_steps),
                               c.stats)
        return self.env_steps

    def chunk(self, progress: Progress) -> dict:
        cfg, T, E = self.cfg, self.env.num_tasks, self.env.envs_per_task
        before, infos, collect_stats = self.env_steps, [], []
        bounds = (cfg.steps_per_call * T * E, cfg.eval_every, cfg.checkpoint_every)
        while True:
            learn = self.env_steps >= max(cfg.warmup_steps, 1)
            phase = phase_name(self.env_steps, cfg)
            if phase != self._shown:  # the first step of a phase compiles its programs
                progress.phase(f"compiling, then {phase}")
            self.carry, _, info, aux = host_step(self.pieces, self.env, self.carry, learn)
            if phase != self._shown:
                progress.phase(phase)
                self._shown = phase
            collect_stats.append(aux.get("stats", {}))
            if info is not None:
                infos.append(info)
                self.updates += cfg.updates_per_step
            progress.tick(self.env_steps, self.updates)
            if (self.env_steps >= cfg.total_steps
                    or any(crossed(before, self.env_steps, every) for every in bounds)):
                break
        metrics = jax.tree.map(lambda *x: jnp.stack(x).mean(0), *infos) if infos else {}
        stats = self.carry.stats
        metrics["collect"] = jax.tree.map(lambda *x: jnp.stack(x).sum(0), *collect_stats)
        metrics.update(episodes=stats.done,
                       train_success=stats.done_success / jnp.maximum(stats.done, 1),
                       train_return=stats.done_return / jnp.maximum(stats.done, 1))
        self.carry = self.carry._replace(stats=reset_counts(stats))
        return jax.tree.map(lambda x: np.asarray(x)[None], metrics)

    def evaluate(self) -> np.ndarray:
        sac_state = self.carry.sac
        return self.env.evaluate(lambda o: self._eval_action(sac_state, jnp.asarray(o)),
                                 self.cfg.eval_episodes)[None]

    def states(self, rows: list[slice]) -> list:
        c = self.carry
        return [TrainState(c.sac, c.buffer, {}, c.obs, c.key, jnp.int32(c.env_steps), c.stats)
                for _ in rows]
