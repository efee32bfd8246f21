"""Device-resident replay: one ring buffer per task, stratified sampling. Pure functions.

Every field is stored as ``(T, capacity, ...)``. ``add`` writes ``E`` transitions per task at
each task's ring position; ``stratified_sample`` draws exactly ``per_task`` transitions from
each task, uniformly among that task's written slots (never an unwritten one).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class ReplayBuffer(NamedTuple):
    data: dict            # field -> (T, capacity, ...) (nested dicts allowed)
    position: jax.Array   # (T,) int32: next slot to write in each ring
    size: jax.Array       # (T,) int32: written slots in each ring (<= capacity)


def buffer_init(example: dict, num_tasks: int, capacity: int) -> ReplayBuffer:
    """Zero rings shaped like ``example`` (one transition, no leading axes) per task."""
    data = jax.tree.map(
        lambda x: jnp.zeros((num_tasks, capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example)
    # Distinct arrays, not one aliased twice, so that the buffer can be donated.
    return ReplayBuffer(data, jnp.zeros((num_tasks,), jnp.int32), jnp.zeros((num_tasks,), jnp.int32))


def buffer_bytes(example: dict, total_capacity: int) -> int:
    """Bytes of the rings holding ``total_capacity`` transitions shaped like ``example``."""
    per_transition = sum(int(np.prod(jnp.shape(x))) * jnp.asarray(x).dtype.itemsize
                         for x in jax.tree.leaves(example))
    return per_transition * total_capacity


def free_memory_bytes(device=None) -> int | None:
    """Free memory of ``device`` (default: the first): the allocator's limit minus what is in
    use on an accelerator, MemAvailable of /proc/meminfo for the CPU; None when unknown."""
    device = device or jax.devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def capacity(buffer: ReplayBuffer) -> int:
    return jax.tree.leaves(buffer.data)[0].shape[1]


def buffer_add(buffer: ReplayBuffer, batch: dict) -> ReplayBuffer:
    """Write ``batch`` (fields ``(T, E, ...)``): task t's E rows go to ring t, wrapping around."""
    cap = capacity(buffer)
    num_tasks, num_new = jax.tree.leaves(batch)[0].shape[:2]
    slots = (buffer.position[:, None] + jnp.arange(num_new)[None, :]) % cap     # (T, E)
    rows = jnp.arange(num_tasks)[:, None]
    data = jax.tree.map(lambda d, x: d.at[rows, slots].set(x.astype(d.dtype)), buffer.data, batch)
    return ReplayBuffer(data, (buffer.position + num_new) % cap,
                        jnp.minimum(buffer.size + num_new, cap))


def stratified_sample(buffer: ReplayBuffer, key: jax.Array, per_task: int) -> dict:
    """``per_task`` transitions from every task, uniform over written slots: fields (T, n, ...).

    With replacement, as standard for SAC. A task with an empty ring would read slot 0: the
    training loop only samples after the warm-up has filled every ring.
    """
    num_tasks = buffer.size.shape[0]
    u = jax.random.uniform(key, (num_tasks, per_task))
    idx = jnp.minimum((u * buffer.size[:, None]).astype(jnp.int32),
                      jnp.maximum(buffer.size[:, None] - 1, 0))
    rows = jnp.arange(num_tasks)[:, None]
    return jax.tree.map(lambda d: d[rows, idx], buffer.data)
