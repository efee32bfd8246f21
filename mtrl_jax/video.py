"""Evaluation videos: render a policy's episodes on Meta-World with MuJoCo's offscreen renderer.

One clip per task (GIF, or MP4 with ``imageio-ffmpeg``), written by :func:`record_run` from a run
folder or by :func:`record_metaworld` / :func:`record_mjx` for any policy
``obs (T, 1, 39) -> action (T, 1, 4)``.

MuJoCo picks its GL backend from ``MUJOCO_GL`` when ``mujoco`` is first imported, so
:func:`select_gl_backend` must run before anything imports mujoco (the CLI does this first). On a
headless Linux machine ``egl`` needs ``libegl1`` + ``libegl-mesa0`` + ``libgl1-mesa-dri``, and
``osmesa`` needs ``libosmesa6`` (Debian packages); :func:`find_gl_backend` probes them in a fresh
interpreter and says why each one failed.

CPU Meta-World renders the env's own ``MjModel``/``MjData``. MJX states are copied into an
``MjData`` of the port scene's ``MjModel`` with ``mujoco.mjx.get_data`` (:func:`mjdata_from_mjx`);
the MJX port's scenes keep Meta-World's visual geometry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

BACKENDS = ("egl", "osmesa")
CAMERA = "corner"
PROBE = """
import mujoco
m = mujoco.MjModel.from_xml_string("<mujoco><worldbody><light pos='0 0 2'/>"
                                   "<geom type='sphere' size='.1'/></worldbody></mujoco>")
d = mujoco.MjData(m)
mujoco.mj_forward(m, d)
r = mujoco.Renderer(m, 16, 16)
r.update_scene(d)
assert r.render().max() > 0, 'blank frame'
r.close()
"""


class NoGLBackend(RuntimeError):
    """No offscreen GL backend works here; the message lists each backend's failure."""


def probe_backend(name: str, timeout: float = 60.0) -> str | None:
    """Render one tiny frame with ``MUJOCO_GL=name`` in a fresh interpreter; None if it works,
    else the reason (the last line of the error)."""
    env = {**os.environ, "MUJOCO_GL": name}
    if name == "osmesa":
        env["PYOPENGL_PLATFORM"] = "osmesa"
    elif name == "egl":
        env["PYOPENGL_PLATFORM"] = "egl"
    try:
        proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {proc.returncode}"


def find_gl_backend() -> tuple[str | None, dict[str, str]]:
    """(first working backend or None, {backend: reason it failed}). A set ``MUJOCO_GL`` is
    the only one tried."""
    preset = os.environ.get("MUJOCO_GL")
    failures = {}
    for name in ([preset] if preset else BACKENDS):
        reason = probe_backend(name)
        if reason is None:
            return name, failures
        failures[name] = reason
    return None, failures


def select_gl_backend() -> str:
    """Set ``MUJOCO_GL`` (and ``PYOPENGL_PLATFORM``) to a working backend before mujoco is
    imported; raises NoGLBackend with the fix if none works or mujoco was imported too early."""
    name, failures = find_gl_backend()
    if name is None:
        detail = "; ".join(f"{k}: {v}" for k, v in failures.items())
        raise NoGLBackend(f"no offscreen GL backend works ({detail}). Install the Debian packages "
                          "libegl1 libegl-mesa0 libgl1-mesa-dri (MUJOCO_GL=egl) or libosmesa6 "
                          "(MUJOCO_GL=osmesa)")
    if "mujoco" in sys.modules and os.environ.get("MUJOCO_GL") != name:
        raise NoGLBackend(f"mujoco was imported before MUJOCO_GL was set; run with "
                          f"MUJOCO_GL={name} in the environment")
    os.environ["MUJOCO_GL"] = name
    os.environ.setdefault("PYOPENGL_PLATFORM", name)
    return name


class ClipRenderer:
    """An offscreen renderer of one model at a fixed camera (clamped to the model's offscreen
    buffer size)."""

    def __init__(self, model, width: int = 320, height: int = 240, camera: str | None = CAMERA):
        import mujoco
        width = min(width, model.vis.global_.offwidth)
        height = min(height, model.vis.global_.offheight)
        self.renderer = mujoco.Renderer(model, height, width)
        has_camera = camera is not None and mujoco.mj_name2id(
            model, mujoco.mjtObj.mjOBJ_CAMERA, camera) >= 0
        self.camera = camera if has_camera else -1

    def frame(self, data) -> np.ndarray:
        """(height, width, 3) uint8 image of ``data``."""
        self.renderer.update_scene(data, camera=self.camera)
        return np.asarray(self.renderer.render(), np.uint8).copy()

    def close(self) -> None:
        self.renderer.close()


def write_clip(frames: list[np.ndarray], path: str, fps: int = 30) -> str:
    """Write frames to ``path``: .gif (pillow) or .mp4 (needs imageio-ffmpeg)."""
    import imageio.v2 as imageio
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".gif"):
        imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
    elif path.endswith(".mp4"):
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError as err:
            raise ValueError("MP4 needs the imageio-ffmpeg package; install it or write .gif") \
                from err
        imageio.mimwrite(path, frames, fps=fps, codec="libx264", macro_block_size=1)
    else:
        raise ValueError(f"unknown video format of {path}: use .gif or .mp4")
    return path


