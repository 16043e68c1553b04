//! The bridge from the protocol's chunk statements (`ozkcp-core`) to the circuit's public side,
//! and the judge's [`ProofVerifier`] over a prepared key.
//!
//! Kept here, once, so that the node (client and provider, through `ozkcp::zk`) and the judge
//! actor (in Wasm) map a statement to public inputs in exactly the same way.

use alloc::{format, string::ToString};
use ozkcp_core::deal::DealTerms;
use ozkcp_core::evidence::{ProofRejected, ProofVerifier};
use ozkcp_core::statement::Statement;

use crate::params::proof_from_bytes;
use crate::types::ChunkPublic;
use crate::verifier::{verify_chunk, PreparedKey};

/// The circuit's public side of a chunk, from its statement and ciphertext. Circuits are used
/// without the chain link (`lock_prev` is `None`).
pub fn chunk_public(statement: &Statement, ciphertext: &[u8]) -> ChunkPublic {
    ChunkPublic {
        index: statement.index,
        off: statement.offset,
        len: statement.len,
        final_chunk: statement.is_final(),
        h_in: statement.h_in.0,
        h_out: statement.h_out.0,
        lock: statement.lock.0,
        lock_prev: None,
        ciphertext: ciphertext.to_vec(),
    }
}

/// The judge's proof check with this key: the deal must name the key's circuit and chunk size
/// (otherwise the key cannot judge: [`ProofRejected::Unavailable`]), and the proof must verify
/// for the statement and ciphertext ([`ProofRejected::Invalid`] otherwise).
impl ProofVerifier for PreparedKey {
    fn verify_chunk_proof(
        &self,
        terms: &DealTerms,
        statement: &Statement,
        ciphertext: &[u8],
        proof: &[u8],
    ) -> Result<(), ProofRejected> {
        let p = &terms.proposal;
        if p.circuit_id.map(|c| c.0) != Some(self.circuit_id()) {
            return Err(ProofRejected::Unavailable(
                "no verifying key for the deal's circuit".to_string(),
            ));
        }
        if p.chunk_size as usize != self.shape().chunk_size {
            return Err(ProofRejected::Unavailable(format!(
                "the key is for {} B chunks, the deal uses {} B",
                self.shape().chunk_size,
                p.chunk_size
            )));
        }
        let proof = proof_from_bytes(proof).map_err(|e| ProofRejected::Invalid(e.to_string()))?;
        verify_chunk(self, &chunk_public(statement, ciphertext), &proof)
            .map_err(|e| ProofRejected::Invalid(e.to_string()))
    }
}
