"""Sweep a grid of methods x values x seeds: ``mtrl_jax.cli.sweep`` (``--help`` lists the flags)."""

import sys

from mtrl_jax.cli.sweep import main

if __name__ == "__main__":
    sys.exit(main())
