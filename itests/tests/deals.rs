//! Whole deals against the judge actor on the devnet: the client's and the provider's state
//! machines (the in-process driver) with every chain operation a real signed message — deposit,
//! lock, collateral, redeem with the key, dispute with the evidence the client built, settle.

use fvm_shared::econ::TokenAmount;
use ozkcp::core::evidence::Fault;
use ozkcp::driver::{run_deal_with, ClientFault, DealConfig, Outcome, ProviderFault};
use ozkcp::fsm::client::ClientStatus as C;
use ozkcp::fsm::provider::ProviderStatus as P;
use ozkcp_core::keys::IntervalKey;
use ozkcp_itests::{atto, params, ChainJudge, Net};
use ozkcp_judge::method;
use ozkcp_judge::types::{DealStatus, WithdrawParams};

const COLLATERAL: u64 = 1_000_000;

fn data() -> Vec<u8> {
    // Root + 6 leaves of 256 B at 2 leaves per interval: intervals 0 (root), 1, 2, 3.
    (0..1500u32).map(|i| (i * 29 + 3) as u8).collect()
}

fn run<'a>(
    net: &'a Net,
    deal_id: u64,
    pf: ProviderFault,
    cf: ClientFault,
) -> Outcome<ChainJudge<'a>> {
    let cfg = DealConfig {
        parties: Some(net.parties(0, 1, deal_id, 200, 50)),
        collateral: COLLATERAL,
        ..DealConfig::default()
    };
    run_deal_with(&data(), &cfg, pf, cf, ChainJudge::new(net, 0, 1))
}

/// What the whole deal costs (the driver locks exactly that).
fn price(o: &Outcome<ChainJudge>) -> TokenAmount {
    atto(10) * o.chunks
}

#[test]
fn honest_deal_pays_the_provider_and_the_client_reads_its_keys_on_chain() {
    let net = Net::new();
    let client_fil = net.net.balance(&net.key(0).address).unwrap();
    let mut o = run(&net, 1, ProviderFault::None, ClientFault::None);
    assert_eq!(o.client.status, C::Completed, "{}", o.client.message);
    assert_eq!(o.provider.status, P::Completed);
    assert_eq!(o.data.as_deref(), Some(o.original.as_slice()));
    // Paid, but the pay stays in the client's reserve until the dispute window closes.
    let held = o.escrow.deal(1).unwrap();
    assert_eq!(held.status, DealStatus::Active);
    assert_eq!(net.account(net.id(1)), (atto(COLLATERAL), atto(COLLATERAL)));
    assert_eq!(net.account(net.id(0)), (price(&o), price(&o)));
    // Too early: the window is open.
    let early = net.call(
        &net.key(1),
        method::SETTLE,
        params(&ozkcp_judge::types::DealRef {
            client: net.key(0).address,
            deal_id: 1,
        }),
        atto(0),
    );
    assert_eq!(early.exit_code, ozkcp_judge::exit::TOO_EARLY);
    o.escrow.settle_deal(1).unwrap();
    let j = &o.escrow;
    let names: Vec<&str> = j.log.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "AddBalance",
            "LockFunds",
            "AddBalance",
            "LockCollateral",
            "RedeemVoucher",
            "Settle"
        ]
    );
    let deal = j.deal(1).unwrap();
    assert_eq!(deal.status, DealStatus::Settled);
    assert_eq!(deal.paid, price(&o));
    assert_eq!(deal.nonce, Some(u64::from(o.intervals)));
    // The key on chain is the last interval's; the client derives every earlier key from it.
    let last = IntervalKey::from_bytes(deal.key.unwrap().0);
    assert_eq!(last.with_earlier(o.intervals as usize - 1).len(), 4);
    // The client spent exactly the price; the provider's pay and collateral are free now.
    assert_eq!(net.account(net.id(0)), (atto(0), atto(0)));
    assert_eq!(
        net.account(net.id(1)),
        (price(&o) + atto(COLLATERAL), atto(0))
    );
    assert_eq!(
        net.net.balance(&net.key(0).address).unwrap(),
        client_fil - price(&o)
    );
    // The provider takes its money out.
    let before = net.net.balance(&net.key(1).address).unwrap();
    net.ok(
        &net.key(1),
        method::WITHDRAW,
        params(&WithdrawParams {
            amount: price(&o) + atto(COLLATERAL),
        }),
        atto(0),
    );
    assert_eq!(
        net.net.balance(&net.key(1).address).unwrap(),
        before + price(&o) + atto(COLLATERAL)
    );
    assert_eq!(net.state().total, atto(0));
}

