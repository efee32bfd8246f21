"""The one network interface shared by every architecture, and the layers they are built from.

A :class:`Network` is a pair of pure functions::

    init(key) -> params                                   # params: a pytree of arrays
    apply(params, obs, task_onehot, rng, extra) -> (out, aux)

``obs`` is ``(G, n, obs_dim)`` and ``task_onehot`` ``(G, n, T)`` in the *task-grouped layout*:
all ``n`` rows of group ``g`` belong to one task (the replay buffer samples ``(T, n)``, the
environments step ``(T, E)``). Per-task compositions (PaCo's Phi @ w, routing from the task
embedding) may therefore be computed once per group from ``task_onehot[:, 0]``. ``out`` is
``(G, n, out_dim)``: the actor's ``2 * act_dim`` Gaussian parameters or the critic's Q value.
``rng`` is a key for stochastic parts of the network (D2R route sampling) or ``None``.
``extra`` is a dict of context the training loop always provides:

- ``mode``: a Python string, static under jit: ``"act"`` (collecting data), ``"update"``
  (forward pass inside the losses), ``"target"`` (bootstrap targets), ``"eval"`` (evaluation);
- ``shared``: the parameters shared by actor and critics (PaCo's w), ``{}`` if none;
- ``log_alpha``: ``(T,)`` current per-task log temperatures (stop-gradient);
- ``stored``: in ``"update"`` mode, the per-transition fields the actor asked to store while
  acting (``(G, n, ...)``), else ``{}``.

``aux`` is a dict: what the method logs (routing probabilities) and, under the key ``"store"``,
the per-transition fields to keep in the replay buffer (D2R's behaviour routes).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

Params = Any
Array = jax.Array


class Network(NamedTuple):
    init: Callable[[Array], Params]
    apply: Callable[..., tuple[Array, dict]]


class Networks(NamedTuple):
    """An architecture's actor and critic: all the SAC core needs from it, so the training
    loop never branches on it. Algorithm-level changes are ``agents.sac.SACHooks``.

    actor: Network with out_dim = 2 * act_dim; critic: Network with out_dim = 1 whose obs is
    concat(obs, action) (the core makes twin critics from it).
    init_shared(key) -> params shared by actor and critics, trained by their summed gradients
    with its own optimiser (``{}`` for most methods).
    store_spec: name -> (shape, dtype) of the per-transition fields the actor returns in
    ``aux["store"]`` while acting.
    """

    actor: Network
    critic: Network
    init_shared: Callable[[Array], Params] = lambda key: {}
    store_spec: dict = {}


def uniform_fan_in(key: Array, shape: tuple[int, ...], fan_in: int) -> Array:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's nn.Linear default, used by the papers' code."""
    bound = 1.0 / jnp.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def dense_init(key: Array, in_dim: int, out_dim: int) -> dict:
    """One linear layer: {"w": (in, out), "b": (out,)}."""
    kw, kb = jax.random.split(key)
    return {"w": uniform_fan_in(kw, (in_dim, out_dim), in_dim),
            "b": uniform_fan_in(kb, (out_dim,), in_dim)}


def dense(params: dict, x: Array) -> Array:
    return x @ params["w"] + params["b"]


def mlp_init(key: Array, sizes: tuple[int, ...]) -> list[dict]:
    """Linear layers between consecutive ``sizes`` (input, hidden..., output)."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [dense_init(k, i, o) for k, i, o in zip(keys, sizes[:-1], sizes[1:])]


def mlp_apply(layers: list[dict], x: Array, activate_last: bool = False) -> Array:
    """ReLU between layers; the last layer is linear unless ``activate_last``."""
    for i, layer in enumerate(layers):
        x = dense(layer, x)
        if i < len(layers) - 1 or activate_last:
            x = jax.nn.relu(x)
    return x


def task_index(task_onehot: Array) -> Array:
    """(..., T) one-hot -> (...) int task ids."""
    return jnp.argmax(task_onehot, axis=-1)
