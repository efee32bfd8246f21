"""Resident memory of one compiled MJX scene step on this backend (per_scene's unit).

    nice -n 5 python benchmarks/executable_memory.py --task assembly-v3 --envs 16 --quick-compile
    XLA_FLAGS=--xla_cpu_parallel_codegen_split_count=1 python benchmarks/executable_memory.py

Lowers the step of the task's scene program (``PerSceneEnv``), then reads the process's resident
set (after ``gc`` and glibc's ``malloc_trim``) before and after compiling it, with the lowering
and JAX's caches dropped: what holding the compiled executable costs. No persistent cache.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import re
import time

import jax


def resident_gib() -> float:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 2**20


def main(argv=None):
    from mtrl_jax.envs.mjx import MJXMultiTaskEnv
    from mtrl_jax.envs.mjx.per_scene import PerSceneEnv
    from mtrl_jax.envs.mw_tasks import MT50_TASKS
    from mtrl_jax.xla_cache import quick_compile_options

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="assembly-v3", choices=MT50_TASKS)
    ap.add_argument("--envs", type=int, default=16)
    ap.add_argument("--quick-compile", action="store_true")
    args = ap.parse_args(argv)
    options = quick_compile_options(jax.devices()[0].platform) if args.quick_compile else None
    env = PerSceneEnv(MJXMultiTaskEnv(args.envs, tasks=(args.task,), goal_benchmark=MT50_TASKS), options)
    goal, state, act = env._examples(0)
    lowered = env._step_fn(0).lower(state, act, jax.eval_shape(lambda: jax.random.PRNGKey(0)))
    before = resident_gib()
    t0 = time.perf_counter()
    compiled = lowered.compile(compiler_options=options)
    seconds = time.perf_counter() - t0
    del lowered
    jax.clear_caches()
    held = resident_gib() - before
    print(f"{args.task}, E = {args.envs}, {jax.devices()[0].platform}, options {options or 'default'}: "
          f"compile {seconds:.0f} s, the executable holds {held:.2f} GiB resident")
    return compiled


if __name__ == "__main__":
    main()
