"""Shared driver of the ablation scripts: a grid of cells, runs per cell, the paper's table.

An ablation script declares its cells (a name and the Config overrides that define it) and how
to lay out the paper's table from the per-cell results. This module runs each cell (all seeds in
one vmapped program on device envs; one run per seed on CPU Meta-World), reuses finished run
folders (``summary.json`` present), resumes unfinished ones from their checkpoint, reports and
skips cells that cannot be run, and formats "mean +- std across seeds" of the final success rate
(in %, mean over tasks per seed).

Defaults are the papers' budgets on Meta-World MT10 (the Config defaults of each method);
``--quick`` switches to the pure-JAX point-mt suite with a budget that finishes in minutes on a
2-core CPU and one seed; ``--cells N`` keeps the first N cells of the grid.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Callable, NamedTuple

import numpy as np

from mtrl_jax.config import DEVICE_ENVS, Config, ConfigError
from mtrl_jax.run_folder import PartialFile, RunFolder

# The --quick budget on point-mt (5 tasks): a third of point-mt's learning budget (20k
# transitions, 3.6k updates) with 64 x 64 networks; the rest are point-mt's defaults (batch 320,
# warm-up 2k, lr 1e-3). A few minutes per cell on a 2-core CPU.
QUICK = dict(env="point-mt", total_steps=20_000, hidden=(64, 64), eval_episodes=16,
             eval_every=0, checkpoint_every=0)


class Cell(NamedTuple):
    """One point of an ablation grid: a short name and the Config fields that define it."""

    name: str
    overrides: dict


class CellResult(NamedTuple):
    """Final success of a cell: per seed (S,) and per seed and task (S, T); None if skipped."""

    cell: Cell
    per_seed: np.ndarray | None
    per_task: np.ndarray | None
    task_names: tuple[str, ...]
    run_dirs: tuple[str, ...]
    note: str = ""


def parse_args(description: str, default_seeds: int, argv=None) -> argparse.Namespace:
    """The command line every ablation script shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="point-mt with a tiny budget and one seed (minutes on a CPU)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help=f"seeds (default: {default_seeds} seeds 0..{default_seeds - 1}; "
                             "--quick: 0)")
    parser.add_argument("--cells", type=int, default=None,
                        help="run only the first N cells of the grid")
    parser.add_argument("--total-steps", type=int, default=None,
                        help="override the env-step budget of every cell")
    parser.add_argument("--env", default=None,
                        help="environment (default mt10; --quick: point-mt)")
    parser.add_argument("--out-dir", default=None,
                        help="parent of the cells' run folders (default runs/ablations/<name>)")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = [0] if args.quick else list(range(default_seeds))
    if args.cells is not None and args.cells < 1:
        parser.error("--cells must be at least 1")
    return args


def base_overrides(args: argparse.Namespace) -> dict:
    """Config fields common to every cell: the quick budget, env and step overrides."""
    base = dict(QUICK) if args.quick else {}
    if args.env:
        base["env"] = args.env
    if args.total_steps:
        base["total_steps"] = args.total_steps
    base["progress"] = bool(args.progress)
    return base


def on_device(env: str) -> bool:
    """Whether seeds of this env train together in one vmapped program."""
    return env in DEVICE_ENVS


def read_summary(run_dir: str) -> dict | None:
    """A finished run's summary, or None if the run is missing or unfinished."""
    try:
        return RunFolder(run_dir).read_summary()
    except PartialFile:
        return None


def run_or_reuse(cfg: Config, run_dir: str) -> dict:
    """run(cfg) into ``run_dir``; a finished folder is reused, an unfinished one resumed."""
    from mtrl_jax.experiment import run
    summary = read_summary(run_dir)
    if summary is not None:
        return summary
    if RunFolder(run_dir).holds_run():
        if RunFolder(run_dir).latest_checkpoint() is None:
            raise ConfigError(f"{run_dir} holds an unfinished run without a checkpoint: delete it "
                              "to run this cell again")
        return run(Config(resume=run_dir, total_steps=cfg.total_steps, progress=cfg.progress,
                          compile_cache=cfg.compile_cache))
    return run(cfg)


