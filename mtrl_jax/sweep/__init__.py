"""Sweeps: a grid of methods x hyperparameter values x seeds, each point written as a run folder.

A *point* is one method with one set of hyperparameter values; it trains all the sweep's seeds
and writes the run folder that ``experiments/run.py --seeds ...`` writes (``mtrl_jax.run_folder``),
so the report and every other reader see one format. The sweep folder also holds ``sweep.json``: the grid, the device
groups and each point's status (``ok`` / ``failed`` with the error).

Device environments (point-mt, mt10-mjx): points that compile to the same program are one *group*;
its rows (points x seeds) lie on a leading axis that is ``vmap``-ped inside one jitted program and
sharded over the devices (``Mesh`` + ``NamedSharding``, on every host with ``jax.distributed``).
Float hyperparameters (lr, tau, gamma, ...) that differ between points are traced values, one per
row, so an lr grid is one program; any other difference (algo, shapes, ints, switches) makes a new
group. A row count that does not divide over the devices is padded with copies of the last row
(discarded), or refused with ``pad=False``.

Host environments (CPU Meta-World): every (point, seed) is one ``python -m mtrl_jax.cli.run``
process of the installed package, ``workers`` at a time. A point that fails (bad config,
non-finite loss, crashed process) is recorded as failed; the others finish.

Modules: ``grid`` (values and points), ``groups`` (programs and padding), ``device`` (sharded
groups on the engine), ``processes`` (one process per run), ``base`` (what they share).
"""

from __future__ import annotations

from typing import Literal

from mtrl_jax.config import DEVICE_ENVS
from mtrl_jax.sweep.base import Sweep
from mtrl_jax.sweep.device import maybe_initialize_distributed, run_device_sweep, run_group
from mtrl_jax.sweep.grid import (Point, expand_grid, load_spec, parse_set, parse_value,
                                 point_config, point_name)
from mtrl_jax.sweep.groups import Group, make_groups, padding, padding_message
from mtrl_jax.sweep.processes import config_to_args, run_process, run_process_sweep


def run_sweep(sweep: Sweep, log=print) -> dict:
    """Run every point of ``sweep``; returns {point name: record}. Never raises for one point."""
    runner = run_device_sweep if sweep.mode == "device" else run_process_sweep
    records = runner(sweep, log)
    ok = sum(r["status"] == "ok" for r in records.values())
    log(f"sweep {sweep.sweep_dir}: {ok}/{len(records)} points ok")
    for name, r in records.items():
        if r["status"] != "ok":
            log(f"  failed {name}: {r.get('error')}")
    return records


def default_mode(env: str) -> Literal["device", "processes"]:
    """Device envs run sharded programs; host envs (CPU Meta-World) run processes."""
    return "device" if env in DEVICE_ENVS else "processes"


__all__ = ["Group", "Point", "Sweep", "config_to_args", "default_mode", "expand_grid",
           "load_spec", "make_groups", "maybe_initialize_distributed", "padding",
           "padding_message", "parse_set", "parse_value", "point_config", "point_name",
           "run_device_sweep", "run_group", "run_process", "run_process_sweep", "run_sweep"]
