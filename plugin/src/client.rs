//! The client's side of the data path: check before paying, pay, then open and check the bytes.
//!
//! Before it signs a voucher for interval `j` the client has checked (the payment rule):
//! the provider's signature on the interval's root; every chunk's Merkle path, ciphertext digest
//! and place in the deal; the SHA-256 chain of every block from the IV to its CID's digest; and
//! that every block of the interval is the payload root or is linked from a block already opened.
//! Once the key arrives it checks `SHA256(K_j) = L_j`, decrypts, and re-derives every chaining
//! value from the plaintext, so a wrong byte is pinned to one chunk (the evidence for a dispute).

use std::collections::{BTreeMap, HashSet};

use ozkcp_core::block::DAG_CBOR;
use ozkcp_core::chunk::{chain_chunk, iv, ChunkError, ChunkSpan};
use ozkcp_core::cipher::decrypt_chunk;
use ozkcp_core::deal::{DealError, DealLayout, SignedDealTerms};
use ozkcp_core::encoding::EncodingError;
use ozkcp_core::keys::{IntervalKey, KeyError, Lock};
use ozkcp_core::merkle::{MerkleError, MerkleProof, MerkleTree};
use ozkcp_core::sig::{Secp256k1, SecpSigner};
use ozkcp_core::statement::{check_ciphertext, Statement, StatementError};
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_core::Cid;
use rayon::prelude::*;

use ozkcp_core::evidence::{Evidence, SignedStatement};
use ozkcp_core::statement::SignedIntervalCommitment;

use crate::{EncryptedChunk, IntervalBundle};

