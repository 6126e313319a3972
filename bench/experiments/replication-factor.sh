#!/usr/bin/env bash
# SET ops/s and CPU per SET of a 3-node cluster (8 partitions, clients spread
# over the nodes, 50 clients, 8 s) at replication 3 and at replication 1,
# alternated, two rounds: what replication itself costs.
#   bench/experiments/replication-factor.sh   (release build of kvnode, kvbench)
set -e
export CLUSTER_DIR=/tmp/crf KVNODE=target/release/kvnode
HZ=$(getconf CLK_TCK)
for round in 1 2; do for rf in 3 1; do
rm -rf $CLUSTER_DIR; mkdir -p $CLUSTER_DIR
{ echo "replication = $rf"; echo "[[namespace]]"; echo 'name = "default"'; echo "partitions = 8"
  for i in 1 2 3; do echo "[[node]]"; echo "id = $i"; echo "raft-addr = \"127.0.0.1:$((7379 + i))\""; echo "redis-addr = \"127.0.0.1:$((6379 + i))\""; echo "http-addr = \"127.0.0.1:$((8379 + i))\""; done; } > $CLUSTER_DIR/cluster.toml
scripts/cluster.sh start >/dev/null
target/release/kvbench -c 50 --duration 3 --quiet --addr 127.0.0.1:6380 -w set >/dev/null
t0=0; for i in 1 2 3; do read -r a b < <(cut -d' ' -f14,15 /proc/$(cat $CLUSTER_DIR/node$i.pid)/stat); t0=$((t0+a+b)); done
r=$(target/release/kvbench -c 50 --duration 8 --warmup 0 --quiet --addr 127.0.0.1:6380 --addr 127.0.0.1:6381 --addr 127.0.0.1:6382 -w set | tail -1)
t1=0; for i in 1 2 3; do read -r a b < <(cut -d' ' -f14,15 /proc/$(cat $CLUSTER_DIR/node$i.pid)/stat); t1=$((t1+a+b)); done
echo "rf $rf: $(echo "$r" | awk -v t=$((t1 - t0)) -v hz=$HZ '{printf "%s ops/s, p50 %s ms, %.1f us CPU/op", $2, $3, t * 1e6 / hz / $1}')"
scripts/cluster.sh stop >/dev/null
done; done
