"""Where one SAC update's time goes, per kind of XLA op (CPU), for one ``--algo`` at its MT10
configuration: runs the scanned update of ``update_throughput.py`` under the JAX profiler with
XLA's per-op trace events on, and sums the events by op kind (the HLO name without its number):

    python benchmarks/op_profile.py --algo d2r
    python benchmarks/op_profile.py --algo paco --top 30 --ops 15

Columns: ms per update, events per update, op kind. ``--ops N`` also lists the N slowest single
ops with their HLO result shape. Caveat: XLA:CPU may run a large dot asynchronously on its
thread pool, so the trace can undercount dots and overcount whatever runs beside them; compare
kinds between variants of one method rather than reading the times as exact.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_cpu_enable_xprof_traceme=true")
import jax  # noqa: E402

from update_throughput import prepare  # noqa: E402

# trace events that are not XLA ops: runtime bookkeeping, Python frames, fusion wrappers
NOT_OPS = ("$", "Thunk", "Pjit", "PjRt", "Parse", "call.")


def op_kind(name: str) -> str:
    """'multiply_add_fusion.28.clone' -> 'multiply_add_fusion'."""
    return re.sub(r"(\.\d+)?(\.clone)?$", "", name)


def hlo_shapes(hlo_text: str) -> dict[str, str]:
    """HLO instruction name -> its result shape, from an optimized HLO module's text."""
    shapes = {}
    for m in re.finditer(r"^\s*(?:ROOT )?%([\w.\-]+) = (\S+)", hlo_text, re.M):
        shapes[m.group(1)] = m.group(2)
    return shapes


def profile(algo: str, scan: int, calls: int, trace_dir: str) -> tuple[dict, dict, str]:
    """Per-event-name total microseconds and counts over ``calls`` x ``scan`` updates, and the
    optimized HLO of the scanned program."""
    prepared = prepare(algo, 10, 1280, scan)
    fn, args = prepared["scan"]
    for _ in range(2):
        jax.block_until_ready(fn(*args))                   # compiled and warm
    options = jax.profiler.ProfileOptions()
    options.host_tracer_level = 3                          # XLA's per-op events
    jax.profiler.start_trace(trace_dir, profiler_options=options)
    for _ in range(calls):
        out = fn(*args)
    jax.block_until_ready(out)
    jax.profiler.stop_trace()
    files = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)
    if not files:
        raise RuntimeError(f"the profiler wrote no trace under {trace_dir}")
    with gzip.open(files[0]) as f:
        events = json.load(f)["traceEvents"]
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("ph") == "X" and not e["name"].startswith(NOT_OPS) and " " not in e["name"]:
            total[e["name"]] += e["dur"]
            count[e["name"]] += 1
    hlo = fn.lower(*args).compile().as_text()
    return total, count, hlo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="d2r")
    parser.add_argument("--scan", type=int, default=3, help="updates per scanned call")
    parser.add_argument("--calls", type=int, default=2, help="scanned calls traced")
    parser.add_argument("--top", type=int, default=25, help="op kinds listed")
    parser.add_argument("--ops", type=int, default=0, help="slowest single ops listed")
    args = parser.parse_args(argv)
    if jax.default_backend() != "cpu":
        print(f"note: per-op events are XLA:CPU's; on {jax.default_backend()} use "
              "the profiler's device trace (TensorBoard) instead")
    with tempfile.TemporaryDirectory() as trace_dir:
        total, count, hlo = profile(args.algo, args.scan, args.calls, trace_dir)
    updates = args.scan * args.calls
    kinds, kind_count = collections.Counter(), collections.Counter()
    for name, us in total.items():
        kinds[op_kind(name)] += us
        kind_count[op_kind(name)] += count[name]
    print(f"{args.algo}: {sum(total.values()) / updates / 1e3:.1f} ms of traced ops per update\n")
    print("| ms/update | ops/update | op kind |\n|---|---|---|")
    for kind, us in kinds.most_common(args.top):
        print(f"| {us / updates / 1e3:.2f} | {kind_count[kind] / updates:.0f} | {kind} |")
    if args.ops:
        shapes = hlo_shapes(hlo)
        print("\n| ms/update | op | result shape |\n|---|---|---|")
        for name, us in total.most_common(args.ops):
            shape = shapes.get(name, shapes.get(re.sub(r"\.clone$", "", name), "?"))
            print(f"| {us / updates / 1e3:.2f} | {name} | {shape} |")
    return kinds


if __name__ == "__main__":
    main()
