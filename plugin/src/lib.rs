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

mod bundle;
pub mod client;
pub mod driver;
pub mod fsm;
pub mod local;
pub mod messages;
pub mod node;
pub mod payload;
pub mod provider;
pub mod zk;

pub use bundle::{EncryptedChunk, IntervalBundle};
