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
Skipped modules are still computed (the batch stays one XLA program, no per-row branching); they
receive no gradient and do not change the output.

Speed (the math is unchanged): the module chain is one :func:`module_chain` with a hand-written
VJP. Module outputs are stacked in one (n, rows, W) buffer; each node gathers its k selected
sources from it, and the backward scatter-adds each node's gradient into its k sources' slots of
one accumulator (applying the rsg rule there), so every node touches k sources instead of all
earlier modules (autodiff of a dense masked mix reads and writes all of them: n^2 passes over
(rows, W) arrays). The slot weights of all nodes come from one softmax over the (n, n) logit
rows. Gumbel noise is drawn for candidate edges only. Route choice runs as running maxima over
the source columns (:func:`select_sources`), not as a top-k over the minor axis.

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

import flax.linen as nn
import jax
import jax.numpy as jnp

from mtrl_jax.nets.base import (MLP, LinearParams, Network, Networks, dense, linen_network,
                                task_index, torch_dense)

NEG = -1e9  # logit of a non-candidate source (finite: no NaN in gradients or Gumbel sums)

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
    candidates, best first (ties: the lower index); unused slots (rows with fewer candidates)
    are -1."""
    n = scores.shape[-1]
    cand = candidate_mask(n) if cand is None else cand
    # The XLA:CPU form: k passes of a running maximum over the n source columns, elementwise
    # ops over (..., n) arrays that XLA fuses, where top-k / argmax is a variadic reduction
    # over a minor axis of 16; columns first so that every column is contiguous.
    # benchmarks/layouts.py on the 2-core CPU, select_sources_top_k / this: 2.2 for the op
    # alone at MT10 D2R's shapes, 1.02-1.06 for the whole MT10 D2R update.
    columns = list(jnp.moveaxis(jnp.where(cand, scores, -jnp.inf), -1, 0))
    picks = []
    for _ in range(k):
        best, pick = columns[0], jnp.zeros(scores.shape[:-1], jnp.int32)
        for j in range(1, n):
            better = columns[j] > best
            best, pick = jnp.where(better, columns[j], best), jnp.where(better, j, pick)
        picks.append(pick)
        columns = [jnp.where(pick == j, -jnp.inf, c) for j, c in enumerate(columns)]
    valid = np.arange(k)[None, :] < num_sources(n, k, cand)[:, None]            # (n, k)
    return jnp.where(valid, jnp.stack(picks, axis=-1), -1)


def select_sources_top_k(scores: jax.Array, k: int, cand: np.ndarray | None = None) -> jax.Array:
    """:func:`select_sources` by ``lax.top_k`` (the plain form, for the comparison on other
    backends); the same indices, ties to the lower index."""
    n = scores.shape[-1]
    cand = candidate_mask(n) if cand is None else cand
    _, picks = jax.lax.top_k(jnp.where(cand, scores, -jnp.inf), k)
    valid = np.arange(k)[None, :] < num_sources(n, k, cand)[:, None]            # (n, k)
    return jnp.where(valid, picks.astype(jnp.int32), -1)


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


def _flat_slots(idx: jax.Array) -> jax.Array:
    """(R, S) source numbers -> (R, S) positions in the (n * R) rows of a source-major stack."""
    rows = idx.shape[0]
    return idx * rows + np.arange(rows)[:, None]


def _gather_slots(mods: jax.Array, idx: jax.Array) -> jax.Array:
    """mods (n, R, ...), idx (R, S) in [0, n) -> (R, S, ...): row r's sources idx[r, s]."""
    return mods.reshape((-1,) + mods.shape[2:])[_flat_slots(idx)]


def _add_at_slots(acc: jax.Array, idx: jax.Array, channel: jax.Array,
                  values: jax.Array) -> jax.Array:
    """acc (n, R, C, W) with values (R, S, W) added at row r's sources idx[r, s], in channel
    channel[r, s] of C."""
    at = _flat_slots(idx) * acc.shape[2] + channel
    return acc.reshape((-1, acc.shape[-1])).at[at].add(values).reshape(acc.shape)


def _slot_mix(w: jax.Array, sel: jax.Array) -> jax.Array:
    """sum_s w[:, s] sel[:, s]: (R, S), (R, S, W) -> (R, W)."""
    return sum(w[:, s:s + 1] * sel[:, s] for s in range(w.shape[1]))


