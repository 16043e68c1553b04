//! Evidence of provider faults, judged by `verify_evidence` over a small real deal that a test
//! provider builds by hand (chunking, ChaCha20, statements, Merkle trees, signed commitments).

use ozkcp_core::block::{cid_of, BlockRef, RAW};
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::chunk::{chain_block, ChunkSize};
use ozkcp_core::cipher::encrypt_chunk;
use ozkcp_core::deal::{DealProposal, DealTerms, Manifest, ProofMode};
use ozkcp_core::encoding::to_cbor;
use ozkcp_core::evidence::*;
use ozkcp_core::keys::{IntervalKey, KeyChain};
use ozkcp_core::merkle::MerkleTree;
use ozkcp_core::sig::{Secp256k1, SecpSigner};
use ozkcp_core::statement::{
    ciphertext_digest, IntervalCommitment, SignedIntervalCommitment, Statement,
};
use ozkcp_core::{Address, TokenAmount};
use proptest::prelude::*;

const DEAL: u64 = 42;
/// Block lengths with chunk size 64: 3 + 1 + 1 + 4 chunks; intervals are blocks [0, 2) and [2, 4).
const LENS: [usize; 4] = [150, 64, 0, 200];
const ENDS: [u32; 2] = [2, 4];
const S: u32 = 64;

fn provider() -> SecpSigner {
    SecpSigner::from_bytes(&[0x11; 32]).unwrap()
}

fn stranger() -> SecpSigner {
    SecpSigner::from_bytes(&[0x22; 32]).unwrap()
}

fn block_data(b: usize) -> Vec<u8> {
    (0..LENS[b]).map(|i| (i * 7 + b * 13 + 1) as u8).collect()
}

fn terms(mode: ProofMode) -> DealTerms {
    let blocks: Vec<BlockRef> = (0..LENS.len())
        .map(|b| BlockRef {
            cid: cid_of(RAW, &block_data(b)),
            len: LENS[b] as u64,
        })
        .collect();
    DealTerms {
        proposal: DealProposal {
            deal_id: DEAL,
            client: Address::new_id(1001),
            provider: provider().address(),
            payload_root: blocks[0].cid,
            chunk_size: S,
            price_per_chunk: TokenAmount::from_atto(10),
            mode,
            circuit_id: (mode == ProofMode::Zk).then_some(Bytes32([9; 32])),
            judge: Address::new_id(1000),
            lane: 0,
            collateral: TokenAmount::from_atto(5000),
            key_reveal_deadline: 100,
            dispute_window: 50,
        },
        manifest: Manifest {
            blocks,
            interval_ends: ENDS.to_vec(),
        },
    }
}

fn honest_proof(index: u64) -> Vec<u8> {
    format!("proof of chunk {index}").into_bytes()
}

/// A chunk as the provider sends it.
#[derive(Clone)]
struct Chunk {
    statement: Statement,
    ciphertext: Vec<u8>,
    proof: Vec<u8>,
}

/// A deal as a provider builds it, possibly cheating through `hook` before it commits.
struct Deal {
    terms: DealTerms,
    keys: KeyChain,
    chunks: Vec<Chunk>,
    trees: Vec<MerkleTree>,
    commitments: Vec<SignedIntervalCommitment>,
}

impl Deal {
    fn honest(mode: ProofMode) -> Self {
        Self::build(mode, DEAL, &provider(), |_| {})
    }

    fn cheating(mode: ProofMode, hook: impl FnMut(&mut Chunk)) -> Self {
        Self::build(mode, DEAL, &provider(), hook)
    }

