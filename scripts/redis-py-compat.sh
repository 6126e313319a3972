#!/usr/bin/env bash
# redis-py's own test suite against a standalone kvnode and against Debian's
# redis-server, in RESP2 and RESP3: prints the tests that fail only against
# kvnode (tests that fail against redis-server too are version-gated ones).
# Needs PyPI (a venv is made under CACHE). Not part of `make test`.
#   scripts/redis-py-compat.sh [KVNODE]
# Env: REDISPY (5.2.1), CACHE (~/.cache/kvstore-redispy).
set -euo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/kvnode}
VER=${REDISPY:-5.2.1}
CACHE=${CACHE:-$HOME/.cache/kvstore-redispy}
FILES="test_commands.py test_hash.py test_pipeline.py test_scripting.py test_lock.py test_encoding.py
       test_pubsub.py test_function.py test_connection.py test_connection_pool.py test_retry.py test_helpers.py
       test_monitor.py"
mkdir -p "$CACHE"
if [ ! -x "$CACHE/venv/bin/pytest" ]; then
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install -q "redis==$VER" pytest pytest-timeout
fi
SRC="$CACHE/redis-$VER"
if [ ! -d "$SRC/tests" ]; then
  "$CACHE/venv/bin/pip" download -q --no-binary :all: --no-deps "redis==$VER" -d "$CACHE"
  tar xzf "$CACHE/redis-$VER.tar.gz" -C "$CACHE"
fi
WORK=$(mktemp -d -t kvredispy.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ping() { for _ in $(seq 1 100); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done; echo "no PONG from $1" >&2; exit 1; }
RP=$(free_port); KP=$(free_port)
mkdir -p "$WORK/redis" "$WORK/kv"
redis-server --port "$RP" --save '' --appendonly no --dir "$WORK/redis" >"$WORK/redis.log" 2>&1 & PIDS+=($!)
"$BIN" --redis-addr "127.0.0.1:$KP" --data-dir "$WORK/kv" >"$WORK/kv.log" 2>&1 & PIDS+=($!)
wait_ping "$RP"; wait_ping "$KP"
failures() { # port protocol
  (cd "$SRC" && "$CACHE/venv/bin/python" -m pytest $(for f in $FILES; do echo "tests/$f"; done) \
    --redis-url="redis://127.0.0.1:$1" --protocol "$2" -q -p no:cacheprovider --timeout 60 2>&1 || true) \
    | grep -E '^(FAILED|ERROR) ' | sed 's/ - .*//' | sort
}
for proto in 2 3; do
  failures "$RP" $proto > "$WORK/redis.$proto"
  failures "$KP" $proto > "$WORK/kv.$proto"
  echo "== RESP$proto: $(wc -l < "$WORK/redis.$proto") fail against redis-server; only against kvnode:"
  comm -13 "$WORK/redis.$proto" "$WORK/kv.$proto"
done
