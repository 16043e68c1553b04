//! What client and provider say to each other, as CBOR.
//!
//! Every message is a 2-tuple `[kind, body]`: `kind` a small integer naming the body's type,
//! `body` that type's own tuple encoding. Decoding refuses unknown kinds, trailing bytes and
//! non-canonical encodings (see [`ozkcp_core::encoding::from_cbor`]).

use core::fmt;

use fvm_ipld_encoding::tuple::*;
use ozkcp_core::deal::{DealProposal, SignedDealTerms};
use ozkcp_core::evidence::SignedKeyReveal;
use ozkcp_core::statement::SignedIntervalCommitment;
use ozkcp_core::voucher::SignedVoucher;
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
