"""Analysis figures from a run folder: what the trained networks route, compose and select.

Every figure is a function ``figure(run_dir, out_path, ...) -> out_path`` writing one PNG:

- :func:`d2r_modules_figure`: D2R modules used per task (D2R paper, Fig. 8);
- :func:`d2r_tsne_figure`: t-SNE of D2R routing paths coloured by task (D2R paper, Fig. 6a);
- :func:`sm_routing_figure`: Soft Modularization routing probabilities per task (heatmaps);
- :func:`paco_w_figure`: PaCo's task vectors w in 2-D PCA (PaCo paper, Fig. 4);
- :func:`qmp_selection_figure`: QMP's selection matrix (QMP paper, Fig. 5).

Figures that need network outputs restore the run's latest checkpoint (orbax, without a target:
nested dicts and lists of arrays; device-env runs carry a leading seed axis), rebuild the
method from ``config.json`` and run the actor in ``"eval"`` mode (deterministic routes) on
observations visited by the trained policy's deterministic actions from ``env.reset`` (point-mt:
the pure-JAX env; Meta-World: the CPU env).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.agents.sac import network_extra, task_onehots
from mtrl_jax.config import DEVICE_ENVS, Config, ConfigError, resolve
from mtrl_jax.nets.base import Networks
from mtrl_jax.nets.policy import deterministic_action, split_gaussian
from mtrl_jax.run_folder import RunFolder

FIGURES = ("d2r-modules", "d2r-tsne", "sm-routing", "paco-w", "qmp-selection")


class RunNetworks(NamedTuple):
    """A run's config, env, networks and the trained parameters of one seed."""

    cfg: Config
    env: object
    networks: Networks
    actor: dict
    shared: dict
    log_alpha: jax.Array


def load_config(run_dir: str) -> Config:
    """The Config saved in ``run_dir/config.json``, resolved again (a run saved before a
    default was resolved gets it now)."""
    return resolve(RunFolder(run_dir).read_config())


def network_algo(cfg: Config) -> str:
    """The architecture behind the actor: ``cfg.qmp_with`` for QMP over a shared network."""
    if cfg.algo == "qmp":
        return cfg.qmp_with or "separate"
    return cfg.algo


def restore_latest(run_dir: str) -> dict:
    """The latest checkpoint as nested dicts (``state['sac']['actor']`` etc.)."""
    return RunFolder(run_dir).read_checkpoint()


def seed_slice(tree, cfg: Config, on_device: bool, seed: int | None):
    """Select one seed from a device-env run's leading seed axis (host runs have none)."""
    if not on_device:
        return tree
    seeds = list(cfg.seeds or (cfg.seed,))
    if seed is not None and seed not in seeds:
        raise ConfigError(f"seed {seed} is not in this run's seeds {seeds}")
    index = 0 if seed is None else seeds.index(seed)
    return jax.tree.map(lambda x: jnp.asarray(x)[index], tree)


def load_networks(run_dir: str, seed: int | None = None) -> RunNetworks:
    """Rebuild the run's env and method and restore one seed's actor, shared params and alphas."""
    from mtrl_jax.envs import make_env
    from mtrl_jax.methods import build_method
    cfg = load_config(run_dir)
    env = make_env(cfg, seed=(cfg.seeds or (cfg.seed,))[0])
    networks = build_method(cfg, env.spec).networks
    sac = restore_latest(run_dir)["sac"]
    picked = seed_slice({"actor": sac["actor"], "shared": sac.get("shared", {}) or {},
                         "log_alpha": sac["log_alpha"]}, cfg, env.on_device, seed)
    picked = jax.tree.map(jnp.asarray, picked)
    return RunNetworks(cfg, env, networks, picked["actor"], picked["shared"],
                       picked["log_alpha"])


def actor_outputs(nets: RunNetworks, obs: jax.Array, mode: str = "eval"):
    """Run the actor on task-grouped obs (T, n, d): returns (out (T, n, 2A), aux)."""
    T, n, _ = obs.shape
    onehot = task_onehots(T, n)
    extra = network_extra(nets.networks, mode, nets.shared, nets.log_alpha, onehot)
    return nets.networks.actor.apply(nets.actor, jnp.asarray(obs, jnp.float32), onehot, None,
                                     extra)


def greedy_action(nets: RunNetworks, obs: jax.Array) -> jax.Array:
    """The evaluation action tanh(mean) at task-grouped obs (T, E, d)."""
    out, _ = actor_outputs(nets, obs)
    mean, _ = split_gaussian(out, nets.cfg.log_std_min, nets.cfg.log_std_max)
    return deterministic_action(mean)


def visited_observations(nets: RunNetworks, steps: int = 50, key: int = 0) -> np.ndarray:
    """(T, steps * E, d) observations visited by the greedy policy from ``env.reset``."""
    env = nets.env
    act = jax.jit(lambda o: greedy_action(nets, o))
    if env.on_device:
        step = jax.jit(env.step)
        k = jax.random.PRNGKey(key)
        state, obs = env.reset(k)
    else:
        step = env.step
        state, obs = env.reset()
    seen = []
    for t in range(steps):
        seen.append(np.asarray(obs))
        k_step = jax.random.fold_in(jax.random.PRNGKey(key), t)
        state, out = step(state, act(jnp.asarray(obs)) if env.on_device
                          else np.asarray(act(jnp.asarray(obs))), k_step)
        obs = out.obs
    stacked = np.stack(seen, axis=1)                       # (T, steps, E, d)
    T, S, E, d = stacked.shape
    return stacked.reshape(T, S * E, d)


