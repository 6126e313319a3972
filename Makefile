# Build, run and test the store. Both entry points install the Debian
# packages they need (once, idempotently) before building.

SHELL := /bin/bash
CARGO ?= cargo
JOBS ?= 2
APT_PACKAGES := libclang-dev protobuf-compiler libprotobuf-dev redis-server redis-tools etcd-server fonts-dejavu-core
REDIS_ADDR ?= 127.0.0.1:6379
DATA_DIR ?= ./data
# Where cargo puts its builds (CARGO_TARGET_DIR when set, as .ci/run sets it).
BIN_DIR := $(or $(CARGO_TARGET_DIR),target)/release

.PHONY: deps run cluster cluster-stop build release test bench bench-sanity bench-compare bench-cluster clean

# Installs what is missing: `apt-get update` once, then only absent packages.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && $$SUDO apt-get install -y $$missing; \
	fi
	@command -v cargo-nextest >/dev/null || $(CARGO) install --locked cargo-nextest

# Every release build names the same packages: with a different set, cargo
# unifies the build dependencies' features differently (kvbench's etcd client
# turns on bitflags/std, and bindgen uses bitflags) and rebuilds RocksDB from
# scratch (~20 minutes on 2 cores).
RELEASE_PACKAGES := -p kvnode -p kvbench

release: deps
	$(CARGO) build --release -j$(JOBS) $(RELEASE_PACKAGES)

# Builds in release mode and starts a standalone node on $(REDIS_ADDR).
run: release
	$(BIN_DIR)/kvnode --redis-addr $(REDIS_ADDR) --data-dir $(DATA_DIR)

# A local 3-node cluster (replication 3) on 127.0.0.1:6380-6382; stop it
# with `make cluster-stop`.
cluster: release
	KVNODE=$(BIN_DIR)/kvnode scripts/cluster.sh start

cluster-stop:
	scripts/cluster.sh stop

build: deps
	$(CARGO) build -j$(JOBS) --workspace --all-targets

# Every test of the workspace (unit, integration with real processes).
test: build
	$(CARGO) nextest run -j$(JOBS) --workspace --no-fail-fast

# The standard kvbench suite against a standalone node and redis-server
# (appendfsync always): markdown report and plots under bench/results/.
bench: deps
	$(CARGO) build --release -j$(JOBS) $(RELEASE_PACKAGES)
	bench/suite.sh

# kvbench beside redis-benchmark on one redis-server, same parameters.
bench-sanity: deps
	$(CARGO) build --release -j$(JOBS) $(RELEASE_PACKAGES)
	bench/sanity.sh

# The closing-note benchmark: the store beside redis-server and redis-server with AOF.
bench-compare: release
	../shared/bench/compare.sh --kv "$(BIN_DIR)/kvnode --redis-addr 127.0.0.1:{port} --data-dir {dir}" -P 1
	../shared/bench/compare.sh --kv "$(BIN_DIR)/kvnode --redis-addr 127.0.0.1:{port} --data-dir {dir}" -P 16

# The replicated-cluster benchmark: 3-node cluster vs redis-aof vs 3-member etcd.
bench-cluster: deps
	$(CARGO) build --release -j$(JOBS) $(RELEASE_PACKAGES)
	bench/cluster.sh

clean:
	$(CARGO) clean
