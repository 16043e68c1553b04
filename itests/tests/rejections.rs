//! Every refusal of the judge actor, each through a real signed message on the devnet, with its
//! own exit code, and none of them changing the judge's state.

use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::error::ExitCode;
use fvm_shared::MethodNum;
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::sig::SecpSigner;
use ozkcp_devnet::Key;
use ozkcp_itests::{atto, params, Fixture, Net};
use ozkcp_judge::types::{
    DealStatus, GetAccountParams, LockCollateralParams, LockFundsParams,
    RegisterVerifyingKeyParams, WithdrawParams,
};
use ozkcp_judge::{exit, method};

/// Sends a message that must fail with `code` and leave the judge's state (and FIL) untouched.
fn refused(net: &Net, from: &Key, m: MethodNum, p: RawBytes, value: u64, code: ExitCode) {
    let head = net.net.actor(&net.judge).unwrap().unwrap();
    let r = net.call(from, m, p, atto(value));
    assert_eq!(r.exit_code, code, "method {m}: {:?}", r.error);
    assert!(r.error.is_some(), "a refusal says why");
    let after = net.net.actor(&net.judge).unwrap().unwrap();
    assert_eq!(
        head.head, after.head,
        "a refused message changed the judge's state"
    );
    assert_eq!(head.balance, after.balance);
    net.state();
}

#[test]
fn redeem_refusals() {
    let net = Net::new();
    let f = Fixture::open(&net, 7, 100, 20, 1_000);
    let (client, provider, third) = (net.key(0), net.key(1), net.key(2));
    let v1 = f.voucher(1);

    // Someone other than the provider: the client itself, or a third party.
    for who in [&client, &third] {
        refused(
            &net,
            who,
            method::REDEEM_VOUCHER,
            f.redeem(&v1, f.key(1)),
            0,
            exit::FORBIDDEN,
        );
    }
    // The wrong preimage: another interval's key, or garbage.
    for key in [f.key(0), Bytes32([9; 32])] {
        refused(
            &net,
            &provider,
            method::REDEEM_VOUCHER,
            f.redeem(&v1, key),
            0,
            exit::WRONG_PREIMAGE,
        );
    }
    // Signed by another key.
    let mut forged = v1.clone();
    forged.sign(&SecpSigner::random()).unwrap();
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&forged, f.key(1)),
        0,
        exit::BAD_VOUCHER_SIGNATURE,
    );
    // Unsigned.
    let mut unsigned = v1.clone();
    unsigned.signature = None;
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&unsigned, f.key(1)),
        0,
        exit::BAD_VOUCHER_SIGNATURE,
    );
    // For another channel, or another lane (correctly signed).
    let mut other_channel = v1.clone();
    other_channel.channel_addr = Address::new_id(1234);
    other_channel.sign(&f.client).unwrap();
    let mut other_lane = v1.clone();
    other_lane.lane += 1;
    other_lane.sign(&f.client).unwrap();
    for v in [&other_channel, &other_lane] {
        refused(
            &net,
            &provider,
            method::REDEEM_VOUCHER,
            f.redeem(v, f.key(1)),
            0,
            exit::WRONG_CHANNEL,
        );
    }
    // Paych features ozkcp leaves empty.
    let mut timelocked = v1.clone();
    timelocked.time_lock_max = 5;
    timelocked.sign(&f.client).unwrap();
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&timelocked, f.key(1)),
        0,
        exit::UNSUPPORTED_VOUCHER,
    );
    // More than the client locked.
    let mut greedy = v1.clone();
    greedy.amount = &f.amount + atto(1);
    greedy.sign(&f.client).unwrap();
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&greedy, f.key(1)),
        0,
        exit::INSUFFICIENT_FUNDS,
    );

    // The real one lands; the same voucher again, and any lower or equal nonce, do not.
    net.ok(
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&v1, f.key(1)),
        atto(0),
    );
    assert_eq!(net.deal(net.id(0), 7).unwrap().paid, f.owed(1));
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&v1, f.key(1)),
        0,
        exit::ALREADY_REDEEMED,
    );
    let older = f.voucher(0);
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&older, f.key(0)),
        0,
        exit::STALE_NONCE,
    );
    let mut same_nonce_more = f.voucher(2);
    same_nonce_more.nonce = v1.nonce;
    same_nonce_more.sign(&f.client).unwrap();
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&same_nonce_more, f.key(2)),
        0,
        exit::STALE_NONCE,
    );
    // A later voucher paying less in all than already paid.
    let mut less = f.voucher(2);
    less.amount = f.owed(0);
    less.sign(&f.client).unwrap();
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&less, f.key(2)),
        0,
        exit::ILLEGAL_ARGUMENT,
    );
    // Value attached to a method that takes none.
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&f.voucher(2), f.key(2)),
        1,
        exit::ILLEGAL_ARGUMENT,
    );

    // After the key-reveal deadline nothing is redeemed.
    let deal = net.deal(net.id(0), 7).unwrap();
    net.net
        .advance((deal.key_reveal_deadline + 1 - net.net.epoch() as i64) as u64)
        .unwrap();
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&f.voucher(2), f.key(2)),
        0,
        exit::WINDOW_CLOSED,
    );
}

