//! The data path end to end, and every check failing where it should.

use ozkcp::client::{ClientDeal, ClientError};
use ozkcp::core::deal::{DealProposal, DealTerms, Manifest, ProofMode, SignedDealTerms};
use ozkcp::core::merkle::MerkleTree;
use ozkcp::core::sig::SecpSigner;
use ozkcp::core::statement::{ciphertext_digest, StatementError};
use ozkcp::core::voucher::VoucherError;
use ozkcp::core::{Address, TokenAmount};
use ozkcp::local::{retrieve_local, LocalOptions};
use ozkcp::payload::Payload;
use ozkcp::provider::{ProviderDeal, ProviderError};
use ozkcp::IntervalBundle;

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

struct Fixture {
    payload: Payload,
    client_key: SecpSigner,
    provider_key: SecpSigner,
    provider: ProviderDeal,
    client: ClientDeal,
}

/// A deal over `data` cut into `leaf`-byte leaves, `S` = 64, root alone in interval 0, then
/// `per` leaves per interval.
fn fixture(data: &[u8], leaf: usize, per: u32) -> Fixture {
    let payload = Payload::from_bytes(data, leaf).unwrap();
    let client_key = SecpSigner::random();
    let provider_key = SecpSigner::random();
    let n = payload.blocks.len() as u32;
    let mut ends = vec![1];
    while *ends.last().unwrap() < n {
        ends.push((ends.last().unwrap() + per).min(n));
    }
    let terms = DealTerms {
        proposal: DealProposal {
            deal_id: 9,
            client: client_key.address(),
            provider: provider_key.address(),
            payload_root: payload.root,
            chunk_size: 64,
            price_per_chunk: TokenAmount::from_atto(100),
            mode: ProofMode::Fraud,
            circuit_id: None,
            judge: Address::new_id(1000),
            lane: 3,
            collateral: TokenAmount::from_atto(0),
            key_reveal_deadline: 0,
            dispute_window: 0,
        },
        manifest: Manifest {
            blocks: payload.refs(),
            interval_ends: ends,
        },
    };
    let signed = SignedDealTerms {
        signature: provider_key.sign(&terms.signing_bytes().unwrap()),
        terms: terms.clone(),
    };
    Fixture {
        provider: ProviderDeal::new(terms, provider_key.clone()).unwrap(),
        client: ClientDeal::new(signed).unwrap(),
        payload,
        client_key,
        provider_key,
    }
}

impl Fixture {
    fn bundle(&self, j: u32) -> IntervalBundle {
        let place = &self.provider.layout().intervals[j as usize];
        let blocks: Vec<&[u8]> = self.payload.blocks
            [place.first_block as usize..place.end_block as usize]
            .iter()
            .map(|(_, b)| b.as_slice())
            .collect();
        self.provider.encrypt_interval(j, &blocks).unwrap()
    }

    /// Re-roots and re-signs a tampered bundle as a cheating provider would.
    fn resign(&self, bundle: &mut IntervalBundle) {
        let leaves = bundle
            .chunks
            .iter()
            .map(|c| c.statement.leaf().unwrap())
            .collect();
        let tree = MerkleTree::new(leaves);
        let c = &mut bundle.commitment;
        c.commitment.root = tree.root();
        c.signature = self
            .provider_key
            .sign(&c.commitment.signing_bytes().unwrap());
    }

    fn run_interval(&mut self, j: u32) {
        let b = self.bundle(j);
        self.client.accept_interval(b).unwrap();
        let v = self.client.voucher_for(j, &self.client_key).unwrap();
        let k = self.provider.reveal_key(j, &v, None).unwrap();
        self.client.open_interval(j, &k).unwrap();
    }
}

