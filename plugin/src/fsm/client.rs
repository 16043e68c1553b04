//! The client's state machine (the seed's client diagram, plus what real use needs).
//!
//! Heavy work and I/O are actions for the host: it sends messages, pushes chain messages,
//! verifies intervals and opens them with keys, then reports the outcome as the next event.
//! The state holds counters only, so it is small, serializable and cheap to persist.

use fvm_ipld_encoding::repr::{Deserialize_repr, Serialize_repr};
use fvm_ipld_encoding::tuple::*;
use ozkcp_core::deal::ProofMode;

use super::table::{step, InvalidTransition, Machine, Target, Transition};

/// Client deal states, named as in the seed (`DealStatus<Name>`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum ClientStatus {
    New = 0,
    WaitAcceptance = 1,
    Accepted = 2,
    PaymentChannelCreating = 3,
    ChannelAllocatingLane = 4,
    Ongoing = 5,
    WaitingBlock = 6,
    BlockComplete = 7,
    VerifyProofs = 8,
    SendFunds = 9,
    CheckFunds = 10,
    StartDispute = 11,
    SendProofs = 12,
    Completed = 13,
    // Added for real use (see docs/state-machines.md).
    Rejected = 14,
    Failing = 15,
    Cancelling = 16,
    Cancelled = 17,
    Errored = 18,
}

/// Client event kinds (the table's keys).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientEventKind {
    ProposalSent,
    DealAccepted,
    DealRejected,
    FundsLockPushed,
    FundsLocked,
    LaneAllocated,
    ChunkReceived,
    IntervalReceived,
    LastIntervalReceived,
    VerifyStarted,
    ProofsVerified,
    ProofsInvalid,
    FaultyStatements,
    KeyReceived,
    KeyAccepted,
    AllChunksReceived,
    WrongKey,
    BadChunk,
    KeyTimeout,
    ProviderAborted,
    DisputeSubmitted,
    DisputeWon,
    DisputeLost,
    FundsRecovered,
    Cancel,
    CancelComplete,
    Resumed,
    Error,
}

use ClientEventKind as K;
use ClientStatus as S;

const TRANSFER: &[S] = &[
    S::Ongoing,
    S::WaitingBlock,
    S::BlockComplete,
    S::VerifyProofs,
    S::SendFunds,
    S::CheckFunds,
];
const PIPELINED: &[S] = &[S::VerifyProofs, S::SendFunds, S::CheckFunds];
const LIVE: &[S] = &[
    S::New,
    S::WaitAcceptance,
    S::Accepted,
    S::PaymentChannelCreating,
    S::ChannelAllocatingLane,
    S::Ongoing,
    S::WaitingBlock,
    S::BlockComplete,
    S::VerifyProofs,
    S::SendFunds,
    S::CheckFunds,
];
const NOT_DONE: &[S] = &[
    S::New,
    S::WaitAcceptance,
    S::Accepted,
    S::PaymentChannelCreating,
    S::ChannelAllocatingLane,
    S::Ongoing,
    S::WaitingBlock,
    S::BlockComplete,
    S::VerifyProofs,
    S::SendFunds,
    S::CheckFunds,
    S::StartDispute,
    S::SendProofs,
    S::Failing,
    S::Cancelling,
];

const fn seed(event: K, from: &'static [S], to: S) -> Transition<S, K> {
    Transition::seed(event, from, to)
}
const fn added(event: K, from: &'static [S], to: Target<S>) -> Transition<S, K> {
    Transition::added(event, from, to)
}

