"""One training run end to end: config -> env -> method -> loop -> evaluation, logs, checkpoints.

``run(cfg)`` is what ``experiments/run.py`` calls: it checks the config against the env and
the device, opens the run folder and drives the run on the engine (``mtrl_jax.engine``): device
environments train all seeds of ``cfg.seeds`` in one vmapped, jitted program; CPU Meta-World
is driven from Python with jitted action selection, buffer writes and updates.
"""

from __future__ import annotations

import os
import sys
import time

import jax

from mtrl_jax.agents.sac import SAC
from mtrl_jax.buffer import buffer_bytes, free_memory_bytes
from mtrl_jax.config import (DEVICE_ENVS, RESUMABLE_CHANGES, Config, ConfigError, resolve,
                             validate)
from mtrl_jax.drivers import DeviceRows, HostRows
from mtrl_jax.engine import EarlyStop, PointRun, TrainingDiverged, drive
from mtrl_jax.envs import check_env, make_env
from mtrl_jax.logging import import_wandb
from mtrl_jax.methods import make_agent
from mtrl_jax.run_folder import RunFolder
from mtrl_jax.train import transition_example
from mtrl_jax.xla_cache import enable_compile_cache


def prepare_run_dir(cfg: Config) -> tuple[Config, RunFolder, bool]:
    """(resolved config, run folder, resuming). Nothing is written before all checks pass."""
    if cfg.resume:
        folder = RunFolder(cfg.resume)
        saved = folder.read_config()
        overrides = {k: getattr(cfg, k) for k in RESUMABLE_CHANGES
                     if getattr(cfg, k) is not None and k != "out_dir"}
        resumed = resolve(saved.replace(**overrides))
        if folder.latest_checkpoint() is None:
            print(f"--resume {folder.path}: no complete checkpoint there (the run stopped before "
                  "its first one); starting it again from scratch", file=sys.stderr, flush=True)
            return resumed, folder, False
        folder.check_network_format()
        return resumed, folder, True
    cfg = resolve(cfg)
    seeds = cfg.seeds or (cfg.seed,)
    name = cfg.run_name or f"{cfg.algo}-{cfg.env}-s{'_'.join(map(str, seeds))}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder = RunFolder(os.path.join(cfg.out_dir, name))
    if folder.holds_run():
        raise ConfigError(f"run folder {folder.path} already holds a run: continue it with "
                          f"--resume {folder.path} or choose another --run-name")
    return cfg, folder, False


def check_memory(cfg: Config, env, sac, n_seeds: int) -> None:
    """Compare the replay buffers' size with the free memory of the device that holds them."""
    example = transition_example(env.obs_dim, env.act_dim, sac.networks.store_spec)
    need = buffer_bytes(example, cfg.buffer_size) * n_seeds
    free = free_memory_bytes()
    if free is not None and need > free:
        raise ConfigError(
            f"the replay buffer needs {need / 2**30:.1f} GiB ({n_seeds} x --buffer-size "
            f"{cfg.buffer_size:,}) and {jax.devices()[0].platform} has {free / 2**30:.1f} GiB "
            "free: lower --buffer-size or run fewer --seeds")


def sac_builder(env):
    """``build(cfg) -> SAC`` on this env (traced sweep fields vary ``cfg``)."""
    spec = env.spec
    return lambda cfg: make_agent(cfg, spec)


def run(cfg: Config) -> dict:
    """Train, evaluate and log one run; returns a summary dict (also saved as summary.json)."""
    cfg, folder, resuming = prepare_run_dir(cfg)
    enable_compile_cache(cfg.compile_cache)
    seeds = tuple(cfg.seeds or (cfg.seed,))
    if len(seeds) > 1 and cfg.env not in DEVICE_ENVS:
        raise ConfigError(f"--seeds needs a device env ({', '.join(DEVICE_ENVS)}); --env {cfg.env} "
                          "steps on the host: run one process per seed (experiments/sweep.py)")
    check_env(cfg)
    if cfg.progress:
        print(f"{cfg.algo} on {cfg.env}: building the environment", file=sys.stderr, flush=True)
    env = make_env(cfg, seed=seeds[0])
    logger = None
    try:
        validate(cfg, env.num_tasks)  # these raise before anything is written
        sac = sac_builder(env)(cfg)
        check_memory(cfg, env, sac, len(seeds))
        if cfg.wandb:
            import_wandb()
        if cfg.resume and not resuming:  # a run that never completed a checkpoint starts over
            folder.clear()
            cfg = cfg.replace(resume=None)
        logger = folder.open_logger(cfg)
        if resuming:
            folder.clear_failed()
        else:
            folder.write_config(cfg)
        point = train(cfg, env, sac, seeds, folder, resuming, logger)
    finally:
        if logger is not None:
            logger.close()
        if hasattr(env, "close"):
            env.close()
    if point.failed is not None:
        raise TrainingDiverged(point.failed)
    return point.summary


def train(cfg: Config, env, sac: SAC, seeds: tuple[int, ...], folder: RunFolder,
          resuming: bool, logger) -> PointRun:
    """Drive one run (all ``seeds``) on the engine; the finished or failed PointRun."""
    if env.on_device:
        logger.phase("compiling the reset")
        driver = DeviceRows(cfg, env, sac_builder(env), seeds)
    else:
        driver = HostRows(cfg, env, sac, seeds[0])
    stop = EarlyStop(cfg)
    if resuming:
        logger.truncate_after(driver.restore(folder))
        stop.resume(folder)
    logger.begin(driver.env_steps)
    point = PointRun(cfg, folder, slice(0, len(seeds)), env.task_names, logger,
                     sac.hooks.on_run_end, stop)
    drive(cfg, driver, [point], logger)
    return point
