"""D2R: dynamic depth routing over a DAG of residual modules (He et al., AAAI 2024).

Shapes use the task-grouped layout of ``base``: G groups of N rows. ``n`` base modules of width
W sit in a fixed order. Routing is indexed by *routed nodes* r = 0..n-1: node r < n-1 is module
r+2 (1-indexed, as in the paper), node n-1 is the output; node r chooses among the r+1 earlier
modules 1..r+1 (source index j = module j+1). Routes are a lower-triangular (n, n) mask.

Forward pass, per row::

    F = MLP(obs) (2 layers, width D, linear end)        H = Linear(one-hot)   (width D)
    z = gate MLP(F * H)  -> n(n+1)/2 logits, groups of sizes 1..n = the rows of the (n, n) mask
    m_1 = ReLU(W_1 ReLU(F))                                        module 1 takes F(s)
    x_i = sum_j p^i_j mhat_j ;  u_i = ReLU(W_i x_i) ;  m_i = x_i + u_i     modules 2..n
    out = Linear(sum_j p^out_j mhat_j)                             the last group = output

Routes d (which sources each node uses): ``samplek`` draws k = min(d2r_k, r+1) sources without
replacement from softmax(z / tau_task) by Gumbel-top-k while acting and updating, deterministic
top-k for evaluation and bootstrap targets; ``topk`` uses top-k always (the "w/o SampleK"
ablation); ``hard`` is top-1 with the unrescaled softmax weight of the chosen source (Top-1 hard
routing); ``soft`` uses every source with softmax weights. Weights p = MaskSoftmax(z, d): softmax
over the selected logits only (not tempered: tau only shapes the sampling, Eq. 13).

Route balancing (``d2r_balance``): tau_task = T * softmax(-log_alpha)_task from the per-task SAC
temperatures, recomputed at every call.

ResRouting (``d2r_resrouting``): ``on`` stores the behaviour routes d_old in the replay buffer
(``store_spec`` / ``aux["store"]`` while acting) and the actor update reuses them (Eq. 8); a
selected source j of node r whose full softmax probability softmax(z^r)_j is below
sigma = 1/(r+2) (= 1/i for module i, the paper's threshold) enters as
rsg[m_j] = x_j + sg(u_j): its residual shortcut keeps the gradient, its module does not (Eq. 12).
``off`` reuses the stored routes without rsg (the "w/o ResRouting" ablation); ``target`` samples
fresh routes in the update and stores nothing ("w/ Target Routing"). The critics never store
routes: they sample in their own loss and use top-k when called without a key (the actor loss's
Q(s, pi(s)), targets).

A module that no later used node selects is skipped: :func:`modules_used` counts the modules on
the output's routing path (paper Fig. 8). ``aux``: ``routes`` (G, N, n, n) bool, ``logits``
(G, N, n, n); in 'act' and 'eval' mode also ``modules_used`` (G, N) and ``stats`` (per-task sums
``d2r_modules_used_sum`` / ``d2r_route_rows`` (G,), summed over a chunk in the training log);
the actor in 'act' mode ``store`` = {"routes": (G, N, n, k) int8 source indices, -1 unused}.
Skipped modules are still computed (dense masked mixing keeps the batch one XLA program); they
receive no gradient and do not change the output.

Departures from the paper, and why:

- Route balancing uses tau = T * softmax(-log_alpha) (DESIGN.md, the authors' code), the
  paper's Eq. 14 without the factor T. Eq. 14 literally gives tau = 1/T when all alphas are equal,
  i.e. 10x sharper sampling than "w/o route balancing" from the first step on MT10, which
  contradicts the paper's own report that both start equally efficient; with the factor T the
  mechanism only redistributes exploration between tasks.
- The network has n equal-width modules plus a linear action head on the output node's routed
  mix (n(n+1)/2 logits, as in DESIGN.md and the authors' code); the paper's text makes the last
  module m^n the action output (n(n-1)/2 logits). Module 1 changes width (D -> W) and so has no
  residual shortcut: below the threshold rsg[m_1] = sg(m_1).
- The critics use the same architecture with obs = concat(obs, action), as the paper states;
  how their routes are chosen is not specified beyond that (see above). With resrouting ``on``
  the rsg gradient rule is applied in the critics too (it changes no forward value).
- The rsg threshold compares the untempered full softmax probability, as Eq. 10 writes it.
"""

from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import Method, Network, dense, dense_init, mlp_apply, mlp_init, task_index

NEG = -1e9  # logit of a non-candidate source (finite: no NaN in gradients or Gumbel sums)

# Sizes by environment when the config leaves them at None: (modules, width, gate, embed).
PAPER_SIZES = dict(modules=16, width=128, gate=256, embed=400)
POINT_MT_SIZES = dict(modules=6, width=64, gate=64, embed=64)


