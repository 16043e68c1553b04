//! What travels from provider to client for each chunk and interval.

use fvm_ipld_encoding::tuple::*;

/// One chunk as it travels from provider to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct EncryptedChunk {
    /// The provider's statement about it.
    pub statement: ozkcp_core::statement::Statement,
    /// The ciphertext.
    #[serde(with = "fvm_ipld_encoding::strict_bytes")]
    pub ciphertext: Vec<u8>,
    /// In `zk` mode, the chunk's Groth16 proof (its SHA-256 is the statement's `proof_digest`).
    pub proof: Option<fvm_ipld_encoding::RawBytes>,
}

/// Everything the provider sends for one payment interval.
///
/// No Merkle paths travel with the chunks: the client receives every statement of the interval,
/// rebuilds the tree (about one hash per chunk, against a dozen per chunk to check paths one by
/// one) and derives any path it needs as evidence from its own tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct IntervalBundle {
    /// The signed root over the interval's statements.
    pub commitment: ozkcp_core::statement::SignedIntervalCommitment,
    /// The interval's chunks in index order.
    pub chunks: Vec<EncryptedChunk>,
}
