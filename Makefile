# ipfs-s3: the two everyday commands are `make up` (run the stack) and `make test`.
# Everything is done by scripts/setup.sh (install + build) and scripts/stack.sh (run: it execs the
# stack tool, stack/, binary ipfs-s3-stack);
# the stack's profile comes from PROFILE (or IPFS_S3_PROFILE), default `dev`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PROFILE ?= $(or $(IPFS_S3_PROFILE),dev)
export IPFS_S3_PROFILE := $(PROFILE)

PYTEST_ARGS ?=
WASM_RUN_ARGS ?=

# The filter under wasmtime (tests/wasm-host, a workspace of its own).
WASM_HOST_MANIFEST := tests/wasm-host/Cargo.toml

.PHONY: help setup build up down status env lint unit-test wasm-build wasm-test wasm-run fuzz fuzz-smoke e2e conformance e2e-and-conformance test bench bench-pins bench-store bench-migrate bench-nodes bench-list bench-compare clean distclean

help: ## list the targets
	@echo "ipfs-s3 — S3-compatible gateway to IPFS"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "  PROFILE=<name> selects the stack (default dev; the e2e suite uses test)."

setup: ## install what is missing (apt tools, .venv, Kubo, IPFS Cluster, wasm target) and build
	scripts/setup.sh

build: ## build the host binary, the stack tool and the wasm filter (release)
	scripts/setup.sh build

up: setup ## install/build if needed, then start the stack and print its endpoint
	scripts/stack.sh up

down: ## stop the stack (data is kept)
	scripts/stack.sh down

status: ## one line per component of the stack
	@scripts/stack.sh status || true

env: ## print the running stack's settings (KEY=VALUE, shell-sourceable)
	@scripts/stack.sh env

# The filter's no-panic rule: the filter and the shared crate deny clippy's panic lints outside
# tests ([workspace.lints.clippy] in Cargo.toml). plugin.rs builds for wasm32 only, hence the
# second run.
lint: ## clippy on the filter and the shared code (native and wasm32), enforcing the filter's no-panic rule
	cargo clippy -p ipfs-s3-common -p ipfs-s3-filter --all-targets
	cargo clippy -p ipfs-s3-filter --lib --target wasm32-wasip1

unit-test: ## Rust unit tests of the whole workspace
	cargo test --workspace

wasm-build:
	cargo build --release -p ipfs-s3-filter --target wasm32-wasip1

wasm-test: wasm-build ## the release filter.wasm under wasmtime, through every decision the filter makes
	cargo test --release --locked --manifest-path $(WASM_HOST_MANIFEST)

wasm-run: wasm-build ## serve S3 with filter.wasm under wasmtime in front (development tool; WASM_RUN_ARGS=--help)
	cargo run --release --locked --manifest-path $(WASM_HOST_MANIFEST) --bin ipfs-s3-wasm-run -- $(WASM_RUN_ARGS)

fuzz: ## fuzz every parser of client bytes for FUZZ_SECONDS each (default 300); prints executions and crashes per target
	scripts/fuzz.sh run

fuzz-smoke: ## replay the fuzz regression inputs, then fuzz each target for FUZZ_SMOKE_SECONDS (default 30)
	scripts/fuzz.sh smoke

e2e: ## end-to-end suite against a real stack (it starts and stops the `test` profile itself)
	.venv/bin/python -m pytest -v tests/e2e $(PYTEST_ARGS)

conformance: ## the core subset of ceph/s3-tests (found at S3_TESTS_DIR) against its own stack; fails on any failure not in tests/conformance/expected-failures.txt
	.venv/bin/python tests/conformance/run.py

bench: up ## latency and throughput of the running dev stack through Envoy; with IPFS_S3_TOPOLOGY=sidecars, also 1 node vs all (prints figures)
	.venv/bin/python tests/bench/gateway.py
	.venv/bin/python tests/bench/nodes.py

# A 3-node sidecar stack of its own (ports + 16000), stopped again afterwards.
BENCH_NODES_ENV = IPFS_S3_PROFILE=nodes-bench IPFS_S3_PORT_OFFSET=16000 IPFS_S3_TOPOLOGY=sidecars IPFS_S3_CLUSTER_PEERS=3

bench-nodes: setup ## aggregate PUT and GET throughput through 1 gateway node and through 3 (sidecar topology; prints figures)
	$(BENCH_NODES_ENV) scripts/stack.sh up
	$(BENCH_NODES_ENV) .venv/bin/python tests/bench/nodes.py --profile nodes-bench; rc=$$?; $(BENCH_NODES_ENV) scripts/stack.sh down; exit $$rc

