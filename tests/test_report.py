"""The report: statistics equal independent computations; bad folders are skipped; plots exist.

Fixture run folders are written by the test itself with the real writer (RunLogger.log_eval and
config.json as experiment.run writes it), from seeded random success values.
"""

import dataclasses
import json
import os
import sys

import numpy as np
import pytest
import scipy.stats

pytest.importorskip("rliable")
pytest.importorskip("matplotlib")

from mtrl_jax.config import Config  # noqa: E402
from mtrl_jax.logging import RunLogger  # noqa: E402
from mtrl_jax.report import (group_methods, interval_estimates, iqm_and_mean,  # noqa: E402
                             load_runs, make_report, trimmed_mean)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import report as report_cli  # noqa: E402

TASKS = ("reach", "reach-sparse", "waypoint", "push", "flee")
STEPS = (100, 200, 300)
REPS = 500


def write_run(run_dir, seeds, success, algo="mtsac", lr=1e-3, steps=STEPS, total=300):
    """A run folder holding config.json and eval.jsonl; success[s, k, t] per seed, step, task."""
    cfg = Config(algo=algo, env="point-mt", seed=seeds[0], seeds=tuple(seeds), lr=lr,
                 total_steps=total, progress=False, run_name=os.path.basename(run_dir))
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2)
    logger = RunLogger(run_dir, total, progress=False)
    for k, step in enumerate(steps):
        logger.log_eval(step, TASKS, success[:, k, :], seeds)
    logger.close()
    return run_dir


@pytest.fixture
def fixture_runs(tmp_path):
    """Method A (lr 1e-3): seeds 0-2 and 3-4 in two folders; method B (lr 3e-4): seeds 0-3.
    Success values are multiples of 1/8 (8 evaluation episodes) drawn from a seeded RNG."""
    rng = np.random.default_rng(7)
    a = rng.integers(0, 9, (5, 3, 5)) / 8
    b = rng.integers(0, 9, (4, 3, 5)) / 8
    root = tmp_path / "runs"
    write_run(str(root / "a1"), [0, 1, 2], a[:3])
    write_run(str(root / "a2"), [3, 4], a[3:])
    write_run(str(root / "b"), [0, 1, 2, 3], b, lr=3e-4)
    return root, {"mtsac lr=0.001": a, "mtsac lr=0.0003": b}


def bootstrap_ci(scores, stat, reps, seed):
    """An independent stratified bootstrap: for each resample draw, for every (run, task) cell,
    a run index within that task's column, using numpy's global RNG seeded with ``seed`` (the
    generator rliable 1.2.0 draws from); percentile 95 % interval."""
    n, t = scores.shape
    np.random.seed(seed)
    stats = []
    for _ in range(reps):
        idx = np.random.choice(n, (n, t), replace=True)
        stats.append(stat(scores[idx, np.arange(t)[None, :]]))
    return np.percentile(np.array(stats), [2.5, 97.5], axis=0)


def test_trimmed_mean_is_scipys_trim_mean():
    rng = np.random.default_rng(0)
    for shape in [(3, 5), (4, 10), (7, 1), (1, 3), (9, 2)]:
        x = rng.random(shape)
        np.testing.assert_allclose(trimmed_mean(x), scipy.stats.trim_mean(x, 0.25, axis=None))
        np.testing.assert_allclose(trimmed_mean(x, axis=0), scipy.stats.trim_mean(x, 0.25,
                                                                                  axis=0))