/// The client's transition table.
pub const CLIENT_TABLE: &[Transition<S, K>] = &[
    seed(K::ProposalSent, &[S::New], S::WaitAcceptance),
    seed(K::DealAccepted, &[S::WaitAcceptance], S::Accepted),
    added(
        K::DealRejected,
        &[S::WaitAcceptance],
        Target::To(S::Rejected),
    ),
    seed(
        K::FundsLockPushed,
        &[S::Accepted],
        S::PaymentChannelCreating,
    ),
    seed(
        K::FundsLocked,
        &[S::PaymentChannelCreating],
        S::ChannelAllocatingLane,
    ),
    seed(K::LaneAllocated, &[S::ChannelAllocatingLane], S::Ongoing),
    seed(K::ChunkReceived, &[S::Ongoing], S::WaitingBlock),
    added(
        K::ChunkReceived,
        &[
            S::WaitingBlock,
            S::VerifyProofs,
            S::SendFunds,
            S::CheckFunds,
        ],
        Target::Same,
    ),
    seed(K::IntervalReceived, &[S::WaitingBlock], S::VerifyProofs),
    added(
        K::IntervalReceived,
        &[S::Ongoing],
        Target::To(S::VerifyProofs),
    ),
    added(K::IntervalReceived, PIPELINED, Target::Same),
    seed(K::LastIntervalReceived, &[S::Ongoing], S::BlockComplete),
    added(
        K::LastIntervalReceived,
        &[S::WaitingBlock],
        Target::To(S::BlockComplete),
    ),
    added(K::LastIntervalReceived, PIPELINED, Target::Same),
    seed(K::VerifyStarted, &[S::BlockComplete], S::VerifyProofs),
    seed(K::ProofsVerified, &[S::VerifyProofs], S::SendFunds),
    added(K::ProofsInvalid, &[S::VerifyProofs], Target::To(S::Failing)),
    added(
        K::FaultyStatements,
        &[S::VerifyProofs],
        Target::To(S::StartDispute),
    ),
    seed(K::KeyReceived, &[S::SendFunds], S::CheckFunds),
    seed(K::KeyAccepted, &[S::CheckFunds], S::Ongoing),
    seed(K::AllChunksReceived, &[S::CheckFunds], S::Completed),
    seed(K::WrongKey, &[S::CheckFunds], S::StartDispute),
    added(K::BadChunk, &[S::CheckFunds], Target::To(S::StartDispute)),
    added(K::KeyTimeout, &[S::SendFunds], Target::To(S::Failing)),
    added(K::ProviderAborted, TRANSFER, Target::To(S::Failing)),
    seed(K::DisputeSubmitted, &[S::StartDispute], S::SendProofs),
    seed(K::DisputeWon, &[S::SendProofs], S::Completed),
    added(K::DisputeLost, &[S::SendProofs], Target::To(S::Errored)),
    added(K::FundsRecovered, &[S::Failing], Target::To(S::Errored)),
    added(K::Cancel, LIVE, Target::To(S::Cancelling)),
    added(
        K::CancelComplete,
        &[S::Cancelling],
        Target::To(S::Cancelled),
    ),
    added(K::Resumed, TRANSFER, Target::To(S::Ongoing)),
    added(K::Error, NOT_DONE, Target::To(S::Errored)),
];

/// Terminal states.
pub const CLIENT_TERMINAL: &[S] = &[S::Completed, S::Rejected, S::Cancelled, S::Errored];

/// An event with the little data the machine keeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", deny_unknown_fields)]
pub enum ClientEvent {
    /// The proposal went out.
    ProposalSent,
    /// The provider accepted; the signed terms have `intervals` payment intervals.
    DealAccepted {
        /// Number of payment intervals.
        intervals: u32,
    },
    /// The provider rejected the proposal.
    DealRejected {
        /// Its reason.
        reason: String,
    },
    /// The funds-locking chain message was pushed.
    FundsLockPushed,
    /// The chain confirmed the funds are locked for the provider.
    FundsLocked,
    /// The deal's lane is ready.
    LaneAllocated,
    /// A chunk arrived (buffered by the host).
    ChunkReceived,
    /// Every chunk and the signed commitment of the next interval arrived.
    IntervalReceived,
    /// Same, for the deal's last interval.
    LastIntervalReceived,
    /// (Internal) verification of the completed transfer begins.
    VerifyStarted,
    /// The host verified the interval: statements, proofs, chains, links.
    ProofsVerified,
    /// Verification failed; nothing is paid.
    ProofsInvalid {
        /// The failed check.
        reason: String,
    },
    /// Verification failed on signed statements that prove a fault to the judge.
    FaultyStatements {
        /// The failed check.
        reason: String,
    },
    /// The provider's key for the paid interval arrived.
    KeyReceived,
    /// The key opened the interval and every chunk checked out; more intervals follow.
    KeyAccepted,
    /// Same, and that was the last interval.
    AllChunksReceived,
    /// The key does not open the interval's lock.
    WrongKey,
    /// A chunk decrypted to bytes that do not match its statement.
    BadChunk {
        /// The chunk's index.
        index: u64,
    },
    /// The key-reveal deadline passed without a key.
    KeyTimeout,
    /// The provider aborted.
    ProviderAborted {
        /// Its reason.
        reason: String,
    },
    /// The dispute was pushed on chain.
    DisputeSubmitted,
    /// The judge ruled for the client.
    DisputeWon,
    /// The judge ruled against the client.
    DisputeLost,
    /// Unspent funds are back with the client.
    FundsRecovered,
    /// The user cancels.
    Cancel,
    /// The cancellation is done.
    CancelComplete,
    /// The connection to the provider is back (after a drop or a restart): intervals are
    /// received again from `from`, the first one not opened.
    Resumed {
        /// First interval not opened.
        from: u32,
    },
    /// An unexpected error.
    Error {
        /// What happened.
        reason: String,
    },
}

