//! The Poseidon permutation and commitment sponge of [`crate::poseidon`] as constraints.
//!
//! An S-box `x^5` costs three constraints (`x·x`, `x²·x²`, `x⁴·x`); round constants and the MDS
//! mix are linear, so they stay inside linear combinations. One permutation is
//! `3·(8·3 + 57) = 243` constraints ([`PERMUTE_CONSTRAINTS`]).

use ark_bn254::Fr;
use ark_ff::AdditiveGroup;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError, Variable};

use super::bits::{Lc, Result};
use crate::poseidon::{is_full_round, WIDTH};
use crate::poseidon_constants::{ARK, MDS};

/// Constraints of one permutation (pinned by a test).
pub const PERMUTE_CONSTRAINTS: usize = 243;

/// A field element as a linear combination with its (prover-side) value.
#[derive(Clone, Debug)]
pub struct FpLc {
    /// The linear combination.
    pub lc: Lc,
    /// Its value, when proving.
    pub value: Option<Fr>,
}

impl FpLc {
    /// The constant `c`.
    pub fn constant(c: Fr) -> Self {
        FpLc {
            lc: Lc::from((c, Variable::One)),
            value: Some(c),
        }
    }

    fn add_const(&mut self, c: Fr) {
        self.lc = core::mem::take(&mut self.lc) + (c, Variable::One);
        self.value = self.value.map(|v| v + c);
    }

    /// `self + other`.
    pub fn add(&self, other: &FpLc) -> FpLc {
        let mut lc = self.lc.clone() + &other.lc;
        lc.compactify();
        FpLc {
            lc,
            value: self.value.zip(other.value).map(|(a, b)| a + b),
        }
    }
}

fn mul(cs: &ConstraintSystemRef<Fr>, a: &FpLc, b: &FpLc) -> Result<FpLc> {
    let value = a.value.zip(b.value).map(|(x, y)| x * y);
    let v = cs.new_witness_variable(|| value.ok_or(SynthesisError::AssignmentMissing))?;
    cs.enforce_r1cs_constraint(|| a.lc.clone(), || b.lc.clone(), || v.into())?;
    Ok(FpLc {
        lc: v.into(),
        value,
    })
}

fn sbox(cs: &ConstraintSystemRef<Fr>, x: &FpLc) -> Result<FpLc> {
    let x2 = mul(cs, x, x)?;
    let x4 = mul(cs, &x2, &x2)?;
    mul(cs, &x4, x)
}

/// The permutation over linear combinations.
pub fn permute(cs: &ConstraintSystemRef<Fr>, state: [FpLc; WIDTH]) -> Result<[FpLc; WIDTH]> {
    let mut state = state;
    for (r, ark) in ARK.iter().enumerate() {
        for (s, c) in state.iter_mut().zip(ark) {
            s.add_const(*c);
        }
        if is_full_round(r) {
            for s in state.iter_mut() {
                *s = sbox(cs, s)?;
            }
        } else {
            state[0] = sbox(cs, &state[0])?;
        }
        state = core::array::from_fn(|i| {
            let mut lc = Lc::zero();
            let mut value = Some(Fr::ZERO);
            for (m, s) in MDS[i].iter().zip(&state) {
                lc.0.extend(s.lc.0.iter().map(|(c, v)| (*m * c, *v)));
                value = value.zip(s.value).map(|(acc, x)| acc + *m * x);
            }
            lc.compactify();
            FpLc { lc, value }
        });
    }
    Ok(state)
}

/// The sponge commitment ([`crate::poseidon::commit`]) over linear combinations.
pub fn commit(cs: &ConstraintSystemRef<Fr>, xs: &[FpLc]) -> Result<FpLc> {
    let mut state = [
        FpLc::constant(Fr::from(xs.len() as u64)),
        FpLc::constant(Fr::ZERO),
        FpLc::constant(Fr::ZERO),
    ];
    for pair in xs.chunks(2) {
        state[1] = state[1].add(&pair[0]);
        if let Some(y) = pair.get(1) {
            state[2] = state[2].add(y);
        }
        state = permute(cs, state)?;
    }
    let [out, _, _] = state;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{Field, UniformRand};
    use ark_relations::gr1cs::ConstraintSystem;
    use rand::SeedableRng;

    fn alloc(cs: &ConstraintSystemRef<Fr>, x: Fr) -> FpLc {
        let v = cs.new_witness_variable(|| Ok(x)).unwrap();
        FpLc {
            lc: v.into(),
            value: Some(x),
        }
    }

    #[test]
    fn gadget_matches_native_and_pins_cost() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let x: [Fr; 3] = core::array::from_fn(|_| Fr::rand(&mut rng));
        let state = x.map(|v| alloc(&cs, v));
        let out = permute(&cs, state).unwrap();
        assert_eq!(cs.num_constraints(), PERMUTE_CONSTRAINTS);
        assert!(cs.is_satisfied().unwrap());
        let mut expect = x;
        crate::poseidon::permute(&mut expect);
        for (o, e) in out.iter().zip(&expect) {
            assert_eq!(o.value, Some(*e));
        }
    }

    #[test]
    fn commit_matches_native() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for k in [1usize, 2, 5] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let xs: Vec<Fr> = (0..k).map(|_| Fr::rand(&mut rng)).collect();
            let lcs: Vec<FpLc> = xs.iter().map(|x| alloc(&cs, *x)).collect();
            let out = commit(&cs, &lcs).unwrap();
            assert_eq!(cs.num_constraints(), k.div_ceil(2) * PERMUTE_CONSTRAINTS);
            assert!(cs.is_satisfied().unwrap());
            assert_eq!(out.value, Some(crate::poseidon::commit(&xs)));
            // A wrong claimed output does not satisfy.
            let wrong = cs
                .new_input_variable(|| Ok(out.value.unwrap() + Fr::ONE))
                .unwrap();
            cs.enforce_r1cs_constraint(
                || out.lc.clone() - wrong,
                || Variable::One.into(),
                Lc::zero,
            )
            .unwrap();
            assert!(!cs.is_satisfied().unwrap());
        }
    }
}
