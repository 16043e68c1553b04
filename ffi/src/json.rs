//! Encodings at the boundary: protocol objects travel as their canonical DAG-CBOR, the
//! boundary's own records (spans, layouts, FSM events and actions, faults) as JSON with bytes in
//! standard base64.

use std::fmt::Display;

use ozkcp_core::encoding::from_cbor;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::abi::{bytes, FfiError};

/// An invalid-input error from any displayable error.
pub(crate) fn invalid(e: impl Display) -> FfiError {
    FfiError::invalid(e.to_string())
}

/// A rejection from any displayable error.
pub(crate) fn rejected(e: impl Display) -> FfiError {
    FfiError::rejected(e.to_string())
}

/// Decodes canonical DAG-CBOR given by pointer and length.
pub(crate) unsafe fn decode<T: DeserializeOwned + Serialize>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<T, FfiError> {
    let b = bytes(ptr, len, what)?;
    from_cbor(b).map_err(|e| FfiError::invalid(format!("{what}: {e}")))
}

/// Decodes JSON given by pointer and length.
pub(crate) unsafe fn decode_json<T: DeserializeOwned>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<T, FfiError> {
    let b = bytes(ptr, len, what)?;
    serde_json::from_slice(b).map_err(|e| FfiError::invalid(format!("{what}: {e}")))
}

/// Encodes JSON.
pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, FfiError> {
    serde_json::to_vec(v).map_err(invalid)
}

/// Serde adapter: bytes as a standard base64 string (what Go's `encoding/json` does for `[]byte`).
pub(crate) mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}
