//! Errors of the zk mode.

use alloc::string::String;
use thiserror::Error;

/// Everything that can go wrong when packing, proving, loading or verifying.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum ZkError {
    /// The chunk size is not a multiple of 64 in 64..=4096.
    #[error("unsupported chunk size {0} (must be a multiple of 64 in 64..=4096)")]
    ChunkSize(usize),
    /// A chunk statement does not fit the circuit (length, flags, ciphertext size, ...).
    #[error("invalid chunk statement: {0}")]
    Statement(&'static str),
    /// The public input vector has the wrong number of elements for the verifying key.
    #[error("wrong number of public inputs: expected {expected}, got {got}")]
    PublicInputLength {
        /// What the verifying key takes.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// A key or proof did not decode (truncated, garbage, point not on the curve or not in the
    /// prime-order subgroup).
    #[error("malformed {0}")]
    Decode(&'static str),
    /// A key's circuit id differs from the one the deal names.
    #[error("circuit id mismatch: expected {expected}, key has {got}")]
    CircuitId {
        /// Hex of the expected id.
        expected: String,
        /// Hex of the key's id.
        got: String,
    },
    /// The pairing check failed.
    #[error("proof does not verify")]
    InvalidProof,
    /// Constraint synthesis or proving failed (for example the witness does not satisfy the
    /// relation).
    #[error("synthesis: {0}")]
    Synthesis(String),
    /// Reading or writing a parameter file failed.
    #[error("i/o: {0}")]
    Io(String),
    /// An empty batch was given to `verify_batch`.
    #[error("empty batch")]
    EmptyBatch,
}

/// Result with [`ZkError`].
pub type Result<T> = core::result::Result<T, ZkError>;