def require_algo(nets: RunNetworks, algo: str, figure: str) -> None:
    """Refuse a figure whose network the run does not have."""
    if network_algo(nets.cfg) != algo:
        raise ConfigError(f"figure {figure} needs a {algo} run (or qmp --qmp-with {algo}); this "
                          f"run is --algo {nets.cfg.algo}")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, out_path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return out_path


# --- D2R -------------------------------------------------------------------------------------


def d2r_modules_per_task(nets: RunNetworks, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over observations of the modules used per task (eval routes): (T,), (T,)."""
    require_algo(nets, "d2r", "d2r-modules")
    _, aux = actor_outputs(nets, obs)
    used = np.asarray(aux["modules_used"], np.float64)                  # (T, n_obs)
    return used.mean(axis=1), used.std(axis=1)


def d2r_modules_figure(run_dir: str, out_path: str, steps: int = 50, seed: int | None = None):
    """Bar chart of the modules used per task out of n (D2R paper, Fig. 8)."""
    nets = load_networks(run_dir, seed)
    mean, std = d2r_modules_per_task(nets, visited_observations(nets, steps))
    n = nets.cfg.d2r_modules
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(mean) + 1), 3.2))
    ax.bar(range(len(mean)), mean, yerr=std, color="tab:blue", capsize=3)
    ax.axhline(n, color="grey", ls="--", lw=1, label=f"all {n} modules")
    ax.set_xticks(range(len(mean)), nets.env.task_names, rotation=45, ha="right")
    ax.set_ylabel("modules used")
    ax.set_ylim(0, n + 1)
    ax.set_title("D2R: modules used per task")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out_path)


def d2r_route_features(nets: RunNetworks, obs: np.ndarray) -> np.ndarray:
    """(T, n_obs, n * n) routing paths: each node's MaskSoftmax weights over its selected
    sources (zero off the route), flattened."""
    require_algo(nets, "d2r", "d2r-tsne")
    _, aux = actor_outputs(nets, obs)
    routes, logits = np.asarray(aux["routes"]) > 0, np.asarray(aux["logits"], np.float64)
    masked = np.where(routes, logits, -np.inf)
    masked = masked - masked.max(axis=-1, keepdims=True)
    weights = np.where(routes, np.exp(masked), 0.0)
    weights /= np.maximum(weights.sum(axis=-1, keepdims=True), 1e-12)
    return weights.reshape(*weights.shape[:2], -1)


def tsne_embedding(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, F) -> (N, 2) t-SNE (scikit-learn), perplexity clipped to the sample count."""
    from sklearn.manifold import TSNE
    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca",
                random_state=seed).fit_transform(features)


def d2r_tsne_figure(run_dir: str, out_path: str, steps: int = 50, seed: int | None = None):
    """Scatter of the t-SNE of routing paths, one colour per task (D2R paper, Fig. 6a)."""
    nets = load_networks(run_dir, seed)
    feats = d2r_route_features(nets, visited_observations(nets, steps))
    T, N, F = feats.shape
    jitter = np.random.default_rng(0).normal(0, 1e-6, (T * N, F))   # identical paths: separable
    points = tsne_embedding(feats.reshape(T * N, F) + jitter).reshape(T, N, 2)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    cmap = plt.get_cmap("tab10" if T <= 10 else "tab20")
    for t in range(T):
        ax.scatter(points[t, :, 0], points[t, :, 1], s=8, color=cmap(t % cmap.N),
                   label=nets.env.task_names[t])
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title("D2R: t-SNE of routing paths")
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(fig, out_path)


# --- Soft Modularization ---------------------------------------------------------------------


