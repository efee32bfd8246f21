"""The method registry: resolved defaults, the fields each build reads, and a new method added
with one registry entry."""

from __future__ import annotations

import json
import os

import jax
import pytest

from mtrl_jax import methods
from mtrl_jax.config import Config, resolve
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.experiment import run
from mtrl_jax.methods import METHODS, Method, MethodEntry, build_method
from mtrl_jax.nets import mlp
from mtrl_jax.run_folder import RunFolder

OPTIONAL = {"qmp_with"}     # None is a value: QMP over separate networks


class ReadRecorder:
    """A Config stand-in that records which fields are read."""

    def __init__(self, cfg: Config):
        self.cfg, self.read = cfg, set()

    def __getattr__(self, name):
        self.read.add(name)
        return getattr(self.cfg, name)


@pytest.mark.parametrize("env", ["point-mt", "mt10"])
@pytest.mark.parametrize("algo", sorted(METHODS))
def test_every_field_a_build_reads_is_resolved(algo, env):
    """config.json holds every value a method's networks use: no build reads a None."""
    cfg = resolve(Config(algo=algo, env=env, hidden=(8,)))
    recorder = ReadRecorder(cfg)
    method = build_method(recorder, EnvSpec.sized(7, 2, 5))
    assert isinstance(method, Method) and recorder.read
    unresolved = {f for f in recorder.read - OPTIONAL if getattr(cfg, f) is None}
    assert not unresolved, unresolved
    jax.eval_shape(method.networks.actor.init, jax.random.PRNGKey(0))


def test_paper_defaults_come_from_the_registry_and_env_overrides_win():
    d2r = resolve(Config(algo="d2r", env="mt10"))
    assert (d2r.d2r_modules, d2r.d2r_module_width, d2r.d2r_gate_width, d2r.d2r_embed_dim,
            d2r.alpha_lr, d2r.task_weighting) == (16, 128, 256, 400, 1e-4, True)
    small = resolve(Config(algo="d2r", env="point-mt"))
    assert (small.d2r_modules, small.d2r_module_width) == (6, 64)
    assert resolve(Config(algo="d2r", env="point-mt", d2r_modules=9)).d2r_modules == 9
    over_d2r = resolve(Config(algo="qmp", qmp_with="d2r", env="mt10"))
    assert over_d2r.d2r_modules == 16 and over_d2r.alpha_lr == 1e-4
    assert resolve(Config(algo="qmp", env="mt10")).hidden == (256, 256)     # QMP Table 1


def wide_mtsac(cfg, spec):
    """A new method: MT-SAC's MLP with one more layer than asked for."""
    return Method(mlp.make_networks(spec.obs_dim, spec.act_dim, spec.num_tasks,
                                    (*cfg.hidden, cfg.hidden[-1])))


def test_a_new_method_is_one_registry_entry(tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "wide", MethodEntry(
        wide_mtsac, methods.MLP_MT10, env_defaults={"point-mt": {"alpha_lr": 2e-4}}))
    summary = run(Config(algo="wide", env="point-mt", hidden=(16,), total_steps=200,
                         warmup_steps=100, batch_size=20, buffer_size=500, eval_episodes=2,
                         eval_every=0, steps_per_call=20, out_dir=str(tmp_path),
                         run_name="wide", progress=False, compile_cache=None))
    with open(os.path.join(summary["run_dir"], "config.json")) as f:
        saved = json.load(f)
    assert saved["algo"] == "wide" and saved["alpha_lr"] == 2e-4 and saved["lr"] == 1e-3
    assert summary["env_steps"] == 200
    actor = RunFolder(summary["run_dir"]).read_checkpoint()["sac"]["actor"]
    shapes = {tuple(x.shape) for x in jax.tree.leaves(actor)}
    assert (1, 16, 16) in shapes      # (seed, in, out): the layer the new method adds


def readme_block(marker: str) -> str:
    """The README's python block whose first line is ``marker``."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    found = [b for b in blocks if b.startswith(marker)]
    assert len(found) == 1, f"README has {len(found)} blocks starting {marker!r}"
    return found[0]


def test_the_readme_custom_torso_trains_one_sac_step(monkeypatch):
    import jax.numpy as jnp
    import numpy as np
    from mtrl_jax.methods import make_agent

    import sys
    import types

    module = types.ModuleType("readme_gated")       # dataclasses look their module up
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, module.__name__, module)
        patch.setattr(methods, "METHODS", dict(METHODS))       # the block registers into it
        exec(compile(readme_block("# gated.py"), "README.md", "exec"), module.__dict__)
        assert "gated" in methods.METHODS and "gated" not in METHODS
        patch.setitem(METHODS, "gated", methods.METHODS["gated"])
        cfg = resolve(Config(algo="gated", env="point-mt", hidden=(16, 16)))
        T, obs_dim, act_dim, n = 3, 5, 2, 4
        sac = make_agent(cfg, EnvSpec.sized(obs_dim, act_dim, T))
        state = sac.init(jax.random.PRNGKey(0))
        assert sorted(state.actor["params"]) == ["Dense_0", "Dense_1", "MLP_0"]
        assert state.actor["params"]["Dense_0"]["kernel"].shape == (T, 16)     # the task gate
        rng = np.random.default_rng(0)
        f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)  # noqa: E731
        batch = {"obs": f(T, n, obs_dim), "action": jnp.tanh(f(T, n, act_dim)),
                 "reward": f(T, n), "next_obs": f(T, n, obs_dim),
                 "terminated": jnp.zeros((T, n), bool), "stored": {}}
        new, info = jax.jit(sac.update)(state, batch, jax.random.PRNGKey(1))
    assert int(new.steps) == 1 and np.all(np.isfinite(np.asarray(info["total_loss"])))
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), state.actor, new.actor)
    assert min(jax.tree.leaves(moved)) > 0          # every actor parameter took the step
