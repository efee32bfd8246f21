"""Train one method on one environment: ``mtrl_jax.cli.run`` (``--help`` lists the flags)."""

import sys

from mtrl_jax.cli.run import main

if __name__ == "__main__":
    sys.exit(main())
