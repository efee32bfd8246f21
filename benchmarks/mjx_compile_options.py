"""Compile time against step time of the MJX env step, with and without
``mtrl_jax.xla_cache.quick_compile_options`` (one process: the step is lowered once and compiled
both ways; the timed rounds alternate between the two executables, ABBA order).

    nice -n 5 python benchmarks/mjx_compile_options.py --tasks reach-v3 --envs 16
    nice -n 5 python benchmarks/mjx_compile_options.py --tasks window-open-v3 --envs 16 --rounds 6

Prints one JSON line: both compile times, the median step ms of each, the median of the per-round
ratios (quick / default) and the largest reward difference between the two trajectories (same
actions and keys; the two programs round differently, and contacts amplify it).
The persistent compilation cache stays off here, so both compile times are cold.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np


def main(argv=None):
    from mtrl_jax.envs.mjx import MJXMultiTaskEnv
    from mtrl_jax.xla_cache import quick_compile_options

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["reach-v3"])
    ap.add_argument("--envs", type=int, default=16, help="envs per task")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=10, help="steps per timed round")
    args = ap.parse_args(argv)
    if args.rounds < 2 or args.steps < 1 or args.envs < 1:
        ap.error("--rounds >= 2, --steps >= 1 and --envs >= 1")
    quick = quick_compile_options(jax.devices()[0].platform)
    if not quick:
        ap.error("quick_compile_options is empty on this platform: nothing to compare")
    env = MJXMultiTaskEnv(args.envs, tasks=tuple(args.tasks))
    key = jax.random.PRNGKey(0)
    state0, _ = jax.jit(env.reset)(key)
    shape = (env.num_tasks, args.envs, env.act_dim)
    lowered = jax.jit(env.step).lower(state0, jnp.zeros(shape), key)
    programs, compile_s = {}, {}
    for name, options in (("default", {}), ("quick", quick)):
        t0 = time.perf_counter()
        programs[name] = lowered.compile(compiler_options=options)
        compile_s[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: compiled in {compile_s[name]} s", flush=True)
    n = args.rounds * args.steps + 1
    rng = np.random.default_rng(0)
    actions = jnp.asarray(rng.uniform(-1, 1, (n,) + shape), jnp.float32)
    keys = jax.random.split(key, n)
    state = dict.fromkeys(programs, state0)
    rewards = {k: [] for k in programs}
    step_ms = {k: [] for k in programs}
    for k in programs:
        state[k], out = programs[k](state[k], actions[0], keys[0])
        jax.block_until_ready(out)
    for r in range(args.rounds):
        lo = 1 + r * args.steps
        for k in (("default", "quick") if r % 2 == 0 else ("quick", "default")):
            t0 = time.perf_counter()
            for i in range(lo, lo + args.steps):
                state[k], out = programs[k](state[k], actions[i], keys[i])
                rewards[k].append(out.reward)
            jax.block_until_ready(out)
            step_ms[k].append(1e3 * (time.perf_counter() - t0) / args.steps)
    ratios = [q / d for d, q in zip(step_ms["default"], step_ms["quick"])]
    rd, rq = (np.asarray(jnp.stack(rewards[k])) for k in ("default", "quick"))
    print(json.dumps(dict(
        device=jax.devices()[0].device_kind, tasks=args.tasks, envs_per_task=args.envs, compile_s=compile_s,
        step_ms={k: round(float(np.median(v)), 2) for k, v in step_ms.items()},
        step_ratio_quick_over_default=round(float(np.median(ratios)), 3),
        round_ratios=[round(x, 3) for x in ratios],
        max_abs_reward_diff=round(float(np.max(np.abs(rd - rq))), 4),
        finite=bool(np.isfinite(rq).all()))))


if __name__ == "__main__":
    main()
