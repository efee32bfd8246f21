import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.xla_cache import LICM_PASS, quick_compile_options


def _loop(w, x):
    """A scan whose body holds a loop-invariant exp(w) that code motion hoists out of the while."""
    def body(c, _):
        return c * jnp.exp(w) + 1.0, None
    return jax.lax.scan(body, x, None, length=7)[0]


def _exps_in_entry(hlo: str) -> int:
    """Number of instructions of the ENTRY computation (outside the loop) that compute the exp:
    the op itself, or a fusion wrapping it (newer XLA), named by the jax op in its metadata."""
    count, in_entry = 0, False
    for line in hlo.splitlines():
        if line and not line.startswith(" "):
            in_entry = line.startswith("ENTRY")
        elif in_entry:
            count += " exponential(" in line or '/exp"' in line
    return count


def test_quick_compile_options_keep_the_invariant_in_the_loop_and_the_result():
    w = jnp.linspace(-1.0, 0.5, 16, dtype=jnp.float32)
    x = jnp.ones(16, jnp.float32)
    lowered = jax.jit(_loop).lower(w, x)
    default = lowered.compile()
    quick = lowered.compile(compiler_options=quick_compile_options("cpu"))
    assert _exps_in_entry(default.as_text()) == 1  # hoisted out of the while
    assert _exps_in_entry(quick.as_text()) == 0  # left in the body
    ref = np.ones(16)
    for _ in range(7):
        ref = ref * np.exp(np.asarray(w, np.float64)) + 1.0
    np.testing.assert_allclose(np.asarray(quick(w, x)), ref, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(default(w, x)), ref, rtol=1e-5)


def test_quick_compile_options_disable_only_code_motion_on_cpu():
    assert quick_compile_options("cpu") == {"xla_disable_hlo_passes": LICM_PASS}


@pytest.mark.parametrize("platform", ["gpu", "tpu", "cuda"])
def test_quick_compile_options_are_empty_off_cpu(platform):
    assert quick_compile_options(platform) == {}
