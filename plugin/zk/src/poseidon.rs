//! Poseidon over BN254 (t = 3, x^5, 8 full and 57 partial rounds, circomlib's constants) and the
//! sponge that commits a chunk's packed statement into one public input.
//!
//! The permutation is circomlib's: `Poseidon([a, b])` of circomlib/circomlibjs is
//! `permute([0, a, b])[0]` (tested against circomlibjs's vector for `[1, 2]`). Constants come
//! from the Poseidon paper's Grain LFSR ([`crate::poseidon_constants`]).
//!
//! [`commit`] absorbs `k` field elements two at a time: the state starts as `[k, 0, 0]`; for each
//! pair `(x_{2i}, x_{2i+1})` (a lone last element is paired with 0) it adds them to `state[1]`
//! and `state[2]` and permutes; the commitment is `state[0]`. `ceil(k/2)` permutations.

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};

use crate::poseidon_constants::{ARK, MDS};

/// Width of the permutation.
pub const WIDTH: usize = 3;
/// Full rounds (half before, half after the partial rounds).
pub const FULL_ROUNDS: usize = 8;
/// Partial rounds (S-box on the first element only).
pub const PARTIAL_ROUNDS: usize = 57;

/// Whether round `r` is a full round.
pub fn is_full_round(r: usize) -> bool {
    !(FULL_ROUNDS / 2..FULL_ROUNDS / 2 + PARTIAL_ROUNDS).contains(&r)
}

fn sbox(x: &mut Fr) {
    let x2 = x.square();
    let x4 = x2.square();
    *x *= x4;
}

/// The Poseidon permutation, in place.
pub fn permute(state: &mut [Fr; WIDTH]) {
    for (r, ark) in ARK.iter().enumerate() {
        for (s, c) in state.iter_mut().zip(ark) {
            *s += c;
        }
        if is_full_round(r) {
            state.iter_mut().for_each(sbox);
        } else {
            sbox(&mut state[0]);
        }
        let old = *state;
        for (s, row) in state.iter_mut().zip(&MDS) {
            // One lazy Montgomery reduction per row instead of three.
            *s = Fr::sum_of_products(row, &old);
        }
    }
}

/// The sponge commitment to `xs` (see the module docs).
pub fn commit(xs: &[Fr]) -> Fr {
    let mut state = [Fr::from(xs.len() as u64), Fr::ZERO, Fr::ZERO];
    for pair in xs.chunks(2) {
        state[1] += pair[0];
        if let Some(y) = pair.get(1) {
            state[2] += y;
        }
        permute(&mut state);
    }
    state[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::MontFp;

    #[test]
    fn matches_circomlib_poseidon_of_1_2() {
        let mut s = [Fr::ZERO, Fr::from(1u64), Fr::from(2u64)];
        permute(&mut s);
        let expected: Fr =
            MontFp!("7853200120776062878684798364095072458815029376092732009249414926327459813530");
        assert_eq!(s[0], expected);
    }

    #[test]
    fn constants_are_the_grain_lfsr_output() {
        let (ark, mds) = ark_crypto_primitives::sponge::poseidon::find_poseidon_ark_and_mds::<Fr>(
            254, 2, 8, 57, 0,
        );
        assert_eq!(ark.len(), ARK.len());
        for (a, b) in ark.iter().zip(&ARK) {
            assert_eq!(&a[..], &b[..]);
        }
        for (a, b) in mds.iter().zip(&MDS) {
            assert_eq!(&a[..], &b[..]);
        }
    }
}
