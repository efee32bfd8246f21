"""Checks shared by the initialisation tests of the network files."""

import numpy as np


def check_fan_in_uniform(leaf, fan_in, name):
    """leaf ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)): inside the bound, not degenerate, and (large
    leaves) with the uniform's standard deviation."""
    x, bound = np.asarray(leaf, np.float64), 1.0 / np.sqrt(fan_in)
    assert np.abs(x).max() <= bound, name
    assert np.abs(x).max() > 0.5 * bound, name
    if x.size >= 200:
        np.testing.assert_allclose(x.std(), bound / np.sqrt(3), rtol=0.15, err_msg=name)
