"""Soft Modularization (Yang et al. 2020): a base network of L x M modules whose connections are
soft routing probabilities computed from the state and the task.

Shapes below are per row; every array carries the leading ``(G, n)`` of the task-grouped layout.

- f(s): MLP obs -> D -> D (ReLU between, none at the end); z(task): linear one-hot (T) -> D.
- g = MLP(ReLU(f(s) * z(task))): D -> gate -> gate, linear at its end.
- Routing between consecutive module layers, softmax over the SOURCE modules (last axis):
  p^1 = softmax(W^1 ReLU(g)) reshaped (M, M);
  p^l = softmax(W_d^l ReLU((W_u^l concat(vec p^1 .. vec p^{l-1})) * g)) for l = 2 .. L-1;
  output weights q = softmax(W_d^L ReLU((W_u^L concat(vec p^1 .. vec p^{L-1})) * g)), (M,).
  p^l[j, k] is the weight of module k of layer l in the input of module j of layer l + 1.
- Modules are linear maps (module width W). Layer 1 takes h0 = ReLU(f(s)); module j of layer
  l + 1 takes ReLU(sum_k p^l[j, k] m^l_k) (ReLU after the weighted sum); the head is
  linear(ReLU(sum_k q[k] m^L_k)).

So an L x M network has L - 1 routing matrices (M, M) plus the extra output weights (M,); the
first layer's modules all read h0 and need no routing. The actor and each critic are separate
soft-module networks (the critic's f reads concat(obs, action)); the one-hot enters only through
z(task). The task-loss reweighting by T softmax(-log_alpha) is done by the SAC core
(``cfg.task_weighting``, on for ``sm``). ``aux`` holds ``routing`` (a tuple of L - 1 arrays
(G, n, M, M)) and ``output_weights`` (G, n, M).

Parameters: ``f`` and ``gate`` (MLPs), ``z``, ``route_first``, ``route_cond_i`` ((i + 1) M^2 ->
gate) and ``route_out_i`` (gate -> M^2, the last -> M) for i = 0 .. L - 2, ``head`` (W ->
out_dim), and ``modules_l`` for l = 0 .. L - 1: layer l's M modules stacked,
``{"kernel": (M, fan_in, W), "bias": (M, W)}`` (fan_in D for l = 0, else W).

Sizes: D = ``sm_embed_dim`` (400), gate = ``sm_gate_width`` (256), W = ``sm_module_width``
(2 x 2: 256, 4 x 4: 128; the paper keeps M x W = 512 units per layer). Deviation from the
paper (scale only): with ``sm_widths_from_hidden`` (the default on point-mt) every width is the
paper's times u / 512 with u = hidden[-1] / 2 units per layer: D = 400 u / 512, gate = u / 2,
W = u / M (point-mt: D 50, gate 32, W 32 for 2 x 2 and 16 for 4 x 4), because the pure-JAX
suite uses small networks for every method; at u = hidden[-1] (D 100, gate 64, W 64) an update
costs about 3x a PaCo update on the 2-core CPU, too slow for the learning test's budget.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import MLP, LinearParams, Network, Networks, linen_network, torch_dense


class SoftModules(nn.Module):
    """Soft-modularized network: obs (G, n, in_dim), one-hot (G, n, T) -> (G, n, out_dim)."""

    in_dim: int
    num_tasks: int
    out_dim: int
    embed_dim: int
    gate_width: int
    num_layers: int
    num_modules: int
    module_width: int

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        L, M, W, D = self.num_layers, self.num_modules, self.module_width, self.embed_dim
        f = MLP((self.in_dim, D, D), name="f")(obs)
        e = f * torch_dense(self.num_tasks, D, name="z")(task_onehot)
        g = MLP((D, self.gate_width, self.gate_width), name="gate")(jax.nn.relu(e))
        lead = g.shape[:-1]
        probs = [jax.nn.softmax(torch_dense(self.gate_width, M * M, name="route_first")(
            jax.nn.relu(g)).reshape(*lead, M, M), axis=-1)]
        for i in range(L - 1):            # routings 2 .. L-1, then the output weights
            earlier = jnp.concatenate([p.reshape(*lead, M * M) for p in probs], axis=-1)
            cond = jax.nn.relu(torch_dense((i + 1) * M * M, self.gate_width,
                                           name=f"route_cond_{i}")(earlier) * g)
            logits = torch_dense(self.gate_width, M * M if i < L - 2 else M,
                                 name=f"route_out_{i}")(cond)
            if i < L - 2:
                probs.append(jax.nn.softmax(logits.reshape(*lead, M, M), axis=-1))
            else:
                out_weights = jax.nn.softmax(logits, axis=-1)
        probs = tuple(probs)

        layers = [LinearParams(D if i == 0 else W, W, lead=(M,), name=f"modules_{i}")()
                  for i in range(L)]
        first = layers[0]                        # module outputs m and inputs x: (..., M, W)
        m = jnp.einsum("...i,kio->...ko", jax.nn.relu(f), first["kernel"]) + first["bias"]
        for p, layer in zip(probs, layers[1:]):
            x = jax.nn.relu(jnp.einsum("...jk,...kw->...jw", p, m))
            m = jnp.einsum("...ji,jio->...jo", x, layer["kernel"]) + layer["bias"]
        h = jax.nn.relu(jnp.einsum("...k,...kw->...w", out_weights, m))
        out = torch_dense(W, self.out_dim, name="head")(h)
        return out, {"routing": probs, "output_weights": out_weights}


def make_soft_modules(in_dim: int, num_tasks: int, out_dim: int, *, embed_dim: int,
                      gate_width: int, num_layers: int, num_modules: int,
                      module_width: int) -> Network:
    """Soft-modularized network: obs (G, n, in_dim), one-hot (G, n, T) -> (G, n, out_dim)."""
    if num_layers < 2 or num_modules < 1:
        raise ValueError(f"soft modularization needs >= 2 layers and >= 1 module per layer, "
                         f"got {num_layers} x {num_modules}")
    module = SoftModules(in_dim, num_tasks, out_dim, embed_dim, gate_width, num_layers,
                         num_modules, module_width)
    return linen_network(module, in_dim, num_tasks)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, *, embed_dim: int,
                  gate_width: int, num_layers: int, num_modules: int,
                  module_width: int, critic_out: int = 1) -> Networks:
    sizes = dict(embed_dim=embed_dim, gate_width=gate_width, num_layers=num_layers,
                 num_modules=num_modules, module_width=module_width)
    return Networks(actor=make_soft_modules(obs_dim, num_tasks, 2 * act_dim, **sizes),
                    critic=make_soft_modules(obs_dim + act_dim, num_tasks, critic_out, **sizes))