impl ClientEvent {
    /// The event's kind.
    pub fn kind(&self) -> ClientEventKind {
        match self {
            ClientEvent::ProposalSent => K::ProposalSent,
            ClientEvent::DealAccepted { .. } => K::DealAccepted,
            ClientEvent::DealRejected { .. } => K::DealRejected,
            ClientEvent::FundsLockPushed => K::FundsLockPushed,
            ClientEvent::FundsLocked => K::FundsLocked,
            ClientEvent::LaneAllocated => K::LaneAllocated,
            ClientEvent::ChunkReceived => K::ChunkReceived,
            ClientEvent::IntervalReceived => K::IntervalReceived,
            ClientEvent::LastIntervalReceived => K::LastIntervalReceived,
            ClientEvent::VerifyStarted => K::VerifyStarted,
            ClientEvent::ProofsVerified => K::ProofsVerified,
            ClientEvent::ProofsInvalid { .. } => K::ProofsInvalid,
            ClientEvent::FaultyStatements { .. } => K::FaultyStatements,
            ClientEvent::KeyReceived => K::KeyReceived,
            ClientEvent::KeyAccepted => K::KeyAccepted,
            ClientEvent::AllChunksReceived => K::AllChunksReceived,
            ClientEvent::WrongKey => K::WrongKey,
            ClientEvent::BadChunk { .. } => K::BadChunk,
            ClientEvent::KeyTimeout => K::KeyTimeout,
            ClientEvent::ProviderAborted { .. } => K::ProviderAborted,
            ClientEvent::DisputeSubmitted => K::DisputeSubmitted,
            ClientEvent::DisputeWon => K::DisputeWon,
            ClientEvent::DisputeLost => K::DisputeLost,
            ClientEvent::FundsRecovered => K::FundsRecovered,
            ClientEvent::Cancel => K::Cancel,
            ClientEvent::CancelComplete => K::CancelComplete,
            ClientEvent::Resumed { .. } => K::Resumed,
            ClientEvent::Error { .. } => K::Error,
        }
    }
}

/// What the host must do after a step, in order. The host persists the new state first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action")]
pub enum ClientAction {
    /// Send the deal proposal to the provider.
    SendProposal,
    /// Push the chain message locking the deal's funds for the provider on the judge.
    LockFunds,
    /// Make sure the deal's voucher lane is unused and reserve it.
    AllocateLane,
    /// Tell the provider to start sending.
    SendStartTransfer,
    /// Verify interval `interval` (statements, proofs, chains, links) and report the outcome.
    VerifyInterval {
        /// The interval.
        interval: u32,
    },
    /// Sign and send the hash-locked voucher for `interval`.
    SendVoucher {
        /// The interval.
        interval: u32,
    },
    /// Check the received key against `interval`'s lock, decrypt and check every chunk.
    OpenInterval {
        /// The interval.
        interval: u32,
    },
    /// Build the evidence and push the dispute to the judge.
    SubmitDispute,
    /// Tell the provider the deal is off.
    SendAbort,
    /// Withdraw unspent funds once the judge allows it (after the deadlines).
    RecoverFunds,
    /// Hand the verified payload to the user.
    DeliverData,
}

/// The client's persistent state for one deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ClientState {
    /// Current state.
    pub status: ClientStatus,
    /// The deal.
    pub deal_id: u64,
    /// Proof mode.
    pub mode: ProofMode,
    /// Payment intervals (known once accepted).
    pub intervals: u32,
    /// Intervals fully received.
    pub received: u32,
    /// Intervals verified.
    pub verified: u32,
    /// Vouchers sent.
    pub paid: u32,
    /// Intervals opened and checked.
    pub opened: u32,
    /// Why the deal failed, if it did.
    pub message: String,
}

impl ClientAction {
    /// Whether the action's effects stay inside the host process (checking, decrypting,
    /// bookkeeping): a host may leave the step that asks for it unsynced, since after a crash
    /// the work is simply done again. Sending, paying, locking and disputing leave the process.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            ClientAction::VerifyInterval { .. }
                | ClientAction::OpenInterval { .. }
                | ClientAction::AllocateLane
        )
    }

    /// Whether the action records what it is about to do durably itself before anything leaves
    /// the process (`SendVoucher`: the voucher is journaled, then sent), so the step that asks
    /// for it needs no sync of its own either.
    pub fn journals_itself(&self) -> bool {
        matches!(self, ClientAction::SendVoucher { .. })
    }

    /// Whether a step asking for `actions` must be synced before they run: some action is
    /// neither local nor journals itself.
    pub fn sync_needed(actions: &[ClientAction]) -> bool {
        actions
            .iter()
            .any(|a| !a.is_local() && !a.journals_itself())
    }
}

