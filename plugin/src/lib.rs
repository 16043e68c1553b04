//! ozkcp: fair-exchange retrieval ("optimistic ZKCP") for Filecoin-style nodes.
//!
//! A provider cuts each requested block into chunks, encrypts every chunk under its payment
//! interval's key, and states for each chunk how it decrypts into the block's SHA-256 chain; it
//! signs one Merkle root of statements per interval. The client checks everything it can before
//! paying, pays each interval with a voucher locked by the hash of its key, and checks the
//! plaintext against every CID once the key is revealed.
//!
//! This crate is the host side: [`payload`] turns a file into blocks, [`provider`] and
//! [`client`] run the data path of a deal. The wasm-compatible parts (types, encodings, checks)
//! live in [`ozkcp_core`], re-exported here as [`core`].
#![deny(missing_docs)]

pub use ozkcp_core as core;

pub mod client;
pub mod local;
pub mod payload;
pub mod provider;

/// One chunk as it travels from provider to client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EncryptedChunk {
    /// The provider's statement about it.
    pub statement: ozkcp_core::statement::Statement,
    /// The ciphertext.
    #[serde(with = "fvm_ipld_encoding::strict_bytes")]
    pub ciphertext: Vec<u8>,
}

/// Everything the provider sends for one payment interval.
///
/// No Merkle paths travel with the chunks: the client receives every statement of the interval,
/// rebuilds the tree (about one hash per chunk, against a dozen per chunk to check paths one by
/// one) and derives any path it needs as evidence from its own tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntervalBundle {
    /// The signed root over the interval's statements.
    pub commitment: ozkcp_core::statement::SignedIntervalCommitment,
    /// The interval's chunks in index order.
    pub chunks: Vec<EncryptedChunk>,
}
