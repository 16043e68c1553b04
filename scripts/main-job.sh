#!/usr/bin/env bash
# The main job: a fair-exchange retrieval end to end on a local FVM devnet.
#
#   devnet (ref-fvm) + judge actor (wasm) + a provider and a client sidecar on loopback;
#   a file of several MiB retrieved in fraud mode and a small one in zk mode (Groth16 proofs),
#   every chunk checked against its CID; the provider redeems each deal's last voucher on chain
#   (revealing its key), the dispute window passes, the deals settle; balances before and after;
#   the retrieved bytes compared with the originals.
#
# Usage: ./scripts/main-job.sh [FILE]   (default FILE: the ozkcp binary itself, a real file of
# tens of MiB, cut to 8 MiB). OZKCP_WORK=DIR keeps everything in DIR; KEEP_WORK=1 keeps the
# temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/devnet-pair.sh

PRICE=1000000000000        # attoFIL per chunk (10^-6 FIL)
COLLATERAL=10000000000000000 # attoFIL (0.01 FIL)

build
start_pair

if [ $# -gt 0 ]; then
    BIG=$1
else
    BIG=$WORK/payload.bin
    head -c $((8 << 20)) "$OZKCP" >"$BIG"
fi
SMALL=$WORK/small.txt
head -c 3000 README.md >"$SMALL"

say "balances before"
balances
PROVIDER_BEFORE=$(holdings "$PROVIDER")
CLIENT_BEFORE=$(holdings "$CLIENT")

say "provider: import $(basename "$BIG") ($(stat -c %s "$BIG") bytes) and $(basename "$SMALL")"
BIG_ROOT=$(prov provider import "$BIG" --json | json 'd["Root"]["/"]')
SMALL_ROOT=$(prov provider import "$SMALL" --json | json 'd["Root"]["/"]')
echo "  $BIG_ROOT"
echo "  $SMALL_ROOT"

say "client: retrieve $BIG_ROOT in fraud mode"
cli retrieve "$BIG_ROOT" --provider "$PSPEC" --out "$WORK/big.out" \
    --price "$PRICE" --collateral "$COLLATERAL"
cmp "$BIG" "$WORK/big.out" || die "the retrieved bytes differ from the original"
echo "  bytes equal the original ($(stat -c %s "$WORK/big.out") bytes)"
BIG_DEAL=$(provider_deal_over "$BIG_ROOT" | json 'd["DealID"]')

say "client: retrieve $SMALL_ROOT in zk mode (a Groth16 proof per $ZK_CHUNK-byte chunk)"
cli retrieve "$SMALL_ROOT" --provider "$PSPEC" --mode zk --out "$WORK/small.out" \
    --price "$PRICE" --collateral "$COLLATERAL"
cmp "$SMALL" "$WORK/small.out" || die "the retrieved bytes differ from the original"
echo "  bytes equal the original ($(stat -c %s "$WORK/small.out") bytes)"
SMALL_DEAL=$(provider_deal_over "$SMALL_ROOT" | json 'd["DealID"]')

say "on chain: the provider redeemed each deal's last voucher, revealing its key"
for id in "$BIG_DEAL" "$SMALL_DEAL"; do
    "$OZKCP" devnet deal "$CLIENT" "$id" | sed 's/^/  /'
    [ "$(chain_deal "$CLIENT" "$id" | json 'd["KeyRevealed"]')" = True ] ||
        die "deal $id: no key revealed on chain"
done

say "the deadlines pass (devnet: $((REVEAL_EPOCHS + DISPUTE_EPOCHS + 1)) empty epochs); the provider settles"
"$OZKCP" devnet advance $((REVEAL_EPOCHS + DISPUTE_EPOCHS + 1)) | sed 's/^/  /'
for id in "$BIG_DEAL" "$SMALL_DEAL"; do
    for ((i = 0; i < 300; i++)); do
        [ "$(chain_deal "$CLIENT" "$id" | json 'd["Status"]')" = Settled ] && break
        sleep 0.1
    done
    "$OZKCP" devnet deal "$CLIENT" "$id" | sed -n 1p | sed 's/^/  /'
    [ "$(chain_deal "$CLIENT" "$id" | json 'd["Status"]')" = Settled ] ||
        die "deal $id did not settle"
done

say "balances after"
balances
PROVIDER_AFTER=$(holdings "$PROVIDER")
CLIENT_AFTER=$(holdings "$CLIENT")
report_change "$PROVIDER_BEFORE" "$PROVIDER_AFTER" "$CLIENT_BEFORE" "$CLIENT_AFTER"
python3 -c "import sys; p = $PROVIDER_AFTER - $PROVIDER_BEFORE; c = $CLIENT_BEFORE - $CLIENT_AFTER
sys.exit(0 if p > 0 and p == c else 'the provider earned %d, the client paid %d' % (p, c))" ||
    die "the books do not balance"

say "done: both retrievals checked byte for byte, paid on chain, settled"
