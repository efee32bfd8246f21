import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.buffer import buffer_add, buffer_bytes, buffer_init, stratified_sample

T = 3


def example():
    return {"x": jnp.zeros(()), "v": jnp.zeros((2,)), "stored": {"route": jnp.zeros((4,), jnp.int32)}}


def batch(task_values, start, E):
    """Field x = 1000 * task + serial (serial starts at 1 so 0 marks an unwritten slot)."""
    serial = np.arange(start, start + E)[None, :]
    x = 1000.0 * np.arange(T)[:, None] + serial
    return {"x": jnp.asarray(x), "v": jnp.asarray(np.stack([x, -x], -1)),
            "stored": {"route": jnp.asarray(np.repeat(x[..., None], 4, -1).astype(np.int32))}}


def test_stratification_is_exact_and_labels_tasks():
    buf = buffer_init(example(), T, capacity=50)
    buf = buffer_add(buf, batch(None, 1, 40))
    sample = stratified_sample(buf, jax.random.PRNGKey(0), per_task=16)
    assert sample["x"].shape == (T, 16)
    task_of_row = np.asarray(sample["x"]) // 1000
    np.testing.assert_array_equal(task_of_row, np.repeat(np.arange(T)[:, None], 16, 1))


def test_never_samples_unwritten_slots():
    buf = buffer_init(example(), T, capacity=100)
    buf = buffer_add(buf, batch(None, 1, 3))
    sample = stratified_sample(buf, jax.random.PRNGKey(1), per_task=2000)
    serial = np.asarray(sample["x"]) % 1000
    assert serial.min() >= 1 and serial.max() <= 3
    # all three written slots are reached, roughly uniformly
    counts = np.bincount(serial.ravel().astype(int), minlength=4)[1:]
    assert np.all(np.abs(counts / counts.sum() - 1 / 3) < 0.03)


def test_ring_wraps_around():
    buf = buffer_init(example(), T, capacity=4)
    buf = buffer_add(buf, batch(None, 1, 3))
    buf = buffer_add(buf, batch(None, 4, 3))        # serials 4, 5, 6: 5 and 6 overwrite 1 and 2
    np.testing.assert_array_equal(np.asarray(buf.position), [2, 2, 2])
    np.testing.assert_array_equal(np.asarray(buf.size), [4, 4, 4])
    np.testing.assert_array_equal(np.asarray(buf.data["x"][1]) - 1000, [5, 6, 3, 4])
    sample = stratified_sample(buf, jax.random.PRNGKey(2), per_task=500)
    assert set(np.unique(np.asarray(sample["x"][0]))) == {3.0, 4.0, 5.0, 6.0}


def test_extra_fields_travel_with_their_transition():
    buf = buffer_init(example(), T, capacity=8)
    buf = buffer_add(buf, batch(None, 1, 8))
    sample = stratified_sample(buf, jax.random.PRNGKey(3), per_task=32)
    x = np.asarray(sample["x"])
    np.testing.assert_array_equal(np.asarray(sample["v"]), np.stack([x, -x], -1))
    np.testing.assert_array_equal(np.asarray(sample["stored"]["route"]),
                                  np.repeat(x[..., None], 4, -1).astype(np.int32))


def test_buffer_bytes_equals_the_allocated_rings():
    """39-value obs and next_obs, 4 actions, a reward (float32) and two flags (bool), plus a
    stored int32 pair: 156 + 156 + 16 + 4 + 2 + 8 = 342 bytes a transition."""
    from mtrl_jax.train import transition_example
    example = transition_example(39, 4, {"extra": ((2,), jnp.int32)})
    assert buffer_bytes(example, 1000) == 342_000
    rings = buffer_init(example, 5, 200)
    assert sum(x.nbytes for x in jax.tree.leaves(rings.data)) == buffer_bytes(example, 1000)
