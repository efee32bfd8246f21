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

Sizes: D = ``sm_embed_dim`` (400), gate = ``sm_gate_width`` (256), W = ``sm_module_width``
(2 x 2: 256, 4 x 4: 128; the paper keeps M x W = 512 units per layer). Deviation from the
paper (scale only): with ``sm_widths_from_hidden`` (the default on point-mt) every width is the
paper's times u / 512 with u = hidden[-1] / 2 units per layer: D = 400 u / 512, gate = u / 2,
W = u / M (point-mt: D 50, gate 32, W 32 for 2 x 2 and 16 for 4 x 4), because the pure-JAX
suite uses small networks for every method; at u = hidden[-1] (D 100, gate 64, W 64) an update
costs about 3x a PaCo update on the 2-core CPU, too slow for the learning test's budget.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import Network, Networks, dense, dense_init, mlp_apply, mlp_init, uniform_fan_in


def make_soft_modules(in_dim: int, num_tasks: int, out_dim: int, *, embed_dim: int,
                      gate_width: int, num_layers: int, num_modules: int,
                      module_width: int) -> Network:
    """Soft-modularized network: obs (G, n, in_dim), one-hot (G, n, T) -> (G, n, out_dim)."""
    if num_layers < 2 or num_modules < 1:
        raise ValueError(f"soft modularization needs >= 2 layers and >= 1 module per layer, "
                         f"got {num_layers} x {num_modules}")
    L, M, W = num_layers, num_modules, module_width

    def init(key):
        keys = iter(jax.random.split(key, 6 + 3 * L))
        params = {
            "f": mlp_init(next(keys), (in_dim, embed_dim, embed_dim)),
            "z": dense_init(next(keys), num_tasks, embed_dim),
            "gate": mlp_init(next(keys), (embed_dim, gate_width, gate_width)),
            "route_first": dense_init(next(keys), gate_width, M * M),
            # route l (l = 2 .. L-1, then the output weights) reads the l - 1 earlier routings
            "route_cond": [dense_init(next(keys), (l - 1) * M * M, gate_width)
                           for l in range(2, L + 1)],
            "route_out": [dense_init(next(keys), gate_width, M * M if l < L else M)
                          for l in range(2, L + 1)],
            "head": dense_init(next(keys), W, out_dim),
        }
        modules = []
        for layer in range(L):
            fan_in = embed_dim if layer == 0 else W
            kw, kb = jax.random.split(next(keys))
            modules.append({"w": uniform_fan_in(kw, (M, fan_in, W), fan_in),
                            "b": uniform_fan_in(kb, (M, W), fan_in)})
        params["modules"] = modules
        return params

    def routing(params, obs, task_onehot):
        """(f(s) (..., D), routing matrices tuple of (..., M, M), output weights (..., M))."""
        f = mlp_apply(params["f"], obs)
        e = f * dense(params["z"], task_onehot)
        g = mlp_apply(params["gate"], jax.nn.relu(e))
        lead = g.shape[:-1]
        probs = [jax.nn.softmax(
            dense(params["route_first"], jax.nn.relu(g)).reshape(*lead, M, M), axis=-1)]
        for i in range(L - 1):            # routings 2 .. L-1, then the output weights
            earlier = jnp.concatenate([p.reshape(*lead, M * M) for p in probs], axis=-1)
            cond = jax.nn.relu(dense(params["route_cond"][i], earlier) * g)
            logits = dense(params["route_out"][i], cond)
            if i < L - 2:
                probs.append(jax.nn.softmax(logits.reshape(*lead, M, M), axis=-1))
            else:
                out_weights = jax.nn.softmax(logits, axis=-1)
        return f, tuple(probs), out_weights

    def apply(params, obs, task_onehot, rng, extra):
        f, probs, out_weights = routing(params, obs, task_onehot)
        layer = params["modules"][0]
        m = jnp.einsum("...i,kio->...ko", jax.nn.relu(f), layer["w"]) + layer["b"]   # (..., M, W)
        for p, layer in zip(probs, params["modules"][1:]):
            x = jax.nn.relu(jnp.einsum("...jk,...kw->...jw", p, m))                    # (..., M, W)
            m = jnp.einsum("...ji,jio->...jo", x, layer["w"]) + layer["b"]
        h = jax.nn.relu(jnp.einsum("...k,...kw->...w", out_weights, m))
        return dense(params["head"], h), {"routing": probs, "output_weights": out_weights}

    return Network(init, apply)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, *, embed_dim: int,
                  gate_width: int, num_layers: int, num_modules: int,
                  module_width: int) -> Networks:
    sizes = dict(embed_dim=embed_dim, gate_width=gate_width, num_layers=num_layers,
                 num_modules=num_modules, module_width=module_width)
    return Networks(actor=make_soft_modules(obs_dim, num_tasks, 2 * act_dim, **sizes),
                    critic=make_soft_modules(obs_dim + act_dim, num_tasks, 1, **sizes))
