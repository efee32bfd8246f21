"""The training loop on the pure-JAX suite: exact resume, vmapped seeds, bad input, NaN stop."""

import json
import os

import jax
import numpy as np
import pytest

from mtrl_jax import checkpoint
from mtrl_jax.cli import run as run_cli
from mtrl_jax.config import Config
from mtrl_jax.envs import point_mt
from mtrl_jax.experiment import TrainingDiverged, run


# Tiny and quick: 2 chunks of 20 vector steps x 5 tasks = 200 transitions, updates after 50.
TINY = dict(algo="mtsac", env="point-mt", hidden=(16,), batch_size=20, buffer_size=500,
            warmup_steps=50, steps_per_call=20, eval_episodes=2, eval_every=0,
            progress=False, compile_cache=None)


def tiny(tmp_path, name, **kw):
    return Config(**{**TINY, "out_dir": str(tmp_path), "run_name": name, **kw})


def final_state(run_dir, seeds=1):
    """The last checkpoint, restored as a plain pytree."""
    import orbax.checkpoint as ocp
    mngr = ocp.CheckpointManager(os.path.abspath(os.path.join(run_dir, "checkpoints")))
    state = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore())
    mngr.close()
    return state


def assert_trees_equal(a, b, atol=0.0):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    whole = run(tiny(tmp_path, "whole", total_steps=200, checkpoint_every=100))
    half = run(tiny(tmp_path, "split", total_steps=100, checkpoint_every=100))
    assert half["env_steps"] == 100
    resumed = run(Config(resume=os.path.join(str(tmp_path), "split"), total_steps=200,
                         progress=False, compile_cache=None))
    assert resumed["env_steps"] == whole["env_steps"] == 200
    a, b = final_state(whole["run_dir"]), final_state(resumed["run_dir"])
    assert int(np.asarray(a["sac"]["steps"]).ravel()[0]) > 0
    assert_trees_equal(a["sac"], b["sac"])
    assert_trees_equal(a["buffer"], b["buffer"])
    assert_trees_equal(a["key"], b["key"])


def test_two_vmapped_seeds_equal_two_separate_runs(tmp_path):
    both = run(tiny(tmp_path, "both", total_steps=200, seeds=(0, 1)))
    one = run(tiny(tmp_path, "s0", total_steps=200, seed=0))
    two = run(tiny(tmp_path, "s1", total_steps=200, seed=1))
    together = final_state(both["run_dir"])["sac"]
    for i, single in enumerate([one, two]):
        alone = final_state(single["run_dir"])["sac"]
        assert_trees_equal(jax.tree.map(lambda x: np.asarray(x)[i], together),
                           jax.tree.map(lambda x: np.asarray(x)[0], alone), atol=1e-5)
    # the two seeds really differ
    diff = jax.tree.map(lambda x: np.abs(np.asarray(x)[0] - np.asarray(x)[1]).max(),
                        together["actor"])
    assert max(jax.tree.leaves(diff)) > 1e-3
    np.testing.assert_allclose(both["eval_success"][0], one["eval_success"][0], atol=1e-6)


def test_run_folder_holds_config_metrics_tensorboard_and_table(tmp_path):
    summary = run(tiny(tmp_path, "logs", total_steps=200))
    d = summary["run_dir"]
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert cfg["algo"] == "mtsac" and cfg["total_steps"] == 200 and cfg["lr"] is not None
    rows = [json.loads(line) for line in open(os.path.join(d, "metrics.jsonl"))]
    train = [r for r in rows if "critic_loss" in r]
    assert [r["env_steps"] for r in train] == [100, 200]
    assert len(train[-1]["critic_loss"]) == 5 and train[-1]["updates"] > 0
    assert any("eval_success" in r for r in rows)
    assert open(os.path.join(d, "metrics.csv")).readline().startswith("env_steps,seed,")
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(d, "tb")))
    table = open(os.path.join(d, "eval_table.md")).read()
    assert "| flee |" in table and "**mean**" in table


@pytest.mark.parametrize("args, needle", [
    (["--algo", "nosuch"], "unknown --algo"),
    (["--env", "nosuch"], "unknown --env"),
    (["--batch-size", "21"], "not divisible"),
    (["--buffer-size", "50", "--warmup-steps", "1000"], "raise --buffer-size"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, needle):
    code = run_cli.main(["--env", "point-mt", "--out-dir", str(tmp_path), "--no-progress", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1
    assert not os.listdir(tmp_path)          # nothing written


def test_resume_without_checkpoint_or_over_existing_run_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli.main(["--resume", str(empty)]) == 2
    assert "no config.json" in capsys.readouterr().err
    run(tiny(tmp_path, "done", total_steps=100))
    before = open(tmp_path / "done" / "metrics.jsonl").read()
    args = ["--env", "point-mt", "--out-dir", str(tmp_path), "--run-name", "done"]
    assert run_cli.main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert open(tmp_path / "done" / "metrics.jsonl").read() == before


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    first = run(tiny(tmp_path, "nan", total_steps=100, checkpoint_every=100))
    good = final_state(first["run_dir"])
    real_step = point_mt.PointMT.step

    def poisoned(self, state, action, key):
        state, out = real_step(self, state, action, key)
        return state, out._replace(reward=out.reward * np.nan)

    monkeypatch.setattr(point_mt.PointMT, "step", poisoned)
    with pytest.raises(TrainingDiverged, match="last good checkpoint is intact"):
        run(Config(resume=first["run_dir"], total_steps=300, progress=False, compile_cache=None))
    assert checkpoint.latest_step(first["run_dir"]) == 100
    assert_trees_equal(final_state(first["run_dir"])["sac"], good["sac"])


def test_checkpoint_keeps_zero_size_arrays(tmp_path):
    """MJX data holds zero-size fields (``act`` without activations): they save and restore."""
    import jax.numpy as jnp
    state = {"act": jnp.zeros((3, 0)), "qpos": jnp.arange(6.0).reshape(3, 2),
             "steps": jnp.int32(7)}
    checkpoint.save(str(tmp_path), 5, state)
    target = jax.tree.map(jnp.zeros_like, state)
    back = checkpoint.restore(str(tmp_path), target)
    assert back["act"].shape == (3, 0)
    np.testing.assert_array_equal(np.asarray(back["qpos"]), np.asarray(state["qpos"]))
    assert int(back["steps"]) == 7
