//! Parameter generation.
//!
//! **A single-party setup is for devnets and tests only**: whoever ran it knows the toxic waste
//! and can forge proofs for any statement. Production parameters come from a multi-party
//! ceremony (e.g. a phase-2 on top of a powers-of-tau), and deals pin them by circuit id.

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_std::rand::{CryptoRng, RngCore};

use crate::circuit::ChunkCircuit;
use crate::error::{Result, ZkError};
use crate::params::{ProvingKey, VerifyingKey};
use crate::types::CircuitShape;

/// Generate Groth16 parameters for a shape (single-party: devnets and tests only).
pub fn setup<R: RngCore + CryptoRng>(
    shape: CircuitShape,
    rng: &mut R,
) -> Result<(ProvingKey, VerifyingKey)> {
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        ChunkCircuit::blank(shape),
        rng,
    )
    .map_err(|e| ZkError::Synthesis(e.to_string()))?;
    let vk = pk.vk.clone();
    Ok((pk, vk))
}