/// Why the client refuses to pay or to accept the data. Each names the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The terms are invalid or not signed by the provider.
    #[error(transparent)]
    Deal(#[from] DealError),
    /// The interval commitment's signature or a statement's Merkle path failed.
    #[error("chunk {index}: {source}")]
    Statement {
        /// Chunk index (or the interval's first chunk for commitment failures).
        index: u64,
        /// What failed.
        source: StatementError,
    },
    /// The commitment does not describe the interval the deal lays out.
    #[error("interval commitment field {field} disagrees with the deal for interval {interval}")]
    Commitment {
        /// Interval.
        interval: u32,
        /// Field.
        field: &'static str,
    },
    /// A statement puts its chunk somewhere the deal does not.
    #[error("chunk {index}: statement field {field} disagrees with the deal layout")]
    Layout {
        /// Chunk index.
        index: u64,
        /// Field.
        field: &'static str,
    },
    /// Consecutive chunks of a block do not chain (or the first does not start at the IV).
    #[error("chunk {index} of block {block}: h_in does not continue the block's chain")]
    ChainBreak {
        /// Block.
        block: u32,
        /// Chunk index.
        index: u64,
    },
    /// A block's final chaining value is not its CID's digest, or names another CID.
    #[error("block {block}: final chunk {index} does not reach the manifest's CID {cid}")]
    FinalDigest {
        /// Block.
        block: u32,
        /// Chunk index.
        index: u64,
        /// The manifest's CID.
        cid: Cid,
    },
    /// Paying or opening an interval before the previous steps.
    #[error("interval {interval} is not ready: {reason}")]
    NotReady {
        /// Interval.
        interval: u32,
        /// Why.
        reason: &'static str,
    },
    /// A block is neither the root nor linked from an opened block.
    #[error("block {block} ({cid}) is not linked from any block opened so far")]
    Untrusted {
        /// Block.
        block: u32,
        /// Its CID.
        cid: Cid,
    },
    /// The revealed key does not open the interval's lock.
    #[error(transparent)]
    WrongKey(#[from] KeyError),
    /// A decrypted chunk does not reproduce its stated chaining value: the provider cheated.
    #[error("chunk {index} decrypts to bytes whose chaining value is not the stated h_out")]
    BadChunk {
        /// Chunk index.
        index: u64,
    },
    /// A chunk's Groth16 proof is missing or does not verify (zk mode).
    #[error("interval {interval}: {source}")]
    Proof {
        /// Interval.
        interval: u32,
        /// What failed.
        source: ozkcp_core::evidence::ProofRejected,
    },
    /// A zk deal without a verifier for its circuit.
    #[error("zk mode needs the verifying key of the deal's circuit")]
    NoVerifier,
    /// A decrypted DAG-CBOR block does not decode into links.
    #[error("block {block} does not decode as a list of links: {source}")]
    Links {
        /// Block.
        block: u32,
        /// Decoder error.
        source: EncodingError,
    },
    /// Chunking failure (internal inconsistency).
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// Encoding failure.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
}

/// A client's view of one deal.
pub struct ClientDeal {
    terms: SignedDealTerms,
    layout: DealLayout,
    accepted: BTreeMap<u32, IntervalBundle>,
    trees: BTreeMap<u32, MerkleTree>,
    opened: BTreeMap<u32, Vec<Vec<u8>>>,
    trusted: HashSet<Cid>,
    paid: Option<u32>,
    terms_digest: ozkcp_core::bytes::Bytes32,
    verifier: Option<crate::zk::ZkVerifier>,
    /// Intervals below it were opened before a restart (their bytes are on the host's disk).
    resumed_from: u32,
}

impl ClientDeal {
    /// Starts a deal from provider-signed terms.
    pub fn new(terms: SignedDealTerms) -> Result<Self, ClientError> {
        terms.verify(&Secp256k1)?;
        let layout = terms.terms.layout()?;
        let trusted = HashSet::from([terms.terms.proposal.payload_root]);
        Ok(ClientDeal {
            verifier: None,
            terms_digest: terms.terms.digest()?,
            terms,
            layout,
            accepted: BTreeMap::new(),
            trees: BTreeMap::new(),
            opened: BTreeMap::new(),
            trusted,
            paid: None,
            resumed_from: 0,
        })
    }

    /// Rebuilds a deal after a restart whose intervals below `from` were opened already (the
    /// host kept their bytes), with the deal's root block when `from > 0`: the links it lists
    /// are what the client pays for. The root must hash to the deal's root CID.
    pub fn resume(
        terms: SignedDealTerms,
        from: u32,
        root: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let mut d = Self::new(terms)?;
        if from as usize > d.layout.intervals.len() {
            return Err(ClientError::NotReady {
                interval: from,
                reason: "no such interval",
            });
        }
        if from > 0 {
            let root_ref = &d.terms.terms.manifest.blocks[0];
            let bytes = root.ok_or(ClientError::NotReady {
                interval: 0,
                reason: "the root block is needed to resume",
            })?;
            if ozkcp_core::block::cid_of(root_ref.cid.codec(), bytes) != root_ref.cid {
                return Err(ClientError::Untrusted {
                    block: 0,
                    cid: root_ref.cid,
                });
            }
            d.trust_links(0, &[bytes.to_vec()])?;
        }
        for i in 0..from {
            d.opened.insert(i, Vec::new());
        }
        d.paid = from.checked_sub(1);
        d.resumed_from = from;
        Ok(d)
    }

    /// Forgets what was received but not opened, from interval `from` on (a connection broke):
    /// those intervals are received, checked and paid again.
    pub fn rewind(&mut self, from: u32) {
        self.accepted.retain(|j, _| *j < from);
        self.trees.retain(|j, _| *j < from);
        self.opened.retain(|j, _| *j < from);
        self.paid = match self.paid {
            Some(p) if p >= from => from.checked_sub(1),
            other => other,
        };
    }

    /// Adds the verifier a `zk` deal needs; refused unless it is the deal's circuit.
    pub fn with_verifier(mut self, verifier: crate::zk::ZkVerifier) -> Result<Self, ClientError> {
        if self.terms.terms.proposal.circuit_id != Some(verifier.circuit_id()) {
            return Err(ClientError::NoVerifier);
        }
        self.verifier = Some(verifier);
        Ok(self)
    }

    /// The deal's layout.
    pub fn layout(&self) -> &DealLayout {
        &self.layout
    }

    /// Checks everything about interval `bundle` that can be checked before paying, and keeps
    /// it. On error nothing is kept and the deal's state is unchanged.
    pub fn accept_interval(&mut self, bundle: IntervalBundle) -> Result<u32, ClientError> {
        let tree = self.check_interval(&bundle)?;
        Ok(self.keep_interval(bundle, tree))
    }

    /// Keeps an interval that [`check_interval`](Self::check_interval) passed, with its tree.
    pub(crate) fn keep_interval(&mut self, bundle: IntervalBundle, tree: MerkleTree) -> u32 {
        let j = bundle.commitment.commitment.interval;
        self.trees.insert(j, tree);
        self.accepted.insert(j, bundle);
        j
    }

    /// The checks of [`accept_interval`](Self::accept_interval), keeping nothing: the
    /// interval's Merkle tree if it passes.
    pub fn check_interval(&self, bundle: &IntervalBundle) -> Result<MerkleTree, ClientError> {
        let c = &bundle.commitment.commitment;
        let j = c.interval;
        let place = self
            .layout
            .intervals
            .get(j as usize)
            .ok_or(ClientError::Commitment {
                interval: j,
                field: "interval",
            })?;
        let bad = |field| Err(ClientError::Commitment { interval: j, field });
        if c.deal_id != self.terms.terms.proposal.deal_id {
            return bad("deal_id");
        }
        if c.terms != self.terms_digest {
            return bad("terms");
        }
        if c.first_chunk != place.first_chunk {
            return bad("first_chunk");
        }
        if u64::from(c.chunk_count) != place.chunks || bundle.chunks.len() as u64 != place.chunks {
            return bad("chunk_count");
        }
        let first = c.first_chunk;
        bundle
            .commitment
            .verify_signature(&self.terms.terms.proposal.provider, &Secp256k1)
            .map_err(|source| ClientError::Statement {
                index: first,
                source,
            })?;
        // Per-chunk checks are independent: run them on every core.
        let spans = bundle
            .chunks
            .par_iter()
            .map(|chunk| {
                let s = &chunk.statement;
                check_ciphertext(s, &chunk.ciphertext).map_err(|source| {
                    ClientError::Statement {
                        index: s.index,
                        source,
                    }
                })?;
                self.span_of(chunk)
            })
            .collect::<Result<Vec<ChunkSpan>, ClientError>>()?;
        let statements: Vec<Statement> =
            bundle.chunks.iter().map(|c| c.statement.clone()).collect();
        let tree =
            bundle
                .commitment
                .check_all(&statements)
                .map_err(|source| ClientError::Statement {
                    index: first,
                    source,
                })?;
        let mut h = iv();
        for (s, span) in statements.iter().zip(&spans) {
            if s.offset == 0 {
                h = iv();
            }
            if s.h_in != h {
                return Err(ClientError::ChainBreak {
                    block: s.block,
                    index: s.index,
                });
            }
            h = s.h_out;
            if span.is_final {
                let cid = self.terms.terms.manifest.blocks[s.block as usize].cid;
                if s.block_cid != Some(cid)
                    || s.h_out != self.layout.blocks[s.block as usize].digest
                {
                    return Err(ClientError::FinalDigest {
                        block: s.block,
                        index: s.index,
                        cid,
                    });
                }
            }
        }
        // Groth16 proofs last: they are the most expensive check.
        if self.terms.terms.proposal.mode == ozkcp_core::deal::ProofMode::Zk {
            let v = self.verifier.as_ref().ok_or(ClientError::NoVerifier)?;
            v.verify_interval(bundle)
                .map_err(|source| ClientError::Proof {
                    interval: j,
                    source,
                })?;
        }
        Ok(tree)
    }

    /// Where the deal says `chunk` belongs; an error if the statement says otherwise.
    fn span_of(&self, chunk: &EncryptedChunk) -> Result<ChunkSpan, ClientError> {
        let s = &chunk.statement;
        let bad = |field| {
            Err(ClientError::Layout {
                index: s.index,
                field,
            })
        };
        let Some(block) = self.layout.blocks.get(s.block as usize) else {
            return bad("block");
        };
        if s.interval != block.interval {
            return bad("interval");
        }
        let k = s
            .index
            .checked_sub(block.first_chunk)
            .filter(|k| *k < block.chunks);
        let Some(k) = k else {
            return bad("index");
        };
        let len = self.terms.terms.manifest.blocks[s.block as usize].len;
        let span = self
            .layout
            .chunk_size
            .spans(len)
            .nth(k as usize)
            .expect("k < chunks");
        if s.offset != span.offset {
            return bad("offset");
        }
        if s.len != span.len {
            return bad("len");
        }
        if s.is_final() != span.is_final {
            return bad("block_cid");
        }
        Ok(span)
    }

    /// The hash-locked voucher for interval `j`, if the payment rule allows it: every interval up
    /// to `j` accepted, each of `j`'s blocks trusted, and `j` the next interval to pay.
    pub fn voucher_for(
        &mut self,
        j: u32,
        signer: &SecpSigner,
    ) -> Result<SignedVoucher, ClientError> {
        let not_ready = |reason| {
            Err(ClientError::NotReady {
                interval: j,
                reason,
            })
        };
        if self.paid.map_or(j != 0, |p| j != p + 1) {
            return not_ready("intervals are paid in order, once");
        }
        if (self.resumed_from..=j).any(|i| !self.accepted.contains_key(&i)) {
            return not_ready("not every chunk up to its end has a verified statement");
        }
        let place = &self.layout.intervals[j as usize];
        for b in place.first_block..place.end_block {
            let cid = self.terms.terms.manifest.blocks[b as usize].cid;
            if !self.trusted.contains(&cid) {
                return Err(ClientError::Untrusted { block: b, cid });
            }
        }
        let p = &self.terms.terms.proposal;
        let mut v = SignedVoucher::new(
            p.judge,
            p.lane,
            u64::from(j) + 1,
            place.owed.clone(),
            &self.lock(j)?,
        );
        v.sign(signer)?;
        self.paid = Some(j);
        Ok(v)
    }

    /// The lock of an accepted interval.
    pub fn lock(&self, j: u32) -> Result<Lock, ClientError> {
        self.accepted
            .get(&j)
            .map(|b| b.commitment.commitment.lock)
            .ok_or(ClientError::NotReady {
                interval: j,
                reason: "not accepted",
            })
    }

    /// Opens every interval up to `j` with the revealed `K_j` (earlier keys are derived from it),
    /// checks each decrypted chunk against its chaining values, and returns interval `j`'s blocks.
    pub fn open_interval(&mut self, j: u32, key: &IntervalKey) -> Result<&[Vec<u8>], ClientError> {
        key.opens(&self.lock(j)?)?;
        let keys = key.with_earlier(j as usize);
        for (i, k) in keys.iter().enumerate() {
            let i = i as u32;
            if self.opened.contains_key(&i) {
                continue;
            }
            let lock = self.lock(i)?;
            k.opens(&lock)?;
            let blocks = self.decrypt(i, k)?;
            self.trust_links(i, &blocks)?;
            self.opened.insert(i, blocks);
            // Opened: its ciphertexts are evidence of nothing any more (statements stay).
            if let Some(b) = self.accepted.get_mut(&i) {
                for c in &mut b.chunks {
                    c.ciphertext = Vec::new();
                }
            }
        }
        Ok(&self.opened[&j])
    }

    /// Hands over the blocks opened since the last call (with their positions in the manifest,
    /// in order) and stops keeping them: a host that writes them out as they open holds at
    /// most an interval or two in memory. [`blocks`](Self::blocks) no longer has them.
    pub fn take_opened(&mut self) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        for (j, blocks) in &mut self.opened {
            let first = self.layout.intervals[*j as usize].first_block;
            for (k, b) in std::mem::take(blocks).into_iter().enumerate() {
                out.push((first + k as u32, b));
            }
        }
        out
    }

    /// Decrypts interval `j` straight into its blocks' buffers (one copy of the bytes) and
    /// re-derives every chunk's chaining value from its plaintext.
    fn decrypt(&self, j: u32, key: &IntervalKey) -> Result<Vec<Vec<u8>>, ClientError> {
        let bundle = &self.accepted[&j];
        let place = &self.layout.intervals[j as usize];
        let s = self.layout.chunk_size.get() as usize;
        let mut blocks: Vec<Vec<u8>> = (place.first_block..place.end_block)
            .map(|b| vec![0u8; self.terms.terms.manifest.blocks[b as usize].len as usize])
            .collect();
        // Chunks are in index order, so each block's chunks are a contiguous run.
        let mut runs = Vec::with_capacity(blocks.len());
        let mut rest = bundle.chunks.as_slice();
        for b in place.first_block..place.end_block {
            let n = self.layout.blocks[b as usize].chunks as usize;
            let (run, tail) = rest.split_at(n);
            runs.push(run);
            rest = tail;
        }
        blocks.par_iter_mut().zip(runs).try_for_each(|(buf, run)| {
            // An empty block still has one (empty) chunk to check.
            let pieces: Vec<&mut [u8]> = if buf.is_empty() {
                vec![&mut []]
            } else {
                buf.chunks_mut(s).collect()
            };
            pieces
                .into_par_iter()
                .zip(run.par_iter())
                .try_for_each(|(plain, chunk)| {
                    let st = &chunk.statement;
                    plain.copy_from_slice(&chunk.ciphertext);
                    decrypt_chunk(key, st.index, plain);
                    let span = self.span_of(chunk)?;
                    if chain_chunk(&st.h_in, plain, &span, self.layout.chunk_size)? != st.h_out {
                        return Err(ClientError::BadChunk { index: st.index });
                    }
                    Ok(())
                })
        })?;
        Ok(blocks)
    }

    fn trust_links(&mut self, j: u32, blocks: &[Vec<u8>]) -> Result<(), ClientError> {
        let first = self.layout.intervals[j as usize].first_block;
        for (k, bytes) in blocks.iter().enumerate() {
            let block = first + k as u32;
            let cid = self.terms.terms.manifest.blocks[block as usize].cid;
            if cid.codec() == DAG_CBOR {
                let links = crate::payload::root_links(bytes)
                    .map_err(|source| ClientError::Links { block, source })?;
                self.trusted.extend(links);
            }
        }
        Ok(())
    }

    /// The Merkle path of chunk `index` to its interval's signed root (evidence for the judge).
    pub fn chunk_path(&self, index: u64) -> Result<MerkleProof, ClientError> {
        let (j, place) = self
            .layout
            .intervals
            .iter()
            .enumerate()
            .find(|(_, p)| (p.first_chunk..p.first_chunk + p.chunks).contains(&index))
            .ok_or(ClientError::Layout {
                index,
                field: "index",
            })?;
        let tree = self.trees.get(&(j as u32)).ok_or(ClientError::NotReady {
            interval: j as u32,
            reason: "not accepted",
        })?;
        tree.proof((index - place.first_chunk) as u32)
            .map_err(|e: MerkleError| ClientError::Statement {
                index,
                source: e.into(),
            })
    }

    /// The signed terms.
    pub fn terms(&self) -> &SignedDealTerms {
        &self.terms
    }

    /// Interval `j`'s signed commitment, once accepted.
    pub fn commitment(&self, j: u32) -> Option<&SignedIntervalCommitment> {
        self.accepted.get(&j).map(|b| &b.commitment)
    }

    /// Chunk `index` as received, once its interval is accepted.
    pub fn chunk(&self, index: u64) -> Option<&EncryptedChunk> {
        let b = self
            .layout
            .blocks
            .iter()
            .rev()
            .find(|b| b.first_chunk <= index)?;
        let place = &self.layout.intervals[b.interval as usize];
        self.accepted
            .get(&b.interval)?
            .chunks
            .get(usize::try_from(index - place.first_chunk).ok()?)
    }

    /// Chunk `index`'s statement with its path to the provider-signed root (for evidence).
    pub fn signed_statement(&self, index: u64) -> Result<SignedStatement, ClientError> {
        let chunk = self.chunk(index).ok_or(ClientError::Layout {
            index,
            field: "index",
        })?;
        let j = chunk.statement.interval;
        Ok(SignedStatement {
            statement: chunk.statement.clone(),
            path: self.chunk_path(index)?,
            commitment: self.commitment(j).cloned().ok_or(ClientError::NotReady {
                interval: j,
                reason: "not accepted",
            })?,
        })
    }

    /// Evidence that chunk `index` decrypts, under its interval's key `key`, to bytes that
    /// contradict its statement.
    pub fn bad_chunk_evidence(
        &self,
        index: u64,
        key: &IntervalKey,
    ) -> Result<Evidence, ClientError> {
        let signed = self.signed_statement(index)?;
        let ciphertext = self
            .chunk(index)
            .map(|c| c.ciphertext.clone())
            .unwrap_or_default();
        Ok(Evidence::BadChunk {
            chunk: signed,
            ciphertext,
            key: key.clone(),
        })
    }

    /// Whether every interval has been opened.
    pub fn is_complete(&self) -> bool {
        self.opened.len() == self.layout.intervals.len()
    }

    /// Every opened block not yet handed over by [`take_opened`](Self::take_opened), in
    /// manifest order.
    pub fn blocks(&self) -> Vec<Vec<u8>> {
        self.opened.values().flatten().cloned().collect()
    }
}
