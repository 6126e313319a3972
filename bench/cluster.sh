#!/usr/bin/env bash
# The replicated-cluster benchmark (`make bench-cluster`), in one run on this
# machine: a 3-node kvnode cluster (replication factor 3, 8 partitions,
# release build) against redis-server with appendfsync always, and against a
# 3-member etcd cluster (Debian's etcd-server), all on loopback.
#   1. ../shared/bench/compare.sh --port <node 1> (redis-benchmark SET/GET,
#      everything sent to node 1, which forwards what it does not lead);
#   2. kvbench SET and GET with the same clients, value size and duration
#      against the cluster (clients spread over the three nodes, which
#      forward what they do not lead; and, as a Redis Cluster client does,
#      each key sent to its partition's leader from CLUSTER SLOTS), redis-aof
#      and etcd (--protocol etcd, clients spread over the three members).
# Output: bench/results/cluster-<time>/report.md.
set -euo pipefail
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
DUR=${DUR:-10}; CLIENTS=${CLIENTS:-50}
OUT=bench/results/cluster-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
WORK=$(mktemp -d -t kvcluster.XXXXXX)
PIDS=()
cleanup() {
  CLUSTER_DIR="$WORK/cluster" KVNODE="$BIN/kvnode" scripts/cluster.sh stop >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ping() { for _ in $(seq 1 300); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done; echo "no PONG from port $1" >&2; return 1; }

CLUSTER_DIR="$WORK/cluster" KVNODE="$BIN/kvnode" PARTITIONS=8 scripts/cluster.sh start >/dev/null
for p in 6380 6381 6382; do wait_ping $p; done
# Measure once the preferred leaders have taken over (writes wait out each hand-over).
CLUSTER_DIR="$WORK/cluster" PARTITIONS=8 scripts/cluster.sh wait-balanced
REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port $REDIS_PORT --dir "$WORK/redis" --save '' --appendonly yes --appendfsync always >"$WORK/redis.log" 2>&1 & PIDS+=($!)
wait_ping $REDIS_PORT

# A 3-member etcd cluster.
ETCD_CLIENTS=(); INITIAL=""
declare -a EC EP
for i in 1 2 3; do EC[$i]=$(free_port); EP[$i]=$(free_port); INITIAL+="e$i=http://127.0.0.1:${EP[$i]},"; done
INITIAL=${INITIAL%,}
for i in 1 2 3; do
  etcd --name e$i --data-dir "$WORK/etcd$i" \
    --listen-client-urls http://127.0.0.1:${EC[$i]} --advertise-client-urls http://127.0.0.1:${EC[$i]} \
    --listen-peer-urls http://127.0.0.1:${EP[$i]} --initial-advertise-peer-urls http://127.0.0.1:${EP[$i]} \
    --initial-cluster "$INITIAL" --initial-cluster-state new --initial-cluster-token kvbench \
    >"$WORK/etcd$i.log" 2>&1 & PIDS+=($!)
  ETCD_CLIENTS+=(--addr 127.0.0.1:${EC[$i]})
done
for i in 1 2 3; do
  for _ in $(seq 1 300); do curl -sf http://127.0.0.1:${EC[$i]}/health 2>/dev/null | grep -q true && break; sleep 0.1; done
done

echo "== compare.sh against the cluster (node 1) =="
../shared/bench/compare.sh --port 6380 -t set,get -c "$CLIENTS" | tee "$OUT/compare.txt"

run() { # label extra-args...
  local label=$1; shift
  "$BIN/kvbench" -c "$CLIENTS" --duration "$DUR" --warmup 1 --quiet \
    --label "$label" --json "$OUT/${label// /-}.json" --markdown "$OUT/table.md" "$@"
}
KV=(--addr 127.0.0.1:6380 --addr 127.0.0.1:6381 --addr 127.0.0.1:6382)
for w in set get; do
  run "kvnode 3-node rf3 $w" "${KV[@]}" -w $w
  run "kvnode 3-node rf3 $w, slot-routed" "${KV[@]}" --cluster -w $w
  run "redis-aof $w" --addr 127.0.0.1:$REDIS_PORT -w $w
  run "etcd 3-member $w" --protocol etcd "${ETCD_CLIENTS[@]}" -w $w
done
run "kvnode 3-node rf3 set -P16" "${KV[@]}" -w set -P 16
run "redis-aof set -P16" --addr 127.0.0.1:$REDIS_PORT -w set -P 16
run "etcd 3-member set -P16" --protocol etcd "${ETCD_CLIENTS[@]}" -w set -P 16

{
  echo "# Replicated cluster benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Machine: $(nproc) cores, $(uname -sr); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "kvnode: 3 nodes, replication 3, 8 partitions, release. redis-server: appendonly yes, appendfsync always."
  echo "etcd: 3 members ($(etcd --version 2>/dev/null | head -1)). All on loopback, same machine."
  echo "kvbench: $CLIENTS clients, 64-byte values, 100000 keys uniform, ${DUR} s after 1 s warmup."
  echo
  cat "$OUT/table.md"
  echo
  echo '```'
  cat "$OUT/compare.txt"
  echo '```'
} > "$OUT/report.md"
cat "$OUT/report.md"
