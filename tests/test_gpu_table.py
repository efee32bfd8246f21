"""benchmarks/gpu_table.py: the GPU check's sections merge into one table, failures included."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import gpu_table  # noqa: E402


def test_sections_merge_into_one_table_with_failures_named(tmp_path, capsys):
    d = tmp_path
    (d / "status.txt").write_text("device 0 3\nupdate_throughput 0 80\nenv_one_task 0 60\n"
                                  "train_mt10_mjx 0 120\nenv_mt10 124 120\n"
                                  "layouts 0 40\n")
    (d / "device.log").write_text("NVIDIA H200 0.11.2 1\n")
    (d / "update_throughput.log").write_text(
        "device: x\n\n| algo | batch | ms/update (call) | updates/s (call) | updates/s (scan) | "
        "x MT-SAC | updates/step | x MT-SAC per env step | params | GFLOP/update | efficiency |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
        "| mtsac | 1280 | 2.0 | 500.00 | 610.50 | 1.00 | 1 | 1.00 | 1 | 13.9 | 5% |\n"
        "| paco | 1280 | 3.0 | 333.00 | 400.25 | 1.53 | 1 | 1.53 | 5 | 14.2 | 4% |\n")
    (d / "env_one_task.log").write_text(
        "| tasks | E per task | programs | build s | compile s (cache hit) | step ms | physics-step ms | "
        "env-steps/s | vs CPU Meta-World |\n|---|---|---|---|---|---|---|---|---|\n"
        "| reach-v3 | 1024 | 1 | 1.0 | 40.0 (no) | 5.0 | 1.0 | 204,800 | - |\n")
    (d / "env_mt10.log").write_text("compiling\nstill compiling MT10\n")
    (d / "layouts.log").write_text(
        "| form: library / plain | in | library (ms) | plain (ms) | plain / library |\n"
        "|---|---|---|---|---|\n| twin critics: loop / vmap (agents.sac) | paco update | 2.0 | "
        "1.5 | 0.75 |\n")
    run_dir = d / "runs" / "mt10-mjx-mtsac"
    run_dir.mkdir(parents=True)
    (run_dir / "eval.jsonl").write_text(json.dumps({"env_steps": 160000, "seed": 0,
                                                    "eval_success": 0.125}) + "\n")
    (run_dir / "summary.json").write_text(json.dumps({"env_steps": 480000, "wall_s": 100.0}))
    brc_dir = d / "runs" / "mt10-mjx-brc"
    brc_dir.mkdir(parents=True)
    (brc_dir / "eval.jsonl").write_text(json.dumps({"env_steps": 120000, "seed": 0,
                                                    "eval_success": 0.25}) + "\n")
    assert gpu_table.main([str(d)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| check | setting | figure | section |")
    text = "\n".join(out)
    assert "| device | - | NVIDIA H200 0.11.2 1 | ok, 3 s |" in text
    assert "| paco | 400.25 updates/s, 1.53 x MT-SAC | ok, 80 s |" in text
    assert "reach-v3, E = 1024 per task, 1 programs | 204,800 env-steps/s, step 5.0 ms, compile 40.0 (no) s" in text
    assert "MJX env, MT10" in text and "time limit after 120 s: still compiling MT10" in text
    assert "mean success 0.125" in text and "4,800 env-steps/s" in text
    assert "| mt10-mjx brc training | 120,000 env steps | mean success 0.250 | not run |" in text
    assert ("| layouts (MT10 shapes) | twin critics: loop / vmap (agents.sac), paco update | "
            "plain / library 0.75 (2.0 vs 1.5 ms) | ok, 40 s |") in text
