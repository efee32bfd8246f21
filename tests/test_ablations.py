"""Every ablation script's --quick mode runs at least one cell of its grid and prints the
paper's table from it (budgets shrunk to seconds here; the scripts' own --quick budget is
larger)."""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

ABLATIONS = os.path.join(os.path.dirname(__file__), "..", "experiments", "ablations")
# Seconds per cell: 100 transitions on point-mt, tiny networks (D2R: 3 modules).
TINY_QUICK = dict(env="point-mt", total_steps=100, hidden=(8,), batch_size=20, buffer_size=500,
                  warmup_steps=50, steps_per_call=20, eval_episodes=2, eval_every=0,
                  checkpoint_every=0, compile_cache=None, d2r_modules=3, d2r_module_width=8,
                  d2r_gate_width=8, d2r_embed_dim=8)


def load_script(name, monkeypatch):
    """Import experiments/ablations/<name>.py with the tiny quick budget patched in."""
    monkeypatch.syspath_prepend(os.path.abspath(ABLATIONS))
    spec = importlib.util.spec_from_file_location(f"ablation_{name}",
                                                  os.path.join(ABLATIONS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys.modules["mtrl_jax.ablations"], "QUICK", TINY_QUICK)
    return module


def first_cell_success(out_dir, cell_name):
    """100 x mean over tasks of the first cell's run, read back from its summary.json."""
    (run,) = [d for d in os.listdir(out_dir) if d.startswith(cell_name + "-s")]
    summary = json.load(open(os.path.join(out_dir, run, "summary.json")))
    return 100 * float(np.mean(summary["eval_success"])), os.path.join(out_dir, run)


def check_first_cell(text, out_dir, module, label):
    """The printed row of the first cell holds its run's success; other cells were not run."""
    cell = module.grid()[0]
    success, run_dir = first_cell_success(out_dir, cell.name)
    rows = [line for line in text.splitlines() if line.startswith(f"| {label} |")]
    assert rows, text
    assert f"{success:.1f} +- 0.0" in rows[0]
    assert "not run" in text
    assert open(os.path.join(out_dir, "table.md")).read().strip() == text.strip()
    return run_dir


@pytest.mark.parametrize("name,label", [
    ("paco", "K = 5"),
    ("sm", "shallow"),
    ("qmp", "QMP (Q-switch)"),
    ("d2r", "D2R (SampleK top-2, ResRouting, balancing)"),
])
def test_quick_runs_first_cell_and_prints_table(name, label, tmp_path, monkeypatch, capsys):
    module = load_script(name, monkeypatch)
    out = str(tmp_path / name)
    text = module.main(["--quick", "--cells", "1", "--out-dir", out])
    run_dir = check_first_cell(text, out, module, label)
    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    assert cfg["env"] == "point-mt" and cfg["total_steps"] == 100
    for key, value in module.grid()[0].overrides.items():
        assert cfg[key] == value, key
    assert text in capsys.readouterr().out


def test_finished_cells_are_reused_and_failed_cells_reported(tmp_path, monkeypatch):
    module = load_script("sm", monkeypatch)
    out = str(tmp_path / "sm")
    first = module.main(["--quick", "--cells", "1", "--out-dir", out])
    summary = os.path.join(out, "shallow-s0", "summary.json")
    stamp = os.path.getmtime(summary)
    again = module.main(["--quick", "--cells", "1", "--out-dir", out])
    assert again == first and os.path.getmtime(summary) == stamp
    # an unfinished folder without a checkpoint: reported and skipped, not a crash
    os.makedirs(os.path.join(out, "deep-s0"))
    open(os.path.join(out, "deep-s0", "config.json"), "w").write("{}")
    text = module.main(["--quick", "--cells", "2", "--out-dir", out])
    deep = [line for line in text.splitlines() if line.startswith("| deep |")][0]
    assert "n/a" in deep


def test_paper_budget_is_the_default(monkeypatch):
    module = load_script("paco", monkeypatch)
    common = sys.modules["mtrl_jax.ablations"]
    args = common.parse_args("x", module.SEEDS, [])
    assert args.seeds == list(range(10)) and not args.quick
    assert "env" not in common.base_overrides(args)   # Config default: mt10, 20M steps
    from mtrl_jax.config import Config, resolve
    cfg = resolve(Config(**module.grid()[1].overrides, **common.base_overrides(args)))
    assert cfg.env == "mt10" and cfg.total_steps == 20_000_000 and cfg.paco_k == 3
