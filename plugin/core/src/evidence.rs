//! Evidence of provider faults, and the one function that judges it (node and actor alike).
//!
//! When a client finds the provider cheating it builds an [`Evidence`] value and sends it to the
//! judge actor. Evidence is self-contained: everything in it is either signed by the provider
//! (interval commitments, key reveals) or bound to something signed (statements by a Merkle path
//! to a signed interval root, ciphertext by its stated digest, proof bytes by their stated digest,
//! keys by their lock). [`verify_evidence`] is the judging function; the client runs it before it
//! disputes and the actor runs the very same code in Wasm, so they cannot disagree.
//!
//! # Kinds of fault (DESIGN §2)
//!
//! | kind | evidence | the fault |
//! |---|---|---|
//! | 0 [`Evidence::WrongKey`] | signed commitment + signed key reveal, same interval | `SHA256(K') ≠ L_j` |
//! | 1 [`Evidence::InvalidProof`] | statement + ciphertext + proof bytes (`zk` deals only) | the Groth16 proof does not verify |
//! | 2 [`Evidence::BadChunk`] | statement + ciphertext + key opening its lock | decrypted chunk does not chain `h_in → h_out` |
//! | 3 [`Evidence::BrokenChain`] | two consecutive statements of one block | `first.h_out ≠ second.h_in` |
//! | 4 [`Evidence::BadChainStart`] | a statement at offset 0 | `h_in ≠` SHA-256 IV |
//! | 5 [`Evidence::WrongFinalDigest`] | a block's final statement | `block_cid` is not the manifest's CID, or `h_out` is not its digest |
//! | 6 [`Evidence::BadLayout`] | any statement | block, interval, index, offset, length or final flag contradict [`DealTerms::layout`] |
//!
//! Kinds 2, 1 and 5 read the statement against the deal layout (the chunk's span decides the
//! padding); a statement that contradicts the layout is refused there with
//! [`EvidenceError::LayoutContradiction`] and proven with kind 6 instead, so that every accepted
//! piece of evidence proves exactly the fault it names.
//!
//! # Encoding
//!
//! `Evidence` is one flat DAG-CBOR array: the kind number (table above) followed by the kind's
//! fields in the order of the enum variant, e.g. `[2, signed_statement, ciphertext, key]`. Byte
//! fields (ciphertext, proof) are CBOR byte strings, the key a 32-byte string. A
//! [`SignedStatement`] is the tuple `[statement, path, signed_commitment]`, a [`SignedKeyReveal`]
//! `[[deal_id, terms, interval, key], signature]`. Evidence must fit one message:
//! [`decode_evidence`] and [`encode_evidence`] refuse more than [`MAX_EVIDENCE_BYTES`] and any
//! non-canonical encoding.
//!
//! # Proof digests
//!
//! A `zk` statement's `proof_digest` is [`proof_digest`]: SHA-256 of the proof bytes exactly as
//! they travel from provider to client (the zk crate's compressed Groth16 proof encoding).

use core::fmt;

use fvm_ipld_encoding::repr::{Deserialize_repr, Serialize_repr};
use fvm_ipld_encoding::tuple::*;
use fvm_ipld_encoding::{BytesDe, BytesSer};
use fvm_shared::address::Address;
use fvm_shared::crypto::signature::Signature;
use serde::de::{self, SeqAccess, Unexpected, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserializer, Serializer};

use crate::bytes::Bytes32;
use crate::chunk::{self, ChunkSpan};
use crate::cipher;
use crate::deal::{DealError, DealLayout, DealTerms, ProofMode};
use crate::encoding::{from_cbor, to_cbor, EncodingError};
use crate::keys::IntervalKey;
use crate::merkle::MerkleProof;
use crate::merkle::MerkleTree;
use crate::sig::{SigError, SignatureVerifier};
use crate::statement::{check_ciphertext, SignedIntervalCommitment, Statement, StatementError};

/// Domain prefix of the bytes a provider signs when it reveals a key.
pub const KEY_REVEAL_SIGNING_TAG: &[u8] = b"ozkcp/key-reveal/v1\0";

/// Largest encoded evidence accepted: 64 KiB, the usual mempool limit of one message.
///
/// In `fraud` mode this bounds the chunk size: [`Evidence::BadChunk`] carries one ciphertext,
/// so `S` must stay below about 63 KiB for a bad chunk to be provable.
pub const MAX_EVIDENCE_BYTES: usize = 64 * 1024;

/// The digest a `zk` statement carries for its chunk's proof: SHA-256 of the proof bytes.
pub fn proof_digest(proof: &[u8]) -> Bytes32 {
    chunk::sha256(proof)
}

/// The provider's off-chain message revealing the key `K_j` of one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct KeyReveal {
    /// The deal.
    pub deal_id: u64,
    /// Digest of the deal's terms ([`DealTerms::digest`]).
    pub terms: Bytes32,
    /// The interval whose key this is.
    pub interval: u32,
    /// The key `K_j`.
    pub key: IntervalKey,
}

