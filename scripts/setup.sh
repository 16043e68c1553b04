#!/usr/bin/env bash
# Installs what ozkcp needs on a fresh Debian machine with rustup, Go and Python already there.
# Safe to run again: every step is skipped when already done.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    echo "setup: adding the wasm32-unknown-unknown target (the judge actor and the wasm checks need it)"
    rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^${component}"; then
        rustup component add "$component"
    fi
done

# C toolchain for cgo, the C ABI test and blst/ring; pkg-config for the generated .pc file.
missing=()
for tool in gcc pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} from Debian"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "setup: Go (1.26) is needed for go-bindings; install it from https://go.dev/dl/" >&2
    exit 1
fi
# Go modules come from the module proxy on first use; fetch them now so a network failure is
# reported here, not in the middle of the tests.
(cd "$(dirname "$0")/../go-bindings" && go mod download)
