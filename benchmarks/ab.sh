#!/usr/bin/env bash
# update_throughput and host_loop of an earlier commit against the working tree, interleaved
# (before, after, before, after) so that one run's ratio compares them under the same load:
#
#   bash benchmarks/ab.sh BEFORE_REV [OUT_DIR]      # OUT_DIR default: ab_out
#   ALGOS="mtsac paco" bash benchmarks/ab.sh ...     # update_throughput's methods (default all)
#   ROUNDS=4 HOST_LOOP=0 bash benchmarks/ab.sh ...   # more rounds (default 2); no host_loop
#
# Each side runs its own benchmarks/ scripts on its own mtrl_jax (PYTHONPATH); the logs hold
# the tables, benchmarks/ab_table.py the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1
OUT=${2:-ab_out}
PY=${PYTHON:-$PWD/.venv/bin/python}
mkdir -p "$OUT"
TREE=$(mktemp -d)/before
git worktree add -q --detach "$TREE" "$BEFORE"
trap 'git worktree remove --force "$TREE"' EXIT
for round in $(seq "${ROUNDS:-2}"); do
  for side in before after; do
    root=$PWD; [ "$side" = before ] && root=$TREE
    echo "round $round: $side" >&2
    (cd "$root" && PYTHONPATH=$root $PY benchmarks/update_throughput.py --iters 4 --scan 4 \
      --rounds 1 ${ALGOS:+--algos $ALGOS}) > "$OUT/update_throughput-$side-$round.log" 2>&1
    if [ "${HOST_LOOP:-1}" != 0 ]; then
      (cd "$root" && PYTHONPATH=$root $PY benchmarks/host_loop.py --steps 20 --rounds 1) \
        > "$OUT/host_loop-$side-$round.log" 2>&1
    fi
  done
done
$PY benchmarks/ab_table.py "$OUT"
