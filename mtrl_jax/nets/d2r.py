"""D2R: dynamic depth routing over a DAG of residual modules (He et al., AAAI 2024).

Shapes use the task-grouped layout of ``base``: G groups of N rows. ``n`` base modules of width
W sit in a fixed order. Routing is indexed by *routed nodes* r = 0..n-1: node r < n-1 is module
r+2 (1-indexed, as in the paper), node n-1 is the output; node r chooses among its candidate
sources (source index j = module j+1): at the module level (D2R) the r+1 earlier modules 1..r+1,
so routes are a lower-triangular (n, n) mask. Layer- and model-level routing (``level``, paper
Fig. 2(b, c) and the Fig. 7(d) ablation) are the same network with smaller candidate sets
(:func:`candidate_mask`): module 1 stays the stem reading F(s), modules 2..n form layers of
``level_width`` modules; layer level routes each module among the previous layer's modules (no
cross-layer edges), model level makes ``level_width`` separate chains whose ends the output
routes among. Every rule below then holds with "candidates" in place of "earlier modules".

Forward pass, per row::

    F = MLP(obs) (2 layers, width D, linear end)        H = Linear(one-hot)   (width D)
    z = gate MLP(F * H)  -> one logit per candidate edge (module level: n(n+1)/2, groups of
                            sizes 1..n = the rows of the (n, n) mask)
    m_1 = ReLU(W_1 ReLU(F))                                        module 1 takes F(s)
    x_i = sum_j p^i_j mhat_j ;  u_i = ReLU(W_i x_i) ;  m_i = x_i + u_i     modules 2..n
    out = Linear(sum_j p^out_j mhat_j)                             the last group = output

Routes d (which sources each node uses): ``samplek`` draws k = min(d2r_k, #candidates) sources
without
replacement from softmax(z / tau_task) by Gumbel-top-k while acting and updating, deterministic
top-k for evaluation and bootstrap targets; ``topk`` uses top-k always (the "w/o SampleK"
ablation); ``hard`` is top-1 with the unrescaled softmax weight of the chosen source (Top-1 hard
routing); ``soft`` uses every source with softmax weights. Weights p = MaskSoftmax(z, d): softmax
over the selected logits only (not tempered: tau only shapes the sampling, Eq. 13).

Route balancing (``d2r_balance``): tau_task = T * softmax(-log_alpha)_task from the per-task SAC
temperatures, recomputed at every call.

ResRouting (``d2r_resrouting``): ``on`` stores the behaviour routes d_old in the replay buffer
(``store_spec`` / ``aux["store"]`` while acting) and the actor update reuses them (Eq. 8); a
selected source j of node r whose full softmax probability softmax(z^r)_j (over node r's
candidates) is below sigma = 1/(#candidates + 1) (module level: 1/(r+2) = 1/i for module i, the
paper's threshold) enters as
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

Speed (the math is unchanged): each node's input is one :func:`routed_mix` with a hand-written
VJP: the forward sums the k selected sources, the backward forms only the k selected weights'
gradients (as matrix-vector products: XLA:CPU lowers minor-axis sums to a slow reduce-window)
and applies the rsg rule directly, instead of mixing a stack of all earlier outputs and a second
stack of zero-valued (u - sg(u)) terms. Gumbel noise is drawn for candidate edges only.

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
- Layer/model-level routing is not specified beyond Fig. 2 and "all key components of D2R";
  here they keep D2R's stem, residual modules, gate, top-k/SampleK, ResRouting (threshold
  1/(#candidates + 1)) and balancing, and restrict only the candidate sets. A module with a
  single candidate (model-level chain links, the first layer) always uses it with weight 1.
  ``(n - 1) % level_width != 0`` is an error naming the fix.
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


LEVELS = ("module", "layer", "model")


def check_level(n: int, level: str, width: int) -> None:
    """Raise a ValueError with the fix when ``level`` cannot arrange the n-1 routed modules."""
    if level not in LEVELS:
        raise ValueError(f"unknown --d2r-level {level!r}: choose module, layer or model")
    if level != "module" and (width < 1 or (n - 1) % width or n < 2):
        layers = max(1, round((n - 1) / max(width, 1)))
        raise ValueError(
            f"--d2r-level {level} arranges the {n - 1} routed modules (all but the stem, module 1) "
            f"in layers of --d2r-level-width {width}: {n - 1} is not a multiple of {width}; use "
            f"--d2r-modules {1 + layers * max(width, 1)} ({layers} x {max(width, 1)} + the stem) "
            f"or a width that divides {n - 1}")


def candidate_mask(n: int, level: str = "module", width: int = 4) -> np.ndarray:
    """(n, n) bool: node r (module r+2; the last row the output) may route from source j
    (module j+1).

    ``module``: every earlier module, j <= r. ``layer`` and ``model``: module 1 is the stem and
    modules 2..n form L = (n-1)/width layers of ``width`` modules (module 2 + l*width + c is
    module c of layer l, source 1 + l*width + c). ``layer``: a layer-1 module reads the stem, a
    layer-l module chooses among the modules of layer l-1, the output among the last layer's.
    ``model``: ``width`` separate chains of depth L; module c of layer l reads only module c of
    layer l-1 (layer 1: the stem); the output chooses among the chain ends (an MoE gate).
    """
    if level == "module":
        return np.tril(np.ones((n, n), bool))
    check_level(n, level, width)
    cand = np.zeros((n, n), bool)
    layers = (n - 1) // width
    for r in range(n):
        layer, chain = (r // width, r % width) if r < n - 1 else (layers, None)
        if layer == 0:
            cand[r, 0] = True
        elif level == "layer" or chain is None:
            cand[r, 1 + (layer - 1) * width:1 + layer * width] = True
        else:
            cand[r, 1 + (layer - 1) * width + chain] = True
    return cand


def _groups(cand: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Per node r: (offset of its logit group in the gate output, its candidate sources)."""
    counts = cand.sum(1)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return [(int(o), np.flatnonzero(row)) for o, row in zip(offsets, cand)]


