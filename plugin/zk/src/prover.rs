//! Proving chunks.
//!
//! The Groth16 prover of `ark-groth16`, rearranged for one circuit proven many times:
//! - the constraint matrices are built once per key ([`ChunkProver::new`]); each proof only runs
//!   the circuit in witness mode (no linear combinations kept, no matrices);
//! - the QAP witness map evaluates `A·z` and `B·z` with shortcuts for 0/1 values (most of the
//!   witness is bits) and takes `C·z = (A·z)∘(B·z)` on the constraint rows instead of a third
//!   matrix product;
//! - the `H` MSM (full-size scalars) uses batch-affine buckets ([`crate::msm`]); the `A`, `B`,
//!   `L` MSMs (mostly 0/1 scalars) are arkworks', which adds up bases with 0/1 scalars instead
//!   of multiplying them.
//!
//! The proof is the same as `Groth16::<Bn254>::create_random_proof_with_reduction`'s (libsnark
//! reduction, radix-2 domain of size `≥ constraints + inputs`), so any Groth16 verifier checks it.

use std::time::{Duration, Instant};

use ark_bn254::{Fr, G1Projective, G2Projective};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{FftField, Field, One, PrimeField, UniformRand, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, Matrix, OptimizationGoal, SynthesisMode,
    R1CS_PREDICATE_LABEL,
};
use ark_std::rand::{rngs::StdRng, CryptoRng, RngCore, SeedableRng};
use rayon::prelude::*;

use crate::circuit::ChunkCircuit;
use crate::error::{Result, ZkError};
use crate::native::check_instance;
use crate::params::{Proof, ProvingKey};
use crate::types::{ChunkPublic, ChunkWitness, CircuitShape};

/// A proving key with the circuit's constraint matrices, built once and reused for every proof.
pub struct ChunkProver {
    shape: CircuitShape,
    pk: ProvingKey,
    a: Matrix<Fr>,
    b: Matrix<Fr>,
    num_instance: usize,
    num_witness: usize,
    domain: Radix2EvaluationDomain<Fr>,
}

/// Where the time of one proof went (for benchmarks).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProveTimings {
    /// Running the circuit in witness mode.
    pub witness: Duration,
    /// `A·z`, `B·z` and `C·z` on the constraint rows.
    pub evaluate: Duration,
    /// The seven FFTs of the QAP witness map and the division by the vanishing polynomial.
    pub fft: Duration,
    /// The MSM over the `H` query (full-size scalars).
    pub msm_h: Duration,
    /// The MSMs over the `A`, `B` (G1 and G2) and `L` queries (mostly 0/1 scalars).
    pub msm_abl: Duration,
}

impl core::fmt::Debug for ChunkProver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChunkProver")
            .field("shape", &self.shape)
            .field("constraints", &self.a.len())
            .field("num_instance", &self.num_instance)
            .field("num_witness", &self.num_witness)
            .finish()
    }
}

