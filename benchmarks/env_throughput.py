"""Env throughput: CPU Meta-World (gymnasium sync vector env) vs the MJX port, same run.

    nice -n 10 python benchmarks/env_throughput.py                      # MT10, E = 1 16 128 (+1024 on GPU/TPU)
    nice -n 10 python benchmarks/env_throughput.py --tasks reach-v3 --envs 1 16
    nice -n 10 python benchmarks/env_throughput.py --per-task --envs 64  # per-task: loads, compile s, step ms
    nice -n 10 python benchmarks/env_throughput.py --benchmark mt50 --per-task --envs 16 64
    python benchmarks/env_throughput.py --benchmark mt50 --envs 1024 --no-cpu   # the 50-task program (GPU)
    nice -n 10 python benchmarks/env_throughput.py --tasks plate-slide-v3 plate-slide-back-v3 --envs 16 --no-cpu --compare-sharing
    nice -n 10 python benchmarks/env_throughput.py --benchmark mt50 --envs 16 --no-cpu --quick-compile  # see xla_cache
    nice -n 10 python benchmarks/env_throughput.py --tasks soccer-v3 sweep-v3 button-press-v3 coffee-button-v3 --prefixes 1 2 4 --envs 16 --no-cpu
    nice -n 5 python benchmarks/env_throughput.py --benchmark mt50 --prefixes 8 --envs 16 --compile-only --quick-compile --cache-dir ""
    nice -n 5 python benchmarks/env_throughput.py --benchmark mt50 --envs 16 --no-cpu --steps 10 --per-scene  # one program per scene

Prints a table with the device name. Env-steps/s counts every env of every task (T * E per step).
The "programs" column is the number of physics programs in the step (tasks that share a scene
share one; ``--compare-sharing`` adds the row with one program per task). ``--prefixes K ...``
measures the programs of the first K tasks, one row each: how compile and step time grow with the
number of physics programs in one step (the 50-task program has 40), where compiling that program
itself takes too long.
Compile time is the first call of the jitted step (trace + lower + compile, or a load from the
persistent compilation cache at ~/.cache/mtrl_jax/xla when it is warm: the "cache" column says
whether the cache directory held an entry for it before). ``--compile-only`` lowers the step
against the reset's shapes (``jax.eval_shape``: the reset is not compiled), compiles it and
reports the process's peak RSS, which is then the step compile's: how much memory a program
needs, for the ones this machine cannot run (one setting per process for a clean peak).
"""

from __future__ import annotations

import argparse
import os
import resource
import time


import jax
import numpy as np

from mtrl_jax.xla_cache import DEFAULT_CACHE, enable_compile_cache

CACHE = os.path.expanduser(DEFAULT_CACHE)


def device_name():
    d = jax.devices()[0]
    kind = getattr(d, "device_kind", "") or ""
    return f"{d.platform}:{kind} x{jax.device_count()} (host cores {os.cpu_count()})"


def cpu_metaworld(steps: int, benchmark: str = "MT10"):
    import gymnasium as gym
    import metaworld  # noqa: F401

    env = gym.make_vec(f"Meta-World/{benchmark}", vector_strategy="sync", seed=0)
    env.reset(seed=0)
    n = env.num_envs
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (steps, n, 4)).astype(np.float32)
    for i in range(5):
        env.step(acts[i])
    t0 = time.perf_counter()
    for i in range(steps):
        env.step(acts[i])
    dt = time.perf_counter() - t0
    env.close()
    return n * steps / dt, 1e3 * dt / steps


def _cache_entries():
    return len(os.listdir(CACHE)) if CACHE and os.path.isdir(CACHE) else 0


