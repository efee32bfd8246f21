"""Evaluation videos of a Meta-World run: one clip per task of the greedy policy.

    MUJOCO_GL=egl python -m mtrl_jax.cli.video runs/<run> [--steps 500] [--format gif|mp4]

Writes ``RUN_DIR/videos/<task>.gif`` (or .mp4) and ``videos/index.json`` (frames and success
per task). Without MUJOCO_GL set, EGL then OSMesa are probed. Headless Debian needs
``libegl1 libegl-mesa0 libgl1-mesa-dri`` (EGL) or ``libosmesa6`` (OSMesa); MP4 needs the
``imageio-ffmpeg`` package.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv=None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--out-dir", default=None, help="default RUN_DIR/videos")
    parser.add_argument("--steps", type=int, default=500, help="steps per episode (max 500)")
    parser.add_argument("--format", choices=("gif", "mp4"), default="gif")
    parser.add_argument("--seed", type=int, default=None, help="which seed of a multi-seed run")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--camera", default="corner", help="Meta-World camera name")
    parser.add_argument("--fps", type=int, default=30)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Select a GL backend before mujoco is imported, then record; exit 2 on bad input."""
    args = parse_args(argv)
    from mtrl_jax.video import NoGLBackend, select_gl_backend
    try:
        backend = select_gl_backend()
    except NoGLBackend as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from mtrl_jax.config import ConfigError
    from mtrl_jax.video import record_run
    try:
        index = record_run(args.run_dir, args.out_dir, args.steps, args.format, args.seed,
                           args.width, args.height, args.camera, args.fps)
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"rendered with MUJOCO_GL={backend}")
    for task, entry in index.items():
        print(f"{task}: {entry['path']} ({entry['frames']} frames, success {entry['success']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