@jax.custom_vjp
def module_chain(layers, m1, w, blocked, idx):
    """The routed residual chain: the output node's input x_out (R, W).

    layers: n-1 dense layers {"kernel": (W, W), "bias": (W,)} (modules 2..n); m1 (R, W): module 1's
    output; w (R, n, S) slot weights of every node (node r < n-1 feeds module r+2, node n-1 the
    output; 0 for an empty slot); idx (R, n, S) int source numbers (module j+1 = source j, -1 for
    an empty slot); blocked (R, n, S) float 0/1 rsg slots, or None (no rsg).

    Forward per node: x_r = sum_s w_s m_{idx_s}, u = ReLU(W x_r + b), m = x_r + u. The gradient
    is that of mixing mhat_j = m_j - blocked (u_j - sg(u_j)) instead of m_j: a blocked slot
    trains only the shortcut x_j of m_j = x_j + u_j (module 1, which has no shortcut: nothing).
    Written as one custom VJP so that every node reads only its S selected sources (a gather from
    the stacked module outputs) and the backward adds each node's gradient to its S sources only
    (a scatter-add), where autodiff of a dense mix reads or writes every earlier module at every
    node (n^2 passes over (R, W) arrays: most of D2R's cost beyond its FLOPs on a CPU).
    """
    return _chain_fwd(layers, m1, w, blocked, idx)[0]


def _chain_fwd(layers, m1, w, blocked, idx):
    rows, width = m1.shape
    n = len(layers) + 1
    src = jnp.maximum(idx, 0)
    # module outputs stacked source-major, (n, R, W): each module's rows are one contiguous block
    mods = jnp.zeros((n, rows, width), m1.dtype).at[0].set(m1)
    parts, inputs = [m1], []               # u_j (m_1 = u_1) and x_j of modules 2..n
    for r, layer in enumerate(layers):
        x = _slot_mix(w[:, r], _gather_slots(mods, src[:, r]))
        u = jax.nn.relu(dense(layer, x))
        mods = mods.at[r + 1].set(x + u)
        parts.append(u)
        inputs.append(x)
    out = _slot_mix(w[:, n - 1], _gather_slots(mods, src[:, n - 1]))
    return out, (layers, mods, parts, inputs, w, blocked, src, idx >= 0)


def _chain_bwd(res, g):
    layers, mods, parts, inputs, w, blocked, src, valid = res
    n, rows, width = mods.shape
    ones = jnp.ones((width,), g.dtype)
    # acc[j, :, 0]: sum over m_j's consumer slots of w g, rsg-blocked slots left out (reaches m_j
    # whole); acc[j, :, 1]: the blocked slots' w g (reaches only the shortcut x_j). A slot adds
    # to one channel only, so each node does one scatter-add of (R, S, W) values.
    channels = 1 if blocked is None else 2
    dw = [None] * n

    def weights(r, g):
        """Node r's weight gradient; its slots' (R, S) weights and accumulator channels."""
        sel = _gather_slots(mods, src[:, r])                                   # (R, S, W)
        dw[r] = jnp.where(valid[:, r], (sel * g[:, None, :]) @ ones, 0.0)     # matvec, not a
        # minor-axis sum. The scatter-add is made to depend on dw (+ 0 * dw): XLA recomputes g
        # from acc inside each consumer, and a consumer left to run after the in-place add
        # would need a copy of the whole accumulator first.
        wr = w[:, r] + 0.0 * jax.lax.stop_gradient(dw[r])
        return wr, (jnp.zeros_like(src[:, r]) if blocked is None
                    else blocked[:, r].astype(src.dtype))

    def node(r, g, acc):
        wr, channel = weights(r, g)
        return _add_at_slots(acc, src[:, r], channel, wr[..., None] * g[:, None, :])

    # the output node writes acc whole (a dense start instead of zeros and a scatter-add)
    wr, channel = weights(n - 1, g)                                            # (R, S)
    hit = ((src[:, n - 1] == jnp.arange(n)[:, None, None])[..., None]
           & (channel[..., None] == np.arange(channels)))                      # (n, R, S, C)
    start = sum(jnp.where(hit[:, :, s], wr[:, s, None], 0.0) for s in range(wr.shape[1]))
    acc = start[..., None] * g[:, None, :]                                     # (n, R, C, W)
    dlayers = [None] * (n - 1)
    for r in range(n - 2, -1, -1):                   # module r+2 = source r+1, fed by node r
        gm = acc[r + 1, :, 0]
        gpre = gm * (parts[r + 1] > 0)
        dlayers[r] = {"kernel": inputs[r].T @ gpre, "bias": jnp.sum(gpre, 0)}
        gx = gm + gpre @ layers[r]["kernel"].T
        if blocked is not None:
            gx = gx + acc[r + 1, :, 1]
        acc = node(r, gx, acc)
    return dlayers, acc[0, :, 0], jnp.stack(dw, axis=1), None, None


