"""The MT50 table's sums of the single-task MJX figures (mtrl_jax.envs.mjx.port_table)."""

from mtrl_jax.envs.mjx import port_table


def test_program_sums_add_steps_per_task_and_compiles_per_scene(monkeypatch):
    # drawer-open and drawer-close share one port scene; reach has its own
    figures = {"drawer-open-v3": dict(mjx_all=1.0, step_ms=300.0, compile=400.0),
               "drawer-close-v3": dict(mjx_all=1.0, step_ms=200.0, compile=100.0),
               "reach-v3": dict(mjx_all=1.0, step_ms=240.0, compile=80.0)}
    monkeypatch.setattr(port_table, "_load", lambda kind, task: figures.get(task) if kind == "mjx" else None)
    line = port_table.program_sums("")
    # step: 300 + 200 + 240 ms (0.5 s without reach or with the largest per scene); compile:
    # max(400, 100) + 80 s = 8 min (10 min summed over tasks, 7 min without reach)
    assert "tasks with an MJX run: 3 of 50" in line
    assert "env step 0.7 s over the tasks" in line
    assert "compile 8 min over their 2 scenes (of 40)" in line
