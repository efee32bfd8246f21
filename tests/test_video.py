"""Evaluation videos: a short Meta-World episode is rendered to a GIF (skipped without GL)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mtrl_jax.video import find_gl_backend, write_clip

ROOT = os.path.join(os.path.dirname(__file__), "..")
# Run in a fresh interpreter: MUJOCO_GL must be set before mujoco is imported.
SCRIPT = """
import json, sys
import numpy as np
from mtrl_jax.video import metaworld_episode_frames, save_clips
push_right = lambda obs: np.tile([1.0, 0.0, 0.0, -1.0], (obs.shape[0], 1, 1))
names, frames, success = metaworld_episode_frames(push_right, "MT1", 0, "reach-v3", steps=6,
                                                  width=64, height=48)
index = save_clips(names, frames, success, sys.argv[1], "gif")
first, last = frames[0][0].astype(int), frames[0][-1].astype(int)
print(json.dumps({"index": index, "moved": float(np.abs(first - last).mean())}))
"""


@pytest.fixture(scope="module")
def backend():
    name, failures = find_gl_backend()
    if name is None:
        pytest.skip(f"no offscreen GL backend: {failures}")
    return name


def test_short_episode_is_written_as_gif(backend, tmp_path):
    import imageio.v2 as imageio
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    entry = result["index"]["reach-v3"]
    assert entry["frames"] == 6 and os.path.getsize(entry["path"]) > 0
    frames = imageio.mimread(entry["path"])
    assert len(frames) == 6 and frames[0].shape[:2] == (48, 64)
    assert np.asarray(frames[0]).std() > 1.0            # not a blank image
    assert result["moved"] > 0.0                        # the arm moved between frames
    assert json.load(open(tmp_path / "index.json")) == result["index"]


def test_write_clip_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="gif or .mp4"):
        write_clip([np.zeros((4, 4, 3), np.uint8)], str(tmp_path / "x.avi"))
    with pytest.raises(ValueError, match="no frames"):
        write_clip([], str(tmp_path / "x.gif"))


def test_mjx_state_is_copied_into_mjdata():
    import mujoco
    from mujoco import mjx

    from mtrl_jax.video import mjdata_from_mjx
    model = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><body><freejoint/><geom type='sphere' size='.1'/></body>"
        "<geom type='plane' size='1 1 .1'/></worldbody></mujoco>")
    data = mujoco.MjData(model)
    data.qpos[:3] = [0.1, -0.2, 0.3]
    batched = [mjx.put_data(model, data)]
    data.qpos[:3] = [0.4, 0.5, 0.6]
    batched.append(mjx.put_data(model, data))
    import jax
    stacked = jax.tree.map(lambda *x: np.stack(x), *batched)
    copy = mjdata_from_mjx(model, stacked, index=1)
    np.testing.assert_allclose(copy.qpos[:3], [0.4, 0.5, 0.6], rtol=0, atol=1e-6)


MJX_SCRIPT = """
import json, os, sys
import jax
import numpy as np
from mtrl_jax.xla_cache import enable_compile_cache
enable_compile_cache()
from mtrl_jax.envs.mjx import MJXMultiTaskEnv
from mtrl_jax.video import mjx_episode_frames, save_clips
# tests/test_mjx_env.py's env (same program: its compile comes from the persistent cache)
env = MJXMultiTaskEnv(envs_per_task=2, tasks=("reach-v3",), seed=0, max_episode_steps=80)
push_right = lambda obs: np.tile([1.0, 0.0, 0.0, -1.0], (obs.shape[0], 1, 1))
names, frames, success = mjx_episode_frames(push_right, env, steps=5, width=64, height=48)
index = save_clips(names, frames, success, sys.argv[1], "gif")
first, last = frames[0][0].astype(int), frames[0][-1].astype(int)
print(json.dumps({"index": index, "moved": float(np.abs(first - last).mean())}))
"""


@pytest.mark.metaworld
@pytest.mark.mjx_compile
def test_mjx_episode_is_rendered_from_device_states(backend, tmp_path):
    """End to end on the MJX port: the env's batched states are copied into the port scene's
    MjData and rendered, one clip per task, and the arm moves in it."""
    import imageio.v2 as imageio
    pytest.importorskip("mujoco.mjx")
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    proc = subprocess.run([sys.executable, "-c", MJX_SCRIPT, str(tmp_path)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    entry = result["index"]["reach-v3"]
    assert entry["frames"] == 5 and isinstance(entry["success"], bool)
    frames = imageio.mimread(entry["path"])
    assert len(frames) == 5 and frames[0].shape[:2] == (48, 64)
    assert np.asarray(frames[0]).std() > 1.0
    assert result["moved"] > 0.0
