"""Expert parity of the MJX port: Meta-World's scripted experts on CPU Meta-World (stock scenes)
and on the MJX port (same goals), success rates and hand/object position error along the
trajectories. Writes the MT10 table into docs/mjx_port.md (between the parity markers), and one
JSON per task under docs/mjx_port/mjx/ (the MT50 table, ``port_table.py``, reads them; tasks
outside MT10 use MT1's goals).

    nice -n 10 python -m mtrl_jax.envs.mjx.parity --episodes 5 --envs 64 --steps 300 [--tasks reach-v3 push-v3] [--cpu-port]

The table in the doc was made with ``--steps 300``. A cold compile without touching the shared
cache: ``--cache-dir /tmp/empty_xla --no-write``.
"""

from __future__ import annotations

import argparse
import os
import re
import time

import numpy as np

from mtrl_jax.xla_cache import DEFAULT_CACHE, enable_compile_cache

BEGIN, END = "<!-- parity:begin -->", "<!-- parity:end -->"
MJX_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "mjx_port", "mjx")


def cpu_expert(task, rand_vecs, n_steps=500):  # noqa: D103
    from mtrl_jax.envs.mw_tasks import cpu_ref

    succ, hand, obj = [], [], []
    for rv in rand_vecs:
        rec = cpu_ref.record(task, rv, n_steps, policy="expert")
        succ.append(rec["success"].max() > 0)
        hand.append(rec["obs"][:, :3])
        obj.append(rec["obs"][:, 4:7])
    return np.array(succ), np.stack(hand), np.stack(obj)


def mjx_expert(task, envs, seed=0, n_steps=500, iterations=4, ls_iterations=8, timed_steps=3,
               goal_benchmark=None):
    """The expert on ``envs`` MJX envs (goal k % 50 in env k). Also measures the compile time of
    the jitted step and its time per call (fixed random actions, before the expert run), and the
    time of the first (compiling) call of the jitted reset."""
    import jax
    import jax.numpy as jnp

    from mtrl_jax.envs.mjx import MJXMultiTaskEnv
    from mtrl_jax.envs.mw_tasks import NUM_GOALS, cpu_ref

    env = MJXMultiTaskEnv(envs_per_task=envs, tasks=(task,), seed=seed,
                          iterations=iterations, ls_iterations=ls_iterations, goal_benchmark=goal_benchmark)
    step = jax.jit(env.step)
    reset = jax.jit(env.reset)
    key = jax.random.PRNGKey(0)
    goal_index = (jnp.arange(envs, dtype=jnp.int32) % NUM_GOALS)[None]
    t0 = time.perf_counter()
    state, obs = reset(key, goal_index)
    jax.block_until_ready(obs)
    reset_compile_s = time.perf_counter() - t0
    act = jax.random.uniform(key, (1, envs, 4), minval=-1, maxval=1)
    t0 = time.perf_counter()
    s2, out = step(state, act, key)
    jax.block_until_ready(out)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(timed_steps):
        s2, out = step(s2, act, key)
    jax.block_until_ready(out)
    step_ms = 1e3 * (time.perf_counter() - t0) / timed_steps
    pols = [cpu_ref.expert_policy(task) for _ in range(envs)]
    obs = np.array(obs[0], np.float64)
    succ, hand, obj = [], [], []
    for t in range(n_steps):
        a = np.stack([p.get_action(o) for p, o in zip(pols, obs)]).astype(np.float32)
        state, out = step(state, jnp.asarray(a)[None], key)
        nxt = np.array(out.next_obs[0], np.float64)
        succ.append(np.array(out.success[0]))
        hand.append(nxt[:, :3])
        obj.append(nxt[:, 4:7])
        obs = nxt
    succ = np.stack(succ, 1)
    return succ.any(1), np.stack(hand, 1), np.stack(obj, 1), compile_s, step_ms, reset_compile_s


def cpu_port_expert(task, rand_vecs, n_steps=500):
    from mtrl_jax.envs.mjx import cpu_port, port_model

    m = port_model(task)
    succ, hand, obj = [], [], []
    for rv in rand_vecs:
        r = cpu_port.run_episode(task, m, rv, n_steps)
        succ.append(r["success"].any())
        hand.append(r["hand"])
        obj.append(r["obj"])
    return np.array(succ), np.stack(hand), np.stack(obj)


def _err(a, b, upto=None):
    n = min(a.shape[1], b.shape[1]) if upto is None else upto
    return float(np.linalg.norm(a[:, :n] - b[:, :n], axis=-1).mean())


