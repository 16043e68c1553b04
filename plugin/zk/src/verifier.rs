//! Verifying chunk proofs: one at a time, or many of one circuit with a single multi-pairing.

use alloc::{vec, vec::Vec};
use ark_bn254::{Bn254, Fr, G1Affine, G1Projective};
use ark_ec::{pairing::Pairing, AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{AdditiveGroup, Field, PrimeField};
use ark_groth16::{Groth16, PreparedVerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Result, ZkError};
use crate::packing::{num_public_inputs, public_inputs};
use crate::params::{circuit_id, proof_to_bytes, Proof, VerifyingKey};
use crate::types::{ChunkPublic, CircuitShape};

/// A verifying key prepared once for many verifications, with the shape it belongs to.
#[derive(Clone, Debug)]
pub struct PreparedKey {
    shape: CircuitShape,
    pvk: PreparedVerifyingKey<Bn254>,
    id: [u8; 32],
}

impl PreparedKey {
    /// Prepare `vk` for `shape`, checking that it takes the shape's number of public inputs.
    pub fn new(shape: CircuitShape, vk: &VerifyingKey) -> Result<Self> {
        let expected = num_public_inputs(&shape);
        if vk.gamma_abc_g1.len() != expected + 1 {
            return Err(ZkError::PublicInputLength {
                expected,
                got: vk.gamma_abc_g1.len().saturating_sub(1),
            });
        }
        Ok(PreparedKey {
            shape,
            pvk: ark_groth16::prepare_verifying_key(vk),
            id: circuit_id(vk),
        })
    }

    /// The shape.
    pub fn shape(&self) -> CircuitShape {
        self.shape
    }

    /// The circuit id of the key.
    pub fn circuit_id(&self) -> [u8; 32] {
        self.id
    }

    /// The verifying key itself (e.g. to register it with the judge actor).
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.pvk.vk
    }
}

/// Verify a proof against an already packed public input vector.
pub fn verify_inputs(key: &PreparedKey, inputs: &[Fr], proof: &Proof) -> Result<()> {
    let expected = key.pvk.vk.gamma_abc_g1.len() - 1;
    if inputs.len() != expected {
        return Err(ZkError::PublicInputLength {
            expected,
            got: inputs.len(),
        });
    }
    match Groth16::<Bn254>::verify_proof(&key.pvk, proof, inputs) {
        Ok(true) => Ok(()),
        _ => Err(ZkError::InvalidProof),
    }
}

/// Verify one chunk proof.
pub fn verify_chunk(key: &PreparedKey, public: &ChunkPublic, proof: &Proof) -> Result<()> {
    verify_inputs(key, &public_inputs(&key.shape, public)?, proof)
}

/// Verify many chunk proofs of one circuit at once: with random 128-bit `r_i` (derived by
/// hashing the key id, all proofs and all inputs), check
/// `Π e(r_i A_i, B_i) · e(-Σ r_i IC(x_i), γ) · e(-Σ r_i C_i, δ) = e(α, β)^{Σ r_i}`:
/// one multi-Miller loop of `n + 2` pairs and one final exponentiation. If it fails, some proof
/// is invalid (use [`verify_chunk`] to find which).
pub fn verify_batch(key: &PreparedKey, items: &[(ChunkPublic, Proof)]) -> Result<()> {
    // The commitments (Poseidon) dominate the per-proof cost: in parallel where rayon is.
    let inputs: Vec<Vec<Fr>> = par_map(items, |(p, _)| public_inputs(&key.shape, p))
        .into_iter()
        .collect::<Result<_>>()?;
    let proofs: Vec<&Proof> = items.iter().map(|(_, pr)| pr).collect();
    verify_batch_inputs(key, &inputs, &proofs)
}