impl KeyReveal {
    /// The bytes the provider signs: [`KEY_REVEAL_SIGNING_TAG`] followed by the reveal's CBOR.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, EncodingError> {
        let mut out = KEY_REVEAL_SIGNING_TAG.to_vec();
        out.extend_from_slice(&to_cbor(self)?);
        Ok(out)
    }

    /// Signs the reveal with the provider's key.
    #[cfg(feature = "std")]
    pub fn sign(self, signer: &crate::sig::SecpSigner) -> Result<SignedKeyReveal, EncodingError> {
        let signature = signer.sign(&self.signing_bytes()?);
        Ok(SignedKeyReveal {
            reveal: self,
            signature,
        })
    }
}

/// A key reveal with the provider's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SignedKeyReveal {
    /// The reveal.
    pub reveal: KeyReveal,
    /// The provider's signature over [`KeyReveal::signing_bytes`].
    pub signature: Signature,
}

impl SignedKeyReveal {
    /// Checks the signature against the provider's address.
    pub fn verify_signature(
        &self,
        provider: &Address,
        sigs: &impl SignatureVerifier,
    ) -> Result<(), EvidenceError> {
        sigs.verify(&self.signature, provider, &self.reveal.signing_bytes()?)
            .map_err(|source| EvidenceError::Signature {
                what: "key reveal",
                source,
            })
    }
}

/// A statement proven to sit under a provider-signed interval root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SignedStatement {
    /// The statement.
    pub statement: Statement,
    /// Its Merkle path in the interval's tree.
    pub path: MerkleProof,
    /// The provider-signed commitment to the interval's root.
    pub commitment: SignedIntervalCommitment,
}

impl SignedStatement {
    /// Reads the statement's path off the interval's tree (the client keeps one per interval).
    /// The position is `statement.index - commitment.first_chunk`.
    pub fn from_tree(
        statement: Statement,
        tree: &MerkleTree,
        commitment: SignedIntervalCommitment,
    ) -> Result<Self, EvidenceError> {
        let index = statement.index;
        let not_under = |source| EvidenceError::NotUnderRoot { index, source };
        let position = index
            .checked_sub(commitment.commitment.first_chunk)
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| not_under(StatementError::Mismatch { field: "index" }))?;
        let path = tree
            .proof(position)
            .map_err(|e| not_under(StatementError::Merkle(e)))?;
        Ok(SignedStatement {
            statement,
            path,
            commitment,
        })
    }

    /// Checks that the commitment and statement are for the deal, the commitment is signed by
    /// the deal's provider, and the path leads from the statement to the signed root.
    pub fn verify(
        &self,
        terms: &DealTerms,
        sigs: &impl SignatureVerifier,
    ) -> Result<(), EvidenceError> {
        let deal = terms.proposal.deal_id;
        let c = &self.commitment.commitment;
        let s = &self.statement;
        // Commitment and statement name this deal, and the commitment these very terms.
        same_deal("interval commitment", c.deal_id, deal)?;
        same_deal("statement", s.deal_id, deal)?;
        same_terms("interval commitment", &c.terms, terms)?;
        // The commitment is signed by the deal's provider.
        self.commitment
            .verify_signature(&terms.proposal.provider, sigs)
            .map_err(|e| match e {
                StatementError::Signature(source) => EvidenceError::Signature {
                    what: "interval commitment",
                    source,
                },
                StatementError::Encoding(e) => EvidenceError::Malformed(e),
                other => EvidenceError::NotUnderRoot {
                    index: s.index,
                    source: other,
                },
            })?;
        let not_under = |source| EvidenceError::NotUnderRoot {
            index: s.index,
            source,
        };
        // The statement's index is the commitment's first chunk plus its position (no overflow).
        if c.first_chunk
            .checked_add(u64::from(self.path.position))
            .is_none()
        {
            return Err(not_under(StatementError::Mismatch { field: "index" }));
        }
        // Interval, lock, index and tree size agree with the commitment; the path reaches its root.
        self.commitment
            .check_statement(s, &self.path)
            .map_err(not_under)
    }
}

/// Why a proof verifier did not accept a chunk proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofRejected {
    /// The proof does not verify for the statement's public inputs, or its bytes are not a proof.
    #[error("the proof does not verify: {0}")]
    Invalid(String),
    /// The verifier cannot judge (no verifying key for the deal's circuit, unsupported chunk
    /// shape, …). Not the provider's fault: the evidence is refused, not accepted.
    #[error("cannot verify the proof here: {0}")]
    Unavailable(String),
}

/// Checks one chunk's Groth16 proof. The zk crate implements it; the caller injects it.
pub trait ProofVerifier {
    /// Verifies `proof` for `statement` and its `ciphertext` under the deal's circuit
    /// (`terms.proposal.circuit_id`).
    fn verify_chunk_proof(
        &self,
        terms: &DealTerms,
        statement: &Statement,
        ciphertext: &[u8],
        proof: &[u8],
    ) -> Result<(), ProofRejected>;
}

