"""MT1 SAC (``--algo mtsac`` on one task) on CPU Meta-World and on the MJX port, side by side:

    python experiments/metaworld_sac.py                          # 3 tasks x 2 backends x 2 seeds
    python experiments/metaworld_sac.py --algos ars brc --backends cpu --seeds 0 \
        --set ars.hidden=[256,256,256,256]                       # other methods beside MT-SAC
    python experiments/metaworld_sac.py --backends cpu           # one backend (two processes
    python experiments/metaworld_sac.py --backends mjx           #  can share the work)
    python experiments/metaworld_sac.py --finish                 # pair the stops, write tables
    python experiments/metaworld_sac.py --mt10                   # MT10 MT-SAC on CPU Meta-World

Both backends get the same hyperparameters, budget and evaluation (Meta-World+: 50 goals every
``--eval-every`` env steps). The port steps ``--mjx-envs`` envs per task and makes as many
updates per vector step, so updates per transition are 1 on both. Every run stops once two
evaluations in a row reach ``--stop-success`` on every seed; ``--finish`` then continues (from
its checkpoint) every run of a task that stopped before the latest stop of that task, so that
the CPU and port curves of a task end at the same step. Run folders are
``OUT/<task>-<backend>-s<seeds>``; a finished one (summary.json) is skipped, an interrupted
one resumes from its checkpoint. ``--algos`` runs other methods with their MT1 defaults
(``--set ALGO.FIELD=JSON`` overrides a Config field of one method's runs); their folders are
``OUT/<task>-<algo>-<backend>-s<seeds>``, and ``--finish`` reports every method of ``--algos``
on the same axes. ``--finish`` reads a run that is not in ``--out-dir`` from ``--results-dir``'s
run records (reported as recorded: it has no checkpoint to continue). ``--finish`` writes ``OUT/results.json`` and, with
``--results-dir``, copies each run's config and evaluations there and draws each task's curves
with ``mtrl_jax.report``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from mtrl_jax.run_folder import CONFIG, EVAL_TABLE, EVALS, STOPPED, SUMMARY, RunFolder


TASKS = ("reach-v3", "drawer-close-v3", "window-close-v3")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument("--algos", nargs="+", default=["mtsac"],
                   help="methods to run (each with its MT1 defaults and --set overrides)")
    p.add_argument("--set", nargs="+", default=[], metavar="ALGO.FIELD=JSON", dest="overrides",
                   help="a Config field of one method's runs, e.g. brc.critic_width=512")
    p.add_argument("--backends", nargs="+", default=["cpu", "mjx"], choices=("cpu", "mjx"))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--max-steps", type=int, default=300_000, help="env steps per run at most")
    p.add_argument("--eval-every", type=int, default=25_000)
    p.add_argument("--stop-success", type=float, default=0.95)
    p.add_argument("--hidden", nargs="+", type=int, default=[256, 256],
                   help="network widths of the MT-SAC runs (MT1 default: 400 400 400)")
    p.add_argument("--mjx-envs", type=int, default=5, help="port envs per task")
    p.add_argument("--out-dir", default="runs/metaworld_sac")
    p.add_argument("--finish", action="store_true")
    p.add_argument("--no-extend", action="store_true",
                   help="with --finish: report the runs as they ended (a run given a smaller "
                        "--max-steps is not continued to the task's latest stop)")
    p.add_argument("--results-dir", help="with --finish: where the tables, curves and run records go")
    p.add_argument("--mt10", action="store_true", help="MT10 MT-SAC on CPU Meta-World instead")
    p.add_argument("--mt10-steps", type=int, default=300_000)
    p.add_argument("--mt10-eval-every", type=int, default=100_000)
    return p


def run_name(task: str, backend: str, seeds, algo: str = "mtsac") -> str:
    method = "" if algo == "mtsac" else f"{algo}-"
    return f"{task}-{method}{backend}-s{'_'.join(map(str, seeds))}"


def parse_overrides(items, algos) -> dict:
    """{algo: {field: value}} from ``ALGO.FIELD=JSON`` items (lists become tuples)."""
    import dataclasses

    from mtrl_jax.config import Config
    fields = {f.name for f in dataclasses.fields(Config)}
    out: dict = {algo: {} for algo in algos}
    for item in items:
        key, sep, raw = item.partition("=")
        algo, dot, name = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"error: --set {item!r}: write ALGO.FIELD=JSON, e.g. brc.critic_width=512")
        if algo not in out:
            raise SystemExit(f"error: --set {item!r}: {algo!r} is not one of --algos {' '.join(algos)}")
        if name not in fields:
            raise SystemExit(f"error: --set {item!r}: Config has no field {name!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[algo][name] = tuple(value) if isinstance(value, list) else value
    return out


def run_configs(args) -> list:
    """One Config per run: CPU runs one seed each, the port all seeds in one vmapped program."""
    from mtrl_jax.config import Config, resolve
    budget = dict(total_steps=args.max_steps, buffer_size=args.max_steps,
                  eval_every=args.eval_every, eval_episodes=50, checkpoint_every=args.eval_every,
                  early_stop_success=args.stop_success, out_dir=args.out_dir)
    overrides = parse_overrides(args.overrides, args.algos)
    E = args.mjx_envs
    if args.eval_every % E:
        raise SystemExit(f"error: --eval-every {args.eval_every} is not a multiple of --mjx-envs {E}")
    per_call = args.eval_every // E
    while per_call > 1000 and per_call % 2 == 0:
        per_call //= 2
    configs = []
    for algo in args.algos:
        common = {**budget, "algo": algo,
                  **({"hidden": tuple(args.hidden)} if algo == "mtsac" else {}),
                  **overrides[algo]}
        # The port makes E times the method's updates per vector step (one per transition).
        updates = resolve(Config(env="mt1-mjx", **common)).updates_per_step
        for task in args.tasks:
            for backend in args.backends:
                if backend == "cpu":
                    configs += [Config(env="mt1", mt1_task=task, seed=s,
                                       run_name=run_name(task, "cpu", [s], algo), **common)
                                for s in args.seeds]
                else:
                    configs.append(Config(env="mt1-mjx", mt1_task=task, seeds=tuple(args.seeds),
                                          envs_per_task=E, updates_per_step=E * updates,
                                          steps_per_call=per_call,
                                          run_name=run_name(task, "mjx", args.seeds, algo),
                                          **common))
    return configs


def run_or_resume(cfg) -> dict:
    """Run ``cfg``; skip it if finished, resume it if it has a checkpoint."""
    from mtrl_jax.experiment import run
    folder = RunFolder(os.path.join(cfg.out_dir, cfg.run_name))
    summary = folder.read_summary()
    if summary is not None:
        return summary
    if folder.holds_run():
        if folder.latest_checkpoint() is not None:
            return run(cfg.__class__(resume=folder.path, total_steps=cfg.total_steps))
        shutil.rmtree(folder.path)
    return run(cfg)


def evaluations(run_dir: str) -> dict:
    """{seed: {env_steps: mean success}} from a run's eval.jsonl."""
    out: dict = {}
    for row in RunFolder(run_dir).read_evals():
        out.setdefault(row["seed"], {})[row["env_steps"]] = row["eval_success"]
    return out


