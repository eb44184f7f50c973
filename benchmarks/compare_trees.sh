#!/usr/bin/env bash
# Throughput of two source trees of jaxrl in one device call, one after the other:
#   bash benchmarks/compare_trees.sh BASE_DIR "base new"    (BASE_DIR: e.g. `git archive REV | tar -x -C DIR`)
# The order ("base new" or "new base") is the second argument; swap it in a second call, since the
# tree that runs second in a process-fresh machine tends to compile faster. Results: $OUT/<tree>/.
set -o pipefail
base_dir=$(cd "$1" && pwd)
order=${2:-"base new"}
out=${OUT:-results/compare_trees}
root=$(cd "$(dirname "$0")/.." && pwd)
for tree in $order; do
  dir=$root; [ "$tree" = base ] && dir=$base_dir
  echo "=== $tree $(date -u +%H:%M:%S)" | tee -a "$out/log"
  (cd "$dir" && PYTHONUNBUFFERED=1 PYTHONPATH=. python3 -m benchmarks.throughput --only ppo,seeds \
     --num-envs 4,2048,16384 --seeds 1024 --repeats 3 --out "$out/$tree" 2>&1 | tail -12 | tee -a "$out/log")
done
