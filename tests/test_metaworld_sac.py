"""experiments/metaworld_sac.py: its run configs and the tables it writes from run records."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "experiments"))
import metaworld_sac  # noqa: E402
import pytest  # noqa: E402

from mtrl_jax.config import resolve  # noqa: E402


def write_evals(run_dir, rows):
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "eval.jsonl"), "w") as f:
        for step, seed, per_task in rows:
            f.write(json.dumps({"env_steps": step, "seed": seed,
                                "eval_success": sum(per_task.values()) / len(per_task),
                                "eval_success_per_task": per_task}) + "\n")


def test_port_runs_keep_one_update_per_transition():
    args = metaworld_sac.parser().parse_args(["--tasks", "reach-v3"])
    cpu0, cpu1, mjx = metaworld_sac.run_configs(args)
    assert (cpu0.env, cpu0.seed, cpu1.seed) == ("mt1", 0, 1) and mjx.env == "mt1-mjx"
    assert mjx.seeds == (0, 1) and mjx.updates_per_step == mjx.envs_per_task == 5
    assert (resolve(cpu0).updates_per_step, cpu0.envs_per_task) == (1, None)
    # evaluations every 25k env steps fall on chunk ends, chunks of at most 1000 vector steps
    assert 25_000 % (mjx.steps_per_call * mjx.envs_per_task) == 0 and mjx.steps_per_call <= 1000
    assert {c.hidden for c in (cpu0, cpu1, mjx)} == {(256, 256)}
    assert metaworld_sac.mt10_config(args).hidden == (256, 256)


def test_other_methods_take_their_defaults_and_overrides():
    args = metaworld_sac.parser().parse_args(
        ["--tasks", "reach-v3", "--algos", "mtsac", "brc", "--seeds", "0",
         "--set", "brc.critic_width=512", "brc.hidden=[64,64]"])
    mtsac_cpu, _, brc_cpu, brc_mjx = metaworld_sac.run_configs(args)
    assert (mtsac_cpu.run_name, brc_cpu.run_name) == ("reach-v3-cpu-s0", "reach-v3-brc-cpu-s0")
    assert brc_mjx.run_name == "reach-v3-brc-mjx-s0"
    resolved = resolve(brc_cpu)
    assert (resolved.updates_per_step, resolved.batch_size, resolved.critic_width) == (2, 1024, 512)
    assert brc_cpu.hidden == (64, 64) and mtsac_cpu.hidden == (256, 256)
    assert brc_mjx.updates_per_step == 2 * brc_mjx.envs_per_task    # one round per transition
    with pytest.raises(SystemExit, match="not one of --algos"):
        metaworld_sac.run_configs(metaworld_sac.parser().parse_args(["--set", "ars.resets=2"]))
    with pytest.raises(SystemExit, match="no field"):
        metaworld_sac.run_configs(metaworld_sac.parser().parse_args(["--set", "mtsac.width=2"]))


def test_mt1_table_means_over_seeds_and_mt10_table_per_task(tmp_path):
    results = {"reach-v3": {"reach-v3-cpu-s0": {0: {25000: 0.5, 50000: 1.0}},
                            "reach-v3-cpu-s1": {1: {25000: 0.25}},
                            "reach-v3-mjx-s0_1": {0: {25000: 0.0}, 1: {25000: 1.0}},
                            "reach-v3-brc-cpu-s0": {0: {25000: 0.75}}}}
    table = metaworld_sac.markdown_table(results).splitlines()
    assert "| reach-v3 | mtsac | cpu | 25,000 | 0.50 | 0.25 | 0.375 |" in table
    assert "| reach-v3 | mtsac | cpu | 50,000 | 1.00 | - | 1.000 |" in table
    assert "| reach-v3 | mtsac | mjx | 25,000 | 0.00 | 1.00 | 0.500 |" in table
    assert "| reach-v3 | brc | cpu | 25,000 | 0.75 | - | 0.750 |" in table
    run = str(tmp_path / "mt10")
    write_evals(run, [(200, 0, {"a": 1.0, "b": 0.5}), (100, 0, {"a": 0.0, "b": 0.25})])
    lines = metaworld_sac.mt10_table(run).splitlines()
    assert lines[0] == "| task | 100 | 200 |"
    assert lines[2:] == ["| a | 0.00 | 1.00 |", "| b | 0.25 | 0.50 |",
                         "| **mean** | **0.125** | **0.750** |"]


def test_finish_reads_runs_of_earlier_sessions_from_their_records(tmp_path):
    out, results = tmp_path / "runs", tmp_path / "results"
    for folder, success in ((results / "runs" / "reach-v3-cpu-s0", 0.5),
                            (out / "reach-v3-brc-cpu-s0", 1.0)):
        write_evals(str(folder), [(25_000, 0, {"reach-v3": success})])
        with open(folder / "summary.json", "w") as f:
            json.dump({"env_steps": 25_000}, f)
    code = metaworld_sac.main(["--finish", "--tasks", "reach-v3", "--algos", "mtsac", "brc",
                               "--backends", "cpu", "--seeds", "0", "--out-dir", str(out),
                               "--results-dir", str(results)])
    assert code == 0
    table = (results / "mt1_table.md").read_text().splitlines()
    assert "| reach-v3 | mtsac | cpu | 25,000 | 0.50 | 0.500 |" in table
    assert "| reach-v3 | brc | cpu | 25,000 | 1.00 | 1.000 |" in table
    assert (results / "runs" / "reach-v3-brc-cpu-s0" / "eval.jsonl").exists()
    assert not (results / "runs" / "reach-v3-cpu-s0" / "stopped.json").exists()