def logits_to_rows(flat: jax.Array, n: int, cand: np.ndarray | None = None) -> jax.Array:
    """(..., #candidates) gate output, one group per node (for module level: sizes 1..n) ->
    (..., n, n) rows, NEG off-candidate."""
    cand = candidate_mask(n) if cand is None else cand
    rows, cols = np.nonzero(cand)
    index = np.zeros((n, n), np.int32)
    index[rows, cols] = np.arange(len(rows))
    return jnp.where(cand, flat[..., index], NEG)


def num_sources(n: int, k: int, cand: np.ndarray | None = None) -> np.ndarray:
    """(n,) sources per node: min(k, #candidates) (module level: min(k, r+1))."""
    cand = candidate_mask(n) if cand is None else cand
    return np.minimum(k, cand.sum(1))


def select_sources(scores: jax.Array, k: int, cand: np.ndarray | None = None) -> jax.Array:
    """(..., n, n) scores -> (..., n, k) int32 indices of each row's min(k, #candidates) best
    candidates, best first; unused slots (rows with fewer candidates) are -1. (k argmaxes:
    cheaper than a sort for the small k routing uses.)"""
    n = scores.shape[-1]
    cand = candidate_mask(n) if cand is None else cand
    scores = jnp.where(cand, scores, -jnp.inf)
    columns = np.arange(n)
    picks = []
    for _ in range(k):
        best = jnp.argmax(scores, axis=-1)
        picks.append(best)
        scores = jnp.where(best[..., None] == columns, -jnp.inf, scores)
    valid = np.arange(k)[None, :] < num_sources(n, k, cand)[:, None]            # (n, k)
    return jnp.where(valid, jnp.stack(picks, axis=-1), -1).astype(jnp.int32)


def sample_routes(key: jax.Array, logits: jax.Array, tau: jax.Array | float, k: int,
                  cand: np.ndarray | None = None) -> jax.Array:
    """SampleK: k sources per row without replacement from softmax(logits / tau), by
    Gumbel-top-k (exact for sampling without replacement). logits (..., n, n) with NEG
    off-candidate; tau broadcastable to (..., 1, 1). Returns (..., n, k) indices (-1 unused)."""
    n = logits.shape[-1]
    cand = candidate_mask(n) if cand is None else cand
    # noise for the candidate entries only (the others are never picked): fewer random bits
    noise = jax.random.gumbel(key, logits.shape[:-2] + (int(cand.sum()),), logits.dtype)
    return select_sources(logits / tau + logits_to_rows(noise, n, cand), k, cand)


