//! Transport-agnostic deal nodes: [`ClientNode`] and [`ProviderNode`] run one side of a deal.
//!
//! A node owns its side's state machine and the data-path object behind it
//! ([`ClientDeal`](crate::client::ClientDeal) / [`ProviderDeal`](crate::provider::ProviderDeal)).
//! The host feeds it what arrives — a CBOR frame from the peer ([`ClientNode::receive`]), or an
//! outside event (a deadline, a cancellation) — and gets back, in a [`Ctx`], the frames to send.
//! Chain operations go through a [`Judge`]; every step that changes the machine is handed to a
//! [`Journal`] *before* its actions run, so a host that persists there can resume after a crash.
//! The same nodes run the in-process deal ([`crate::driver`]) and the sidecar's deals over
//! WebSocket.
//!
//! A frame the node cannot use (bad CBOR, another deal's, a message the machine refuses in its
//! current state) is refused with a [`NodeError`] and changes nothing: the host decides whether
//! that ends the deal (the sidecar does) or is ignored (the in-process driver does).

use ozkcp_core::deal::{DealTerms, SignedDealTerms};
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::voucher::SignedVoucher;

use crate::fsm::client::{ClientAction, ClientEvent, ClientState};
use crate::fsm::provider::{ProviderAction, ProviderEvent, ProviderState};

pub mod client;
mod judge;
pub mod provider;

pub use client::{ClientNode, ClientSetup};
pub use judge::{InProcessEscrow, Judge};

pub use provider::{ProviderNode, ProviderSetup};

/// A cheating or failing provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderFault {
    /// Honest.
    None,
    /// Reveals a wrong (but signed) key for this interval.
    WrongKey(u32),
    /// Sends a chunk of this interval that decrypts to other bytes (consistently re-signed).
    BadChunk(u32),
    /// States a broken chain in this interval (consistently re-signed).
    BrokenChain(u32),
    /// Never reveals this interval's key.
    NeverReveal(u32),
    /// Sends, for this interval, a chunk whose proof is another chunk's (zk mode).
    InvalidProof(u32),
}

/// A cheating or failing client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFault {
    /// Honest.
    None,
    /// Signs this interval's voucher with another key.
    ForgedVoucher(u32),
    /// Sends the previous voucher again for this interval.
    ReplayedVoucher(u32),
    /// Pays one attoFIL less than owed for this interval.
    ShortVoucher(u32),
    /// Stops paying at this interval.
    StopPaying(u32),
}

/// Why a node refused a frame or an event. The node's state is as it was before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The frame is no protocol message (bad CBOR, unknown kind, trailing bytes).
    #[error("undecodable message: {0}")]
    Decode(String),
    /// The message belongs to another deal.
    #[error("message for deal {got}, this is deal {expected}")]
    WrongDeal {
        /// This node's deal.
        expected: u64,
        /// The message's.
        got: u64,
    },
    /// The message makes no sense now (out of order, unsigned, not for this side).
    #[error("unexpected {message} in {state}: {reason}")]
    Unexpected {
        /// The message's kind.
        message: &'static str,
        /// The machine's state.
        state: String,
        /// Why it was refused.
        reason: String,
    },
    /// The journal could not record a step; its actions did not run.
    #[error("journal: {0}")]
    Journal(String),
}

/// Where a node records what must survive a crash, before it acts on it. Every method returns
/// an error to stop the node (the step's actions then do not run). The defaults record nothing.
pub trait Journal {
    /// A client step: the event, the new state and the actions about to run.
    fn client_step(
        &mut self,
        _event: &ClientEvent,
        _state: &ClientState,
        _actions: &[ClientAction],
    ) -> Result<(), String> {
        Ok(())
    }

    /// A provider step, as [`client_step`](Self::client_step).
    fn provider_step(
        &mut self,
        _event: &ProviderEvent,
        _state: &ProviderState,
        _actions: &[ProviderAction],
    ) -> Result<(), String> {
        Ok(())
    }

    /// The client is about to send this voucher for `interval`.
    fn voucher_sent(&mut self, _interval: u32, _voucher: &SignedVoucher) -> Result<(), String> {
        Ok(())
    }

    /// The provider accepted this voucher for `interval` and is about to reveal its key.
    fn voucher_accepted(&mut self, _interval: u32, _voucher: &SignedVoucher) -> Result<(), String> {
        Ok(())
    }

    /// The client accepted the provider's signed terms (before it locks funds): what a restart
    /// needs to resume the deal.
    fn client_terms(&mut self, _terms: &SignedDealTerms) -> Result<(), String> {
        Ok(())
    }

    /// The client opened the deal's root block (the links it pays for): what a restart needs
    /// to resume past interval 0.
    fn root_opened(&mut self, _root: &[u8]) -> Result<(), String> {
        Ok(())
    }

    /// The provider accepted a deal with these terms and key chain (named by its last key,
    /// which derives the others), before any of it is sent: what a restart needs to go on
    /// serving the deal. The key is a secret: keep it like the wallet key.
    fn provider_deal(&mut self, _terms: &DealTerms, _last_key: &IntervalKey) -> Result<(), String> {
        Ok(())
    }
}

/// A journal that records nothing (the in-process driver's).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJournal;

impl Journal for NoJournal {}

/// What a node works with while it handles one input.
pub struct Ctx<'a, J: Judge + ?Sized> {
    /// The chain.
    pub judge: &'a mut J,
    /// Where steps are recorded before their actions run.
    pub journal: &'a mut dyn Journal,
    /// Where encoded frames for the peer go, in order.
    pub out: &'a mut dyn Outbox,
}

/// Takes the frames a node sends, in order: a `Vec` collects them; a host with a connection can
/// send each at once (the node may go on encrypting while it leaves).
pub trait Outbox {
    /// Queues one encoded frame.
    fn push(&mut self, frame: Vec<u8>);
}

impl Outbox for Vec<Vec<u8>> {
    fn push(&mut self, frame: Vec<u8>) {
        Vec::push(self, frame);
    }
}

impl<J: Judge + ?Sized> Ctx<'_, J> {
    fn send(&mut self, m: &crate::messages::Message) {
        self.out
            .push(ozkcp_core::encoding::to_cbor(m).expect("messages encode"));
    }
}

/// The message kind's name, for errors.
pub(crate) fn message_name(m: &crate::messages::Message) -> &'static str {
    use crate::messages::Message as M;
    match m {
        M::Proposal(_) => "Proposal",
        M::Accept(_) => "Accept",
        M::Reject(_) => "Reject",
        M::StartTransfer(_) => "StartTransfer",
        M::Chunk(_) => "Chunk",
        M::IntervalEnd(_) => "IntervalEnd",
        M::Voucher(_) => "Voucher",
        M::Key(_) => "Key",
        M::Abort(_) => "Abort",
        M::Resume(_) => "Resume",
    }
}

/// The deal id a message names.
pub(crate) fn message_deal(m: &crate::messages::Message) -> u64 {
    use crate::messages::Message as M;
    match m {
        M::Proposal(p) => p.deal_id,
        M::Accept(t) => t.terms.proposal.deal_id,
        M::Reject(n) | M::StartTransfer(n) | M::Abort(n) => n.deal_id,
        M::Resume(r) => r.resume.deal_id,
        M::Chunk(c) => c.statement.deal_id,
        M::IntervalEnd(c) => c.commitment.deal_id,
        M::Voucher(v) => v.deal_id,
        M::Key(k) => k.reveal.deal_id,
    }
}
