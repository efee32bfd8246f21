"""Shared driver of the learning tests: a full run of experiments/run.py's pipeline on point-mt."""

from __future__ import annotations

import tempfile

from mtrl_jax.config import Config
from mtrl_jax.experiment import run


def train_point_mt(algo: str, **overrides) -> dict:
    """Train ``algo`` on the pure-JAX suite with its point-mt defaults; returns run()'s summary
    (``mean_success``, per-task ``eval_success``, ``wall_s``, ``run_dir``). A test passes
    its bar as ``early_stop_success``: its run ends once two evaluations in a row reach it,
    which clears the bar, and saves CI the rest of the budget."""
    out_dir = overrides.pop("out_dir", None) or tempfile.mkdtemp(prefix=f"learn-{algo}-")
    cfg = Config(algo=algo, env="point-mt", out_dir=out_dir, run_name="run", progress=False,
                 **overrides)
    summary = run(cfg)
    print(f"{algo}: mean success {summary['mean_success']:.3f} per task "
          f"{summary['eval_success']} in {summary['wall_s']:.0f} s")
    return summary
