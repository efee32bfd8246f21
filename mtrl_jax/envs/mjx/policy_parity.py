"""A trained policy on the stock scene and on the port's scene, both stepped by CPU MuJoCo, on the
same goals: where the expert parity (``parity.py``) checks the port along the experts' paths, this
checks it along the paths a learned policy takes. It also counts the contacts of the stock
episodes and marks the ones the port has no pair for.

    python -m mtrl_jax.envs.mjx.policy_parity runs/metaworld_sac/drawer-close-v3-cpu-s0 --goals 20

The run must be an MT1 run (``--env mt1`` or ``mt1-mjx``); its greedy policy (tanh of the mean,
the evaluation action) acts.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

import numpy as np

HAND_BODY = "right_hand"
TABLE_BODY = "tablelink"


class GreedyPolicy:
    """``get_action(obs (39,)) -> (4,)`` from a run's latest checkpoint (one seed)."""

    def __init__(self, run_dir: str, seed: int | None = None):
        import jax
        import jax.numpy as jnp

        from mtrl_jax.figures import greedy_action, load_networks
        self.nets = load_networks(run_dir, seed)
        if hasattr(self.nets.env, "close"):
            self.nets.env.close()
        self._act = jax.jit(lambda o: greedy_action(self.nets, o))
        self._jnp = jnp

    def get_action(self, obs):
        o = self._jnp.asarray(np.asarray(obs, np.float32)[None, None])
        return np.asarray(self._act(o)).reshape(-1)


def geom_labels(model) -> list:
    """Per geom: "body/geom", unnamed geoms as ``__g<index>`` (the names ``scene.py`` gives)."""
    import mujoco
    out = []
    for i in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, i) or f"__g{i}"
        b = int(model.geom_bodyid[i])
        body = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b) or f"__b{b}"
        out.append((body, name))
    return out


def stock_episode(task: str, rand_vec, policy, n_steps: int = 500):
    """Returns (success, Counter of hand contacts: (hand geom, other geom) -> steps)."""
    from mtrl_jax.envs.mjx.scene import in_subtree
    from mtrl_jax.envs.mw_tasks import cpu_ref
    env = cpu_ref.make_cpu_env(task, rand_vec)
    model = env.model
    labels = geom_labels(model)
    hand = [in_subtree(model, i, HAND_BODY) for i in range(model.ngeom)]
    contacts: collections.Counter = collections.Counter()
    obs, _ = env.reset()
    success = False
    for _ in range(n_steps):
        obs, _, _, truncated, info = env.step(np.clip(policy.get_action(obs), -1, 1).astype(np.float32))
        success |= bool(info["success"])
        seen = set()
        for k in range(env.data.ncon):
            g1, g2 = int(env.data.contact.geom1[k]), int(env.data.contact.geom2[k])
            if hand[g1] == hand[g2]:
                continue
            a, b = (g1, g2) if hand[g1] else (g2, g1)
            seen.add((labels[a], labels[b]))
        contacts.update(seen)
        if truncated:
            break
    env.close()
    return success, contacts


def port_pairs(task: str) -> tuple[set, dict]:
    """The port's pairs as unordered geom-name pairs, and {stock geom: the port geoms that stand
    in for it} (itself, and the bounding box the port adds for a mesh)."""
    from mtrl_jax.envs.mjx.scene import build_port_spec
    _, info = build_port_spec(task)
    stand_ins: dict = {}
    for added, stock in info["stands_for"].items():
        stand_ins.setdefault(stock, []).append(added)
    return {frozenset(p) for p in info["pairs"]}, stand_ins


def compare(task: str, rand_vecs, policy, n_steps: int = 500) -> dict:
    """Success per goal on the stock scene and on the port scene (CPU MuJoCo), and the stock
    hand contacts (``policy.reset()``, if it has one, runs before each episode) with the number of episode steps they occur in and whether the port has them."""
    from mtrl_jax.envs.mjx import cpu_port, port_model
    from mtrl_jax.envs.mjx.scene import TABLE
    stock, port, contacts = [], [], collections.Counter()
    m = port_model(task)
    reset = getattr(policy, "reset", lambda: None)
    for rv in rand_vecs:
        reset()
        ok, c = stock_episode(task, rv, policy, n_steps)
        stock.append(ok)
        contacts.update(c)
        reset()
        port.append(bool(cpu_port.run_episode(task, m, rv, n_steps, policy=policy)["success"].any()))
    pairs, stand_ins = port_pairs(task)
    rows = []
    for ((hb, hg), (ob, og)), steps in contacts.most_common():
        other = TABLE if ob == TABLE_BODY else og
        in_port = any(frozenset((h, other)) in pairs for h in [hg] + stand_ins.get(hg, []))
        rows.append(dict(hand=f"{hb}/{hg}", other=f"{ob}/{og}", steps=steps, in_port=in_port))
    return dict(task=task, goals=len(rand_vecs), stock_success=float(np.mean(stock)),
                port_success=float(np.mean(port)), stock=stock, port=port, contacts=rows)


def markdown(result: dict) -> str:
    lines = [f"{result['task']}: greedy policy success on {result['goals']} goals, stock scene "
             f"{result['stock_success']:.2f}, port scene {result['port_success']:.2f} (CPU MuJoCo)",
             "", "| hand geom | touches | episode steps | pair in the port |", "|---|---|---|---|"]
    lines += [f"| {r['hand']} | {r['other']} | {r['steps']} | {'yes' if r['in_port'] else 'no'} |"
              for r in result["contacts"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    from mtrl_jax.envs.mjx.scene import PORT_PAIRS
    from mtrl_jax.envs.mw_tasks import sample_rand_vecs
    from mtrl_jax.figures import load_config
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--goals", type=int, default=20, help="the first N of the run's 50 goals")
    ap.add_argument("--seed", type=int, help="which seed of a multi-seed run (default: its first)")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args(argv)
    cfg = load_config(args.run_dir)
    if cfg.env not in ("mt1", "mt1-mjx") or cfg.mt1_task not in PORT_PAIRS:
        print(f"error: {args.run_dir} is --env {cfg.env} --mt1-task {cfg.mt1_task}; this needs an "
              f"MT1 run of a task the port has ({', '.join(PORT_PAIRS)})", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else (cfg.seeds or (cfg.seed,))[0]
    goals = sample_rand_vecs((cfg.mt1_task,), seed)[cfg.mt1_task][: args.goals]
    result = compare(cfg.mt1_task, goals, GreedyPolicy(args.run_dir, args.seed), args.steps)
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
