#!/usr/bin/env bash
# The standard kvbench suite (`make bench`): starts a release standalone
# kvnode and, as the reference with the same durability, redis-server with
# appendfsync always, on free loopback ports; runs every workload against
# both for DUR seconds after a 1 s warmup, plus an open-loop run at a fixed
# rate; writes bench/results/<time>/report.md with the JSON and PNG plots.
#
#   bench/suite.sh            DUR=5 CLIENTS=50 RATE=20000 by default
set -euo pipefail
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
DUR=${DUR:-5}; CLIENTS=${CLIENTS:-50}; RATE=${RATE:-20000}
WORKLOADS=${WORKLOADS:-"set get mixed incr hset lpush sadd zadd mset multi"}
OUT=bench/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
WORK=$(mktemp -d -t kvsuite.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ping() { for _ in $(seq 1 300); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done; echo "no PONG from port $1" >&2; return 1; }

KV_PORT=$(free_port); REDIS_PORT=$(free_port)
"$BIN/kvnode" --redis-addr 127.0.0.1:$KV_PORT --data-dir "$WORK/kvnode" >"$WORK/kvnode.log" 2>&1 & PIDS+=($!)
mkdir -p "$WORK/redis"
redis-server --port $REDIS_PORT --dir "$WORK/redis" --save '' --appendonly yes --appendfsync always >"$WORK/redis.log" 2>&1 & PIDS+=($!)
wait_ping $KV_PORT; wait_ping $REDIS_PORT

run() { # label port extra-args...
  local label=$1 port=$2; shift 2
  local file=${label// /-}
  "$BIN/kvbench" --addr 127.0.0.1:$port -c "$CLIENTS" --duration "$DUR" --warmup 1 --quiet \
    --label "$label" --json "$OUT/$file.json" --plot "$OUT/$file.png" --markdown "$OUT/table.md" "$@"
}
for w in $WORKLOADS; do
  run "kvnode $w" $KV_PORT -w $w
  run "redis-aof $w" $REDIS_PORT -w $w
done
run "kvnode set open-loop" $KV_PORT -w set --rate "$RATE"
run "redis-aof set open-loop" $REDIS_PORT -w set --rate "$RATE"
run "kvnode mixed zipf verify" $KV_PORT -w mixed --distribution zipf --verify

{
  echo "# kvbench suite, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Machine: $(nproc) cores, $(uname -sr); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "Targets: standalone kvnode (release, one partition) and redis-server with appendonly yes, appendfsync always;"
  echo "$CLIENTS clients, 64-byte values, 100000 keys uniform, ${DUR} s after a 1 s warmup, closed loop pipeline 1"
  echo "unless the row says open loop (latency from the intended send time)."
  echo
  cat "$OUT/table.md"
  echo
  echo "Plots (throughput and latency per second, latency by percentile):"
  echo
  for f in "$OUT"/*.png; do echo "- [$(basename "$f" .png)]($(basename "$f"))"; done
} >"$OUT/report.md"
echo "wrote $OUT/report.md"