def run_dir(args, name: str) -> str:
    """The run's folder in ``--out-dir``, or its record in ``--results-dir`` when only that
    exists (a run of an earlier session whose folder is gone)."""
    here = os.path.join(args.out_dir, name)
    record = os.path.join(args.results_dir, "runs", name) if args.results_dir else None
    if not os.path.isdir(here) and record and os.path.isfile(os.path.join(record, SUMMARY)):
        return record
    return here


def finish(args) -> int:
    """Continue each task's early-stopped runs to the task's latest stop; write the tables."""
    from mtrl_jax.config import Config
    from mtrl_jax.experiment import run
    configs = run_configs(args)
    results = {}
    for task in args.tasks:
        dirs = {c.run_name: run_dir(args, c.run_name) for c in configs if c.mt1_task == task}
        missing = [d for d in dirs.values() if RunFolder(d).read_summary() is None]
        if missing:
            print(f"{task}: runs not finished: {', '.join(missing)}; reported up to their last "
                  "evaluation, not paired", file=sys.stderr)
            results[task] = {name: evaluations(d) for name, d in dirs.items()
                             if RunFolder(d).read_evals()}
            continue
        steps = {name: RunFolder(d).read_summary()["env_steps"] for name, d in dirs.items()}
        stop = max(steps.values())
        for name, d in dirs.items():
            recorded = d != os.path.join(args.out_dir, name)       # no checkpoint to continue
            if steps[name] < stop and not args.no_extend and not recorded:
                os.remove(RunFolder(d).file(SUMMARY))
                run(Config(resume=d, total_steps=stop, early_stop_min_steps=stop))
        results[task] = {name: evaluations(d) for name, d in dirs.items()}
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    if args.results_dir:
        write_results(args, results)
        write_mt10_results(args)
    print(json.dumps(table_rows(results), indent=1))
    return 0


def method_and_backend(task: str, name: str) -> tuple[str, str]:
    """(algo, backend) of a :func:`run_name`."""
    parts = name[len(task) + 1:].split("-")
    return ("mtsac", parts[0]) if len(parts) == 2 else (parts[0], parts[1])


