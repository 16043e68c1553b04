//! The tables hold every transition the seed draws, under the seed's names, and step refuses
//! everything else without changing state.

use ozkcp::core::deal::ProofMode;
use ozkcp::fsm::client::{ClientAction, ClientEvent, ClientState, ClientStatus as C, CLIENT_TABLE};
use ozkcp::fsm::provider::{
    ProviderAction, ProviderEvent, ProviderState, ProviderStatus as P, PROVIDER_TABLE,
};
use ozkcp::fsm::table::{lookup, Target};
use ozkcp::fsm::{client_mermaid, provider_mermaid};

/// The client diagram of the seed, edge by edge.
const SEED_CLIENT: &[(C, C)] = &[
    (C::New, C::WaitAcceptance),
    (C::WaitAcceptance, C::Accepted),
    (C::Accepted, C::PaymentChannelCreating),
    (C::PaymentChannelCreating, C::ChannelAllocatingLane),
    (C::ChannelAllocatingLane, C::Ongoing),
    (C::Ongoing, C::WaitingBlock),
    (C::WaitingBlock, C::VerifyProofs),
    (C::VerifyProofs, C::SendFunds),
    (C::SendFunds, C::CheckFunds),
    (C::CheckFunds, C::StartDispute),
    (C::StartDispute, C::SendProofs),
    (C::SendProofs, C::Completed),
    (C::CheckFunds, C::Ongoing),
    (C::Ongoing, C::BlockComplete),
    (C::BlockComplete, C::VerifyProofs),
    (C::CheckFunds, C::Completed),
];

/// The provider diagram of the seed, edge by edge.
const SEED_PROVIDER: &[(P, P)] = &[
    (P::New, P::Unsealing),
    (P::Unsealing, P::Unsealed),
    (P::Unsealed, P::Ongoing),
    (P::Ongoing, P::Encrypt),
    (P::Encrypt, P::GenerateProof),
    (P::GenerateProof, P::FundsNeeded),
    (P::FundsNeeded, P::RevealKey),
    (P::RevealKey, P::Ongoing),
    (P::RevealKey, P::Abort),
    (P::Abort, P::Completed),
    (P::Ongoing, P::BlockComplete),
    (P::BlockComplete, P::Encrypt),
    (P::RevealKey, P::Completed),
];

#[test]
fn every_seed_client_transition_exists_and_fires() {
    for &(from, to) in SEED_CLIENT {
        let row = CLIENT_TABLE
            .iter()
            .find(|t| t.seed && t.from.contains(&from) && t.to == Target::To(to))
            .unwrap_or_else(|| panic!("seed edge {from:?} -> {to:?} missing"));
        assert_eq!(lookup(CLIENT_TABLE, from, row.event), Some(to));
    }
    // Every row marked seed is one of the seed's edges.
    for t in CLIENT_TABLE.iter().filter(|t| t.seed) {
        for &f in t.from {
            let Target::To(to) = t.to else {
                panic!("seed rows have targets")
            };
            assert!(
                SEED_CLIENT.contains(&(f, to)),
                "{f:?} -> {to:?} is not in the seed"
            );
        }
    }
}

#[test]
fn every_seed_provider_transition_exists_and_fires() {
    for &(from, to) in SEED_PROVIDER {
        let row = PROVIDER_TABLE
            .iter()
            .find(|t| t.seed && t.from.contains(&from) && t.to == Target::To(to))
            .unwrap_or_else(|| panic!("seed edge {from:?} -> {to:?} missing"));
        assert_eq!(lookup(PROVIDER_TABLE, from, row.event), Some(to));
    }
    for t in PROVIDER_TABLE.iter().filter(|t| t.seed) {
        for &f in t.from {
            let Target::To(to) = t.to else {
                panic!("seed rows have targets")
            };
            assert!(
                SEED_PROVIDER.contains(&(f, to)),
                "{f:?} -> {to:?} is not in the seed"
            );
        }
    }
}

