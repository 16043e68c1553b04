//! The devnet as a chain: genesis, transfers, mempool checks, persistence.

mod common;

use common::*;
use fvm_ipld_encoding::RawBytes;
use fvm_shared::error::ExitCode;
use fvm_shared::METHOD_SEND;
use ozkcp_devnet::{Devnet, DevnetError, GenesisConfig, Key};

#[test]
fn genesis_accounts_are_funded() {
    let (_dir, net) = devnet();
    let accounts = net.accounts();
    assert_eq!(accounts.len(), 4);
    for a in &accounts {
        assert_eq!(net.balance(&a.key.address).unwrap(), fil(1_000_000));
        assert_eq!(net.nonce(&a.key.address).unwrap(), 0);
        let by_id = net
            .actor(&fvm_shared::address::Address::new_id(a.id))
            .unwrap()
            .unwrap();
        assert_eq!(by_id.balance, fil(1_000_000));
    }
    assert_eq!(net.epoch(), 0);
    // Same seed, same keys.
    let dir2 = tempfile::tempdir().unwrap();
    let net2 = Devnet::open(dir2.path(), GenesisConfig::default()).unwrap();
    assert_eq!(net2.accounts()[0].key.address, accounts[0].key.address);
}

#[test]
fn value_transfer_between_genesis_accounts() {
    let (_dir, net) = devnet();
    let acc = net.accounts();
    let (a, b) = (&acc[0].key, &acc[1].key);
    let r = net
        .call(a, b.address, METHOD_SEND, RawBytes::default(), fil(7))
        .unwrap();
    assert_eq!(r.exit_code, ExitCode::OK);
    assert!(r.gas_used > 0);
    assert_eq!(r.epoch, 1);
    assert_eq!(net.balance(&a.address).unwrap(), fil(1_000_000 - 7));
    assert_eq!(net.balance(&b.address).unwrap(), fil(1_000_000 + 7));
    assert_eq!(net.nonce(&a.address).unwrap(), 1);
    // The receipt is found by signed and by unsigned CID, and the tipset lists the message.
    assert_eq!(net.lookup(&r.unsigned).unwrap().unwrap(), r);
    let ts = net.tipset(1).unwrap().unwrap();
    assert_eq!(ts.messages, vec![r.message]);
    assert_eq!(ts.block, r.tipset);
    // Sending to an ID address works as well.
    let to_id = fvm_shared::address::Address::new_id(acc[2].id);
    let r = net
        .call(b, to_id, METHOD_SEND, RawBytes::default(), fil(1))
        .unwrap();
    assert_eq!(r.exit_code, ExitCode::OK);
    assert_eq!(net.balance(&acc[2].key.address).unwrap(), fil(1_000_001));
}

#[test]
fn bad_signature_is_rejected() {
    let (_dir, net) = devnet();
    let acc = net.accounts();
    let (a, b) = (&acc[0].key, &acc[1].key);
    let msg = net
        .message(a, b.address, METHOD_SEND, RawBytes::default(), fil(1))
        .unwrap();
    // Signed by another key.
    let forged = b.sign_message(msg.clone());
    let err = net
        .push(ozkcp_devnet::SignedMessage {
            message: msg.clone(),
            signature: forged.signature,
        })
        .unwrap_err();
    assert!(matches!(err, DevnetError::InvalidSignature(_)), "{err}");
    // Signed by the right key, then tampered with.
    let mut tampered = a.sign_message(msg.clone());
    tampered.message.value = fil(1000);
    let err = net.push(tampered).unwrap_err();
    assert!(matches!(err, DevnetError::InvalidSignature(_)), "{err}");
    // A truncated signature.
    let mut short = a.sign_message(msg.clone());
    short.signature = fvm_shared::crypto::signature::Signature::new_secp256k1(vec![1; 64]);
    assert!(matches!(
        net.push(short).unwrap_err(),
        DevnetError::InvalidSignature(_)
    ));
    // An ID-address sender is checked against its account's key.
    let mut by_id = msg.clone();
    by_id.from = fvm_shared::address::Address::new_id(acc[0].id);
    assert!(matches!(
        net.push(b.sign_message(by_id.clone())).unwrap_err(),
        DevnetError::InvalidSignature(_)
    ));
    net.push(a.sign_message(by_id)).unwrap();
    // Nothing but the last push executed.
    assert_eq!(net.epoch(), 1);
    assert_eq!(net.balance(&b.address).unwrap(), fil(1_000_001));
    // An unknown sender.
    let stranger = Key::random();
    let m = net
        .message(
            &stranger,
            b.address,
            METHOD_SEND,
            RawBytes::default(),
            fil(0),
        )
        .unwrap();
    assert!(matches!(
        net.push(stranger.sign_message(m)).unwrap_err(),
        DevnetError::UnknownSender(_)
    ));
}

#[test]
fn wrong_nonce_is_rejected() {
    let (_dir, net) = devnet();
    let acc = net.accounts();
    let (a, b) = (&acc[0].key, &acc[1].key);
    let mut msg = net
        .message(a, b.address, METHOD_SEND, RawBytes::default(), fil(1))
        .unwrap();
    msg.sequence = 1;
    match net.push(a.sign_message(msg.clone())).unwrap_err() {
        DevnetError::WrongNonce { expected, got, .. } => assert_eq!((expected, got), (0, 1)),
        e => panic!("{e}"),
    }
    msg.sequence = 0;
    net.push(a.sign_message(msg.clone())).unwrap();
    // Replaying the same message: nonce 0 is used.
    match net.push(a.sign_message(msg)).unwrap_err() {
        DevnetError::WrongNonce { expected, got, .. } => assert_eq!((expected, got), (1, 0)),
        e => panic!("{e}"),
    }
    // In a batch, nonces must follow each other per sender.
    let mk = |n| {
        let mut m = net
            .message(a, b.address, METHOD_SEND, RawBytes::default(), fil(1))
            .unwrap();
        m.sequence = n;
        a.sign_message(m)
    };
    let res = net.push_batch(vec![mk(1), mk(2), mk(2), mk(4)]).unwrap();
    assert!(res[0].is_ok() && res[1].is_ok());
    assert!(matches!(res[2], Err(DevnetError::WrongNonce { .. })));
    assert!(matches!(res[3], Err(DevnetError::WrongNonce { .. })));
    assert_eq!(net.nonce(&a.address).unwrap(), 3);
}