/// A verifier for hosts without Groth16 (fraud-mode-only callers): always
/// [`ProofRejected::Unavailable`], so [`Evidence::InvalidProof`] is never accepted through it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProofVerifier;

impl ProofVerifier for NoProofVerifier {
    fn verify_chunk_proof(
        &self,
        _: &DealTerms,
        _: &Statement,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), ProofRejected> {
        Err(ProofRejected::Unavailable(
            "no Groth16 verifier configured".into(),
        ))
    }
}

/// The kinds of evidence, with their numbers on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum EvidenceKind {
    /// A signed key reveal that does not open the interval's lock.
    WrongKey = 0,
    /// A `zk` chunk proof that does not verify.
    InvalidProof = 1,
    /// A chunk that decrypts to bytes not chaining `h_in → h_out`.
    BadChunk = 2,
    /// Consecutive chunks of a block whose chaining values do not meet.
    BrokenChain = 3,
    /// A block's first chunk not starting at the SHA-256 IV.
    BadChainStart = 4,
    /// A block's final chunk not ending at its CID's digest (or naming another CID).
    WrongFinalDigest = 5,
    /// A statement whose place in the deal contradicts the deal layout.
    BadLayout = 6,
}

impl EvidenceKind {
    /// The kind with wire number `k`.
    pub fn from_u8(k: u8) -> Option<Self> {
        Some(match k {
            0 => EvidenceKind::WrongKey,
            1 => EvidenceKind::InvalidProof,
            2 => EvidenceKind::BadChunk,
            3 => EvidenceKind::BrokenChain,
            4 => EvidenceKind::BadChainStart,
            5 => EvidenceKind::WrongFinalDigest,
            6 => EvidenceKind::BadLayout,
            _ => return None,
        })
    }
}

/// Self-contained, provider-signed evidence of one fault. See the module docs for the encoding.
// Built once per dispute and never stored in bulk: unboxed variants keep matching simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// The provider signed a reveal of a key that does not open the interval's signed lock.
    WrongKey {
        /// The provider-signed commitment carrying the lock `L_j`.
        commitment: SignedIntervalCommitment,
        /// The provider-signed reveal of `K'` for the same deal and interval.
        reveal: SignedKeyReveal,
    },
    /// In a `zk` deal, a signed statement whose proof does not verify.
    InvalidProof {
        /// The statement (its `proof_digest` binds the proof bytes).
        chunk: SignedStatement,
        /// The chunk's ciphertext (matching `ct_digest`).
        ciphertext: Vec<u8>,
        /// The proof bytes (matching `proof_digest`).
        proof: Vec<u8>,
    },
    /// A chunk that, decrypted with the key opening its lock, does not chain `h_in → h_out`.
    BadChunk {
        /// The statement.
        chunk: SignedStatement,
        /// The chunk's ciphertext (matching `ct_digest`).
        ciphertext: Vec<u8>,
        /// The interval's key (`SHA256(key)` is the statement's lock).
        key: IntervalKey,
    },
    /// Consecutive chunks of one block whose chaining values do not meet.
    BrokenChain {
        /// The earlier chunk.
        first: SignedStatement,
        /// The next chunk (index + 1, offset right after `first`).
        second: SignedStatement,
    },
    /// A chunk at offset 0 whose `h_in` is not the SHA-256 IV.
    BadChainStart {
        /// The statement.
        chunk: SignedStatement,
    },
    /// A block's final chunk naming another CID than the manifest, or not ending at its digest.
    WrongFinalDigest {
        /// The statement.
        chunk: SignedStatement,
    },
    /// A statement whose block, interval, index, offset, length or final flag contradict the
    /// deal layout.
    BadLayout {
        /// The statement.
        chunk: SignedStatement,
    },
}

impl Evidence {
    /// Evidence of a wrong key reveal.
    pub fn wrong_key(commitment: SignedIntervalCommitment, reveal: SignedKeyReveal) -> Self {
        Evidence::WrongKey { commitment, reveal }
    }

    /// Evidence of an invalid proof (`zk` deals).
    pub fn invalid_proof(chunk: SignedStatement, ciphertext: Vec<u8>, proof: Vec<u8>) -> Self {
        Evidence::InvalidProof {
            chunk,
            ciphertext,
            proof,
        }
    }

    /// Evidence of a chunk that does not decrypt to its stated chaining values.
    pub fn bad_chunk(chunk: SignedStatement, ciphertext: Vec<u8>, key: IntervalKey) -> Self {
        Evidence::BadChunk {
            chunk,
            ciphertext,
            key,
        }
    }

    /// Evidence of consecutive chunks whose chaining values do not meet.
    pub fn broken_chain(first: SignedStatement, second: SignedStatement) -> Self {
        Evidence::BrokenChain { first, second }
    }

    /// Evidence of a block chain not starting at the IV.
    pub fn bad_chain_start(chunk: SignedStatement) -> Self {
        Evidence::BadChainStart { chunk }
    }

