"""The run engine's loop over a scripted driver: points of one program that early-stop, diverge
or run to the end each write their own folder; the run folder's round trip."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.config import Config, resolve
from mtrl_jax.engine import PointRun, drive
from mtrl_jax.run_folder import PartialFile, RunFolder

T = 2
CHUNK = 20


class ScriptedDriver:
    """Four rows; per chunk of 20 env steps: row 2's loss is NaN from step 40 on; rows 0-1
    succeed from step 40 on, rows 2-3 never."""

    def __init__(self):
        self.env_steps, self.updates, self.evaluations = 0, 0, []

    def chunk(self, progress) -> dict:
        self.env_steps += CHUNK
        self.updates += CHUNK
        loss = np.zeros(4)
        if self.env_steps >= 40:
            loss[2] = np.nan
        return {"total_loss": loss, "train_success": np.zeros((4, T)), "updates": np.full(4, CHUNK)}

    def evaluate(self) -> np.ndarray:
        self.evaluations.append(self.env_steps)
        ok = 1.0 if self.env_steps >= 40 else 0.5
        return np.array([[ok] * T, [ok] * T, [0.0] * T, [0.2] * T])

    def states(self, rows) -> list:
        return [{"rows": jnp.arange(4)[r], "env_steps": jnp.int32(self.env_steps)} for r in rows]


class Recorder:
    def __init__(self):
        self.phases, self.ticks, self.messages = [], [], []

    def phase(self, text):
        self.phases.append(text)

    def tick(self, env_steps, updates, success=None):
        self.ticks.append(env_steps)

    def write(self, message):
        self.messages.append(message)


def point(tmp_path, name, seeds, rows, **kw):
    cfg = resolve(Config(env="point-mt", seeds=seeds, total_steps=100, eval_every=20,
                         checkpoint_every=40, early_stop_success=0.95, progress=False,
                         run_name=name, out_dir=str(tmp_path), **kw))
    folder = RunFolder(str(tmp_path / name))
    folder.write_config(cfg)
    return PointRun(cfg, folder, rows, ("a", "b"), folder.open_logger(cfg, progress=False))


def steps(folder, reader="read_evals"):
    return sorted({r["env_steps"] for r in getattr(folder, reader)()})


def test_each_point_stops_fails_or_finishes_on_its_own(tmp_path):
    stops = point(tmp_path, "stops", (0, 1), slice(0, 2))
    diverges = point(tmp_path, "diverges", (2,), slice(2, 3))
    runs_on = point(tmp_path, "runs-on", (3,), slice(3, 4))
    driver, progress = ScriptedDriver(), Recorder()
    drive(stops.cfg, driver, [stops, diverges, runs_on], progress)

    assert driver.env_steps == 100 and progress.ticks == [20, 40, 60, 80, 100]
    # two evaluations in a row >= 0.95 (40, 60): finished at 60, checkpoint and summary there
    assert stops.summary["env_steps"] == 60 and stops.folder.end_step() == 60
    assert steps(stops.folder) == [20, 40, 60] and stops.folder.latest_checkpoint() == 60
    assert np.allclose(stops.summary["eval_success"], 1.0) and stops.summary["seeds"] == [0, 1]
    # row 2's loss became NaN in the chunk that ended at 40: failed there, nothing logged after
    assert diverges.failed and diverges.summary is None
    failed = diverges.folder.read_failed()
    assert failed["env_steps"] == 40 and "nan" in failed["error"]
    assert steps(diverges.folder, "read_metrics") == [20]
    assert diverges.folder.read_summary() is None
    # the last point runs to total_steps: evaluated every 20, checkpointed at 40, 80 and the end
    assert runs_on.summary["env_steps"] == 100 and runs_on.folder.end_step() == 100
    assert steps(runs_on.folder) == [20, 40, 60, 80, 100]
    assert runs_on.folder.latest_checkpoint() == 100
    assert driver.evaluations == [20, 40, 60, 80, 100]    # one evaluation serves every point
    table = open(runs_on.folder.file("eval_table.md")).read()
    assert "| a | 0.200 |" in table


def test_the_loop_ends_when_every_point_has_ended(tmp_path):
    only = point(tmp_path, "only", (0, 1), slice(0, 2))
    driver = ScriptedDriver()
    drive(only.cfg, driver, [only], Recorder())
    assert driver.env_steps == 60 and driver.evaluations == [20, 40, 60]


def test_run_folder_round_trip(tmp_path):
    folder = RunFolder(str(tmp_path / "run"))
    assert not folder.holds_run() and folder.read_summary() is None and folder.end_step() is None
    cfg = resolve(Config(algo="d2r", env="point-mt", seeds=(0, 3), hidden=(8, 8)))
    folder.write_config(cfg)
    assert folder.holds_run() and folder.read_config() == cfg          # tuples come back
    assert folder.read_config_dict()["d2r_modules"] == 6
    with open(folder.file("stopped.json"), "w") as f:
        json.dump({"env_steps": 30}, f)
    assert folder.end_step() == 30                                      # stopped from outside
    folder.write_summary({"env_steps": 50, "task_names": ["x", "y"]})
    assert folder.end_step() == 50 and folder.task_names() == ["x", "y"]
    folder.write_failed("boom", 20)
    assert folder.read_failed() == {"error": "boom", "env_steps": 20}
    folder.clear_failed()
    assert folder.read_failed() is None
    with open(folder.file("eval.jsonl"), "w") as f:
        f.write('{"env_steps": 10, "seed": 0}\n{"env_steps": 2')
    with pytest.raises(PartialFile, match="eval.jsonl line 2"):
        folder.read_evals()
    folder.clear()
    assert not folder.holds_run()