def routes_mask(indices: jax.Array, n: int) -> jax.Array:
    """(..., n, k) source indices (-1 = none) -> (..., n, n) float 0/1 route mask d
    (row r = node r, column j = module j+1)."""
    hit = indices.astype(jnp.int32)[..., None] == np.arange(n)                  # (..., n, k, n)
    return jnp.any(hit, axis=-2).astype(jnp.float32)


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


def _slot_sum(values, slots, idx):
    """sum_s [idx_s == j] values_s, per source j: (..., S) -> list of (..., 1)."""
    return [jnp.sum(jnp.where(idx == j, values, 0.0), -1, keepdims=True) for j in slots]


@jax.custom_vjp
def routed_mix(w, blocked, idx, mods, parts):
    """Input of one node: x = sum_s w_s m_{idx_s}, (..., W).

    w (..., S) slot weights; idx (..., S) int source numbers (-1: empty slot, w = 0), or None
    for dense mixing (slot s = source s); mods: the S' candidate source outputs m_j as a dict
    {j: (..., W)}; blocked (..., S) bool or None: rsg slots; parts {j: u_j}: the module parts of
    the sources (only with blocked). The gradient is that of sum_s w_s mhat_{idx_s} with
    mhat_j = m_j - [blocked] (u_j - sg(u_j)): the forward value is the plain mix, a blocked slot
    passes no gradient to u_j (only to the shortcut x_j of m_j = x_j + u_j). Written as one
    custom VJP so that the backward needs neither the zero-valued (u - sg(u)) terms nor a
    reduction per (node, source) pair: only the S selected slots' weight gradients are formed,
    as matrix-vector products (XLA:CPU lowers a minor-axis sum to a slow reduce-window).
    """
    return _mix_fwd(w, blocked, idx, mods, parts)[0]


def _selected(idx, mods):
    """Per slot s, the source output m_{idx_s} (zeros for an empty slot)."""
    if idx is None:
        return list(mods.values())
    sources = list(mods)
    return [sum(jnp.where(idx[..., s:s + 1] == j, mods[j], 0.0) for j in sources)
            for s in range(idx.shape[-1])]


def _mix_fwd(w, blocked, idx, mods, parts):
    sel = _selected(idx, mods)
    x = sum(w[..., s:s + 1] * v for s, v in enumerate(sel))
    return x, (w, blocked, idx, mods, sel)


def _mix_bwd(res, g):
    w, blocked, idx, mods, sel = res
    ones = jnp.ones((g.shape[-1],), g.dtype)
    dw = jnp.stack([(v * g) @ ones for v in sel], axis=-1)
    sources = list(mods)
    coef = ([w[..., s:s + 1] for s in range(len(sources))] if idx is None
            else _slot_sum(w, sources, idx))
    dmods = {j: c * g for j, c in zip(sources, coef)}
    dparts = None
    if blocked is not None:
        wb = jnp.where(blocked, w, 0.0)
        cb = ([wb[..., s:s + 1] for s in range(len(sources))] if idx is None
              else _slot_sum(wb, sources, idx))
        dparts = {j: -c * g for j, c in zip(sources, cb)}
    return dw, None, None, dmods, dparts


routed_mix.defvjp(_mix_fwd, _mix_bwd)


