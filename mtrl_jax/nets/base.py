"""The one network interface shared by every architecture, and the layers they are built from.

Every torso is a ``flax.linen.Module`` called as ``module(obs, task_onehot, rng, extra)``; a
:class:`Network` is the pair of pure functions around it (the brax pattern)::

    init(key) -> params                                   # module.init: {"params": {...}}
    apply(params, obs, task_onehot, rng, extra) -> (out, aux)       # module.apply

``obs`` is ``(G, n, obs_dim)`` and ``task_onehot`` ``(G, n, T)`` in the *task-grouped layout*:
all ``n`` rows of group ``g`` belong to one task (the replay buffer samples ``(T, n)``, the
environments step ``(T, E)``). Per-task compositions (PaCo's Phi @ w, routing from the task
embedding) may therefore be computed once per group from ``task_onehot[:, 0]``. ``out`` is
``(G, n, out_dim)``: the actor's ``2 * act_dim`` Gaussian parameters or the critic's Q value.
``rng`` is a key for stochastic parts of the network (D2R route sampling) or ``None``.
``extra`` is a dict of context the training loop always provides:

- ``mode``: a Python string, static under jit: ``"act"`` (collecting data), ``"update"``
  (forward pass inside the losses), ``"target"`` (bootstrap targets), ``"eval"`` (evaluation);
- ``shared``: the output of the module shared by actor and critics for the groups' tasks
  (PaCo's w, ``(G, K)``), ``{}`` if none;
- ``log_alpha``: ``(T,)`` current per-task log temperatures (stop-gradient);
- ``stored``: in ``"update"`` mode, the per-transition fields the actor asked to store while
  acting (``(G, n, ...)``), else ``{}``.

``aux`` is a dict: what the method logs (routing probabilities) and, under the key ``"store"``,
the per-transition fields to keep in the replay buffer (D2R's behaviour routes).

Parameters are declared by the modules with the papers' PyTorch initialisation
(:func:`fan_in_uniform`); a plain layer is :func:`torch_dense`, a layer whose kernel needs its
own layout (stacked experts, module stacks) declares it with :class:`LinearParams` or
``self.param`` and runs it through pure functions over ``{"kernel", "bias"}`` dicts.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

Params = Any
Array = jax.Array


class Network(NamedTuple):
    init: Callable[[Array], Params]
    apply: Callable[..., tuple[Array, dict]]


class SharedNetwork(NamedTuple):
    """Parameters shared by actor and critics, trained by their summed gradients with their own
    optimiser: ``init(key) -> params``, ``apply(params, group_onehot (G, T)) -> extra["shared"]``."""

    init: Callable[[Array], Params]
    apply: Callable[[Params, Array], Any]


class Networks(NamedTuple):
    """An architecture's actor and critic: all the SAC core needs from it, so the training
    loop never branches on it. Algorithm-level changes are ``agents.sac.SACHooks``.

    actor: Network with out_dim = 2 * act_dim; critic: Network whose obs is concat(obs, action)
    and whose out_dim is 1 (``critic_out`` of the ``make_networks``: the categorical critic's
    bins); the core makes twin critics from it.
    shared: the module whose output both read as ``extra["shared"]`` (PaCo's w), or None.
    store_spec: name -> (shape, dtype) of the per-transition fields the actor returns in
    ``aux["store"]`` while acting.
    """

    actor: Network
    critic: Network
    shared: SharedNetwork | None = None
    store_spec: dict = {}


def fan_in_uniform(fan_in: int) -> Callable[..., Array]:
    """Flax initialiser U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of any shape: PyTorch's nn.Linear
    default for weights and biases, used by the papers' code."""
    bound = 1.0 / (fan_in ** 0.5)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def torch_dense(in_dim: int, out_dim: int, name: str | None = None) -> nn.Dense:
    """``nn.Dense`` (kernel (in, out), bias (out,)) with the PyTorch fan-in initialisation."""
    return nn.Dense(out_dim, kernel_init=fan_in_uniform(in_dim),
                    bias_init=fan_in_uniform(in_dim), name=name)


class LinearParams(nn.Module):
    """Declares one linear layer's ``{"kernel": (*lead, in, out), "bias": (*lead, out)}`` and
    returns it, for layers applied by a pure function (a stack of ``lead`` layers each
    initialised independently with fan-in ``in_dim``)."""

    in_dim: int
    out_dim: int
    lead: tuple[int, ...] = ()

    @nn.compact
    def __call__(self) -> dict:
        init = fan_in_uniform(self.in_dim)
        return {"kernel": self.param("kernel", init, (*self.lead, self.in_dim, self.out_dim)),
                "bias": self.param("bias", init, (*self.lead, self.out_dim))}


class StackedMLPParams(nn.Module):
    """Declares ``num`` MLPs between consecutive ``sizes``, stacked: ``layers_i`` is
    ``{"kernel": (num, in, out), "bias": (num, out)}``, each MLP initialised independently.
    Returns the layers as a list, for pure functions over stacked layers."""

    sizes: tuple[int, ...]
    num: int

    @nn.compact
    def __call__(self) -> list[dict]:
        return [LinearParams(i, o, (self.num,), name=f"layers_{l}")()
                for l, (i, o) in enumerate(zip(self.sizes[:-1], self.sizes[1:]))]


class MLP(nn.Module):
    """Linear layers between consecutive ``sizes`` (input, hidden..., output), ReLU between them;
    the last layer is linear unless ``activate_last``."""

    sizes: tuple[int, ...]
    activate_last: bool = False

    @nn.compact
    def __call__(self, x: Array) -> Array:
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        for i, (fan_in, out) in enumerate(pairs):
            x = torch_dense(fan_in, out, name=f"layers_{i}")(x)
            if i < len(pairs) - 1 or self.activate_last:
                x = jax.nn.relu(x)
        return x


def dense(layer: dict, x: Array) -> Array:
    """x (..., in) through ``{"kernel": (in, out), "bias": (out,)}``."""
    return x @ layer["kernel"] + layer["bias"]


def mlp_apply(layers: list[dict], x: Array, activate_last: bool = False) -> Array:
    """The pure form of :class:`MLP` over a list of ``{"kernel", "bias"}`` layers."""
    for i, layer in enumerate(layers):
        x = dense(layer, x)
        if i < len(layers) - 1 or activate_last:
            x = jax.nn.relu(x)
    return x


def mlp_layers(params: dict) -> list[dict]:
    """An :class:`MLP`'s parameters (``{"layers_0": ..., "layers_1": ...}``) as the ordered list
    :func:`mlp_apply` takes."""
    return [params[f"layers_{i}"] for i in range(len(params))]


def example_extra(num_tasks: int, shared: Any = None) -> dict:
    """The ``extra`` a module is initialised with: evaluation mode, no stored fields."""
    return {"mode": "eval", "shared": {} if shared is None else shared,
            "log_alpha": jnp.zeros((num_tasks,), jnp.float32), "stored": {}}


def linen_network(module: nn.Module, in_dim: int, num_tasks: int,
                  shared_example: Any = None) -> Network:
    """A torso module as a :class:`Network`: ``init`` traces it on one example row (task 0;
    ``shared_example`` is the ``extra["shared"]`` of one group), ``apply`` is ``module.apply``."""

    def init(key):
        obs = jnp.zeros((1, 1, in_dim), jnp.float32)
        onehot = jax.nn.one_hot(jnp.zeros((1, 1), jnp.int32), num_tasks)
        return module.init(key, obs, onehot, None, example_extra(num_tasks, shared_example))

    def apply(params, obs, task_onehot, rng, extra):
        return module.apply(params, obs, task_onehot, rng, extra)

    return Network(init, apply)


def task_index(task_onehot: Array) -> Array:
    """(..., T) one-hot -> (...) int task ids."""
    return jnp.argmax(task_onehot, axis=-1)
