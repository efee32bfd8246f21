"""Aggregate run folders into per-method, per-task success statistics, a markdown report and plots.

Reads what every run writes (``config.json`` and ``eval.jsonl``: per-seed, per-task evaluation
success at each evaluation step). Runs whose configs differ only in seeds and bookkeeping are one
*method*; its label is the algo plus the fields that differ between methods (``mtsac lr=0.001``).

Statistics across seeds (``scores`` arrays are ``(runs, tasks)``, one row per seed):

* final success: the last evaluation (at ``total_steps``); over training: the mean over all
  evaluations (an area under the curve) and the curve itself;
* mean and std (of the per-seed task mean), and the IQM (25 % trimmed mean over runs x tasks);
* 95 % stratified-bootstrap confidence intervals from ``rliable`` (percentile method, runs
  resampled within each task). rliable 1.2.0 draws its resamples from numpy's global generator,
  so :func:`interval_estimates` seeds it (and restores it) to make every report reproducible.

A folder with missing or partial metrics (no config.json, no or truncated eval.jsonl, a run that
stopped before its final evaluation, a failed sweep point) is listed as skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

import numpy as np

from mtrl_jax.config import NON_METHOD_FIELDS
from mtrl_jax.run_folder import EVALS, PartialFile, RunFolder, is_run_folder

# ------------------------------------------------------------------------------------------------
# Reading run folders
# ------------------------------------------------------------------------------------------------

@dataclass
class Run:
    """One run folder's evaluations: ``success[s, t, k]`` for seed s, task t, step k."""

    run_dir: str
    config: dict
    seeds: list[int]
    task_names: list[str]
    steps: np.ndarray
    success: np.ndarray


class SkippedRun(Exception):
    """A folder that cannot be reported; the message says why."""


def find_run_dirs(paths: list[str]) -> list[str]:
    """Run folders under ``paths``: a folder holding a run's files is a run; otherwise its
    sub-folders are looked at (a sweep folder). Sorted, each once."""
    found = []
    for path in paths:
        if not os.path.isdir(path) or is_run_folder(path):
            found.append(path)
            continue
        subs = [os.path.join(path, d) for d in sorted(os.listdir(path))
                if os.path.isdir(os.path.join(path, d))]
        runs = [d for d in subs if is_run_folder(d)]
        found.extend(runs or [path])
    return sorted(dict.fromkeys(os.path.normpath(p) for p in found))


def load_run(run_dir: str) -> Run:
    """Read one run folder; raises SkippedRun when its metrics are missing or partial."""
    if not os.path.isdir(run_dir):
        raise SkippedRun("not a folder")
    folder = RunFolder(run_dir)
    try:
        failed = folder.read_failed()
        if failed is not None:
            raise SkippedRun(f"failed: {failed.get('error', 'no reason recorded')}")
        if not folder.holds_run():
            raise SkippedRun("no config.json (not a run folder, or the run never started)")
        config = folder.read_config_dict()
        if not os.path.exists(folder.file(EVALS)):
            raise SkippedRun("no eval.jsonl (the run has not evaluated yet)")
        rows = folder.read_evals()
    except PartialFile as err:
        raise SkippedRun(str(err)) from None
    if not rows:
        raise SkippedRun("eval.jsonl is empty (the run has not evaluated yet)")
    # A finished run ends at its summary's step (an early stop ends before total_steps), a run
    # stopped from outside at the step its stopped.json names.
    return runs_from_rows(run_dir, config, rows, folder.end_step())


def runs_from_rows(run_dir: str, config: dict, rows: list[dict], end: int | None = None) -> Run:
    """Arrange eval.jsonl rows as ``(seeds, tasks, steps)``; checks completeness: the last
    evaluation must be at ``end`` (a finished run's summary, e.g. an early stop), else at
    ``total_steps``."""
    seeds = list(config.get("seeds") or [config.get("seed", 0)])
    task_names = list(rows[0]["eval_success_per_task"])
    per_seed: dict[int, dict[int, list[float]]] = {s: {} for s in seeds}
    for r in rows:
        if r.get("seed") not in per_seed or "eval_success_per_task" not in r:
            raise SkippedRun(f"eval.jsonl has a row for seed {r.get('seed')} without per-task "
                             "success or outside the config's seeds")
        if list(r["eval_success_per_task"]) != task_names:
            raise SkippedRun("eval.jsonl rows name different tasks")
        per_seed[r["seed"]][int(r["env_steps"])] = [float(v) for v in
                                                    r["eval_success_per_task"].values()]
    total = config.get("total_steps") if end is None else end
    for seed, by_step in per_seed.items():
        last = max(by_step, default=None)
        if last is None or (total is not None and last < total):
            raise SkippedRun(f"seed {seed}: last evaluation at {last} of {total} env steps "
                             "(partial run)")
    steps = sorted(set.intersection(*(set(b) for b in per_seed.values())))
    success = np.array([[per_seed[s][k] for k in steps] for s in seeds])   # (S, K, T)
    return Run(run_dir, config, seeds, task_names, np.array(steps), success.transpose(0, 2, 1))