#[test]
fn dispute_refusals() {
    let net = Net::new();
    let f = Fixture::open(&net, 3, 60, 20, 1_000);
    let (client, provider, third) = (net.key(0), net.key(1), net.key(2));
    let provider_signer = ozkcp_itests::signer(&provider);
    let wrong = f.wrong_key_evidence(1, [0x42; 32], &provider_signer);

    // Only the deal's client disputes: not the provider, not a third party.
    for who in [&provider, &third] {
        refused(
            &net,
            who,
            method::DISPUTE,
            f.dispute(wrong.clone()),
            0,
            exit::FORBIDDEN,
        );
    }
    // Evidence signed by someone else than the provider.
    let forged = f.wrong_key_evidence(1, [0x42; 32], &SecpSigner::random());
    refused(
        &net,
        &client,
        method::DISPUTE,
        f.dispute(forged),
        0,
        exit::BAD_EVIDENCE_SIGNATURE,
    );
    // Evidence that proves nothing: the key the provider revealed is the right one.
    let consistent = f.wrong_key_evidence(1, f.key(1).0, &provider_signer);
    refused(
        &net,
        &client,
        method::DISPUTE,
        f.dispute(consistent),
        0,
        exit::NO_FAULT,
    );
    // Evidence that does not apply: the reveal is for another interval than the commitment.
    let mixed = {
        let mut ev: ozkcp_core::evidence::Evidence =
            ozkcp_core::evidence::decode_evidence(&wrong).unwrap();
        if let ozkcp_core::evidence::Evidence::WrongKey { commitment, .. } = &mut ev {
            *commitment = f.bundles[2].commitment.clone();
        }
        ozkcp_core::evidence::encode_evidence(&ev).unwrap()
    };
    refused(
        &net,
        &client,
        method::DISPUTE,
        f.dispute(mixed),
        0,
        exit::BAD_EVIDENCE,
    );
    // Truncated, garbage and empty evidence.
    for bad in [wrong[..wrong.len() / 2].to_vec(), vec![0xff; 40], vec![]] {
        refused(
            &net,
            &client,
            method::DISPUTE,
            f.dispute(bad),
            0,
            exit::SERIALIZATION,
        );
    }
    // Other terms than the deal's.
    let mut other = f.terms.clone();
    other.proposal.price_per_chunk = atto(11);
    let p = params(&ozkcp_judge::types::DisputeParams {
        client: f.terms.proposal.client,
        deal_id: 3,
        terms: other,
        evidence: wrong.clone(),
    });
    refused(&net, &client, method::DISPUTE, p, 0, exit::WRONG_TERMS);
    // A deal that does not exist.
    let p = params(&ozkcp_judge::types::DisputeParams {
        client: f.terms.proposal.client,
        deal_id: 4,
        terms: f.terms.clone(),
        evidence: wrong.clone(),
    });
    refused(&net, &client, method::DISPUTE, p, 0, exit::NOT_FOUND);

    // After the dispute window the provider is safe, even from true evidence.
    let deal = net.deal(net.id(0), 3).unwrap();
    net.net
        .advance((deal.dispute_deadline + 1 - net.net.epoch() as i64) as u64)
        .unwrap();
    refused(
        &net,
        &client,
        method::DISPUTE,
        f.dispute(wrong),
        0,
        exit::WINDOW_CLOSED,
    );
    assert_eq!(net.deal(net.id(0), 3).unwrap().status, DealStatus::Active);
}

