#!/usr/bin/env bash
# A dispute won on chain: the provider cheats and the client takes its own signed words to the
# judge actor, which refunds the client and hands it the provider's collateral.
#
# Same set-up as the main job (devnet, judge, two sidecars); the provider sidecar runs with the
# hidden test switch --provider-fault (default wrong-key:1: it reveals a wrong key for payment
# interval 1; also bad-chunk:J, broken-chain:J). The client's retrieval stops at the fault, it
# disputes, and the script checks the judge's verdict and the books.
#
# Usage: ./scripts/dispute-demo.sh [FAULT]   e.g. bad-chunk:0
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/devnet-pair.sh

FAULT=${1:-wrong-key:1}
PRICE=1000000000000          # attoFIL per chunk
COLLATERAL=10000000000000000 # attoFIL (0.01 FIL)

build
start_pair --provider-fault "$FAULT"
echo "  (TEST ONLY: this provider cheats: $FAULT)"

DATA=$WORK/payload.bin
head -c $((8 << 20)) "$OZKCP" >"$DATA"

say "balances before"
balances
PROVIDER_BEFORE=$(holdings "$PROVIDER")
CLIENT_BEFORE=$(holdings "$CLIENT")

ROOT=$(prov provider import "$DATA" --json | json 'd["Root"]["/"]')
say "client: retrieve $ROOT from the cheating provider"
if cli retrieve "$ROOT" --provider "$PSPEC" --out "$WORK/data.out" \
    --price "$PRICE" --collateral "$COLLATERAL"; then
    die "the retrieval succeeded although the provider cheats"
fi
[ ! -e "$WORK/data.out" ] || die "a payload was delivered from a cheating provider"
LOCAL=$(cli deals --json | json 'd[-1]["ID"]')      # the sidecar's record
DEAL=$(cli deals --json | json 'd[-1]["DealID"]')    # the deal id the judge knows
cli deal "$LOCAL" | sed 's/^/  /'

say "on chain: the judge's verdict"
"$OZKCP" devnet deal "$CLIENT" "$DEAL" | sed 's/^/  /'
STATUS=$(chain_deal "$CLIENT" "$DEAL" | json 'd["Status"]')
[ "$STATUS" = Slashed ] || die "deal $DEAL is $STATUS on chain, not Slashed"

say "balances after"
balances
report_change "$PROVIDER_BEFORE" "$(holdings "$PROVIDER")" "$CLIENT_BEFORE" "$(holdings "$CLIENT")"
python3 -c "import sys; c = $(holdings "$CLIENT") - $CLIENT_BEFORE
sys.exit(0 if c == $COLLATERAL else 'the client gained %d, not the collateral' % c)" ||
    die "the client was not made whole"

say "done: the provider cheated ($FAULT), the client won the dispute on chain and took its collateral"
