"""Train one method on one environment: ``python -m mtrl_jax.cli.run --algo paco --env mt10``
(or ``python experiments/run.py ...``).

Every field of ``mtrl_jax.config.Config`` is a flag (``--help`` lists them); fields left unset take
the method's and environment's paper defaults. Bad input exits with code 2 and a one-line error.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    import tyro

    from mtrl_jax.config import Config, ConfigError
    from mtrl_jax.experiment import TrainingDiverged, run

    cfg = tyro.cli(Config, args=argv, description=__doc__)
    try:
        summary = run(cfg)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"mean success {summary['mean_success']:.3f} -> {summary['run_dir']}")
    if cfg.video:
        # A fresh process: the GL backend must be chosen before mujoco is imported.
        import subprocess
        return subprocess.call([sys.executable, "-m", "mtrl_jax.cli.video", summary["run_dir"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