bench-pins: up ## pin queue throughput (pins/s) of 500 small objects on the running dev stack (prints figures)
	.venv/bin/python tests/bench/pins.py

# Its own profile (ports + 5000), so that it runs beside a dev stack; stopped again afterwards.
BENCH_MIGRATE_ENV = IPFS_S3_PROFILE=migrate-bench IPFS_S3_PORT_OFFSET=5000 IPFS_S3_LEGACY=local IPFS_S3_BUCKET_MODES='bench-legacy-*=legacy'
bench-migrate: setup ## ipfs-s3 migrate vs rclone copy out of the legacy store, GETs of a legacy bucket through the gateway vs straight (prints figures)
	$(BENCH_MIGRATE_ENV) scripts/stack.sh up
	$(BENCH_MIGRATE_ENV) .venv/bin/python tests/bench/migrate.py --profile migrate-bench; rc=$$?; $(BENCH_MIGRATE_ENV) scripts/stack.sh down; exit $$rc

# Its own profile (ports + 17000) with VersityGW as the legacy store (the "other S3 server"); stopped afterwards.
BENCH_COMPARE_ENV = IPFS_S3_PROFILE=compare-bench IPFS_S3_PORT_OFFSET=17000 IPFS_S3_LEGACY=local
bench-compare: setup ## the gateway beside Kubo add, the Kubo gateway and other S3 servers (PUT/GET of 64 MiB and 4 KiB, 16 clients, wrk), a 1 GiB PUT/GET's RSS growth; ratios last (prints figures)
	$(BENCH_COMPARE_ENV) scripts/stack.sh up
	$(BENCH_COMPARE_ENV) .venv/bin/python tests/bench/compare.py --profile compare-bench; rc=$$?; $(BENCH_COMPARE_ENV) scripts/stack.sh down; exit $$rc

bench-store: ## GetMappingBatch/StoreMappingBatch of 1000 keys on Redis and the embedded store (prints figures)
	cargo bench -p ipfs-s3-host --bench meta_store

bench-list: ## a bucket of 1,000,000 keys on Redis and the embedded store (built through StoreMappingBatch), 1000-entry ListObjectsV2 pages with and without a delimiter (prints figures)
	cargo bench -p ipfs-s3-host --bench list

# `time` (bash keyword) reports how long each half took; CI prints it.
test: setup ## setup, then the lint, unit tests, the wasm build's tests, a short fuzz run, the end-to-end suite and the s3-tests conformance run
	time $(MAKE) --no-print-directory lint
	time $(MAKE) --no-print-directory unit-test
	time $(MAKE) --no-print-directory wasm-test
	time $(MAKE) --no-print-directory fuzz-smoke
	time $(MAKE) --no-print-directory e2e-and-conformance

# The two suites run side by side, each against its own stack: both mostly wait on their stacks,
# and together they take little longer than the end-to-end suite alone. The conformance run's
# output is printed once it is done.
CONFORMANCE_LOG = .run/conformance-run.log

e2e-and-conformance:
	@mkdir -p .run
	@( time $(MAKE) --no-print-directory conformance ) > $(CONFORMANCE_LOG) 2>&1 & conf=$$!; \
	  rc=0; time $(MAKE) --no-print-directory e2e || rc=$$?; \
	  crc=0; wait $$conf || crc=$$?; \
	  printf '\n===== conformance (run beside the end-to-end suite) =====\n'; cat $(CONFORMANCE_LOG); \
	  [ $$rc -eq 0 ] || echo "end-to-end suite FAILED (exit $$rc)"; \
	  [ $$crc -eq 0 ] || echo "conformance FAILED (exit $$crc)"; \
	  [ $$rc -eq 0 ] && [ $$crc -eq 0 ]

clean: ## stop the dev, test, embedded and cluster stacks, delete their data (.run), the cargo build output and the fuzz corpus
	IPFS_S3_PROFILE=dev scripts/stack.sh clean
	IPFS_S3_PROFILE=test scripts/stack.sh clean
	IPFS_S3_PROFILE=embedded scripts/stack.sh clean
	IPFS_S3_PROFILE=cluster scripts/stack.sh clean
	rm -rf .run fuzz/target fuzz/work tests/wasm-host/target
	cargo clean

distclean: clean ## also remove the installed tools (.tools) and the virtualenv (.venv)
	rm -rf .tools .venv
