"""The library's backend-specific forms against their plain forms: the op alone, and inside
the SAC update.

    python benchmarks/layouts.py [--rounds 5] [--iters 10] [--out FILE.md]

Each pair computes the same values (tests/test_layouts.py); the library uses the first form,
chosen on XLA:CPU. Per pair: the op alone at the MT10 shapes of its method (forward + backward
where the library differentiates it), then the MT10 update of that method (batch 1280, the
paper's sizes) compiled twice, once with the plain form swapped in for the library's. Each
pair is timed interleaved, round by round, so that the ratio plain / library of one run
compares the two under the same load (best round of each). A ratio above 1: the library's form
is faster here. The docstring of each library form quotes the CPU figures;
benchmarks/gpu_check.sh runs this script on a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import platform

import jax

import jax.numpy as jnp

from mtrl_jax.agents import sac as sac_module
from mtrl_jax.agents.sac import task_onehots
from mtrl_jax.nets import care, d2r, paco
from mtrl_jax.nets.base import StackedMLPParams, mlp_layers

T, N, OBS, ACT = 10, 128, 39, 4          # MT10: batch 1280 = 10 tasks x 128

# (what, algo, module, library form's name, plain form)
PAIRS = (
    ("twin critics: loop / vmap (agents.sac)", "paco", sac_module, "twin_apply_loop",
     sac_module.twin_apply_vmap),
    ("composition Phi w: hand-written / autodiff gradient (nets.paco)", "paco", paco,
     "compose_params", paco.compose_params_autodiff),
    ("route selection: running max / lax.top_k (nets.d2r)", "d2r", d2r, "select_sources",
     d2r.select_sources_top_k),
    ("encoder mixture: side by side / vmap (nets.care)", "care", care, "mix_encoders",
     care.mix_encoders_vmap),
)


def with_grad(f):
    """Forward + backward: the gradient of sum(sin(f(a, b))) with respect to a and b."""
    return jax.jit(jax.grad(lambda a, b: jnp.sum(jnp.sin(f(a, b))), argnums=(0, 1)))


def twin_op(form):
    key = jax.random.PRNGKey(0)
    net = paco.make_paco_net(OBS + ACT, 1, (400, 400, 400), 5)
    params = jax.vmap(net.init)(jax.random.split(key, 2))
    x, onehot = jax.random.normal(key, (T, N, OBS + ACT)), task_onehots(T, N)
    shared = jax.random.normal(key, (T, 5))                   # each group's w (G, K)
    return with_grad(lambda p, s: form(net, p, x, onehot, None, {"shared": s})), (params, shared)


def compose_op(form):
    key = jax.random.PRNGKey(1)
    return with_grad(form), (jax.random.normal(key, (5, 400, 400)), jax.random.normal(key, (T, 5)))


def select_op(form):
    scores, cand = jax.random.normal(jax.random.PRNGKey(2), (T, N, 16, 16)), d2r.candidate_mask(16)
    return jax.jit(lambda s, _: form(s, 2, cand)), (scores, 0)


def mixture_op(form):
    key = jax.random.PRNGKey(4)
    encoders = mlp_layers(StackedMLPParams((OBS, 50, 50), 6).init(key)["params"])
    state = jax.random.normal(key, (T, N, OBS))
    alpha = jax.nn.softmax(jax.random.normal(key, (T, 6)), -1)
    return with_grad(lambda e, a: form(e, state, a)), (encoders, alpha)


OPS = {"twin_apply_loop": twin_op, "compose_params": compose_op,
       "select_sources": select_op, "mix_encoders": mixture_op}


def interleaved(a, b, rounds: int, iters: int) -> tuple[float, float]:
    """Best seconds per call of (fn, args) pairs ``a`` and ``b``, timed round by round."""
    from update_throughput import best_time
    jax.block_until_ready(a[0](*a[1]))
    jax.block_until_ready(b[0](*b[1]))
    t_a = t_b = float("inf")
    for _ in range(rounds):
        t_a = min(t_a, best_time(a[0], *a[1], reps=iters))
        t_b = min(t_b, best_time(b[0], *b[1], reps=iters))
    return t_a, t_b


@contextlib.contextmanager
def swapped(module, name: str, form):
    """``module.name`` replaced by ``form`` while programs are traced."""
    original = getattr(module, name)
    setattr(module, name, form)
    try:
        yield
    finally:
        setattr(module, name, original)


def main(argv=None) -> int:
    from update_throughput import prepare
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    lines = [f"layouts on {device.platform} ({device.device_kind}, {platform.machine()}), "
             f"jax {jax.__version__}: MT10 shapes, best of {args.rounds} interleaved rounds",
             "", "| form: library / plain | in | library (ms) | plain (ms) | plain / library |",
             "|---|---|---|---|---|"]
    for what, algo, module, name, plain_form in PAIRS:
        t_lib, t_plain = interleaved(OPS[name](getattr(module, name)), OPS[name](plain_form),
                                     args.rounds, args.iters)
        lines.append(f"| {what} | the op alone | {1e3 * t_lib:.2f} | {1e3 * t_plain:.2f} | "
                     f"{t_plain / t_lib:.2f} |")
        print(lines[-1], flush=True)
        library = prepare(algo, 10, 1280, 1)["call"]
        jax.block_until_ready(library[0](*library[1]))
        with swapped(module, name, plain_form):   # traced (and cached) with the plain form
            plain = prepare(algo, 10, 1280, 1)["call"]
            jax.block_until_ready(plain[0](*plain[1]))
        t_lib, t_plain = interleaved(library, plain, args.rounds, args.iters)
        lines.append(f"| {what} | {algo} update | {1e3 * t_lib:.1f} | {1e3 * t_plain:.1f} | "
                     f"{t_plain / t_lib:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print("\n" + text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
