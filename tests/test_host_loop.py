"""The host training loop (CPU Meta-World's): nothing large copied per step, a progress line by
wall time when steps are slow, early stopping, bad MT1 task names."""

import io
import os
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.buffer import buffer_init
from mtrl_jax.cli import run as run_cli
from mtrl_jax.config import Config, resolve
from mtrl_jax.envs import make_env
from mtrl_jax.envs.base import StepOut
from mtrl_jax.engine import EarlyStop
from mtrl_jax.experiment import train
from mtrl_jax.host_loop import HostCarry, host_step, make_host_pieces
from mtrl_jax.logging import RunLogger
from mtrl_jax.envs.base import EnvSpec
from mtrl_jax.methods import make_agent
from mtrl_jax.run_folder import RunFolder
from mtrl_jax.train import initial_stats, make_train, transition_example


OBS, ACT = 39, 4


class SlowHostEnv:
    """A host env (the CPU Meta-World interface) of T tasks whose step sleeps ``delay`` s."""

    obs_dim, act_dim, envs_per_task, max_episode_steps, on_device = OBS, ACT, 1, 500, False

    def __init__(self, num_tasks=2, delay=0.0):
        self.num_tasks, self.delay = num_tasks, delay
        self.task_names = tuple(f"task{i}" for i in range(num_tasks))
        self.steps = 0

    def _obs(self):
        return np.full((self.num_tasks, 1, OBS), 0.01 * self.steps, np.float32)

    def reset(self, key=None, goal_index=None):
        return None, self._obs()

    def step(self, state, action, key=None):
        time.sleep(self.delay)
        self.steps += 1
        obs = self._obs()
        col = np.zeros((self.num_tasks, 1))
        return None, StepOut(obs, obs, col.astype(np.float32) + 1.0, col.astype(bool),
                             col.astype(bool), col.astype(bool))

    def evaluate(self, policy, episodes=50):
        policy(self._obs())
        return np.zeros(self.num_tasks)


def tiny_cfg(**kw):
    base = dict(algo="mtsac", env="mt10", hidden=(8,), batch_size=4, buffer_size=2_000,
                warmup_steps=4, eval_every=0, checkpoint_every=0, compile_cache=None)
    return resolve(Config(**{**base, **kw}), 2)


