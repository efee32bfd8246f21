"""Sweeps: the sharded device program equals separate runs; bad grids and failed points."""

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from mtrl_jax.cli import sweep as sweep_cli
from mtrl_jax.config import Config, ConfigError
from mtrl_jax.experiment import run
from mtrl_jax.sweep import (Point, config_to_args, expand_grid, make_groups, padding,
                            padding_message, parse_set, point_config)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# As tests/test_train.py's TINY: 2 chunks of 20 vector steps x 5 tasks, updates after 50.
TINY = dict(algo="mtsac", env="point-mt", hidden=(16,), batch_size=20, buffer_size=500,
            warmup_steps=50, steps_per_call=20, eval_episodes=2, eval_every=0,
            total_steps=200, progress=False, compile_cache=None)
TINY_SET = ["hidden=16", "batch_size=20", "buffer_size=500", "warmup_steps=50",
            "steps_per_call=20", "eval_episodes=2", "eval_every=0", "total_steps=200"]
LRS = (3e-4, 1e-3, 3e-3, 1e-2)


def final_sac(run_dir):
    """The SAC state of a run folder's last checkpoint (leading axis: seeds)."""
    import orbax.checkpoint as ocp
    mngr = ocp.CheckpointManager(os.path.abspath(os.path.join(run_dir, "checkpoints")))
    state = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore())
    mngr.close()
    return state["sac"]


def by_path(tree) -> dict:
    """Leaves keyed by their path written as strings, so that a NamedTuple state and the dict
    orbax restores it as (field names as keys) line up."""
    def name(key):
        for attr in ("name", "key", "idx"):
            if hasattr(key, attr):
                return str(getattr(key, attr))
        return str(key)
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {"/".join(name(k) for k in path): np.asarray(leaf) for path, leaf in flat}


def max_abs_diff(a, b):
    """Largest absolute difference over all leaves of two pytrees holding the same leaves."""
    a, b = by_path(a), by_path(b)
    assert a.keys() == b.keys() and a, (sorted(a), sorted(b))
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64))))
               for k in a)


def train_alone(lr, seeds):
    """Final SAC states of single-seed runs on one device: the library's own init/train_chunk,
    jitted without vmap or sharding (compiled once per lr and reused for the seeds)."""
    from mtrl_jax.config import resolve
    from mtrl_jax.envs import make_env
    from mtrl_jax.methods import make_agent
    from mtrl_jax.train import make_train
    cfg = resolve(Config(**{**TINY, "lr": lr}))
    env = make_env(cfg)
    sac = make_agent(cfg, env.spec)
    init, chunk = make_train(cfg, env, sac)
    init, chunk = jax.jit(init), jax.jit(chunk)
    out = []
    for seed in seeds:
        state = init(jax.random.PRNGKey(seed))
        while int(state.env_steps) < cfg.total_steps:
            state, _ = chunk(state)
        out.append(jax.device_get(state.sac))
    return out


def row(tree, i):
    return jax.tree.map(lambda x: np.asarray(x)[i], tree)