#[test]
fn a_true_dispute_is_won_once() {
    let net = Net::new();
    let f = Fixture::open(&net, 5, 60, 20, 1_000);
    let client = net.key(0);
    let wrong = f.wrong_key_evidence(2, [0x42; 32], &ozkcp_itests::signer(&net.key(1)));
    net.ok(&client, method::DISPUTE, f.dispute(wrong.clone()), atto(0));
    let deal = net.deal(net.id(0), 5).unwrap();
    assert_eq!((deal.status, deal.fault), (DealStatus::Slashed, Some(0)));
    assert_eq!(net.account(net.id(0)), (&f.amount + atto(1_000), atto(0)));
    assert_eq!(net.account(net.id(1)), (atto(0), atto(0)));
    refused(
        &net,
        &client,
        method::DISPUTE,
        f.dispute(wrong),
        0,
        exit::DEAL_CLOSED,
    );
    refused(
        &net,
        &net.key(1),
        method::REDEEM_VOUCHER,
        f.redeem(&f.voucher(1), f.key(1)),
        0,
        exit::DEAL_CLOSED,
    );
}

#[test]
fn opening_settling_and_escrow_refusals() {
    let net = Net::new();
    let (client, provider, third) = (net.key(0), net.key(1), net.key(2));
    let f = Fixture::unopened(&net, 9, 60, 20, 500);
    net.ok(
        &client,
        method::ADD_BALANCE,
        RawBytes::default(),
        f.amount.clone(),
    );
    let lock = |terms: &ozkcp_core::deal::DealTerms, amount| {
        params(&LockFundsParams {
            terms: terms.clone(),
            amount,
        })
    };
    // Only the terms' client opens the deal.
    refused(
        &net,
        &third,
        method::LOCK_FUNDS,
        lock(&f.terms, atto(1)),
        0,
        exit::FORBIDDEN,
    );
    // Nothing to lock, more than deposited, a deadline already past, another judge, a zk deal
    // without a registered circuit.
    refused(
        &net,
        &client,
        method::LOCK_FUNDS,
        lock(&f.terms, atto(0)),
        0,
        exit::ILLEGAL_ARGUMENT,
    );
    refused(
        &net,
        &client,
        method::LOCK_FUNDS,
        lock(&f.terms, &f.amount + atto(1)),
        0,
        exit::INSUFFICIENT_FUNDS,
    );
    let mut past = f.terms.clone();
    past.proposal.key_reveal_deadline = net.net.epoch() as i64;
    refused(
        &net,
        &client,
        method::LOCK_FUNDS,
        lock(&past, atto(1)),
        0,
        exit::ILLEGAL_ARGUMENT,
    );
    let mut elsewhere = f.terms.clone();
    elsewhere.proposal.judge = provider.address;
    refused(
        &net,
        &client,
        method::LOCK_FUNDS,
        lock(&elsewhere, atto(1)),
        0,
        exit::ILLEGAL_ARGUMENT,
    );
    let mut zk = f.terms.clone();
    zk.proposal.mode = ozkcp_core::deal::ProofMode::Zk;
    zk.proposal.circuit_id = Some(Bytes32([1; 32]));
    refused(
        &net,
        &client,
        method::LOCK_FUNDS,
        lock(&zk, atto(1)),
        0,
        exit::UNKNOWN_CIRCUIT,
    );
    // The deal opens once; a deal id is never reused, whatever the provider.
    net.ok(
        &client,
        method::LOCK_FUNDS,
        lock(&f.terms, f.amount.clone()),
        atto(0),
    );
    refused(
        &net,
        &client,
        method::LOCK_FUNDS,
        lock(&f.terms, atto(1)),
        0,
        exit::ILLEGAL_STATE,
    );
    // Locked funds do not leave.
    refused(
        &net,
        &client,
        method::WITHDRAW,
        params(&WithdrawParams { amount: atto(1) }),
        0,
        exit::INSUFFICIENT_FUNDS,
    );
    // Collateral: only the provider, only for the terms it signed, only with the funds.
    let coll = |digest| {
        params(&LockCollateralParams {
            client: client.address,
            deal_id: 9,
            terms: digest,
        })
    };
    let digest = f.terms.digest().unwrap();
    refused(
        &net,
        &third,
        method::LOCK_COLLATERAL,
        coll(digest),
        0,
        exit::FORBIDDEN,
    );
    refused(
        &net,
        &provider,
        method::LOCK_COLLATERAL,
        coll(Bytes32([5; 32])),
        0,
        exit::WRONG_TERMS,
    );
    refused(
        &net,
        &provider,
        method::LOCK_COLLATERAL,
        coll(digest),
        0,
        exit::INSUFFICIENT_FUNDS,
    );
    // Before the provider accepts, nothing is redeemed or disputed; a third party cannot
    // cancel; the client can.
    refused(
        &net,
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&f.voucher(0), f.key(0)),
        0,
        exit::ILLEGAL_STATE,
    );
    refused(
        &net,
        &third,
        method::SETTLE,
        f.deal_ref(),
        0,
        exit::TOO_EARLY,
    );
    net.ok(&client, method::SETTLE, f.deal_ref(), atto(0));
    assert_eq!(net.account(net.id(0)), (f.amount.clone(), atto(0)));
    refused(
        &net,
        &client,
        method::SETTLE,
        f.deal_ref(),
        0,
        exit::DEAL_CLOSED,
    );
    refused(
        &net,
        &provider,
        method::LOCK_COLLATERAL,
        coll(digest),
        0,
        exit::DEAL_CLOSED,
    );
}