#[test]
fn no_state_has_two_rows_for_one_event() {
    for (i, a) in CLIENT_TABLE.iter().enumerate() {
        for b in &CLIENT_TABLE[i + 1..] {
            if a.event == b.event {
                assert!(
                    a.from.iter().all(|s| !b.from.contains(s)),
                    "{:?} ambiguous",
                    a.event
                );
            }
        }
    }
    for (i, a) in PROVIDER_TABLE.iter().enumerate() {
        for b in &PROVIDER_TABLE[i + 1..] {
            if a.event == b.event {
                assert!(
                    a.from.iter().all(|s| !b.from.contains(s)),
                    "{:?} ambiguous",
                    a.event
                );
            }
        }
    }
}

#[test]
fn mermaid_is_generated_from_the_tables() {
    let c = client_mermaid();
    assert!(c.starts_with("stateDiagram-v2\n[*] --> DealStatusNew: ClientRetrieve\n"));
    assert!(c.contains("DealStatusCheckFunds --> DealStatusStartDispute: WrongKey"));
    assert!(c.contains("DealStatusCompleted --> [*]"));
    let p = provider_mermaid();
    assert!(p.contains("[*] --> DealStatusNew: RetrievalOrder"));
    assert!(p.contains("DealStatusRevealKey --> DealStatusAbort: WrongVoucher"));
    for (from, to) in SEED_PROVIDER {
        assert!(p.contains(&format!("DealStatus{from:?} --> DealStatus{to:?}")));
    }
    for (from, to) in SEED_CLIENT {
        assert!(c.contains(&format!("DealStatus{from:?} --> DealStatus{to:?}")));
    }
}

#[test]
fn invalid_events_are_refused_and_change_nothing() {
    let (c, _) = ClientState::new(1, ProofMode::Fraud);
    let err = c.step(ClientEvent::KeyReceived).unwrap_err();
    assert!(err.to_string().contains("KeyReceived") && err.to_string().contains("DealStatusNew"));
    assert_eq!(c.status, C::New);
    let p = ProviderState::new(1, ProofMode::Fraud);
    assert!(p.step(ProviderEvent::VoucherReceived).is_err());
    assert_eq!(p.status, P::New);
}

#[test]
fn client_walk_through_two_intervals_with_pipelining() {
    let (mut c, actions) = ClientState::new(7, ProofMode::Fraud);
    assert_eq!(actions, vec![ClientAction::SendProposal]);
    let go = |c: &mut ClientState, e| {
        let (n, a) = c.step(e).unwrap();
        *c = n;
        a
    };
    go(&mut c, ClientEvent::ProposalSent);
    assert_eq!(
        go(&mut c, ClientEvent::DealAccepted { intervals: 2 }),
        vec![ClientAction::LockFunds]
    );
    go(&mut c, ClientEvent::FundsLockPushed);
    assert_eq!(
        go(&mut c, ClientEvent::FundsLocked),
        vec![ClientAction::AllocateLane]
    );
    assert_eq!(
        go(&mut c, ClientEvent::LaneAllocated),
        vec![ClientAction::SendStartTransfer]
    );
    go(&mut c, ClientEvent::ChunkReceived);
    assert_eq!(c.status, C::WaitingBlock);
    assert_eq!(
        go(&mut c, ClientEvent::IntervalReceived),
        vec![ClientAction::VerifyInterval { interval: 0 }]
    );
    assert_eq!(
        go(&mut c, ClientEvent::ProofsVerified),
        vec![ClientAction::SendVoucher { interval: 0 }]
    );
    // Interval 1 streams in while the key of interval 0 is awaited.
    assert!(go(&mut c, ClientEvent::ChunkReceived).is_empty());
    assert!(go(&mut c, ClientEvent::LastIntervalReceived).is_empty());
    assert_eq!(c.status, C::SendFunds);
    assert_eq!(
        go(&mut c, ClientEvent::KeyReceived),
        vec![ClientAction::OpenInterval { interval: 0 }]
    );
    // Key accepted: the buffered last interval is verified at once (Ongoing → BlockComplete → VerifyProofs).
    assert_eq!(
        go(&mut c, ClientEvent::KeyAccepted),
        vec![ClientAction::VerifyInterval { interval: 1 }]
    );
    assert_eq!(c.status, C::VerifyProofs);
    assert_eq!(
        go(&mut c, ClientEvent::ProofsVerified),
        vec![ClientAction::SendVoucher { interval: 1 }]
    );
    go(&mut c, ClientEvent::KeyReceived);
    assert_eq!(
        go(&mut c, ClientEvent::AllChunksReceived),
        vec![ClientAction::DeliverData]
    );
    assert!(c.is_terminal());
    // State survives a CBOR round trip.
    let bytes = ozkcp::core::encoding::to_cbor(&c).unwrap();
    assert_eq!(
        ozkcp::core::encoding::from_cbor::<ClientState>(&bytes).unwrap(),
        c
    );
}