module_chain.defvjp(_chain_fwd, _chain_bwd)


class D2R(nn.Module):
    """A D2R network: obs (G, N, in_dim), one-hot (G, N, T) -> (out (G, N, out_dim), aux).

    Parameters: ``state`` (MLP in_dim -> D -> D), ``task`` (T -> D), ``gate`` (MLP D -> gate ->
    gate -> #candidates), ``first`` (module 1, D -> W), ``module_2`` .. ``module_n``
    (``{"kernel": (W, W), "bias": (W,)}``, run by :func:`module_chain`), ``head`` (W -> out_dim).
    ``stores_routes``: the actor (returns routes to store while acting and reuses the stored
    ones in 'update' mode when resrouting is on/off); False for critics. ``level``/
    ``level_width``: the routing type (see :func:`candidate_mask`).
    """

    in_dim: int
    num_tasks: int
    out_dim: int
    modules: int
    width: int
    gate: int
    embed: int
    k: int
    routing: str
    resrouting: str
    balance: bool
    stores_routes: bool
    level: str = "module"
    level_width: int = 4

    def _k_sel(self) -> int:
        n = self.modules
        return n if self.routing == "soft" else 1 if self.routing == "hard" else min(self.k, n)

    def _reuse(self) -> bool:
        return (self.stores_routes and self.resrouting in ("on", "off")
                and self.routing != "soft")

    def _choose_routes(self, logits, task_onehot, rng, extra, cand):
        """(..., n, k) source indices for this call, or None for soft routing."""
        mode = extra["mode"]
        if self.routing == "soft":
            return None
        if self._reuse() and mode == "update":
            if "routes" not in extra.get("stored", {}):
                raise KeyError("D2R actor in 'update' mode needs extra['stored']['routes'] (the "
                               "behaviour routes kept in the replay buffer)")
            return extra["stored"]["routes"].astype(jnp.int32)
        explore = mode in ("act", "update") and rng is not None and self.routing != "topk"
        if explore:
            tau = route_temperature(extra.get("log_alpha"), task_onehot, self.balance)
            return sample_routes(rng, jax.lax.stop_gradient(logits), tau, self._k_sel(), cand)
        return select_sources(logits, self._k_sel(), cand)

    def _slot_table(self, logits, indices, cand):
        """Every node's slot weights (..., n, S), rsg-blocked slots (..., n, S) bool or None
        and slot sources (..., n, S) (-1: empty) from the (..., n, n) logits."""
        n = self.modules
        if indices is None:
            # soft routing: one slot per candidate (node r's candidates, then -1 = empty)
            soft_sources = np.full((n, int(cand.sum(1).max())), -1, np.int32)
            for r, row in enumerate(cand):
                soft_sources[r, :row.sum()] = np.flatnonzero(row)
            idx = jnp.broadcast_to(soft_sources, logits.shape[:-2] + soft_sources.shape)
        else:
            idx = indices
        z_sel = jnp.take_along_axis(logits, jnp.maximum(idx, 0), axis=-1)      # (..., n, S)
        p_sel = jnp.exp(z_sel - jax.nn.logsumexp(logits, axis=-1, keepdims=True))  # full softmax
        if self.routing == "soft":
            w = jnp.where(idx >= 0, p_sel, 0.0)
        elif self.routing == "hard":
            w = p_sel
        else:       # MaskSoftmax: softmax over the selected logits only
            w = jax.nn.softmax(jnp.where(idx >= 0, z_sel, NEG), axis=-1)
        if self.resrouting != "on":
            return w, None, idx
        sigma = 1.0 / (cand.sum(1) + 1.0)  # rsg threshold; module level: 1/i for module i = r+2
        return w, (jax.lax.stop_gradient(p_sel) < sigma[:, None]) & (idx >= 0), idx

    @nn.compact
    def __call__(self, obs, task_onehot, rng, extra):
        n = self.modules
        cand = candidate_mask(n, self.level, self.level_width)
        num_logits = int(cand.sum())
        f = MLP((self.in_dim, self.embed, self.embed), name="state")(obs)      # (G, N, D)
        h = torch_dense(self.num_tasks, self.embed, name="task")(task_onehot)  # (G, N, D)
        flat = MLP((self.embed, self.gate, self.gate, num_logits), name="gate")(f * h)
        logits = logits_to_rows(flat, n, cand)                                  # (G, N, n, n)
        indices = self._choose_routes(logits, task_onehot, rng, extra, cand)
        mask = (jnp.broadcast_to(jnp.asarray(cand), logits.shape)
                if indices is None else routes_mask(indices, n) > 0)            # (G, N, n, n)

        w, blocked, idx = self._slot_table(logits, indices, cand)              # (G, N, n, S)
        lead = f.shape[:-1]
        rows = lambda v, dtype: v.reshape((-1,) + v.shape[-2:]).astype(dtype)  # noqa: E731
        m1 = jax.nn.relu(torch_dense(self.embed, self.width, name="first")(jax.nn.relu(f)))
        layers = [LinearParams(self.width, self.width, name=f"module_{i}")()
                  for i in range(2, n + 1)]
        x_out = module_chain(layers, m1.reshape((-1, m1.shape[-1])),
                             rows(w, m1.dtype),
                             None if blocked is None else rows(blocked, m1.dtype),
                             rows(idx, jnp.int32))
        out = torch_dense(self.width, self.out_dim, name="head")(x_out.reshape(lead + (-1,)))

        aux = {"routes": mask, "logits": logits}
        if extra["mode"] in ("act", "eval"):
            used = modules_used(mask)                                           # (G, N)
            aux["modules_used"] = used
            aux["stats"] = {"d2r_modules_used_sum": used.sum(-1).astype(jnp.float32),
                            "d2r_route_rows": jnp.full(used.shape[:-1], used.shape[-1],
                                                       jnp.float32)}
        if self._reuse() and extra["mode"] == "act":
            aux["store"] = {"routes": indices.astype(jnp.int8)}
        return out, aux


