"""Cost of QMP's Q-switch mixture collect step per transition, relative to plain collection.

Both are measured in the same process on the same networks and states: "plain" is each task
acting with its own policy (``sac.explore``, what every other method does), "mixture" is the
jitted QMP collect (T x T candidate actions, T x T critic scores, argmax, selection counts).
Calls alternate between the two so that machine noise hits both alike; the median is reported.

    python benchmarks/qmp_collect.py                     # mt10, mt10-mjx and point-mt shapes
    python benchmarks/qmp_collect.py --preset mt10 --qmp-with mhsac
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from mtrl_jax.agents.qmp import make_mixture_collect
from mtrl_jax.agents.sac import task_onehots
from mtrl_jax.config import Config, resolve
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.methods import make_agent
from mtrl_jax.train import default_collect

# name -> (env for the config defaults, tasks, envs per task, obs dim, act dim, hidden)
PRESETS = {
    "mt10": ("mt10", 10, 1, 39, 4, (400, 400, 400)),
    "mt10-mjx": ("mt10-mjx", 10, 16, 39, 4, (400, 400, 400)),
    "point-mt": ("point-mt", 5, 4, 7, 2, (128, 128)),
}


def time_calls(fns, args, repeats):
    """Median seconds per call of each fn, calls interleaved."""
    for fn in fns:
        jax.block_until_ready(fn(*args))                  # compile
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[i].append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def measure(preset: str, qmp_with: str | None, repeats: int) -> dict:
    env, T, E, obs_dim, act_dim, hidden = PRESETS[preset]
    cfg = resolve(Config(algo="qmp", env=env, hidden=hidden, qmp_with=qmp_with, warmup_steps=0))
    sac = make_agent(cfg, EnvSpec.sized(obs_dim, act_dim, T))
    state = sac.init(jax.random.PRNGKey(0))
    obs = jax.random.uniform(jax.random.PRNGKey(1), (T, E, obs_dim), minval=-1, maxval=1)
    args = (state, obs, task_onehots(T, E), jax.random.PRNGKey(2), 10**6)
    plain = jax.jit(default_collect(sac))
    mixture = jax.jit(make_mixture_collect(sac, cfg.qmp_gate, cfg.qmp_warmup))
    t_plain, t_mix = time_calls([plain, mixture], args, repeats)
    n = T * E
    return {"preset": preset, "net": qmp_with or "separate", "T": T, "E": E,
            "plain_us": 1e6 * t_plain / n, "mixture_us": 1e6 * t_mix / n, "ratio": t_mix / t_plain}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(PRESETS), nargs="*", default=list(PRESETS))
    parser.add_argument("--qmp-with", default=None, choices=["mhsac", "sm", "paco", "d2r"])
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; median of {args.repeats} calls")
    print("| shapes | networks | T x E | plain us/transition | mixture us/transition "
          "| mixture / plain |")
    print("|---|---|---|---|---|---|")
    for preset in args.preset:
        r = measure(preset, args.qmp_with, args.repeats)
        print(f"| {r['preset']} | {r['net']} | {r['T']} x {r['E']} | {r['plain_us']:.1f} | "
              f"{r['mixture_us']:.1f} | {r['ratio']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
