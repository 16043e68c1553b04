#!/usr/bin/env bash
# Two `ozkcp` binaries compared in the same run: `./scripts/sidecar-ab.sh OLD NEW [SIZE…]`
# alternates `scripts/sidecar-bench.sh` with each, three runs per size, and prints
# "size binary MB/s" lines (figures: BENCHMARKS.md).
set -euo pipefail
OLD=$1 NEW=$2
shift 2
cd "$(dirname "$0")/.."
for size in "${@:-33554432}"; do
  for _ in 1 2 3; do
    for bin in "$OLD" "$NEW"; do
      mbps=$(BIN=$bin SIZE=$size ./scripts/sidecar-bench.sh --json | grep -o '"mb_per_s":[0-9.]*' | cut -d: -f2)
      echo "$size $bin $mbps"
    done
  done
done