#[test]
fn malformed_params_and_unknown_methods() {
    let net = Net::new();
    let c = net.key(0);
    for m in [
        method::LOCK_FUNDS,
        method::LOCK_COLLATERAL,
        method::REDEEM_VOUCHER,
        method::DISPUTE,
        method::SETTLE,
        method::REGISTER_VERIFYING_KEY,
        method::WITHDRAW,
        method::GET_ACCOUNT,
        method::GET_DEAL,
    ] {
        // Truncated CBOR, a wrong shape, no params at all.
        refused(
            &net,
            &c,
            m,
            RawBytes::new(vec![0x84, 0x01]),
            0,
            exit::SERIALIZATION,
        );
        refused(&net, &c, m, params(&(1u64, "x")), 0, exit::SERIALIZATION);
        refused(&net, &c, m, RawBytes::default(), 0, exit::SERIALIZATION);
    }
    refused(
        &net,
        &c,
        method::ADD_BALANCE,
        RawBytes::default(),
        0,
        exit::ILLEGAL_ARGUMENT,
    );
    refused(
        &net,
        &c,
        method::GET_ACCOUNT,
        params(&GetAccountParams {
            owner: Address::new_id(9999),
        }),
        0,
        exit::NOT_FOUND,
    );
    refused(
        &net,
        &c,
        method::REGISTER_VERIFYING_KEY,
        params(&RegisterVerifyingKeyParams { vk: vec![1, 2, 3] }),
        0,
        exit::ILLEGAL_ARGUMENT,
    );
    refused(
        &net,
        &c,
        12345,
        RawBytes::default(),
        0,
        exit::UNHANDLED_MESSAGE,
    );
    refused(
        &net,
        &c,
        method::CONSTRUCTOR,
        RawBytes::default(),
        0,
        exit::FORBIDDEN,
    );
    assert_eq!(net.state().total, atto(0));
}
