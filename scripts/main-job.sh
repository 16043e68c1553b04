#!/usr/bin/env bash
# The main job: a whole retrieval, checked byte for byte.
# Today: provider and client run the full data path in one process over a 64 MiB random file
# (or the file given as the first argument). The devnet run replaces this once the judge lands.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked -p ozkcp-rpc
if [ $# -gt 0 ]; then
    exec ./target/release/ozkcp local-retrieve "$1"
fi
exec ./target/release/ozkcp local-retrieve --size $((64 << 20))