    /// Evidence of a final chunk not reaching the manifest's CID.
    pub fn wrong_final_digest(chunk: SignedStatement) -> Self {
        Evidence::WrongFinalDigest { chunk }
    }

    /// Evidence of a statement contradicting the deal layout.
    pub fn bad_layout(chunk: SignedStatement) -> Self {
        Evidence::BadLayout { chunk }
    }

    /// The kind of this evidence.
    pub fn kind(&self) -> EvidenceKind {
        match self {
            Evidence::WrongKey { .. } => EvidenceKind::WrongKey,
            Evidence::InvalidProof { .. } => EvidenceKind::InvalidProof,
            Evidence::BadChunk { .. } => EvidenceKind::BadChunk,
            Evidence::BrokenChain { .. } => EvidenceKind::BrokenChain,
            Evidence::BadChainStart { .. } => EvidenceKind::BadChainStart,
            Evidence::WrongFinalDigest { .. } => EvidenceKind::WrongFinalDigest,
            Evidence::BadLayout { .. } => EvidenceKind::BadLayout,
        }
    }
}

impl serde::Serialize for Evidence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.kind() as u8;
        match self {
            Evidence::WrongKey { commitment, reveal } => {
                let mut t = s.serialize_tuple(3)?;
                t.serialize_element(&kind)?;
                t.serialize_element(commitment)?;
                t.serialize_element(reveal)?;
                t.end()
            }
            Evidence::InvalidProof {
                chunk,
                ciphertext,
                proof,
            } => {
                let mut t = s.serialize_tuple(4)?;
                t.serialize_element(&kind)?;
                t.serialize_element(chunk)?;
                t.serialize_element(&BytesSer(ciphertext))?;
                t.serialize_element(&BytesSer(proof))?;
                t.end()
            }
            Evidence::BadChunk {
                chunk,
                ciphertext,
                key,
            } => {
                let mut t = s.serialize_tuple(4)?;
                t.serialize_element(&kind)?;
                t.serialize_element(chunk)?;
                t.serialize_element(&BytesSer(ciphertext))?;
                t.serialize_element(key)?;
                t.end()
            }
            Evidence::BrokenChain { first, second } => {
                let mut t = s.serialize_tuple(3)?;
                t.serialize_element(&kind)?;
                t.serialize_element(first)?;
                t.serialize_element(second)?;
                t.end()
            }
            Evidence::BadChainStart { chunk }
            | Evidence::WrongFinalDigest { chunk }
            | Evidence::BadLayout { chunk } => {
                let mut t = s.serialize_tuple(2)?;
                t.serialize_element(&kind)?;
                t.serialize_element(chunk)?;
                t.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Evidence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(EvidenceVisitor)
    }
}

struct EvidenceVisitor;

fn field<'de, T: serde::Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    at: usize,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::invalid_length(at, &"all the fields of its evidence kind"))
}

impl<'de> Visitor<'de> for EvidenceVisitor {
    type Value = Evidence;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an evidence array [kind, fields…]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Evidence, A::Error> {
        let k: u8 = field(&mut seq, 0)?;
        let kind = EvidenceKind::from_u8(k).ok_or_else(|| {
            de::Error::invalid_value(Unexpected::Unsigned(k.into()), &"an evidence kind 0..=6")
        })?;
        let evidence = match kind {
            EvidenceKind::WrongKey => Evidence::WrongKey {
                commitment: field(&mut seq, 1)?,
                reveal: field(&mut seq, 2)?,
            },
            EvidenceKind::InvalidProof => Evidence::InvalidProof {
                chunk: field(&mut seq, 1)?,
                ciphertext: field::<BytesDe, _>(&mut seq, 2)?.into_vec(),
                proof: field::<BytesDe, _>(&mut seq, 3)?.into_vec(),
            },
            EvidenceKind::BadChunk => Evidence::BadChunk {
                chunk: field(&mut seq, 1)?,
                ciphertext: field::<BytesDe, _>(&mut seq, 2)?.into_vec(),
                key: field(&mut seq, 3)?,
            },
            EvidenceKind::BrokenChain => Evidence::BrokenChain {
                first: field(&mut seq, 1)?,
                second: field(&mut seq, 2)?,
            },
            EvidenceKind::BadChainStart => Evidence::BadChainStart {
                chunk: field(&mut seq, 1)?,
            },
            EvidenceKind::WrongFinalDigest => Evidence::WrongFinalDigest {
                chunk: field(&mut seq, 1)?,
            },
            EvidenceKind::BadLayout => Evidence::BadLayout {
                chunk: field(&mut seq, 1)?,
            },
        };
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("evidence array has extra fields"));
        }
        Ok(evidence)
    }
}

/// Decodes evidence from a message: at most [`MAX_EVIDENCE_BYTES`], canonical DAG-CBOR only.
pub fn decode_evidence(bytes: &[u8]) -> Result<Evidence, EvidenceError> {
    if bytes.len() > MAX_EVIDENCE_BYTES {
        return Err(EvidenceError::TooLarge {
            len: bytes.len(),
            max: MAX_EVIDENCE_BYTES,
        });
    }
    Ok(from_cbor(bytes)?)
}