    /// Builds the deal; the judge's terms always name `provider()` and deal `DEAL`, while the
    /// statements name `deal_id` and the commitments are signed by `signer`.
    fn build(
        mode: ProofMode,
        deal_id: u64,
        signer: &SecpSigner,
        mut hook: impl FnMut(&mut Chunk),
    ) -> Self {
        let terms = terms(mode);
        let layout = terms.layout().unwrap();
        let size = ChunkSize::new(S).unwrap();
        let keys = KeyChain::from_last(IntervalKey::from_bytes([0x5a; 32]), ENDS.len());
        let mut chunks = Vec::new();
        for (b, place) in layout.blocks.iter().enumerate() {
            let data = block_data(b);
            let key = keys.key(place.interval as usize).unwrap();
            for (k, (span, ch)) in chain_block(&data, size).into_iter().enumerate() {
                let index = place.first_chunk + k as u64;
                let mut ciphertext = data[span.range()].to_vec();
                encrypt_chunk(key, index, &mut ciphertext);
                let proof = honest_proof(index);
                let statement = Statement {
                    deal_id,
                    index,
                    interval: place.interval,
                    block: b as u32,
                    offset: span.offset,
                    len: span.len,
                    ct_digest: ciphertext_digest(&ciphertext),
                    h_in: ch.h_in,
                    h_out: ch.h_out,
                    lock: key.lock(),
                    block_cid: span.is_final.then_some(terms.manifest.blocks[b].cid),
                    proof_digest: (mode == ProofMode::Zk).then(|| proof_digest(&proof)),
                };
                let mut chunk = Chunk {
                    statement,
                    ciphertext,
                    proof,
                };
                hook(&mut chunk);
                chunks.push(chunk);
            }
        }
        let mut trees = Vec::new();
        let mut commitments = Vec::new();
        for (j, iv) in layout.intervals.iter().enumerate() {
            let range = iv.first_chunk as usize..(iv.first_chunk + iv.chunks) as usize;
            let leaves = chunks[range]
                .iter()
                .map(|c| c.statement.leaf().unwrap())
                .collect();
            let tree = MerkleTree::new(leaves);
            let commitment = IntervalCommitment {
                deal_id,
                terms: terms.digest().unwrap(),
                interval: j as u32,
                first_chunk: iv.first_chunk,
                chunk_count: iv.chunks as u32,
                lock: keys.lock(j).unwrap(),
                root: tree.root(),
            };
            let signature = signer.sign(&commitment.signing_bytes().unwrap());
            commitments.push(SignedIntervalCommitment {
                commitment,
                signature,
            });
            trees.push(tree);
        }
        Deal {
            terms,
            keys,
            chunks,
            trees,
            commitments,
        }
    }

    fn signed(&self, index: u64) -> SignedStatement {
        let s = &self.chunks[index as usize].statement;
        let j = s.interval as usize;
        SignedStatement::from_tree(s.clone(), &self.trees[j], self.commitments[j].clone()).unwrap()
    }

    fn key(&self, j: u32) -> IntervalKey {
        self.keys.key(j as usize).unwrap().clone()
    }

    fn bad_chunk(&self, index: u64) -> Evidence {
        let c = &self.chunks[index as usize];
        Evidence::bad_chunk(
            self.signed(index),
            c.ciphertext.clone(),
            self.key(c.statement.interval),
        )
    }

    fn invalid_proof(&self, index: u64) -> Evidence {
        let c = &self.chunks[index as usize];
        Evidence::invalid_proof(self.signed(index), c.ciphertext.clone(), c.proof.clone())
    }

    fn judge(&self, e: &Evidence) -> Result<Fault, EvidenceError> {
        verify_evidence(&self.terms, e, &Secp256k1, &ToyProofs::Check)
    }

    fn reveal(&self, j: u32, key: IntervalKey, signer: &SecpSigner) -> SignedKeyReveal {
        KeyReveal {
            deal_id: DEAL,
            terms: self.terms.digest().unwrap(),
            interval: j,
            key,
        }
        .sign(signer)
        .unwrap()
    }

    /// (first index, chunk count) of every block.
    fn blocks(&self) -> Vec<(u64, u64)> {
        let l = self.terms.layout().unwrap();
        l.blocks.iter().map(|p| (p.first_chunk, p.chunks)).collect()
    }
}

/// Proof verifier double: `Check` accepts exactly the honest proof bytes of the statement's
/// chunk, `Unavailable` cannot judge.
enum ToyProofs {
    Check,
    Unavailable,
}

impl ProofVerifier for ToyProofs {
    fn verify_chunk_proof(
        &self,
        terms: &DealTerms,
        statement: &Statement,
        ciphertext: &[u8],
        proof: &[u8],
    ) -> Result<(), ProofRejected> {
        match self {
            ToyProofs::Unavailable => Err(ProofRejected::Unavailable("no key".into())),
            ToyProofs::Check => {
                assert_eq!(terms.proposal.mode, ProofMode::Zk);
                assert_eq!(ciphertext_digest(ciphertext), statement.ct_digest);
                if proof == honest_proof(statement.index).as_slice() {
                    Ok(())
                } else {
                    Err(ProofRejected::Invalid("toy proof mismatch".into()))
                }
            }
        }
    }
}