/// The provider cheated and the client proved it on chain: the client got its money back and
/// the provider's collateral.
fn assert_slashed(net: &Net, o: &Outcome<ChainJudge>, kind: &str) {
    assert_eq!(
        o.client.status,
        C::Completed,
        "the client wins: {}",
        o.client.message
    );
    assert!(o.data.is_none());
    let deal = o.escrow.deal(1).unwrap();
    assert_eq!(deal.status, DealStatus::Slashed);
    let (balance, locked) = net.account(net.id(0));
    assert_eq!(balance, price(o) + atto(COLLATERAL), "{kind}");
    assert_eq!(locked, atto(0));
    assert_eq!(net.account(net.id(1)), (atto(0), atto(0)));
    let gas = o.escrow.gas(kind);
    assert_eq!(gas.len(), 1, "one {kind} message");
    assert!(gas[0] <= 50_000_000, "{kind} used {} gas", gas[0]);
}

#[test]
fn a_wrong_key_is_disputed_and_won_on_chain() {
    let net = Net::new();
    let o = run(&net, 1, ProviderFault::WrongKey(1), ClientFault::None);
    assert!(matches!(o.fault, Some(Fault::WrongKey { interval: 1 })));
    assert_slashed(&net, &o, "Dispute (wrong key)");
}

#[test]
fn a_bad_chunk_is_disputed_and_won_on_chain() {
    let net = Net::new();
    let o = run(&net, 1, ProviderFault::BadChunk(2), ClientFault::None);
    assert!(
        matches!(o.fault, Some(Fault::BadChunk { interval: 2, .. })),
        "{:?}",
        o.fault
    );
    assert_slashed(&net, &o, "Dispute (bad chunk)");
}

#[test]
fn a_broken_chain_is_disputed_and_won_on_chain() {
    let net = Net::new();
    let o = run(&net, 1, ProviderFault::BrokenChain(1), ClientFault::None);
    assert!(
        matches!(o.fault, Some(Fault::BrokenChain { interval: 1, .. })),
        "{:?}",
        o.fault
    );
    assert_slashed(&net, &o, "Dispute (broken chain)");
}

#[test]
fn a_provider_that_never_reveals_is_paid_only_for_what_it_revealed() {
    let net = Net::new();
    let o = run(&net, 1, ProviderFault::NeverReveal(2), ClientFault::None);
    assert!(o.data.is_none());
    let deal = o.escrow.deal(1).unwrap();
    assert_eq!(deal.status, DealStatus::Settled);
    // Intervals 0 and 1 were revealed and paid (one redeem of the second voucher).
    assert_eq!(deal.nonce, Some(2));
    let paid = deal.paid.clone();
    assert!(paid.is_positive() && paid < price(&o));
    assert_eq!(net.account(net.id(0)), (price(&o) - &paid, atto(0)));
    assert_eq!(net.account(net.id(1)), (paid + atto(COLLATERAL), atto(0)));
}

#[test]
fn a_client_that_stops_paying_leaves_the_provider_what_it_earned() {
    let net = Net::new();
    let o = run(&net, 1, ProviderFault::None, ClientFault::StopPaying(2));
    assert!(o.data.is_none());
    let deal = o.escrow.deal(1).unwrap();
    assert_eq!(deal.status, DealStatus::Settled);
    assert_eq!(deal.nonce, Some(2));
    let (provider_balance, _) = net.account(net.id(1));
    assert_eq!(provider_balance, deal.paid + atto(COLLATERAL));
}

#[test]
fn forged_voucher_never_reaches_the_chain() {
    let net = Net::new();
    let o = run(&net, 1, ProviderFault::None, ClientFault::ForgedVoucher(1));
    // The provider refused the forged voucher off chain and redeemed only interval 0.
    let deal = o.escrow.deal(1).unwrap();
    assert_eq!(deal.nonce, Some(1));
    assert!(o.escrow.log.iter().all(|(_, r)| r.exit_code.is_success()));
}
