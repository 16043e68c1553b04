//! What client and provider say to each other, as CBOR.
//!
//! Every message is a 2-tuple `[kind, body]`: `kind` a small integer naming the body's type,
//! `body` that type's own tuple encoding. Decoding refuses unknown kinds, trailing bytes and
//! non-canonical encodings (see [`ozkcp_core::encoding::from_cbor`]).

use core::fmt;

use fvm_ipld_encoding::tuple::*;
use fvm_shared::crypto::signature::Signature;
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::deal::{DealProposal, SignedDealTerms};
use ozkcp_core::encoding::{to_cbor, EncodingError};
use ozkcp_core::evidence::SignedKeyReveal;
use ozkcp_core::sig::{Secp256k1, SecpSigner, SignatureVerifier};
use ozkcp_core::statement::SignedIntervalCommitment;
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_core::Address;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserializer, Serializer};

use crate::EncryptedChunk;

/// A deal-scoped notice: rejection, abort or start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Notice {
    /// The deal.
    pub deal_id: u64,
    /// Human-readable reason (empty for a start).
    pub reason: String,
}

/// A voucher for one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct VoucherMsg {
    /// The deal.
    pub deal_id: u64,
    /// The interval it pays.
    pub interval: u32,
    /// The signed, hash-locked voucher.
    pub voucher: SignedVoucher,
}

/// What a client asks when it comes back to a deal in transfer (after a lost connection or a
/// restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Resume {
    /// The deal.
    pub deal_id: u64,
    /// SHA-256 of the signed terms (so a resume names one deal, not just an id).
    pub terms: Bytes32,
    /// The first interval the client has not opened: the provider sends again from there.
    pub from: u32,
}

/// Domain tag of the bytes a client signs to resume.
pub const RESUME_SIGNING_TAG: &[u8] = b"ozkcp/resume/v1\0";

impl Resume {
    /// The bytes the client signs: [`RESUME_SIGNING_TAG`] then the CBOR of the resume.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, EncodingError> {
        let mut out = RESUME_SIGNING_TAG.to_vec();
        out.extend_from_slice(&to_cbor(self)?);
        Ok(out)
    }

    /// Signs with the client's key.
    pub fn sign(self, signer: &SecpSigner) -> Result<SignedResume, EncodingError> {
        let signature = signer.sign(&self.signing_bytes()?);
        Ok(SignedResume {
            resume: self,
            signature,
        })
    }
}

/// A [`Resume`] signed by the deal's client: only the client can move a deal to a new
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SignedResume {
    /// What is asked.
    pub resume: Resume,
    /// The client's signature over [`Resume::signing_bytes`].
    pub signature: Signature,
}

impl SignedResume {
    /// Whether `client` signed it.
    pub fn verify(&self, client: &Address) -> bool {
        self.resume
            .signing_bytes()
            .is_ok_and(|b| Secp256k1.verify(&self.signature, client, &b).is_ok())
    }
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client → provider: the deal it wants.
    Proposal(DealProposal),
    /// Provider → client: signed terms with the manifest.
    Accept(SignedDealTerms),
    /// Provider → client: no deal.
    Reject(Notice),
    /// Client → provider: funds are locked, start sending.
    StartTransfer(Notice),
    /// Provider → client: one encrypted chunk and its statement.
    Chunk(EncryptedChunk),
    /// Provider → client: the signed root closing an interval.
    IntervalEnd(SignedIntervalCommitment),
    /// Client → provider: payment for an interval.
    Voucher(VoucherMsg),
    /// Provider → client: the signed key of a paid interval.
    Key(SignedKeyReveal),
    /// Either side: the deal is off.
    Abort(Notice),
    /// Client → provider, the first frame of a new connection for a deal in transfer: go on
    /// from interval `from` (the first one the client has not opened).
    Resume(SignedResume),
}

impl Message {
    fn kind(&self) -> u8 {
        match self {
            Message::Proposal(_) => 0,
            Message::Accept(_) => 1,
            Message::Reject(_) => 2,
            Message::StartTransfer(_) => 3,
            Message::Chunk(_) => 4,
            Message::IntervalEnd(_) => 5,
            Message::Voucher(_) => 6,
            Message::Key(_) => 7,
            Message::Abort(_) => 8,
            Message::Resume(_) => 9,
        }
    }
}

impl serde::Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.kind())?;
        match self {
            Message::Proposal(b) => t.serialize_element(b)?,
            Message::Accept(b) => t.serialize_element(b)?,
            Message::Reject(b) | Message::StartTransfer(b) | Message::Abort(b) => {
                t.serialize_element(b)?
            }
            Message::Chunk(b) => t.serialize_element(b)?,
            Message::IntervalEnd(b) => t.serialize_element(b)?,
            Message::Voucher(b) => t.serialize_element(b)?,
            Message::Key(b) => t.serialize_element(b)?,
            Message::Resume(b) => t.serialize_element(b)?,
        }
        t.end()
    }
}

impl<'de> serde::Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Message;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ozkcp message [kind, body]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Message, A::Error> {
                let kind: u8 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                macro_rules! body {
                    () => {
                        seq.next_element()?
                            .ok_or_else(|| de::Error::invalid_length(1, &self))?
                    };
                }
                let m = match kind {
                    0 => Message::Proposal(body!()),
                    1 => Message::Accept(body!()),
                    2 => Message::Reject(body!()),
                    3 => Message::StartTransfer(body!()),
                    4 => Message::Chunk(body!()),
                    5 => Message::IntervalEnd(body!()),
                    6 => Message::Voucher(body!()),
                    7 => Message::Key(body!()),
                    8 => Message::Abort(body!()),
                    9 => Message::Resume(body!()),
                    k => return Err(de::Error::custom(format!("unknown message kind {k}"))),
                };
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(m)
            }
        }
        d.deserialize_tuple(2, V)
    }
}