def pieces_and_carry(cfg, env):
    sac = make_agent(cfg, EnvSpec.sized(OBS, ACT, env.num_tasks))
    example = transition_example(OBS, ACT, sac.networks.store_spec)
    _, obs = env.reset()
    carry = HostCarry(sac.init(jax.random.PRNGKey(0)),
                      buffer_init(example, env.num_tasks, cfg.buffer_size // env.num_tasks),
                      jnp.asarray(obs), jax.random.PRNGKey(1), 0,
                      initial_stats(cfg, env.num_tasks, 1, env.max_episode_steps))
    return sac, make_host_pieces(cfg, sac), carry


def test_store_and_update_donate_their_state_and_the_loop_writes_the_buffer():
    """store consumes the buffer it is given and update the SAC state (the input arrays are
    deleted: written in place, not copied); the loop still fills the rings and updates."""
    env = SlowHostEnv()
    cfg = tiny_cfg()
    _, pieces, carry = pieces_and_carry(cfg, env)
    for _ in range(cfg.warmup_steps // env.num_tasks):
        carry = host_step(pieces, env, carry, learn=False)[0]
    old_buffer, old_sac = carry.buffer, carry.sac
    carry, out, info, _ = host_step(pieces, env, carry, learn=True)
    jax.block_until_ready((carry.buffer, carry.sac))
    assert all(x.is_deleted() for x in jax.tree.leaves(old_buffer))
    assert all(x.is_deleted() for x in jax.tree.leaves(old_sac))
    assert np.asarray(carry.buffer.size).tolist() == [3, 3]
    assert int(carry.sac.steps) == 1 and np.isfinite(float(info["total_loss"]))
    # the third transition's obs is the one the env returned at its second step
    np.testing.assert_allclose(np.asarray(carry.buffer.data["obs"][:, 2, 0]), [0.02, 0.02])
    # the sequential form gives the same state as the overlapped one
    a = host_step(pieces, env, carry, learn=True, overlap=False)[0]
    assert int(a.sac.steps) == 2


class TruncatingHostEnv(SlowHostEnv):
    """Reward 1 per step; every episode is truncated after 3 steps."""

    def step(self, state, action, key=None):
        _, out = super().step(state, action, key)
        return None, out._replace(truncated=np.full((self.num_tasks, 1), self.steps % 3 == 0))


def test_the_host_loop_sets_brc_scales_at_episode_ends():
    """Truncated reward-1 episodes bootstrap mean(r) / (1 - gamma) = 100, so every V_t = 100;
    with alpha 1 and H_target = -4 the divisor is (100 + 4 / (2 * 0.01)) / 10 = 30."""
    env = TruncatingHostEnv()
    cfg = tiny_cfg(reward_scaling="brc")
    _, pieces, carry = pieces_and_carry(cfg, env)
    for _ in range(2):
        carry = host_step(pieces, env, carry, learn=False)[0]
    np.testing.assert_array_equal(np.asarray(carry.sac.reward_scale), [1.0, 1.0])
    carry = host_step(pieces, env, carry, learn=False)[0]
    np.testing.assert_allclose(np.asarray(carry.sac.reward_scale), [1 / 30, 1 / 30], rtol=1e-5)


def test_device_training_chunk_copies_no_buffer_sized_array():
    """The device loop passes the buffer through lax.cond (warm-up or not) inside a scan: the
    compiled chunk must write it in place, with no copy of a (T, capacity, ...) array."""
    import re
    from mtrl_jax.envs.point_mt import PointMT
    cfg = resolve(Config(algo="mtsac", env="point-mt", hidden=(8,), buffer_size=5 * 1237,
                         steps_per_call=3, batch_size=10, warmup_steps=5), 5)
    env = PointMT(envs_per_task=1)
    sac = make_agent(cfg, EnvSpec.sized(env.obs_dim, env.act_dim, 5))
    init, chunk = make_train(cfg, env, sac)
    state = jax.jit(init)(jax.random.PRNGKey(0))
    hlo = jax.jit(chunk, donate_argnums=0).lower(state).compile().as_text()
    buffer_ops = [line for line in hlo.splitlines() if re.search(r"= \w+\[5,1237[,\]]", line)]
    assert any(" scatter(" in op or "scatter" in op for op in buffer_ops)  # the writes are found
    assert not [op for op in buffer_ops if re.search(r"\b(copy|copy-start)\(", op)]


class TimedStream(io.StringIO):
    """Records the time of every write (the progress bar's redraws)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def write(self, s):
        self.times.append((time.perf_counter(), s))
        return super().write(s)


def test_progress_is_drawn_by_wall_time_while_steps_are_slow(tmp_path):
    """Env steps of 0.25 s and a chunk of 1000 steps: the bar still appears at once, says what
    runs, and redraws with the step count and rates every ``progress_every`` seconds."""
    env = SlowHostEnv(delay=0.25)
    cfg = tiny_cfg(total_steps=28, progress_every=0.5, steps_per_call=1000)
    sac = make_agent(cfg, EnvSpec.sized(OBS, ACT, env.num_tasks))
    stream = TimedStream()
    start = time.perf_counter()
    logger = RunLogger(str(tmp_path), cfg.total_steps, 0, True, cfg.progress_every, stream)
    summary = train(cfg, env, sac, (0,), RunFolder(str(tmp_path)), False, logger).summary
    logger.close()
    assert summary["env_steps"] == 28
    draws = [(t - start, s) for t, s in stream.times if "step" in s]
    assert draws and draws[0][0] < 1.0
    text = "".join(s for _, s in draws)
    assert "warm-up (random actions)" in text and "training" in text and "compiling" in text
    # Redraws between chunk ends (the chunk is never reached): the heartbeat, with the steps
    # done so far and a measured rate. Without it the bar would move only at phase changes.
    mid = [s for _, s in draws if "/28" in s and "env-steps/s=" in s and "env-steps/s=-" not in s
           and " 28/28" not in s and " 0/28" not in s]
    assert len(mid) >= 3, text[-2000:]
    gaps = np.diff([t for t, _ in draws])
    assert np.median(gaps) <= cfg.progress_every + 0.1
    assert gaps.max() < cfg.progress_every + 3.0  # a first compile may hold the GIL briefly


def test_early_stop_needs_two_evaluations_in_a_row_on_every_seed():
    stop = EarlyStop(tiny_cfg(early_stop_success=0.9, early_stop_min_steps=300))
    assert not stop(100, np.array([[0.95]]))
    assert not stop(200, np.array([[0.95]]))       # two in a row, but before min steps
    assert stop(300, np.array([[0.9]]))
    stop = EarlyStop(tiny_cfg(early_stop_success=0.9))
    assert not stop(100, np.array([[1.0], [0.8]]))  # one seed below
    assert not stop(200, np.array([[1.0], [0.95]]))
    assert not stop(300, np.array([[0.5], [1.0]]))
    assert not stop(400, np.array([[1.0], [1.0]]))
    assert stop(500, np.array([[1.0], [0.92]]))
    assert not EarlyStop(tiny_cfg())(100, np.ones((1, 1)))


def test_early_stop_resumes_its_count_from_the_run_folder(tmp_path):
    """After a resume, the evaluation before the restored step counts as the first of two."""
    import json
    rows = [(100, 0, 0.5), (100, 1, 1.0), (200, 0, 0.96), (200, 1, 0.91)]
    with open(tmp_path / "eval.jsonl", "w") as f:
        for step, seed, value in rows:
            f.write(json.dumps({"env_steps": step, "seed": seed, "eval_success": value}) + "\n")
    cfg = tiny_cfg(early_stop_success=0.9)
    assert EarlyStop(cfg).resume(RunFolder(str(tmp_path)))(300, np.array([[1.0], [0.95]]))
    assert not EarlyStop(cfg)(300, np.array([[1.0], [0.95]]))
    strict = tiny_cfg(early_stop_success=0.95)  # seed 1 missed it at 200
    assert not EarlyStop(strict).resume(RunFolder(str(tmp_path)))(300, np.array([[1.0], [0.95]]))


@pytest.mark.metaworld
@pytest.mark.parametrize("env,task,listed", [("mt1", "nonexistent-v3", "bin-picking-v3"),
                                             ("mt1-mjx", "nonexistent-v3", "window-close-v3")])
def test_unknown_mt1_task_is_a_one_line_error(tmp_path, capsys, env, task, listed):
    code = run_cli.main(["--env", env, "--mt1-task", task, "--out-dir", str(tmp_path),
                         "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert task in err and listed in err
    assert not os.listdir(tmp_path)  # nothing written


def test_make_env_mt1_mjx_uses_mt1_goals():
    """mt1-mjx draws its 50 goals as metaworld.MT1(task, seed) does (the CPU mt1 env's)."""
    pytest.importorskip("mujoco.mjx")
    from mtrl_jax.envs.mw_tasks import sample_rand_vecs
    env = make_env(resolve(Config(env="mt1-mjx", mt1_task="drawer-close-v3", seed=3)), 3)
    assert env.task_names == ("drawer-close-v3",) and env.num_tasks == 1
    np.testing.assert_allclose(np.asarray(env.goals[0]),
                               sample_rand_vecs(("drawer-close-v3",), 3)["drawer-close-v3"],
                               rtol=1e-6)


def test_logger_heartbeat_stops_on_close(tmp_path):
    stream = TimedStream()
    logger = RunLogger(str(tmp_path), 10, 0, True, 0.05, stream)
    time.sleep(0.3)
    logger.close()
    n = len(stream.times)
    time.sleep(0.3)
    assert len(stream.times) == n >= 3
    assert not [t for t in threading.enumerate() if t is getattr(logger, "_thread", None)
                and t.is_alive()]


class SilentProgress:
    def __init__(self):
        self.phases = []

    def phase(self, text):
        self.phases.append(text)

    def tick(self, env_steps, updates, success=None):
        pass

    def write(self, message):
        pass


def test_the_host_loop_resets_at_its_point_and_keeps_the_buffer():
    """Resets on CPU Meta-World's loop: 4000 steps over 2 tasks, one reset at 2000 (ARS's
    spacing: every 1000 per task), then 5 updates on the kept buffer."""
    from mtrl_jax.drivers import HostRows
    env = SlowHostEnv()
    cfg = tiny_cfg(total_steps=4000, steps_per_call=500, resets=1, reset_updates=5,
                   buffer_size=4000)
    rows = HostRows(cfg, env, make_agent(cfg, EnvSpec.sized(OBS, ACT, 2)), seed=0)
    progress, steps, sizes = SilentProgress(), [], []
    for _ in range(3):
        rows.chunk(progress)
        steps.append(int(rows.carry.sac.steps))
        sizes.append(int(rows.carry.buffer.size[0]))
    assert steps == [498, 5, 505]           # updates from step 3 on; the reset after step 1000
    assert sizes == [500, 1000, 1500]
    assert any("reset at 2000" in p for p in progress.phases)
    assert progress.phases[-1] == "training"         # the bar's label after the reset
    rows.evaluate()
    progress.phases.append("evaluating")             # as the engine labels an evaluation
    rows.chunk(progress)
    assert progress.phases[-2:] == ["evaluating", "training"]