def make_d2r(in_dim: int, num_tasks: int, out_dim: int, *, modules: int, width: int, gate: int,
             embed: int, k: int, routing: str, resrouting: str, balance: bool,
             stores_routes: bool, level: str = "module", level_width: int = 4) -> Network:
    """A D2R network. ``stores_routes``: the actor (returns routes to store while acting and
    reuses the stored ones in 'update' mode when resrouting is on/off); False for critics.
    ``level``/``level_width``: the routing type (see :func:`candidate_mask`)."""
    n = modules
    check_level(n, level, level_width)
    cand = candidate_mask(n, level, level_width)
    groups = _groups(cand)
    num_logits = int(cand.sum())
    k_sel = n if routing == "soft" else 1 if routing == "hard" else min(k, n)
    rsg_on = resrouting == "on"
    reuse = stores_routes and resrouting in ("on", "off") and routing != "soft"

    def init(key):
        ks = jax.random.split(key, 6)
        return {"state": mlp_init(ks[0], (in_dim, embed, embed)),
                "task": dense_init(ks[1], num_tasks, embed),
                "gate": mlp_init(ks[2], (embed, gate, gate, num_logits)),
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
            return sample_routes(rng, jax.lax.stop_gradient(logits), tau, k_sel, cand)
        return select_sources(logits, k_sel, cand)

    def node_weights(flat, indices, r):
        """Slot weights (..., S), rsg-blocked slots (..., S) or None, slot sources (..., S) or
        None (dense: every candidate), from node r's contiguous logit group."""
        offset, sources = groups[r]
        z = flat[..., offset:offset + len(sources)]                             # (..., c_r)
        probs = jax.nn.softmax(z, axis=-1)
        if indices is None:                                                     # soft
            w, idx, p_sel = probs, None, probs
        else:
            idx = indices[..., r, :]                                            # (..., k)
            onehot = [idx == j for j in sources]
            pick = lambda v: sum(jnp.where(o, v[..., c:c + 1], 0.0)  # noqa: E731
                                 for c, o in enumerate(onehot))
            p_sel = pick(probs)
            if routing == "hard":
                w = p_sel
            else:   # MaskSoftmax: softmax over the selected logits only
                w = jax.nn.softmax(jnp.where(idx >= 0, pick(z), NEG), axis=-1)
        if not rsg_on:
            return w, None, idx
        sigma = 1.0 / (len(sources) + 1)   # module level: 1/i for module i = r+2 (output: n+1)
        blocked = jax.lax.stop_gradient(p_sel) < sigma
        if idx is not None:
            blocked = blocked & (idx >= 0)
        return w, blocked, idx

    def apply(params, obs, task_onehot, rng, extra):
        f = mlp_apply(params["state"], obs)                                     # (G, N, D)
        h = dense(params["task"], task_onehot)                                  # (G, N, D)
        flat = mlp_apply(params["gate"], f * h)                                 # (G, N, L)
        logits = logits_to_rows(flat, n, cand)                                  # (G, N, n, n)
        indices = choose_routes(logits, task_onehot, rng, extra)
        mask = (jnp.broadcast_to(jnp.asarray(cand), logits.shape)
                if indices is None else routes_mask(indices, n) > 0)            # (G, N, n, n)

        def mix(r, mods, parts):
            w, blocked, idx = node_weights(flat, indices, r)
            sources = groups[r][1]
            return routed_mix(w, blocked, idx, {int(j): mods[j] for j in sources},
                              None if blocked is None else {int(j): parts[j] for j in sources})

        u = jax.nn.relu(dense(params["first"], jax.nn.relu(f)))
        mods, parts = [u], [u]            # m_j and its module part u_j (module 1: m_1 = u_1)
        for r, layer in enumerate(params["modules"]):                          # modules 2..n
            x = mix(r, mods, parts)
            u = jax.nn.relu(dense(layer, x))
            mods.append(x + u)
            parts.append(u)
        out = dense(params["head"], mix(n - 1, mods, parts))

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
                  balance=cfg.d2r_balance == "on", level=cfg.d2r_level,
                  level_width=cfg.d2r_level_width)
    actor = make_d2r(obs_dim, num_tasks, 2 * act_dim, stores_routes=True, **common)
    critic = make_d2r(obs_dim + act_dim, num_tasks, 1, stores_routes=False, **common)
    n, k_sel = s["modules"], 1 if cfg.d2r_routing == "hard" else min(cfg.d2r_k, s["modules"])
    stores = cfg.d2r_resrouting in ("on", "off") and cfg.d2r_routing != "soft"
    store_spec = {"routes": ((n, k_sel), jnp.int8)} if stores else {}
    return Method(actor=actor, critic=critic, store_spec=store_spec)
