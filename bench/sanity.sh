#!/usr/bin/env bash
# kvbench against redis-benchmark on one redis-server (no persistence), same
# parameters (50 clients, 200000 requests, 64-byte values, 100000 keys),
# SET and GET at pipeline 1 and 16, median of 3 rounds.
set -euo pipefail
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d -t kvsanity.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port $PORT --dir "$WORK" --save '' --appendonly no >/dev/null 2>&1 & PID=$!
trap 'kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do redis-cli -p $PORT ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-6s %3s %16s %12s %8s\n' test P redis-benchmark kvbench ratio
for P in 1 16; do
  N=$((200000 * (P > 1 ? 5 : 1)))
  for t in set get; do
    rb=(); kb=()
    for _ in $(seq 1 "$ROUNDS"); do
      rb+=("$(redis-benchmark -p $PORT -c 50 -n $N -P $P -d 64 -r 100000 -t $t --csv | tail -1 | cut -d, -f2 | tr -d '"')")
      kb+=("$("$BIN/kvbench" --addr 127.0.0.1:$PORT -c 50 -n $N -P $P -d 64 -r 100000 -w $t --quiet | tail -1 | awk '{print $2}')")
    done
    a=$(median "${rb[@]}"); b=$(median "${kb[@]}")
    awk -v t="$t" -v p="$P" -v a="$a" -v b="$b" 'BEGIN { printf "%-6s %3s %16.0f %12.0f %8.2f\n", t, p, a, b, b / a }'
  done
done