impl ClientState {
    /// A new deal (the seed's `ClientRetrieve`): the host sends the proposal.
    pub fn new(deal_id: u64, mode: ProofMode) -> (Self, Vec<ClientAction>) {
        let state = ClientState {
            status: S::New,
            deal_id,
            mode,
            intervals: 0,
            received: 0,
            verified: 0,
            paid: 0,
            opened: 0,
            message: String::new(),
        };
        (state, vec![ClientAction::SendProposal])
    }

    /// Whether the deal is over.
    pub fn is_terminal(&self) -> bool {
        CLIENT_TERMINAL.contains(&self.status)
    }

    /// Whether the deal is in transfer and can go on over a new connection (`Resumed`).
    pub fn can_resume(&self) -> bool {
        super::table::lookup(CLIENT_TABLE, self.status, K::Resumed).is_some()
    }

    /// Applies `event`: the new state and the host's actions, or the refusal (this state is
    /// taken by reference and stays as it was).
    pub fn step(
        &self,
        event: ClientEvent,
    ) -> Result<(ClientState, Vec<ClientAction>), InvalidTransition> {
        step(self, event)
    }
}

impl Machine for ClientState {
    type Status = ClientStatus;
    type Kind = ClientEventKind;
    type Event = ClientEvent;
    type Action = ClientAction;
    const TABLE: &'static [Transition<S, K>] = CLIENT_TABLE;

    fn status(&self) -> S {
        self.status
    }

    fn set_status(&mut self, status: S) {
        self.status = status;
    }

    fn kind(event: &ClientEvent) -> K {
        event.kind()
    }

    /// The event's effect on the counters.
    fn apply(&mut self, event: &ClientEvent) {
        match event {
            ClientEvent::DealAccepted { intervals } => self.intervals = *intervals,
            ClientEvent::DealRejected { reason }
            | ClientEvent::ProofsInvalid { reason }
            | ClientEvent::FaultyStatements { reason }
            | ClientEvent::ProviderAborted { reason }
            | ClientEvent::Error { reason } => self.message = reason.clone(),
            ClientEvent::IntervalReceived | ClientEvent::LastIntervalReceived => self.received += 1,
            ClientEvent::ProofsVerified => self.verified += 1,
            ClientEvent::KeyAccepted | ClientEvent::AllChunksReceived => self.opened += 1,
            ClientEvent::WrongKey => {
                self.message = "the revealed key does not open the lock".into()
            }
            ClientEvent::BadChunk { index } => {
                self.message = format!("chunk {index} does not decrypt to its stated bytes")
            }
            ClientEvent::KeyTimeout => self.message = "the provider never revealed the key".into(),
            // What was received but not opened is received again; vouchers already sent are
            // sent again unchanged (the store keeps one voucher per interval).
            ClientEvent::Resumed { from } => {
                self.received = *from;
                self.verified = *from;
                self.paid = *from;
                self.opened = *from;
            }
            _ => {}
        }
    }

    /// Entry handler of the new state: actions for the host and, for transient states, the
    /// event that follows at once.
    fn enter(
        &mut self,
        via: ClientEventKind,
        actions: &mut Vec<ClientAction>,
    ) -> Option<ClientEvent> {
        match self.status {
            S::Accepted => actions.push(ClientAction::LockFunds),
            S::ChannelAllocatingLane => actions.push(ClientAction::AllocateLane),
            S::Ongoing if via == K::LaneAllocated => actions.push(ClientAction::SendStartTransfer),
            // An interval that arrived while the previous one was being paid is waiting.
            S::Ongoing if self.received > self.verified => {
                return Some(if self.verified + 1 == self.intervals {
                    ClientEvent::LastIntervalReceived
                } else {
                    ClientEvent::IntervalReceived
                });
            }
            S::BlockComplete => return Some(ClientEvent::VerifyStarted),
            S::VerifyProofs => actions.push(ClientAction::VerifyInterval {
                interval: self.verified,
            }),
            S::SendFunds => {
                actions.push(ClientAction::SendVoucher {
                    interval: self.paid,
                });
                self.paid += 1;
            }
            S::CheckFunds => actions.push(ClientAction::OpenInterval {
                interval: self.opened,
            }),
            S::StartDispute => actions.push(ClientAction::SubmitDispute),
            S::Completed if via != K::DisputeWon => actions.push(ClientAction::DeliverData),
            S::Failing => {
                actions.push(ClientAction::SendAbort);
                actions.push(ClientAction::RecoverFunds);
            }
            S::Cancelling => {
                actions.push(ClientAction::SendAbort);
                actions.push(ClientAction::RecoverFunds);
            }
            _ => {}
        }
        None
    }
}
