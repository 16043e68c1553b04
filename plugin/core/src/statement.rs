//! Per-chunk statements and the provider's signed commitment to each interval.
//!
//! For every chunk the provider states what the client may check before paying: where the chunk
//! sits (deal, index, interval, block, offset, length), what was sent (digest of the ciphertext),
//! what it decrypts to (the SHA-256 chaining values `h_in`/`h_out`), under which lock, and on a
//! block's last chunk which CID the chain must reach. Statements are the leaves of one Merkle tree
//! per interval; the provider signs the root once per interval rather than once per chunk.
//!
//! The ciphertext digest is BLAKE3: a second SHA-256 pass over every byte would cost a third of
//! the data path's throughput, while BLAKE3 is several times faster and cheap to recompute in Wasm.

use cid::Cid;
use fvm_ipld_encoding::tuple::*;
use fvm_shared::address::Address;
use fvm_shared::crypto::signature::Signature;

use crate::bytes::Bytes32;
use crate::encoding::{to_cbor, EncodingError};
use crate::keys::Lock;
use crate::merkle::{leaf_hash, MerkleError, MerkleProof, MerkleTree};
use crate::sig::{SigError, SignatureVerifier};

/// Domain prefix of the bytes a provider signs for an interval commitment.
pub const INTERVAL_SIGNING_TAG: &[u8] = b"ozkcp/interval-commitment/v1\0";

/// Digest of a chunk's ciphertext (BLAKE3-256).
pub fn ciphertext_digest(ciphertext: &[u8]) -> Bytes32 {
    Bytes32(*blake3::hash(ciphertext).as_bytes())
}

/// What the provider states about one chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Statement {
    /// The deal.
    pub deal_id: u64,
    /// Index of the chunk in the deal (the ChaCha20 nonce).
    pub index: u64,
    /// Payment interval the chunk belongs to.
    pub interval: u32,
    /// Position of the chunk's block in the manifest.
    pub block: u32,
    /// Byte offset of the chunk in its block.
    pub offset: u64,
    /// Plaintext (and ciphertext) length.
    pub len: u32,
    /// BLAKE3 of the ciphertext.
    pub ct_digest: Bytes32,
    /// SHA-256 state before the chunk.
    pub h_in: Bytes32,
    /// SHA-256 state after the chunk (with padding on a block's last chunk).
    pub h_out: Bytes32,
    /// Lock of the interval's key.
    pub lock: Lock,
    /// On a block's last chunk: the block's CID, whose digest `h_out` must equal.
    pub block_cid: Option<Cid>,
    /// In `zk` mode: digest of the chunk's proof bytes.
    pub proof_digest: Option<Bytes32>,
}

impl Statement {
    /// The Merkle leaf hash of this statement: `SHA256(0x00 || cbor(statement))`.
    pub fn leaf(&self) -> Result<Bytes32, EncodingError> {
        Ok(leaf_hash(&to_cbor(self)?))
    }

    /// Whether this statement is its block's last chunk.
    pub fn is_final(&self) -> bool {
        self.block_cid.is_some()
    }
}

/// The provider's commitment to one interval: the root over its statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct IntervalCommitment {
    /// The deal.
    pub deal_id: u64,
    /// Digest of the deal's terms ([`crate::deal::DealTerms::digest`]).
    pub terms: Bytes32,
    /// The interval.
    pub interval: u32,
    /// Index of the interval's first chunk in the deal.
    pub first_chunk: u64,
    /// Number of chunks (leaves).
    pub chunk_count: u32,
    /// Lock of the interval's key.
    pub lock: Lock,
    /// Merkle root over the statements' leaf hashes.
    pub root: Bytes32,
}

impl IntervalCommitment {
    /// The bytes the provider signs: a domain tag followed by the commitment's CBOR.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, EncodingError> {
        let mut out = INTERVAL_SIGNING_TAG.to_vec();
        out.extend_from_slice(&to_cbor(self)?);
        Ok(out)
    }
}

/// An interval commitment with the provider's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SignedIntervalCommitment {
    /// The commitment.
    pub commitment: IntervalCommitment,
    /// The provider's signature over [`IntervalCommitment::signing_bytes`].
    pub signature: Signature,
}