def test_iqm_mean_std_and_cis_equal_independent_computations(fixture_runs, tmp_path):
    root, data = fixture_runs
    result = make_report([str(root)], str(tmp_path / "out"), reps=REPS, seed=3)
    by_label = {m["label"]: m for m in result["methods"]}
    assert set(by_label) == set(data) and not result["skipped"]
    for label, success in data.items():
        m = by_label[label]
        final = success[:, -1, :]                          # (seeds, tasks) at the last step
        over = success.mean(axis=1)                        # mean over the evaluations
        assert m["final"]["n"] == len(success)
        for stats, scores in ((m["final"], final), (m["over_training"], over)):
            np.testing.assert_allclose(stats["iqm"], scipy.stats.trim_mean(scores, 0.25, None))
            np.testing.assert_allclose(stats["mean"], scores.mean())
            np.testing.assert_allclose(stats["std"], np.std(scores.mean(axis=1), ddof=1))
            # CIs: the same numbers from an independent bootstrap with the same seed
            ci = bootstrap_ci(scores, lambda x: [scipy.stats.trim_mean(x, 0.25, None),
                                                 x.mean()], REPS, 3)
            np.testing.assert_allclose(stats["iqm_ci"], ci[:, 0], rtol=0, atol=1e-12)
            np.testing.assert_allclose(stats["mean_ci"], ci[:, 1], rtol=0, atol=1e-12)
            task_ci = bootstrap_ci(scores, lambda x: scipy.stats.trim_mean(x, 0.25, axis=0),
                                   REPS, 3)
            for i, task in enumerate(TASKS):
                per = stats["per_task"][task]
                np.testing.assert_allclose(per["iqm"], scipy.stats.trim_mean(scores[:, i], 0.25))
                np.testing.assert_allclose(per["mean"], scores[:, i].mean())
                np.testing.assert_allclose(per["std"], np.std(scores[:, i], ddof=1))
                np.testing.assert_allclose(per["iqm_ci"], task_ci[:, i], rtol=0, atol=1e-12)
            lo, hi = stats["iqm_ci"]
            assert lo <= stats["iqm"] <= hi and lo < hi     # the data vary: a real interval
        # the curve: IQM over seeds x tasks at each evaluation step
        assert m["curve"]["steps"] == list(STEPS)
        np.testing.assert_allclose(m["curve"]["iqm"], [scipy.stats.trim_mean(
            success[:, k, :], 0.25, None) for k in range(len(STEPS))])
        lo, hi = np.array(m["curve"]["iqm_ci"])
        assert np.all(lo <= np.array(m["curve"]["iqm"]) + 1e-12) and np.all(lo <= hi)
    # the report is reproducible and the seed matters
    again = make_report([str(root)], str(tmp_path / "again"), reps=REPS, seed=3)
    other = make_report([str(root)], str(tmp_path / "other"), reps=REPS, seed=4)
    assert again["methods"] == result["methods"]
    assert other["methods"][0]["final"]["iqm_ci"] != result["methods"][0]["final"]["iqm_ci"] \
        or other["methods"][1]["final"]["iqm_ci"] != result["methods"][1]["final"]["iqm_ci"]


def test_constant_scores_give_a_degenerate_interval():
    scores = np.full((4, 3), 0.5)
    point, ci = interval_estimates(scores, iqm_and_mean, reps=200, seed=0)
    np.testing.assert_allclose(point, [0.5, 0.5])
    np.testing.assert_allclose(ci, 0.5)


def test_runs_are_pooled_by_config_and_duplicate_seeds_skipped(fixture_runs, tmp_path):
    root, data = fixture_runs
    write_run(str(tmp_path / "zdup"), [1], data["mtsac lr=0.001"][1:2])
    runs, skipped = load_runs([str(root), str(tmp_path / "zdup")])
    methods = group_methods(runs, skipped)
    a = [m for m in methods if m.label == "mtsac lr=0.001"][0]
    assert sorted(a.seeds) == [0, 1, 2, 3, 4] and a.curves.shape == (5, 5, 3)
    assert len(skipped) == 1 and "already come from another run folder" in skipped[0][1]


