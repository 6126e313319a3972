#!/usr/bin/env bash
# kvbench beside redis-benchmark, same parameters (50 clients, 64-byte
# values, 100000 keys), SET and GET at pipeline 1 and 16, on two
# redis-servers: without persistence and with appendfsync always. Median of
# ROUNDS rounds. The "server" columns are the referee: commands the server
# counted (INFO total_commands_processed) divided by each tool's wall time,
# process start included, so they sit slightly below what a tool reports.
set -euo pipefail
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d -t kvsanity.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
start() { # name, extra redis-server args...
  local name=$1; shift
  local port; port=$(free_port); mkdir -p "$WORK/$name"
  redis-server --port "$port" --dir "$WORK/$name" --save '' "$@" >/dev/null 2>&1 & PIDS+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  echo "$port"
}
processed() { redis-cli -p "$1" info stats | tr -d '\r' | awk -F: '/^total_commands_processed/ {print $2}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Runs a command, prints "<reported ops/s> <server-counted ops/s>".
measure() { # port, parse, command...
  local port=$1 parse=$2; shift 2
  local before after t0 t1 out
  before=$(processed "$port"); t0=$(date +%s.%N)
  out=$("$@" 2>/dev/null)
  t1=$(date +%s.%N); after=$(processed "$port")
  echo "$(echo "$out" | eval "$parse") $(awk -v a="$before" -v b="$after" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')"
}

PLAIN=$(start plain --appendonly no)
AOF=$(start aof --appendonly yes --appendfsync always)
printf '%-10s %-4s %3s %16s %12s %7s %14s %14s\n' server test P redis-benchmark kvbench ratio server/rb server/kb
for srv in plain aof; do
  port=$PLAIN; [ $srv = aof ] && port=$AOF
  for P in 1 16; do
    N=$((P > 1 ? 1000000 : 200000)); [ $srv = aof ] && N=$((N / 4))
    for t in set get; do
      rb=(); kb=(); rs=(); ks=()
      for _ in $(seq 1 "$ROUNDS"); do
        read -r a b < <(measure "$port" "tail -1 | cut -d, -f2 | tr -d '\"'" \
          redis-benchmark -p "$port" -c 50 -n "$N" -P "$P" -d 64 -r 100000 -t "$t" --csv)
        rb+=("$a"); rs+=("$b")
        read -r a b < <(measure "$port" "tail -1 | awk '{print \$2}'" \
          "$BIN/kvbench" --addr "127.0.0.1:$port" -c 50 -n "$N" -P "$P" -d 64 -r 100000 -w "$t" --quiet)
        kb+=("$a"); ks+=("$b")
      done
      awk -v srv="$srv" -v t="$t" -v p="$P" -v a="$(median "${rb[@]}")" -v b="$(median "${kb[@]}")" \
          -v c="$(median "${rs[@]}")" -v d="$(median "${ks[@]}")" \
          'BEGIN { printf "%-10s %-4s %3s %16.0f %12.0f %7.2f %14.0f %14.0f\n", srv, t, p, a, b, b / a, c, d }'
    done
  done
done