fn no_fault(r: Result<Fault, EvidenceError>) {
    assert!(matches!(r, Err(EvidenceError::NoFault)), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Honest data: no evidence kind finds a fault.

#[test]
fn honest_deal_proves_no_fault_of_any_kind() {
    for mode in [ProofMode::Fraud, ProofMode::Zk] {
        let d = Deal::honest(mode);
        for j in 0..ENDS.len() as u32 {
            let reveal = d.reveal(j, d.key(j), &provider());
            no_fault(d.judge(&Evidence::wrong_key(
                d.commitments[j as usize].clone(),
                reveal,
            )));
        }
        for i in 0..d.chunks.len() as u64 {
            no_fault(d.judge(&d.bad_chunk(i)));
            no_fault(d.judge(&Evidence::bad_layout(d.signed(i))));
            if mode == ProofMode::Zk {
                no_fault(d.judge(&d.invalid_proof(i)));
            }
        }
        for (first, n) in d.blocks() {
            no_fault(d.judge(&Evidence::bad_chain_start(d.signed(first))));
            no_fault(d.judge(&Evidence::wrong_final_digest(d.signed(first + n - 1))));
            for i in first..first + n - 1 {
                no_fault(d.judge(&Evidence::broken_chain(d.signed(i), d.signed(i + 1))));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wrong key.

#[test]
fn wrong_key_reveal_is_proven() {
    let d = Deal::honest(ProofMode::Fraud);
    let wrong = IntervalKey::from_bytes([0xee; 32]);
    let e = Evidence::wrong_key(
        d.commitments[1].clone(),
        d.reveal(1, wrong.clone(), &provider()),
    );
    let fault = d.judge(&e).unwrap();
    assert_eq!(fault, Fault::WrongKey { interval: 1 });
    assert_eq!(fault.kind(), EvidenceKind::WrongKey);
    assert_eq!(fault.chunk(), None);
    // An earlier interval's (real) key is wrong for a later interval too.
    let e = Evidence::wrong_key(d.commitments[1].clone(), d.reveal(1, d.key(0), &provider()));
    assert_eq!(d.judge(&e).unwrap(), Fault::WrongKey { interval: 1 });
}

#[test]
fn a_reused_deal_id_cannot_borrow_another_deals_reveal() {
    // Same provider, same deal id, other terms (the client reused the id): the reveal signed
    // for those terms cannot accuse the provider in this deal.
    let d = Deal::honest(ProofMode::Fraud);
    let mut other_terms = d.terms.clone();
    other_terms.proposal.price_per_chunk = TokenAmount::from_atto(999);
    let borrowed = KeyReveal {
        deal_id: DEAL,
        terms: other_terms.digest().unwrap(),
        interval: 0,
        key: IntervalKey::from_bytes([0xee; 32]),
    }
    .sign(&provider())
    .unwrap();
    let e = Evidence::wrong_key(d.commitments[0].clone(), borrowed);
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::WrongTerms { what: "key reveal" })
    ));
}

#[test]
fn wrong_key_rejections() {
    let d = Deal::honest(ProofMode::Fraud);
    let wrong = IntervalKey::from_bytes([0xee; 32]);
    // Reveal signed by someone else.
    let e = Evidence::wrong_key(
        d.commitments[0].clone(),
        d.reveal(0, wrong.clone(), &stranger()),
    );
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::Signature {
            what: "key reveal",
            ..
        })
    ));
    // Commitment signed by someone else.
    let forged = Deal::build(ProofMode::Fraud, DEAL, &stranger(), |_| {});
    let e = Evidence::wrong_key(
        forged.commitments[0].clone(),
        d.reveal(0, wrong.clone(), &provider()),
    );
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::Signature {
            what: "interval commitment",
            ..
        })
    ));
    // Reveal for another deal.
    let other = KeyReveal {
        deal_id: DEAL + 1,
        terms: Bytes32([0; 32]),
        interval: 0,
        key: wrong.clone(),
    }
    .sign(&provider())
    .unwrap();
    let e = Evidence::wrong_key(d.commitments[0].clone(), other);
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::WrongDeal {
            what: "key reveal",
            got: 43,
            expected: 42
        })
    ));
    // Commitment of another deal.
    let elsewhere = Deal::build(ProofMode::Fraud, DEAL + 1, &provider(), |_| {});
    let e = Evidence::wrong_key(
        elsewhere.commitments[0].clone(),
        d.reveal(0, wrong.clone(), &provider()),
    );
    assert!(matches!(d.judge(&e), Err(EvidenceError::WrongDeal { .. })));
    // Reveal for another interval than the commitment.
    let e = Evidence::wrong_key(d.commitments[0].clone(), d.reveal(1, wrong, &provider()));
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::Inapplicable {
            kind: EvidenceKind::WrongKey,
            ..
        })
    ));
    // A reveal whose signed content was altered afterwards.
    let mut altered = d.reveal(0, d.key(0), &provider());
    altered.reveal.key = IntervalKey::from_bytes([1; 32]);
    let e = Evidence::wrong_key(d.commitments[0].clone(), altered);
    assert!(matches!(d.judge(&e), Err(EvidenceError::Signature { .. })));
}

