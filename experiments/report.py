"""Per-method, per-task success report of run folders: tables and plots with 95% CIs.

    python experiments/report.py runs/sweep-point-mt-*/ runs/paco-mt10-s0-* --out report/

RUN_DIRS may be run folders or folders of run folders (a sweep). Runs that differ only in seed
are pooled as one method. Writes OUT/report.md (tables), OUT/report.json (numbers) and
OUT/curves.png, OUT/per_task.png, OUT/methods.png. Folders with missing or partial metrics are
listed as skipped. Needs the optional dependencies rliable and matplotlib. Exit codes: 0 report
written, 1 no usable run folder, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", default="report", help="output folder (default ./report)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    return p


def main(argv: list[str] | None = None) -> int:
    """Write the report; print the aggregate table and the skipped folders."""
    args = parser().parse_args(argv)
    if args.reps < 100:
        print("error: --reps must be at least 100 for a 95% interval", file=sys.stderr)
        return 2
    try:
        from mtrl_jax.report import aggregate_table, make_report
    except ImportError as err:
        print(f"error: {err}; install the report extras (rliable, matplotlib)", file=sys.stderr)
        return 2
    result = make_report(args.run_dirs, args.out, args.reps, args.seed, not args.no_plots)
    for s in result["skipped"]:
        print(f"skipped {s['run_dir']}: {s['reason']}", file=sys.stderr)
    if not result["methods"]:
        print("error: no run folder with complete metrics", file=sys.stderr)
        return 1
    print(aggregate_table(result["methods"]))
    print("wrote " + ", ".join(result["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
