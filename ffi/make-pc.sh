#!/usr/bin/env bash
# Builds the release static library and writes <target>/release/ozkcp.pc for it.
#   ffi/make-pc.sh [TARGET_DIR]     (default: the workspace's target/)
#   PKG_CONFIG_PATH=<target>/release pkg-config --cflags --libs ozkcp
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$(realpath -m "${1:-${CARGO_TARGET_DIR:-$root/target}}")"
cd "$root"
# `--print native-static-libs` reports what the staticlib needs from the system.
native="$(cargo rustc -q -j "${CARGO_JOBS:-2}" -p ozkcp-ffi --release --target-dir "$target" \
    --crate-type staticlib -- --print native-static-libs 2>&1 |
    sed -n 's/.*native-static-libs: //p' | tail -1)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
sed -e "s|@libdir@|$target/release|" -e "s|@includedir@|$root/ffi/include|" \
    -e "s|@version@|$version|" -e "s|@native_libs@|$native|" \
    ffi/ozkcp.pc.in > "$target/release/ozkcp.pc"
echo "$target/release/ozkcp.pc"