def load_runs(paths: list[str]) -> tuple[list[Run], list[tuple[str, str]]]:
    """(runs, skipped [(folder, reason)]) for every run folder under ``paths``."""
    runs, skipped = [], []
    for d in find_run_dirs(paths):
        try:
            runs.append(load_run(d))
        except (SkippedRun, OSError, KeyError, TypeError, ValueError) as err:
            skipped.append((d, str(err) or type(err).__name__))
    return runs, skipped


# ------------------------------------------------------------------------------------------------
# Methods
# ------------------------------------------------------------------------------------------------

@dataclass
class MethodCurves:
    """The seeds of one configuration, pooled over its run folders."""

    label: str
    runs: list[Run]
    task_names: list[str]
    steps: np.ndarray          # (K,) evaluation steps common to every seed
    curves: np.ndarray         # (N, T, K) success over training, one row per seed

    @property
    def final(self) -> np.ndarray:
        """(N, T) success at the last evaluation."""
        return self.curves[:, :, -1]

    @property
    def over_training(self) -> np.ndarray:
        """(N, T) success averaged over all evaluations (area under the curve)."""
        return self.curves.mean(axis=2)

    @property
    def seeds(self) -> list[int]:
        return [s for r in self.runs for s in r.seeds]


def method_key(config: dict) -> tuple:
    """What distinguishes methods: the config without seeds and bookkeeping."""
    return tuple(sorted((k, json.dumps(v)) for k, v in config.items()
                        if k not in NON_METHOD_FIELDS))


def method_labels(configs: list[dict]) -> list[str]:
    """``algo`` plus ``field=value`` for every field that differs between the configs of that
    algo (methods of different algos differ in their presets' fields: the algo names them)."""
    keys = sorted({k for c in configs for k in c} - set(NON_METHOD_FIELDS) - {"algo"})
    labels = []
    for c in configs:
        same = [o for o in configs if o.get("algo") == c.get("algo")]
        differing = [k for k in keys if len({json.dumps(o.get(k)) for o in same}) > 1]
        extra = " ".join(f"{k}={_short(c.get(k))}" for k in differing)
        labels.append(f"{c.get('algo', '?')} {extra}".strip())
    return labels


def _short(value) -> str:
    """A config value written compactly: tuples/lists as 64x64."""
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    return str(value)


def group_methods(runs: list[Run], skipped: list[tuple[str, str]]) -> list[MethodCurves]:
    """Pool runs with the same method key; seeds seen twice and mismatched tasks are skipped."""
    groups: dict[tuple, list[Run]] = {}
    for r in runs:
        groups.setdefault(method_key(r.config), []).append(r)
    keys = list(groups)
    labels = method_labels([groups[k][0].config for k in keys])
    methods = []
    for key, label in zip(keys, labels):
        kept, seen = [], set()
        for r in groups[key]:
            if r.task_names != groups[key][0].task_names:
                skipped.append((r.run_dir, f"tasks {r.task_names} differ from the other runs "
                                           f"of {label}"))
            elif seen & set(r.seeds):
                skipped.append((r.run_dir, f"seeds {sorted(seen & set(r.seeds))} of {label} "
                                           "already come from another run folder"))
            else:
                kept.append(r)
                seen |= set(r.seeds)
        steps = sorted(set.intersection(*(set(r.steps.tolist()) for r in kept)))
        curves = np.concatenate([r.success[:, :, np.searchsorted(r.steps, steps)]
                                 for r in kept], axis=0)
        methods.append(MethodCurves(label, kept, kept[0].task_names, np.array(steps), curves))
    return sorted(methods, key=lambda m: m.label)


# ------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------

