//! Proving chunks.

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_std::rand::{rngs::StdRng, CryptoRng, RngCore, SeedableRng};
use rayon::prelude::*;

use crate::circuit::ChunkCircuit;
use crate::error::{Result, ZkError};
use crate::native::check_instance;
use crate::params::{Proof, ProvingKey};
use crate::types::{ChunkPublic, ChunkWitness, CircuitShape};

/// Prove one chunk. The instance is first checked natively, so a wrong witness is an error
/// rather than a proof that does not verify.
pub fn prove_chunk<R: RngCore + CryptoRng>(
    pk: &ProvingKey,
    shape: CircuitShape,
    public: &ChunkPublic,
    witness: &ChunkWitness,
    rng: &mut R,
) -> Result<Proof> {
    check_instance(&shape, public, witness)?;
    Groth16::<Bn254>::create_random_proof_with_reduction(
        ChunkCircuit::new(shape, public, witness),
        pk,
        rng,
    )
    .map_err(|e| ZkError::Synthesis(e.to_string()))
}

/// Prove many chunks in parallel (rayon), each with its own randomness drawn from `rng`.
pub fn prove_chunks<R: RngCore + CryptoRng>(
    pk: &ProvingKey,
    shape: CircuitShape,
    items: &[(ChunkPublic, ChunkWitness)],
    rng: &mut R,
) -> Vec<Result<Proof>> {
    let seeds: Vec<[u8; 32]> = items
        .iter()
        .map(|_| {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            s
        })
        .collect();
    items
        .par_iter()
        .zip(seeds)
        .map(|((p, w), seed)| prove_chunk(pk, shape, p, w, &mut StdRng::from_seed(seed)))
        .collect()
}
