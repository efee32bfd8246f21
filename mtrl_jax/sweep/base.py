"""What every sweep mode shares: the resolved :class:`Sweep`, a point's config and run
folder, and ``sweep.json``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Literal

import jax

from mtrl_jax.experiment import prepare_run_dir
from mtrl_jax.run_folder import RunFolder
from mtrl_jax.sweep.grid import Point, point_config


@dataclass
class Sweep:
    """A resolved sweep: where it writes and what it runs."""

    env: str
    points: list[Point]
    sweep_dir: str
    mode: Literal["device", "processes"]
    pad: bool = True
    workers: int = 1
    trace_floats: bool = True
    timeout: float | None = None
    records: dict = field(default_factory=dict)


def resolve_point(point: Point, env: str, sweep_dir: str, seeds=None, run_name=None):
    """(resolved Config, run_dir) or raise ConfigError (bad value, existing folder)."""
    cfg, folder, _ = prepare_run_dir(point_config(point, env, sweep_dir, seeds, run_name))
    return cfg, folder.path


def write_record(sweep: Sweep, extra: dict | None = None) -> None:
    """sweep.json: the grid, the groups and every point's status (rewritten as points finish)."""
    if jax.process_index() != 0:
        return
    os.makedirs(sweep.sweep_dir, exist_ok=True)
    out = {"env": sweep.env, "mode": sweep.mode, "points": sweep.records, **(extra or {})}
    with open(os.path.join(sweep.sweep_dir, "sweep.json"), "w") as f:
        json.dump(out, f, indent=2, default=str)


def record_failure(run_dir: str, error: str) -> dict:
    """Record a failed point in its run folder (if it made one); the sweep record."""
    if os.path.isdir(run_dir):
        RunFolder(run_dir).write_failed(error)
    return {"status": "failed", "error": error}
