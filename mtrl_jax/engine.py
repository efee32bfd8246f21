"""The one run engine: the chunk / evaluate / checkpoint / finish loop of every run kind.

A *driver* (``mtrl_jax.drivers``) trains R rows in lockstep and hides how: ``DeviceRows``, one
vmapped program over a device env, optionally sharded (a run's seeds, or a sweep group's
points x seeds); ``HostRows``, CPU Meta-World stepped from Python.

A :class:`PointRun` is one run folder's share of the rows (a run: all of them; a sweep point:
its seeds). :func:`drive` runs the loop over a driver and its points; a point that diverges
fails alone, one that early-stops finishes at that step, and the loop ends when every point
has finished or failed, or at ``cfg.total_steps``.
"""

from __future__ import annotations

import time
from typing import Protocol

import jax
import numpy as np

from mtrl_jax.config import Config
from mtrl_jax.logging import success_table
from mtrl_jax.run_folder import RunFolder


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