// ---------------------------------------------------------------------------------------------
// Bad chunk.

/// The provider sends garbage for chunk `index` but states the digest of what it sent.
fn garbage_chunk(index: u64) -> impl FnMut(&mut Chunk) {
    move |c: &mut Chunk| {
        if c.statement.index == index {
            c.ciphertext.iter_mut().for_each(|b| *b ^= 0x5a);
            c.statement.ct_digest = ciphertext_digest(&c.ciphertext);
        }
    }
}

#[test]
fn bad_chunk_is_proven() {
    for index in [0, 2, 3, 8] {
        let d = Deal::cheating(ProofMode::Fraud, garbage_chunk(index));
        let interval = d.chunks[index as usize].statement.interval;
        assert_eq!(
            d.judge(&d.bad_chunk(index)).unwrap(),
            Fault::BadChunk { interval, index }
        );
        // Every other chunk is fine.
        no_fault(d.judge(&d.bad_chunk((index + 1) % d.chunks.len() as u64)));
    }
}

#[test]
fn bad_chunk_of_an_empty_block_cannot_be_garbage() {
    // Block 2 is empty: its one chunk has no bytes, so there is nothing to corrupt.
    let d = Deal::cheating(ProofMode::Fraud, garbage_chunk(4));
    assert_eq!(d.chunks[4].statement.len, 0);
    no_fault(d.judge(&d.bad_chunk(4)));
}

