"""Sweep a grid of methods x hyperparameter values x seeds; each point writes a run folder.

    python -m mtrl_jax.cli.sweep --algos mtsac mhsac --seeds 0 1 --set lr=3e-4,1e-3 --env point-mt
    python experiments/sweep.py --spec sweep.toml          # keys: algos, seeds, env, grid

``--set KEY=V1,V2`` adds a grid axis over any Config field (hyphens or underscores; tuples as
``64x64``; one value fixes the field for every point). On device envs (point-mt, mt10-mjx) the
points x seeds of one program are sharded over all devices (multi-host: set
JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID on every host, or run under SLURM /
mpirun); on CPU Meta-World every (point, seed) is a ``python -m mtrl_jax.cli.run`` process.
Writes ``OUT_DIR/NAME/<point>/`` run folders and ``OUT_DIR/NAME/sweep.json``. Exit codes: 0 all
points ok, 1 some point failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", nargs="+", help="methods (default mtsac)")
    p.add_argument("--seeds", nargs="+", type=int, help="seeds of every point (default 0)")
    p.add_argument("--env", help="environment (default point-mt)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2",
                   help="grid axis over a Config field; repeat for more axes")
    p.add_argument("--spec", help="JSON or TOML file with algos, seeds, env, grid")
    p.add_argument("--out-dir", default="runs", help="parent of the sweep folder")
    p.add_argument("--name", help="sweep folder name (default sweep-<env>-<time>)")
    p.add_argument("--mode", choices=("auto", "device", "processes"), default="auto",
                   help="device: sharded programs; processes: one run.py per (point, seed)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel processes in processes mode")
    p.add_argument("--timeout", type=float, help="seconds per process (processes mode)")
    p.add_argument("--no-pad", action="store_true",
                   help="refuse a grid whose runs do not divide over the devices")
    p.add_argument("--no-trace-floats", action="store_true",
                   help="compile one program per float value instead of tracing it")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() (auto under SLURM / mpirun / "
                        "JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--dry-run", action="store_true", help="print the points and exit")
    return p


def build(args) -> "Sweep":  # noqa: F821
    """The Sweep described by the parsed arguments and the optional spec file."""
    from mtrl_jax.sweep import Sweep, default_mode, expand_grid, load_spec, parse_set
    spec = load_spec(args.spec) if args.spec else {"grid": {}}
    grid = {**spec["grid"], **parse_set(args.set)}
    env = args.env or spec.get("env", "point-mt")
    algos = args.algos or spec.get("algos", ["mtsac"])
    seeds = args.seeds if args.seeds is not None else spec.get("seeds", [0])
    points = expand_grid(list(algos), grid, [int(s) for s in seeds])
    name = args.name or f"sweep-{env}-{time.strftime('%Y%m%d-%H%M%S')}"
    mode = default_mode(env) if args.mode == "auto" else args.mode
    return Sweep(env=env, points=points, sweep_dir=os.path.join(args.out_dir, name), mode=mode,
                 pad=not args.no_pad, workers=args.workers, trace_floats=not args.no_trace_floats,
                 timeout=args.timeout)


def main(argv: list[str] | None = None) -> int:
    """Parse, run the sweep, print each point's status; exit code 0 / 1 (a point failed) / 2."""
    from mtrl_jax.config import DEVICE_ENVS, ConfigError
    from mtrl_jax.sweep import maybe_initialize_distributed, run_sweep
    args = parser().parse_args(argv)
    try:
        sweep = build(args)
    except (ConfigError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if sweep.env not in DEVICE_ENVS and sweep.mode == "device":
        print(f"error: --mode device needs a device env ({', '.join(DEVICE_ENVS)}), not "
              f"{sweep.env}",
              file=sys.stderr)
        return 2
    if args.dry_run:
        for p in sweep.points:
            print(f"{p.name}: algo={p.algo} {p.values} seeds={list(p.seeds)}")
        return 0
    if sweep.mode == "device":
        maybe_initialize_distributed(args.distributed)
    if os.path.exists(os.path.join(sweep.sweep_dir, "sweep.json")):
        print(f"error: {sweep.sweep_dir} already holds a sweep: choose another --name",
              file=sys.stderr)
        return 2
    try:
        records = run_sweep(sweep)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0 if all(r["status"] == "ok" for r in records.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