def peak_rss_gib() -> float:
    """This process's peak resident set size so far (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def mjx_step_compile(tasks, envs_per_task: int, share_scenes: bool = True, compiler_options=None):
    """Builds the env, lowers its step against ``jax.eval_shape`` of the reset and compiles it:
    build, lowering and compile seconds, the number of physics programs and the peak RSS (GiB)
    before the lowering and after the compile."""
    from mtrl_jax.envs.mjx import MJXMultiTaskEnv

    t0 = time.perf_counter()
    env = MJXMultiTaskEnv(envs_per_task=envs_per_task, tasks=tuple(tasks), share_scenes=share_scenes)
    build_s = time.perf_counter() - t0
    key = jax.random.PRNGKey(0)
    state, _ = jax.eval_shape(env.reset, key)
    act = jax.ShapeDtypeStruct((env.num_tasks, envs_per_task, env.act_dim), np.float32)
    before_gib = peak_rss_gib()
    t0 = time.perf_counter()
    lowered = jax.jit(env.step).lower(state, act, key)
    lower_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lowered.compile(compiler_options=compiler_options or None)
    return dict(build_s=build_s, lower_s=lower_s, compile_s=time.perf_counter() - t0,
                programs=len(env.physics_groups), rss_before_gib=before_gib, peak_rss_gib=peak_rss_gib())


def mjx_env(tasks, envs_per_task: int, steps: int, share_scenes: bool = True, compiler_options=None):
    from mtrl_jax.envs.mjx import MJXMultiTaskEnv

    t0 = time.perf_counter()
    env = MJXMultiTaskEnv(envs_per_task=envs_per_task, tasks=tuple(tasks), share_scenes=share_scenes)
    build_s = time.perf_counter() - t0
    key = jax.random.PRNGKey(0)
    state, obs = jax.jit(env.reset)(key)
    jax.block_until_ready(obs)
    act = jax.random.uniform(key, (env.num_tasks, envs_per_task, 4), minval=-1, maxval=1)
    step = jax.jit(env.step, compiler_options=compiler_options or None)
    before = _cache_entries()
    t0 = time.perf_counter()
    state, out = step(state, act, key)
    jax.block_until_ready(out)
    compile_s = time.perf_counter() - t0
    cached = _cache_entries() == before and before > 0
    t0 = time.perf_counter()
    for _ in range(steps):
        state, out = step(state, act, key)
    jax.block_until_ready(out)
    dt = time.perf_counter() - t0
    return dict(build_s=build_s, compile_s=compile_s, cached=cached, step_ms=1e3 * dt / steps,
                programs=len(env.physics_groups),
                env_steps_s=env.num_tasks * envs_per_task * steps / dt,
                reward_ok=bool(np.isfinite(np.asarray(out.reward)).all()))


def mjx_per_scene(tasks, envs_per_task: int, steps: int, compiler_options=None, workers: int = 2):
    """The tasks as ``PerSceneEnv`` (one compiled reset and step per physics group): wall
    seconds to build every program, the groups' summed XLA seconds, peak RSS, step time."""
    from mtrl_jax.envs.mjx import MJXMultiTaskEnv
    from mtrl_jax.envs.mjx.per_scene import PerSceneEnv

    t0 = time.perf_counter()
    env = PerSceneEnv(MJXMultiTaskEnv(envs_per_task=envs_per_task, tasks=tuple(tasks)), compiler_options)
    build_s = time.perf_counter() - t0
    before = _cache_entries()
    t0 = time.perf_counter()
    def on_done(done, total, task, reset_s, step_s):
        print(f"  group {done}/{total} ({task}): reset {reset_s:.0f} s, "
              f"step {step_s:.0f} s, {time.perf_counter() - t0:.0f} s so far, peak RSS {peak_rss_gib():.1f} GiB",
              flush=True)

    seconds = env.compile(workers, on_done)
    compile_s = time.perf_counter() - t0
    cached = _cache_entries() == before and before > 0
    key = jax.random.PRNGKey(0)
    state, obs = env.reset(key)
    act = jax.random.uniform(key, (env.num_tasks, envs_per_task, 4), minval=-1, maxval=1)
    state, out = env.step(state, act, key)
    jax.block_until_ready(out)
    t0 = time.perf_counter()
    for _ in range(steps):
        state, out = env.step(state, act, key)
    jax.block_until_ready(out)
    dt = time.perf_counter() - t0
    return dict(build_s=build_s, compile_s=compile_s, cached=cached, step_ms=1e3 * dt / steps,
                programs=len(env.groups), xla_s=sum(r + s for r, s in seconds),
                step_xla_s=sum(s for _, s in seconds), peak_rss_gib=peak_rss_gib(),
                env_steps_s=env.num_tasks * envs_per_task * steps / dt,
                reward_ok=bool(np.isfinite(np.asarray(out.reward)).all()))


