# Wardbook: `make run` opens the app on synthetic data; `make test` runs every
# test (Rust, UI, end to end). Both install what is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# The Tauri CLI finds the app at the root and the web UI in ui/.
export TAURI_APP_PATH := .
export TAURI_FRONTEND_PATH := ui

CARGO ?= cargo
# No incremental compilation unless asked for: a whole-workspace test build
# with it keeps tens of gigabytes of incremental state that a fresh clone (CI)
# never reuses. Set CARGO_INCREMENTAL=1 for a tight edit-and-rebuild loop.
export CARGO_INCREMENTAL ?= 0
APP_FEATURES := --features wardbook/custom-protocol
# `make run` keeps its development cache apart from any real installation.
DEV_DATA_DIR ?= $(CURDIR)/target/dev-data

.PHONY: help deps npm-deps ui app stack run test test-rust test-ui test-e2e check-generated bench bench-large bench-load soak lint package package-test clean

help:
	@echo "make run    build and open Wardbook on synthetic data (development)"
	@echo "make test   run every test: Rust (with a real Secret Service), UI, end to end"
	@echo "make bench  benchmarks against raw baselines: the store (SQLCipher), the sync service (PostgreSQL); the app's idle memory"
	@echo "make bench-large  the store and an initial sync at 100,000 patients and 10,000,000 observations (hours)"
	@echo "make bench-load   the sync service under the load of 250 to 2,000 workstations, five scenarios (about 20 min)"
	@echo "make soak   longer: sync under faults (2000 cut schedules, 200 kills), the API against its document (schemathesis)"
	@echo "make lint   rustfmt and clippy"
	@echo "make package       the .deb and .rpm of the app and the .deb of wardbook-server, in target/packages/"
	@echo "make package-test  build them and check their metadata, contents, lintian, install and the systemd unit;"
	@echo "                   then rehearse the IT guide's commands and the central database's backup and DR"

deps:
	scripts/install-deps.sh

ui/node_modules/.package-lock.json: ui/package-lock.json
	npm ci --prefix ui --no-audit --no-fund

tests/e2e/node_modules/.package-lock.json: tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund

# The real OpenID provider (oidc-provider) the service's sign-in tests run
# (test-support/src/oidc.rs).
tests/oidc/node_modules/.package-lock.json: tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund

npm-deps: ui/node_modules/.package-lock.json tests/e2e/node_modules/.package-lock.json tests/oidc/node_modules/.package-lock.json

# The web UI, embedded into the binary by the custom-protocol feature.
ui: ui/node_modules/.package-lock.json
	npm --prefix ui run build

# target/debug/wardbook with the UI embedded: what `make run` opens and what
# the end-to-end tests drive.
app: ui
	$(CARGO) build $(APP_FEATURES)

# The central side for `make run` and the end-to-end tests: a throwaway
# PostgreSQL cluster and the real sync service on a synthetic ward.
# Built with the workspace's features (as the tests build it), so that it
# reuses their build instead of compiling the dependencies again.
stack:
	$(CARGO) build --workspace --bins $(APP_FEATURES)

# The app on synthetic data, signed in through the real sync service and
# PostgreSQL (started for the session and stopped when the window closes).
run: deps app stack
	DEV_DATA_DIR="$(DEV_DATA_DIR)" scripts/run-dev.sh

test:
	scripts/install-deps.sh --with-tauri-driver --with-api-tools
	$(MAKE) npm-deps ui
	$(MAKE) test-rust check-generated test-ui test-e2e

# Every Rust test in the workspace, inside a private D-Bus session with an
# unlocked gnome-keyring (the keyring tests use the real Secret Service).
test-rust:
	scripts/with-keyring.sh $(CARGO) test --workspace $(APP_FEATURES)

# ts-rs rewrites ui/src/generated from the Rust types during test-rust: a
# difference from the committed copy means the UI's types are stale.
check-generated:
	@if [ -n "$$(git status --porcelain -- ui/src/generated)" ]; then \
	  echo "ui/src/generated is stale: commit the TypeScript types regenerated from protocol/"; \
	  git status --porcelain -- ui/src/generated; exit 1; fi

test-ui: ui/node_modules/.package-lock.json
	npm --prefix ui test

