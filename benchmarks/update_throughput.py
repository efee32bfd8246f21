"""SAC updates/s at the MT10 configuration (10 tasks, batch 1280, each method's paper network),
one update per call and many per ``lax.scan`` call, beside the FLOPs of one update (XLA's cost
analysis) and the machine's measured matmul throughput, all measured in one run:

    python benchmarks/update_throughput.py                 # every --algo and every VARIANT
    python benchmarks/update_throughput.py --algos mtsac paco --iters 20 --scan 20
    python benchmarks/update_throughput.py --algos mtsac mtsac/pcgrad mtsac/bronet-1024
    python benchmarks/update_throughput.py --tasks 1 --algos mt1/mtsac mt1/ars-256 mt1/brc-256

Every method is compiled first, then timed in ``--rounds`` interleaved rounds; each method's best
round is reported, so that load from other processes on a shared machine distorts the ratios as
little as possible.

Columns: ms per update, updates/s (per call | scanned), cost relative to MT-SAC (scanned),
parameter count (actor + twin critics + shared), GFLOP per update, and efficiency = achieved
FLOP/s over the measured matmul FLOP/s.
"""

from __future__ import annotations

import argparse
import time


import jax
import jax.numpy as jnp

from mtrl_jax.agents.sac import task_onehots
from mtrl_jax.config import Config, ConfigError, resolve
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.methods import METHODS, make_agent

OBS, ACT = 39, 4

# The switches of the 2025 recipe and the gradient combiners, as "algo/variant" rows.
VARIANTS = {
    "mtsac/pcgrad": ("mtsac", dict(grad_combiner="pcgrad")),
    "mhsac/pcgrad": ("mhsac", dict(grad_combiner="pcgrad")),
    "mtsac/gradnorm": ("mtsac", dict(grad_combiner="gradnorm")),
    "mtsac/bronet-1024": ("mtsac", dict(critic_torso="bronet", critic_width=1024)),
    "mtsac/categorical": ("mtsac", dict(critic_loss="categorical")),
    "brc/critic-1024": ("brc", dict(critic_width=1024)),
}

# MT1 (``--tasks 1``): MT-SAC as experiments/metaworld_sac.py runs it, and the ars and brc presets
# at the widths its MT1 runs use (each variant sets its own batch).
MT1_VARIANTS = {
    "mt1/mtsac": ("mtsac", dict(hidden=(256, 256), batch_size=128)),
    "mt1/ars-400": ("ars", dict(batch_size=100)),
    "mt1/ars-256": ("ars", dict(hidden=(256,) * 4, batch_size=100)),
    "mt1/ars-192": ("ars", dict(hidden=(192,) * 4, batch_size=100)),
    "mt1/brc-256": ("brc", dict(critic_width=256, critic_blocks=1, actor_width=128,
                                batch_size=128)),
    "mt1/brc-192": ("brc", dict(critic_width=192, critic_blocks=1, actor_width=128,
                                batch_size=128)),
}
VARIANTS.update(MT1_VARIANTS)


