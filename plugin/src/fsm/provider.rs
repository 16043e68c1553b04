//! The provider's state machine (the seed's provider diagram, plus what real use needs).
//!
//! The provider streams interval `j + 1` while it waits for the voucher of `j`, never more: at
//! most two intervals are ever unpaid, and a client that stops paying gets at most one interval
//! it cannot open.

use fvm_ipld_encoding::repr::{Deserialize_repr, Serialize_repr};
use fvm_ipld_encoding::tuple::*;
use ozkcp_core::deal::ProofMode;

use super::table::{step, InvalidTransition, Machine, Target, Transition};

/// Provider deal states, named as in the seed (`DealStatus<Name>`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum ProviderStatus {
    New = 0,
    Unsealing = 1,
    Unsealed = 2,
    Ongoing = 3,
    Encrypt = 4,
    GenerateProof = 5,
    FundsNeeded = 6,
    RevealKey = 7,
    Abort = 8,
    BlockComplete = 9,
    Completed = 10,
    // Added for real use (see docs/state-machines.md).
    Rejected = 11,
    Cancelled = 12,
    Errored = 13,
}

/// Provider event kinds (the table's keys).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderEventKind {
    DealAccepted,
    DealRejected,
    Unsealed,
    TransferStarted,
    EncryptStarted,
    LastInterval,
    Encrypted,
    ProofsGenerated,
    Prefetched,
    VoucherReceived,
    VoucherAccepted,
    LastVoucherAccepted,
    WrongVoucher,
    AbortDone,
    PaymentTimeout,
    ClientCancelled,
    Resumed,
    Error,
}

use ProviderEventKind as K;
use ProviderStatus as S;

const SERVING: &[S] = &[
    S::Unsealing,
    S::Unsealed,
    S::Ongoing,
    S::Encrypt,
    S::GenerateProof,
    S::FundsNeeded,
    S::RevealKey,
    S::BlockComplete,
];
/// States a deal can be resumed from (the client came back on a new connection): in transfer,
/// or completed (every voucher accepted) when the last key was lost on the way.
const RESUMABLE: &[S] = &[
    S::Completed,
    S::Encrypt,
    S::GenerateProof,
    S::FundsNeeded,
    S::RevealKey,
    S::BlockComplete,
];
const NOT_DONE: &[S] = &[
    S::New,
    S::Unsealing,
    S::Unsealed,
    S::Ongoing,
    S::Encrypt,
    S::GenerateProof,
    S::FundsNeeded,
    S::RevealKey,
    S::Abort,
    S::BlockComplete,
];

const fn seed(event: K, from: &'static [S], to: S) -> Transition<S, K> {
    Transition::seed(event, from, to)
}
const fn added(event: K, from: &'static [S], to: Target<S>) -> Transition<S, K> {
    Transition::added(event, from, to)
}

/// The provider's transition table.
pub const PROVIDER_TABLE: &[Transition<S, K>] = &[
    seed(K::DealAccepted, &[S::New], S::Unsealing),
    added(K::DealRejected, &[S::New], Target::To(S::Rejected)),
    seed(K::Unsealed, &[S::Unsealing], S::Unsealed),
    seed(K::TransferStarted, &[S::Unsealed], S::Ongoing),
    seed(K::EncryptStarted, &[S::Ongoing], S::Encrypt),
    seed(K::LastInterval, &[S::Ongoing], S::BlockComplete),
    seed(K::EncryptStarted, &[S::BlockComplete], S::Encrypt),
    seed(K::Encrypted, &[S::Encrypt], S::GenerateProof),
    seed(K::ProofsGenerated, &[S::GenerateProof], S::FundsNeeded),
    added(K::Prefetched, &[S::FundsNeeded, S::RevealKey], Target::Same),
    seed(K::VoucherReceived, &[S::FundsNeeded], S::RevealKey),
    seed(K::VoucherAccepted, &[S::RevealKey], S::Ongoing),
    seed(K::LastVoucherAccepted, &[S::RevealKey], S::Completed),
    seed(K::WrongVoucher, &[S::RevealKey], S::Abort),
    seed(K::AbortDone, &[S::Abort], S::Completed),
    added(K::PaymentTimeout, &[S::FundsNeeded], Target::To(S::Abort)),
    added(K::ClientCancelled, SERVING, Target::To(S::Cancelled)),
    added(K::Resumed, RESUMABLE, Target::To(S::Ongoing)),
    added(K::Error, NOT_DONE, Target::To(S::Errored)),
];

/// Terminal states.
pub const PROVIDER_TERMINAL: &[S] = &[S::Completed, S::Rejected, S::Cancelled, S::Errored];