def d2r_sizes(cfg) -> dict:
    """modules, width, gate, embed for ``cfg``: explicit d2r_* fields, else the env's default."""
    base = POINT_MT_SIZES if cfg.env == "point-mt" else PAPER_SIZES
    given = dict(modules=cfg.d2r_modules, width=cfg.d2r_module_width, gate=cfg.d2r_gate_width,
                 embed=cfg.d2r_embed_dim)
    return {k: base[k] if v is None else v for k, v in given.items()}


def candidate_mask(n: int) -> np.ndarray:
    """(n, n) bool: node r may route from source j iff j <= r."""
    return np.tril(np.ones((n, n), bool))


def logits_to_rows(flat: jax.Array, n: int) -> jax.Array:
    """(..., n(n+1)/2) gate output, groups of sizes 1..n -> (..., n, n) rows, NEG off-candidate."""
    rows, cols = np.tril_indices(n)
    index = np.zeros((n, n), np.int32)
    index[rows, cols] = np.arange(len(rows))
    return jnp.where(candidate_mask(n), flat[..., index], NEG)


def num_sources(n: int, k: int) -> np.ndarray:
    """(n,) sources per node: min(k, r+1)."""
    return np.minimum(k, np.arange(1, n + 1))


def select_sources(scores: jax.Array, k: int) -> jax.Array:
    """(..., n, n) scores -> (..., n, k) int32 indices of each row's min(k, r+1) best
    candidates, best first; unused slots (rows with fewer candidates) are -1. (k argmaxes:
    cheaper than a sort for the small k routing uses.)"""
    n = scores.shape[-1]
    scores = jnp.where(candidate_mask(n), scores, -jnp.inf)
    picks = []
    for _ in range(k):
        best = jnp.argmax(scores, axis=-1)
        picks.append(best)
        scores = jnp.where(jax.nn.one_hot(best, n, dtype=bool), -jnp.inf, scores)
    valid = np.arange(k)[None, :] < num_sources(n, k)[:, None]                  # (n, k)
    return jnp.where(valid, jnp.stack(picks, axis=-1), -1).astype(jnp.int32)


def sample_routes(key: jax.Array, logits: jax.Array, tau: jax.Array | float, k: int) -> jax.Array:
    """SampleK: k sources per row without replacement from softmax(logits / tau), by
    Gumbel-top-k (exact for sampling without replacement). logits (..., n, n) with NEG
    off-candidate; tau broadcastable to (..., 1, 1). Returns (..., n, k) indices (-1 unused)."""
    gumbel = jax.random.gumbel(key, logits.shape, logits.dtype)
    return select_sources(logits / tau + gumbel, k)


def routes_mask(indices: jax.Array, n: int) -> jax.Array:
    """(..., n, k) source indices (-1 = none) -> (..., n, n) float 0/1 route mask d
    (row r = node r, column j = module j+1)."""
    return jax.nn.one_hot(indices.astype(jnp.int32), n).sum(axis=-2)


def route_temperature(log_alpha: jax.Array | None, task_onehot: jax.Array,
                      balance: bool) -> jax.Array:
    """(..., 1, 1) sampling temperature per row: T softmax(-log_alpha)_task, or 1 if off."""
    if not balance or log_alpha is None:
        return jnp.ones(task_onehot.shape[:-1] + (1, 1))
    tau = log_alpha.shape[0] * jax.nn.softmax(-log_alpha)
    return tau[task_index(task_onehot)][..., None, None]


def modules_used(routes: jax.Array) -> jax.Array:
    """(..., n, n) route mask (row r = node r, last row = output) -> (...) int32 number of
    modules on the output's routing path; the others are skipped. Module j+1 is used iff some
    used node r >= j selects source j."""
    routes = jnp.asarray(routes) > 0
    n = routes.shape[-1]
    used = [None] * n                          # used[j]: module j+1 is used
    for j in range(n - 1, -1, -1):
        consumer_used = [used[r + 1] if r < n - 1 else True for r in range(j, n)]
        used[j] = jnp.any(jnp.stack([routes[..., r, j] & u for r, u in
                                     zip(range(j, n), consumer_used)], axis=-1), axis=-1)
    return jnp.stack(used, axis=-1).sum(axis=-1).astype(jnp.int32)


