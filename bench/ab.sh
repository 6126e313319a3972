#!/usr/bin/env bash
# A/B of two kvnode binaries on the 3-node cluster benchmark: alternates
# them on fresh clusters (scripts/cluster.sh, rf 3) and prints SET ops/s and
# p50 ms of each run, so run-to-run noise shows next to the difference.
#   bench/ab.sh <kvnode-A> <kvnode-B> [rounds]
# Env: PARTITIONS (8), CLIENTS (50), DUR (8), W (set), KVBENCH.
set -euo pipefail
A=$1; B=$2; ROUNDS=${3:-3}
KVBENCH=${KVBENCH:-${CARGO_TARGET_DIR:-target}/release/kvbench}
DIR=$(mktemp -d -t kvab.XXXXXX)
trap 'CLUSTER_DIR="$DIR/c" scripts/cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
ADDRS=(--addr 127.0.0.1:6380 --addr 127.0.0.1:6381 --addr 127.0.0.1:6382)
for _ in $(seq 1 "$ROUNDS"); do
  for bin in "$A" "$B"; do
    rm -rf "$DIR/c"
    CLUSTER_DIR="$DIR/c" KVNODE=$bin PARTITIONS=${PARTITIONS:-8} scripts/cluster.sh start >/dev/null
    # Load the keys first so that every measured SET overwrites one.
    "$KVBENCH" -c 50 --duration 3 --quiet --addr 127.0.0.1:6380 -w set >/dev/null
    r=$("$KVBENCH" -c "${CLIENTS:-50}" --duration "${DUR:-8}" --warmup 1 --quiet "${ADDRS[@]}" -w "${W:-set}" | tail -1)
    echo "$bin: $(echo "$r" | awk '{print $2 " ops/s, p50 " $3 " ms"}')"
    CLUSTER_DIR="$DIR/c" scripts/cluster.sh stop >/dev/null
  done
done