/// An event with the little data the machine keeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", deny_unknown_fields)]
pub enum ProviderEvent {
    /// The order is acceptable; terms are signed.
    DealAccepted {
        /// Number of payment intervals.
        intervals: u32,
    },
    /// The order is refused.
    DealRejected {
        /// Why.
        reason: String,
    },
    /// The data is unsealed and ready.
    Unsealed,
    /// The client locked its funds and asked to start.
    TransferStarted,
    /// (Internal) encryption of the next interval begins.
    EncryptStarted,
    /// (Internal) the next interval is the deal's last.
    LastInterval,
    /// The host encrypted and stated the interval.
    Encrypted,
    /// The host proved (zk) or signed (fraud) the interval.
    ProofsGenerated,
    /// The host encrypted, proved and sent the next interval ahead of payment.
    Prefetched,
    /// A voucher for the interval awaiting payment arrived.
    VoucherReceived,
    /// The voucher checked out and the key was sent; more intervals follow.
    VoucherAccepted,
    /// Same, for the last interval.
    LastVoucherAccepted,
    /// The voucher is forged, short, replayed or misdirected: reveal nothing.
    WrongVoucher {
        /// The failed check.
        reason: String,
    },
    /// The abort was sent.
    AbortDone,
    /// The client stopped paying.
    PaymentTimeout,
    /// The client cancelled.
    ClientCancelled,
    /// The client came back on a new connection (after a drop or a restart) and asks for
    /// intervals again from `from`, the first it has not opened (at most the first unpaid).
    Resumed {
        /// First interval to send again.
        from: u32,
    },
    /// An unexpected error.
    Error {
        /// What happened.
        reason: String,
    },
}

impl ProviderEvent {
    /// The event's kind.
    pub fn kind(&self) -> ProviderEventKind {
        match self {
            ProviderEvent::DealAccepted { .. } => K::DealAccepted,
            ProviderEvent::DealRejected { .. } => K::DealRejected,
            ProviderEvent::Unsealed => K::Unsealed,
            ProviderEvent::TransferStarted => K::TransferStarted,
            ProviderEvent::EncryptStarted => K::EncryptStarted,
            ProviderEvent::LastInterval => K::LastInterval,
            ProviderEvent::Encrypted => K::Encrypted,
            ProviderEvent::ProofsGenerated => K::ProofsGenerated,
            ProviderEvent::Prefetched => K::Prefetched,
            ProviderEvent::VoucherReceived => K::VoucherReceived,
            ProviderEvent::VoucherAccepted => K::VoucherAccepted,
            ProviderEvent::LastVoucherAccepted => K::LastVoucherAccepted,
            ProviderEvent::WrongVoucher { .. } => K::WrongVoucher,
            ProviderEvent::AbortDone => K::AbortDone,
            ProviderEvent::PaymentTimeout => K::PaymentTimeout,
            ProviderEvent::ClientCancelled => K::ClientCancelled,
            ProviderEvent::Resumed { .. } => K::Resumed,
            ProviderEvent::Error { .. } => K::Error,
        }
    }
}

/// What the host must do after a step, in order. The host persists the new state first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action")]
pub enum ProviderAction {
    /// Send the signed terms and manifest.
    SendAcceptance,
    /// Send the rejection.
    SendRejection,
    /// Unseal the payload's blocks.
    Unseal,
    /// Encrypt and state interval `interval`.
    EncryptInterval {
        /// The interval.
        interval: u32,
    },
    /// Prove (zk) or sign (fraud) interval `interval`.
    GenerateProofs {
        /// The interval.
        interval: u32,
    },
    /// Send interval `interval`'s chunks, proofs and signed commitment.
    SendInterval {
        /// The interval.
        interval: u32,
    },
    /// Encrypt, prove and send interval `interval` ahead of payment, then report `Prefetched`.
    PrefetchInterval {
        /// The interval.
        interval: u32,
    },
    /// Check the received voucher for `interval`; if it holds, send the key and report
    /// `VoucherAccepted`/`LastVoucherAccepted`, otherwise `WrongVoucher`.
    CheckVoucher {
        /// The interval.
        interval: u32,
    },
    /// Tell the client the deal is aborted.
    SendAbort,
    /// Redeem the best voucher received on chain (reveals its key on chain too).
    RedeemVoucher,
}

/// The provider's persistent state for one deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ProviderState {
    /// Current state.
    pub status: ProviderStatus,
    /// The deal.
    pub deal_id: u64,
    /// Proof mode.
    pub mode: ProofMode,
    /// Payment intervals.
    pub intervals: u32,
    /// Intervals sent (including one prefetched).
    pub sent: u32,
    /// Vouchers accepted (= keys revealed).
    pub paid: u32,
    /// Why the deal ended badly, if it did.
    pub message: String,
}

