"""Device environments (point-mt, MJX): each group of points runs as one program on the engine,
its rows (points x seeds) sharded over every device, on every host with ``jax.distributed``."""

from __future__ import annotations

import os
import time

import jax

from mtrl_jax.config import Config, ConfigError, validate
from mtrl_jax.drivers import DeviceRows, row_sharding
from mtrl_jax.engine import PointRun, drive
from mtrl_jax.envs import make_env
from mtrl_jax.experiment import sac_builder
from mtrl_jax.methods import build_method
from mtrl_jax.run_folder import RunFolder
from mtrl_jax.sweep.base import Sweep, record_failure, resolve_point, write_record
from mtrl_jax.sweep.grid import Point
from mtrl_jax.sweep.groups import Group, make_groups, padding, padding_message
from mtrl_jax.xla_cache import enable_compile_cache


class SweepProgress:
    """One line per chunk: env steps, running points, wall time."""

    def __init__(self, total_steps: int, points: list[PointRun], log=print):
        self.total, self.points, self.log = total_steps, points, log
        self.start = time.perf_counter()

    def phase(self, text: str) -> None:
        pass

    def tick(self, env_steps: int, updates: int, success: float | None = None) -> None:
        alive = sum(p.running for p in self.points)
        self.log(f"  {env_steps}/{self.total} env steps, {alive}/{len(self.points)} points "
                 f"running, {time.perf_counter() - self.start:.1f}s")

    def write(self, message: str) -> None:
        self.log(message)


def run_group(group: Group, run_dirs: list[str], pad: bool = True, log=print) -> list[dict]:
    """Train a group's points x seeds as one program sharded over all devices.

    Returns one record per point: status, error, mean_success, devices_used."""
    cfg = group.cfgs[0]
    enable_compile_cache(cfg.compile_cache)
    env = make_env(cfg, seed=group.points[0].seeds[0])
    n_dev, seeds_n = jax.device_count(), group.num_seeds
    message = padding_message(group.rows, n_dev, pad)
    if message and not pad:
        raise ConfigError(message)
    if message:
        log(f"note: {message}")
    seeds = [s for p in group.points for s in p.seeds]
    hparams = {name: [getattr(c, name) for c in group.cfgs for _ in range(seeds_n)]
               for name in group.traced}
    extra = padding(len(seeds), n_dev)
    seeds += seeds[-1:] * extra
    hparams = {k: v + v[-1:] * extra for k, v in hparams.items()}
    on_run_end = build_method(cfg, env.spec).hooks.on_run_end
    write = jax.process_index() == 0
    points = []
    for i, (c, d) in enumerate(zip(group.cfgs, run_dirs)):
        folder = RunFolder(d)
        logger = None
        if write:
            folder.write_config(c)
            logger = folder.open_logger(c, progress=False)
        points.append(PointRun(c, folder, slice(i * seeds_n, (i + 1) * seeds_n),
                               env.task_names, logger, on_run_end))
    driver = DeviceRows(cfg, env, sac_builder(env), seeds, hparams, row_sharding())
    drive(cfg, driver, points, SweepProgress(cfg.total_steps, points, log))
    return [{"status": "ok", "mean_success": p.summary["mean_success"],
             "devices_used": driver.devices_used} if p.failed is None else
            {"status": "failed", "error": p.failed, "devices_used": driver.devices_used}
            for p in points]


def validate_for_env(sweep: Sweep, points: list[Point], cfgs: list[Config], log=print):
    """Drop (as failed) the points whose config does not fit the env (e.g. a batch size not
    divisible by its number of tasks), as experiment.run checks before training."""
    env = make_env(cfgs[0], seed=points[0].seeds[0])
    kept_points, kept_cfgs = [], []
    for p, cfg in zip(points, cfgs):
        try:
            validate(cfg, env.num_tasks)
        except ConfigError as err:
            sweep.records[p.name].update(status="failed", error=str(err))
            log(f"point {p.name} failed: {err}")
            continue
        kept_points.append(p)
        kept_cfgs.append(cfg)
    return kept_points, kept_cfgs


def run_device_sweep(sweep: Sweep, log=print) -> dict:
    """Resolve every point, group them into programs and run each group sharded."""
    points, cfgs = [], []
    for p in sweep.points:
        try:
            cfg, run_dir = resolve_point(p, sweep.env, sweep.sweep_dir)
        except ConfigError as err:
            sweep.records[p.name] = {"status": "failed", "error": str(err), "values": p.values,
                                     "algo": p.algo}
            log(f"point {p.name} failed: {err}")
            continue
        points.append(p)
        cfgs.append(cfg)
        sweep.records[p.name] = {"status": "pending", "run_dir": run_dir, "algo": p.algo,
                                 "values": p.values}
    if jax.process_count() > 1:   # every host resolved before process 0 writes any folder
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices("mtrl_jax sweep: points resolved")
    if cfgs:
        points, cfgs = validate_for_env(sweep, points, cfgs, log)
    groups = make_groups(points, cfgs, sweep.trace_floats)
    info = {"devices": jax.device_count(), "processes": jax.process_count(), "groups": [
        {"points": [p.name for p in g.points], "traced": list(g.traced), "rows": g.rows,
         "padded_rows": g.rows + padding(g.rows, jax.device_count())} for g in groups]}
    if not sweep.pad:
        for g in groups:
            message = padding_message(g.rows, jax.device_count(), pad=False)
            if message:
                raise ConfigError(message)
    write_record(sweep, info)
    for i, group in enumerate(groups):
        log(f"group {i + 1}/{len(groups)}: {len(group.points)} points x {group.num_seeds} seeds "
            f"on {jax.device_count()} devices" + (f", traced {', '.join(group.traced)}"
                                                  if group.traced else ""))
        group_dirs = [sweep.records[p.name]["run_dir"] for p in group.points]
        try:
            results = run_group(group, group_dirs, sweep.pad, log)
        except Exception as err:  # a program that fails fails its points, not the sweep
            results = [{"status": "failed", "error": f"{type(err).__name__}: {err}"}] * len(
                group.points)
            for d in group_dirs:
                record_failure(d, results[0]["error"])
            log(f"group {i + 1} failed: {results[0]['error']}")
        for p, r in zip(group.points, results):
            sweep.records[p.name].update(r)
        write_record(sweep, info)
    return sweep.records


def maybe_initialize_distributed(force: bool = False) -> bool:
    """``jax.distributed.initialize`` for multi-host sweeps, from the usual cluster variables:
    JAX_COORDINATOR_ADDRESS + JAX_NUM_PROCESSES + JAX_PROCESS_ID, or SLURM / Open MPI
    (auto-detected by JAX). Returns whether it initialised."""
    if os.environ.get("JAX_COORDINATOR_ADDRESS") and os.environ.get("JAX_NUM_PROCESSES"):
        jax.distributed.initialize(
            coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
            process_id=int(os.environ.get("JAX_PROCESS_ID", "0")))
        return True
    cluster = (int(os.environ.get("SLURM_NTASKS", "1")) > 1
               or int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1)
    if force or cluster:
        jax.distributed.initialize()
        return True
    return False