def make_d2r(in_dim: int, num_tasks: int, out_dim: int, *, modules: int, width: int, gate: int,
             embed: int, k: int, routing: str, resrouting: str, balance: bool,
             stores_routes: bool) -> Network:
    """A D2R network. ``stores_routes``: the actor (returns routes to store while acting and
    reuses the stored ones in 'update' mode when resrouting is on/off); False for critics."""
    n = modules
    k_sel = n if routing == "soft" else 1 if routing == "hard" else min(k, n)
    rsg_on = resrouting == "on"
    reuse = stores_routes and resrouting in ("on", "off") and routing != "soft"

    def init(key):
        ks = jax.random.split(key, 6)
        return {"state": mlp_init(ks[0], (in_dim, embed, embed)),
                "task": dense_init(ks[1], num_tasks, embed),
                "gate": mlp_init(ks[2], (embed, gate, gate, n * (n + 1) // 2)),
                "first": dense_init(ks[3], embed, width),
                "modules": [dense_init(kk, width, width) for kk in jax.random.split(ks[4], n - 1)],
                "head": dense_init(ks[5], width, out_dim)}

    def choose_routes(logits, task_onehot, rng, extra):
        """(..., n, k) source indices for this call, or None for soft routing."""
        mode = extra["mode"]
        if routing == "soft":
            return None
        if reuse and mode == "update":
            if "routes" not in extra.get("stored", {}):
                raise KeyError("D2R actor in 'update' mode needs extra['stored']['routes'] (the "
                               "behaviour routes kept in the replay buffer)")
            return extra["stored"]["routes"].astype(jnp.int32)
        explore = mode in ("act", "update") and rng is not None and routing != "topk"
        if explore:
            tau = route_temperature(extra.get("log_alpha"), task_onehot, balance)
            return sample_routes(rng, jax.lax.stop_gradient(logits), tau, k_sel)
        return select_sources(logits, k_sel)

    def apply(params, obs, task_onehot, rng, extra):
        f = mlp_apply(params["state"], obs)                                     # (G, N, D)
        h = dense(params["task"], task_onehot)                                  # (G, N, D)
        flat = mlp_apply(params["gate"], f * h)                                 # (G, N, L)
        logits = logits_to_rows(flat, n)                                        # (G, N, n, n)
        indices = choose_routes(logits, task_onehot, rng, extra)
        mask = (jnp.broadcast_to(jnp.asarray(candidate_mask(n)), logits.shape)
                if indices is None else routes_mask(indices, n) > 0)            # (G, N, n, n)

        def node_weights(r):
            """p^r (G, N, r+1) and its rsg-blocked part, from the contiguous logit group r
            (row-wise, so that no gradient is scattered into an (n, n) array)."""
            z = flat[..., r * (r + 1) // 2:(r + 1) * (r + 2) // 2]
            d = mask[..., r, :r + 1]
            probs = jax.nn.softmax(z, axis=-1)
            w = (probs if routing == "soft" else probs * d if routing == "hard"
                 else jax.nn.softmax(jnp.where(d, z, NEG), axis=-1))
            if not rsg_on:
                return w, None
            sigma = 1.0 / (r + 2)   # 1/i for module i = r+2 (the output counts as i = n+1)
            return w, w * (jax.lax.stop_gradient(probs) < sigma)

        def mix(r, outs, deltas):
            """Input of node r: sum_j p_rj mhat_j over the sources 0..r, (G, N, W). mhat_j =
            m_j, minus the module part's gradient (u_j - sg(u_j), zero in value) on rsg edges."""
            w, blocked = node_weights(r)
            x = jnp.einsum("gns,gnsw->gnw", w, jnp.stack(outs, -2))
            if blocked is not None:
                x = x - jnp.einsum("gns,gnsw->gnw", blocked, jnp.stack(deltas, -2))
            return x

        u = jax.nn.relu(dense(params["first"], jax.nn.relu(f)))
        outs, deltas = [u], [u - jax.lax.stop_gradient(u)]
        for r, layer in enumerate(params["modules"]):                          # modules 2..n
            x = mix(r, outs, deltas)
            u = jax.nn.relu(dense(layer, x))
            outs.append(x + u)
            deltas.append(u - jax.lax.stop_gradient(u))
        out = dense(params["head"], mix(n - 1, outs, deltas))

        aux = {"routes": mask, "logits": logits}
        if extra["mode"] in ("act", "eval"):
            used = modules_used(mask)                                           # (G, N)
            aux["modules_used"] = used
            aux["stats"] = {"d2r_modules_used_sum": used.sum(-1).astype(jnp.float32),
                            "d2r_route_rows": jnp.full(used.shape[:-1], used.shape[-1],
                                                       jnp.float32)}
        if reuse and extra["mode"] == "act":
            aux["store"] = {"routes": indices.astype(jnp.int8)}
        return out, aux

    return Network(init, apply)


def make_method(cfg, obs_dim: int, act_dim: int, num_tasks: int) -> Method:
    s = d2r_sizes(cfg)
    common = dict(modules=s["modules"], width=s["width"], gate=s["gate"], embed=s["embed"],
                  k=cfg.d2r_k, routing=cfg.d2r_routing, resrouting=cfg.d2r_resrouting,
                  balance=cfg.d2r_balance == "on")
    actor = make_d2r(obs_dim, num_tasks, 2 * act_dim, stores_routes=True, **common)
    critic = make_d2r(obs_dim + act_dim, num_tasks, 1, stores_routes=False, **common)
    n, k_sel = s["modules"], 1 if cfg.d2r_routing == "hard" else min(cfg.d2r_k, s["modules"])
    stores = cfg.d2r_resrouting in ("on", "off") and cfg.d2r_routing != "soft"
    store_spec = {"routes": ((n, k_sel), jnp.int8)} if stores else {}
    return Method(actor=actor, critic=critic, store_spec=store_spec)
