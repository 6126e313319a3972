#!/usr/bin/env bash
# Workloads where this store once fell far behind Redis, measured with
# redis-benchmark against one standalone node (or a redis-server):
#   bench/workloads.sh BINARY|redis [scripts|queue|leaderboard|expiry ...]
# BINARY is a kvnode build (e.g. target/release/kvnode); `redis` runs
# Debian's redis-server without persistence. Each workload starts a fresh
# server on a free port and prints requests per second (and, for kvnode,
# its CPU time per request read from /proc).
#   scripts      EVALSHA of a one-INCR script and of a cjson one, FCALL of a
#                one-function and of a 15-function library, SET
#   queue        a sorted set of ~58k members used as a queue: ZRANGE ...
#                BYSCORE LIMIT 0 1 + ZREM of that member (in one script), ZPOPMAX
#   leaderboard  ~63k members: ZADD, ZRANK, ZCOUNT, ZRANGE from rank 30000,
#                ZRANGEBYSCORE from the middle, ZREVRANGE 0 9, ZPOPMIN
#   expiry       60k keys with EX 100000 and 20k with PX 100; after 12 s,
#                how many were expired without being read
set -euo pipefail
BIN=${1:?usage: bench/workloads.sh BINARY|redis [scripts|queue|leaderboard|expiry ...]}
shift
[ $# -gt 0 ] || set -- scripts queue leaderboard expiry
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
DIR=$(mktemp -d -t kvworkloads.XXXXXX)
PID=""
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=""; }
trap 'stop; rm -rf "$DIR"' EXIT
start() {
  stop
  P=$(free_port); rm -rf "$DIR/data"; mkdir -p "$DIR/data"
  if [ "$BIN" = redis ]; then
    redis-server --port "$P" --save '' --appendonly no --dir "$DIR/data" >"$DIR/log" 2>&1 & PID=$!
  else
    "$BIN" --redis-addr "127.0.0.1:$P" --data-dir "$DIR/data" >"$DIR/log" 2>&1 & PID=$!
  fi
  for _ in $(seq 100); do redis-cli -p "$P" ping 2>/dev/null | grep -q PONG && return; sleep 0.1; done
  echo "no PONG from the server:" >&2; cat "$DIR/log" >&2; exit 1
}
cpu() { awk '{print $14+$15}' "/proc/$PID/stat"; }
# run NAME REQUESTS redis-benchmark-args...
run() {
  local name=$1 n=$2; shift 2
  local t0 t1 rps
  t0=$(cpu)
  rps=$(redis-benchmark -p "$P" -c 50 -n "$n" -r 100000 -q "$@" 2>/dev/null | tr '\r' '\n' | grep "per second" | tail -1 | sed 's/.*: \([0-9.]*\) requests.*/\1/')
  t1=$(cpu)
  printf '%-28s %10s/s  %6s us CPU/request\n' "$name" "$rps" "$(python3 -c "print(round(($t1-$t0)*10000/$n,1))")"
}
for w in "$@"; do
  echo "== $w ($BIN)"
  case $w in
    scripts)
      start
      one=$(redis-cli -p "$P" script load "return redis.call('INCR', KEYS[1])")
      json=$(redis-cli -p "$P" script load "return cjson.encode({n = redis.call('INCR', KEYS[1])})")
      redis-cli -p "$P" function load "#!lua name=one
redis.register_function('f1', function(k) return redis.call('INCR', k[1]) end)" >/dev/null
      lib="#!lua name=many"
      for i in $(seq 1 15); do lib="$lib
redis.register_function('g$i', function(k) return redis.call('INCR', k[1]) end)"; done
      redis-cli -p "$P" function load "$lib" >/dev/null
      run "EVALSHA incr" 60000 EVALSHA "$one" 1 k:__rand_int__
      run "EVALSHA cjson" 60000 EVALSHA "$json" 1 c:__rand_int__
      run "FCALL (1-function lib)" 60000 FCALL f1 1 f:__rand_int__
      run "FCALL (15-function lib)" 60000 FCALL g7 1 g:__rand_int__
      run "SET" 60000 SET s:__rand_int__ v ;;
    queue)
      start
      redis-benchmark -p "$P" -c 50 -n 60000 -r 1000000 -q ZADD q __rand_int__ m:__rand_int__ >/dev/null 2>&1
      echo "members: $(redis-cli -p "$P" zcard q)"
      poll=$(redis-cli -p "$P" script load "local m = redis.call('ZRANGE', KEYS[1], '-inf', '+inf', 'BYSCORE', 'LIMIT', 0, 1) if m[1] then redis.call('ZREM', KEYS[1], m[1]) end return m[1]")
      run "ZRANGE BYSCORE 0 1 + ZREM" 20000 EVALSHA "$poll" 1 q
      run "ZPOPMAX" 20000 ZPOPMAX q ;;
    leaderboard)
      start
      run "ZADD (into one set)" 100000 ZADD lb __rand_int__ m:__rand_int__
      echo "members: $(redis-cli -p "$P" zcard lb)"
      run "ZRANK" 20000 ZRANK lb m:__rand_int__
      run "ZCOUNT 1000 50000" 20000 ZCOUNT lb 1000 50000
      run "ZRANGE 30000 30009" 20000 ZRANGE lb 30000 30009
      run "ZRANGEBYSCORE 50000 +inf LIMIT 0 10" 20000 ZRANGEBYSCORE lb 50000 +inf LIMIT 0 10
      run "ZREVRANGE 0 9 WITHSCORES" 20000 ZREVRANGE lb 0 9 WITHSCORES
      run "ZPOPMIN" 20000 ZPOPMIN lb ;;
    expiry)
      start
      redis-benchmark -p "$P" -c 50 -n 60000 -r 1000000 -q SET long:__rand_int__ v EX 100000 >/dev/null 2>&1
      redis-benchmark -p "$P" -c 50 -n 20000 -r 1000000 -q SET short:__rand_int__ v PX 100 >/dev/null 2>&1
      sleep 12
      echo "after 12 s: $(redis-cli -p "$P" dbsize) keys, $(redis-cli -p "$P" info stats | grep expired_keys | tr -d '\r')" ;;
    *) echo "unknown workload: $w" >&2; exit 2 ;;
  esac
done