def main(argv=None):
    import json

    from mtrl_jax.envs.mw_tasks import MT10_TASKS, sample_rand_vecs

    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=5, help="CPU Meta-World episodes (goals) per task")
    ap.add_argument("--envs", type=int, default=64, help="MJX envs per task (goal k %% 50 in env k)")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--tasks", nargs="*", default=list(MT10_TASKS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu-port", action="store_true", help="also run the port's scenes on CPU MuJoCo")
    ap.add_argument("--doc", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "mjx_port.md"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--cache-dir", default=DEFAULT_CACHE,
                    help="persistent XLA compilation cache (an empty folder measures a cold compile)")
    args = ap.parse_args(argv)
    enable_compile_cache(args.cache_dir)
    mt10_goals = sample_rand_vecs(MT10_TASKS, args.seed)
    rows = []
    for task in args.tasks:
        # MT10's goals for an MT10 task (the table above), MT1's for the other MT50 tasks
        bench = MT10_TASKS if task in MT10_TASKS else (task,)
        goals = mt10_goals if task in MT10_TASKS else sample_rand_vecs(bench, args.seed)
        rvs = goals[task][: args.episodes]
        t0 = time.perf_counter()
        cs, ch, co = cpu_expert(task, rvs, args.steps)
        cpu_s = time.perf_counter() - t0
        ms, mh, mo, comp, step_ms, reset_comp = mjx_expert(task, args.envs, args.seed, args.steps,
                                                           goal_benchmark=bench)
        n = args.episodes
        row = dict(task=task, cpu=cs.mean(), mjx=ms[:n].mean(), mjx_all=ms.mean(), hand100=_err(ch, mh[:n], 100),
                   hand=_err(ch, mh[:n]), obj100=_err(co, mo[:n], 100), obj=_err(co, mo[:n]), compile=comp,
                   step_ms=step_ms, reset_compile=reset_comp, cpu_s=cpu_s)
        if args.cpu_port:
            ps, ph, po = cpu_port_expert(task, rvs, args.steps)
            row.update(port=ps.mean(), port_hand=_err(ch, ph))
        rows.append(row)
        print(row, flush=True)
        if not args.no_write and task in MT10_TASKS:
            _write(args, [r for r in rows if r["task"] in MT10_TASKS])
        if not args.no_write:
            os.makedirs(MJX_DIR, exist_ok=True)
            with open(os.path.join(MJX_DIR, f"{task}.json"), "w") as f:
                json.dump(dict(row, envs=args.envs, steps=args.steps, episodes=args.episodes,
                               goals="MT10" if task in MT10_TASKS else "MT1", seed=args.seed,
                               mjx_success=ms.astype(int).tolist()), f, indent=1)
    return rows


def _write(args, rows):
    cols = ("| task | loads | compile s (E=%d) | env step ms (E=%d, 5 substeps) | physics-step ms | "
            "expert success CPU Meta-World | MJX port (same goals) | MJX port (%d envs, 50 goals) | "
            "hand err 100 steps / episode (mm) | object err 100 steps / episode (mm) |" % (args.envs, args.envs, args.envs))
    sep = "|---" * 10 + "|"
    if args.cpu_port:
        cols += " port scene on CPU MuJoCo |"
        sep += "---|"
    lines = [f"Per task, one single-task `MJXMultiTaskEnv` with E = {args.envs} envs: compile time of the "
             "jitted env step (wall clock on the shared 2-core CPU; see the notes for cache state), time per step, and the scripted expert "
             f"({args.steps} steps) on CPU Meta-World and on the MJX port with the same goals "
             f"(first {args.episodes} of Meta-World's MT10 goals, seed {args.seed}); the errors are the mean "
             "distance between the CPU and MJX trajectories (closed loop, so they grow once the two diverge).",
             "", cols, sep]
    path = os.path.abspath(args.doc)
    text = open(path).read() if os.path.exists(path) else ""
    done = {r["task"] for r in rows}
    if BEGIN in text:  # keep the rows of tasks measured by an earlier run
        old = text[text.index(BEGIN):text.index(END)]
        lines += [ln for ln in old.splitlines() if ln.startswith("| ") and ln.split("|")[1].strip().endswith("-v3")
                  and ln.split("|")[1].strip() not in done]
    for r in rows:
        line = (f"| {r['task']} | yes | {r['compile']:.0f} | {r['step_ms']:.0f} | {r['step_ms'] / 5:.1f} | "
                f"{100 * r['cpu']:.0f}% | {100 * r['mjx']:.0f}% | {100 * r['mjx_all']:.0f}% | "
                f"{1e3 * r['hand100']:.1f} / {1e3 * r['hand']:.1f} | {1e3 * r['obj100']:.1f} / {1e3 * r['obj']:.1f} |")
        if args.cpu_port:
            line += f" {100 * r['port']:.0f}% |"
        lines.append(line)
    table = "\n".join(lines)
    print(table, flush=True)
    write_block(path, BEGIN, END, table)


def write_block(path: str, begin: str, end: str, body: str) -> None:
    """Puts ``body`` between the markers ``begin`` and ``end`` of the file (appended if absent)."""
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{begin}\n{body}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text += "\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