#[test]
fn bad_chunk_rejections() {
    let d = Deal::cheating(ProofMode::Fraud, garbage_chunk(5));
    let good = d.bad_chunk(5);
    assert!(d.judge(&good).is_ok());
    let Evidence::BadChunk {
        chunk, ciphertext, ..
    } = good.clone()
    else {
        unreachable!()
    };
    // A key that does not open the lock (the previous interval's).
    let e = Evidence::bad_chunk(chunk.clone(), ciphertext.clone(), d.key(0));
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::KeyDoesNotOpenLock { index: 5 })
    ));
    // Ciphertext that does not match the stated digest (one bit flipped, or cut short).
    let mut flipped = ciphertext.clone();
    flipped[0] ^= 1;
    let e = Evidence::bad_chunk(chunk.clone(), flipped, d.key(1));
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::CiphertextMismatch { index: 5 })
    ));
    let e = Evidence::bad_chunk(chunk.clone(), ciphertext[..10].to_vec(), d.key(1));
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::CiphertextMismatch { index: 5 })
    ));
    // Tampered Merkle path: a sibling changed, a position moved, a tree resized.
    let mut t = chunk.clone();
    t.path.siblings[0].0[0] ^= 1;
    let e = Evidence::bad_chunk(t, ciphertext.clone(), d.key(1));
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::NotUnderRoot { index: 5, .. })
    ));
    let mut t = chunk.clone();
    t.path.position += 1;
    let e = Evidence::bad_chunk(t, ciphertext.clone(), d.key(1));
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::NotUnderRoot { .. })
    ));
    let mut t = chunk.clone();
    t.path.siblings.pop();
    let e = Evidence::bad_chunk(t, ciphertext.clone(), d.key(1));
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::NotUnderRoot { .. })
    ));
    // A statement changed after signing (the client "improving" it).
    let mut t = chunk.clone();
    t.statement.h_out.0[0] ^= 1;
    let e = Evidence::bad_chunk(t, ciphertext.clone(), d.key(1));
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::NotUnderRoot { .. })
    ));
    // A commitment whose first chunk would overflow the index.
    let mut t = chunk.clone();
    t.commitment.commitment.first_chunk = u64::MAX;
    let e = Evidence::bad_chunk(t, ciphertext.clone(), d.key(1));
    assert!(d.judge(&e).is_err());
    // Signed by a different key.
    let forged = Deal::build(ProofMode::Fraud, DEAL, &stranger(), garbage_chunk(5));
    assert!(matches!(
        d.judge(&forged.bad_chunk(5)),
        Err(EvidenceError::Signature {
            what: "interval commitment",
            ..
        })
    ));
    // A statement (and commitment) for another deal.
    let elsewhere = Deal::build(ProofMode::Fraud, DEAL + 1, &provider(), garbage_chunk(5));
    assert!(matches!(
        d.judge(&elsewhere.bad_chunk(5)),
        Err(EvidenceError::WrongDeal {
            what: "interval commitment",
            got: 43,
            expected: 42
        })
    ));
    // A statement for another deal under a commitment for this one.
    let mixed = Deal::cheating(ProofMode::Fraud, |c| {
        if c.statement.index == 5 {
            c.statement.deal_id = DEAL + 1;
        }
    });
    assert!(matches!(
        d.judge(&mixed.bad_chunk(5)),
        Err(EvidenceError::WrongDeal {
            what: "statement",
            ..
        })
    ));
    // Judged under another deal's terms.
    let mut other_terms = d.terms.clone();
    other_terms.proposal.deal_id = DEAL + 1;
    assert!(matches!(
        verify_evidence(&other_terms, &good, &Secp256k1, &NoProofVerifier),
        Err(EvidenceError::WrongDeal { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Broken chain, bad chain start, wrong final digest, bad layout.

#[test]
fn broken_chain_is_proven_and_needs_consecutive_chunks() {
    // Chunk 6 (block 3, second chunk) claims another starting state.
    let d = Deal::cheating(ProofMode::Fraud, |c| {
        if c.statement.index == 6 {
            c.statement.h_in.0[31] ^= 1;
        }
    });
    let e = Evidence::broken_chain(d.signed(5), d.signed(6));
    assert_eq!(
        d.judge(&e).unwrap(),
        Fault::BrokenChain {
            interval: 1,
            index: 6
        }
    );
    no_fault(d.judge(&Evidence::broken_chain(d.signed(6), d.signed(7))));
    let inapplicable = |r: Result<Fault, EvidenceError>| {
        assert!(
            matches!(
                r,
                Err(EvidenceError::Inapplicable {
                    kind: EvidenceKind::BrokenChain,
                    ..
                })
            ),
            "{r:?}"
        )
    };
    // Not consecutive, reversed, or across blocks.
    inapplicable(d.judge(&Evidence::broken_chain(d.signed(5), d.signed(7))));
    inapplicable(d.judge(&Evidence::broken_chain(d.signed(6), d.signed(5))));
    inapplicable(d.judge(&Evidence::broken_chain(d.signed(4), d.signed(5))));
    inapplicable(d.judge(&Evidence::broken_chain(d.signed(2), d.signed(3))));
    // Offsets that do not follow each other (the provider signed an odd offset).
    let gap = Deal::cheating(ProofMode::Fraud, |c| {
        if c.statement.index == 6 {
            c.statement.offset += 1;
            c.statement.h_in.0[0] ^= 1;
        }
    });
    inapplicable(gap.judge(&Evidence::broken_chain(gap.signed(5), gap.signed(6))));
    // One half signed by someone else.
    let forged = Deal::build(ProofMode::Fraud, DEAL, &stranger(), |_| {});
    assert!(matches!(
        d.judge(&Evidence::broken_chain(d.signed(5), forged.signed(6))),
        Err(EvidenceError::Signature { .. })
    ));
}

#[test]
fn bad_chain_start_is_proven() {
    let d = Deal::cheating(ProofMode::Fraud, |c| {
        if c.statement.index == 5 {
            c.statement.h_in = Bytes32([3; 32]);
        }
    });
    assert_eq!(
        d.judge(&Evidence::bad_chain_start(d.signed(5))).unwrap(),
        Fault::BadChainStart {
            interval: 1,
            index: 5
        }
    );
    no_fault(d.judge(&Evidence::bad_chain_start(d.signed(0))));
    assert!(matches!(
        d.judge(&Evidence::bad_chain_start(d.signed(6))),
        Err(EvidenceError::Inapplicable {
            kind: EvidenceKind::BadChainStart,
            ..
        })
    ));
}

#[test]
fn wrong_final_digest_is_proven() {
    // Block 0's final chunk names another CID; block 3's ends at another state.
    let d = Deal::cheating(ProofMode::Fraud, |c| match c.statement.index {
        2 => c.statement.block_cid = Some(cid_of(RAW, b"something else")),
        8 => c.statement.h_out = Bytes32([4; 32]),
        _ => {}
    });
    assert_eq!(
        d.judge(&Evidence::wrong_final_digest(d.signed(2))).unwrap(),
        Fault::WrongFinalDigest {
            interval: 0,
            index: 2
        }
    );
    assert_eq!(
        d.judge(&Evidence::wrong_final_digest(d.signed(8))).unwrap(),
        Fault::WrongFinalDigest {
            interval: 1,
            index: 8
        }
    );
    no_fault(d.judge(&Evidence::wrong_final_digest(d.signed(3))));
    // The same CID digest under another codec is another CID.
    let d = Deal::cheating(ProofMode::Fraud, |c| {
        if c.statement.index == 3 {
            let cid = c.statement.block_cid.unwrap();
            c.statement.block_cid = Some(ozkcp_core::Cid::new_v1(0x71, *cid.hash()));
        }
    });
    assert!(d.judge(&Evidence::wrong_final_digest(d.signed(3))).is_ok());
    // Not a final chunk.
    assert!(matches!(
        d.judge(&Evidence::wrong_final_digest(d.signed(0))),
        Err(EvidenceError::Inapplicable {
            kind: EvidenceKind::WrongFinalDigest,
            ..
        })
    ));
}

#[test]
fn bad_layout_is_proven_and_refused_elsewhere() {
    // Chunk 1 claims an offset it does not have; chunk 6 claims to end its block.
    let d = Deal::cheating(ProofMode::Fraud, |c| match c.statement.index {
        1 => c.statement.offset = 70,
        6 => c.statement.block_cid = Some(cid_of(RAW, b"x")),
        _ => {}
    });
    for (index, interval) in [(1, 0), (6, 1)] {
        assert_eq!(
            d.judge(&Evidence::bad_layout(d.signed(index))).unwrap(),
            Fault::BadLayout { interval, index }
        );
    }
    // Evidence kinds that read the statement against the layout send the client to BadLayout.
    assert!(matches!(
        d.judge(&d.bad_chunk(1)),
        Err(EvidenceError::LayoutContradiction {
            index: 1,
            field: "offset"
        })
    ));
    assert!(matches!(
        d.judge(&Evidence::wrong_final_digest(d.signed(6))),
        Err(EvidenceError::LayoutContradiction { index: 6, .. })
    ));
    // Wrong length and wrong block.
    let d = Deal::cheating(ProofMode::Fraud, |c| match c.statement.index {
        2 => c.statement.len = 20,
        3 => c.statement.block = 9,
        _ => {}
    });
    assert!(matches!(
        d.judge(&Evidence::bad_layout(d.signed(2))),
        Ok(Fault::BadLayout { index: 2, .. })
    ));
    assert!(matches!(
        d.judge(&Evidence::bad_layout(d.signed(3))),
        Ok(Fault::BadLayout { index: 3, .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Invalid proof.

#[test]
fn invalid_proof_is_proven_through_the_injected_verifier() {
    let d = Deal::cheating(ProofMode::Zk, |c| {
        if c.statement.index == 3 {
            c.proof = b"not a proof".to_vec();
            c.statement.proof_digest = Some(proof_digest(&c.proof));
        }
    });
    let e = d.invalid_proof(3);
    assert_eq!(
        d.judge(&e).unwrap(),
        Fault::InvalidProof {
            interval: 0,
            index: 3
        }
    );
    no_fault(d.judge(&d.invalid_proof(2)));
    // A verifier that cannot judge does not convict.
    assert!(matches!(
        verify_evidence(&d.terms, &e, &Secp256k1, &ToyProofs::Unavailable),
        Err(EvidenceError::VerifierUnavailable(_))
    ));
    assert!(matches!(
        verify_evidence(&d.terms, &e, &Secp256k1, &NoProofVerifier),
        Err(EvidenceError::VerifierUnavailable(_))
    ));
}

#[test]
fn invalid_proof_rejections() {
    let d = Deal::honest(ProofMode::Zk);
    let Evidence::InvalidProof {
        chunk,
        ciphertext,
        proof,
    } = d.invalid_proof(6)
    else {
        unreachable!()
    };
    // Proof bytes other than the stated ones.
    let e = Evidence::invalid_proof(chunk.clone(), ciphertext.clone(), b"forged".to_vec());
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::ProofDigestMismatch { index: 6 })
    ));
    // Ciphertext other than the stated one.
    let mut ct = ciphertext.clone();
    ct[3] ^= 0x80;
    let e = Evidence::invalid_proof(chunk.clone(), ct, proof.clone());
    assert!(matches!(
        d.judge(&e),
        Err(EvidenceError::CiphertextMismatch { index: 6 })
    ));
    // A fraud-mode deal has no proofs to dispute.
    let f = Deal::honest(ProofMode::Fraud);
    let e = Evidence::invalid_proof(f.signed(6), f.chunks[6].ciphertext.clone(), proof.clone());
    assert!(matches!(
        f.judge(&e),
        Err(EvidenceError::WrongMode {
            kind: EvidenceKind::InvalidProof,
            mode: ProofMode::Fraud
        })
    ));
    // A zk statement without a proof digest cannot be disputed as an invalid proof.
    let bare = Deal::cheating(ProofMode::Zk, |c| c.statement.proof_digest = None);
    assert!(matches!(
        bare.judge(&bare.invalid_proof(6)),
        Err(EvidenceError::ProofDigestMismatch { index: 6 })
    ));
    // Signed by someone else.
    let forged = Deal::build(ProofMode::Zk, DEAL, &stranger(), |_| {});
    assert!(matches!(
        d.judge(&forged.invalid_proof(6)),
        Err(EvidenceError::Signature { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Encoding.

fn one_of_each() -> Vec<Evidence> {
    let d = Deal::honest(ProofMode::Zk);
    vec![
        Evidence::wrong_key(
            d.commitments[0].clone(),
            d.reveal(0, IntervalKey::from_bytes([1; 32]), &provider()),
        ),
        d.invalid_proof(1),
        d.bad_chunk(2),
        Evidence::broken_chain(d.signed(5), d.signed(6)),
        Evidence::bad_chain_start(d.signed(0)),
        Evidence::wrong_final_digest(d.signed(8)),
        Evidence::bad_layout(d.signed(7)),
    ]
}

#[test]
fn every_kind_round_trips_as_canonical_cbor() {
    for (k, e) in one_of_each().into_iter().enumerate() {
        assert_eq!(e.kind() as usize, k);
        let bytes = encode_evidence(&e).unwrap();
        assert_eq!(bytes, to_cbor(&e).unwrap());
        // A flat array: [kind, fields…].
        let fields = match e.kind() {
            EvidenceKind::WrongKey | EvidenceKind::BrokenChain => 3,
            EvidenceKind::InvalidProof | EvidenceKind::BadChunk => 4,
            _ => 2,
        };
        assert_eq!(bytes[0], 0x80 | fields);
        assert_eq!(bytes[1], k as u8);
        let back = decode_evidence(&bytes).unwrap();
        assert_eq!(back, e);
        // Judging the decoded evidence gives the same answer as the original.
        let d = Deal::honest(ProofMode::Zk);
        assert_eq!(
            format!("{:?}", d.judge(&back)),
            format!("{:?}", d.judge(&e))
        );
    }
}

#[test]
fn malformed_bytes_are_refused() {
    for e in one_of_each() {
        let bytes = encode_evidence(&e).unwrap();
        for cut in [0, 1, 2, bytes.len() / 2, bytes.len() - 1] {
            assert!(matches!(
                decode_evidence(&bytes[..cut]),
                Err(EvidenceError::Malformed(_))
            ));
        }
        // Trailing bytes.
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_evidence(&long).is_err());
        // Unknown kind.
        let mut unknown = bytes.clone();
        unknown[1] = 7;
        assert!(decode_evidence(&unknown).is_err());
        // The number of a kind of another shape on this kind's fields (kinds 4, 5 and 6 share
        // one shape, `[kind, statement]`; what tells them apart is the number itself).
        let mut swapped = bytes.clone();
        swapped[1] = if bytes[0] == 0x82 { 0 } else { 4 };
        assert!(decode_evidence(&swapped).is_err());
        // An extra field.
        let mut extra = bytes.clone();
        extra[0] += 1;
        extra.push(0);
        assert!(decode_evidence(&extra).is_err());
    }
    // A deeply nested extra field hits the decoder's depth limit instead of the stack's.
    let d = Deal::honest(ProofMode::Fraud);
    let mut deep = encode_evidence(&Evidence::bad_chain_start(d.signed(0))).unwrap();
    deep[0] = 0x83;
    deep.extend(std::iter::repeat_n(0x81u8, 60_000));
    deep.push(0);
    assert!(decode_evidence(&deep).is_err());
    for garbage in [
        &b""[..],
        b"\xff",
        b"\x80",
        b"\x82\x00",
        b"\x9f\x00\xff",
        b"hello",
    ] {
        assert!(decode_evidence(garbage).is_err());
    }
}

#[test]
fn over_64_kib_is_refused() {
    let big = vec![0x82u8; MAX_EVIDENCE_BYTES + 1];
    assert!(matches!(
        decode_evidence(&big),
        Err(EvidenceError::TooLarge {
            len,
            max: MAX_EVIDENCE_BYTES
        }) if len == MAX_EVIDENCE_BYTES + 1
    ));
    // Evidence whose ciphertext alone is 64 KiB encodes too large, and decoding refuses it.
    let d = Deal::honest(ProofMode::Fraud);
    let e = Evidence::bad_chunk(d.signed(0), vec![0; MAX_EVIDENCE_BYTES], d.key(0));
    assert!(matches!(
        encode_evidence(&e),
        Err(EvidenceError::TooLarge { .. })
    ));
    let bytes = to_cbor(&e).unwrap();
    assert!(matches!(
        decode_evidence(&bytes),
        Err(EvidenceError::TooLarge { .. })
    ));
}

#[test]
fn key_reveals_sign_with_their_own_domain_tag() {
    let r = KeyReveal {
        deal_id: DEAL,
        terms: Bytes32([0; 32]),
        interval: 3,
        key: IntervalKey::from_bytes([7; 32]),
    };
    let bytes = r.signing_bytes().unwrap();
    assert!(bytes.starts_with(b"ozkcp/key-reveal/v1\0"));
    assert_eq!(
        &bytes[KEY_REVEAL_SIGNING_TAG.len()..],
        &to_cbor(&r).unwrap()[..]
    );
    let signed = r.sign(&provider()).unwrap();
    signed
        .verify_signature(&provider().address(), &Secp256k1)
        .unwrap();
    assert!(signed
        .verify_signature(&stranger().address(), &Secp256k1)
        .is_err());
    assert_eq!(proof_digest(b"abc"), ozkcp_core::chunk::sha256(b"abc"));
}

// ---------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any single bit flipped in an honest chunk's ciphertext, with the provider re-signing
    /// consistently, is a provable bad chunk.
    #[test]
    fn any_flipped_ciphertext_bit_is_a_bad_chunk(index in 0u64..9, bit in 0usize..200 * 8) {
        prop_assume!(index != 4); // the empty block's chunk has no bits
        let len = Deal::honest(ProofMode::Fraud).chunks[index as usize].ciphertext.len();
        let bit = bit % (len * 8);
        let d = Deal::cheating(ProofMode::Fraud, |c| {
            if c.statement.index == index {
                c.ciphertext[bit / 8] ^= 1 << (bit % 8);
                c.statement.ct_digest = ciphertext_digest(&c.ciphertext);
            }
        });
        let interval = d.chunks[index as usize].statement.interval;
        prop_assert_eq!(d.judge(&d.bad_chunk(index)).unwrap(), Fault::BadChunk { interval, index });
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_evidence(&bytes);
    }

    /// Any single byte changed in encoded evidence is refused or judged without panicking.
    #[test]
    fn mutated_evidence_never_panics(which in 0usize..7, pos in any::<usize>(), val in any::<u8>()) {
        let e = one_of_each().swap_remove(which);
        let mut bytes = encode_evidence(&e).unwrap();
        let p = pos % bytes.len();
        bytes[p] = val;
        if let Ok(m) = decode_evidence(&bytes) {
            let _ = Deal::honest(ProofMode::Zk).judge(&m);
        }
    }
}
