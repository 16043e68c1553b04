//! The state machines' step functions: serialized state (CBOR) + event (JSON) in, new state
//! (CBOR) + a JSON report with the host's actions out.
//!
//! Events are JSON objects tagged by `"event"` with the event's fields, e.g.
//! `{"event":"DealAccepted","intervals":3}`, `{"event":"ProofsInvalid","reason":"…"}`,
//! `{"event":"BadChunk","index":5}`. The report is
//! `{"status":"Ongoing","terminal":false,"state":{…counters…},"actions":[{"action":"SendVoucher","interval":0}]}`.
//! Names are the Rust enums' variant names (`docs/state-machines.md`).

use ozkcp::fsm::client::{ClientAction, ClientEvent, ClientState};
use ozkcp::fsm::provider::{ProviderAction, ProviderEvent, ProviderState};
use ozkcp_core::deal::ProofMode;
use ozkcp_core::encoding::to_cbor;
use serde::{Deserialize, Serialize};

use crate::abi::{call, FfiError, OzkcpPairResult};
use crate::json::{decode, decode_json, invalid, rejected, to_json};

fn mode(m: u8) -> Result<ProofMode, FfiError> {
    match m {
        0 => Ok(ProofMode::Fraud),
        1 => Ok(ProofMode::Zk),
        m => Err(FfiError::invalid(format!(
            "proof mode {m} is not 0 (fraud) or 1 (zk)"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(tag = "event", deny_unknown_fields)]
enum ClientEventJson {
    ProposalSent,
    DealAccepted { intervals: u32 },
    DealRejected { reason: String },
    FundsLockPushed,
    FundsLocked,
    LaneAllocated,
    ChunkReceived,
    IntervalReceived,
    LastIntervalReceived,
    VerifyStarted,
    ProofsVerified,
    ProofsInvalid { reason: String },
    FaultyStatements { reason: String },
    KeyReceived,
    KeyAccepted,
    AllChunksReceived,
    WrongKey,
    BadChunk { index: u64 },
    KeyTimeout,
    ProviderAborted { reason: String },
    DisputeSubmitted,
    DisputeWon,
    DisputeLost,
    FundsRecovered,
    Cancel,
    CancelComplete,
    Error { reason: String },
}

impl From<ClientEventJson> for ClientEvent {
    fn from(e: ClientEventJson) -> Self {
        use ClientEventJson as J;
        match e {
            J::ProposalSent => ClientEvent::ProposalSent,
            J::DealAccepted { intervals } => ClientEvent::DealAccepted { intervals },
            J::DealRejected { reason } => ClientEvent::DealRejected { reason },
            J::FundsLockPushed => ClientEvent::FundsLockPushed,
            J::FundsLocked => ClientEvent::FundsLocked,
            J::LaneAllocated => ClientEvent::LaneAllocated,
            J::ChunkReceived => ClientEvent::ChunkReceived,
            J::IntervalReceived => ClientEvent::IntervalReceived,
            J::LastIntervalReceived => ClientEvent::LastIntervalReceived,
            J::VerifyStarted => ClientEvent::VerifyStarted,
            J::ProofsVerified => ClientEvent::ProofsVerified,
            J::ProofsInvalid { reason } => ClientEvent::ProofsInvalid { reason },
            J::FaultyStatements { reason } => ClientEvent::FaultyStatements { reason },
            J::KeyReceived => ClientEvent::KeyReceived,
            J::KeyAccepted => ClientEvent::KeyAccepted,
            J::AllChunksReceived => ClientEvent::AllChunksReceived,
            J::WrongKey => ClientEvent::WrongKey,
            J::BadChunk { index } => ClientEvent::BadChunk { index },
            J::KeyTimeout => ClientEvent::KeyTimeout,
            J::ProviderAborted { reason } => ClientEvent::ProviderAborted { reason },
            J::DisputeSubmitted => ClientEvent::DisputeSubmitted,
            J::DisputeWon => ClientEvent::DisputeWon,
            J::DisputeLost => ClientEvent::DisputeLost,
            J::FundsRecovered => ClientEvent::FundsRecovered,
            J::Cancel => ClientEvent::Cancel,
            J::CancelComplete => ClientEvent::CancelComplete,
            J::Error { reason } => ClientEvent::Error { reason },
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "action")]
enum ClientActionJson {
    SendProposal,
    LockFunds,
    AllocateLane,
    SendStartTransfer,
    VerifyInterval { interval: u32 },
    SendVoucher { interval: u32 },
    OpenInterval { interval: u32 },
    SubmitDispute,
    SendAbort,
    RecoverFunds,
    DeliverData,
}

impl From<ClientAction> for ClientActionJson {
    fn from(a: ClientAction) -> Self {
        use ClientActionJson as J;
        match a {
            ClientAction::SendProposal => J::SendProposal,
            ClientAction::LockFunds => J::LockFunds,
            ClientAction::AllocateLane => J::AllocateLane,
            ClientAction::SendStartTransfer => J::SendStartTransfer,
            ClientAction::VerifyInterval { interval } => J::VerifyInterval { interval },
            ClientAction::SendVoucher { interval } => J::SendVoucher { interval },
            ClientAction::OpenInterval { interval } => J::OpenInterval { interval },
            ClientAction::SubmitDispute => J::SubmitDispute,
            ClientAction::SendAbort => J::SendAbort,
            ClientAction::RecoverFunds => J::RecoverFunds,
            ClientAction::DeliverData => J::DeliverData,
        }
    }
}

#[derive(Serialize)]
struct ClientCounters {
    deal_id: u64,
    intervals: u32,
    received: u32,
    verified: u32,
    paid: u32,
    opened: u32,
    message: String,
}

#[derive(Serialize)]
struct Report<C, A> {
    status: String,
    terminal: bool,
    state: C,
    actions: Vec<A>,
}

fn client_out(s: &ClientState, actions: Vec<ClientAction>) -> Result<(Vec<u8>, Vec<u8>), FfiError> {
    let report = Report {
        status: format!("{:?}", s.status),
        terminal: s.is_terminal(),
        state: ClientCounters {
            deal_id: s.deal_id,
            intervals: s.intervals,
            received: s.received,
            verified: s.verified,
            paid: s.paid,
            opened: s.opened,
            message: s.message.clone(),
        },
        actions: actions.into_iter().map(ClientActionJson::from).collect(),
    };
    Ok((to_cbor(s).map_err(invalid)?, to_json(&report)?))
}

/// A new client deal (`mode` 0 fraud, 1 zk): first value the state (CBOR), second the report
/// (JSON, with the first action `SendProposal`).
///
/// # Safety
/// No pointers are taken.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_fsm_new(deal_id: u64, mode_: u8) -> *mut OzkcpPairResult {
    call(|| {
        let (s, actions) = ClientState::new(deal_id, mode(mode_)?);
        client_out(&s, actions)
    })
}

/// One step of the client's machine: state (CBOR) + event (JSON) → new state (CBOR) + report
/// (JSON). An event the table does not allow in the state is `OZKCP_ERR_REJECTED` (keep the old
/// state).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_fsm_step(
    state_ptr: *const u8,
    state_len: usize,
    event_ptr: *const u8,
    event_len: usize,
) -> *mut OzkcpPairResult {
    call(|| {
        let s: ClientState = decode(state_ptr, state_len, "client state")?;
        let e: ClientEventJson = decode_json(event_ptr, event_len, "client event")?;
        let (s, actions) = s.step(e.into()).map_err(rejected)?;
        client_out(&s, actions)
    })
}

#[derive(Deserialize)]
#[serde(tag = "event", deny_unknown_fields)]
enum ProviderEventJson {
    DealAccepted { intervals: u32 },
    DealRejected { reason: String },
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
    WrongVoucher { reason: String },
    AbortDone,
    PaymentTimeout,
    ClientCancelled,
    Error { reason: String },
}

impl From<ProviderEventJson> for ProviderEvent {
    fn from(e: ProviderEventJson) -> Self {
        use ProviderEventJson as J;
        match e {
            J::DealAccepted { intervals } => ProviderEvent::DealAccepted { intervals },
            J::DealRejected { reason } => ProviderEvent::DealRejected { reason },
            J::Unsealed => ProviderEvent::Unsealed,
            J::TransferStarted => ProviderEvent::TransferStarted,
            J::EncryptStarted => ProviderEvent::EncryptStarted,
            J::LastInterval => ProviderEvent::LastInterval,
            J::Encrypted => ProviderEvent::Encrypted,
            J::ProofsGenerated => ProviderEvent::ProofsGenerated,
            J::Prefetched => ProviderEvent::Prefetched,
            J::VoucherReceived => ProviderEvent::VoucherReceived,
            J::VoucherAccepted => ProviderEvent::VoucherAccepted,
            J::LastVoucherAccepted => ProviderEvent::LastVoucherAccepted,
            J::WrongVoucher { reason } => ProviderEvent::WrongVoucher { reason },
            J::AbortDone => ProviderEvent::AbortDone,
            J::PaymentTimeout => ProviderEvent::PaymentTimeout,
            J::ClientCancelled => ProviderEvent::ClientCancelled,
            J::Error { reason } => ProviderEvent::Error { reason },
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "action")]
enum ProviderActionJson {
    SendAcceptance,
    SendRejection,
    Unseal,
    EncryptInterval { interval: u32 },
    GenerateProofs { interval: u32 },
    SendInterval { interval: u32 },
    PrefetchInterval { interval: u32 },
    CheckVoucher { interval: u32 },
    SendAbort,
    RedeemVoucher,
}

impl From<ProviderAction> for ProviderActionJson {
    fn from(a: ProviderAction) -> Self {
        use ProviderActionJson as J;
        match a {
            ProviderAction::SendAcceptance => J::SendAcceptance,
            ProviderAction::SendRejection => J::SendRejection,
            ProviderAction::Unseal => J::Unseal,
            ProviderAction::EncryptInterval { interval } => J::EncryptInterval { interval },
            ProviderAction::GenerateProofs { interval } => J::GenerateProofs { interval },
            ProviderAction::SendInterval { interval } => J::SendInterval { interval },
            ProviderAction::PrefetchInterval { interval } => J::PrefetchInterval { interval },
            ProviderAction::CheckVoucher { interval } => J::CheckVoucher { interval },
            ProviderAction::SendAbort => J::SendAbort,
            ProviderAction::RedeemVoucher => J::RedeemVoucher,
        }
    }
}

#[derive(Serialize)]
struct ProviderCounters {
    deal_id: u64,
    intervals: u32,
    sent: u32,
    paid: u32,
    message: String,
}

fn provider_out(
    s: &ProviderState,
    actions: Vec<ProviderAction>,
) -> Result<(Vec<u8>, Vec<u8>), FfiError> {
    let report = Report {
        status: format!("{:?}", s.status),
        terminal: s.is_terminal(),
        state: ProviderCounters {
            deal_id: s.deal_id,
            intervals: s.intervals,
            sent: s.sent,
            paid: s.paid,
            message: s.message.clone(),
        },
        actions: actions.into_iter().map(ProviderActionJson::from).collect(),
    };
    Ok((to_cbor(s).map_err(invalid)?, to_json(&report)?))
}

/// A new provider deal for a retrieval order (`mode` 0 fraud, 1 zk): state (CBOR) + report.
///
/// # Safety
/// No pointers are taken.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_provider_fsm_new(deal_id: u64, mode_: u8) -> *mut OzkcpPairResult {
    call(|| provider_out(&ProviderState::new(deal_id, mode(mode_)?), Vec::new()))
}

/// One step of the provider's machine: state (CBOR) + event (JSON) → new state (CBOR) + report
/// (JSON). A refused transition is `OZKCP_ERR_REJECTED`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_provider_fsm_step(
    state_ptr: *const u8,
    state_len: usize,
    event_ptr: *const u8,
    event_len: usize,
) -> *mut OzkcpPairResult {
    call(|| {
        let s: ProviderState = decode(state_ptr, state_len, "provider state")?;
        let e: ProviderEventJson = decode_json(event_ptr, event_len, "provider event")?;
        let (s, actions) = s.step(e.into()).map_err(rejected)?;
        provider_out(&s, actions)
    })
}