#[test]
fn provider_walk_streams_one_interval_ahead_and_no_more() {
    let mut p = ProviderState::new(7, ProofMode::Fraud);
    let go = |p: &mut ProviderState, e| {
        let (n, a) = p.step(e).unwrap();
        *p = n;
        a
    };
    assert_eq!(
        go(&mut p, ProviderEvent::DealAccepted { intervals: 3 }),
        vec![ProviderAction::SendAcceptance, ProviderAction::Unseal]
    );
    go(&mut p, ProviderEvent::Unsealed);
    assert_eq!(
        go(&mut p, ProviderEvent::TransferStarted),
        vec![ProviderAction::EncryptInterval { interval: 0 }]
    );
    assert_eq!(
        go(&mut p, ProviderEvent::Encrypted),
        vec![ProviderAction::GenerateProofs { interval: 0 }]
    );
    assert_eq!(
        go(&mut p, ProviderEvent::ProofsGenerated),
        vec![
            ProviderAction::SendInterval { interval: 0 },
            ProviderAction::PrefetchInterval { interval: 1 }
        ]
    );
    assert!(go(&mut p, ProviderEvent::Prefetched).is_empty());
    assert_eq!(p.sent, 2);
    assert_eq!(
        go(&mut p, ProviderEvent::VoucherReceived),
        vec![ProviderAction::CheckVoucher { interval: 0 }]
    );
    // Interval 1 was prefetched: straight to waiting for its voucher, prefetching 2.
    assert_eq!(
        go(&mut p, ProviderEvent::VoucherAccepted),
        vec![ProviderAction::PrefetchInterval { interval: 2 }]
    );
    assert_eq!(p.status, P::FundsNeeded);
    go(&mut p, ProviderEvent::Prefetched);
    go(&mut p, ProviderEvent::VoucherReceived);
    // Last interval: nothing left to prefetch.
    assert!(go(&mut p, ProviderEvent::VoucherAccepted).is_empty());
    assert_eq!(p.status, P::FundsNeeded);
    go(&mut p, ProviderEvent::VoucherReceived);
    assert_eq!(
        go(&mut p, ProviderEvent::LastVoucherAccepted),
        vec![ProviderAction::RedeemVoucher]
    );
    assert!(p.is_terminal());
}

#[test]
fn provider_aborts_on_a_wrong_voucher() {
    let mut p = ProviderState::new(7, ProofMode::Fraud);
    for e in [
        ProviderEvent::DealAccepted { intervals: 2 },
        ProviderEvent::Unsealed,
        ProviderEvent::TransferStarted,
        ProviderEvent::Encrypted,
        ProviderEvent::ProofsGenerated,
        ProviderEvent::Prefetched,
        ProviderEvent::VoucherReceived,
    ] {
        p = p.step(e).unwrap().0;
    }
    let (p, a) = p
        .step(ProviderEvent::WrongVoucher {
            reason: "forged".into(),
        })
        .unwrap();
    // Seed: RevealKey → Abort → Completed; nothing was paid, so nothing to redeem.
    assert_eq!(a, vec![ProviderAction::SendAbort]);
    assert_eq!(p.status, P::Completed);
    assert_eq!(p.message, "forged");
}

