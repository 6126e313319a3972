#!/usr/bin/env bash
# A local 3-node cluster (replication factor 3) on loopback, for trying the
# store out. `scripts/cluster.sh start` (make cluster) / `stop` (make cluster-stop);
# `wait-balanced` waits until leadership has spread over the nodes.
# Nodes: redis 127.0.0.1:6380-6382, raft :7380-7382, http :8380-8382.
# Data and logs under $CLUSTER_DIR (default ./cluster-data).
set -euo pipefail
DIR=${CLUSTER_DIR:-./cluster-data}
BIN=${KVNODE:-${CARGO_TARGET_DIR:-./target}/release/kvnode}
PARTITIONS=${PARTITIONS:-8}
# The three nodes share this machine's CPUs: each gets a third of them for
# its connection threads rather than one per CPU.
WORKERS=${WORKERS:-$(( $(nproc) / 3 > 0 ? $(nproc) / 3 : 1 ))}

# True while the process runs. A killed node whose parent shell has exited
# may linger as a zombie until init reaps it; kill -0 still finds that one.
alive() {
  kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# Reports that node $1 did not start, with the end of its log, and fails.
failed() {
  echo "node $1 did not start (pid $(cat "$DIR/node$1.pid")); the end of $DIR/node$1.log:" >&2
  # The error a failed start printed (without its backtrace), else the tail.
  awk '/^Error:/ {n = 0; err = 1} err && /^Stack backtrace/ {err = 0} err {e[n++] = $0}
       {t[NR % 8] = $0} END {if (n) for (i = 0; i < n; i++) print e[i];
       else for (i = NR - 7; i <= NR; i++) if (i > 0) print t[i % 8]}' "$DIR/node$1.log" >&2
  exit 1
}

start() {
  mkdir -p "$DIR"
  if [ ! -f "$DIR/cluster.toml" ]; then
    {
      echo "replication = 3"
      echo "[[namespace]]"
      echo "name = \"default\""
      echo "partitions = $PARTITIONS"
      for i in 1 2 3; do
        echo "[[node]]"
        echo "id = $i"
        echo "raft-addr = \"127.0.0.1:$((7379 + i))\""
        echo "redis-addr = \"127.0.0.1:$((6379 + i))\""
        echo "http-addr = \"127.0.0.1:$((8379 + i))\""
      done
    } > "$DIR/cluster.toml"
  fi
  for i in 1 2 3; do
    if [ -f "$DIR/node$i.pid" ] && alive "$(cat "$DIR/node$i.pid")"; then
      echo "node $i is already running (pid $(cat "$DIR/node$i.pid"))"
      continue
    fi
    # --bootstrap only creates replicas in a new data directory; a restart
    # of an existing node ignores it.
    "$BIN" --cluster "$DIR/cluster.toml" --node-id $i --bootstrap --data-dir "$DIR/node$i" --workers "$WORKERS" \
      >> "$DIR/node$i.log" 2>&1 &
    echo $! > "$DIR/node$i.pid"
  done
  # A node that exits (a port in use, a bad description) or does not come
  # up within a minute fails the start, with the end of its log. (A new
  # node waits for the others' answers before it serves: one that died
  # holds up the rest.)
  for i in 1 2 3; do
    for _ in $(seq 1 600); do
      curl -sf "http://127.0.0.1:$((8379 + i))/health" >/dev/null 2>&1 && break
      for j in 1 2 3; do alive "$(cat "$DIR/node$j.pid")" || failed $j; done
      sleep 0.1
    done
    health=$(curl -sf "http://127.0.0.1:$((8379 + i))/health") || failed $i
    echo "$health"
  done
  cat <<MSG

3-node cluster running (data and logs in $DIR):
  redis-cli -p 6380            any node answers any key (forwarded to the leader)
  redis-cli -c -p 6380 cluster slots
  curl http://127.0.0.1:8380/metrics
  curl http://127.0.0.1:8380/admin/partitions      membership (admin API: see README)
Stop it with:  make cluster-stop   (or: scripts/cluster.sh stop)
MSG
}

stop() {
  for i in 1 2 3; do
    f="$DIR/node$i.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      echo "stopped node $i (pid $pid)"
    fi
    rm -f "$f"
  done
}

# Waits (up to $1 seconds, default 60) until every partition is led by its
# preferred node, the first of its initial replicas (partition p by node
# p mod 3 + 1): a node hands a partition back about leader-balance-secs (10)
# after it took it, and writes during a hand-over wait for it (pipelined
# ones on several partitions may get -TRYAGAIN), so
# benchmarks start measuring only after this.
balanced() {
  local want got
  want=$(for i in 1 2 3; do seq $((i - 1)) 3 $((PARTITIONS - 1)) | tr '\n' ','; echo; done)
  for _ in $(seq 1 $((${1:-60} * 10))); do
    got=$(for i in 1 2 3; do
      curl -sf "http://127.0.0.1:$((8379 + i))/metrics" | grep 'kvnode_partition_role{.*role="leader"' |
        sed 's/.*partition="\([0-9]*\)".*/\1/' | sort -n | tr '\n' ','
      echo
    done)
    if [ "$got" = "$want" ]; then
      echo "each partition led by its preferred node (node 1: ${got%%$'\n'*})"
      return 0
    fi
    sleep 0.1
  done
  echo "partitions not led by their preferred nodes within ${1:-60} s; leaders per node:" $got >&2
  return 1
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  wait-balanced) balanced "${2:-60}" ;;
  *) echo "usage: $0 start|stop|wait-balanced [seconds]" >&2; exit 2 ;;
esac
