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

/// Encodes a value as DAG-CBOR, into a buffer of exactly its size (one pass counts the bytes,
/// one writes them: a large chunk is copied once, not once per buffer growth).
pub fn to_cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodingError> {
    let err = |e: fvm_ipld_encoding::Error| EncodingError::Encode {
        what: short_type_name::<T>(),
        reason: e.to_string(),
    };
    let mut count = Count(0);
    fvm_ipld_encoding::to_writer(&mut count, value).map_err(err)?;
    let mut out = Vec::with_capacity(count.0);
    fvm_ipld_encoding::to_writer(&mut out, value).map_err(err)?;
    Ok(out)
}

/// Counts what is written.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compares what is written with the bytes left, failing at the first difference.
struct Compare<'a>(&'a [u8]);

impl std::io::Write for Compare<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.strip_prefix(buf) {
            Some(rest) => {
                self.0 = rest;
                Ok(buf.len())
            }
            None => Err(std::io::Error::other("differs")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decodes a value from DAG-CBOR, refusing trailing bytes and any encoding but the canonical one.
///
/// The underlying decoder is lenient about some headers (it reads the length of a byte string
/// or the size of an array without insisting on the major type), so one value could arrive in
/// several encodings. Re-encoding and comparing makes every accepted value have exactly one
/// encoding, which signatures and message ids over raw bytes rely on. The re-encoding is
/// compared as it is written, without a second buffer.
pub fn from_cbor<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, EncodingError> {
    let decode_err = |reason: String| EncodingError::Decode {
        what: short_type_name::<T>(),
        len: bytes.len(),
        reason,
    };
    let value: T = fvm_ipld_encoding::from_slice(bytes).map_err(|e| decode_err(e.to_string()))?;
    let mut rest = Compare(bytes);
    let same = fvm_ipld_encoding::to_writer(&mut rest, &value).is_ok() && rest.0.is_empty();
    if !same {
        return Err(decode_err("not the canonical DAG-CBOR encoding".into()));
    }
    Ok(value)
}

fn short_type_name<T>() -> &'static str {
    let full = core::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_headers_are_refused() {
        let v: (u64, crate::bytes::Bytes32) = (5, crate::bytes::Bytes32([1; 32]));
        let enc = to_cbor(&v).unwrap();
        assert_eq!(from_cbor::<(u64, crate::bytes::Bytes32)>(&enc).unwrap(), v);
        // The same value with the byte string's header turned into a uint header.
        let mut odd = enc.clone();
        odd[2] ^= 0x40;
        assert!(from_cbor::<(u64, crate::bytes::Bytes32)>(&odd).is_err());
        // Array header turned into a uint header.
        let mut odd = enc.clone();
        odd[0] ^= 0x80;
        assert!(from_cbor::<(u64, crate::bytes::Bytes32)>(&odd).is_err());
        // Non-minimal integer (5 written with a one-byte argument).
        assert!(from_cbor::<u64>(&[0x18, 0x05]).is_err());
        assert_eq!(from_cbor::<u64>(&[0x05]).unwrap(), 5);
    }
}
