"""Analysis figures of a run folder, one command each:

    python experiments/figures.py runs/<d2r run> --figure d2r-modules   # D2R Fig. 8
    python experiments/figures.py runs/<d2r run> --figure d2r-tsne      # D2R Fig. 6a
    python experiments/figures.py runs/<sm run> --figure sm-routing     # SM routing per task
    python experiments/figures.py runs/<paco run> --figure paco-w       # PaCo Fig. 4
    python experiments/figures.py runs/<qmp run> --figure qmp-selection # QMP Fig. 5
    python experiments/figures.py runs/<run>                            # every figure that applies

PNGs go to RUN_DIR/figures/<figure>.png (or --out for one figure).
"""

from __future__ import annotations

import argparse
import sys

from mtrl_jax.figures import FIGURES


def parse_args(argv=None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="analysis figures of a run folder")
    parser.add_argument("run_dir")
    parser.add_argument("--figure", choices=FIGURES + ("all",), default="all")
    parser.add_argument("--out", default=None, help="PNG path (one figure only)")
    parser.add_argument("--steps", type=int, default=50,
                        help="env steps of the greedy policy whose states feed the networks")
    parser.add_argument("--seed", type=int, default=None, help="which seed of a multi-seed run")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Write the requested figures; exit 2 with a one-line error on bad input."""
    from mtrl_jax.config import ConfigError
    from mtrl_jax.figures import figures_for, load_config, make_figure
    args = parse_args(argv)
    try:
        names = (figures_for(load_config(args.run_dir)) if args.figure == "all"
                 else [args.figure])
        if not names:
            raise ConfigError(f"no analysis figure applies to {args.run_dir} (figures exist for "
                              "d2r, sm, paco and qmp runs)")
        if args.out and len(names) > 1:
            raise ConfigError("--out names one PNG: pass --figure too")
        for name in names:
            path = make_figure(name, args.run_dir, args.out, steps=args.steps, seed=args.seed)
            print(f"{name}: {path}")
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