/// Encodes evidence for a message, refusing it if it would exceed [`MAX_EVIDENCE_BYTES`].
pub fn encode_evidence(evidence: &Evidence) -> Result<Vec<u8>, EvidenceError> {
    let bytes = to_cbor(evidence)?;
    if bytes.len() > MAX_EVIDENCE_BYTES {
        return Err(EvidenceError::TooLarge {
            len: bytes.len(),
            max: MAX_EVIDENCE_BYTES,
        });
    }
    Ok(bytes)
}

/// A fault the judge found proven, with where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The provider revealed a key that does not open interval `interval`'s lock.
    WrongKey {
        /// The interval.
        interval: u32,
    },
    /// Chunk `index`'s proof does not verify.
    InvalidProof {
        /// The chunk's interval.
        interval: u32,
        /// The chunk.
        index: u64,
    },
    /// Chunk `index` does not decrypt to bytes chaining `h_in → h_out`.
    BadChunk {
        /// The chunk's interval.
        interval: u32,
        /// The chunk.
        index: u64,
    },
    /// Chunk `index`'s `h_in` is not its predecessor's `h_out`.
    BrokenChain {
        /// The interval of chunk `index`.
        interval: u32,
        /// The second of the two chunks.
        index: u64,
    },
    /// Chunk `index` starts a block but not at the SHA-256 IV.
    BadChainStart {
        /// The chunk's interval.
        interval: u32,
        /// The chunk.
        index: u64,
    },
    /// Chunk `index` ends a block but not at the manifest's CID.
    WrongFinalDigest {
        /// The chunk's interval.
        interval: u32,
        /// The chunk.
        index: u64,
    },
    /// Chunk `index`'s statement contradicts the deal layout.
    BadLayout {
        /// The interval the statement names.
        interval: u32,
        /// The chunk.
        index: u64,
    },
}

impl Fault {
    /// The fault of `kind` at `interval` (and `chunk`, which chunk faults need and a wrong key
    /// must not have), as the judge actor reports it. `None` if the parts do not fit together.
    pub fn from_parts(kind: EvidenceKind, interval: u32, chunk: Option<u64>) -> Option<Fault> {
        Some(match (kind, chunk) {
            (EvidenceKind::WrongKey, None) => Fault::WrongKey { interval },
            (EvidenceKind::WrongKey, Some(_)) | (_, None) => return None,
            (EvidenceKind::InvalidProof, Some(index)) => Fault::InvalidProof { interval, index },
            (EvidenceKind::BadChunk, Some(index)) => Fault::BadChunk { interval, index },
            (EvidenceKind::BrokenChain, Some(index)) => Fault::BrokenChain { interval, index },
            (EvidenceKind::BadChainStart, Some(index)) => Fault::BadChainStart { interval, index },
            (EvidenceKind::WrongFinalDigest, Some(index)) => {
                Fault::WrongFinalDigest { interval, index }
            }
            (EvidenceKind::BadLayout, Some(index)) => Fault::BadLayout { interval, index },
        })
    }

    /// The kind of evidence that proves this fault.
    pub fn kind(&self) -> EvidenceKind {
        match self {
            Fault::WrongKey { .. } => EvidenceKind::WrongKey,
            Fault::InvalidProof { .. } => EvidenceKind::InvalidProof,
            Fault::BadChunk { .. } => EvidenceKind::BadChunk,
            Fault::BrokenChain { .. } => EvidenceKind::BrokenChain,
            Fault::BadChainStart { .. } => EvidenceKind::BadChainStart,
            Fault::WrongFinalDigest { .. } => EvidenceKind::WrongFinalDigest,
            Fault::BadLayout { .. } => EvidenceKind::BadLayout,
        }
    }

    /// The interval of the fault.
    pub fn interval(&self) -> u32 {
        match *self {
            Fault::WrongKey { interval }
            | Fault::InvalidProof { interval, .. }
            | Fault::BadChunk { interval, .. }
            | Fault::BrokenChain { interval, .. }
            | Fault::BadChainStart { interval, .. }
            | Fault::WrongFinalDigest { interval, .. }
            | Fault::BadLayout { interval, .. } => interval,
        }
    }

    /// The chunk index of the fault, for chunk faults.
    pub fn chunk(&self) -> Option<u64> {
        match *self {
            Fault::WrongKey { .. } => None,
            Fault::InvalidProof { index, .. }
            | Fault::BadChunk { index, .. }
            | Fault::BrokenChain { index, .. }
            | Fault::BadChainStart { index, .. }
            | Fault::WrongFinalDigest { index, .. }
            | Fault::BadLayout { index, .. } => Some(index),
        }
    }
}

