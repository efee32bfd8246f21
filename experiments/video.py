"""Evaluation videos of a Meta-World run: ``mtrl_jax.cli.video`` (``--help`` lists the flags)."""

import sys

from mtrl_jax.cli.video import main

if __name__ == "__main__":
    sys.exit(main())