#[test]
fn committed_diagrams_are_up_to_date() {
    // Regenerate with: ozkcp fsm mermaid client > docs/diagrams/client.mmd (and provider).
    assert_eq!(
        client_mermaid(),
        include_str!("../../docs/diagrams/client.mmd")
    );
    assert_eq!(
        provider_mermaid(),
        include_str!("../../docs/diagrams/provider.mmd")
    );
}

#[test]
fn events_and_actions_have_the_json_shape_hosts_use() {
    // The C ABI and the Go bindings speak exactly this.
    let e: ClientEvent = serde_json::from_str(r#"{"event":"DealAccepted","intervals":3}"#).unwrap();
    assert_eq!(e, ClientEvent::DealAccepted { intervals: 3 });
    let e: ProviderEvent = serde_json::from_str(r#"{"event":"Unsealed"}"#).unwrap();
    assert_eq!(e, ProviderEvent::Unsealed);
    assert!(
        serde_json::from_str::<ClientEvent>(r#"{"event":"DealAccepted","intervals":3,"x":1}"#)
            .is_err()
    );
    assert!(serde_json::from_str::<ClientEvent>(r#"{"event":"NoSuchEvent"}"#).is_err());
    assert!(serde_json::from_str::<ClientEvent>(r#"{"intervals":3}"#).is_err());
    let a = serde_json::to_string(&ClientAction::SendVoucher { interval: 2 }).unwrap();
    assert_eq!(a, r#"{"action":"SendVoucher","interval":2}"#);
    let a = serde_json::to_string(&ProviderAction::SendAbort).unwrap();
    assert_eq!(a, r#"{"action":"SendAbort"}"#);
}

/// Only work that stays in the process may run from an unsynced step: everything that sends a
/// frame, moves funds or writes the payload is not local.
#[test]
fn actions_that_leave_the_process_are_not_local() {
    use ozkcp::fsm::client::ClientAction as CA;
    use ozkcp::fsm::provider::ProviderAction as PA;
    for a in [
        CA::SendProposal,
        CA::LockFunds,
        CA::SendStartTransfer,
        CA::SendVoucher { interval: 0 },
        CA::SubmitDispute,
        CA::SendAbort,
        CA::RecoverFunds,
        CA::DeliverData,
    ] {
        assert!(!a.is_local(), "{a:?}");
    }
    for a in [
        CA::VerifyInterval { interval: 0 },
        CA::OpenInterval { interval: 0 },
        CA::AllocateLane,
    ] {
        assert!(a.is_local(), "{a:?}");
    }
    for a in [
        PA::SendAcceptance,
        PA::SendRejection,
        PA::SendInterval { interval: 0 },
        PA::PrefetchInterval { interval: 0 },
        PA::SendAbort,
        PA::RedeemVoucher,
    ] {
        assert!(!a.is_local(), "{a:?}");
    }
    for a in [
        PA::Unseal,
        PA::EncryptInterval { interval: 0 },
        PA::GenerateProofs { interval: 0 },
    ] {
        assert!(a.is_local(), "{a:?}");
    }
    // These two leave the process only after the node journals the voucher durably.
    assert!(!PA::CheckVoucher { interval: 0 }.is_local());
    assert!(PA::CheckVoucher { interval: 0 }.journals_itself());
    assert!(CA::SendVoucher { interval: 0 }.journals_itself());
    assert!(!CA::SendAbort.journals_itself() && !PA::SendAbort.journals_itself());
}