impl ChunkProver {
    /// Build the matrices of `shape`'s circuit for `pk` (checks that they fit the key).
    pub fn new(shape: CircuitShape, pk: ProvingKey) -> Result<Self> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Setup);
        ChunkCircuit::blank(shape)
            .generate_constraints(cs.clone())
            .map_err(|e| ZkError::Synthesis(e.to_string()))?;
        cs.finalize();
        let mut m = cs
            .to_matrices()
            .map_err(|e| ZkError::Synthesis(e.to_string()))?
            .remove(R1CS_PREDICATE_LABEL)
            .ok_or_else(|| ZkError::Synthesis("no R1CS matrices".into()))?;
        if m.len() != 3 {
            return Err(ZkError::Synthesis("expected three R1CS matrices".into()));
        }
        m.truncate(2);
        let b = m.pop().unwrap_or_default();
        let a = m.pop().unwrap_or_default();
        let num_instance = cs.num_instance_variables();
        let num_witness = cs.num_witness_variables();
        let domain = Radix2EvaluationDomain::<Fr>::new(a.len() + num_instance)
            .ok_or_else(|| ZkError::Synthesis("circuit too large for the domain".into()))?;
        // The key must be this circuit's: one A query point per variable, one H point per
        // domain element but the last.
        if pk.a_query.len() != num_instance + num_witness
            || pk.b_g2_query.len() != num_instance + num_witness
            || pk.l_query.len() != num_witness
            || pk.h_query.len() != domain.size() - 1
            || pk.vk.gamma_abc_g1.len() != num_instance
        {
            return Err(ZkError::Decode("proving key (does not fit the circuit)"));
        }
        Ok(ChunkProver {
            shape,
            pk,
            a,
            b,
            num_instance,
            num_witness,
            domain,
        })
    }

    /// The shape.
    pub fn shape(&self) -> CircuitShape {
        self.shape
    }

    /// The proving key.
    pub fn proving_key(&self) -> &ProvingKey {
        &self.pk
    }

    /// Prove one chunk, reporting where the time went.
    pub fn prove_timed<R: RngCore + CryptoRng>(
        &self,
        public: &ChunkPublic,
        witness: &ChunkWitness,
        rng: &mut R,
    ) -> Result<(Proof, ProveTimings)> {
        check_instance(&self.shape, public, witness)?;
        let mut tm = ProveTimings::default();
        let t = Instant::now();
        let z = self.assignment(public, witness)?;
        tm.witness = t.elapsed();
        let h = self.witness_map(&z, &mut tm);
        let r = Fr::rand(rng);
        let s = Fr::rand(rng);
        Ok((self.msms(&z, &h, r, s, &mut tm), tm))
    }

    /// The full assignment `z = (1, inputs, witness)`, from running the circuit in witness mode.
    fn assignment(&self, public: &ChunkPublic, witness: &ChunkWitness) -> Result<Vec<Fr>> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Prove {
            construct_matrices: false,
            generate_lc_assignments: false,
        });
        ChunkCircuit::new(self.shape, public, witness)
            .generate_constraints(cs.clone())
            .map_err(|e| ZkError::Synthesis(e.to_string()))?;
        let x = cs
            .instance_assignment()
            .map_err(|e| ZkError::Synthesis(e.to_string()))?;
        let w = cs
            .witness_assignment()
            .map_err(|e| ZkError::Synthesis(e.to_string()))?;
        if x.len() != self.num_instance || w.len() != self.num_witness {
            return Err(ZkError::Synthesis(
                "assignment does not fit the matrices".into(),
            ));
        }
        Ok([x, w].concat())
    }

    /// The coefficients of `h = (A(X)B(X) - C(X)) / Z(X)` (libsnark's reduction).
    fn witness_map(&self, z: &[Fr], tm: &mut ProveTimings) -> Vec<Fr> {
        let t = Instant::now();
        let n = self.domain.size();
        let m = self.a.len();
        let mut a = vec![Fr::zero(); n];
        let mut b = vec![Fr::zero(); n];
        a[..m]
            .par_iter_mut()
            .zip(b[..m].par_iter_mut())
            .zip(self.a.par_iter().zip(self.b.par_iter()))
            .for_each(|((a, b), (ra, rb))| {
                *a = evaluate(ra, z);
                *b = evaluate(rb, z);
            });
        // The input rows of the libsnark reduction: A = x_i, B = C = 0.
        a[m..m + self.num_instance].copy_from_slice(&z[..self.num_instance]);
        // A satisfied R1CS has C·z = (A·z)∘(B·z) on every constraint row.
        let mut c = vec![Fr::zero(); n];
        c[..m]
            .par_iter_mut()
            .zip(a[..m].par_iter().zip(b[..m].par_iter()))
            .for_each(|(c, (a, b))| *c = *a * b);
        tm.evaluate = t.elapsed();

        let t = Instant::now();
        let coset = self
            .domain
            .get_coset(Fr::GENERATOR)
            .expect("the radix-2 domain has a coset");
        for v in [&mut a, &mut b, &mut c] {
            self.domain.ifft_in_place(v);
            coset.fft_in_place(v);
        }
        let zinv = self
            .domain
            .evaluate_vanishing_polynomial(Fr::GENERATOR)
            .inverse()
            .expect("the generator is outside the domain");
        a.par_iter_mut()
            .zip(b.par_iter())
            .zip(c.par_iter())
            .for_each(|((a, b), c)| {
                *a *= b;
                *a -= c;
                *a *= zinv;
            });
        drop((b, c));
        coset.ifft_in_place(&mut a);
        tm.fft = t.elapsed();
        a
    }

    /// Groth16's `A`, `B` and `C` from the assignment and `h`.
    fn msms(&self, z: &[Fr], h: &[Fr], r: Fr, s: Fr, tm: &mut ProveTimings) -> Proof {
        let pk = &self.pk;
        let t = Instant::now();
        let hb = crate::msm::bigints(&h[..pk.h_query.len()]);
        let h_acc = crate::msm::msm(&pk.h_query, &hb);
        drop(hb);
        tm.msm_h = t.elapsed();

        let t = Instant::now();
        let zb: Vec<_> = z[1..].par_iter().map(|x| x.into_bigint()).collect();
        let aux = &zb[self.num_instance - 1..];
        let l_acc = G1Projective::msm_bigint(&pk.l_query, aux);
        let a_acc = G1Projective::msm_bigint(&pk.a_query[1..], &zb);
        let b1_acc = G1Projective::msm_bigint(&pk.b_g1_query[1..], &zb);
        let b2_acc = G2Projective::msm_bigint(&pk.b_g2_query[1..], &zb);
        tm.msm_abl = t.elapsed();

        let g_a = pk.delta_g1 * r + a_acc + pk.a_query[0] + pk.vk.alpha_g1;
        let g1_b = pk.delta_g1 * s + b1_acc + pk.b_g1_query[0] + pk.beta_g1;
        let g2_b = pk.vk.delta_g2 * s + b2_acc + pk.b_g2_query[0] + pk.vk.beta_g2;
        let g_c = g_a * s + g1_b * r - pk.delta_g1 * (r * s) + l_acc + h_acc;
        Proof {
            a: g_a.into_affine(),
            b: g2_b.into_affine(),
            c: g_c.into_affine(),
        }
    }
}

/// `row · z`, skipping zeros and multiplying only where neither side is 1 (most of `z` is bits,
/// most coefficients are ±1).
fn evaluate(row: &[(Fr, usize)], z: &[Fr]) -> Fr {
    let mut acc = Fr::zero();
    for (coeff, i) in row {
        let v = &z[*i];
        if v.is_zero() {
            continue;
        }
        if v.is_one() {
            acc += coeff;
        } else if coeff.is_one() {
            acc += v;
        } else {
            acc += *coeff * v;
        }
    }
    acc
}

/// Prove one chunk. The instance is first checked natively, so a wrong witness is an error
/// rather than a proof that does not verify.
pub fn prove_chunk<R: RngCore + CryptoRng>(
    prover: &ChunkProver,
    public: &ChunkPublic,
    witness: &ChunkWitness,
    rng: &mut R,
) -> Result<Proof> {
    prover.prove_timed(public, witness, rng).map(|(p, _)| p)
}

/// Prove many chunks in parallel (rayon), each with its own randomness drawn from `rng`.
pub fn prove_chunks<R: RngCore + CryptoRng>(
    prover: &ChunkProver,
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
        .map(|((p, w), seed)| prove_chunk(prover, p, w, &mut StdRng::from_seed(seed)))
        .collect()
}
