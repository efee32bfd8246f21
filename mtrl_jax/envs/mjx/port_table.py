"""The MT50 table of docs/mjx_port.md (between the mt50-table markers), from the per-task results
the checks write: ``cpu_port.py`` (docs/mjx_port/cpu_port/TASK.json: the expert on the stock scene
and on the port scene, both CPU) and ``parity.py`` (docs/mjx_port/mjx/TASK.json: the expert on
MJX, compile and step time). MT10 tasks without an MJX JSON take their MJX columns from the MT10
table above it (parity markers).

    python -m mtrl_jax.envs.mjx.port_table
"""

from __future__ import annotations

import json
import os

HERE = os.path.dirname(__file__)
DOCS = os.path.join(HERE, "..", "..", "..", "docs")
BEGIN, END = "<!-- mt50-table:begin -->", "<!-- mt50-table:end -->"


def _load(kind: str, task: str):
    path = os.path.join(DOCS, "mjx_port", kind, f"{task}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _mt10_mjx_rows(text: str) -> dict:
    """task -> (compile s, env step ms, MJX 64 envs success) from the MT10 parity table."""
    out = {}
    if "<!-- parity:begin -->" not in text:
        return out
    block = text[text.index("<!-- parity:begin -->"):text.index("<!-- parity:end -->")]
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[0].endswith("-v3"):
            out[cells[0]] = (cells[2], cells[3], cells[7])
    return out


def table(text: str) -> str:
    from mtrl_jax.envs.mjx.scene import PORT_PAIRS, build_port_spec
    from mtrl_jax.envs.mw_tasks import MT10_TASKS, MT50_TASKS, SPECS

    mt10 = _mt10_mjx_rows(text)
    lines = ["| task | MT10 | pairs | retyped bodies / added geoms | expert CPU Meta-World (10 goals) | "
             "port scene, CPU MuJoCo (same goals) | MJX port (64 envs, 50 goals) | env step ms (E=64) | "
             "compile s (E=64) |", "|---" * 9 + "|"]
    for task in MT50_TASKS:
        if task not in PORT_PAIRS:
            logic = "logic only (parity passed)" if task in SPECS else "not started"
            lines.append(f"| {task} | - | {logic} | - | - | - | - | - | - |")
            continue
        _, info = build_port_spec(task)
        cpu, mjx = _load("cpu_port", task), _load("mjx", task)
        changed = ", ".join(info["retyped"] + info["added"]) or "-"
        stock = f"{100 * cpu['stock']:.0f}%" if cpu else "not run"
        port = f"{100 * cpu['port']:.0f}%" if cpu else "not run"
        if mjx:
            m, step, comp = f"{100 * mjx['mjx_all']:.0f}%", f"{mjx['step_ms']:.0f}", f"{mjx['compile']:.0f}"
        elif task in mt10:
            comp, step, m = mt10[task]
        else:
            m = step = comp = "not run"
        lines.append(f"| {task} | {'yes' if task in MT10_TASKS else '-'} | {len(info['pairs'])} | {changed} | "
                     f"{stock} | {port} | {m} | {step} | {comp} |")
    return "\n".join(lines)


def main():
    from .parity import write_block

    path = os.path.join(DOCS, "mjx_port.md")
    body = table(open(path).read())
    write_block(path, BEGIN, END, body)
    print(body)


if __name__ == "__main__":
    main()
