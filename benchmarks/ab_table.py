"""The ratios of benchmarks/ab.sh's logs: after / before per method and round, and their
median (above 1: the working tree is faster).

    python benchmarks/ab_table.py OUT_DIR
"""

from __future__ import annotations

import glob
import os
import re
import sys

import numpy as np

# log name -> (column read per method row, what it is)
COLUMNS = {"update_throughput": ("updates/s (scan)", "SAC updates/s"),
           "host_loop": ("overlapped loop", "env-steps/s of the host loop")}


def table_rows(path: str, column: str) -> dict[str, float]:
    """{method: value of ``column``} from the markdown table in a benchmark's log."""
    lines = [ln for ln in open(path) if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    col = next(i for i, name in enumerate(header) if name.startswith(column))
    out = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        out[cells[0]] = float(re.sub(r"[^0-9.eE+-]", "", cells[col]))
    return out


def main(argv=None) -> int:
    out_dir = (argv or sys.argv[1:])[0]
    lines = ["| benchmark | method | before | after | after / before |", "|---|---|---|---|---|"]
    for name, (column, what) in COLUMNS.items():
        sides = {}
        for side in ("before", "after"):
            logs = sorted(glob.glob(os.path.join(out_dir, f"{name}-{side}-*.log")))
            sides[side] = [table_rows(p, column) for p in logs]
        if not sides["before"]:
            continue
        for method in sides["before"][0]:
            before = [r[method] for r in sides["before"]]
            after = [r[method] for r in sides["after"]]
            ratio = np.median([a / b for a, b in zip(after, before)])
            lines.append(f"| {what} | {method} | {np.median(before):.2f} | "
                         f"{np.median(after):.2f} | {ratio:.2f} |")
    engine = []
    for path in sorted(glob.glob(os.path.join(out_dir, "host_loop-after-*.log"))):
        loop, chunk = table_rows(path, "overlapped loop"), table_rows(path, "engine")
        engine += [(m, chunk[m] / loop[m]) for m in loop]
    for method in dict(engine):
        ratio = np.median([r for m, r in engine if m == method])
        lines.append(f"| engine chunk / overlapped loop (after) | {method} | - | - | {ratio:.2f} |")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out_dir, "ab_table.md"), "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
