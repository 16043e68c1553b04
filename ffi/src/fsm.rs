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
use serde::Serialize;

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
        actions,
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
        let e: ClientEvent = decode_json(event_ptr, event_len, "client event")?;
        let (s, actions) = s.step(e).map_err(rejected)?;
        client_out(&s, actions)
    })
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
        actions,
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
        let e: ProviderEvent = decode_json(event_ptr, event_len, "provider event")?;
        let (s, actions) = s.step(e).map_err(rejected)?;
        provider_out(&s, actions)
    })
}
