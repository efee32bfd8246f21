"""Names that moved between the pinned jax (0.6.2) and the newer releases the package also runs
on (0.10 in CI's second stage, 0.11 on the GPU machine)."""

from __future__ import annotations

import jax


def enable_x64():
    """A context in which arrays default to 64 bits (``jax.enable_x64`` on newer jax,
    ``jax.experimental.enable_x64`` on 0.6)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64 as experimental_enable_x64
    return experimental_enable_x64()