/// [`verify_batch`] over packed public inputs.
pub fn verify_batch_inputs(key: &PreparedKey, inputs: &[Vec<Fr>], proofs: &[&Proof]) -> Result<()> {
    if proofs.is_empty() || inputs.len() != proofs.len() {
        return Err(ZkError::EmptyBatch);
    }
    let ic = &key.pvk.vk.gamma_abc_g1;
    let expected = ic.len() - 1;
    for x in inputs {
        if x.len() != expected {
            return Err(ZkError::PublicInputLength {
                expected,
                got: x.len(),
            });
        }
    }
    let r = batch_scalars(key, inputs, proofs);
    let r_sum: Fr = r.iter().sum();

    // Σ r_i IC(x_i) = IC_0 Σ r_i + Σ_j IC_j (Σ_i r_i x_ij): one MSM over the key, whatever n is.
    let mut agg = vec![Fr::ZERO; expected];
    for (x, ri) in inputs.iter().zip(&r) {
        for (a, xj) in agg.iter_mut().zip(x) {
            *a += *ri * xj;
        }
    }
    let acc_ic =
        G1Projective::msm_unchecked(&ic[1..], &agg) + ic[0].mul_bigint(r_sum.into_bigint());
    let cs: Vec<G1Affine> = proofs.iter().map(|p| p.c).collect();
    let acc_c = G1Projective::msm_unchecked(&cs, &r);
    // Per proof: r_i A_i (GLV) and the line coefficients of B_i, in parallel where rayon is.
    let pairs: Vec<(&Proof, Fr)> = proofs.iter().copied().zip(r).collect();
    let per_proof = par_map(&pairs, |(p, ri)| {
        let b: <Bn254 as Pairing>::G2Prepared = p.b.into();
        (p.a.mul_bigint(ri.into_bigint()), b)
    });
    let (scaled_a, mut g2): (Vec<G1Projective>, Vec<_>) = per_proof.into_iter().unzip();
    let mut g1: Vec<<Bn254 as Pairing>::G1Prepared> = G1Projective::normalize_batch(&scaled_a)
        .into_iter()
        .map(Into::into)
        .collect();
    g1.push(acc_ic.into_affine().into());
    g2.push(key.pvk.gamma_g2_neg_pc.clone());
    g1.push(acc_c.into_affine().into());
    g2.push(key.pvk.delta_g2_neg_pc.clone());
    let ml = Bn254::multi_miller_loop(g1, g2);
    let lhs = Bn254::final_exponentiation(ml).ok_or(ZkError::InvalidProof)?;
    let rhs = key.pvk.alpha_g1_beta_g2.pow(r_sum.into_bigint());
    if lhs.0 == rhs {
        Ok(())
    } else {
        Err(ZkError::InvalidProof)
    }
}

/// The batch's random scalars: 128-bit, from SHA-256 over the key id, every proof and input.
fn batch_scalars(key: &PreparedKey, inputs: &[Vec<Fr>], proofs: &[&Proof]) -> Vec<Fr> {
    let mut h = Sha256::new();
    h.update(b"ozkcp/zk/verify-batch/v1");
    h.update(key.id);
    for (x, p) in inputs.iter().zip(proofs) {
        h.update(proof_to_bytes(p));
        for xj in x {
            let mut buf = [0u8; 32];
            let b = xj.into_bigint();
            for (k, limb) in b.0.iter().enumerate() {
                buf[8 * k..8 * k + 8].copy_from_slice(&limb.to_le_bytes());
            }
            h.update(buf);
        }
    }
    let seed = h.finalize();
    (0..proofs.len() as u64)
        .map(|i| {
            let d = Sha256::new()
                .chain_update(seed)
                .chain_update(i.to_le_bytes())
                .finalize();
            let mut lo = [0u8; 16];
            lo.copy_from_slice(&d[..16]);
            // Never zero: a zero weight would drop a proof from the check.
            Fr::from(u128::from_le_bytes(lo) | 1)
        })
        .collect()
}

/// `xs.map(f)`, on rayon's threads when the crate has them (the prover feature), in order.
#[cfg(feature = "prover")]
fn par_map<T: Sync, U: Send>(xs: &[T], f: impl Fn(&T) -> U + Sync + Send) -> Vec<U> {
    use rayon::prelude::*;
    xs.par_iter().map(f).collect()
}

/// `xs.map(f)` (no threads: the Wasm verifier).
#[cfg(not(feature = "prover"))]
fn par_map<T, U>(xs: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    xs.iter().map(f).collect()
}
