//! zk mode of ozkcp: Groth16 (BN254) proofs that one chunk's ciphertext, lock and SHA-256
//! chaining values fit together.
//!
//! For a chunk of a block, the provider proves knowledge of the interval key `K` and the
//! plaintext `m` with
//! `c = ChaCha20_K(index, m)`, `L = SHA256(K)`, `compress*(h_in, m [‖ padding]) = h_out`, and,
//! in circuits with `link` when the statement carries it, `L_prev = SHA256(SHA256(TAG ‖ K))`.
//! One circuit per [`CircuitShape`] (chunk size `S`, link or not) serves every chunk: final
//! chunks of any length, with SHA-256 padding for the whole block, use the same circuit.
//!
//! The pipeline, one module per stage (as in arkworks' groth16):
//! [`types`] (statement and witness) → [`native`] (the relation in plain Rust) →
//! [`gadgets`] and [`circuit`] (the R1CS) → [`generator`] (setup) → [`prover`] →
//! [`packing`] and [`poseidon`] (public input) → [`verifier`]; [`params`] encodes keys and
//! proofs (and reads/writes the parameter directories of `ozkcp params generate`), [`snarkjs`]
//! exports them for third-party verifiers (`ozkcp proof export`).
//!
//! Use: `let (pk, vk) = setup(shape, rng)?; let prover = ChunkProver::new(shape, pk)?;`
//! then [`prove_chunk`]`(&prover, &public, &witness, rng)` for each chunk (or
//! [`prove_chunks`] in parallel), and `PreparedKey::new(shape, &vk)?` with [`verify_chunk`] or
//! [`verify_batch`] on the other side. A [`ChunkProver`] builds the circuit's matrices once;
//! keep it for every proof of a deal.
//!
//! Public input: **one** field element, the Poseidon ([`poseidon`], circomlib's BN254
//! parameters) sponge commitment to the statement packed 31 bytes per scalar (see [`packing`]
//! for the exact layout). The verifier recomputes it natively, so verification costs one
//! scalar multiplication for inputs whatever `S` is.
//!
//! Features: `prover` (default) adds circuit, setup and proving (rayon). Without default features
//! the crate is the verifier the judge actor runs in `wasm32-unknown-unknown`: packing,
//! key/proof decoding, `verify_chunk`, `verify_batch`.
//!
//! Parameters from [`generator::setup`] are single-party: **for devnets and tests only**.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
#![allow(clippy::manual_is_multiple_of)]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod error;
pub mod native;
pub mod packing;
pub mod params;
pub mod poseidon;
#[rustfmt::skip]
pub mod poseidon_constants;
pub mod statement;
pub mod types;
pub mod verifier;

#[cfg(feature = "prover")]
pub mod circuit;
#[cfg(feature = "prover")]
pub mod gadgets;
#[cfg(feature = "prover")]
pub mod generator;
#[cfg(feature = "prover")]
mod msm;
#[cfg(feature = "prover")]
pub mod prover;
#[cfg(feature = "std")]
pub mod snarkjs;

pub use error::{Result, ZkError};
pub use packing::{num_public_inputs, public_inputs};
pub use params::{
    circuit_id, pk_from_bytes, pk_to_bytes, proof_from_bytes, proof_to_bytes, vk_from_bytes,
    vk_to_bytes, CircuitId, Proof, ProvingKey, VerifyingKey,
};
#[cfg(feature = "std")]
pub use params::{read_params_pk, read_params_vk, write_params_dir, ParamsManifest};
pub use statement::chunk_public;
pub use types::{ChunkPublic, ChunkWitness, CircuitShape};
pub use verifier::{verify_batch, verify_chunk, verify_inputs, PreparedKey};

#[cfg(feature = "prover")]
pub use circuit::{circuit_info, CircuitInfo, PartCounts};
#[cfg(feature = "prover")]
pub use generator::setup;
#[cfg(feature = "prover")]
pub use prover::{prove_chunk, prove_chunks, ChunkProver, ProveTimings};
