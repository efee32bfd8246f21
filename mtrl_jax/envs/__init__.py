"""Environments behind one interface (``base``): pure-JAX suite, CPU Meta-World, MJX port."""

from __future__ import annotations

from mtrl_jax.config import Config, ConfigError


def make_env(cfg: Config, seed: int | None = None):
    """The training environment named by ``cfg.env`` (a resolved Config)."""
    seed = cfg.seed if seed is None else seed
    if cfg.env == "point-mt":
        from mtrl_jax.envs.point_mt import PointMT
        return PointMT(envs_per_task=cfg.envs_per_task)
    if cfg.env in ("mt10", "mt50", "mt1"):
        from mtrl_jax.envs.metaworld import MetaWorldEnv
        return MetaWorldEnv(cfg.env.upper(), seed=seed, mt1_task=cfg.mt1_task)
    if cfg.env == "mt10-mjx":
        try:
            from mtrl_jax.envs.mjx import MJXMultiTaskEnv
        except ImportError as err:
            raise ConfigError(f"--env mt10-mjx is not available: {err}") from err
        return MJXMultiTaskEnv(envs_per_task=cfg.envs_per_task, seed=seed)
    raise ConfigError(f"unknown --env {cfg.env!r}: choose point-mt, mt10, mt50, mt1 or mt10-mjx")