def run_cell(cell: Cell, base: dict, seeds: list[int], out_dir: str) -> CellResult:
    """Train one cell for all seeds and collect its final per-task success."""
    fields = {**base, **cell.overrides}
    env = fields.get("env", "mt10")
    groups = [tuple(seeds)] if on_device(env) else [(s,) for s in seeds]
    per_task, names, dirs = [], (), []
    for group in groups:
        name = f"{cell.name}-s{'_'.join(map(str, group))}"
        seed_fields = dict(seeds=group) if len(group) > 1 else dict(seed=group[0])
        cfg = Config(**fields, **seed_fields, out_dir=out_dir, run_name=name)
        summary = run_or_reuse(cfg, os.path.join(out_dir, name))
        per_task.append(np.atleast_2d(np.asarray(summary["eval_success"], np.float64)))
        names, dirs = tuple(summary["task_names"]), dirs + [summary["run_dir"]]
    table = np.concatenate(per_task, axis=0)
    return CellResult(cell, table.mean(axis=1), table, names, tuple(dirs))


def run_grid(cells: list[Cell], args: argparse.Namespace, name: str,
             log: Callable[[str], None] = print) -> list[CellResult]:
    """Run the (first ``args.cells``) cells; a failing cell is reported and skipped."""
    out_dir = args.out_dir or os.path.join("runs", "ablations", name + ("-quick" if args.quick
                                                                        else ""))
    base = base_overrides(args)
    chosen = cells[:args.cells] if args.cells else cells
    results = []
    for i, cell in enumerate(chosen):
        log(f"[{name}] cell {i + 1}/{len(chosen)}: {cell.name} {cell.overrides}")
        try:
            results.append(run_cell(cell, base, args.seeds, out_dir))
        except (ConfigError, RuntimeError, ValueError, KeyError) as err:
            log(f"[{name}] cell {cell.name} skipped: {type(err).__name__}: {err}")
            traceback.print_exc(file=sys.stderr)
            results.append(CellResult(cell, None, None, (), (), f"failed: {err}"))
    return results


def mean_std(per_seed: np.ndarray | None) -> str:
    """'mean +- std' in % across seeds; 'n/a' for a skipped cell."""
    if per_seed is None or len(per_seed) == 0:
        return "n/a"
    return f"{100 * per_seed.mean():.1f} +- {100 * per_seed.std():.1f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table with a separator line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def by_name(results: list[CellResult]) -> dict[str, CellResult]:
    """Results keyed by cell name."""
    return {r.cell.name: r for r in results}


def cell_text(results: dict[str, CellResult], name: str) -> str:
    """The table entry of one cell: its mean +- std, or 'not run' if it was not in the grid."""
    if name not in results:
        return "not run"
    return mean_std(results[name].per_seed)


def describe_budget(args: argparse.Namespace, results: list[CellResult]) -> str:
    """One line: env, steps, seeds, from the first finished cell's config."""
    for r in results:
        if r.run_dirs:
            cfg = RunFolder(r.run_dirs[0]).read_config_dict()
            return (f"env {cfg['env']}, {cfg['total_steps']} env steps, "
                    f"{len(r.per_seed)} seed(s), final success in % (mean +- std across seeds)")
    return "no cell finished"


def write_report(text: str, args: argparse.Namespace, name: str) -> str:
    """Print the tables and save them as table.md beside the runs; returns the path."""
    print(text)
    out_dir = args.out_dir or os.path.join("runs", "ablations", name + ("-quick" if args.quick
                                                                        else ""))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "table.md")
    with open(path, "w") as f:
        f.write(text + "\n")
    print(f"\n(table saved to {path})")
    return path



def run_ablation(doc: str, default_seeds: int, cells: list[Cell], tables: Callable[[dict], str],
                 name: str, title: str, argv=None) -> str:
    """Parse the command line, run (or reuse) the grid, print and save the tables."""
    args = parse_args(doc.splitlines()[0], default_seeds, argv)
    results = run_grid(cells, args, name)
    text = f"{title} ({describe_budget(args, results)})\n\n" + tables(by_name(results))
    write_report(text, args, name)
    return text
