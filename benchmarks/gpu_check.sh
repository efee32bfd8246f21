#!/usr/bin/env bash
# The prepared GPU check (issues 13, 17): at most 9.5 minutes on an NVIDIA GPU, one table.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        # OUT_DIR default: $OUT, else gpu_check_out
#
# Sections (each under its own time limit, so that one slow compile cannot eat the rest):
# the device, update_throughput for every --algo, env_throughput of the MJX port at E = 1, 128
# and 1024 per task on one task (reach-v3) and on MT10, the MT50 port (three tasks outside MT10
# one by one, and the 50 tasks as one program per scene, E = 128: its log's "group k/40" lines give
# each scene's compile seconds if the section runs past its limit), timed mt10-mjx runs of MT-SAC and of the
# full-width brc preset that write their success curves, and layouts.py (the XLA:CPU forms
# against their plain forms).
# benchmarks/gpu_table.py merges them into OUT_DIR/gpu_check.md.
#
# The GPU machine has JAX (and flax, optax, chex, orbax) but no package registry: the other
# packages travel as wheels in .whl/ (benchmarks/gpu_wheels.sh downloads them), installed here
# into /tmp/site first.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-gpu_check_out}}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false MUJOCO_GL=egl
: > "$OUT_DIR/status.txt"

section() {  # name, seconds (times LIMIT_SCALE, default 1: a dry run of the plumbing), command...
  local name=$1 limit start rc
  limit=$(awk "BEGIN { printf \"%d\", $2 * ${LIMIT_SCALE:-1} + 1 }")
  shift 2
  start=$(date +%s)
  timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
  rc=$?
  echo "$name $rc $(( $(date +%s) - start ))" >> "$OUT_DIR/status.txt"
  echo "$name: exit $rc after $(( $(date +%s) - start )) s"
}

section device 20 $PY -c "import jax; d = jax.devices()[0]; print(d.device_kind, jax.__version__, jax.device_count())"
section update_throughput 110 $PY benchmarks/update_throughput.py --iters 5 --scan 5 --rounds 1
section env_one_task 60 $PY benchmarks/env_throughput.py --tasks reach-v3 --envs 1 128 1024 --steps 20 --no-cpu
section train_mt10_mjx 80 $PY experiments/run.py --algo mtsac --env mt10-mjx --total-steps 480000 \
  --eval-every 160000 --checkpoint-every 0 --steps-per-call 250 --no-progress \
  --out-dir "$OUT_DIR/runs" --run-name mt10-mjx-mtsac
section train_mt10_mjx_brc 70 $PY experiments/run.py --algo brc --env mt10-mjx --total-steps 240000 \
  --eval-every 120000 --checkpoint-every 0 --steps-per-call 250 --no-progress \
  --out-dir "$OUT_DIR/runs" --run-name mt10-mjx-brc
section env_mt10 80 $PY benchmarks/env_throughput.py --envs 1024 128 1 --steps 20 --no-cpu
section env_mt50_tasks 40 $PY benchmarks/env_throughput.py --per-task --tasks plate-slide-v3 hammer-v3 \
  button-press-v3 --envs 1024 --steps 20 --no-cpu
section env_mt50 60 $PY benchmarks/env_throughput.py --benchmark mt50 --envs 128 --steps 10 --no-cpu \
  --per-scene --workers 12
section layouts 40 $PY benchmarks/layouts.py --rounds 2 --iters 5
$PY benchmarks/gpu_table.py "$OUT_DIR" | tee "$OUT_DIR/gpu_check.md"