def metaworld_episode_frames(policy, benchmark: str = "MT10", seed: int = 0,
                             mt1_task: str = "reach-v3", steps: int = 500,
                             width: int = 320, height: int = 240, camera: str | None = CAMERA):
    """Run one episode of every task of the CPU benchmark with ``policy``; returns
    (task names, frames per task, success per task). Stops at the first truncation."""
    from mtrl_jax.envs.metaworld import OBS_DIM, _success, _task_names, make_vector_env
    vec = make_vector_env(benchmark, seed, mt1_task)
    names = _task_names(vec)
    envs = [e.unwrapped for e in vec.envs]
    renderers = [ClipRenderer(e.model, width, height, camera) for e in envs]
    frames = [[] for _ in envs]
    success = np.zeros(len(envs), bool)
    try:
        obs, _ = vec.reset(seed=seed)
        for t in range(steps):
            for i, (r, e) in enumerate(zip(renderers, envs)):
                frames[i].append(r.frame(e.data))
            obs_t = np.asarray(obs, np.float32)[:, None, :OBS_DIM]
            action = np.asarray(policy(obs_t), np.float64).reshape(len(envs), -1)
            obs, _, terminated, truncated, info = vec.step(action)
            success |= _success(info, len(envs))
            if np.any(terminated | truncated):
                break
    finally:
        for r in renderers:
            r.close()
        vec.close()
    return names, frames, success


def mjdata_from_mjx(mj_model, mjx_data, index: int | None = None):
    """An ``MjData`` of ``mj_model`` holding one MJX state (element ``index`` of a batch)."""
    import jax
    from mujoco import mjx
    if index is not None:
        mjx_data = jax.tree.map(lambda x: x[index], mjx_data)
    return mjx.get_data(mj_model, mjx_data)


def mjx_episode_frames(policy, env, steps: int = 500, seed: int = 0, width: int = 320,
                       height: int = 240, camera: str | None = CAMERA):
    """Run the MJX env (``mtrl_jax.envs.mjx.MJXMultiTaskEnv``) with ``policy`` and render the
    first env of every task from its MJX state; returns (task names, frames, success)."""
    import jax
    import jax.numpy as jnp
    models = list(env.mj_models)                          # the port scenes' MjModels
    renderers = [ClipRenderer(m, width, height, camera) for m in models]
    step = jax.jit(env.step)
    key = jax.random.PRNGKey(seed)
    state, obs = jax.jit(env.reset)(key)
    frames = [[] for _ in models]
    success = np.zeros(len(models), bool)
    try:
        for t in range(min(steps, env.max_episode_steps)):
            for i, (r, m) in enumerate(zip(renderers, models)):
                frames[i].append(r.frame(mjdata_from_mjx(m, state[i].data, index=0)))
            action = jnp.asarray(policy(np.asarray(obs)[:, :1]))
            action = jnp.broadcast_to(action, (env.num_tasks, env.envs_per_task, env.act_dim))
            state, out = step(state, action, jax.random.fold_in(key, t))
            success |= np.asarray(out.success)[:, 0]
    finally:
        for r in renderers:
            r.close()
    return env.task_names, frames, success


def save_clips(names, frames, success, out_dir: str, fmt: str = "gif", fps: int = 30) -> dict:
    """One clip per task in ``out_dir`` plus ``index.json``: task -> {path, frames, success}."""
    index = {}
    for name, clip, ok in zip(names, frames, success):
        path = write_clip(clip, os.path.join(out_dir, f"{name}.{fmt}"), fps)
        index[name] = {"path": path, "frames": len(clip), "success": bool(ok)}
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
    return index


def record_run(run_dir: str, out_dir: str | None = None, steps: int = 500, fmt: str = "gif",
               seed: int | None = None, width: int = 320, height: int = 240,
               camera: str | None = CAMERA, fps: int = 30) -> dict:
    """Clips of the run's greedy policy (latest checkpoint), one per task, in
    ``run_dir/videos`` by default. Meta-World runs (mt10, mt50, mt1) and MJX runs only."""
    import jax
    import jax.numpy as jnp
    from mtrl_jax.config import ConfigError
    from mtrl_jax.envs import PER_SCENE_ENVS
    from mtrl_jax.figures import greedy_action, load_config, load_networks
    cfg = load_config(run_dir)
    mjx_envs = ("mt10-mjx", "mt50-mjx", *PER_SCENE_ENVS)
    if cfg.env not in ("mt10", "mt50", "mt1", *mjx_envs):
        raise ConfigError(f"videos need a Meta-World run (mt10, mt50, mt1, {', '.join(mjx_envs)}); this run "
                          f"is --env {cfg.env}, which has no MuJoCo scene")
    nets = load_networks(run_dir, seed)
    act = jax.jit(lambda o: greedy_action(nets, o))
    policy = lambda o: np.asarray(act(jnp.asarray(o, jnp.float32)))  # noqa: E731
    run_seed = (cfg.seeds or (cfg.seed,))[0] if seed is None else seed
    if cfg.env in mjx_envs:
        # A per-scene env renders through its one-program env: the same tasks, scenes and goals.
        env = nets.env.inner.env if cfg.env in PER_SCENE_ENVS else nets.env
        result = mjx_episode_frames(policy, env, steps, run_seed, width, height, camera)
    else:
        if hasattr(nets.env, "close"):
            nets.env.close()
        result = metaworld_episode_frames(policy, cfg.env.upper(), run_seed + 20_000,
                                          cfg.mt1_task, steps, width, height, camera)
    return save_clips(*result, out_dir or os.path.join(run_dir, "videos"), fmt, fps)
