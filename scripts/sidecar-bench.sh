#!/usr/bin/env bash
# Two sidecars on loopback (release `ozkcp`), one fraud retrieval of a SIZE-byte random file
# (CHUNK: chunk size); extra args go to `ozkcp retrieve` (e.g. --json). Figures: BENCHMARKS.md.
set -euo pipefail
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/ozkcp}
SIZE=${SIZE:-8388608}
D=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] && cp $D/*.log /work/perf/; rm -rf "$D"' EXIT
head -c "$SIZE" /dev/urandom > "$D/file"
$BIN --repo "$D/p" serve --listen 127.0.0.1:0 --peer-listen 127.0.0.1:0 ${PFLAGS:-} 2>"$D/p.log" &
PROVIDER=$!
$BIN --repo "$D/c" serve --listen 127.0.0.1:0 2>"$D/c.log" &
CLIENT=$!
for r in p c; do while [ ! -f "$D/$r/api" ]; do sleep 0.1; done; done
ROOT=$($BIN --repo "$D/p" provider import "$D/file" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Root"]["/"])')
sync # the import's writeback is not the retrieval's cost
SPEC=$($BIN --repo "$D/p" provider info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Spec"])')
$BIN --repo "$D/c" retrieve "$ROOT" --provider "$SPEC" --out "$D/copy" ${CHUNK:+--chunk-size $CHUNK} "$@"
cmp "$D/file" "$D/copy" && echo "bytes equal"
# Peak resident memory of each sidecar (the import included for the provider).
echo "peak RSS: provider $(awk '/VmHWM/ {print $2, $3}' /proc/$PROVIDER/status), client $(awk '/VmHWM/ {print $2, $3}' /proc/$CLIENT/status)"
