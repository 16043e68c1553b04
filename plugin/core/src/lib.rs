//! The part of ozkcp that the on-chain judge needs as much as the node does.
//!
//! Everything here compiles for `wasm32-unknown-unknown` without default features: the types and
//! their DAG-CBOR encodings, SHA-256 chaining values, ChaCha20 chunk encryption, the interval key
//! chain, per-chunk statements and their Merkle commitments, Filecoin secp256k1 signature checks and
//! hash-locked vouchers. The `std` feature adds what only a host has: OS randomness and signing keys.
//!
//! Data flows one way through the modules: [`block`] (CIDs) → [`chunk`] (chaining values) →
//! [`cipher`] (ciphertext) → [`statement`] and [`merkle`] (commitments) → [`voucher`] (payment)
//! → [`keys`] (the revealed key opens the ciphertext).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod block;
pub mod bytes;
pub mod chunk;
pub mod cipher;
pub mod deal;
pub mod encoding;
pub mod evidence;
pub mod keys;
pub mod merkle;
pub mod sig;
pub mod statement;
pub mod voucher;

pub use cid::Cid;
pub use fvm_shared::address::Address;
pub use fvm_shared::clock::ChainEpoch;
pub use fvm_shared::econ::TokenAmount;
