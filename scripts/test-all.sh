#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints (which also type-check benches and
# examples), every test, and the wasm32 builds of what the judge actor shares with the node.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# A clean build gains nothing from incremental caches, and they took ~7 GB of a CI machine's disk.
# Export CARGO_INCREMENTAL=1 to keep them while iterating locally.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "wasm32: the parts the judge actor needs"
cargo check --locked -p ozkcp-core --target wasm32-unknown-unknown --no-default-features
cargo check --locked -p ozkcp-zk --target wasm32-unknown-unknown --no-default-features
step "clippy: the judge actor itself (its methods only build for wasm32 with fil-actor)"
cargo clippy --locked -p ozkcp-judge --features fil-actor --target wasm32-unknown-unknown -- -D warnings
step "tests"
cargo test --workspace --locked
step "go bindings: the C ABI from Go (cgo, static library in target/release)"
cargo build --locked -p ozkcp-ffi --release
# The Go package links target/release/libozkcp_ffi.a; follow CARGO_TARGET_DIR when it is set.
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export CGO_LDFLAGS="-L${target_dir}/release ${CGO_LDFLAGS:-}"
(cd go-bindings && test -z "$(gofmt -l .)" && go vet ./... && go test ./...)
echo
echo "all tests passed"
