#!/usr/bin/env bash
# Downloads, here, the wheels the GPU machine lacks (Python 3.12, x86-64) into .whl/, which git
# ignores (.git/info/exclude); benchmarks/gpu_check.sh installs them there. Versions: DESIGN.md
# section 10 / pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d .whl mujoco==3.3.0 mujoco-mjx==3.3.0 metaworld==3.1.1 gymnasium==1.2.3 \
  farama-notifications tyro==1.0.17 docstring-parser typeguard shtab tensorboardX==2.6.5 \
  glfw pyopengl trimesh
du -sh .whl
