"""BroNet torso and BRC's task embedding (Nauman et al. 2025, "Bigger, Regularized, Categorical").

BroNet on an input row x (in_dim + task features):

    h = ReLU(LN(Dense_W(x)))                                         # the stem
    h = h + LN(Dense_W(ReLU(LN(Dense_W(h)))))       x ``blocks``       # residual blocks
    out = Dense_out(h)                                               # the head

Every Dense is orthogonal-initialised with zero bias; the hidden ones with scale sqrt(2) (BRC's
code). The head's scale is ``out_scale``, sqrt(2) by default: BRC's code initialises its critic
output layer and its actor mean layer with that same orthogonal(sqrt 2), and the head reads
LayerNorm'd features, so its outputs start O(1) whatever the width. LayerNorms are flax's
defaults (scale 1, bias 0, eps 1e-6).

Task input (``task_input``):

- ``"onehot"``: the torso reads concat(obs, task_onehot); composes with every env and method.
- ``"embedding"`` (BRC): the torso reads concat(obs, emb), emb = ``extra["shared"]`` (G, D), each
  group's unit-norm task embedding broadcast over the group's n rows; the one-hot is not read.
  The embedding is :func:`task_embedding`, the ``Networks.shared`` module.

Who trains the embedding: in BRC the table belongs to the critic and the actor reads it, so only
the critic loss moves it. The SAC core (``agents.sac``) feeds ``shared`` to the critic loss with
its gradient, to the actor's Q term under stop-gradient, but to the actor network itself without
one; the actor-side BroNet therefore sets ``embedding_trainable=False`` and stops the gradient
of the embedding itself. The critic keeps the default ``True``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import Network, SharedNetwork, linen_network, task_index

SQRT2 = 2.0 ** 0.5
TASK_INPUTS = ("onehot", "embedding")


def orthogonal_dense(features: int, scale: float = SQRT2, name: str | None = None) -> nn.Dense:
    """``nn.Dense`` with an orthogonal(``scale``) kernel (in, out) and a zero bias."""
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(scale),
                    bias_init=nn.initializers.zeros, name=name)


class BroBlock(nn.Module):
    """x (..., W) -> x + LN(Dense(ReLU(LN(Dense(x))))) (..., W)."""

    width: int

    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.LayerNorm(name="norm_0")(orthogonal_dense(self.width, name="dense_0")(x)))
        return x + nn.LayerNorm(name="norm_1")(orthogonal_dense(self.width, name="dense_1")(h))


def task_features(task_input: str, obs, task_onehot, extra, embedding_trainable: bool):
    """The task part of the torso input, (G, n, T) or (G, n, D)."""
    if task_input == "onehot":
        return task_onehot
    if task_input == "embedding":
        emb = extra["shared"]                                         # (G, D)
        if not embedding_trainable:
            emb = jax.lax.stop_gradient(emb)
        return jnp.broadcast_to(emb[:, None, :], (*obs.shape[:-1], emb.shape[-1]))
    raise ValueError(f"unknown BroNet task input {task_input!r}: choose one of {TASK_INPUTS}")


class BroNet(nn.Module):
    """obs (G, n, in_dim), task_onehot (G, n, T) [, extra["shared"] (G, D)] -> (G, n, out_dim).

    Parameters: ``stem``, ``stem_norm``, ``block_0`` ... (each ``dense_0``, ``norm_0``,
    ``dense_1``, ``norm_1``), ``head``."""

    out_dim: int
    width: int
    blocks: int
    task_input: str = "onehot"
    embedding_trainable: bool = True
    out_scale: float = SQRT2

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        task = task_features(self.task_input, obs, task_onehot, extra, self.embedding_trainable)
        x = jnp.concatenate([obs, task.astype(obs.dtype)], axis=-1)
        x = nn.relu(nn.LayerNorm(name="stem_norm")(orthogonal_dense(self.width, name="stem")(x)))
        for b in range(self.blocks):
            x = BroBlock(self.width, name=f"block_{b}")(x)
        return orthogonal_dense(self.out_dim, self.out_scale, name="head")(x), {}


class TaskEmbedding(nn.Module):
    """BRC's task embedding ``{"embedding": (T, D)}``: group one-hot (G, T) -> the group's row
    divided by its L2 norm (G, D).

    Initialised like ``nn.Embed`` (BRC's table): N(0, 1/D) per entry, so rows start with norm
    about 1 and a uniformly random direction; the norm being near 1 keeps the gradient through
    the normalisation, and so Adam's step in angle, on the scale of the learning rate."""

    num_tasks: int
    dim: int = 32

    @nn.compact
    def __call__(self, group_onehot):
        table = self.param("embedding", nn.linear.default_embed_init, (self.num_tasks, self.dim))
        rows = jnp.take(table, task_index(group_onehot), axis=0)       # exact lookup, (G, D)
        return rows / jnp.linalg.norm(rows, axis=-1, keepdims=True)


def task_embedding(num_tasks: int, dim: int = 32) -> SharedNetwork:
    """The embedding table as the shared module: ``init(key) -> {"params": {"embedding": (T,
    D)}}``, ``apply(params, group_onehot (G, T)) -> (G, D)`` unit rows."""
    module = TaskEmbedding(num_tasks, dim)
    return SharedNetwork(lambda key: module.init(key, jnp.eye(num_tasks, dtype=jnp.float32)[:1]),
                         module.apply)


def make_bronet(in_dim: int, num_tasks: int, out_dim: int, width: int, blocks: int,
                task_input: str = "onehot", embedding_trainable: bool = True,
                embedding_dim: int = 32, out_scale: float = SQRT2) -> Network:
    """BroNet on ``in_dim`` observation features (the critic's: obs + action).

    ``task_input="embedding"`` reads ``extra["shared"]`` (G, ``embedding_dim``) from
    :func:`task_embedding`; pass ``embedding_trainable=False`` for the actor (see the module
    docstring)."""
    if task_input not in TASK_INPUTS:
        raise ValueError(f"unknown BroNet task input {task_input!r}: choose one of {TASK_INPUTS}")
    module = BroNet(out_dim, width, blocks, task_input, embedding_trainable, out_scale)
    shared_example = (jnp.zeros((1, embedding_dim), jnp.float32) if task_input == "embedding"
                      else None)
    return linen_network(module, in_dim, num_tasks, shared_example=shared_example)
