"""Env-steps/s of the CPU Meta-World training loop (``mtrl_jax.host_loop`` inside
``mtrl_jax.engine``, what ``experiments/run.py --env mt10`` runs), beside the time of each of
its parts, in one run:

    python benchmarks/host_loop.py                         # MT10, mtsac and paco, paper defaults
    python benchmarks/host_loop.py --algos mtsac --env mt1 --hidden 256 256

Per method: the loop is built, the warm-up is collected with random actions, then ``--rounds``
interleaved rounds of ``--steps`` vector-env steps each time

- the parts one by one, each waited for: env step (host MuJoCo), action (select_action and its
  transfer to the host), store (buffer write + episode stats), update (``updates_per_step``
  SAC updates);
- the sequential loop (``host_step(overlap=False)``: the update is waited for before the env
  steps);
- the overlapped loop (``host_step``: the env steps while the update runs);
- the run engine's chunk of ``--steps`` vector steps (``engine.HostRows``, what run.py drives:
  the overlapped loop plus the chunk's bookkeeping).

The bound is T / (t_env + t_action + t_store + t_update) env-steps/s, T the number of tasks;
each loop's ratio to it is printed. Medians over the rounds.
"""

from __future__ import annotations

import argparse
import sys
import time


import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax.buffer import buffer_init
from mtrl_jax.config import Config, resolve
from mtrl_jax.drivers import HostRows
from mtrl_jax.envs import make_env
from mtrl_jax.host_loop import HostCarry, host_step, make_host_pieces
from mtrl_jax.methods import make_agent
from mtrl_jax.train import empty_stats, transition_example
from mtrl_jax.xla_cache import enable_compile_cache

PARTS = ("env", "action", "store", "update")


def config_for(algo: str, env, args, **extra) -> Config:
    overrides = dict(warmup_steps=args.warmup_steps, **extra)
    if args.hidden:
        overrides["hidden"] = tuple(args.hidden)
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    return resolve(Config(algo=algo, env=args.env, **overrides), env.num_tasks)


class Quiet:
    """A progress sink that shows nothing."""

    def phase(self, text):
        pass

    def tick(self, env_steps, updates, success=None):
        pass

    def write(self, message):
        pass


def build_engine(algo: str, env, args) -> HostRows:
    """The run engine's host driver past its warm-up, with chunks of ``--steps`` vector steps.
    It shares the env with the loop of :func:`build`: only the timing matters here."""
    cfg = config_for(algo, env, args, steps_per_call=args.steps, eval_every=0,
                     checkpoint_every=0, total_steps=10**9)
    driver = HostRows(cfg, env, make_agent(cfg, env.spec), seed=0)
    while driver.env_steps <= cfg.warmup_steps:        # the last chunk compiles the update
        driver.chunk(Quiet())
    return driver


def time_engine(driver: HostRows, env) -> float:
    """Env-steps/s of one engine chunk (``HostRows.chunk``: what run.py drives)."""
    t0, before = time.perf_counter(), driver.env_steps
    driver.chunk(Quiet())
    jax.block_until_ready(driver.carry.sac)
    return (driver.env_steps - before) / (time.perf_counter() - t0)


