"""Host environments (CPU Meta-World): one ``python -m mtrl_jax.cli.run`` process of the
installed package per (point, seed), ``workers`` at a time."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import typing
from concurrent.futures import ThreadPoolExecutor

from mtrl_jax.config import Config, ConfigError
from mtrl_jax.run_folder import RunFolder
from mtrl_jax.sweep.base import Sweep, record_failure, resolve_point, write_record
from mtrl_jax.sweep.grid import field_types

RUN_MODULE = "mtrl_jax.cli.run"


def config_to_args(cfg: Config) -> list[str]:
    """CLI flags of ``python -m mtrl_jax.cli.run`` that reproduce ``cfg`` (fields differing from Config())."""
    default, types = Config(), field_types()
    args = []
    for f in dataclasses.fields(Config):
        value = getattr(cfg, f.name)
        if value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool) and type(None) in typing.get_args(types[f.name]):
            args += [flag, str(value)]          # tyro: --flag {None,True,False}
        elif isinstance(value, bool):
            args.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif value is None:
            args += [flag, "None"]
        elif isinstance(value, tuple):
            args += [flag, *map(str, value)]
        else:
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
    return args


def run_process(cfg: Config, timeout: float | None = None, log=print) -> dict:
    """Run one ``python -m mtrl_jax.cli.run`` process for ``cfg``; a record with status and error."""
    cmd = [sys.executable, "-m", RUN_MODULE, *config_to_args(cfg)]
    run_dir = os.path.join(cfg.out_dir, cfg.run_name)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return record_failure(run_dir, f"timed out after {timeout}s")
    if proc.returncode != 0:
        return record_failure(run_dir, f"exit {proc.returncode}: "
                                + last_message(proc.stderr))
    summary = RunFolder(run_dir).read_summary()
    log(f"  done {cfg.run_name}: mean success {summary['mean_success']:.3f}")
    return {"status": "ok", "mean_success": summary["mean_success"]}


def last_message(stderr: str) -> str:
    """The last line of a process's error output that says something (not a frame border)."""
    lines = [line.strip(" │╭╮╰╯─") for line in stderr.splitlines()]
    lines = [line for line in lines if any(c.isalnum() for c in line)]
    return lines[-1] if lines else "no error output"


def run_process_sweep(sweep: Sweep, log=print) -> dict:
    """One run process per (point, seed), ``workers`` at a time."""
    jobs = []
    for p in sweep.points:
        for seed in p.seeds:
            name = f"{p.name}-s{seed}"
            record = {"status": "pending", "algo": p.algo, "values": p.values, "seed": seed}
            try:
                cfg, run_dir = resolve_point(p, sweep.env, sweep.sweep_dir, (seed,), name)
                record["run_dir"] = run_dir
                jobs.append((name, cfg.replace(seeds=None, seed=seed)))
            except ConfigError as err:
                record.update(status="failed", error=str(err))
                log(f"point {name} failed: {err}")
            sweep.records[name] = record
    write_record(sweep)

    def one(job):
        name, cfg = job
        result = run_process(cfg, sweep.timeout, log)
        sweep.records[name].update(result)
        if result["status"] == "failed":
            log(f"point {name} failed: {result['error']}")
        return result

    with ThreadPoolExecutor(max_workers=max(1, sweep.workers)) as pool:
        list(pool.map(one, jobs))
    write_record(sweep)
    return sweep.records
