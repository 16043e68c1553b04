# Shared by scripts/main-job.sh and scripts/dispute-demo.sh (sourced, not run): builds ozkcp,
# starts a local devnet, deploys the judge actor, funds two wallets and starts a provider and a
# client sidecar on loopback. Everything lives in $WORK and stops when the calling script exits.
#
# After `start_pair [provider serve options…]`:
#   OZKCP           the ozkcp binary
#   WORK            the working directory (chain, repos, logs, files)
#   OZKCP_CHAIN_API the devnet's Lotus-style API (exported)
#   OZKCP_JUDGE     the judge actor's address (exported)
#   PROVIDER CLIENT the two wallets;  PSPEC  what `retrieve --provider` takes
#   prov / cli      run `ozkcp` against the provider's / the client's sidecar

set -euo pipefail

REVEAL_EPOCHS=${REVEAL_EPOCHS:-500}
DISPUTE_EPOCHS=${DISPUTE_EPOCHS:-50}
ZK_CHUNK=${ZK_CHUNK:-256}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "error: $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        echo "failed; logs in $WORK (devnet.log, provider.log, client.log)" >&2
    elif [ -z "${KEEP_WORK:-}" ] && [ -n "${WORK_IS_TEMP:-}" ]; then
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT

# Waits up to $2 seconds for the file $1 to contain the pattern $3.
wait_for() {
    local file=$1 secs=$2 pat=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        if [ -f "$file" ] && grep -q -- "$pat" "$file"; then return 0; fi
        sleep 0.1
    done
    die "timed out waiting for '$pat' in $file"
}

build() {
    say "build (release)"
    ./scripts/setup.sh
    cargo build --release --locked -p ozkcp-rpc
    OZKCP="${CARGO_TARGET_DIR:-$PWD/target}/release/ozkcp"
    if [ -n "${OZKCP_WORK:-}" ]; then
        WORK=$OZKCP_WORK
        mkdir -p "$WORK"
    else
        WORK=$(mktemp -d -t ozkcp-main-job.XXXXXX)
        WORK_IS_TEMP=1
    fi
}

prov() { "$OZKCP" --repo "$WORK/provider" "$@"; }
cli() { "$OZKCP" --repo "$WORK/client" "$@"; }

# Prints both parties' wallet and escrow balances.
balances() {
    "$OZKCP" devnet balance "$PROVIDER" | sed 's/^/  provider /'
    "$OZKCP" devnet balance "$CLIENT" | sed 's/^/  client   /'
}

# The escrow balance of $1 at the judge, in attoFIL.
escrow() { "$OZKCP" devnet balance "$1" --json | json 'd["Escrow"]["Balance"]'; }

# What $1 holds in all (wallet + escrow at the judge), in attoFIL.
holdings() { "$OZKCP" devnet balance "$1" --json | json 'int(d["Wallet"]) + int(d["Escrow"]["Balance"])'; }

# Prints how the holdings of provider and client changed: before_p after_p before_c after_c.
report_change() {
    python3 - "$@" <<'EOF'
import sys
pb, pa, cb, ca = map(int, sys.argv[1:])
for who, d in (("provider", pa - pb), ("client", ca - cb)):
    print(f"  {who:<8} {d:+d} attoFIL ({d / 1e18:+.6f} FIL), wallet and escrow together")
EOF
}

# The judge's view of deal $2 of client $1, as JSON.
chain_deal() { "$OZKCP" devnet deal "$1" "$2" --json; }

# Waits for the provider's side of the deal with payload $1 to end; prints its JSON.
provider_deal_over() {
    local root=$1 i
    for ((i = 0; i < 600; i++)); do
        local d
        d=$(prov deals --json | python3 -c "
import json,sys
ds=[d for d in json.load(sys.stdin) if (d.get('PayloadRoot') or {}).get('/')=='$root']
print(json.dumps(ds[-1]) if ds and ds[-1]['Terminal'] and ds[-1]['PendingActions']==0 else '')")
        if [ -n "$d" ]; then echo "$d"; return 0; fi
        sleep 0.1
    done
    die "the provider's deal for $root did not end"
}

# Starts the devnet, the judge and both sidecars; extra arguments go to the provider's serve.
start_pair() {
    say "devnet: the real ref-fvm engine, chain state in $WORK/chain"
    "$OZKCP" devnet run --dir "$WORK/chain" --listen 127.0.0.1:0 >"$WORK/devnet.log" 2>&1 &
    pids+=($!)
    wait_for "$WORK/devnet.log" 60 "OZKCP_CHAIN_API="
    OZKCP_CHAIN_API=$(sed -n 's/^OZKCP_CHAIN_API=//p' "$WORK/devnet.log")
    export OZKCP_CHAIN_API
    echo "  API $OZKCP_CHAIN_API"

    say "deploy the judge actor (wasm)"
    OZKCP_JUDGE=$("$OZKCP" devnet deploy --json | json 'd["IdAddress"]')
    export OZKCP_JUDGE
    echo "  judge at $OZKCP_JUDGE"

    if [ ! -f "$WORK/params/manifest.json" ] && [ ! -d "$WORK/params" ]; then
        say "zk parameters for $ZK_CHUNK-byte chunks (single-party setup: devnets and tests only)"
        "$OZKCP" params generate --chunk-size "$ZK_CHUNK" --out "$WORK/params"
    fi

    say "wallets: the provider and the client import genesis accounts 1 and 2 (funded keys)"
    "$OZKCP" devnet accounts --json >"$WORK/accounts.json"
    chmod 600 "$WORK/accounts.json"
    json 'json.dumps(d[1])' <"$WORK/accounts.json" | prov wallet import | sed 's/^/  provider /'
    json 'json.dumps(d[2])' <"$WORK/accounts.json" | cli wallet import | sed 's/^/  client   /'
    rm -f "$WORK/accounts.json"
    PROVIDER=$(prov wallet address)
    CLIENT=$(cli wallet address)

    say "sidecars: a provider and a client, each with its own repo and key"
    local common=(--listen 127.0.0.1:0 --params "$WORK/params" --judge "$OZKCP_JUDGE"
        --reveal-epochs "$REVEAL_EPOCHS" --dispute-epochs "$DISPUTE_EPOCHS" --chain-poll-ms 200)
    # The binary itself in the background (not a shell function): $! is what cleanup kills.
    "$OZKCP" --repo "$WORK/provider" serve "${common[@]}" --peer-listen 127.0.0.1:0 "$@" \
        >"$WORK/provider.log" 2>&1 &
    pids+=($!)
    "$OZKCP" --repo "$WORK/client" serve "${common[@]}" >"$WORK/client.log" 2>&1 &
    pids+=($!)
    wait_for "$WORK/provider.log" 120 "serves retrievals at"
    wait_for "$WORK/client.log" 120 "serving no retrievals"
    PSPEC=$(prov provider info --json | json 'd["Spec"]')
    echo "  provider $PSPEC"
    echo "  client   $CLIENT"
}
