"""Command-line entry points of the installed package: ``python -m mtrl_jax.cli.run`` (one run)
and ``python -m mtrl_jax.cli.sweep`` (a sweep). ``experiments/run.py`` and
``experiments/sweep.py`` call the same ``main``."""
