"""Merge the sections of benchmarks/gpu_check.sh into one markdown table:

    python benchmarks/gpu_table.py OUT_DIR        # reads OUT_DIR/status.txt and the section logs

Rows: check | setting | figure | section status. A section that failed or ran past its limit
still gets its row, with its exit code and the last line of its log.
"""

from __future__ import annotations

import json
import os
import sys


def table_rows(log: str) -> list[list[str]]:
    """The body rows of the markdown tables in a log (header and rule rows dropped)."""
    rows = []
    for line in log.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("algo", "tasks") or cells[0].startswith("form"):
            continue
        rows.append(cells)
    return rows


def read(out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, f"{name}.log")
    return open(path, errors="replace").read() if os.path.exists(path) else ""


def status(out_dir: str) -> dict:
    out = {}
    path = os.path.join(out_dir, "status.txt")
    if os.path.exists(path):
        for line in open(path):
            name, rc, seconds = line.split()
            out[name] = (int(rc), int(seconds))
    return out


def state(sections: dict, name: str, log: str) -> str:
    if name not in sections:
        return "not run"
    rc, seconds = sections[name]
    if rc == 0:
        return f"ok, {seconds} s"
    last = next((line for line in reversed(log.splitlines()) if line.strip()), "")
    why = "time limit" if rc in (124, 137) else f"exit {rc}"
    return f"{why} after {seconds} s: {last[-120:]}"


def section_rows(out_dir: str, sections: dict, name: str, label: str, describe,
                 min_cells: int = 5) -> list[str]:
    """One row per row of a section's table, ``describe(cells) -> (setting, figure)``; one
    "no result" row when the log holds none."""
    log = read(out_dir, name)
    status = state(sections, name, log)
    rows = [describe(c) for c in table_rows(log) if len(c) >= min_cells]
    return ([f"| {label} | {setting} | {figure} | {status} |" for setting, figure in rows]
            or [f"| {label} | - | no result | {status} |"])


def training_rows(out_dir: str, run_name: str) -> list[tuple[str, str]]:
    run_dir = os.path.join(out_dir, "runs", run_name)
    rows = []
    path = os.path.join(run_dir, "eval.jsonl")
    if os.path.exists(path):
        for line in open(path):
            r = json.loads(line)
            rows.append((f"{r['env_steps']:,} env steps", f"mean success {r['eval_success']:.3f}"))
    path = os.path.join(run_dir, "summary.json")
    if os.path.exists(path):
        s = json.load(open(path))
        rows.append(("whole run", f"{s['env_steps']:,} env steps in {s['wall_s']:.0f} s "
                     f"({s['env_steps'] / max(s['wall_s'], 1e-9):,.0f} env-steps/s, compile "
                     "included)"))
    return rows


def main(argv=None) -> int:
    out_dir = (argv or sys.argv[1:])[0]
    sections = status(out_dir)
    lines = ["| check | setting | figure | section |", "|---|---|---|---|"]
    log = read(out_dir, "device")
    lines.append(f"| device | - | {log.strip().splitlines()[-1] if log.strip() else '?'} | "
                 f"{state(sections, 'device', log)} |")
    lines += section_rows(out_dir, sections, "update_throughput",
                          "update_throughput (MT10, batch 1280)",
                          lambda c: (c[0], f"{c[4]} updates/s, {c[5]} x MT-SAC"))
    for name, label in (("env_one_task", "MJX env, reach-v3"), ("env_mt10", "MJX env, MT10"),
                        ("env_mt50_tasks", "MJX env, MT50 tasks outside MT10"), ("env_mt50", "MJX env, MT50")):
        log = read(out_dir, name)
        rows = table_rows(log)
        if not rows:
            lines.append(f"| {label} | - | no result | {state(sections, name, log)} |")
        for cells in rows:
            # env_throughput's columns: tasks, E, programs, build s, compile s, step ms, physics ms, env-steps/s
            if len(cells) >= 8:
                lines.append(f"| {label} | {cells[0]}, E = {cells[1]} per task, {cells[2]} programs | "
                             f"{cells[7]} env-steps/s, step {cells[5]} ms, compile {cells[4]} s | "
                             f"{state(sections, name, log)} |")
            else:
                lines.append(f"| {label} | E = {cells[1] if len(cells) > 1 else '-'} | "
                             f"{' '.join(cells[2:])[:150]} | {state(sections, name, log)} |")
    lines += section_rows(out_dir, sections, "layouts", "layouts (MT10 shapes)",
                          lambda c: (f"{c[0]}, {c[1]}",
                                     f"plain / library {c[4]} ({c[2]} vs {c[3]} ms)"))
    for name, run_name, label in (("train_mt10_mjx", "mt10-mjx-mtsac", "MT-SAC"),
                                  ("train_mt10_mjx_brc", "mt10-mjx-brc", "brc")):
        log = read(out_dir, name)
        for setting, figure in training_rows(out_dir, run_name) or [("-", "-")]:
            lines.append(f"| mt10-mjx {label} training | {setting} | {figure} | "
                         f"{state(sections, name, log)} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