def build(algo: str, env, args):
    """The loop's pieces and a carry whose buffer holds the warm-up (random actions)."""
    cfg = config_for(algo, env, args)
    sac = make_agent(cfg, env.spec)
    pieces = make_host_pieces(cfg, sac)
    T, E = env.num_tasks, env.envs_per_task
    example = transition_example(env.obs_dim, env.act_dim, sac.networks.store_spec)
    _, obs = env.reset()
    carry = HostCarry(sac.init(jax.random.PRNGKey(0)), buffer_init(example, T, cfg.buffer_size // T),
                      jnp.asarray(obs), jax.random.PRNGKey(1), 0, empty_stats(T, E))
    while carry.env_steps < cfg.warmup_steps:
        carry = host_step(pieces, env, carry, learn=False)[0]
    carry = host_step(pieces, env, carry, learn=True)[0]  # compiles the update
    jax.block_until_ready(carry.sac)
    return pieces, carry


def time_parts(pieces, env, carry, steps: int):
    """Seconds per vector-env step of each part, each waited for, in loop order."""
    spent = dict.fromkeys(PARTS, 0.0)
    for _ in range(steps):
        t0 = time.perf_counter()
        action, aux = pieces.select_action(carry.sac, carry.obs, carry.key, carry.env_steps)
        host_action = np.asarray(action)
        t1 = time.perf_counter()
        sac_state, _ = pieces.update(carry.sac, carry.buffer, carry.key, carry.env_steps)
        jax.block_until_ready(sac_state)
        t2 = time.perf_counter()
        _, out = env.step(None, host_action)
        t3 = time.perf_counter()
        buffer = pieces.store(carry.buffer, carry.obs, action, out, aux)
        stats, _ = pieces.observe(carry.stats, sac_state.log_alpha, out.reward, out.success,
                                  out.terminated, out.truncated)
        obs = jnp.asarray(out.obs)
        jax.block_until_ready((buffer, stats, obs))
        t4 = time.perf_counter()
        for name, dt in zip(("action", "update", "env", "store"), (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            spent[name] += dt
        carry = HostCarry(sac_state, buffer, obs, carry.key,
                          carry.env_steps + env.num_tasks * env.envs_per_task, stats)
    return carry, {k: v / steps for k, v in spent.items()}


def time_loop(pieces, env, carry, steps: int, overlap: bool):
    """(carry, env-steps/s) of ``steps`` loop steps."""
    t0 = time.perf_counter()
    for _ in range(steps):
        carry = host_step(pieces, env, carry, learn=True, overlap=overlap)[0]
    jax.block_until_ready((carry.sac, carry.buffer))
    return carry, steps * env.num_tasks * env.envs_per_task / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", nargs="+", default=["mtsac", "paco"])
    p.add_argument("--env", default="mt10", choices=("mt10", "mt50", "mt1"))
    p.add_argument("--steps", type=int, default=20, help="vector-env steps per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup-steps", type=int, default=1000,
                   help="random-action transitions collected before timing (fills the buffer)")
    p.add_argument("--hidden", nargs="+", type=int, help="override the networks' widths")
    p.add_argument("--batch-size", type=int, help="override the batch size")
    args = p.parse_args(argv)
    enable_compile_cache()
    env = make_env(resolve(Config(env=args.env)))
    T = env.num_tasks * env.envs_per_task
    print(f"device {jax.devices()[0].device_kind}, --env {args.env} ({T} envs), "
          f"{args.steps} steps x {args.rounds} rounds, medians", flush=True)
    built = {algo: build(algo, env, args) for algo in args.algos}
    engines = {algo: build_engine(algo, env, args) for algo in args.algos}
    results = {algo: {k: [] for k in (*PARTS, "sequential", "overlapped", "engine")}
               for algo in args.algos}
    for _ in range(args.rounds):
        for algo in args.algos:
            pieces, carry = built[algo]
            carry, parts = time_parts(pieces, env, carry, args.steps)
            for k, v in parts.items():
                results[algo][k].append(v)
            carry, rate = time_loop(pieces, env, carry, args.steps, overlap=False)
            results[algo]["sequential"].append(rate)
            carry, rate = time_loop(pieces, env, carry, args.steps, overlap=True)
            results[algo]["overlapped"].append(rate)
            results[algo]["engine"].append(time_engine(engines[algo], env))
            built[algo] = (pieces, carry)
    print("\n| algo | env ms | action ms | store ms | update ms | bound env-steps/s | "
          "sequential loop | ratio | overlapped loop | ratio | engine (run.py) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for algo in args.algos:
        r = {k: float(np.median(v)) for k, v in results[algo].items()}
        bound = T / sum(r[k] for k in PARTS)
        print(f"| {algo} | {r['env'] * 1e3:.1f} | {r['action'] * 1e3:.2f} | "
              f"{r['store'] * 1e3:.2f} | {r['update'] * 1e3:.1f} | {bound:.1f} | "
              f"{r['sequential']:.1f} | {r['sequential'] / bound:.2f} | {r['overlapped']:.1f} | "
              f"{r['overlapped'] / bound:.2f} | {r['engine']:.1f} | {r['engine'] / bound:.2f} |")
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