/// Why evidence was refused.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The encoded evidence does not fit one message.
    #[error("evidence is {len} bytes; at most {max} fit one message")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The limit, [`MAX_EVIDENCE_BYTES`].
        max: usize,
    },
    /// The bytes are not canonical DAG-CBOR evidence (truncated, garbage, unknown kind, …).
    #[error("malformed evidence: {0}")]
    Malformed(#[from] EncodingError),
    /// The deal terms themselves are invalid.
    #[error("invalid deal terms: {0}")]
    Terms(#[from] DealError),
    /// A signature is not the deal provider's.
    #[error("{what} is not signed by the deal's provider: {source}")]
    Signature {
        /// What carries the signature.
        what: &'static str,
        /// Why the signature was refused.
        source: SigError,
    },
    /// Something in the evidence names another deal.
    #[error("{what} is for deal {got}, not deal {expected}")]
    WrongDeal {
        /// What names the other deal.
        what: &'static str,
        /// The deal it names.
        got: u64,
        /// The deal being judged.
        expected: u64,
    },
    /// Something signed names other deal terms (e.g. a reused deal id).
    #[error("{what} was signed for other deal terms")]
    WrongTerms {
        /// What names other terms.
        what: &'static str,
    },
    /// A statement is not under its signed interval root (or disagrees with the commitment).
    #[error("statement of chunk {index} is not under its signed interval root: {source}")]
    NotUnderRoot {
        /// The statement's chunk index.
        index: u64,
        /// What failed.
        source: StatementError,
    },
    /// The ciphertext does not match the statement's length and digest.
    #[error("ciphertext does not match the digest stated for chunk {index}")]
    CiphertextMismatch {
        /// The chunk.
        index: u64,
    },
    /// The proof bytes do not match the statement's proof digest (or it has none).
    #[error("proof bytes do not match the proof digest stated for chunk {index}")]
    ProofDigestMismatch {
        /// The chunk.
        index: u64,
    },
    /// The key given with a bad chunk does not open the statement's lock.
    #[error("the key does not open the lock of chunk {index}")]
    KeyDoesNotOpenLock {
        /// The chunk.
        index: u64,
    },
    /// This kind of evidence does not apply to the deal's proof mode.
    #[error("{kind:?} evidence does not apply to a {mode:?}-mode deal")]
    WrongMode {
        /// The evidence kind.
        kind: EvidenceKind,
        /// The deal's mode.
        mode: ProofMode,
    },
    /// The statement contradicts the deal layout: prove that with [`Evidence::BadLayout`].
    #[error(
        "statement of chunk {index} contradicts the deal layout ({field}); that is BadLayout evidence"
    )]
    LayoutContradiction {
        /// The chunk.
        index: u64,
        /// The first field found wrong.
        field: &'static str,
    },
    /// The evidence's own preconditions do not hold (e.g. chunks not consecutive).
    #[error("{kind:?} evidence does not apply: {reason}")]
    Inapplicable {
        /// The evidence kind.
        kind: EvidenceKind,
        /// What does not hold.
        reason: &'static str,
    },
    /// The injected proof verifier cannot judge the proof (not the provider's fault).
    #[error("proof verifier unavailable: {0}")]
    VerifierUnavailable(String),
    /// The evidence is consistent: there is no fault to punish.
    #[error("no fault: the evidence is consistent")]
    NoFault,
}

fn same_deal(what: &'static str, got: u64, expected: u64) -> Result<(), EvidenceError> {
    if got == expected {
        Ok(())
    } else {
        Err(EvidenceError::WrongDeal {
            what,
            got,
            expected,
        })
    }
}

/// The fault, unless the evidence turned out consistent (`ok`).
fn fault_unless(ok: bool, fault: Fault) -> Result<Fault, EvidenceError> {
    if ok {
        Err(EvidenceError::NoFault)
    } else {
        Ok(fault)
    }
}

fn same_terms(what: &'static str, got: &Bytes32, terms: &DealTerms) -> Result<(), EvidenceError> {
    if *got == terms.digest().map_err(EvidenceError::Malformed)? {
        Ok(())
    } else {
        Err(EvidenceError::WrongTerms { what })
    }
}

/// The span the deal layout assigns to a statement's chunk, or the first field contradicting it.
fn layout_span(
    terms: &DealTerms,
    layout: &DealLayout,
    s: &Statement,
) -> Result<ChunkSpan, &'static str> {
    let place = layout.blocks.get(s.block as usize).ok_or("block")?;
    let block_len = terms
        .manifest
        .blocks
        .get(s.block as usize)
        .ok_or("block")?
        .len;
    if place.interval != s.interval {
        return Err("interval");
    }
    let k = s
        .index
        .checked_sub(place.first_chunk)
        .filter(|k| *k < place.chunks)
        .ok_or("index")?;
    let size = u64::from(layout.chunk_size.get());
    // k < chunks = ceil(block_len / S), so k·S ≤ block_len: no overflow.
    let offset = k * size;
    let is_final = k + 1 == place.chunks;
    let len = if is_final { block_len - offset } else { size };
    if s.offset != offset {
        return Err("offset");
    }
    if u64::from(s.len) != len {
        return Err("len");
    }
    if s.is_final() != is_final {
        return Err("final flag (block_cid)");
    }
    Ok(ChunkSpan {
        offset,
        len: s.len,
        is_final,
        block_len,
    })
}

