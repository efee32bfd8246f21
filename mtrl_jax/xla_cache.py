"""The persistent XLA compilation cache: MJX programs take minutes to compile on a CPU, so every
entry point (runs, sweeps, benchmarks, the parity tools, the tests) reuses one cache folder."""

from __future__ import annotations

import os

DEFAULT_CACHE = "~/.cache/mtrl_jax/xla"


def enable_compile_cache(path: str | None = DEFAULT_CACHE) -> None:
    """Cache every compilation that takes over a second in ``path`` (None: leave it off)."""
    if path:
        import jax
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


LICM_PASS = "while-loop-invariant-code-motion"


def quick_compile_options(platform: str) -> dict:
    """``compiler_options`` for ``jax.jit`` that trade step time for compile time in MJX
    programs on XLA:CPU (``{}`` on any other platform: not measured there).

    In reach-v3's step (E = 16), XLA:CPU's loop-invariant code motion widens the frame-skip
    ``scan`` to 3,388 loop elements (1,825 of them constants, 475 broadcasts), and one run of the
    while-loop simplifier that follows took 28 s of the 54 s compile: it cloned the 13.8k-line loop
    body 118 times in a row, and the module grew from 40k to 433k lines before DCE. Disabling
    the code motion, measured here (jaxlib 0.6.2, the procedure of
    benchmarks/mjx_compile_options.py: the step lowered once and compiled both ways in one
    process, then 6 interleaved rounds of 10 steps):

    - reach-v3, E = 16: compile 51.0 -> 19.4 s, step 5.86 -> 6.50 ms (ratio 1.12); the peak RSS
      of a process compiling that step alone fell from 3.4 to 1.1 GiB;
    - window-open-v3, E = 16: compile 98.7 -> 66.1 s, step 17.3 -> 19.0 ms (ratio 1.08).

    Opt-in (``--quick-compile`` of the benchmark): worth it for short runs, tests and the
    50-task program's compile, not for long training runs.
    """
    return {"xla_disable_hlo_passes": LICM_PASS} if platform == "cpu" else {}
