"""FiLM torso: an observation encoder whose layers are modulated by the task (FiLM, Perez et
al. 2018), then an MLP on concat(encoding, task embedding) (metaworld-algorithms ``nn/film.py``,
DESIGN.md section 12).

Shapes, for a group's task t (L encoder layers of widths h_1..h_L, E = ``embed_dim``)::

    e = relu(embedding[t])                                   (E,)
    gamma, beta = split(generator(e))    generator: MLP E -> generator_hidden -> 2 * sum(m_i)
    x_0 = obs (n, in_dim);  x_i = layer i of x_{i-1}         (n, h_i)
    out = torso(concat(x_L, e))          torso: MLP h_L + E -> hidden -> out_dim

with m_i = h_i (per unit, the default) or 1 (``per_layer``). Encoder layer i is Dense(h_i), then
gamma_i * x + beta_i; every layer but the last has a ReLU.

Choices:

- Per unit (default): gamma_i and beta_i have one entry per unit, FiLM's feature-wise
  modulation; gamma_i = 1 + the generator's output, so that the modulation starts near the
  identity; the ReLU follows the modulation (Dense, FiLM, ReLU: FiLM's place before the ReLU in
  Perez et al.'s residual blocks), so the task can switch units on and off.
- ``per_layer``: the reference's encoder: one scalar gamma_i and beta_i per layer, gamma_i the
  raw generator output (no +1), and the ReLU before the modulation (Dense, ReLU, FiLM).
- The embedding table (T, E) is initialised U(-1/sqrt(T), 1/sqrt(T)), PyTorch's init of a
  bias-free Linear(T, E) on the one-hot (as CARE's learned embedding); every Dense has the
  PyTorch fan-in init.

The embedding and the generator run once per group, on ``task_onehot[:, 0]``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.nets.base import (MLP, Network, Networks, fan_in_uniform, linen_network,
                                task_index, torch_dense)


class FiLMTorso(nn.Module):
    """obs (G, n, in_dim), one-hot (G, n, T) -> (G, n, out_dim), aux {}.

    Parameters: ``embedding`` (T, E); ``generator`` (MLP E -> generator_hidden -> 2 sum(m_i));
    ``encoder_i`` (Dense, kernel (h_{i-1}, h_i)); ``torso`` (MLP h_L + E -> hidden -> out_dim).
    """

    in_dim: int
    num_tasks: int
    out_dim: int
    hidden: tuple[int, ...]
    embed_dim: int
    encoder_hidden: tuple[int, ...]
    generator_hidden: tuple[int, ...]
    per_layer: bool = False

    def setup(self):
        widths = self.encoder_hidden
        self.embedding = self.param("embedding", fan_in_uniform(self.num_tasks),
                                    (self.num_tasks, self.embed_dim))
        self.generator = MLP((self.embed_dim, *self.generator_hidden,
                              2 * sum(self.film_sizes())))
        self.encoder = [torch_dense(i, o) for i, o in zip((self.in_dim, *widths[:-1]), widths)]
        self.torso = MLP((widths[-1] + self.embed_dim, *self.hidden, self.out_dim))

    def film_sizes(self) -> tuple[int, ...]:
        """m_i: the entries of gamma_i (and of beta_i) of each encoder layer."""
        return (1,) * len(self.encoder_hidden) if self.per_layer else tuple(self.encoder_hidden)

    def task_embedding(self, group_onehot):
        """(G, T) -> relu(embedding[task]) (G, E)."""
        return jax.nn.relu(self.embedding[task_index(group_onehot)])

    def modulation(self, group_onehot):
        """(G, T) -> (gammas, betas), lists over the encoder layers of (G, m_i)."""
        return self._film(self.task_embedding(group_onehot))

    def encode(self, obs, group_onehot):
        """obs (G, n, in_dim), (G, T) -> the modulated encoding x_L (G, n, h_L)."""
        return self._encode(obs, *self.modulation(group_onehot))

    def __call__(self, obs, task_onehot, rng, extra):
        e = self.task_embedding(task_onehot[:, 0])                          # (G, E)
        x = self._encode(obs, *self._film(e))                               # (G, n, h_L)
        rows = jnp.broadcast_to(e[:, None, :], (*obs.shape[:2], self.embed_dim))
        return self.torso(jnp.concatenate([x, rows], axis=-1)), {}

    def _film(self, e):
        raw = self.generator(e)                                             # (G, 2 sum(m_i))
        sizes = self.film_sizes()
        cuts = list(np.cumsum(sizes)[:-1])
        gammas = jnp.split(raw[:, :sum(sizes)], cuts, axis=-1)
        betas = jnp.split(raw[:, sum(sizes):], cuts, axis=-1)
        if not self.per_layer:
            gammas = [1.0 + g for g in gammas]
        return list(gammas), list(betas)

    def _encode(self, x, gammas, betas):
        last = len(self.encoder) - 1
        for i, (layer, gamma, beta) in enumerate(zip(self.encoder, gammas, betas)):
            x = layer(x)
            if i < last and self.per_layer:
                x = jax.nn.relu(x)
            x = gamma[:, None, :] * x + beta[:, None, :]
            if i < last and not self.per_layer:
                x = jax.nn.relu(x)
        return x


def make_film(in_dim: int, num_tasks: int, out_dim: int, hidden: tuple[int, ...],
              embed_dim: int, encoder_hidden: tuple[int, ...],
              generator_hidden: tuple[int, ...], per_layer: bool = False) -> Network:
    return linen_network(FiLMTorso(in_dim, num_tasks, out_dim, tuple(hidden), embed_dim,
                                   tuple(encoder_hidden), tuple(generator_hidden), per_layer),
                         in_dim, num_tasks)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, hidden: tuple[int, ...],
                  embed_dim: int, encoder_hidden: tuple[int, ...],
                  generator_hidden: tuple[int, ...], per_layer: bool = False,
                  critic_out: int = 1) -> Networks:
    """FiLM actor (on obs, out 2 act_dim) and critic (on concat(obs, action), out
    ``critic_out``)."""
    sizes = dict(hidden=hidden, embed_dim=embed_dim, encoder_hidden=encoder_hidden,
                 generator_hidden=generator_hidden, per_layer=per_layer)
    return Networks(actor=make_film(obs_dim, num_tasks, 2 * act_dim, **sizes),
                    critic=make_film(obs_dim + act_dim, num_tasks, critic_out, **sizes))