def sm_mean_routing(nets: RunNetworks, obs: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Per task, the mean over observations of each routing matrix and of the output weights:
    ([(T, M, M)] * (L - 1), (T, M))."""
    require_algo(nets, "sm", "sm-routing")
    _, aux = actor_outputs(nets, obs)
    layers = [np.asarray(p).mean(axis=1) for p in aux["routing"]]
    return layers, np.asarray(aux["output_weights"]).mean(axis=1)


def sm_routing_figure(run_dir: str, out_path: str, steps: int = 50, seed: int | None = None):
    """One row per task: heatmaps of p^1 .. p^{L-1} (target module x source module) and the
    output weights, averaged over visited states."""
    nets = load_networks(run_dir, seed)
    layers, out_w = sm_mean_routing(nets, visited_observations(nets, steps))
    T, cols = out_w.shape[0], len(layers) + 1
    plt = _pyplot()
    fig, axes = plt.subplots(T, cols, figsize=(1.9 * cols + 1, 1.7 * T + 0.5), squeeze=False)
    for t in range(T):
        panels = [p[t] for p in layers] + [out_w[t][None, :]]
        for c, (ax, mat) in enumerate(zip(axes[t], panels)):
            image = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
            ax.set_xticks([]), ax.set_yticks([])
            if t == 0:
                ax.set_title(f"p{c + 1}" if c < len(layers) else "output", fontsize=9)
            if c == 0:
                ax.set_ylabel(nets.env.task_names[t], fontsize=8, rotation=0, ha="right")
    fig.colorbar(image, ax=axes, shrink=0.6, label="routing probability")
    fig.suptitle("Soft Modularization routing per task (rows: target, cols: source)", fontsize=10)
    return _save(fig, out_path)


# --- PaCo --------------------------------------------------------------------------------------


def paco_w(run_dir: str, seed: int | None = None) -> np.ndarray:
    """(T, K) PaCo's task vectors from the latest checkpoint (no env is built)."""
    cfg = load_config(run_dir)
    if network_algo(cfg) != "paco":
        raise ConfigError(f"figure paco-w needs a paco run; this run is --algo {cfg.algo}")
    shared = restore_latest(run_dir)["sac"]["shared"]
    on_device = cfg.env in DEVICE_ENVS
    return np.asarray(seed_slice(shared, cfg, on_device, seed)["params"]["w"], np.float64)


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) -> (N, 2) projection on the first two principal components (scikit-learn) and
    their explained variance ratios; a 1-D input gets a zero second axis."""
    from sklearn.decomposition import PCA
    comps = min(2, x.shape[1], x.shape[0])
    pca = PCA(n_components=comps).fit(x)
    points, ratio = pca.transform(x), pca.explained_variance_ratio_
    if comps < 2:
        points = np.pad(points, ((0, 0), (0, 2 - comps)))
        ratio = np.pad(ratio, (0, 2 - comps))
    return points, ratio


def task_names_of(run_dir: str, num_tasks: int) -> list[str]:
    """The task names the run logged, else task0..; no env is built."""
    names = RunFolder(run_dir).task_names()
    if names and len(names) == num_tasks:
        return names
    return [f"task{i}" for i in range(num_tasks)]


def paco_w_figure(run_dir: str, out_path: str, seed: int | None = None):
    """Scatter of each task's w in 2-D PCA, labelled with the task names (PaCo paper, Fig. 4)."""
    w = paco_w(run_dir, seed)
    points, ratio = pca_2d(w)
    names = task_names_of(run_dir, len(w))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.scatter(points[:, 0], points[:, 1], s=40, c=range(len(w)), cmap="tab10")
    for (x, y), name in zip(points, names):
        ax.annotate(name, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"PC 1 ({100 * ratio[0]:.0f}%)")
    ax.set_ylabel(f"PC 2 ({100 * ratio[1]:.0f}%)")
    ax.set_title(f"PaCo: task vectors w (K = {w.shape[1]}) in 2-D PCA")
    return _save(fig, out_path)


# --- QMP -------------------------------------------------------------------------------------


def qmp_selection_figure(run_dir: str, out_path: str, seed: int | None = None):
    """Heatmap of the fraction of steps policy j acted for task i (QMP paper, Fig. 5)."""
    from mtrl_jax.agents.qmp import selection_matrix
    matrix = selection_matrix(run_dir, seed=seed)
    names = task_names_of(run_dir, len(matrix))
    plt = _pyplot()
    T = len(matrix)
    fig, ax = plt.subplots(figsize=(0.55 * T + 2.5, 0.5 * T + 1.8))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
    for i in range(T):
        for j in range(T):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > 0.5 else "black")
    ax.set_xticks(range(T), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(T), names, fontsize=8)
    ax.set_xlabel("policy that acted")
    ax.set_ylabel("task whose data was collected")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title("QMP selection matrix")
    return _save(fig, out_path)


FIGURE_FUNCTIONS = {
    "d2r-modules": d2r_modules_figure,
    "d2r-tsne": d2r_tsne_figure,
    "sm-routing": sm_routing_figure,
    "paco-w": paco_w_figure,
    "qmp-selection": qmp_selection_figure,
}


def figures_for(cfg: Config) -> list[str]:
    """The figures that apply to a run of this config."""
    arch = network_algo(cfg)
    names = {"d2r": ["d2r-modules", "d2r-tsne"], "sm": ["sm-routing"],
             "paco": ["paco-w"]}.get(arch, [])
    return names + (["qmp-selection"] if cfg.algo == "qmp" else [])


def make_figure(name: str, run_dir: str, out_path: str | None = None, **kwargs) -> str:
    """Write figure ``name`` of ``run_dir`` (default ``run_dir/figures/<name>.png``)."""
    if name not in FIGURE_FUNCTIONS:
        raise ConfigError(f"unknown figure {name!r}: choose one of {', '.join(FIGURES)}")
    import inspect
    func = FIGURE_FUNCTIONS[name]
    accepted = inspect.signature(func).parameters
    out_path = out_path or os.path.join(run_dir, "figures", f"{name}.png")
    return func(run_dir, out_path, **{k: v for k, v in kwargs.items() if k in accepted})