impl ProviderAction {
    /// Whether the action's effects stay inside the host process (unsealing, encrypting,
    /// proving); see [`ClientAction::is_local`](super::client::ClientAction::is_local).
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            ProviderAction::Unseal
                | ProviderAction::EncryptInterval { .. }
                | ProviderAction::GenerateProofs { .. }
        )
    }

    /// Whether the action records what it is about to do durably itself before anything leaves
    /// the process (`CheckVoucher`: an accepted voucher is journaled before its key is sent).
    pub fn journals_itself(&self) -> bool {
        matches!(self, ProviderAction::CheckVoucher { .. })
    }

    /// As [`ClientAction::sync_needed`](super::client::ClientAction::sync_needed).
    pub fn sync_needed(actions: &[ProviderAction]) -> bool {
        actions
            .iter()
            .any(|a| !a.is_local() && !a.journals_itself())
    }
}

impl ProviderState {
    /// A retrieval order arrived (the seed's `RetrievalOrder`); the host decides to accept.
    pub fn new(deal_id: u64, mode: ProofMode) -> Self {
        ProviderState {
            status: S::New,
            deal_id,
            mode,
            intervals: 0,
            sent: 0,
            paid: 0,
            message: String::new(),
        }
    }

    /// Whether the deal is over.
    pub fn is_terminal(&self) -> bool {
        PROVIDER_TERMINAL.contains(&self.status)
    }

    /// Whether a client may come back to the deal on a new connection (`Resumed`): it is in
    /// transfer, or completed with every voucher accepted.
    pub fn can_resume(&self) -> bool {
        super::table::lookup(PROVIDER_TABLE, self.status, K::Resumed).is_some()
    }

    /// Applies `event`: the new state and the host's actions, or the refusal (state unchanged).
    pub fn step(
        &self,
        event: ProviderEvent,
    ) -> Result<(ProviderState, Vec<ProviderAction>), InvalidTransition> {
        step(self, event)
    }

    /// The interval being served: the first unpaid one.
    pub fn current(&self) -> u32 {
        self.paid
    }
}

impl Machine for ProviderState {
    type Status = ProviderStatus;
    type Kind = ProviderEventKind;
    type Event = ProviderEvent;
    type Action = ProviderAction;
    const TABLE: &'static [Transition<S, K>] = PROVIDER_TABLE;

    fn status(&self) -> S {
        self.status
    }

    fn set_status(&mut self, status: S) {
        self.status = status;
    }

    fn kind(event: &ProviderEvent) -> K {
        event.kind()
    }

    fn apply(&mut self, event: &ProviderEvent) {
        match event {
            ProviderEvent::DealAccepted { intervals } => self.intervals = *intervals,
            ProviderEvent::DealRejected { reason }
            | ProviderEvent::WrongVoucher { reason }
            | ProviderEvent::Error { reason } => self.message = reason.clone(),
            ProviderEvent::Prefetched => self.sent += 1,
            ProviderEvent::VoucherAccepted | ProviderEvent::LastVoucherAccepted => self.paid += 1,
            ProviderEvent::PaymentTimeout => self.message = "the client stopped paying".into(),
            // Intervals from `from` are sent again; vouchers for them that were accepted before
            // are accepted again only if unchanged (the node checks).
            ProviderEvent::Resumed { from } => {
                self.sent = *from;
                self.paid = *from;
            }
            _ => {}
        }
    }

    fn enter(&mut self, _via: K, actions: &mut Vec<ProviderAction>) -> Option<ProviderEvent> {
        let j = self.current();
        match self.status {
            S::Unsealing => {
                actions.push(ProviderAction::SendAcceptance);
                actions.push(ProviderAction::Unseal);
            }
            S::Rejected => actions.push(ProviderAction::SendRejection),
            S::Ongoing => {
                return Some(if j + 1 == self.intervals {
                    ProviderEvent::LastInterval
                } else {
                    ProviderEvent::EncryptStarted
                })
            }
            S::BlockComplete => return Some(ProviderEvent::EncryptStarted),
            // A prefetched interval is already encrypted, proven and sent.
            S::Encrypt if self.sent > j => return Some(ProviderEvent::Encrypted),
            S::Encrypt => actions.push(ProviderAction::EncryptInterval { interval: j }),
            S::GenerateProof if self.sent > j => return Some(ProviderEvent::ProofsGenerated),
            S::GenerateProof => actions.push(ProviderAction::GenerateProofs { interval: j }),
            S::FundsNeeded => {
                if self.sent == j {
                    actions.push(ProviderAction::SendInterval { interval: j });
                    self.sent += 1;
                }
                // Stream the next interval while waiting: never more than one ahead of payment.
                if self.sent == j + 1 && j + 1 < self.intervals {
                    actions.push(ProviderAction::PrefetchInterval { interval: j + 1 });
                }
            }
            S::RevealKey => actions.push(ProviderAction::CheckVoucher { interval: j }),
            S::Abort => {
                actions.push(ProviderAction::SendAbort);
                return Some(ProviderEvent::AbortDone);
            }
            // Whatever happened, vouchers already accepted are worth redeeming.
            S::Completed | S::Cancelled | S::Errored if self.paid > 0 => {
                actions.push(ProviderAction::RedeemVoucher)
            }
            _ => {}
        }
        None
    }
}