#[test]
fn files_of_awkward_sizes_come_back_intact() {
    for n in [0usize, 1, 63, 64, 65, 1000, 4096 + 17] {
        let data = bytes(n, 1);
        let opts = LocalOptions {
            chunk_size: 64,
            block_size: 256,
            blocks_per_interval: 3,
            price_per_chunk: 5,
        };
        let r = retrieve_local(&data, &opts).unwrap();
        assert_eq!(r.data, data, "n={n}");
        assert_eq!(r.paid, TokenAmount::from_atto(5 * r.chunks), "n={n}");
    }
}

#[test]
fn interval_by_interval_with_cumulative_vouchers() {
    let mut f = fixture(&bytes(2000, 2), 300, 2);
    let intervals = f.provider.layout().intervals.len() as u32;
    assert_eq!(intervals, 1 + 7usize.div_ceil(2) as u32);
    for j in 0..intervals {
        f.run_interval(j);
    }
    assert!(f.client.is_complete());
    assert_eq!(Payload::leaf_bytes(&f.client.blocks()), bytes(2000, 2));
}

#[test]
fn tampered_ciphertext_is_caught_before_paying() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    let mut b = f.bundle(0);
    b.chunks[0].ciphertext[0] ^= 1;
    let err = f.client.accept_interval(b).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Statement {
                source: StatementError::CiphertextDigest { .. },
                ..
            }
        ),
        "{err}"
    );
    // Nothing was kept: the honest bundle is still accepted and paid.
    f.run_interval(0);
}

#[test]
fn truncated_ciphertext_is_caught() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    let mut b = f.bundle(0);
    b.chunks[0].ciphertext.pop();
    assert!(matches!(
        f.client.accept_interval(b),
        Err(ClientError::Statement {
            source: StatementError::CiphertextLength { .. },
            ..
        })
    ));
}

#[test]
fn tampered_statement_breaks_its_merkle_path() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    let mut b = f.bundle(0);
    b.chunks[0].statement.h_out.0[5] ^= 0x80;
    assert!(matches!(
        f.client.accept_interval(b),
        Err(ClientError::Statement {
            source: StatementError::Merkle(_),
            ..
        })
    ));
}

#[test]
fn reordered_or_missing_chunks_are_caught() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    f.run_interval(0);
    let mut b = f.bundle(1);
    assert!(b.chunks.len() > 2);
    b.chunks.swap(1, 2);
    assert!(matches!(
        f.client.accept_interval(b),
        Err(ClientError::Statement { .. })
    ));
    let mut b = f.bundle(1);
    b.chunks.pop();
    assert!(matches!(
        f.client.accept_interval(b),
        Err(ClientError::Commitment {
            field: "chunk_count",
            ..
        })
    ));
}

#[test]
fn evidence_paths_lead_to_the_signed_root() {
    let mut f = fixture(&bytes(700, 4), 200, 2);
    f.run_interval(0);
    let b = f.bundle(1);
    let signed = b.commitment.clone();
    let chunks = b.chunks.clone();
    f.client.accept_interval(b).unwrap();
    for c in &chunks {
        let path = f.client.chunk_path(c.statement.index).unwrap();
        signed.check_statement(&c.statement, &path).unwrap();
    }
    let mut wrong = chunks[0].statement.clone();
    wrong.len += 1;
    let path = f.client.chunk_path(chunks[0].statement.index).unwrap();
    assert!(signed.check_statement(&wrong, &path).is_err());
}

#[test]
fn commitment_signed_by_another_key_is_refused() {
    let mut f = fixture(&bytes(100, 3), 200, 2);
    let mut b = f.bundle(0);
    let other = SecpSigner::random();
    b.commitment.signature = other.sign(&b.commitment.commitment.signing_bytes().unwrap());
    let err = f.client.accept_interval(b).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Statement {
                source: StatementError::Signature(_),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn broken_chain_signed_by_the_provider_is_caught() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    f.run_interval(0);
    let mut b = f.bundle(1);
    b.chunks[1].statement.h_in.0[0] ^= 1;
    f.resign(&mut b);
    assert!(matches!(
        f.client.accept_interval(b),
        Err(ClientError::ChainBreak { .. })
    ));
}

#[test]
fn final_digest_must_reach_the_cid() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    f.run_interval(0);
    let mut b = f.bundle(1);
    let last = b
        .chunks
        .iter()
        .position(|c| c.statement.block_cid.is_some())
        .unwrap();
    b.chunks[last].statement.h_out.0[0] ^= 1;
    f.resign(&mut b);
    assert!(matches!(
        f.client.accept_interval(b),
        Err(ClientError::FinalDigest { .. })
    ));
}

