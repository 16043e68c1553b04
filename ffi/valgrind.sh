#!/usr/bin/env bash
# Leak check of the C ABI: the C test program and the Go tests under valgrind.
#   ffi/valgrind.sh [TARGET_DIR]     (default: the workspace's target/; needs `valgrind`)
# The C program must be clean (no errors, 0 bytes definitely lost). Valgrind cannot follow Go's
# own goroutine stacks (it reports the Go runtime's stack accesses as invalid), so for the Go
# tests only the leak summary is judged: 0 bytes definitely lost in the C/Rust heap.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$(realpath -m "${1:-${CARGO_TARGET_DIR:-$root/target}}")"
pc="$("$root/ffi/make-pc.sh" "$target")"
flags="$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs ozkcp)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== C test program"
# shellcheck disable=SC2086
gcc -std=c11 -g -o "$work/abi_test" "$root/ffi/tests/c/abi_test.c" $flags
valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
    "$work/abi_test" 2>&1 | tee "$work/c.log" | grep -E "definitely lost|ERROR SUMMARY|checks passed"

echo "== Go tests (-short: the zk setup would take hours under valgrind)"
(cd "$root/go-bindings" && CGO_LDFLAGS="-L$target/release" go test -c -o "$work/ozkcp.test" .)
(cd "$root/go-bindings" && valgrind --leak-check=full --show-leak-kinds=definite \
    --undef-value-errors=no "$work/ozkcp.test" -test.short -test.count=1 >"$work/go.log" 2>&1) || true
grep -E "^(PASS|FAIL)|definitely lost" "$work/go.log"
grep -q "^PASS" "$work/go.log"
grep -qE "definitely lost: 0 bytes in 0 blocks" "$work/go.log"
echo "leak check passed"
