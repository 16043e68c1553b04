//! Whole deals between a client and a provider state machine, honest and under every fault,
//! asserting what each party paid and received.

use ozkcp::core::evidence::Fault;
use ozkcp::core::TokenAmount;
use ozkcp::driver::{run_deal, ClientFault, DealConfig, Interruption, Outcome, ProviderFault};
use ozkcp::fsm::client::ClientStatus as C;
use ozkcp::fsm::provider::ProviderStatus as P;

fn data() -> Vec<u8> {
    // Root + 6 leaves of 256 B at 2 leaves per interval: intervals 0 (root), 1, 2, 3.
    (0..1500u32).map(|i| (i * 29 + 3) as u8).collect()
}

fn run(pf: ProviderFault, cf: ClientFault) -> Outcome {
    run_deal(&data(), &DealConfig::default(), pf, cf)
}

fn atto(n: u64) -> TokenAmount {
    TokenAmount::from_atto(n)
}

#[test]
fn honest_deal_delivers_everything_and_pays_everything() {
    let o = run(ProviderFault::None, ClientFault::None);
    assert_eq!(o.client.status, C::Completed);
    assert_eq!(o.provider.status, P::Completed);
    assert_eq!(o.data.as_deref(), Some(o.original.as_slice()));
    assert_eq!(o.intervals, 4);
    assert_eq!(o.keys_revealed, 4);
    // Everything locked went to the provider, nothing came back, collateral untouched.
    assert!(o.escrow.paid_to_provider > atto(0));
    assert_eq!(o.escrow.paid_to_provider, o.escrow.locked);
    assert_eq!(o.escrow.returned_to_client, atto(0));
    assert!(!o.escrow.slashed);
    assert_eq!(
        o.escrow.revealed.len(),
        1,
        "only the last voucher is redeemed"
    );
}

#[test]
fn a_deal_survives_persisting_and_restoring_both_machines_mid_deal() {
    for at in [3, 10, 25] {
        let cfg = DealConfig {
            restore_after: Some(at),
            ..DealConfig::default()
        };
        let o = run_deal(&data(), &cfg, ProviderFault::None, ClientFault::None);
        assert_eq!(
            o.client.status,
            C::Completed,
            "restored after {at} messages"
        );
        assert_eq!(o.data.as_deref(), Some(o.original.as_slice()));
    }
}

/// A connection lost after every possible message, with and without both hosts restarting:
/// the client resumes, the deal completes with every byte, each side recorded one voucher
/// per interval (the recording journal refuses a second, different one, which would stop
/// the deal), and the client paid exactly once for everything.
#[test]
fn a_deal_resumes_after_a_lost_connection_or_a_restart_at_any_message() {
    let honest = run(ProviderFault::None, ClientFault::None);
    for restart in [false, true] {
        for after in 0..honest.messages {
            let cfg = DealConfig {
                interrupt: Some(Interruption { after, restart }),
                ..DealConfig::default()
            };
            let o = run_deal(&data(), &cfg, ProviderFault::None, ClientFault::None);
            let at = format!("interrupted after {after} messages (restart: {restart})");
            if o.client.status == C::Errored {
                // Before the transfer there is nothing to resume: the deal ends and the
                // funds come back.
                assert!(after <= 6, "{at}: {}", o.client.message);
                assert_eq!(o.escrow.paid_to_provider, atto(0), "{at}");
                continue;
            }
            assert_eq!(o.client.status, C::Completed, "{at}: {}", o.client.message);
            assert_eq!(
                o.provider.status,
                P::Completed,
                "{at}: {}",
                o.provider.message
            );
            assert_eq!(o.data.as_deref(), Some(o.original.as_slice()), "{at}");
            assert_eq!(o.escrow.paid_to_provider, honest.escrow.locked, "{at}");
            assert_eq!(o.escrow.returned_to_client, atto(0), "{at}");
            assert_eq!(o.recorded.sent.len(), 4, "{at}");
            assert_eq!(o.recorded.sent, o.recorded.accepted, "{at}");
        }
    }
}

/// A client cannot resume past what it paid for, nor resume someone else's deal.
#[test]
fn resume_is_refused_past_the_first_unpaid_interval_or_unsigned() {
    use ozkcp::messages::{Message, Resume};
    let o = run(ProviderFault::None, ClientFault::None);
    let terms = o.recorded.client_terms.clone().unwrap();
    let digest = terms.terms.digest().unwrap();
    let forged = Resume {
        deal_id: terms.terms.proposal.deal_id,
        terms: digest,
        from: 0,
    }
    .sign(&ozkcp::core::sig::SecpSigner::random())
    .unwrap();
    assert!(!forged.verify(&terms.terms.proposal.client));
    let m = Message::Resume(forged.clone());
    let bytes = ozkcp::core::encoding::to_cbor(&m).unwrap();
    assert_eq!(
        ozkcp::core::encoding::from_cbor::<Message>(&bytes).unwrap(),
        m
    );
}

