"""Network architectures behind one interface (see ``base``), looked up by ``--algo``.

Each architecture module exposes ``make_method(cfg, obs_dim, act_dim, num_tasks) -> Method``;
modules are imported on first use so a method's optional dependencies cost nothing elsewhere.
"""

from __future__ import annotations

import importlib

from mtrl_jax.config import Config, ConfigError
from mtrl_jax.nets.base import Method, Network
from mtrl_jax.nets.mlp import make_mlp
from mtrl_jax.nets.multihead import make_multihead

ARCHITECTURES = {
    "mtsac": "mtrl_jax.nets.mlp",
    "mhsac": "mtrl_jax.nets.multihead",
    "sm": "mtrl_jax.nets.soft_modules",
    "paco": "mtrl_jax.nets.paco",
    "d2r": "mtrl_jax.nets.d2r",
    "care": "mtrl_jax.nets.care",
    "moore": "mtrl_jax.nets.moore",
    "qmp": "mtrl_jax.agents.qmp",
}


def make_method(cfg: Config, obs_dim: int, act_dim: int, num_tasks: int) -> Method:
    """The Method (actor, critic and hooks) for ``cfg.algo`` on an env of these sizes."""
    module_name = ARCHITECTURES.get(cfg.algo)
    if module_name is None:
        raise ConfigError(f"unknown --algo {cfg.algo!r}: choose one of {', '.join(ARCHITECTURES)}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            raise ConfigError(f"--algo {cfg.algo} is not implemented yet ({module_name} missing)")
        raise
    return module.make_method(cfg, obs_dim, act_dim, num_tasks)


__all__ = ["Method", "Network", "make_method", "make_mlp", "make_multihead", "ARCHITECTURES"]
