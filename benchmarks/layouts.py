"""The library's backend-specific forms against their plain forms, inside the SAC update.

    python benchmarks/layouts.py [--rounds 5] [--iters 10] [--out FILE.md]

Each pair computes the same values (tests/test_layouts.py); the library uses the first form,
chosen on XLA:CPU. For each pair the MT10 update of the method that uses it (batch 1280, the
paper's sizes) is compiled twice, once with the plain form swapped in for the library's, and
the two are timed interleaved, round by round, so that the ratio plain / library of one run
compares them under the same load (best round of each). A ratio above 1: the library's form is
faster here. The docstring of each library form quotes the CPU figure; benchmarks/gpu_check.sh
runs this script on a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import platform

import jax

from mtrl_jax.agents import sac as sac_module
from mtrl_jax.nets import care, d2r, paco

# (what, algo, module, library form's name, plain form)
PAIRS = (
    ("twin critics: loop / vmap (agents.sac)", "paco", sac_module, "twin_apply_loop",
     sac_module.twin_apply_vmap),
    ("composition Phi w: hand-written / autodiff gradient (nets.paco)", "paco", paco,
     "compose_params", paco.compose_params_autodiff),
    ("route selection: running max / lax.top_k (nets.d2r)", "d2r", d2r, "select_sources",
     d2r.select_sources_top_k),
    ("softmax normaliser: by columns / jax.nn.logsumexp (nets.d2r)", "d2r", d2r,
     "row_logsumexp", lambda x: jax.nn.logsumexp(x, axis=-1, keepdims=True)),
    ("encoder mixture: side by side / vmap (nets.care)", "care", care, "mix_encoders",
     care.mix_encoders_vmap),
)


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
    from update_throughput import best_time, prepare
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    lines = [f"layouts on {device.platform} ({device.device_kind}, {platform.machine()}), "
             f"jax {jax.__version__}: MT10 update (batch 1280), best of {args.rounds} "
             "interleaved rounds", "",
             "| form: library / plain | method | library (ms) | plain (ms) | plain / library |",
             "|---|---|---|---|---|"]
    for what, algo, module, name, plain_form in PAIRS:
        library = prepare(algo, 10, 1280, 1)["call"]
        jax.block_until_ready(library[0](*library[1]))
        with swapped(module, name, plain_form):   # traced (and cached) with the plain form
            plain = prepare(algo, 10, 1280, 1)["call"]
            jax.block_until_ready(plain[0](*plain[1]))
        t_lib = t_plain = float("inf")
        for _ in range(args.rounds):
            t_lib = min(t_lib, best_time(library[0], *library[1], reps=args.iters))
            t_plain = min(t_plain, best_time(plain[0], *plain[1], reps=args.iters))
        lines.append(f"| {what} | {algo} | {1e3 * t_lib:.1f} | {1e3 * t_plain:.1f} | "
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