def trimmed_mean(x: np.ndarray, axis: int | None = None, cut: float = 0.25) -> np.ndarray:
    """Mean of the values left after dropping ``int(cut * n)`` smallest and largest along
    ``axis`` (all values when None): scipy.stats.trim_mean's definition, by a plain sort, which
    is ~10x faster inside a bootstrap loop."""
    if axis is None:
        x, axis = np.ravel(x), 0
    x = np.sort(x, axis=axis)
    n = x.shape[axis]
    k = int(cut * n)
    return np.take(x, np.arange(k, n - k), axis=axis).mean(axis=axis)


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean over all runs x tasks (as rliable's aggregate_iqm)."""
    return float(trimmed_mean(scores))


def iqm_per_step(curves: np.ndarray) -> np.ndarray:
    """(K,) IQM over runs x tasks at each step of ``curves`` (N, T, K)."""
    return trimmed_mean(curves.reshape(-1, curves.shape[-1]), axis=0)


def mean_per_step(curves: np.ndarray) -> np.ndarray:
    """(K,) mean over runs x tasks at each step."""
    return curves.reshape(-1, curves.shape[-1]).mean(axis=0)


@contextlib.contextmanager
def numpy_seed(seed: int):
    """Seed numpy's global generator (which rliable 1.2.0 resamples with) and restore it."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def interval_estimates(scores: np.ndarray, func, reps: int = 2000, seed: int = 0,
                       size: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(point estimate, CI (2, ...)) of ``func`` on ``scores`` (N, T[, K]) by rliable's
    stratified bootstrap (percentile method), reproducible through ``seed``."""
    from rliable import library as rly
    with numpy_seed(seed):
        point, ci = rly.get_interval_estimates({"x": scores}, func, reps=reps,
                                               confidence_interval_size=size)
    return np.asarray(point["x"]), np.asarray(ci["x"])


def iqm_and_mean(scores: np.ndarray) -> np.ndarray:
    """[IQM, mean] over all runs x tasks of (N, T) scores."""
    return np.array([iqm(scores), scores.mean()])


def iqm_per_task(scores: np.ndarray) -> np.ndarray:
    """(T,) IQM across runs of each task's column of (N, T) scores."""
    return trimmed_mean(scores, axis=0)


def summarize_scores(scores: np.ndarray, task_names: list[str], reps: int, seed: int) -> dict:
    """Statistics of (N, T) scores: aggregate mean, std (across seeds of the task mean), IQM,
    each with a 95 % CI, and per task mean, std and IQM with its CI. The stratified bootstrap
    resamples runs independently within each task, so one resample serves every task's CI."""
    point, ci = interval_estimates(scores, iqm_and_mean, reps, seed)
    task_point, task_ci = interval_estimates(scores, iqm_per_task, reps, seed)
    std = lambda x: float(np.std(x, ddof=1)) if len(x) > 1 else 0.0  # noqa: E731
    per_task = {t: {"mean": float(scores[:, i].mean()), "std": std(scores[:, i]),
                    "iqm": float(task_point[i]), "iqm_ci": task_ci[:, i].tolist()}
                for i, t in enumerate(task_names)}
    return {"n": int(len(scores)), "mean": float(point[1]), "mean_ci": ci[:, 1].tolist(),
            "std": std(scores.mean(axis=1)), "iqm": float(point[0]), "iqm_ci": ci[:, 0].tolist(),
            "per_task": per_task}


def summarize_method(method: MethodCurves, reps: int = 2000, seed: int = 0) -> dict:
    """Aggregate and per-task statistics of the final and over-training success, and the
    IQM curve with its CI band."""
    out = {"label": method.label, "seeds": method.seeds, "tasks": method.task_names,
           "run_dirs": [r.run_dir for r in method.runs]}
    out["final"] = summarize_scores(method.final, method.task_names, reps, seed)
    out["over_training"] = summarize_scores(method.over_training, method.task_names, reps, seed)
    point, ci = interval_estimates(method.curves, iqm_per_step, reps, seed)
    out["curve"] = {"steps": method.steps.tolist(), "iqm": point.tolist(),
                    "iqm_ci": ci.tolist(), "mean": mean_per_step(method.curves).tolist()}
    return out


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------

def fmt_ci(stats: dict, key: str = "iqm") -> str:
    lo, hi = stats[f"{key}_ci"]
    return f"{stats[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def aggregate_table(summaries: list[dict]) -> str:
    """One row per method: seeds, mean ± std, IQM [95 % CI] final and over training."""
    lines = ["| method | seeds | final mean ± std | final IQM [95% CI] | final mean [95% CI] | "
             "over training IQM [95% CI] |", "|---|---|---|---|---|---|"]
    for s in summaries:
        f, o = s["final"], s["over_training"]
        lines.append(f"| {s['label']} | {f['n']} | {f['mean']:.3f} ± {f['std']:.3f} | "
                     f"{fmt_ci(f)} | {fmt_ci(f, 'mean')} | {fmt_ci(o)} |")
    return "\n".join(lines)


def per_task_table(summaries: list[dict], which: str = "final") -> str:
    """Rows: tasks; columns: methods; cells: mean ± std, IQM [95 % CI] across seeds."""
    tasks = list(dict.fromkeys(t for s in summaries for t in s["tasks"]))
    lines = ["| task | " + " | ".join(s["label"] for s in summaries) + " |",
             "|---" * (len(summaries) + 1) + "|"]
    for t in tasks:
        cells = []
        for s in summaries:
            st = s[which]["per_task"].get(t)
            cells.append("-" if st is None else
                         f"{st['mean']:.2f} ± {st['std']:.2f}, IQM {fmt_ci(st)}")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(summaries: list[dict], skipped: list[tuple[str, str]], reps: int,
             plots: list[str]) -> str:
    """The whole report."""
    parts = ["# Success report", "",
             f"Statistics across seeds; IQM = 25% trimmed mean over seeds x tasks; 95% CIs by "
             f"stratified bootstrap (rliable, percentile, {reps} resamples). Final = last "
             "evaluation; over training = mean over all evaluations.", "",
             "## Methods", "", aggregate_table(summaries), "",
             "## Per task, final success", "", per_task_table(summaries, "final"), "",
             "## Per task, success over training", "", per_task_table(summaries, "over_training"),
             ""]
    if plots:
        parts += ["## Plots", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})"
                                     for p in plots] + [""]
    if skipped:
        parts += ["## Skipped run folders", ""] + [f"- `{d}`: {why}" for d, why in skipped] + [""]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------
