//! Property tests: encodings round-trip, and arbitrary or truncated bytes never panic a decoder.

use ozkcp_core::block::{cid_of, RAW};
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::deal::{DealTerms, SignedDealTerms};
use ozkcp_core::encoding::{from_cbor, to_cbor};
use ozkcp_core::merkle::MerkleProof;
use ozkcp_core::statement::{SignedIntervalCommitment, Statement};
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_core::{Address, TokenAmount};
use proptest::prelude::*;

fn b32() -> impl Strategy<Value = Bytes32> {
    any::<[u8; 32]>().prop_map(Bytes32)
}

prop_compose! {
    fn statement()(
        deal_id in any::<u64>(), index in any::<u64>(), interval in any::<u32>(),
        block in any::<u32>(), offset in any::<u64>(), len in any::<u32>(),
        ct in b32(), h_in in b32(), h_out in b32(), lock in b32(),
        cid_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proof in proptest::option::of(b32()),
    ) -> Statement {
        Statement {
            deal_id, index, interval, block, offset, len, ct_digest: ct, h_in, h_out, lock,
            block_cid: cid_data.map(|d| cid_of(RAW, &d)), proof_digest: proof,
        }
    }
}

prop_compose! {
    fn voucher()(
        id in 0u64..1 << 40, lane in any::<u64>(), nonce in any::<u64>(), atto in any::<u128>(),
        lock in b32(), sig in proptest::option::of(proptest::collection::vec(any::<u8>(), 65)),
    ) -> SignedVoucher {
        let mut v = SignedVoucher::new(Address::new_id(id), lane, nonce, TokenAmount::from_atto(atto), &lock);
        v.signature = sig.map(fvm_shared::crypto::signature::Signature::new_secp256k1);
        v
    }
}

proptest! {
    #[test]
    fn statements_round_trip(s in statement()) {
        let b = to_cbor(&s).unwrap();
        prop_assert_eq!(from_cbor::<Statement>(&b).unwrap(), s);
        for cut in [0, b.len() / 3, b.len() - 1] {
            prop_assert!(from_cbor::<Statement>(&b[..cut]).is_err());
        }
    }

    #[test]
    fn vouchers_round_trip(v in voucher()) {
        let b = to_cbor(&v).unwrap();
        prop_assert_eq!(from_cbor::<SignedVoucher>(&b).unwrap(), v);
        prop_assert!(from_cbor::<SignedVoucher>(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn merkle_proofs_round_trip(position in any::<u32>(), leaves in any::<u32>(),
                                siblings in proptest::collection::vec(b32(), 0..20)) {
        let p = MerkleProof { position, leaves, siblings };
        prop_assert_eq!(from_cbor::<MerkleProof>(&to_cbor(&p).unwrap()).unwrap(), p);
    }

    /// Garbage never panics any decoder; it is an error or (rarely) a valid value.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = from_cbor::<Statement>(&bytes);
        let _ = from_cbor::<SignedVoucher>(&bytes);
        let _ = from_cbor::<DealTerms>(&bytes);
        let _ = from_cbor::<SignedDealTerms>(&bytes);
        let _ = from_cbor::<SignedIntervalCommitment>(&bytes);
        let _ = from_cbor::<MerkleProof>(&bytes);
        let _ = from_cbor::<ozkcp_core::keys::IntervalKey>(&bytes);
    }

    /// Flipping any bit of a valid encoding never panics either.
    #[test]
    fn flipped_bits_never_panic(s in statement(), bit in any::<prop::sample::Index>()) {
        let mut b = to_cbor(&s).unwrap();
        let i = bit.index(b.len() * 8);
        b[i / 8] ^= 1 << (i % 8);
        if let Ok(back) = from_cbor::<Statement>(&b) {
            // A flip that still decodes must change the value (CBOR is canonical here).
            prop_assert_ne!(back, s);
        }
    }
}

#[test]
fn commitments_near_the_index_limit_do_not_overflow() {
    use ozkcp_core::statement::IntervalCommitment;
    let s = Statement {
        deal_id: 1,
        index: 0,
        interval: 0,
        block: 0,
        offset: 0,
        len: 0,
        ct_digest: Bytes32([0; 32]),
        h_in: Bytes32([0; 32]),
        h_out: Bytes32([0; 32]),
        lock: Bytes32([0; 32]),
        block_cid: None,
        proof_digest: None,
    };
    let c = SignedIntervalCommitment {
        commitment: IntervalCommitment {
            deal_id: 1,
            terms: Bytes32([0; 32]),
            interval: 0,
            first_chunk: u64::MAX,
            chunk_count: 2,
            lock: Bytes32([0; 32]),
            root: Bytes32([0; 32]),
        },
        signature: fvm_shared::crypto::signature::Signature::new_secp256k1(vec![0; 65]),
    };
    let path = MerkleProof {
        position: 1,
        leaves: 2,
        siblings: vec![Bytes32([0; 32])],
    };
    assert!(c.check_statement(&s, &path).is_err());
    assert!(c.check_all(&[s.clone(), s]).is_err());
}
