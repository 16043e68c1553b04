//! Any single flipped bit in a chunk's ciphertext, its statement or the interval signature is
//! detected by the client before it pays.

use ozkcp::client::ClientDeal;
use ozkcp::core::deal::{DealProposal, DealTerms, Manifest, ProofMode, SignedDealTerms};
use ozkcp::core::encoding::{from_cbor, to_cbor};
use ozkcp::core::sig::SecpSigner;
use ozkcp::core::statement::Statement;
use ozkcp::core::{Address, TokenAmount};
use ozkcp::payload::Payload;
use ozkcp::provider::ProviderDeal;
use ozkcp::IntervalBundle;
use proptest::prelude::*;
use std::sync::OnceLock;

struct World {
    signed: SignedDealTerms,
    bundle: IntervalBundle,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let data: Vec<u8> = (0..700u32).map(|i| (i * 17) as u8).collect();
        let payload = Payload::from_bytes(&data, 300).unwrap();
        let prov = SecpSigner::random();
        let terms = DealTerms {
            proposal: DealProposal {
                deal_id: 5,
                client: SecpSigner::random().address(),
                provider: prov.address(),
                payload_root: payload.root,
                chunk_size: 128,
                price_per_chunk: TokenAmount::from_atto(1),
                mode: ProofMode::Fraud,
                circuit_id: None,
                judge: Address::new_id(1000),
                lane: 5,
                collateral: TokenAmount::from_atto(0),
                key_reveal_deadline: 0,
                dispute_window: 0,
            },
            manifest: Manifest {
                blocks: payload.refs(),
                interval_ends: vec![1, 4],
            },
        };
        let signed = SignedDealTerms {
            signature: prov.sign(&terms.signing_bytes().unwrap()),
            terms: terms.clone(),
        };
        let provider = ProviderDeal::new(terms, prov).unwrap();
        let blocks: Vec<&[u8]> = payload.blocks[1..]
            .iter()
            .map(|(_, b)| b.as_slice())
            .collect();
        let bundle = provider.encrypt_interval(1, &blocks).unwrap();
        // The untouched bundle is accepted.
        let mut client = ClientDeal::new(signed.clone()).unwrap();
        client.accept_interval(bundle.clone()).unwrap();
        World { signed, bundle }
    })
}

fn accepted(bundle: IntervalBundle) -> bool {
    ClientDeal::new(world().signed.clone())
        .unwrap()
        .accept_interval(bundle)
        .is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn ciphertext_bit_flip_is_detected(chunk in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>()) {
        let mut b = world().bundle.clone();
        let c = chunk.index(b.chunks.len());
        let ct = &mut b.chunks[c].ciphertext;
        let i = bit.index(ct.len() * 8);
        ct[i / 8] ^= 1 << (i % 8);
        prop_assert!(!accepted(b));
    }

    #[test]
    fn statement_bit_flip_is_detected(chunk in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>()) {
        let mut b = world().bundle.clone();
        let c = chunk.index(b.chunks.len());
        let mut bytes = to_cbor(&b.chunks[c].statement).unwrap();
        let i = bit.index(bytes.len() * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        // Either the statement no longer decodes, or the client refuses it.
        if let Ok(s) = from_cbor::<Statement>(&bytes) {
            b.chunks[c].statement = s;
            prop_assert!(!accepted(b));
        }
    }

    #[test]
    fn signature_bit_flip_is_detected(bit in any::<prop::sample::Index>()) {
        let mut b = world().bundle.clone();
        let mut sig = b.commitment.signature.bytes().to_vec();
        let i = bit.index(sig.len() * 8);
        sig[i / 8] ^= 1 << (i % 8);
        b.commitment.signature = fvm_shared::crypto::signature::Signature::new_secp256k1(sig);
        prop_assert!(!accepted(b));
    }

    #[test]
    fn commitment_bit_flip_is_detected(bit in any::<prop::sample::Index>()) {
        let mut b = world().bundle.clone();
        let mut bytes = to_cbor(&b.commitment.commitment).unwrap();
        let i = bit.index(bytes.len() * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        if let Ok(c) = from_cbor(&bytes) {
            b.commitment.commitment = c;
            prop_assert!(!accepted(b));
        }
    }
}
