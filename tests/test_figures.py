"""Each analysis figure runs on a fixture run folder (a tiny run() of its method) and writes a
non-empty PNG; the numbers drawn are checked against independent computations."""

import os
import sys

import numpy as np
import pytest

from mtrl_jax.config import Config
from mtrl_jax.experiment import run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "experiments"))
import figures as figures_cli  # noqa: E402

from mtrl_jax import figures  # noqa: E402

TINY = dict(env="point-mt", hidden=(8,), batch_size=20, buffer_size=500, warmup_steps=50,
            steps_per_call=20, eval_episodes=2, eval_every=0, progress=False,
            compile_cache=None, total_steps=100)
METHODS = {
    "d2r": dict(algo="d2r", d2r_modules=4, d2r_module_width=8, d2r_gate_width=8,
                d2r_embed_dim=8),
    "sm": dict(algo="sm"),
    "paco": dict(algo="paco", paco_k=2),
    "qmp": dict(algo="qmp"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny run folder per method (built lazily, once per module)."""
    root = tmp_path_factory.mktemp("figure-runs")
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = run(Config(**TINY, **METHODS[name], out_dir=str(root),
                                     run_name=name))["run_dir"]
        return cache[name]
    return get


def assert_png(path):
    """A PNG file with a non-uniform image."""
    import matplotlib.image as mpimg
    assert os.path.getsize(path) > 1000
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert mpimg.imread(path).std() > 0.01


def cli(run_dir, name, capsys):
    """experiments/figures.py RUN_DIR --figure NAME; returns the PNG path it printed."""
    assert figures_cli.main([run_dir, "--figure", name, "--steps", "4"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    path = line.split(": ", 1)[1]
    assert path == os.path.join(run_dir, "figures", f"{name}.png")
    return path


def reachable_modules(routes):
    """Independent count of modules on the output's path: walk back from the output node."""
    n = routes.shape[0]
    used, frontier = set(), [n - 1]                # node r reads sources 0..r (module j+1)
    while frontier:
        node = frontier.pop()
        for j in np.flatnonzero(routes[node]):
            if j not in used:
                used.add(j)
                if j > 0:
                    frontier.append(j - 1)         # module j+1 (j >= 1) is routed node j-1
    return len(used)


def test_d2r_modules_used(runs, capsys):
    run_dir = runs("d2r")
    assert_png(cli(run_dir, "d2r-modules", capsys))
    nets = figures.load_networks(run_dir)
    obs = figures.visited_observations(nets, steps=3)
    mean, _ = figures.d2r_modules_per_task(nets, obs)
    _, aux = figures.actor_outputs(nets, obs)
    routes = np.asarray(aux["routes"]) > 0
    expected = [np.mean([reachable_modules(r) for r in task]) for task in routes]
    np.testing.assert_allclose(mean, expected)
    assert np.all((mean >= 1) & (mean <= 4))


def test_d2r_tsne(runs, capsys):
    run_dir = runs("d2r")
    assert_png(cli(run_dir, "d2r-tsne", capsys))
    nets = figures.load_networks(run_dir)
    feats = figures.d2r_route_features(nets, figures.visited_observations(nets, steps=3))
    rows = feats.reshape(*feats.shape[:2], 4, 4).sum(-1)
    np.testing.assert_allclose(rows, 1.0, atol=1e-6)        # MaskSoftmax weights per node
    nonzero = (feats.reshape(*feats.shape[:2], 4, 4) > 0).sum(-1)
    assert np.all(nonzero == np.minimum(2, np.arange(1, 5)))  # top-2 (fewer for early nodes)


def test_sm_routing(runs, capsys):
    run_dir = runs("sm")
    assert_png(cli(run_dir, "sm-routing", capsys))
    nets = figures.load_networks(run_dir)
    obs = figures.visited_observations(nets, steps=3)
    layers, out_w = figures.sm_mean_routing(nets, obs)
    assert len(layers) == 1 and layers[0].shape == (5, 2, 2) and out_w.shape == (5, 2)
    np.testing.assert_allclose(layers[0].sum(-1), 1.0, atol=1e-5)
    # task 2's mean, recomputed from its observations with an explicit one-hot of task 2
    n = obs.shape[1]
    onehot = np.broadcast_to(np.eye(5, dtype=np.float32)[2], (1, n, 5))
    extra = {"mode": "eval", "shared": nets.shared, "log_alpha": nets.log_alpha, "stored": {}}
    _, aux = nets.networks.actor.apply(nets.actor, obs[2:3], onehot, None, extra)
    np.testing.assert_allclose(layers[0][2], np.asarray(aux["routing"][0])[0].mean(0),
                               atol=1e-6)
    np.testing.assert_allclose(out_w[2], np.asarray(aux["output_weights"])[0].mean(0),
                               atol=1e-6)


def test_paco_w_pca(runs, capsys):
    run_dir = runs("paco")
    assert_png(cli(run_dir, "paco-w", capsys))
    w = figures.paco_w(run_dir)
    state = figures.restore_latest(run_dir)
    np.testing.assert_allclose(w, np.asarray(state["sac"]["shared"]["params"]["w"])[0])
    points, ratio = figures.pca_2d(w)
    # K = 2: the PCA is a rotation of the centred w, so pairwise distances are kept
    dist = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(points), dist(w), atol=1e-5)
    assert ratio[0] >= ratio[1] and abs(ratio.sum() - 1) < 1e-6


def test_qmp_selection(runs, capsys):
    run_dir = runs("qmp")
    assert_png(cli(run_dir, "qmp-selection", capsys))


def test_figure_for_the_wrong_method_is_refused(runs, capsys):
    assert figures_cli.main([runs("paco"), "--figure", "sm-routing", "--steps", "2"]) == 2
    assert "needs a sm run" in capsys.readouterr().err