def make_d2r(in_dim: int, num_tasks: int, out_dim: int, *, modules: int, width: int, gate: int,
             embed: int, k: int, routing: str, resrouting: str, balance: bool,
             stores_routes: bool, level: str = "module", level_width: int = 4) -> Network:
    """A :class:`D2R` network (``level`` checked here, at build time)."""
    check_level(modules, level, level_width)
    return linen_network(D2R(in_dim, num_tasks, out_dim, modules, width, gate, embed, k, routing,
                             resrouting, balance, stores_routes, level, level_width),
                         in_dim, num_tasks)


def make_networks(obs_dim: int, act_dim: int, num_tasks: int, *, modules: int, width: int,
                  gate: int, embed: int, k: int, routing: str, resrouting: str, balance: bool,
                  level: str = "module", level_width: int = 4,
                  critic_out: int = 1) -> Networks:
    """D2R actor and critic; the actor stores its behaviour routes (n, k) int8 per transition
    when they are reused in the update (resrouting on/off, not soft routing)."""
    common = dict(modules=modules, width=width, gate=gate, embed=embed, k=k, routing=routing,
                  resrouting=resrouting, balance=balance, level=level, level_width=level_width)
    actor = make_d2r(obs_dim, num_tasks, 2 * act_dim, stores_routes=True, **common)
    critic = make_d2r(obs_dim + act_dim, num_tasks, critic_out, stores_routes=False,
                      **common)
    k_sel = 1 if routing == "hard" else min(k, modules)
    stores = resrouting in ("on", "off") and routing != "soft"
    store_spec = {"routes": ((modules, k_sel), jnp.int8)} if stores else {}
    return Networks(actor=actor, critic=critic, store_spec=store_spec)
