"""The run folder across crashes and resumes, the memory check and the optional W&B writer."""

import json
import os
import signal
import subprocess
import sys
import types

import numpy as np

from mtrl_jax.cli import run as run_cli
from mtrl_jax.config import Config
from mtrl_jax.experiment import run

sys.path.insert(0, os.path.dirname(__file__))
from test_train import TINY, assert_trees_equal, final_state, tiny  # noqa: E402

KILL_AT_SAVE = """
import os, signal, sys
from mtrl_jax import checkpoint, experiment
from mtrl_jax.config import Config
real_save = checkpoint.save
def save(run_dir, step, state):
    if step == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    real_save(run_dir, step, state)
checkpoint.save = save
experiment.run(Config(**{cfg}))
"""


def rows(run_dir, name):
    with open(os.path.join(run_dir, name)) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_kill_at_a_checkpoint_write_then_resume_equals_the_uninterrupted_run(tmp_path):
    """A process killed (SIGKILL) as it writes the checkpoint at 200 logged the 200 row first;
    --resume restores 100, drops the rows past it, and ends bit-exactly where an uninterrupted run
    ends, with every env_steps row once."""
    whole = run(tiny(tmp_path, "whole", total_steps=300, checkpoint_every=100, eval_every=100))
    cfg = {**TINY, "out_dir": str(tmp_path), "run_name": "killed", "total_steps": 300,
           "checkpoint_every": 100, "eval_every": 100}
    proc = subprocess.run([sys.executable, "-c", KILL_AT_SAVE.format(kill_at=200, cfg=repr(cfg))],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    killed = os.path.join(str(tmp_path), "killed")
    assert [r["env_steps"] for r in rows(killed, "eval.jsonl")] == [100, 200]  # the stale row
    resumed = run(Config(resume=killed, progress=False, compile_cache=None))
    assert resumed["env_steps"] == 300
    assert_trees_equal(final_state(whole["run_dir"])["sac"], final_state(killed)["sac"])
    for name in ("metrics.jsonl", "eval.jsonl"):
        steps = [(r["env_steps"], "eval_success" in r) for r in rows(killed, name)]
        assert len(steps) == len(set(steps)), (name, steps)
        assert steps == [(r["env_steps"], "eval_success" in r)
                         for r in rows(whole["run_dir"], name)]
    with open(os.path.join(killed, "metrics.csv")) as f:
        csv_steps = [line.split(",")[0] for line in f.read().splitlines()[1:]]
    assert csv_steps == ["100", "200", "300"]


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_over(tmp_path, capsys):
    """No complete checkpoint: --resume starts the run from scratch with a one-line notice, and the
    folder ends as a fresh run's would."""
    fresh = run(tiny(tmp_path, "fresh", total_steps=200))
    broken = run(tiny(tmp_path, "broken", total_steps=200))["run_dir"]
    for name in ("checkpoints", "summary.json"):
        path = os.path.join(broken, name)
        subprocess.run(["rm", "-rf", path], check=True)
    capsys.readouterr()
    assert run_cli.main(["--resume", broken, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "starting it again from scratch" in err
    assert_trees_equal(final_state(fresh["run_dir"])["sac"], final_state(broken)["sac"])
    assert ([r["env_steps"] for r in rows(broken, "metrics.jsonl")]
            == [r["env_steps"] for r in rows(fresh["run_dir"], "metrics.jsonl")])
    saved = json.load(open(os.path.join(broken, "config.json")))
    assert saved["resume"] is None and saved["run_name"] == "broken"


def test_buffer_larger_than_free_memory_exits_2_before_writing(tmp_path, capsys, monkeypatch):
    import mtrl_jax.experiment as experiment
    monkeypatch.setattr(experiment, "free_memory_bytes", lambda: 10_000)
    code = run_cli.main(["--env", "point-mt", "--out-dir", str(tmp_path), "--no-progress",
                         "--buffer-size", "5000"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "the replay buffer needs" in err and len(err.splitlines()) == 1
    assert not os.listdir(tmp_path)


def test_wandb_missing_exits_2_with_the_pip_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    code = run_cli.main(["--env", "point-mt", "--out-dir", str(tmp_path), "--no-progress",
                         "--wandb", "proj"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "pip install wandb" in err and len(err.splitlines()) == 1
    assert not os.listdir(tmp_path)


def test_wandb_gets_the_config_and_the_rows_of_the_run_folder(tmp_path, monkeypatch):
    calls = {"log": [], "finish": 0}

    class FakeRun:
        def log(self, row, step):
            calls["log"].append((step, row))

        def finish(self):
            calls["finish"] += 1

    def init(**kw):
        calls["init"] = kw
        return FakeRun()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    summary = run(tiny(tmp_path, "wb", total_steps=200, wandb="proj"))
    init_kw = calls["init"]
    assert init_kw["project"] == "proj" and init_kw["name"] == "wb" and init_kw["id"] == "wb"
    assert init_kw["config"]["algo"] == "mtsac" and init_kw["config"]["total_steps"] == 200
    assert calls["finish"] == 1
    train = [(s, r) for s, r in calls["log"] if "seed0/critic_loss" in r]
    assert [s for s, _ in train] == [r["env_steps"] for r in rows(summary["run_dir"], "metrics.jsonl")
                                     if "critic_loss" in r]
    final = [r for s, r in calls["log"] if s == 200 and "seed0/eval_success" in r]
    assert len(final) == 1
    np.testing.assert_allclose(final[0]["seed0/eval_success"], summary["mean_success"], rtol=1e-6)


def old_layout(variables):
    """An MT-SAC network's variables as the pytree the networks had before they were flax
    modules: {"layers": [{"w", "b"}, ...]}."""
    mlp = variables["params"]["mlp"]
    return {"layers": [{"w": mlp[f"layers_{i}"]["kernel"], "b": mlp[f"layers_{i}"]["bias"]}
                       for i in range(len(mlp))]}


def test_resume_of_a_checkpoint_from_before_the_flax_modules_exits_2_in_one_line(tmp_path,
                                                                                 capsys):
    from mtrl_jax import checkpoint
    from mtrl_jax.run_folder import RunFolder

    run_dir = run(tiny(tmp_path, "old", total_steps=100))["run_dir"]
    folder = RunFolder(run_dir)
    state = folder.read_checkpoint()
    step = folder.latest_checkpoint()
    for name in ("actor", "critic", "target_critic"):
        state["sac"][name] = old_layout(state["sac"][name])
    subprocess.run(["rm", "-rf", os.path.join(run_dir, "checkpoints")], check=True)
    checkpoint.save(run_dir, step, state)
    capsys.readouterr()
    assert run_cli.main(["--resume", run_dir, "--no-progress", "--total-steps", "200"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "before the networks became flax modules" in err
