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
