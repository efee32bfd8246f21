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


def _mjx_figures(task: str, mt10: dict):
    """(MJX success, env step ms, compile s) as table cells, or None when not run."""
    mjx = _load("mjx", task)
    if mjx:
        return f"{100 * mjx['mjx_all']:.0f}%", f"{mjx['step_ms']:.0f}", f"{mjx['compile']:.0f}"
    if task in mt10:
        comp, step, m = mt10[task]
        return m, step, comp
    return None


def program_sums(text: str) -> str:
    """The single-task figures summed the way the 50-task program adds them up: step ms over the
    tasks (a shared scene steps its tasks' envs in one batch, so its cost grows with them), compile
    s over the scenes (one physics program per scene; the largest of its tasks' compiles, since a
    task can hit the cache on another's program)."""
    from mtrl_jax.envs.mjx.env import scene_key
    from mtrl_jax.envs.mw_tasks import MT50_TASKS

    mt10 = _mt10_mjx_rows(text)
    step, compile_by_scene, n = 0.0, {}, 0
    for task in MT50_TASKS:
        fig = _mjx_figures(task, mt10)
        if fig is None:
            continue
        n += 1
        step += float(fig[1])
        key = scene_key(task)
        compile_by_scene[key] = max(compile_by_scene.get(key, 0.0), float(fig[2]))
    scenes = len({scene_key(t) for t in MT50_TASKS})
    return (f"Sums of the single-task figures (E = 64, tasks with an MJX run: {n} of 50): env step "
            f"{step / 1e3:.1f} s over the tasks, compile {sum(compile_by_scene.values()) / 60:.0f} min over "
            f"their {len(compile_by_scene)} scenes (of {scenes}).")


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
        cpu = _load("cpu_port", task)
        changed = ", ".join(info["retyped"] + info["added"]) or "-"
        stock = f"{100 * cpu['stock']:.0f}%" if cpu else "not run"
        port = f"{100 * cpu['port']:.0f}%" if cpu else "not run"
        m, step, comp = _mjx_figures(task, mt10) or ("not run",) * 3
        lines.append(f"| {task} | {'yes' if task in MT10_TASKS else '-'} | {len(info['pairs'])} | {changed} | "
                     f"{stock} | {port} | {m} | {step} | {comp} |")
    return "\n".join(lines + ["", program_sums(text)])


def main():
    from .parity import write_block

    path = os.path.join(DOCS, "mjx_port.md")
    body = table(open(path).read())
    write_block(path, BEGIN, END, body)
    print(body)


if __name__ == "__main__":
    main()