def test_sharded_sweep_on_4_devices_equals_the_runs_done_alone(tmp_path):
    """4 lr values x 2 seeds = 8 runs in one program sharded over 4 forced host devices; each
    run's final parameters equal the same run done alone (one seed, one device) to 1e-5."""
    env = four_devices()
    cmd = [sys.executable, "-m", "mtrl_jax.cli.sweep", "--algos", "mtsac", "--seeds", "0", "1",
           "--set", "lr=" + ",".join(map(str, LRS)), *sum((["--set", s] for s in TINY_SET), []),
           "--out-dir", str(tmp_path), "--name", "sw"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.load(open(tmp_path / "sw" / "sweep.json"))
    assert record["devices"] == 4
    assert len(record["groups"]) == 1                       # one program
    assert record["groups"][0]["rows"] == 8 and record["groups"][0]["traced"] == ["lr"]
    points = record["points"]
    assert len(points) == 4 and all(p["status"] == "ok" for p in points.values())
    assert all(p["devices_used"] == 4 for p in points.values())

    worst, swept = 0.0, []
    for lr in LRS:
        (point,) = [p for p in points.values() if p["values"]["lr"] == lr]
        together = final_sac(point["run_dir"])
        cfg = json.load(open(os.path.join(point["run_dir"], "config.json")))
        assert cfg["lr"] == lr and cfg["seeds"] == [0, 1]
        swept.append(row(together["actor"], 0))
        for i, alone in enumerate(train_alone(lr, (0, 1))):
            worst = max(worst, max_abs_diff(row(together, i), alone))
    # and one of them through the whole experiments/run.py path (run folder and checkpoint)
    first = [p for p in points.values() if p["values"]["lr"] == LRS[0]][0]
    alone = run(Config(**{**TINY, "lr": LRS[0], "seed": 1, "out_dir": str(tmp_path),
                          "run_name": "alone"}))
    worst = max(worst, max_abs_diff(row(final_sac(first["run_dir"]), 1),
                                    row(final_sac(alone["run_dir"]), 0)))
    print(f"max |sharded - alone| over the 8 runs: {worst:.3g}")
    assert worst < 1e-5
    # the points really differ (lr reached the program) and so do the seeds
    assert max_abs_diff(swept[0], swept[-1]) > 1e-3
    assert max_abs_diff(row(together["actor"], 0), row(together["actor"], 1)) > 1e-3


def four_devices():
    """Environment of a subprocess that sees 4 forced host devices."""
    return {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
            "JAX_PLATFORMS": "cpu"}


def test_a_failed_point_is_recorded_and_the_others_finish(tmp_path):
    """init_alpha=-1 makes log(alpha) NaN: that point fails at its first update, in the same
    padded program (2 runs on 4 devices) as a healthy point; a batch size not divisible by the
    5 tasks fails at config time."""
    cmd = [sys.executable, "-m", "mtrl_jax.cli.sweep", "--seeds", "0", "--set", "init_alpha=1.0,-1.0",
           "--set", "batch_size=20,21",
           *sum((["--set", s] for s in TINY_SET[:1] + TINY_SET[2:]), []),
           "--out-dir", str(tmp_path), "--name", "bad"]
    proc = subprocess.run(cmd, env=four_devices(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "padding with 2 copies of the last run" in proc.stdout
    record = json.load(open(tmp_path / "bad" / "sweep.json"))
    assert record["groups"][0]["rows"] == 2 and record["groups"][0]["padded_rows"] == 4
    status = {(p["values"]["init_alpha"], p["values"]["batch_size"]): p
              for p in record["points"].values()}
    assert status[(1.0, 20)]["status"] == "ok"
    assert status[(-1.0, 20)]["status"] == "failed"
    assert "loss became" in status[(-1.0, 20)]["error"]
    assert all(status[(a, 21)]["status"] == "failed" and "not divisible" in status[(a, 21)][
        "error"] for a in (1.0, -1.0))
    assert record["groups"][0]["traced"] == ["init_alpha"]   # both alphas in one program
    ok_dir = status[(1.0, 20)]["run_dir"]
    assert {"config.json", "metrics.jsonl", "eval.jsonl", "summary.json", "eval_table.md",
            "checkpoints", "tb"} <= set(os.listdir(ok_dir))
    failed = json.load(open(os.path.join(status[(-1.0, 20)]["run_dir"], "failed.json")))
    assert "loss became" in failed["error"]


def test_process_mode_runs_run_py_per_seed_and_records_failures(tmp_path):
    """Host-env path (forced on point-mt): one run process per (point, seed)."""
    code = sweep_cli.main(["--mode", "processes", "--workers", "2", "--seeds", "3",
                           "--set", "batch_size=20,21",
                           *sum((["--set", s] for s in TINY_SET[:1] + TINY_SET[2:]), []),
                           "--out-dir", str(tmp_path), "--name", "proc"])
    assert code == 1
    record = json.load(open(tmp_path / "proc" / "sweep.json"))
    by_batch = {p["values"]["batch_size"]: p for p in record["points"].values()}
    assert by_batch[20]["status"] == "ok" and by_batch[20]["seed"] == 3
    assert by_batch[21]["status"] == "failed" and "not divisible" in by_batch[21]["error"]
    cfg = json.load(open(os.path.join(by_batch[20]["run_dir"], "config.json")))
    assert cfg["seed"] == 3 and cfg["batch_size"] == 20 and cfg["hidden"] == [16]
    assert os.path.exists(os.path.join(by_batch[20]["run_dir"], "summary.json"))


def test_process_mode_runs_the_installed_package_not_the_source_tree(tmp_path):
    """A wheel of the package installed into a folder of its own (not editable; no
    experiments/ beside it) runs a process-mode sweep: each run is ``python -m
    mtrl_jax.cli.run`` of that copy."""
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):     # a copy: the build writes beside them
        shutil.copy(os.path.join(ROOT, name), source / name)
    shutil.copytree(os.path.join(ROOT, "mtrl_jax"), source / "mtrl_jax",
                    ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(source)], check=True, timeout=600, capture_output=True)
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site),
                    str(next(wheels.glob("mtrl_jax-*.whl")))], check=True, timeout=600,
                   capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import mtrl_jax; print(mtrl_jax.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(site / "mtrl_jax" / "__init__.py")
    assert not (site / "experiments").exists()
    cmd = [sys.executable, "-m", "mtrl_jax.cli.sweep", "--mode", "processes", "--workers", "1",
           "--seeds", "0", *sum((["--set", s] for s in TINY_SET), []),
           "--out-dir", str(tmp_path / "out"), "--name", "wheel"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    record = json.load(open(tmp_path / "out" / "wheel" / "sweep.json"))
    (point,) = record["points"].values()
    assert point["status"] == "ok"
    assert os.path.exists(os.path.join(point["run_dir"], "summary.json"))


def test_grid_parsing_and_expansion():
    grid = parse_set(["lr=3e-4,1e-3", "hidden=64x64,32", "paco-maskout=true,off",
                      "grad_clip=none,1.0"])
    assert grid == {"lr": [3e-4, 1e-3], "hidden": [(64, 64), (32,)],
                    "paco_maskout": [True, False], "grad_clip": [None, 1.0]}
    points = expand_grid(["mtsac", "paco"], {"lr": [3e-4, 1e-3], "paco_k": [5]}, [0, 1])
    assert [p.name for p in points] == ["mtsac-lr0.0003", "mtsac-lr0.001", "paco-lr0.0003",
                                        "paco-lr0.001"]
    assert all(p.values["paco_k"] == 5 and p.seeds == (0, 1) for p in points)
    for bad in (["nosuch=1"], ["lr"], ["paco_k=1.5"], ["d2r_routing=fancy"]):
        with pytest.raises(ConfigError):
            parse_set(bad)
    with pytest.raises(ConfigError, match="unknown algo"):
        expand_grid(["nosuch"], {}, [0])
    with pytest.raises(ConfigError, match="repeats"):
        expand_grid(["mtsac"], {}, [0, 0])


def test_spec_file_toml_and_json(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('algos = ["mtsac", "mhsac"]\nseeds = [0, 1]\nenv = "point-mt"\n'
                    '[grid]\nlr = [3e-4, 1e-3]\nhidden = [[16, 16]]\n')
    spec_json = tmp_path / "s.json"
    spec_json.write_text(json.dumps({"algos": ["mtsac", "mhsac"], "seeds": [0, 1],
                                     "env": "point-mt",
                                     "grid": {"lr": [3e-4, 1e-3], "hidden": [[16, 16]]}}))
    for path in (toml, spec_json):
        sweep = sweep_cli.build(sweep_cli.parser().parse_args(["--spec", str(path)]))
        assert [p.algo for p in sweep.points] == ["mtsac"] * 2 + ["mhsac"] * 2
        assert sweep.points[0].values == {"lr": 3e-4, "hidden": (16, 16)}
        assert sweep.mode == "device" and sweep.points[0].seeds == (0, 1)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"algoz": ["mtsac"]}))
    assert sweep_cli.main(["--spec", str(bad)]) == 2


