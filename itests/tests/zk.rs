//! zk mode on chain: verifying keys registered with the judge, and an invalid Groth16 proof
//! proven to the judge, which verifies it inside the actor (Wasm) with the registered key.

use std::sync::OnceLock;

use ozkcp::zk::{dev_setup, ZkKeys};
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::evidence::{encode_evidence, proof_digest, Evidence, SignedStatement};
use ozkcp_itests::{atto, params, Fixture, Net};
use ozkcp_judge::types::{DealStatus, DisputeReturn, RegisterVerifyingKeyParams};
use ozkcp_judge::{exit, method};

fn keys() -> ZkKeys {
    static K: OnceLock<ZkKeys> = OnceLock::new();
    K.get_or_init(|| dev_setup(64).expect("setup")).clone()
}

fn register(net: &Net, k: &ZkKeys) -> ozkcp_devnet::Lookup {
    net.ok(
        &net.key(2),
        method::REGISTER_VERIFYING_KEY,
        params(&RegisterVerifyingKeyParams {
            vk: k.verifier.verifying_key_bytes(),
        }),
        atto(0),
    )
}

/// Chunk `pos` of interval `j` as provider-signed evidence (statement, path, commitment), after
/// giving it chunk `pos + 1`'s proof and re-signing the interval, as a cheating provider would.
fn swapped_proof(f: &mut Fixture, j: usize, pos: usize) -> (SignedStatement, Vec<u8>, Vec<u8>) {
    let b = &mut f.bundles[j];
    let other = b.chunks[pos + 1].proof.clone();
    let c = &mut b.chunks[pos];
    c.statement.proof_digest = other.as_ref().map(|p| proof_digest(p));
    c.proof = other;
    f.recommit(j);
    signed(f, j, pos)
}

fn signed(f: &Fixture, j: usize, pos: usize) -> (SignedStatement, Vec<u8>, Vec<u8>) {
    let c = &f.bundles[j].chunks[pos];
    let proof = c.proof.clone().unwrap().to_vec();
    (f.signed_statement(j, pos), c.ciphertext.clone(), proof)
}

#[test]
fn verifying_keys_register_once_under_their_circuit_id() {
    let net = Net::new();
    let k = keys();
    let r = register(&net, &k);
    let id: Bytes32 = r.return_data.deserialize().unwrap();
    assert_eq!(id, k.verifier.circuit_id());
    let st = net.state();
    let stored = st.verifying_key(net.net.store(), &id).unwrap().unwrap();
    assert_eq!(stored, k.verifier.verifying_key_bytes());
    // Again: the same id, nothing changes.
    let again: Bytes32 = register(&net, &k).return_data.deserialize().unwrap();
    assert_eq!(again, id);
    // A key with a flipped byte is refused (off the curve, or another key whose id differs).
    let mut bad = k.verifier.verifying_key_bytes();
    bad[40] ^= 1;
    let r = net.call(
        &net.key(2),
        method::REGISTER_VERIFYING_KEY,
        params(&RegisterVerifyingKeyParams { vk: bad }),
        atto(0),
    );
    if r.exit_code.is_success() {
        let other: Bytes32 = r.return_data.deserialize().unwrap();
        assert_ne!(other, id);
    } else {
        assert_eq!(r.exit_code, exit::ILLEGAL_ARGUMENT);
    }
}

#[test]
fn an_invalid_groth16_proof_is_disputed_and_won_on_chain() {
    let net = Net::new();
    let k = keys();
    let mut f = Fixture::zk(&net, 1, &k);
    // The circuit must be known before a zk deal opens.
    let early = net.call(
        &net.key(0),
        method::ADD_BALANCE,
        fvm_ipld_encoding::RawBytes::default(),
        f.amount.clone(),
    );
    assert!(early.exit_code.is_success());
    let lock = params(&ozkcp_judge::types::LockFundsParams {
        terms: f.terms.clone(),
        amount: f.amount.clone(),
    });
    let r = net.call(&net.key(0), method::LOCK_FUNDS, lock, atto(0));
    assert_eq!(r.exit_code, exit::UNKNOWN_CIRCUIT);
    register(&net, &k);
    f.open_on_chain();

    // A valid proof proves nothing.
    let (s, ct, proof) = signed(&f, 1, 0);
    let valid = encode_evidence(&Evidence::invalid_proof(s, ct, proof)).unwrap();
    let r = net.call(&net.key(0), method::DISPUTE, f.dispute(valid), atto(0));
    assert_eq!(r.exit_code, exit::NO_FAULT, "{:?}", r.error);
    println!("Dispute (valid Groth16 proof, refused): {} gas", r.gas_used);

    // Chunk 0 of interval 1 carries chunk 1's proof, consistently stated and signed.
    let (s, ct, proof) = swapped_proof(&mut f, 1, 0);
    let index = s.statement.index;
    let ev = encode_evidence(&Evidence::invalid_proof(s, ct, proof)).unwrap();
    let r = net.ok(&net.key(0), method::DISPUTE, f.dispute(ev), atto(0));
    println!("Dispute (invalid Groth16 proof): {} gas", r.gas_used);
    assert!(r.gas_used <= 2_000_000_000, "{} gas", r.gas_used);
    let ret: DisputeReturn = r.return_data.deserialize().unwrap();
    assert_eq!((ret.kind, ret.interval, ret.chunk), (1, 1, Some(index)));
    assert_eq!(ret.to_client, atto(1_000));
    let deal = net.deal(net.id(0), 1).unwrap();
    assert_eq!(deal.status, DealStatus::Slashed);
    // Two deposits of the price (the refused lock's and the deal's), all free again, plus the
    // provider's collateral.
    let price = &f.amount;
    assert_eq!(
        net.account(net.id(0)),
        (price + price + atto(1_000), atto(0))
    );
}