# The real app (built by test-rust with the UI embedded) in WebKitGTK under
# Xvfb, driven by WebdriverIO through tauri-driver.
# The binaries come from the test build (`cargo test` builds every bin the
# integration tests run, with the dev-dependencies' features unified): after
# test-rust this is a no-op, where a `cargo build --bins` would compile much
# of the dependency tree again with other features.
test-e2e: tests/e2e/node_modules/.package-lock.json
	$(CARGO) test --workspace $(APP_FEATURES) --no-run
	tests/e2e/run.sh

bench: deps ui
	$(CARGO) bench --bench store $(APP_FEATURES)
	$(CARGO) bench -p wardbook-server --bench sync
	$(CARGO) bench -p wardbook-server --bench encryption
	$(CARGO) bench -p wardbook-server --bench mllp
	$(CARGO) bench -p wardbook-server --bench fhir_import
	scripts/with-keyring.sh $(CARGO) bench --bench sync_e2e $(APP_FEATURES)
	# The app's and WebKit's memory after ten minutes idle on the census
	# (docs/memory.md): the release build, in the e2e harness.
	scripts/install-deps.sh --with-tauri-driver
	$(MAKE) stack tests/e2e/node_modules/.package-lock.json
	$(CARGO) build --release -p wardbook $(APP_FEATURES)
	scripts/bench-memory.sh

# The store and a workstation's initial sync at hospital scale: 100,000
# patients and 10,000,000 observations, all in the workstation's scope.
# Not in CI: it takes hours and tens of GB of memory and disk.
bench-large: deps ui
	WARDBOOK_BENCH_PATIENTS=100000 WARDBOOK_BENCH_OBSERVATIONS=10000000 WARDBOOK_BENCH_SAMPLES=1000 \
		$(CARGO) bench --bench store $(APP_FEATURES)
	WARDBOOK_BENCH_PATIENTS=100000 WARDBOOK_BENCH_OBSERVATIONS=10000000 WARDBOOK_BENCH_WARDS=1 \
		scripts/with-keyring.sh $(CARGO) bench --bench sync_e2e $(APP_FEATURES)

# The sync service under load (docs/bench-load.md): 40 wards, N = 250, 500,
# 1,000 and 2,000 workstations over real HTTP, in compressed time; steady
# state, a go-live, 300 logins in a minute, a five-minute write transaction
# and a reconnect storm after a restart. Not in CI. WARDBOOK_LOAD_N,
# WARDBOOK_LOAD_SECONDS and WARDBOOK_LOAD_COMPRESSION change the run.
bench-load: deps ui
	$(CARGO) bench -p wardbook-server --bench load

# The fault tests of tests/sync_faults.rs with many more seeded schedules and
# kills than `make test` runs (each failure names its seed).
soak:
	WARDBOOK_FAULT_SCHEDULES=2000 WARDBOOK_KILL_RUNS=200 scripts/with-keyring.sh $(CARGO) test $(APP_FEATURES) -p wardbook --test sync_faults -- --nocapture
	scripts/install-deps.sh --with-api-tools
	WARDBOOK_API_EXAMPLES=300 WARDBOOK_API_SECONDS=900 $(CARGO) test -p wardbook-server --test api_properties -- --nocapture

# Formatting, then clippy with every warning an error, over every target.
# (The app embeds ui/dist, so the UI is built first; CI runs this before
# `make test`.)
lint:
	scripts/install-deps.sh
	$(MAKE) ui
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets $(APP_FEATURES) -- -D warnings

# Release builds packaged: the app's .deb and .rpm (Tauri bundler) and the
# service's .deb (cargo-deb), copied to target/packages/.
package:
	scripts/install-deps.sh --with-packaging
	$(MAKE) ui/node_modules/.package-lock.json
	scripts/package.sh

# `make package`, then every check of scripts/package-test.sh on its output;
# then the IT guide's Linux commands against those packages, and the backup
# and disaster-recovery rehearsal of the central database (IT guide, section 9).
package-test: package
	scripts/package-test.sh
	scripts/it-guide-rehearsal.sh
	WARDBOOK_SERVER_BIN=target/release/wardbook-server scripts/dr-rehearsal.sh

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules tests/e2e/node_modules tests/oidc/node_modules