/// Why a statement could not be accepted against its signed commitment.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    /// The commitment's signature is not the provider's.
    #[error("interval commitment signature: {0}")]
    Signature(#[from] SigError),
    /// The statement is not in the signed tree.
    #[error("statement is not under the signed root: {0}")]
    Merkle(#[from] MerkleError),
    /// Encoding failed.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The statement's fields disagree with the commitment (deal, interval, lock or position).
    #[error("statement field {field} disagrees with the interval commitment")]
    Mismatch {
        /// The field that differs.
        field: &'static str,
    },
    /// The chunk's ciphertext does not hash to the statement's digest.
    #[error("ciphertext of chunk {index} does not match its statement's digest")]
    CiphertextDigest {
        /// Chunk index.
        index: u64,
    },
    /// The ciphertext's length is not the statement's.
    #[error("ciphertext of chunk {index} is {got} bytes, its statement says {stated}")]
    CiphertextLength {
        /// Chunk index.
        index: u64,
        /// Bytes received.
        got: usize,
        /// Stated length.
        stated: u32,
    },
}

impl SignedIntervalCommitment {
    /// Checks the signature against the provider's address.
    pub fn verify_signature(
        &self,
        provider: &Address,
        verifier: &impl SignatureVerifier,
    ) -> Result<(), StatementError> {
        verifier.verify(&self.signature, provider, &self.commitment.signing_bytes()?)?;
        Ok(())
    }

    /// Checks that `statement` is leaf `proof.position` of this (already signature-checked)
    /// commitment and agrees with it on deal, interval, lock and index.
    pub fn check_statement(
        &self,
        statement: &Statement,
        proof: &MerkleProof,
    ) -> Result<(), StatementError> {
        let c = &self.commitment;
        let mismatch = |field| Err(StatementError::Mismatch { field });
        if statement.deal_id != c.deal_id {
            return mismatch("deal_id");
        }
        if statement.interval != c.interval {
            return mismatch("interval");
        }
        if statement.lock != c.lock {
            return mismatch("lock");
        }
        if proof.leaves != c.chunk_count {
            return mismatch("chunk_count");
        }
        if c.first_chunk.checked_add(u64::from(proof.position)) != Some(statement.index) {
            return mismatch("index");
        }
        proof.verify(&statement.leaf()?, &c.root)?;
        Ok(())
    }
}

impl SignedIntervalCommitment {
    /// Checks that `statements`, in order, are exactly the leaves under this (already
    /// signature-checked) commitment, and returns the rebuilt tree (for evidence paths).
    pub fn check_all(&self, statements: &[Statement]) -> Result<MerkleTree, StatementError> {
        let c = &self.commitment;
        if statements.len() != c.chunk_count as usize || statements.is_empty() {
            return Err(StatementError::Mismatch {
                field: "chunk_count",
            });
        }
        let mut leaves = Vec::with_capacity(statements.len());
        for (k, s) in statements.iter().enumerate() {
            let field = if s.deal_id != c.deal_id {
                Some("deal_id")
            } else if s.interval != c.interval {
                Some("interval")
            } else if s.lock != c.lock {
                Some("lock")
            } else if c.first_chunk.checked_add(k as u64) != Some(s.index) {
                Some("index")
            } else {
                None
            };
            if let Some(field) = field {
                return Err(StatementError::Mismatch { field });
            }
            leaves.push(s.leaf()?);
        }
        let tree = MerkleTree::new(leaves);
        if tree.root() != c.root {
            return Err(MerkleError::RootMismatch {
                computed: tree.root(),
                expected: c.root,
            }
            .into());
        }
        Ok(tree)
    }
}

/// Checks a received ciphertext against its statement (length and digest).
pub fn check_ciphertext(statement: &Statement, ciphertext: &[u8]) -> Result<(), StatementError> {
    if ciphertext.len() != statement.len as usize {
        return Err(StatementError::CiphertextLength {
            index: statement.index,
            got: ciphertext.len(),
            stated: statement.len,
        });
    }
    if ciphertext_digest(ciphertext) != statement.ct_digest {
        return Err(StatementError::CiphertextDigest {
            index: statement.index,
        });
    }
    Ok(())
}
