"""QMP: data for each task is collected by a Q-switch mixture of all task policies.

Zhang et al., "Efficient multi-task RL via selective behavior sharing" (QMP, 2024). For task i in
state s every task policy j proposes one sampled action a_j ~ pi_j(s); task i's critic scores
them, Q_i(s, a_j) (min of the twin critics), and the argmax policy's action is executed:

    pi_i^mix(s) = sum_j QS_i(s, pi_j) pi_j(s),   QS_i(s, pi_j) = 1{j = argmax_k Q_i(s, a_k)}

re-selected at every step. The mixture only gathers data: the transition is stored in task i's
ring (labelled i, whoever acted) and every task trains by plain SAC on its own data; evaluation
uses each task's own policy (the core's ``eval_action``). The whole choice is two batched network
calls inside the jitted collect step, no loop over tasks: all T policies on all T * E states
(T groups of T * E rows), then all T critics on the T x T candidates of their task's states.

``--qmp-with mhsac|sm|paco|d2r`` runs the mixture over a parameter-sharing network's T task
policies (the paper's QMP-Multihead); by default the T policies and critics are separate
networks (``mtrl_jax.nets.separate``), as in the paper's main experiments.

Options: ``qmp_gate`` qswitch | uniform (a uniformly random policy, the paper's QMP-Uniform
ablation) | own (no sharing); ``qmp_warmup`` transitions during which each task uses its own
policy (paper: 0 works best). The selection counts ``(T, T)`` (row i = task whose data is
collected, column j = policy that acted) go to ``aux["stats"]["qmp_selection"]``, are summed per
chunk by the training loop and logged in ``metrics.jsonl``; :func:`selection_matrix` turns a run
folder into the paper's Figure 5 matrix and :func:`save_selection` writes ``qmp_selection.npy``.

Departures from the paper, and why:
- Network sizes: the paper uses 2 x 256 tanh layers for every separate policy and critic
  (Table 1). The activation follows the paper (``--qmp-activation tanh``); the widths are the
  run's ``hidden`` (config default), so that QMP is compared with the other methods at the same
  width and point-mt's small per-env size applies.
- Training schedule: the paper's garage SAC alternates collection phases and gradient phases
  (e.g. 500 env steps then 50 gradient steps per task, batch 256 per task, lr 1.5e-3 on
  Meta-World); here the shared multi-task SAC core runs (one update per vector-env step,
  stratified batch, per-task alpha), so only the behaviour policy differs from the baselines.
- While the core's uniform-random warm-up acts, nothing is counted in the selection matrix.
- With D2R, the stored behaviour routes (``aux["store"]``) are those of the policy that acted.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.agents.sac import SACHooks, task_onehots
from mtrl_jax.config import ConfigError
from mtrl_jax.run_folder import RunFolder

GATES = ("qswitch", "uniform", "own")
SELECTION_FILE = "qmp_selection.npy"


def candidate_actions(sac, sac_state, obs, key):
    """Every task policy's sampled action at every task's state.

    obs (T, E, d) -> actions (T_policy, T_task, E, A) and the actor's aux with leading
    (T_policy, T_task * E). One actor call: group j holds all T * E states under policy j.
    """
    T, E, d = obs.shape
    states = jnp.broadcast_to(obs.reshape(1, T * E, d), (T, T * E, d))
    action, _, aux = sac.sample_action(sac_state.actor, sac_state.shared, sac_state.log_alpha,
                                       states, task_onehots(T, T * E), key, "act")
    return action.reshape(T, T, E, -1), aux


def candidate_scores(sac, sac_state, obs, candidates):
    """Q_i(s_i, a_j): task i's min twin Q of policy j's action at task i's state.

    obs (T, E, d), candidates (T_policy, T_task, E, A) -> scores (T_task, T_policy, E).
    One critic call: group i holds task i's E states, each paired with the T candidates.
    """
    T, E, d = obs.shape
    states = jnp.broadcast_to(obs[:, None], (T, T, E, d)).reshape(T, T * E, d)
    actions = jnp.swapaxes(candidates, 0, 1).reshape(T, T * E, -1)
    q = sac.q_values(sac_state, states, actions, task_onehots(T, T * E))
    return q.reshape(T, T, E)


def choose_policy(scores, gate: str, key):
    """(T_task, T_policy, E) scores -> (T_task, E) index of the acting policy."""
    T, _, E = scores.shape
    if gate == "qswitch":
        return jnp.argmax(scores, axis=1)
    if gate == "uniform":
        return jax.random.randint(key, (T, E), 0, T)
    if gate == "own":
        return jnp.broadcast_to(jnp.arange(T)[:, None], (T, E))
    raise ConfigError(f"unknown --qmp-gate {gate!r}: choose one of {', '.join(GATES)}")


def mixture_step(sac, sac_state, obs, key, gate: str = "qswitch", own_only=False):
    """The Q-switch mixture at states obs (T, E, d).

    Returns action (T, E, A) (row i: executed for task i), choice (T, E) (the acting policy),
    candidates (T_policy, T_task, E, A), scores (T_task, T_policy, E) and the acting policies'
    per-transition ``aux["store"]`` fields (leading (T, E)). ``own_only`` (a traced bool) forces
    choice = i.
    """
    T, E, _ = obs.shape
    k_act, k_gate = jax.random.split(key)
    candidates, aux = candidate_actions(sac, sac_state, obs, k_act)
    scores = candidate_scores(sac, sac_state, obs, candidates)
    choice = choose_policy(scores, gate, k_gate)
    choice = jnp.where(own_only, jnp.arange(T)[:, None], choice)
    by_task = jnp.swapaxes(candidates, 0, 1)                                # (T_task, T_pol, E, A)
    action = jnp.take_along_axis(by_task, choice[:, None, :, None], axis=1)[:, 0]
    # a stored field (T_pol, T * E, ...) -> the acting policy's (T_task, E, ...)
    pick = lambda x: jnp.take_along_axis(  # noqa: E731
        jnp.swapaxes(x.reshape(T, T, E, *x.shape[2:]), 0, 1),
        choice.reshape(T, 1, E, *([1] * (x.ndim - 2))), axis=1)[:, 0]
    return action, choice, candidates, scores, jax.tree.map(pick, aux.get("store", {}))


def make_mixture_collect(sac, gate: str = "qswitch", warmup: int = 0):
    """The collect function of the training loop (``mtrl_jax.train``) for QMP; each task acts
    with its own policy for the first ``warmup`` transitions.

    collect(sac_state, obs (T, E, d), onehot (T, E, T), key, env_steps) -> (action (T, E, A),
    aux) with aux["stats"]["qmp_selection"] (T, T) counts and aux["store"] the acting policies'
    fields to keep in the replay buffer. (The loop zeroes the counts while its random warm-up
    acts instead.)
    """
    T = sac.num_tasks
    if gate not in GATES:
        raise ConfigError(f"unknown --qmp-gate {gate!r}: choose one of {', '.join(GATES)}")

    def collect(sac_state, obs, onehot, key, env_steps):
        action, choice, _, _, stored = mixture_step(sac, sac_state, obs, key, gate,
                                                    own_only=env_steps < warmup)
        counts = jax.nn.one_hot(choice, T).sum(axis=1)                 # (T_task, T_policy)
        return action, {"store": stored, "stats": {"qmp_selection": counts}}

    return collect


def selection_matrix(run_dir: str, seed: int | None = None, since: int = 0) -> np.ndarray:
    """(T, T) fraction of collected steps in which policy j acted for task i, over training.

    Sums the per-chunk counts logged in ``run_dir/metrics.jsonl`` (rows with env_steps >=
    ``since``; one seed or all). Each row sums to 1 (raises if nothing was logged).
    """
    total = None
    for row in RunFolder(run_dir).read_metrics():
        counts = row.get("collect", {}).get("qmp_selection")
        if counts is None or row["env_steps"] < since or (seed is not None
                                                          and row["seed"] != seed):
            continue
        total = np.asarray(counts, np.float64) + (0.0 if total is None else total)
    if total is None or np.any(total.sum(axis=1) == 0):
        raise ValueError(f"{run_dir}: metrics.jsonl holds no QMP selection counts for every task "
                         "(was the run trained with --algo qmp past its warm-up?)")
    return total / total.sum(axis=1, keepdims=True)


def save_selection(run_dir: str, **kwargs) -> np.ndarray:
    """Write ``run_dir/qmp_selection.npy`` (the matrix of :func:`selection_matrix`); return it."""
    matrix = selection_matrix(run_dir, **kwargs)
    np.save(os.path.join(run_dir, SELECTION_FILE), matrix)
    return matrix


def save_selection_at_run_end(run_dir: str) -> None:
    """The run's end hook: :func:`save_selection`, or a printed note (not an error: the run's
    own files are written) when the run logged no mixture selections, e.g. it ended in its
    warm-up."""
    try:
        save_selection(run_dir)
    except ValueError as err:
        print(f"qmp: no {SELECTION_FILE} written: {err}")


def make_qmp_hooks(gate: str = "qswitch", warmup: int = 0,
                   base: SACHooks = SACHooks()) -> SACHooks:
    """The mixture as the collect function and the selection matrix at the run's end, on top
    of the ``base`` hooks of the network QMP runs over (PaCo's, with ``--qmp-with paco``)."""
    if base.make_collect is not None:
        raise ConfigError("QMP over a method that has its own collection strategy")
    return base._replace(make_collect=lambda sac: make_mixture_collect(sac, gate, warmup),
                         on_run_end=save_selection_at_run_end)