def matmul_gflops(n: int = 2048, reps: int = 10) -> float:
    """Measured float32 matmul throughput of the default device."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    t = time.perf_counter()
    for _ in range(reps):
        out = f(a)
    out.block_until_ready()
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def best_time(fn, *args, reps: int) -> float:
    """Seconds per call of ``reps`` back-to-back calls (after one warm-up call)."""
    jax.block_until_ready(fn(*args))
    t = time.perf_counter()
    for _ in range(reps):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t) / reps


def prepare(algo: str, num_tasks: int, batch: int, scan: int) -> dict:
    """Compiled one-update and ``scan``-updates functions of ``algo``, their inputs, FLOPs and
    parameter count."""
    name, changes = VARIANTS.get(algo, (algo, {}))
    cfg = resolve(Config(algo=name, env="mt10", compile_cache=None,
                         **{"batch_size": batch, **changes}))
    batch = cfg.batch_size
    sac = make_agent(cfg, EnvSpec.sized(OBS, ACT, num_tasks))
    state = sac.init(jax.random.PRNGKey(0))
    n = batch // num_tasks
    k = jax.random.split(jax.random.PRNGKey(1), 4)
    obs = jax.random.normal(k[0], (num_tasks, n, OBS))
    _, aux = jax.jit(sac.explore)(state, obs, task_onehots(num_tasks, n), k[3])
    data = {"obs": obs, "action": jax.random.uniform(k[1], (num_tasks, n, ACT), minval=-1),
            "reward": jax.random.normal(k[2], (num_tasks, n)), "next_obs": obs[:, ::-1],
            "terminated": jnp.zeros((num_tasks, n), bool),
            "truncated": jnp.zeros((num_tasks, n), bool), "stored": aux.get("store", {})}
    update = jax.jit(sac.update)
    compiled = update.lower(state, data, k[3]).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", float("nan"))) if cost else float("nan")

    def many(state, key):
        def body(s, kk):
            return update(s, data, kk)[0], None
        return jax.lax.scan(body, state, jax.random.split(key, scan))[0]

    params = sum(x.size for x in jax.tree.leaves((state.actor, state.critic, state.shared)))
    return {"algo": algo, "call": (update, (state, data, k[3])),
            "scan": (jax.jit(many), (state, k[3])), "flops": flops, "params": params,
            "updates_per_step": cfg.updates_per_step, "batch": batch}


def bench(algos, num_tasks: int, batch: int, iters: int, scan: int, rounds: int) -> list[dict]:
    """Times every algo in ``rounds`` interleaved rounds and keeps each one's best round: load
    from other processes only ever slows a round down, so the best rounds, taken close together
    in time, are what the ratios compare."""
    prepared = []
    for algo in algos:
        try:
            prepared.append(prepare(algo, num_tasks, batch, scan))
        except ConfigError as err:
            print(f"{algo}: skipped ({err})")
    for p in prepared:
        p["per_call"] = p["scanned"] = float("inf")
    for _ in range(rounds):
        for p in prepared:
            fn, args = p["call"]
            p["per_call"] = min(p["per_call"], best_time(fn, *args, reps=iters))
            fn, args = p["scan"]
            p["scanned"] = min(p["scanned"], best_time(fn, *args, reps=max(1, iters // scan))
                               / scan)
    return [{k: p[k] for k in ("algo", "per_call", "scanned", "flops", "params",
                               "updates_per_step", "batch")} for p in prepared]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=None,
                        help="methods and VARIANTS (the mt1/ ones with --tasks 1); default: "
                             "every method and MT10 variant, without the full-width brc preset "
                             "on a CPU (minutes per update there)")
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1280)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--scan", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved timing rounds; each algo's best round is reported")
    args = parser.parse_args(argv)
    if args.algos is None:
        args.algos = [a for a in [*METHODS, *VARIANTS] if a not in MT1_VARIANTS
                      and not (a == "brc" and jax.default_backend() == "cpu")]
    peak = matmul_gflops()
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
          f"matmul {peak:.1f} GFLOP/s, MT10: {args.tasks} tasks, batch {args.batch}\n")
    rows = bench(args.algos, args.tasks, args.batch, args.iters, args.scan, args.rounds)
    base = next((r for r in rows if r["algo"] in ("mtsac", "mt1/mtsac")), None)
    print("| algo | batch | ms/update (call) | updates/s (call) | updates/s (scan) | x MT-SAC "
          "| updates/step | x MT-SAC per env step | params | GFLOP/update | efficiency |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rel = r["scanned"] / base["scanned"] if base else float("nan")
        per_step = rel * r["updates_per_step"] / base["updates_per_step"] if base else rel
        eff = r["flops"] / r["scanned"] / 1e9 / peak
        print(f"| {r['algo']} | {r['batch']} | {1e3 * r['per_call']:.1f} | "
              f"{1 / r['per_call']:.2f} | {1 / r['scanned']:.2f} | {rel:.2f} | "
              f"{r['updates_per_step']} | {per_step:.2f} | {r['params']:,} | "
              f"{r['flops'] / 1e9:.2f} | {eff:.1%} |")
    return rows


if __name__ == "__main__":
    main()