fn span_or_contradiction(
    terms: &DealTerms,
    layout: &DealLayout,
    s: &Statement,
) -> Result<ChunkSpan, EvidenceError> {
    layout_span(terms, layout, s).map_err(|field| EvidenceError::LayoutContradiction {
        index: s.index,
        field,
    })
}

fn ciphertext_matches(s: &Statement, ciphertext: &[u8]) -> Result<(), EvidenceError> {
    check_ciphertext(s, ciphertext)
        .map_err(|_| EvidenceError::CiphertextMismatch { index: s.index })
}

/// Judges `evidence` against the deal `terms`: returns the fault it proves, or why it proves none.
///
/// Every signature must be the deal provider's (`terms.proposal.provider`), everything must name
/// `terms.proposal.deal_id`, every statement must sit under a signed interval root, and the fault
/// must really be there ([`EvidenceError::NoFault`] otherwise). Signatures are checked through
/// `sigs` (the actor passes the FVM syscall), `zk` proofs through `proofs`. The encoded size is
/// enforced by [`decode_evidence`] / [`encode_evidence`], not here.
pub fn verify_evidence(
    terms: &DealTerms,
    evidence: &Evidence,
    sigs: &impl SignatureVerifier,
    proofs: &impl ProofVerifier,
) -> Result<Fault, EvidenceError> {
    let deal = terms.proposal.deal_id;
    let provider = &terms.proposal.provider;
    match evidence {
        Evidence::WrongKey { commitment, reveal } => {
            let c = &commitment.commitment;
            let r = &reveal.reveal;
            // Commitment and reveal name this deal and these very terms.
            same_deal("interval commitment", c.deal_id, deal)?;
            same_deal("key reveal", r.deal_id, deal)?;
            same_terms("interval commitment", &c.terms, terms)?;
            same_terms("key reveal", &r.terms, terms)?;
            // They are about the same interval.
            if r.interval != c.interval {
                return Err(EvidenceError::Inapplicable {
                    kind: EvidenceKind::WrongKey,
                    reason: "the reveal and the commitment are for different intervals",
                });
            }
            // Both are signed by the provider.
            commitment
                .verify_signature(provider, sigs)
                .map_err(|e| match e {
                    StatementError::Signature(source) => EvidenceError::Signature {
                        what: "interval commitment",
                        source,
                    },
                    StatementError::Encoding(e) => EvidenceError::Malformed(e),
                    other => EvidenceError::NotUnderRoot {
                        index: c.first_chunk,
                        source: other,
                    },
                })?;
            reveal.verify_signature(provider, sigs)?;
            // The fault: SHA256(K') ≠ L_j.
            match r.key.opens(&c.lock) {
                Ok(()) => Err(EvidenceError::NoFault),
                Err(_) => Ok(Fault::WrongKey {
                    interval: c.interval,
                }),
            }
        }
        Evidence::InvalidProof {
            chunk,
            ciphertext,
            proof,
        } => {
            // Only zk deals have proofs.
            if terms.proposal.mode != ProofMode::Zk {
                return Err(EvidenceError::WrongMode {
                    kind: EvidenceKind::InvalidProof,
                    mode: terms.proposal.mode,
                });
            }
            // The statement is the provider's, for this deal, under a signed root.
            chunk.verify(terms, sigs)?;
            let s = &chunk.statement;
            // It sits where the layout says (the circuit's public inputs depend on its span).
            span_or_contradiction(terms, &terms.layout()?, s)?;
            // The ciphertext is the stated one.
            ciphertext_matches(s, ciphertext)?;
            // The proof bytes are the stated ones.
            if s.proof_digest != Some(proof_digest(proof)) {
                return Err(EvidenceError::ProofDigestMismatch { index: s.index });
            }
            // The fault: the proof does not verify.
            match proofs.verify_chunk_proof(terms, s, ciphertext, proof) {
                Ok(()) => Err(EvidenceError::NoFault),
                Err(ProofRejected::Invalid(_)) => Ok(Fault::InvalidProof {
                    interval: s.interval,
                    index: s.index,
                }),
                Err(ProofRejected::Unavailable(why)) => {
                    Err(EvidenceError::VerifierUnavailable(why))
                }
            }
        }
        Evidence::BadChunk {
            chunk,
            ciphertext,
            key,
        } => {
            // The statement is the provider's, for this deal, under a signed root.
            chunk.verify(terms, sigs)?;
            let s = &chunk.statement;
            // It sits where the layout says (its span decides length and padding).
            let layout = terms.layout()?;
            let span = span_or_contradiction(terms, &layout, s)?;
            // The key opens the statement's lock.
            if key.opens(&s.lock).is_err() {
                return Err(EvidenceError::KeyDoesNotOpenLock { index: s.index });
            }
            // The ciphertext is the stated one.
            ciphertext_matches(s, ciphertext)?;
            // The fault: the decrypted chunk does not chain h_in → h_out.
            let mut plain = ciphertext.clone();
            cipher::decrypt_chunk(key, s.index, &mut plain);
            let h_out =
                chunk::chain_chunk(&s.h_in, &plain, &span, layout.chunk_size).map_err(|_| {
                    EvidenceError::LayoutContradiction {
                        index: s.index,
                        field: "len",
                    }
                })?;
            fault_unless(
                h_out == s.h_out,
                Fault::BadChunk {
                    interval: s.interval,
                    index: s.index,
                },
            )
        }
        Evidence::BrokenChain { first, second } => {
            // Both statements are the provider's, for this deal, under signed roots.
            first.verify(terms, sigs)?;
            second.verify(terms, sigs)?;
            let (a, b) = (&first.statement, &second.statement);
            let inapplicable = |reason| EvidenceError::Inapplicable {
                kind: EvidenceKind::BrokenChain,
                reason,
            };
            // Same block.
            if a.block != b.block {
                return Err(inapplicable("the chunks are in different blocks"));
            }
            // Consecutive indices.
            if a.index.checked_add(1) != Some(b.index) {
                return Err(inapplicable("the chunk indices are not consecutive"));
            }
            // The second starts where the first ends.
            if a.offset.checked_add(u64::from(a.len)) != Some(b.offset) {
                return Err(inapplicable(
                    "the second chunk does not start where the first ends",
                ));
            }
            // The fault: the chaining values do not meet.
            fault_unless(
                a.h_out == b.h_in,
                Fault::BrokenChain {
                    interval: b.interval,
                    index: b.index,
                },
            )
        }
        Evidence::BadChainStart { chunk } => {
            // The statement is the provider's, for this deal, under a signed root.
            chunk.verify(terms, sigs)?;
            let s = &chunk.statement;
            // It starts a block.
            if s.offset != 0 {
                return Err(EvidenceError::Inapplicable {
                    kind: EvidenceKind::BadChainStart,
                    reason: "the chunk is not at offset 0",
                });
            }
            // The fault: h_in is not the IV.
            fault_unless(
                s.h_in == chunk::iv(),
                Fault::BadChainStart {
                    interval: s.interval,
                    index: s.index,
                },
            )
        }
        Evidence::WrongFinalDigest { chunk } => {
            // The statement is the provider's, for this deal, under a signed root.
            chunk.verify(terms, sigs)?;
            let s = &chunk.statement;
            // It sits where the layout says, as its block's final chunk.
            let layout = terms.layout()?;
            let span = span_or_contradiction(terms, &layout, s)?;
            if !span.is_final {
                return Err(EvidenceError::Inapplicable {
                    kind: EvidenceKind::WrongFinalDigest,
                    reason: "the chunk is not its block's final chunk",
                });
            }
            let declared = terms.manifest.blocks.get(s.block as usize);
            let digest = layout.blocks.get(s.block as usize).map(|p| p.digest);
            // The fault: it names another CID than the manifest, or h_out is not the CID's digest.
            fault_unless(
                s.block_cid.as_ref() == declared.map(|r| &r.cid) && Some(s.h_out) == digest,
                Fault::WrongFinalDigest {
                    interval: s.interval,
                    index: s.index,
                },
            )
        }
        Evidence::BadLayout { chunk } => {
            // The statement is the provider's, for this deal, under a signed root.
            chunk.verify(terms, sigs)?;
            let s = &chunk.statement;
            // The fault: block, interval, index, offset, length or final flag contradict the layout.
            match layout_span(terms, &terms.layout()?, s) {
                Ok(_) => Err(EvidenceError::NoFault),
                Err(_) => Ok(Fault::BadLayout {
                    interval: s.interval,
                    index: s.index,
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_rebuild_from_their_parts_and_nothing_else_does() {
        let faults = [
            Fault::WrongKey { interval: 3 },
            Fault::InvalidProof {
                interval: 1,
                index: 9,
            },
            Fault::BadChunk {
                interval: 2,
                index: 7,
            },
            Fault::BrokenChain {
                interval: 0,
                index: 1,
            },
            Fault::BadChainStart {
                interval: 4,
                index: 40,
            },
            Fault::WrongFinalDigest {
                interval: 5,
                index: 55,
            },
            Fault::BadLayout {
                interval: 6,
                index: 66,
            },
        ];
        for f in faults {
            let kind = EvidenceKind::from_u8(f.kind() as u8).unwrap();
            assert_eq!(Fault::from_parts(kind, f.interval(), f.chunk()), Some(f));
            let flipped = match f.chunk() {
                Some(_) => None,
                None => Some(0),
            };
            assert_eq!(Fault::from_parts(kind, f.interval(), flipped), None);
        }
        assert_eq!(EvidenceKind::from_u8(7), None);
    }
}
