"""Environments behind one interface (``base``): pure-JAX suite, CPU Meta-World, MJX port."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from mtrl_jax.errors import ConfigError

if TYPE_CHECKING:
    from mtrl_jax.config import Config


PER_SCENE_ENVS = {"mt10-mjx-scenes": "mt10-mjx", "mt50-mjx-scenes": "mt50-mjx"}
"""The MJX envs compiled as one program per scene and stepped from the host
(``envs.mjx.per_scene``) -> the MJX env whose tasks, defaults and recipes they take."""


def metaworld_task_names() -> tuple[str, ...]:
    """Every v3 task Meta-World knows (the names --mt1-task accepts on CPU Meta-World)."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS
    return tuple(ALL_V3_ENVIRONMENTS)


def mjx_port_task_names() -> tuple[str, ...]:
    """The tasks the MJX port has (task logic and a port scene), in MT50's order."""
    from mtrl_jax.envs.mw_tasks import MT50_TASKS, SPECS
    from mtrl_jax.envs.mjx.scene import PORT_PAIRS
    return tuple(t for t in MT50_TASKS if t in SPECS and t in PORT_PAIRS)


def check_mt1_task(task: str, known: tuple[str, ...], where: str) -> None:
    if task not in known:
        raise ConfigError(f"--mt1-task {task!r} is not a task of {where}; it has: "
                          f"{', '.join(sorted(known))}")


def check_env(cfg: Config) -> None:
    """Raise ConfigError if ``--mt1-task`` names no task of the chosen backend (nothing built)."""
    if cfg.env == "mt1":
        check_mt1_task(cfg.mt1_task, metaworld_task_names(), "Meta-World")
    elif cfg.env == "mt1-mjx":
        check_mt1_task(cfg.mt1_task, mjx_port_task_names(), "the MJX port")
    elif cfg.env in ("mt50-mjx", "mt50-mjx-scenes"):
        from mtrl_jax.envs.mw_tasks import MT50_TASKS
        missing = [t for t in MT50_TASKS if t not in mjx_port_task_names()]
        if missing:
            raise ConfigError(f"--env {cfg.env} needs all 50 tasks in the MJX port; {len(missing)} are not "
                              f"yet: {', '.join(missing)}")


def make_env(cfg: Config, seed: int | None = None):
    """The training environment named by ``cfg.env`` (a resolved Config)."""
    seed = cfg.seed if seed is None else seed
    if cfg.env == "point-mt":
        from mtrl_jax.envs.point_mt import PointMT
        return PointMT(envs_per_task=cfg.envs_per_task)
    if cfg.env in ("mt10", "mt50", "mt1"):
        check_env(cfg)
        from mtrl_jax.envs.metaworld import MetaWorldEnv
        return MetaWorldEnv(cfg.env.upper(), seed=seed, mt1_task=cfg.mt1_task)
    if cfg.env in PER_SCENE_ENVS:
        from mtrl_jax.envs.mjx.per_scene import HostPerSceneEnv, PerSceneEnv
        programs = make_env(cfg.replace(env=PER_SCENE_ENVS[cfg.env]), seed)
        return HostPerSceneEnv(PerSceneEnv(programs), seed, workers=cfg.compile_workers,
                               on_compiled=_print_compiled if cfg.progress else None)
    if cfg.env in ("mt10-mjx", "mt50-mjx", "mt1-mjx"):
        try:
            from mtrl_jax.envs.mjx import MJXMultiTaskEnv
        except ImportError as err:
            raise ConfigError(f"--env {cfg.env} is not available: {err}") from err
        if cfg.env == "mt10-mjx":
            return MJXMultiTaskEnv(envs_per_task=cfg.envs_per_task, seed=seed)
        if cfg.env == "mt50-mjx":
            check_env(cfg)
            from mtrl_jax.envs.mw_tasks import MT50_TASKS
            return MJXMultiTaskEnv(envs_per_task=cfg.envs_per_task, tasks=MT50_TASKS, seed=seed,
                                   goal_benchmark=MT50_TASKS)
        check_env(cfg)
        # MT1's goals (metaworld.MT1(task, seed)), as the CPU mt1 env draws them.
        return MJXMultiTaskEnv(envs_per_task=cfg.envs_per_task, tasks=(cfg.mt1_task,), seed=seed,
                               goal_benchmark=(cfg.mt1_task,))
    raise ConfigError(f"unknown --env {cfg.env!r}: choose point-mt, mt10, mt50, mt1, mt10-mjx, "
                      "mt50-mjx, mt1-mjx, mt10-mjx-scenes or mt50-mjx-scenes")


def _print_compiled(done: int, total: int, task: str, reset_s: float, step_s: float) -> None:
    print(f"compiled {done}/{total} scene programs ({task}: reset {reset_s:.0f} s, step {step_s:.0f} s)",
          file=sys.stderr, flush=True)
