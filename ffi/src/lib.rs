//! C ABI over ozkcp, in the style of filecoin-ffi: a thin, boring boundary with no protocol
//! logic of its own. Every function calls `ozkcp`, `ozkcp-core` or `ozkcp-zk`.
//!
//! # Conventions
//! - Every call (but `ozkcp_abi_version`) returns a heap result struct: `status_code`
//!   (`OZKCP_OK` or an `OZKCP_ERR_*` code), `error_msg` (NUL-terminated, null on success) and
//!   the value. Free it with the matching `ozkcp_destroy_*_result`, which also frees the value
//!   buffers: copy what you need first.
//! - Byte inputs are `(pointer, length)` pairs: `(null, 0)` is the empty input, `(null, n>0)`
//!   an error, fixed-size inputs (keys, locks: 32 bytes) of another length an error.
//! - Protocol objects (terms, statements, commitments, bundles, vouchers, reveals, evidence,
//!   FSM states) cross as their canonical DAG-CBOR, the same bytes as on the wire; records of
//!   the boundary's own (spans, layouts, FSM events/reports, faults, zk public statements) as
//!   JSON (bytes in standard base64, except `ChunkPublic`'s serde form). Addresses are their
//!   byte form, amounts decimal attoFIL strings (as bytes).
//! - Panics are caught and returned as `OZKCP_ERR_PANIC`; nothing unwinds into the caller.
//! - Handles (signers, zk parameters, provider and client deals) are opaque; each use checks
//!   that the handle is live and of the right type (`OZKCP_ERR_BAD_HANDLE` otherwise), so
//!   double destroys and calls after destroy are errors. All functions are thread-safe:
//!   signers and parameters are immutable and shared freely; calls on one deal handle are
//!   serialized by its lock. The only global state is the handle registry, behind a mutex.
//!
//! # Safety contract (all `unsafe extern "C"` functions)
//! Every `(ptr, len)` pair must describe memory readable for `len` bytes (or be `(null, 0)`)
//! for the duration of the call; result pointers must come from this library and be destroyed
//! once. Handles are never dereferenced, so any handle value is safe to pass.
#![deny(missing_docs)]
#![allow(clippy::too_many_arguments)]

pub mod abi;
pub mod data;
pub mod deal;
pub mod evidence;
pub mod fsm;
pub mod handle;
mod json;
pub mod voucher;
pub mod zk;

pub use abi::*;
pub use handle::OzkcpHandle;

/// Version of this ABI: bumped on any incompatible change to a signature, a result struct, a
/// status code or an encoding. 2: `ozkcp_provider_new`, `ozkcp_client_new` and
/// `ozkcp_evidence_verify` take zk parameters (`zk` deals, invalid-proof evidence).
pub const OZKCP_ABI_VERSION: u32 = 2;

/// The ABI version the library was built with (compare with `OZKCP_ABI_VERSION` in the header).
#[no_mangle]
pub extern "C" fn ozkcp_abi_version() -> u32 {
    OZKCP_ABI_VERSION
}