#[test]
fn mempool_rules() {
    let (_dir, net) = devnet();
    let acc = net.accounts();
    let (a, b) = (&acc[0].key, &acc[1].key);
    let base = net
        .message(a, b.address, METHOD_SEND, RawBytes::default(), fil(1))
        .unwrap();
    let mut m = base.clone();
    m.gas_premium = atto(1);
    assert!(matches!(
        net.push(a.sign_message(m)).unwrap_err(),
        DevnetError::Rejected(_)
    ));
    let mut m = base.clone();
    m.gas_limit = 0;
    assert!(matches!(
        net.push(a.sign_message(m)).unwrap_err(),
        DevnetError::Rejected(_)
    ));
    let mut m = base.clone();
    m.value = fil(2_000_000);
    assert!(matches!(
        net.push(a.sign_message(m)).unwrap_err(),
        DevnetError::Rejected(_)
    ));
    let mut m = base.clone();
    m.params = RawBytes::new(vec![0; 70_000]);
    assert!(matches!(
        net.push(a.sign_message(m)).unwrap_err(),
        DevnetError::Rejected(_)
    ));
    assert_eq!(net.epoch(), 0);
}

#[test]
fn state_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, r, judge) = {
        let net = Devnet::open(dir.path(), GenesisConfig::default()).unwrap();
        let acc = net.accounts();
        let (a, b) = (acc[0].key.clone(), acc[1].key.clone());
        let r = net
            .call(&a, b.address, METHOD_SEND, RawBytes::default(), fil(5))
            .unwrap();
        let judge = install_judge(&net);
        (a, b, r, judge)
    };
    // A different genesis config is ignored: the stored chain wins.
    let net = Devnet::open(
        dir.path(),
        GenesisConfig {
            accounts: 1,
            seed: 9,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(net.epoch(), 2);
    assert_eq!(net.accounts().len(), 4);
    assert_eq!(net.balance(&a.address).unwrap(), fil(1_000_000 - 5));
    assert_eq!(net.balance(&b.address).unwrap(), fil(1_000_005));
    assert_eq!(net.nonce(&a.address).unwrap(), 1);
    assert_eq!(net.wait(&r.message).unwrap(), r);
    assert_eq!(net.head().unwrap().epoch, 2);
    // The chain continues, the installed actor still works.
    let dep = net
        .call(
            &a,
            judge.id_address,
            ozkcp_judge::method::ADD_BALANCE,
            RawBytes::default(),
            fil(3),
        )
        .unwrap();
    assert_eq!(dep.exit_code, ExitCode::OK, "{:?}", dep.error);
    assert_eq!(dep.epoch, 3);
    assert_eq!(judge_sum(&net, &judge.id_address), fil(3));
    drop(net);
    let net = Devnet::open(dir.path(), GenesisConfig::default()).unwrap();
    assert_eq!(net.balance(&judge.robust_address).unwrap(), fil(3));
    assert_eq!(net.epoch(), 3);
}

#[test]
fn broken_wasm_is_refused() {
    let (_dir, net) = devnet();
    let err = net
        .install_actor(b"\0asm not really", RawBytes::default())
        .unwrap_err();
    assert!(matches!(err, DevnetError::Invalid(_)), "{err}");
    assert_eq!(net.epoch(), 0);
}

#[test]
fn simulate_and_estimate_gas_keep_no_state() {
    let (_dir, net) = devnet();
    let acc = net.accounts();
    let (a, b) = (&acc[0].key, &acc[1].key);
    let msg = net
        .message(a, b.address, METHOD_SEND, RawBytes::default(), fil(3))
        .unwrap();
    let r = net.simulate(msg.clone()).unwrap();
    assert_eq!(r.exit_code, ExitCode::OK);
    assert!(r.gas_used > 0);
    assert_eq!(net.epoch(), 0);
    assert_eq!(net.balance(&b.address).unwrap(), fil(1_000_000));
    assert!(r.gas_by_charge.is_empty());
    let traced = net.simulate_traced(msg.clone()).unwrap();
    assert_eq!(traced.gas_used, r.gas_used);
    assert!(traced
        .gas_by_charge
        .iter()
        .any(|(n, g)| n == "OnChainMessage" && *g > 0));
    let gas = net.estimate_gas(&msg).unwrap();
    assert!(gas >= r.gas_used && gas < 2 * r.gas_used);
    let mut m = msg;
    m.gas_limit = gas;
    let cid = net.push(a.sign_message(m)).unwrap();
    assert_eq!(net.wait(&cid).unwrap().exit_code, ExitCode::OK);
    // A message that would fail has no estimate.
    let mut too_much = net
        .message(a, b.address, METHOD_SEND, RawBytes::default(), fil(0))
        .unwrap();
    too_much.method_num = 7; // an account has no method 7: the dummy account code cannot run
    assert!(net.estimate_gas(&too_much).is_err());
}
