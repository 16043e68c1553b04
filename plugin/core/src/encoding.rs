//! DAG-CBOR encoding with typed errors.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// An encoding or decoding failure, naming the type involved.
#[derive(Debug, thiserror::Error)]
pub enum EncodingError {
    /// The value could not be encoded.
    #[error("cannot encode {what} as DAG-CBOR: {reason}")]
    Encode {
        /// The type being encoded.
        what: &'static str,
        /// The encoder's message.
        reason: String,
    },
    /// The bytes are not a valid DAG-CBOR encoding of the type (truncated, malformed, wrong shape).
    #[error("cannot decode {what} from {len} bytes of DAG-CBOR: {reason}")]
    Decode {
        /// The type being decoded.
        what: &'static str,
        /// How many bytes were given.
        len: usize,
        /// The decoder's message.
        reason: String,
    },
}

/// Encodes a value as DAG-CBOR.
pub fn to_cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodingError> {
    fvm_ipld_encoding::to_vec(value).map_err(|e| EncodingError::Encode {
        what: short_type_name::<T>(),
        reason: e.to_string(),
    })
}

/// Decodes a value from DAG-CBOR, refusing trailing bytes.
pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EncodingError> {
    fvm_ipld_encoding::from_slice(bytes).map_err(|e| EncodingError::Decode {
        what: short_type_name::<T>(),
        len: bytes.len(),
        reason: e.to_string(),
    })
}

fn short_type_name<T>() -> &'static str {
    let full = core::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}
