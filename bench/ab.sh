#!/usr/bin/env bash
# A/B of two kvnode binaries on the 3-node cluster benchmark: alternates
# them on fresh clusters (scripts/cluster.sh, rf 3) and prints, per run, SET
# ops/s, p50 ms and the CPU time (user + system) the three nodes spent per
# operation. Throughput here varies by 10-15% from run to run with the
# machine's other load; CPU per operation is the steadier measure of work
# saved (it still falls a little as throughput rises, with larger batches).
#   bench/ab.sh <kvnode-A> <kvnode-B> [rounds]
# Env: PARTITIONS (8), CLIENTS (50), DUR (8), W (set), KVBENCH.
set -euo pipefail
A=$1; B=$2; ROUNDS=${3:-3}
KVBENCH=${KVBENCH:-${CARGO_TARGET_DIR:-target}/release/kvbench}
DIR=$(mktemp -d -t kvab.XXXXXX)
trap 'CLUSTER_DIR="$DIR/c" scripts/cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
ADDRS=(--addr 127.0.0.1:6380 --addr 127.0.0.1:6381 --addr 127.0.0.1:6382)
HZ=$(getconf CLK_TCK)
# Clock ticks of CPU the three nodes have used so far.
node_ticks() {
  local total=0 pid f
  for i in 1 2 3; do
    pid=$(cat "$DIR/c/node$i.pid")
    read -r -a f < <(cut -d' ' -f14,15 "/proc/$pid/stat")
    total=$((total + f[0] + f[1]))
  done
  echo "$total"
}
for _ in $(seq 1 "$ROUNDS"); do
  for bin in "$A" "$B"; do
    rm -rf "$DIR/c"
    CLUSTER_DIR="$DIR/c" KVNODE=$bin PARTITIONS=${PARTITIONS:-8} scripts/cluster.sh start >/dev/null
    # Leadership hand-overs must not fall into the measured run (a build
    # from before preferred leaders never balances: 30 s lost, then on).
    CLUSTER_DIR="$DIR/c" PARTITIONS=${PARTITIONS:-8} scripts/cluster.sh wait-balanced 30 >/dev/null 2>&1 || true
    # Load the keys first so that every measured SET overwrites one; this
    # also warms the nodes up, so the measured run has no warm-up of its own
    # and the CPU time read around it belongs to the counted operations.
    "$KVBENCH" -c 50 --duration 3 --quiet --addr 127.0.0.1:6380 -w set >/dev/null
    t0=$(node_ticks)
    r=$("$KVBENCH" -c "${CLIENTS:-50}" --duration "${DUR:-8}" --warmup 0 --quiet "${ADDRS[@]}" -w "${W:-set}" | tail -1)
    t1=$(node_ticks)
    echo "$bin: $(echo "$r" | awk -v t=$((t1 - t0)) -v hz="$HZ" \
      '{printf "%s ops/s, p50 %s ms, %.1f us CPU/op", $2, $3, t * 1e6 / hz / $1}')"
    CLUSTER_DIR="$DIR/c" scripts/cluster.sh stop >/dev/null
  done
done