# Plots
# ------------------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(summaries: list[dict], path: str) -> str:
    """IQM success against env steps with the 95 % CI band, one line per method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for s in summaries:
        c = s["curve"]
        steps, lo, hi = np.array(c["steps"]), *np.array(c["iqm_ci"])
        line, = ax.plot(steps, c["iqm"], marker="o" if len(steps) < 3 else None,
                        label=s["label"])
        ax.fill_between(steps, lo, hi, alpha=0.25, color=line.get_color())
    ax.set(xlabel="environment steps", ylabel="success (IQM)", ylim=(-0.02, 1.02),
           title="Evaluation success over training (95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_per_task(summaries: list[dict], path: str) -> str:
    """Grouped bars: final IQM success per task and method with 95 % CI error bars."""
    plt = _pyplot()
    tasks = list(dict.fromkeys(t for s in summaries for t in s["tasks"]))
    width = 0.8 / max(len(summaries), 1)
    fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(tasks) * max(1, len(summaries) / 2)), 4.2))
    x = np.arange(len(tasks))
    for i, s in enumerate(summaries):
        per = s["final"]["per_task"]
        vals = np.array([per[t]["iqm"] if t in per else np.nan for t in tasks])
        ci = np.array([per[t]["iqm_ci"] if t in per else [np.nan, np.nan] for t in tasks]).T
        err = np.clip(np.stack([vals - ci[0], ci[1] - vals]), 0, None)
        ax.bar(x + (i - (len(summaries) - 1) / 2) * width, vals, width, yerr=err, capsize=2,
               label=s["label"])
    ax.set_xticks(x, tasks, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="final success (IQM)", ylim=(0, 1.05), title="Per-task success (95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_methods(summaries: list[dict], path: str) -> str:
    """Method comparison: IQM and mean of the final success as points with 95 % CI bars."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 0.6 * len(summaries) + 1.6), sharey=True)
    y = np.arange(len(summaries))
    for ax, key, title in ((axes[0], "iqm", "IQM"), (axes[1], "mean", "mean")):
        vals = np.array([s["final"][key] for s in summaries])
        ci = np.array([s["final"][f"{key}_ci"] for s in summaries]).T
        ax.errorbar(vals, y, xerr=np.clip(np.stack([vals - ci[0], ci[1] - vals]), 0, None),
                    fmt="o", capsize=4)
        ax.set(xlabel=f"final success ({title})", xlim=(-0.02, 1.02), title=title)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(y, [s["label"] for s in summaries])
    axes[0].invert_yaxis()
    fig.suptitle("Methods, final success (95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------------------

def make_report(paths: list[str], out_dir: str, reps: int = 2000, seed: int = 0,
                plots: bool = True) -> dict:
    """Read the run folders under ``paths`` and write ``report.md``, ``report.json`` and the
    PNGs to ``out_dir``. Returns {"methods": [...], "skipped": [...], "files": [...]}."""
    runs, skipped = load_runs(paths)
    methods = group_methods(runs, skipped) if runs else []
    summaries = [summarize_method(m, reps, seed) for m in methods]
    os.makedirs(out_dir, exist_ok=True)
    files = []
    if plots and summaries:
        files = [plot_curves(summaries, os.path.join(out_dir, "curves.png")),
                 plot_per_task(summaries, os.path.join(out_dir, "per_task.png")),
                 plot_methods(summaries, os.path.join(out_dir, "methods.png"))]
    text = markdown(summaries, skipped, reps, files)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(text)
    result = {"methods": summaries, "skipped": [{"run_dir": d, "reason": r} for d, r in skipped],
              "reps": reps, "seed": seed}
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(result, f, indent=2)
    files += [os.path.join(out_dir, "report.md"), os.path.join(out_dir, "report.json")]
    return {**result, "files": files, "markdown": text}
