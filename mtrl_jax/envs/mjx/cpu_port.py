"""The MJX port's scenes stepped by CPU MuJoCo (``mj_step``), with the same action mapping, reset
and task logic as the MJX env. A quick way to check a scene change (no MJX compile), and a
third column in the parity report (original scene vs port scene vs port on MJX)."""

from __future__ import annotations

import os

import numpy as np

from mtrl_jax.envs.mw_tasks import FRAME_SKIP, MOCAP_QUAT, SPECS, evaluate, hand_mocap_target, reset_obs
from mtrl_jax.envs.mw_tasks import cpu_ref


def run_episode(task, model, rand_vec, n_steps=500, policy="expert", seed=0, stop_after_success=None):
    """``policy``: "expert", "random" or an object with ``get_action`` (see
    ``cpu_ref.make_policy``). Returns dict(success (n,), reward (n,), hand (n,3), obj (n,3))."""
    import jax
    import mujoco
    from mtrl_jax.jax_compat import enable_x64

    spec = SPECS[task]
    data = mujoco.MjData(model)
    probe_fn = cpu_ref._probe_cache(task, model)
    pol = cpu_ref.make_policy(task, policy)
    rng = np.random.default_rng(seed)
    hand = int(model.body_mocapid[model.body("mocap").id])
    out = dict(success=[], reward=[], hand=[], obj=[])
    with enable_x64():
        consts, placed = cpu_ref.reset_cpu(task, model, data, rand_vec)
        obs, curr = reset_obs(spec, placed, consts)
        obs = np.array(obs)
        ev = jax.jit(lambda p, prev, c, a: evaluate(spec, p, prev, c, a))
        first = None
        for t in range(n_steps):
            if first is not None and stop_after_success is not None and t >= first + stop_after_success:
                break
            a = pol.get_action(obs) if pol is not None else rng.uniform(-1, 1, 4)
            a = np.asarray(a, np.float32)
            data.mocap_pos[hand] = hand_mocap_target(spec, a, data.mocap_pos, hand, xp=np)
            data.mocap_quat[hand] = MOCAP_QUAT
            data.ctrl[:] = [a[3], -a[3]]
            mujoco.mj_step(model, data, nstep=FRAME_SKIP)
            mujoco.mj_forward(model, data)
            p = cpu_ref._np_probe(probe_fn, data)
            o, curr, r, s = ev(p, curr, consts, a.astype(np.float64))
            obs = np.array(o)
            out["success"].append(bool(s))
            out["reward"].append(float(r))
            out["hand"].append(obs[:3].copy())
            out["obj"].append(obs[4:7].copy())
            if s and first is None:
                first = t
    return {k: np.asarray(v) for k, v in out.items()}


CHECK_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "mjx_port", "cpu_port")


def expert_check(task: str, n_goals: int = 10, n_steps: int = 500, seed: int = 0) -> dict:
    """The scripted expert on the first ``n_goals`` of MT1's goals for ``seed``: on the stock
    scene (CPU Meta-World) and on the port scene (CPU MuJoCo). Each episode stops at its first
    success. Returns per-goal successes and first-success steps (-1: none) of both, and the
    port scene's pair count."""
    from mtrl_jax.envs.mw_tasks import sample_rand_vecs

    from .scene import build_port_spec, port_model

    rvs = sample_rand_vecs((task,), seed)[task][:n_goals]
    first = lambda s: int(np.argmax(s)) if np.any(s) else -1  # noqa: E731
    stock = [first(cpu_ref.record(task, rv, n_steps, policy="expert", stop_after_success=1)["success"]) for rv in rvs]
    model = port_model(task)
    port = [first(run_episode(task, model, rv, n_steps, stop_after_success=1)["success"]) for rv in rvs]
    _, info = build_port_spec(task)
    return dict(task=task, seed=seed, n_steps=n_steps, stock_first=stock, port_first=port,
                stock=float(np.mean([s >= 0 for s in stock])), port=float(np.mean([s >= 0 for s in port])),
                pairs=len(info["pairs"]), retyped=info["retyped"], added=info["added"])


def main(argv=None):
    """``python -m mtrl_jax.envs.mjx.cpu_port --tasks hammer-v3 ... [--goals 10]``: writes one
    JSON per task under docs/mjx_port/cpu_port/ and prints stock vs port success."""
    import argparse
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", nargs="+", required=True)
    ap.add_argument("--goals", type=int, default=10)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(CHECK_DIR, exist_ok=True)
    for task in args.tasks:
        row = expert_check(task, args.goals, args.steps)
        print(f"{task}: stock {row['stock']:.2f} port {row['port']:.2f} pairs {row['pairs']} "
              f"first success stock {row['stock_first']} port {row['port_first']}", flush=True)
        if not args.no_write:
            with open(os.path.join(CHECK_DIR, f"{task}.json"), "w") as f:
                json.dump(row, f, indent=1)


if __name__ == "__main__":
    main()