#[test]
fn consistent_lie_is_caught_when_the_key_opens_it() {
    // The provider encrypts other bytes but states the true chain: only decryption shows it.
    let mut f = fixture(&bytes(500, 3), 200, 2);
    f.run_interval(0);
    let mut b = f.bundle(1);
    b.chunks[2].ciphertext[7] ^= 0x40;
    b.chunks[2].statement.ct_digest = ciphertext_digest(&b.chunks[2].ciphertext);
    f.resign(&mut b);
    f.client.accept_interval(b).unwrap();
    let v = f.client.voucher_for(1, &f.client_key).unwrap();
    let k = f.provider.reveal_key(1, &v, None).unwrap();
    let bad_index = f.provider.layout().intervals[1].first_chunk + 2;
    match f.client.open_interval(1, &k) {
        Err(ClientError::BadChunk { index }) => assert_eq!(index, bad_index),
        other => panic!("expected BadChunk, got {other:?}"),
    }
}

#[test]
fn wrong_key_is_refused() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    f.run_interval(0);
    let b = f.bundle(1);
    f.client.accept_interval(b).unwrap();
    let v = f.client.voucher_for(1, &f.client_key).unwrap();
    let _ = f.provider.reveal_key(1, &v, None).unwrap();
    let wrong = ozkcp::core::keys::IntervalKey::from_bytes([7; 32]);
    assert!(matches!(
        f.client.open_interval(1, &wrong),
        Err(ClientError::WrongKey(_))
    ));
}

#[test]
fn blocks_not_linked_from_an_opened_block_are_not_paid() {
    // Root and leaves in one interval: the leaves are not yet linked from anything opened.
    let data = bytes(500, 3);
    let mut f = fixture(&data, 200, 2);
    let payload = f.payload.clone();
    let terms = DealTerms {
        manifest: Manifest {
            blocks: payload.refs(),
            interval_ends: vec![payload.blocks.len() as u32],
        },
        ..f.client_terms()
    };
    let signed = SignedDealTerms {
        signature: f.provider_key.sign(&terms.signing_bytes().unwrap()),
        terms: terms.clone(),
    };
    f.provider = ProviderDeal::new(terms, f.provider_key.clone()).unwrap();
    f.client = ClientDeal::new(signed).unwrap();
    f.client.accept_interval(f.bundle(0)).unwrap();
    assert!(matches!(
        f.client.voucher_for(0, &f.client_key),
        Err(ClientError::Untrusted { block: 1, .. })
    ));
}

impl Fixture {
    fn client_terms(&self) -> DealTerms {
        // Rebuild the terms the fixture made (the client holds them signed).
        DealTerms {
            proposal: DealProposal {
                deal_id: 9,
                client: self.client_key.address(),
                provider: self.provider_key.address(),
                payload_root: self.payload.root,
                chunk_size: 64,
                price_per_chunk: TokenAmount::from_atto(100),
                mode: ProofMode::Fraud,
                circuit_id: None,
                judge: Address::new_id(1000),
                lane: 3,
                collateral: TokenAmount::from_atto(0),
                key_reveal_deadline: 0,
                dispute_window: 0,
            },
            manifest: Manifest {
                blocks: vec![],
                interval_ends: vec![],
            },
        }
    }
}

