//! The provider's side of the data path: chunk → encrypt → state → commit, and the key reveal.

use ozkcp_core::block::BlockRef;
use ozkcp_core::chunk::{chain_chunk, iv, ChunkError};
use ozkcp_core::cipher::encrypt_chunk;
use ozkcp_core::deal::{DealError, DealLayout, DealTerms};
use ozkcp_core::encoding::EncodingError;
use ozkcp_core::evidence::{KeyReveal, SignedKeyReveal};
use ozkcp_core::keys::{IntervalKey, KeyChain, KeyError};
use ozkcp_core::merkle::{MerkleError, MerkleTree};
use ozkcp_core::sig::{Secp256k1, SecpSigner};
use ozkcp_core::statement::{
    ciphertext_digest, IntervalCommitment, SignedIntervalCommitment, Statement,
};
use ozkcp_core::voucher::{check_voucher, SignedVoucher, VoucherError, VoucherExpectation};
use ozkcp_core::TokenAmount;
use rayon::prelude::*;

use crate::{EncryptedChunk, IntervalBundle};

/// Why the provider cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The deal terms are invalid.
    #[error(transparent)]
    Deal(#[from] DealError),
    /// The signer is not the deal's provider.
    #[error("signing key {key} is not the deal's provider {provider}")]
    NotProvider {
        /// Address of the key.
        key: String,
        /// The deal's provider.
        provider: String,
    },
    /// No such interval.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Wrong number of blocks for the interval.
    #[error("interval {interval} has {expected} blocks, {got} were given")]
    BlockCount {
        /// Interval.
        interval: u32,
        /// Blocks expected.
        expected: usize,
        /// Blocks given.
        got: usize,
    },
    /// A block's bytes are not what the manifest declares.
    #[error("block {block} is {got} bytes or has another digest; the manifest declares {declared} bytes")]
    BlockMismatch {
        /// Block position.
        block: u32,
        /// Declared length.
        declared: u64,
        /// Actual length.
        got: u64,
    },
    /// Chunking failed.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// Encoding failed.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// Merkle failure.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// A `zk` deal needs a prover for its circuit ([`ProviderDeal::with_prover`]).
    #[error("zk mode needs a prover for circuit {0}")]
    NoProver(String),
    /// Proving failed.
    #[error("proving failed: {0}")]
    Zk(#[from] ozkcp_zk::ZkError),
    /// The voucher was refused; the provider aborts and reveals nothing.
    #[error("voucher refused: {0}")]
    Voucher(#[from] VoucherError),
}

/// A provider's view of one deal: the agreed terms, its keys and its signing key.
pub struct ProviderDeal {
    terms: DealTerms,
    layout: DealLayout,
    keys: KeyChain,
    signer: SecpSigner,
    last_nonce: Option<u64>,
    terms_digest: ozkcp_core::bytes::Bytes32,
    prover: Option<std::sync::Arc<crate::zk::ZkProver>>,
}

impl ProviderDeal {
    /// Starts serving `terms` with a fresh random key chain.
    pub fn new(terms: DealTerms, signer: SecpSigner) -> Result<Self, ProviderError> {
        let intervals = terms.manifest.interval_ends.len();
        Self::with_keys(terms, signer, KeyChain::random(intervals))
    }

    /// Starts serving `terms` with a given key chain (restored from storage).
    pub fn with_keys(
        terms: DealTerms,
        signer: SecpSigner,
        keys: KeyChain,
    ) -> Result<Self, ProviderError> {
        let layout = terms.layout()?;
        if signer.address() != terms.proposal.provider {
            return Err(ProviderError::NotProvider {
                key: signer.address().to_string(),
                provider: terms.proposal.provider.to_string(),
            });
        }
        if keys.len() != layout.intervals.len() {
            return Err(KeyError::OutOfRange {
                index: layout.intervals.len(),
                len: keys.len(),
            }
            .into());
        }
        Ok(ProviderDeal {
            prover: None,
            terms_digest: terms.digest()?,
            terms,
            layout,
            keys,
            signer,
            last_nonce: None,
        })
    }

    /// Adds the prover a `zk` deal needs (its circuit must be the deal's).
    pub fn with_prover(mut self, prover: std::sync::Arc<crate::zk::ZkProver>) -> Self {
        self.prover = Some(prover);
        self
    }

    /// The agreed terms.
    pub fn terms(&self) -> &DealTerms {
        &self.terms
    }

    /// The deal's layout.
    pub fn layout(&self) -> &DealLayout {
        &self.layout
    }

    /// Lock of interval `j`.
    pub fn lock(&self, j: u32) -> Result<ozkcp_core::keys::Lock, ProviderError> {
        Ok(self.keys.lock(j as usize)?)
    }

    /// Encrypts interval `j` (its blocks' bytes in manifest order), states every chunk and signs
    /// the interval's root. Blocks are processed in parallel.
    pub fn encrypt_interval(
        &self,
        j: u32,
        blocks: &[&[u8]],
    ) -> Result<IntervalBundle, ProviderError> {
        let place = self.interval(j)?;
        let expected = (place.end_block - place.first_block) as usize;
        if blocks.len() != expected {
            return Err(ProviderError::BlockCount {
                interval: j,
                expected,
                got: blocks.len(),
            });
        }
        let key = self.keys.key(j as usize)?;
        let lock = key.lock();
        let per_block: Vec<Vec<EncryptedChunk>> = blocks
            .par_iter()
            .enumerate()
            .map(|(k, data)| {
                let b = place.first_block + k as u32;
                let r = &self.terms.manifest.blocks[b as usize];
                self.encrypt_block(b, r, data, key, &lock)
            })
            .collect::<Result<_, _>>()?;
        let chunks: Vec<EncryptedChunk> = per_block.into_iter().flatten().collect();
        let mut bundle = IntervalBundle {
            commitment: self.commit(j, &chunks)?,
            chunks,
        };
        if self.terms.proposal.mode == ozkcp_core::deal::ProofMode::Zk {
            // Statements name their proofs, so the root is signed once the proofs exist.
            let prover = self.prover.as_ref().ok_or_else(|| {
                ProviderError::NoProver(format!("{:?}", self.terms.proposal.circuit_id))
            })?;
            prover.prove_interval(&mut bundle, key)?;
            bundle.commitment = self.commit(j, &bundle.chunks)?;
        }
        Ok(bundle)
    }

    /// Builds and signs interval `j`'s commitment: the Merkle root over `chunks`' statements.
    pub fn commit(
        &self,
        j: u32,
        chunks: &[EncryptedChunk],
    ) -> Result<SignedIntervalCommitment, ProviderError> {
        let place = self.interval(j)?;
        if chunks.is_empty() {
            return Err(ProviderError::BlockCount {
                interval: j,
                expected: 1,
                got: 0,
            });
        }
        let leaves = chunks
            .par_iter()
            .map(|c| c.statement.leaf())
            .collect::<Result<Vec<_>, _>>()?;
        let tree = MerkleTree::new(leaves);
        let commitment = IntervalCommitment {
            deal_id: self.terms.proposal.deal_id,
            terms: self.terms_digest,
            interval: j,
            first_chunk: place.first_chunk,
            chunk_count: tree.len(),
            lock: self.keys.lock(j as usize)?,
            root: tree.root(),
        };
        let signature = self.signer.sign(&commitment.signing_bytes()?);
        Ok(SignedIntervalCommitment {
            commitment,
            signature,
        })
    }

    /// Signs the reveal of `key` as interval `j`'s key (the off-chain key message).
    pub fn sign_reveal(&self, j: u32, key: IntervalKey) -> Result<SignedKeyReveal, ProviderError> {
        let reveal = KeyReveal {
            deal_id: self.terms.proposal.deal_id,
            terms: self.terms_digest,
            interval: j,
            key,
        };
        Ok(reveal.sign(&self.signer)?)
    }

    fn interval(&self, j: u32) -> Result<&ozkcp_core::deal::IntervalPlace, ProviderError> {
        self.layout.intervals.get(j as usize).ok_or(
            KeyError::OutOfRange {
                index: j as usize,
                len: self.layout.intervals.len(),
            }
            .into(),
        )
    }

    fn encrypt_block(
        &self,
        b: u32,
        r: &BlockRef,
        data: &[u8],
        key: &IntervalKey,
        lock: &ozkcp_core::keys::Lock,
    ) -> Result<Vec<EncryptedChunk>, ProviderError> {
        let place = &self.layout.blocks[b as usize];
        let mismatch = || ProviderError::BlockMismatch {
            block: b,
            declared: r.len,
            got: data.len() as u64,
        };
        if data.len() as u64 != r.len {
            return Err(mismatch());
        }
        let size = self.layout.chunk_size;
        let mut h = iv();
        let chunks: Vec<EncryptedChunk> = size
            .spans(r.len)
            .enumerate()
            .map(|(k, span)| {
                let index = place.first_chunk + k as u64;
                let plain = &data[span.range()];
                let h_out = chain_chunk(&h, plain, &span, size)?;
                let mut ciphertext = plain.to_vec();
                encrypt_chunk(key, index, &mut ciphertext);
                let statement = Statement {
                    deal_id: self.terms.proposal.deal_id,
                    index,
                    interval: place.interval,
                    block: b,
                    offset: span.offset,
                    len: span.len,
                    ct_digest: ciphertext_digest(&ciphertext),
                    h_in: h,
                    h_out,
                    lock: *lock,
                    block_cid: span.is_final.then_some(r.cid),
                    proof_digest: None,
                };
                h = h_out;
                Ok(EncryptedChunk {
                    statement,
                    ciphertext,
                    proof: None,
                })
            })
            .collect::<Result<_, ProviderError>>()?;
        // The chain's end is the block's digest: no second SHA-256 pass is needed to check it.
        if h != place.digest {
            return Err(mismatch());
        }
        Ok(chunks)
    }

    /// The last key of the chain (it derives every other): what a restart needs to go on
    /// serving the deal ([`ProviderDeal::with_keys`] with [`KeyChain::from_last`]).
    pub fn last_key(&self) -> &IntervalKey {
        self.keys
            .key(self.keys.len() - 1)
            .expect("a deal has at least one interval")
    }

    /// After a restart: the nonce of the best voucher accepted before it (later vouchers must
    /// have larger nonces).
    pub fn set_last_nonce(&mut self, nonce: Option<u64>) {
        self.last_nonce = nonce;
    }

    /// `K_j` of an interval whose voucher was accepted before, to reveal it again (its first
    /// reveal may have been lost with a connection). The caller checks that the voucher is the
    /// one on record.
    pub fn paid_key(&self, j: u32) -> Result<IntervalKey, ProviderError> {
        Ok(self.keys.key(j as usize)?.clone())
    }

    /// Reveals `K_j` for a voucher that checks out (signer, channel, lane, fresh nonce, lock,
    /// cumulative amount, and `funds` when known). On any failure nothing is revealed.
    pub fn reveal_key(
        &mut self,
        j: u32,
        voucher: &SignedVoucher,
        funds: Option<TokenAmount>,
    ) -> Result<IntervalKey, ProviderError> {
        let key = self.keys.key(j as usize)?;
        let expect = VoucherExpectation {
            channel: self.terms.proposal.judge,
            lane: self.terms.proposal.lane,
            client: self.terms.proposal.client,
            last_nonce: self.last_nonce,
            owed: self.layout.intervals[j as usize].owed.clone(),
            lock: key.lock(),
            funds,
        };
        check_voucher(voucher, &expect, &Secp256k1)?;
        self.last_nonce = Some(voucher.nonce);
        Ok(key.clone())
    }
}
