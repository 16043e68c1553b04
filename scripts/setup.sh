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