#[test]
fn paying_out_of_order_or_twice_is_refused() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    let b0 = f.bundle(0);
    let b1 = f.bundle(1);
    f.client.accept_interval(b1).unwrap();
    assert!(matches!(
        f.client.voucher_for(1, &f.client_key),
        Err(ClientError::NotReady { .. })
    ));
    f.client.accept_interval(b0).unwrap();
    f.client.voucher_for(0, &f.client_key).unwrap();
    assert!(matches!(
        f.client.voucher_for(0, &f.client_key),
        Err(ClientError::NotReady { .. })
    ));
}

#[test]
fn forged_short_replayed_or_misdirected_vouchers_reveal_nothing() {
    let mut f = fixture(&bytes(500, 3), 200, 2);
    f.client.accept_interval(f.bundle(0)).unwrap();
    let good = f.client.voucher_for(0, &f.client_key).unwrap();

    let mut forged = good.clone();
    forged.sign(&SecpSigner::random()).unwrap();
    assert!(matches!(
        f.provider.reveal_key(0, &forged, None),
        Err(ProviderError::Voucher(VoucherError::Signature(_)))
    ));

    let mut short = good.clone();
    short.amount -= TokenAmount::from_atto(1);
    short.sign(&f.client_key).unwrap();
    assert!(matches!(
        f.provider.reveal_key(0, &short, None),
        Err(ProviderError::Voucher(VoucherError::AmountTooLow { .. }))
    ));

    let mut other_lock = good.clone();
    other_lock.secret_pre_image = vec![0; 32];
    other_lock.sign(&f.client_key).unwrap();
    assert!(matches!(
        f.provider.reveal_key(0, &other_lock, None),
        Err(ProviderError::Voucher(VoucherError::WrongLock))
    ));

    let mut channel = good.clone();
    channel.channel_addr = Address::new_id(77);
    channel.sign(&f.client_key).unwrap();
    assert!(matches!(
        f.provider.reveal_key(0, &channel, None),
        Err(ProviderError::Voucher(VoucherError::WrongChannel { .. }))
    ));

    assert!(matches!(
        f.provider
            .reveal_key(0, &good, Some(TokenAmount::from_atto(1))),
        Err(ProviderError::Voucher(
            VoucherError::InsufficientFunds { .. }
        ))
    ));

    // The good one works once; replaying it (same nonce) is refused.
    f.provider.reveal_key(0, &good, None).unwrap();
    assert!(matches!(
        f.provider.reveal_key(0, &good, None),
        Err(ProviderError::Voucher(VoucherError::StaleNonce { .. }))
    ));
    let mut lower = good.clone();
    lower.nonce = 0;
    lower.sign(&f.client_key).unwrap();
    assert!(matches!(
        f.provider.reveal_key(0, &lower, None),
        Err(ProviderError::Voucher(VoucherError::StaleNonce { .. }))
    ));
}

#[test]
fn provider_refuses_bytes_that_are_not_the_declared_block() {
    let f = fixture(&bytes(500, 3), 200, 2);
    let place = &f.provider.layout().intervals[1];
    let mut blocks: Vec<Vec<u8>> = f.payload.blocks
        [place.first_block as usize..place.end_block as usize]
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    blocks[0][0] ^= 1;
    let refs: Vec<&[u8]> = blocks.iter().map(|b| b.as_slice()).collect();
    assert!(matches!(
        f.provider.encrypt_interval(1, &refs),
        Err(ProviderError::BlockMismatch { .. })
    ));
    assert!(matches!(
        f.provider.encrypt_interval(1, &refs[..1]),
        Err(ProviderError::BlockCount { .. })
    ));
}

#[test]
fn commitment_for_other_terms_is_refused() {
    let mut f = fixture(&bytes(100, 3), 200, 2);
    let mut b = f.bundle(0);
    b.commitment.commitment.terms.0[0] ^= 1;
    f.resign(&mut b);
    assert!(matches!(
        f.client.accept_interval(b),
        Err(ClientError::Commitment { field: "terms", .. })
    ));
}
