//! `zk` mode: a Groth16 proof for every chunk, from the statement the chunk already carries.
//!
//! The bridge between statements ([`ozkcp_core::statement::Statement`]) and the circuit's public
//! side ([`ozkcp_zk::ChunkPublic`]) lives in `ozkcp_zk::statement`, once: the provider proves
//! through it, the client verifies through it, and [`ZkVerifier`] answers the judge's
//! [`ProofVerifier`] trait with the same code the judge actor runs in Wasm.
//! The chain-link constraint is not used yet (circuits are built without `link`).

use ozkcp_core::bytes::Bytes32;
use ozkcp_core::cipher::decrypt_chunk;
use ozkcp_core::deal::DealTerms;
use ozkcp_core::evidence::{proof_digest, ProofRejected, ProofVerifier};
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::statement::Statement;
use ozkcp_zk::{
    circuit_id, proof_from_bytes, proof_to_bytes, prove_chunks, verify_batch, ChunkProver,
    ChunkPublic, ChunkWitness, CircuitShape, PreparedKey, ProvingKey, VerifyingKey, ZkError,
};

use std::sync::Arc;

use crate::IntervalBundle;

pub use ozkcp_zk::chunk_public;

/// Verifies chunk proofs of one circuit: the client before paying, the judge on a dispute.
#[derive(Clone, Debug)]
pub struct ZkVerifier {
    key: PreparedKey,
}

impl ZkVerifier {
    /// A verifier for chunk size `chunk_size` from its verifying key.
    pub fn new(chunk_size: u32, vk: &VerifyingKey) -> Result<Self, ZkError> {
        let shape = CircuitShape::new(chunk_size as usize, false)?;
        Ok(ZkVerifier {
            key: PreparedKey::new(shape, vk)?,
        })
    }

    /// The circuit id (SHA-256 of the verifying key) deals name.
    pub fn circuit_id(&self) -> Bytes32 {
        Bytes32(self.key.circuit_id())
    }

    /// The compressed verifying key, as the judge actor's `RegisterVerifyingKey` takes it.
    pub fn verifying_key_bytes(&self) -> Vec<u8> {
        ozkcp_zk::vk_to_bytes(self.key.verifying_key())
    }

    /// Checks every chunk of `bundle`: a proof is present, its digest is the one stated, and all
    /// proofs verify together (one random linear combination for the whole interval).
    pub fn verify_interval(&self, bundle: &IntervalBundle) -> Result<(), ProofRejected> {
        let mut items = Vec::with_capacity(bundle.chunks.len());
        for c in &bundle.chunks {
            let s = &c.statement;
            let proof = c
                .proof
                .as_ref()
                .ok_or_else(|| ProofRejected::Invalid(format!("chunk {} has no proof", s.index)))?;
            if s.proof_digest != Some(proof_digest(proof)) {
                return Err(ProofRejected::Invalid(format!(
                    "chunk {}: the proof is not the one its statement names",
                    s.index
                )));
            }
            let proof =
                proof_from_bytes(proof).map_err(|e| ProofRejected::Invalid(e.to_string()))?;
            items.push((chunk_public(s, &c.ciphertext), proof));
        }
        verify_batch(&self.key, &items).map_err(|e| ProofRejected::Invalid(e.to_string()))
    }
}

/// The judge's check, with this verifier's key (the same code the judge actor runs).
impl ProofVerifier for ZkVerifier {
    fn verify_chunk_proof(
        &self,
        terms: &DealTerms,
        statement: &Statement,
        ciphertext: &[u8],
        proof: &[u8],
    ) -> Result<(), ProofRejected> {
        self.key
            .verify_chunk_proof(terms, statement, ciphertext, proof)
    }
}

/// The provider's side: proves chunks of one circuit.
#[derive(Debug)]
pub struct ZkProver {
    prover: ChunkProver,
}

impl ZkProver {
    /// A prover for chunk size `chunk_size` from its proving key.
    pub fn new(chunk_size: u32, pk: ProvingKey) -> Result<Self, ZkError> {
        let shape = CircuitShape::new(chunk_size as usize, false)?;
        Ok(ZkProver {
            prover: ChunkProver::new(shape, pk)?,
        })
    }

    /// The underlying chunk prover (hosts that prove single `ChunkPublic`s, e.g. the C ABI,
    /// share it instead of building the constraint matrices twice).
    pub fn chunk_prover(&self) -> &ChunkProver {
        &self.prover
    }

    /// Proves every chunk of `bundle` (in parallel) under interval key `key`, and records each
    /// proof and its digest in the chunk and its statement. The caller re-signs the interval.
    pub fn prove_interval(
        &self,
        bundle: &mut IntervalBundle,
        key: &IntervalKey,
    ) -> Result<(), ZkError> {
        let items: Vec<(ChunkPublic, ChunkWitness)> = bundle
            .chunks
            .iter()
            .map(|c| {
                let mut plaintext = c.ciphertext.clone();
                decrypt_chunk(key, c.statement.index, &mut plaintext);
                (
                    chunk_public(&c.statement, &c.ciphertext),
                    ChunkWitness {
                        key: *key.expose(),
                        plaintext,
                    },
                )
            })
            .collect();
        let proofs = prove_chunks(&self.prover, &items, &mut rand::rngs::OsRng);
        for (c, proof) in bundle.chunks.iter_mut().zip(proofs) {
            let bytes = proof_to_bytes(&proof?);
            c.statement.proof_digest = Some(proof_digest(&bytes));
            c.proof = Some(bytes.into());
        }
        Ok(())
    }
}

/// A circuit's prover and verifier, as a node that both serves and retrieves holds them.
#[derive(Clone, Debug)]
pub struct ZkKeys {
    /// The prover (shared: it holds the proving key and the constraint matrices).
    pub prover: Arc<ZkProver>,
    /// The verifier.
    pub verifier: ZkVerifier,
}

/// A fresh single-party setup for chunk size `chunk_size`: for devnets and tests only (whoever
/// ran it could forge proofs).
pub fn dev_setup(chunk_size: u32) -> Result<ZkKeys, ZkError> {
    let shape = CircuitShape::new(chunk_size as usize, false)?;
    let (pk, vk) = ozkcp_zk::setup(shape, &mut rand::rngs::OsRng)?;
    let verifier = ZkVerifier::new(chunk_size, &vk)?;
    debug_assert_eq!(verifier.circuit_id().0, circuit_id(&vk));
    Ok(ZkKeys {
        prover: Arc::new(ZkProver::new(chunk_size, pk)?),
        verifier,
    })
}
