"""Orbax checkpoints of the whole training state (params, optimiser states, alphas, replay
buffer, env state, RNG keys, counters). Orbax writes each step to a temporary folder and
renames it when complete, so a crash mid-write leaves the previous checkpoint usable."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp

CHECKPOINTS = "checkpoints"   # the folder inside a run folder (``mtrl_jax.run_folder``)


def _fill_empty(tree):
    """Zero-size arrays (an MJX model without actuator activations has ``data.act`` of shape
    (E, 0)), which orbax refuses to save, as one-element placeholders of their dtype."""
    return jax.tree.map(lambda x: jnp.zeros((1,), x.dtype) if x.size == 0 else x, tree)


def _restore_empty(restored, target):
    return jax.tree.map(lambda r, t: jnp.zeros(t.shape, t.dtype) if t.size == 0 else r,
                        restored, target)


def _manager(run_dir: str, max_to_keep: int = 2):
    import orbax.checkpoint as ocp
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(os.path.abspath(os.path.join(run_dir, CHECKPOINTS)),
                                 options=options)


def save(run_dir: str, step: int, state) -> None:
    """Save ``state`` (a pytree of arrays) as checkpoint ``step`` and wait until it is on disk."""
    import orbax.checkpoint as ocp
    mngr = _manager(run_dir)
    mngr.save(step, args=ocp.args.StandardSave(_fill_empty(state)))
    mngr.wait_until_finished()
    mngr.close()


def latest_step(run_dir: str) -> int | None:
    if not os.path.isdir(os.path.join(run_dir, CHECKPOINTS)):
        return None
    mngr = _manager(run_dir)
    step = mngr.latest_step()
    mngr.close()
    return step


def restore(run_dir: str, target, step: int | None = None):
    """Restore into the structure, shapes and dtypes of ``target``; latest step by default."""
    import orbax.checkpoint as ocp
    mngr = _manager(run_dir)
    step = mngr.latest_step() if step is None else step
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), _fill_empty(target))
    state = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    mngr.close()
    return _restore_empty(state, target)


def stored_tree(run_dir: str, step: int | None = None):
    """The saved tree of checkpoint ``step`` (latest by default) with array metadata as leaves,
    read without loading any array; None when there is no checkpoint."""
    import orbax.checkpoint as ocp
    mngr = ocp.CheckpointManager(os.path.abspath(os.path.join(run_dir, CHECKPOINTS)),
                                 item_handlers=ocp.StandardCheckpointHandler())
    try:
        step = mngr.latest_step() if step is None else step
        if step is None:
            return None
        metadata = mngr.item_metadata(step)
        return getattr(metadata, "tree", metadata)
    finally:
        mngr.close()
