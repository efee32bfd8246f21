"""Network architectures behind one interface (see ``base``): one module per architecture, each
with its ``make_networks(obs_dim, act_dim, num_tasks, ...) -> Networks`` on explicit sizes.

Nets import nothing of envs/, agents/, the training loop or the run code: ``mtrl_jax.methods``
maps a config to these arguments.
"""

from __future__ import annotations

from mtrl_jax.nets.base import Network, Networks
from mtrl_jax.nets.mlp import make_mlp
from mtrl_jax.nets.multihead import make_multihead

__all__ = ["Network", "Networks", "make_mlp", "make_multihead"]