def test_missing_or_partial_metrics_are_reported_and_skipped(fixture_runs, tmp_path):
    root, data = fixture_runs
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "no_config").mkdir()
    (bad / "no_config" / "metrics.jsonl").write_text("{}\n")
    write_run(str(bad / "truncated"), [0], data["mtsac lr=0.001"][:1])
    with open(bad / "truncated" / "eval.jsonl", "a") as f:
        f.write('{"env_steps": 400, "seed": 0, "eval_succ')
    write_run(str(bad / "partial"), [0], data["mtsac lr=0.001"][:1, :2], steps=STEPS[:2])
    write_run(str(bad / "no_eval"), [0], data["mtsac lr=0.001"][:1])
    os.remove(bad / "no_eval" / "eval.jsonl")
    write_run(str(bad / "failed"), [0], data["mtsac lr=0.001"][:1])
    (bad / "failed" / "failed.json").write_text(json.dumps({"error": "loss became [nan]"}))
    result = make_report([str(root), str(bad), str(tmp_path / "nowhere")],
                         str(tmp_path / "out"), reps=200)
    reasons = {os.path.basename(s["run_dir"]): s["reason"] for s in result["skipped"]}
    assert "no config.json" in reasons["no_config"]
    assert "line 4 is not complete JSON" in reasons["truncated"]
    assert "last evaluation at 200 of 300" in reasons["partial"]
    assert "no eval.jsonl" in reasons["no_eval"]
    assert "failed: loss became [nan]" in reasons["failed"]
    assert "not a folder" in reasons["nowhere"]
    assert len(result["methods"]) == 2                       # the good runs are still reported
    text = open(tmp_path / "out" / "report.md").read()
    assert "## Skipped run folders" in text and "partial run" in text


def test_plots_and_tables_are_written_and_not_empty(fixture_runs, tmp_path):
    import matplotlib.image
    root, _ = fixture_runs
    out = tmp_path / "out"
    code = report_cli.main([str(root), "--out", str(out), "--reps", "200"])
    assert code == 0
    for name in ("curves.png", "per_task.png", "methods.png"):
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
        pixels = matplotlib.image.imread(str(path))
        assert pixels.shape[0] > 200 and pixels[..., :3].std() > 0.05   # drawn, not blank
    text = (out / "report.md").read_text()
    assert "| mtsac lr=0.001 | 5 |" in text and "| flee |" in text and "IQM" in text
    numbers = json.loads((out / "report.json").read_text())
    assert len(numbers["methods"]) == 2


def test_cli_with_no_usable_run_exits_1(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert report_cli.main([str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "skipped" in err and "no run folder with complete metrics" in err
    assert report_cli.main([str(tmp_path), "--reps", "5"]) == 2


def test_report_reads_a_real_run_folder(tmp_path):
    """A tiny real training run: the report's final IQM is the trimmed mean of its eval.jsonl."""
    from mtrl_jax.experiment import run
    summary = run(Config(algo="mtsac", env="point-mt", hidden=(16,), batch_size=20,
                         buffer_size=500, warmup_steps=50, steps_per_call=20, eval_episodes=4,
                         eval_every=100, total_steps=200, seeds=(0, 1), progress=False,
                         compile_cache=None, out_dir=str(tmp_path), run_name="real"))
    result = make_report([summary["run_dir"]], str(tmp_path / "out"), reps=200)
    (m,) = result["methods"]
    final = np.array(summary["eval_success"])               # (seeds, tasks)
    np.testing.assert_allclose(m["final"]["iqm"], scipy.stats.trim_mean(final, 0.25, None),
                               atol=1e-6)
    assert m["curve"]["steps"] == [100, 200] and m["seeds"] == [0, 1]


def test_methods_of_different_algos_are_named_by_their_algo():
    from mtrl_jax.report import method_labels
    configs = [{"algo": "mtsac", "lr": 1e-3, "hidden": [256]}, {"algo": "mtsac", "lr": 3e-4,
               "hidden": [256]}, {"algo": "brc", "lr": 3e-4, "hidden": [64]}]
    assert method_labels(configs) == ["mtsac lr=0.001", "mtsac lr=0.0003", "brc"]
