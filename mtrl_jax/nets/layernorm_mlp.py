"""LayerNorm MLP torso: ARS's critic (Cho et al. 2025), and an MLP with optional LayerNorms.

On concat(obs, task_onehot) (G, n, in_dim + T)::

    x = LN(x)                                       if input_layernorm
    x = act(LN(Dense_w(x)))    for w in widths      (the LN only if layernorm)
    out = Dense_out(x)

ARS's critic is widths (400,) * 4, tanh, both LayerNorms on; its actor is the same torso with
ReLU and no LayerNorm. The one-hot is part of the input row that the input LayerNorm
normalises, as in ARS's code (the task id is appended to the observation). With both switches
off the torso is a plain MLP, so ``layernorm`` alone gives "an MLP torso plus LayerNorm".

Initialisation (``init_scheme``): ``"xavier"`` (ARS's code, flax's ``xavier_normal``: a truncated
normal rescaled to variance 2 / (fan_in + fan_out)) or ``"torch"`` (the fan-in uniform of
``nets.base``, the papers' PyTorch default, so that a LayerNorm ablation of an MLP method changes
the LayerNorms only). Biases start at zero with ``"xavier"``, fan-in uniform with ``"torch"``.
LayerNorms are flax's defaults (scale 1, bias 0, eps 1e-6).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import Network, linen_network, torch_dense

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}
INITS = ("xavier", "torch")


def xavier_dense(features: int, name: str | None = None) -> nn.Dense:
    """``nn.Dense`` with a Xavier-normal kernel (in, out) and a zero bias."""
    return nn.Dense(features, kernel_init=nn.initializers.xavier_normal(),
                    bias_init=nn.initializers.zeros, name=name)


class LayerNormMLP(nn.Module):
    """obs (G, n, in_dim), task_onehot (G, n, T) -> (G, n, out_dim).

    Parameters: ``input_norm`` (if input_layernorm), ``layers_0`` ... ``layers_L`` (the last is
    the output layer), ``norm_0`` ... ``norm_{L-1}`` (if layernorm)."""

    out_dim: int
    widths: tuple[int, ...]
    activation: str = "tanh"
    input_layernorm: bool = True
    layernorm: bool = True
    init_scheme: str = "xavier"

    def dense(self, fan_in: int, features: int, name: str) -> nn.Dense:
        if self.init_scheme == "xavier":
            return xavier_dense(features, name=name)
        if self.init_scheme == "torch":
            return torch_dense(fan_in, features, name=name)
        raise ValueError(f"unknown LayerNormMLP init {self.init_scheme!r}: choose one of "
                         f"{INITS}")

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        act = ACTIVATIONS[self.activation]
        x = jnp.concatenate([obs, task_onehot.astype(obs.dtype)], axis=-1)
        if self.input_layernorm:
            x = nn.LayerNorm(name="input_norm")(x)
        for i, width in enumerate(self.widths):
            x = self.dense(x.shape[-1], width, f"layers_{i}")(x)
            if self.layernorm:
                x = nn.LayerNorm(name=f"norm_{i}")(x)
            x = act(x)
        return self.dense(x.shape[-1], self.out_dim, f"layers_{len(self.widths)}")(x), {}


def make_layernorm_mlp(in_dim: int, num_tasks: int, out_dim: int, widths: tuple[int, ...],
                       activation: str = "tanh", input_layernorm: bool = True,
                       layernorm: bool = True, init_scheme: str = "xavier") -> Network:
    """LayerNorm MLP on ``in_dim`` observation features plus the task one-hot; the defaults
    are ARS's critic given widths (400,) * 4."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: choose one of {tuple(ACTIVATIONS)}")
    if init_scheme not in INITS:
        raise ValueError(f"unknown LayerNormMLP init {init_scheme!r}: choose one of {INITS}")
    module = LayerNormMLP(out_dim, tuple(widths), activation, input_layernorm, layernorm,
                          init_scheme)
    return linen_network(module, in_dim, num_tasks)
