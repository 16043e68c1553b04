//! Shared test vectors (`testdata/vectors/`), checked here and by the Go tests:
//! `voucher_rust.json` is a voucher signed in Rust (Go decodes it into `paych.SignedVoucher`,
//! re-encodes it byte for byte and recovers the signer); `voucher_go.json` is a voucher signed
//! in Go that Rust's check must accept. `OZKCP_BLESS=1` rewrites the Rust vector.

use std::path::PathBuf;

use ozkcp_core::bytes::Bytes32;
use ozkcp_core::encoding::{from_cbor, to_cbor};
use ozkcp_core::sig::{Secp256k1, SecpSigner};
use ozkcp_core::voucher::{check_voucher, SignedVoucher, VoucherExpectation};
use ozkcp_core::{Address, TokenAmount};
use serde_json::{json, Value};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors")
}

fn unhex(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().expect(field)).expect("hex")
}

fn rust_vector() -> String {
    let secret = [0x07u8; 32];
    let signer = SecpSigner::from_bytes(&secret).expect("secret");
    let lock = Bytes32([0xab; 32]);
    let mut v = SignedVoucher::new(
        Address::new_id(1000),
        7,
        3,
        TokenAmount::from_atto(1_000_000_000_000_000_000u128),
        &lock,
    );
    v.sign(&signer).expect("signs");
    let vector = json!({
        "comment": "voucher signed in Rust (ozkcp-core); checked by go-bindings/vectors_test.go",
        "secret": hex::encode(secret),
        "client": signer.address().to_string(),
        "client_bytes": hex::encode(signer.address().to_bytes()),
        "channel_bytes": hex::encode(v.channel_addr.to_bytes()),
        "lane": v.lane,
        "nonce": v.nonce,
        "amount": v.amount.atto().to_string(),
        "lock": hex::encode(lock.0),
        "signing_bytes": hex::encode(v.signing_bytes().expect("encodes")),
        "signed": hex::encode(to_cbor(&v).expect("encodes")),
    });
    serde_json::to_string_pretty(&vector).expect("json") + "\n"
}

#[test]
fn rust_voucher_vector_is_fresh() {
    let path = vectors().join("voucher_rust.json");
    let now = rust_vector();
    if std::env::var_os("OZKCP_BLESS").is_some() {
        std::fs::create_dir_all(vectors()).expect("mkdir");
        std::fs::write(&path, &now).expect("write vector");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed, now,
        "testdata/vectors/voucher_rust.json is stale: rerun with OZKCP_BLESS=1"
    );
}

#[test]
fn go_voucher_is_accepted_by_rust() {
    let raw = std::fs::read_to_string(vectors().join("voucher_go.json")).expect("Go vector");
    let vec: Value = serde_json::from_str(&raw).expect("json");
    let signed = unhex(&vec, "signed");
    let v: SignedVoucher = from_cbor(&signed).expect("Go's voucher decodes canonically");
    assert_eq!(to_cbor(&v).unwrap(), signed, "re-encodes byte for byte");
    assert_eq!(v.signing_bytes().unwrap(), unhex(&vec, "signing_bytes"));
    let client = Address::from_bytes(&unhex(&vec, "client_bytes")).expect("address");
    let lock = Bytes32(unhex(&vec, "lock").try_into().expect("32 bytes"));
    let expect = VoucherExpectation {
        channel: Address::from_bytes(&unhex(&vec, "channel_bytes")).expect("channel"),
        lane: vec["lane"].as_u64().unwrap(),
        client,
        last_nonce: Some(vec["nonce"].as_u64().unwrap() - 1),
        owed: TokenAmount::from_atto(vec["amount"].as_str().unwrap().parse::<u128>().unwrap()),
        lock,
        funds: None,
    };
    check_voucher(&v, &expect, &Secp256k1).expect("Rust accepts the Go voucher");
    // Its signer is the key in the vector.
    let secret: [u8; 32] = unhex(&vec, "secret").try_into().unwrap();
    assert_eq!(SecpSigner::from_bytes(&secret).unwrap().address(), client);
}