def main(argv=None):
    from mtrl_jax.envs.mw_tasks import MT10_TASKS, MT50_TASKS
    from mtrl_jax.xla_cache import quick_compile_options

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", choices=("mt10", "mt50"), default="mt10",
                    help="the task list (and CPU Meta-World reference) when --tasks is not given")
    ap.add_argument("--tasks", nargs="*", default=None)
    ap.add_argument("--compare-sharing", action="store_true",
                    help="also step every task in its own physics program (share_scenes=False)")
    ap.add_argument("--envs", nargs="*", type=int, default=None)
    ap.add_argument("--steps", type=int, default=20, help="timed MJX steps per setting")
    ap.add_argument("--cpu-steps", type=int, default=200)
    ap.add_argument("--per-task", action="store_true", help="one row per task (a single-task env each)")
    ap.add_argument("--prefixes", nargs="*", type=int, default=None,
                    help="one program per K: the first K of --tasks (growth with the number of programs)")
    ap.add_argument("--no-cpu", action="store_true")
    ap.add_argument("--quick-compile", action="store_true",
                    help="compile the step with mtrl_jax.xla_cache.quick_compile_options (XLA:CPU only)")
    ap.add_argument("--compile-only", action="store_true",
                    help="only lower and compile the step (no reset compile, no timed steps): seconds and peak RSS")
    ap.add_argument("--per-scene", action="store_true",
                    help="one compiled reset and step per physics group (mtrl_jax.envs.mjx.per_scene)")
    ap.add_argument("--workers", type=int, default=2, help="--per-scene: programs compiled at once")
    ap.add_argument("--cache-dir", default=DEFAULT_CACHE,
                    help='persistent XLA compilation cache ("": off, every compile cold)')
    args = ap.parse_args(argv)
    global CACHE
    CACHE = os.path.expanduser(args.cache_dir) if args.cache_dir else ""
    enable_compile_cache(args.cache_dir or None)
    if args.tasks is None:
        args.tasks = list(MT50_TASKS if args.benchmark == "mt50" else MT10_TASKS)
    if args.per_scene and (args.compile_only or args.compare_sharing):
        ap.error("--per-scene times its own programs: not with --compile-only or --compare-sharing")
    if args.prefixes and (args.per_task or min(args.prefixes) < 1 or max(args.prefixes) > len(args.tasks)):
        ap.error("--prefixes takes counts from 1 to the number of --tasks, without --per-task")
    accel = jax.devices()[0].platform != "cpu"
    envs = args.envs or ([1, 16, 128, 1024] if accel else [1, 16, 128])
    options = quick_compile_options(jax.devices()[0].platform) if args.quick_compile else {}
    print(f"device: {device_name()}   jax {jax.__version__}   compiler options: {options or 'default'}")
    if not args.no_cpu and not args.per_task and not args.compile_only:
        bench = args.benchmark.upper()
        sps, ms = cpu_metaworld(args.cpu_steps, bench)
        print(f"CPU Meta-World {bench} sync vector env: {sps:,.0f} env-steps/s ({ms:.1f} ms per vector step)")
        base = sps
    else:
        base = None
    if args.compile_only:
        print("| tasks | E per task | programs | build s | lower s | compile s | peak RSS GiB (before lowering) |")
        print("|---|---|---|---|---|---|---|")
    else:
        print("| tasks | E per task | programs | build s | compile s (cache hit) | step ms | physics-step ms | "
              "env-steps/s | vs CPU Meta-World |")
        print("|---|---|---|---|---|---|---|---|---|")
    if args.per_task:
        groups = [[t] for t in args.tasks]
    elif args.prefixes:
        groups = [args.tasks[:k] for k in args.prefixes]
    else:
        groups = [args.tasks]
    for tasks in groups:
        for e in envs:
            for share in (True, False) if args.compare_sharing else (True,):
                name = tasks[0] if len(tasks) == 1 else f"{len(tasks)} tasks"
                try:
                    if args.per_scene:
                        r = mjx_per_scene(tasks, e, args.steps, options, args.workers)
                        print(f"| {name} (per scene) | {e} | {r['programs']} | {r['build_s']:.1f} | "
                              f"{r['compile_s']:.1f} ({'yes' if r['cached'] else 'no'}; XLA {r['xla_s']:.0f}, "
                              f"step {r['step_xla_s']:.0f}; peak RSS {r['peak_rss_gib']:.1f} GiB) | "
                              f"{r['step_ms']:.1f} | {r['step_ms'] / 5:.1f} | {r['env_steps_s']:,.0f} | - |", flush=True)
                        continue
                    if args.compile_only:
                        r = mjx_step_compile(tasks, e, share, options)
                        print(f"| {name} | {e} | {r['programs']} | {r['build_s']:.1f} | {r['lower_s']:.1f} | "
                              f"{r['compile_s']:.1f} | {r['peak_rss_gib']:.2f} ({r['rss_before_gib']:.2f}) |", flush=True)
                        continue
                    r = mjx_env(tasks, e, args.steps, share, options)
                except Exception as err:  # a task that does not load / compile is a row too
                    print(f"| {','.join(tasks)} | {e} | FAILED: {type(err).__name__}: {str(err)[:120]} |")
                    continue
                vs = f"{r['env_steps_s'] / base:.2f}x" if base else "-"
                print(f"| {name} | {e} | {r['programs']} | {r['build_s']:.1f} | {r['compile_s']:.1f} "
                      f"({'yes' if r['cached'] else 'no'}) | {r['step_ms']:.1f} | {r['step_ms'] / 5:.1f} | "
                      f"{r['env_steps_s']:,.0f} | {vs} |", flush=True)


if __name__ == "__main__":
    main()