def test_groups_trace_floats_and_split_on_everything_else(tmp_path):
    from mtrl_jax.config import resolve
    points = expand_grid(["mtsac", "mhsac"], {"lr": [3e-4, 1e-3], "hidden": [(16,), (32,)]},
                         [0, 1])
    cfgs = [resolve(point_config(p, "point-mt", str(tmp_path))) for p in points]
    groups = make_groups(points, cfgs)
    assert len(groups) == 4                                  # algo x hidden
    assert all(g.traced == ("lr",) and len(g.points) == 2 and g.rows == 4 for g in groups)
    assert len(make_groups(points, cfgs, trace_floats=False)) == 8


def test_padding_says_how_or_refuses_with_the_fix(tmp_path):
    assert padding(8, 4) == 0 and padding(6, 4) == 2 and padding(1, 1) == 0
    assert padding_message(8, 4, pad=True) is None
    assert "padding with 2 copies" in padding_message(6, 4, pad=True)
    refuse = padding_message(6, 4, pad=False)
    assert "use a multiple of 4" in refuse and "drop --no-pad" in refuse
    # 3 runs on 4 devices with --no-pad: refused before anything is compiled or written
    cmd = [sys.executable, "-m", "mtrl_jax.cli.sweep", "--seeds", "0", "1", "2", "--no-pad",
           *sum((["--set", s] for s in TINY_SET), []), "--out-dir", str(tmp_path), "--name", "np"]
    proc = subprocess.run(cmd, env=four_devices(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "use a multiple of 4 runs" in proc.stderr
    assert not os.path.exists(tmp_path / "np" / "sweep.json")


def test_config_to_args_round_trips_through_run_py_cli():
    import tyro
    cfg = Config(algo="paco", env="mt10", seed=3, lr=1e-3, hidden=(64, 64), paco_maskout=False,
                 task_weighting=True, grad_clip=None, d2r_routing="soft", progress=False,
                 run_name="x", out_dir="/tmp/r")
    parsed = tyro.cli(Config, args=config_to_args(cfg))
    assert parsed == cfg


def test_point_config_carries_seeds_and_values():
    p = Point("mtsac-lr0.001", "mtsac", {"lr": 1e-3}, (4, 5))
    cfg = point_config(p, "point-mt", "/tmp/sweep")
    assert cfg.seeds == (4, 5) and cfg.seed == 4 and cfg.lr == 1e-3
    assert cfg.run_name == "mtsac-lr0.001" and cfg.out_dir == "/tmp/sweep"


def test_a_qmp_sweep_point_writes_the_selection_matrix_as_run_py_does(tmp_path):
    """A point's folder gets the method's end-of-run files: PointRun.finish calls the hook that
    run_group takes from the built method, and QMP's writes qmp_selection.npy from the counts
    the point logged (no training needed: the point is fed one chunk's metrics)."""
    from mtrl_jax.agents import qmp
    from mtrl_jax.config import resolve
    from mtrl_jax.engine import PointRun
    from mtrl_jax.envs import make_env
    from mtrl_jax.experiment import sac_builder
    from mtrl_jax.run_folder import RunFolder
    cfg = resolve(Config(**{**TINY, "algo": "qmp"}))
    env = make_env(cfg)
    counts = np.arange(25, dtype=np.float64).reshape(5, 5) + 1.0
    folder = RunFolder(str(tmp_path))
    point = PointRun(cfg, folder, slice(0, 1), env.task_names,
                     folder.open_logger(cfg, progress=False),
                     sac_builder(env)(cfg).hooks.on_run_end)
    point.train(100, {"total_loss": np.zeros(1), "updates": np.array([3]),
                      "collect": {"qmp_selection": counts[None]}})
    point.finish(200, np.full((1, 5), 0.5), {"x": np.zeros(1)}, wall=1.0)
    assert folder.read_summary()["env_steps"] == 200
    matrix = np.load(tmp_path / qmp.SELECTION_FILE)
    np.testing.assert_allclose(matrix, counts / counts.sum(axis=1, keepdims=True), rtol=1e-12)