def table_rows(results: dict) -> list:
    """Rows task, algo, backend, env_steps, per-seed success, mean."""
    rows = []
    for task, runs in results.items():
        for name, per_seed in runs.items():
            algo, backend = method_and_backend(task, name)
            for seed, curve in per_seed.items():
                for step, value in curve.items():
                    rows.append(dict(task=task, algo=algo, backend=backend, seed=int(seed),
                                     env_steps=int(step), success=value))
    return rows


def markdown_table(results: dict) -> str:
    """Task x method x backend x evaluation step: success per seed and their mean."""
    rows = table_rows(results)
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| task | method | backend | env steps | " + " | ".join(f"seed {s}" for s in seeds)
             + " | mean |", "|---|---|---|---|" + "---|" * (len(seeds) + 1)]
    keys = sorted({(r["task"], r["algo"], r["backend"], r["env_steps"]) for r in rows})
    for key in keys:
        vals = {r["seed"]: r["success"] for r in rows
                if (r["task"], r["algo"], r["backend"], r["env_steps"]) == key}
        cells = [f"{vals[s]:.2f}" if s in vals else "-" for s in seeds]
        mean = sum(vals.values()) / len(vals)
        task, algo, backend, step = key
        lines.append(f"| {task} | {algo} | {backend} | {step:,} | " + " | ".join(cells)
                     + f" | {mean:.3f} |")
    return "\n".join(lines)


def write_results(args, results: dict) -> None:
    """Copy the run records (config, eval, summary), write the table and draw each task's
    curves (CPU and port on the same axes)."""
    from mtrl_jax.report import make_report
    os.makedirs(args.results_dir, exist_ok=True)
    with open(os.path.join(args.results_dir, "mt1_table.md"), "w") as f:
        f.write(markdown_table(results) + "\n")
    for task in results:
        kept = []
        for name in results[task]:
            src, dst = run_dir(args, name), os.path.join(args.results_dir, "runs", name)
            os.makedirs(dst, exist_ok=True)
            for f in (CONFIG, EVALS, SUMMARY, EVAL_TABLE):
                if os.path.exists(os.path.join(src, f)) and src != dst:
                    shutil.copy(os.path.join(src, f), dst)
            if RunFolder(src).read_summary() is None:
                last = max(max(curve) for curve in results[task][name].values())
                with open(os.path.join(dst, STOPPED), "w") as f:
                    json.dump({"env_steps": last, "reason": "stopped unfinished (time limit of "
                               "the session that ran it); reported up to its last evaluation"}, f)
            kept.append(dst)
        make_report(kept, os.path.join(args.results_dir, task), reps=200)


def mt10_config(args):
    from mtrl_jax.config import Config
    return Config(algo="mtsac", env="mt10", hidden=tuple(args.hidden), total_steps=args.mt10_steps,
                  eval_every=args.mt10_eval_every, checkpoint_every=args.mt10_eval_every,
                  buffer_size=max(args.mt10_steps, 10_000), run_name=f"mt10-mtsac-s{args.seeds[0]}",
                  seed=args.seeds[0], out_dir=args.out_dir)


def mt10_table(run_dir: str) -> str:
    """Per-task success of the MT10 run at each evaluation (rows: tasks, columns: env steps)."""
    rows = sorted(RunFolder(run_dir).read_evals(), key=lambda r: r["env_steps"])
    tasks = list(rows[0]["eval_success_per_task"])
    lines = ["| task | " + " | ".join(f"{r['env_steps']:,}" for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    lines += [f"| {t} | " + " | ".join(f"{r['eval_success_per_task'][t]:.2f}" for r in rows) + " |"
              for t in tasks]
    lines.append("| **mean** | " + " | ".join(f"**{r['eval_success']:.3f}**" for r in rows) + " |")
    return "\n".join(lines)


def write_mt10_results(args) -> None:
    """Copy the MT10 run's records, write its per-task table and draw its curves."""
    from mtrl_jax.report import make_report
    name = mt10_config(args).run_name
    src = os.path.join(args.out_dir, name)
    if not RunFolder(src).read_evals():
        print(f"{name}: no evaluation yet; MT10 not reported", file=sys.stderr)
        return
    dst = os.path.join(args.results_dir, "runs", name)
    os.makedirs(dst, exist_ok=True)
    for f in (CONFIG, EVALS, SUMMARY, EVAL_TABLE):
        if os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), dst)
    with open(os.path.join(args.results_dir, "mt10_table.md"), "w") as f:
        f.write(mt10_table(src) + "\n")
    make_report([dst], os.path.join(args.results_dir, "mt10"), reps=200)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from mtrl_jax.config import ConfigError
    try:
        if args.mt10:
            run_or_resume(mt10_config(args))
            return 0
        if args.finish:
            return finish(args)
        for cfg in run_configs(args):
            summary = run_or_resume(cfg)
            print(f"{cfg.run_name}: {summary['mean_success']:.3f} at {summary['env_steps']} "
                  "env steps", flush=True)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
