//! The devnet's error type.

use cid::Cid;
use fvm_shared::address::Address;

use crate::json::addr_str;

/// Everything the devnet can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The message's signature does not verify against its `From` address.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// The message's nonce is not the sender's next nonce.
    #[error("wrong nonce for {}: expected {expected}, got {got}", addr_str(from))]
    WrongNonce {
        /// The sender.
        from: Address,
        /// The sender's next nonce on chain.
        expected: u64,
        /// The message's nonce.
        got: u64,
    },
    /// The sender is not an account on chain.
    #[error("unknown sender {}", addr_str(.0))]
    UnknownSender(Address),
    /// The message breaks a mempool rule (size, gas, version, premium…).
    #[error("message rejected: {0}")]
    Rejected(String),
    /// No receipt for this message CID (yet).
    #[error("message {0} not found")]
    MessageNotFound(Cid),
    /// No actor at this address.
    #[error("actor {} not found", addr_str(.0))]
    ActorNotFound(Address),
    /// An actor's constructor failed while installing it.
    #[error("actor install failed: exit code {code}: {message}")]
    InstallFailed {
        /// Exit code of the constructor.
        code: u32,
        /// Failure info from the FVM.
        message: String,
    },
    /// Bad input (address, CID, base64, JSON…).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// (De)serialisation of CBOR failed.
    #[error("encoding: {0}")]
    Encoding(String),
    /// The on-disk store failed.
    #[error("store: {0}")]
    Store(String),
    /// The FVM itself failed (a fatal engine error, not an exit code).
    #[error("fvm: {0}")]
    Fvm(String),
    /// I/O error (directory, socket).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<fvm_ipld_encoding::Error> for DevnetError {
    fn from(e: fvm_ipld_encoding::Error) -> Self {
        DevnetError::Encoding(e.to_string())
    }
}

/// Shorthand for the FVM's anyhow errors.
pub(crate) fn fvm_err(e: impl std::fmt::Display) -> DevnetError {
    DevnetError::Fvm(e.to_string())
}