fn assert_provider_slashed(o: &Outcome) {
    assert_eq!(
        o.client.status,
        C::Completed,
        "the client wins the dispute: {}",
        o.client.message
    );
    assert!(o.escrow.slashed);
    assert_eq!(o.escrow.paid_to_provider, atto(0));
    assert_eq!(o.escrow.returned_to_client, atto(1_000_000) + total_owed());
    assert!(o.data.is_none());
}

fn total_owed() -> TokenAmount {
    run(ProviderFault::None, ClientFault::None).escrow.locked
}

#[test]
fn wrong_key_is_disputed_and_the_provider_slashed() {
    let o = run(ProviderFault::WrongKey(1), ClientFault::None);
    assert_eq!(o.fault, Some(Fault::WrongKey { interval: 1 }));
    assert_provider_slashed(&o);
}

#[test]
fn bad_chunk_is_disputed_and_the_provider_slashed() {
    let o = run(ProviderFault::BadChunk(2), ClientFault::None);
    assert!(
        matches!(o.fault, Some(Fault::BadChunk { .. })),
        "{:?}",
        o.fault
    );
    assert_provider_slashed(&o);
}

#[test]
fn broken_chain_is_refused_before_paying_and_disputed() {
    let o = run(ProviderFault::BrokenChain(1), ClientFault::None);
    assert!(
        matches!(o.fault, Some(Fault::BrokenChain { .. })),
        "{:?}",
        o.fault
    );
    assert_provider_slashed(&o);
    // Only the root interval was paid and opened before the fault.
    assert_eq!(o.client.paid, 1);
}

fn assert_provider_aborted_after(o: &Outcome, paid_intervals: u32) {
    assert_eq!(o.provider.status, P::Completed);
    assert_eq!(
        o.keys_revealed, paid_intervals,
        "no key for the bad voucher"
    );
    assert_eq!(o.client.status, C::Errored);
    assert!(o.data.is_none());
    assert!(!o.escrow.slashed);
    // The provider redeemed what it was paid; the rest went back to the client.
    assert_eq!(
        o.escrow.paid_to_provider.clone() + o.escrow.returned_to_client.clone(),
        total_owed()
    );
    assert!(
        o.intervals_sent <= paid_intervals + 2,
        "never more than one interval ahead"
    );
}

#[test]
fn forged_voucher_makes_the_provider_abort_and_reveal_nothing() {
    let o = run(ProviderFault::None, ClientFault::ForgedVoucher(1));
    assert!(
        o.provider.message.contains("signature"),
        "{}",
        o.provider.message
    );
    assert_provider_aborted_after(&o, 1);
}

#[test]
fn replayed_voucher_makes_the_provider_abort() {
    let o = run(ProviderFault::None, ClientFault::ReplayedVoucher(2));
    assert!(
        o.provider.message.contains("nonce"),
        "{}",
        o.provider.message
    );
    assert_provider_aborted_after(&o, 2);
}

#[test]
fn short_voucher_makes_the_provider_abort() {
    let o = run(ProviderFault::None, ClientFault::ShortVoucher(1));
    assert!(
        o.provider.message.contains("owed"),
        "{}",
        o.provider.message
    );
    assert_provider_aborted_after(&o, 1);
}

#[test]
fn a_client_that_stops_paying_gets_at_most_one_more_interval() {
    let o = run(ProviderFault::None, ClientFault::StopPaying(2));
    assert_eq!(o.keys_revealed, 2);
    assert!(o.intervals_sent <= 4, "sent {}", o.intervals_sent);
    assert_provider_aborted_after(&o, 2);
    assert!(o.escrow.paid_to_provider > atto(0));
}

#[test]
fn a_provider_that_never_reveals_leaves_the_funds_locked_only_until_the_deadline() {
    let o = run(ProviderFault::NeverReveal(1), ClientFault::None);
    assert_eq!(o.client.status, C::Errored);
    assert!(o.client.message.contains("never revealed"));
    assert_eq!(o.keys_revealed, 1);
    // The provider cashed what it revealed a key for (interval 0); the interval it never
    // revealed is not paid, and its funds came back to the client after the deadline.
    assert!(o.escrow.paid_to_provider > atto(0));
    assert!(o.escrow.returned_to_client > atto(0));
    assert_eq!(
        o.escrow.paid_to_provider.clone() + o.escrow.returned_to_client.clone(),
        o.escrow.deposit
    );
    assert_eq!(
        o.escrow.revealed.keys().copied().collect::<Vec<_>>(),
        vec![0]
    );
    assert!(o.data.is_none());
}
