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

use crate::poseidon_constants::{ARK, MDS, OPTIMIZED};

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

/// Poseidon's partial rounds rewritten for speed (Poseidon paper, appendix B): the same
/// permutation with the round constants of a partial round moved onto its first element and its
/// dense MDS multiplication (9 multiplications) replaced by a sparse one (5).
///
/// Constants: in a partial round the S-box touches only `s0`, so the constants of `s1`, `s2`
/// can be added after it, that is, `M·(0, c1, c2)` added to the next round's constants.
/// Matrices: write a partial round's linear layer `N = [[a, bᵀ], [c, D]]` as `M''·M'` with
/// `M' = diag(1, D)` and `M'' = [[a, bᵀD⁻¹], [c, I]]`; `M'` leaves `s0` alone, so it commutes
/// with the round's constant and S-box and moves into the previous round's layer (`M'·M`),
/// from the last partial round back to the last full round before them.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimized {
    /// Round constants: full rows for full rounds, only `[0]` used in partial rounds.
    pub ark: [[Fr; WIDTH]; 65],
    /// The linear layer of the last full round before the partial rounds.
    pub pre: [[Fr; WIDTH]; WIDTH],
    /// Per partial round `(a, v1, v2, c1, c2)`: `s0' = a·s0 + v1·s1 + v2·s2`,
    /// `s1' = c1·s0 + s1`, `s2' = c2·s0 + s2`.
    pub sparse: [[Fr; 5]; PARTIAL_ROUNDS],
}

fn mat_mul(x: &[[Fr; WIDTH]; WIDTH], y: &[[Fr; WIDTH]; WIDTH]) -> [[Fr; WIDTH]; WIDTH] {
    core::array::from_fn(|i| core::array::from_fn(|j| (0..WIDTH).map(|k| x[i][k] * y[k][j]).sum()))
}

/// Derive [`Optimized`] from round constants and an MDS matrix (`None` if a block is singular).
pub fn optimize(ark: &[[Fr; WIDTH]; 65], mds: &[[Fr; WIDTH]; WIDTH]) -> Option<Optimized> {
    let first = FULL_ROUNDS / 2;
    let last = first + PARTIAL_ROUNDS; // first full round after the partial ones
    let mut ark = *ark;
    for r in first..last {
        let rest = [Fr::ZERO, ark[r][1], ark[r][2]];
        ark[r][1] = Fr::ZERO;
        ark[r][2] = Fr::ZERO;
        for (i, row) in mds.iter().enumerate() {
            ark[r + 1][i] += row[1] * rest[1] + row[2] * rest[2];
        }
    }
    let mut sparse = [[Fr::ZERO; 5]; PARTIAL_ROUNDS];
    let mut layer = *mds;
    for r in (first..last).rev() {
        let n = layer;
        let det = n[1][1] * n[2][2] - n[1][2] * n[2][1];
        let inv = det.inverse()?;
        let d_inv = [
            [n[2][2] * inv, -n[1][2] * inv],
            [-n[2][1] * inv, n[1][1] * inv],
        ];
        // vᵀ = bᵀ D⁻¹.
        let v1 = n[0][1] * d_inv[0][0] + n[0][2] * d_inv[1][0];
        let v2 = n[0][1] * d_inv[0][1] + n[0][2] * d_inv[1][1];
        sparse[r - first] = [n[0][0], v1, v2, n[1][0], n[2][0]];
        let m1 = [
            [Fr::ONE, Fr::ZERO, Fr::ZERO],
            [Fr::ZERO, n[1][1], n[1][2]],
            [Fr::ZERO, n[2][1], n[2][2]],
        ];
        layer = mat_mul(&m1, mds);
    }
    Some(Optimized {
        ark,
        pre: layer,
        sparse,
    })
}

/// The Poseidon permutation from [`Optimized`] constants (equal to [`permute`]).
pub fn permute_optimized(state: &mut [Fr; WIDTH], opt: &Optimized) {
    let first = FULL_ROUNDS / 2;
    let last = first + PARTIAL_ROUNDS;
    let full = |state: &mut [Fr; WIDTH], r: usize, m: &[[Fr; WIDTH]; WIDTH]| {
        for (s, c) in state.iter_mut().zip(&opt.ark[r]) {
            *s += c;
        }
        state.iter_mut().for_each(sbox);
        let old = *state;
        for (s, row) in state.iter_mut().zip(m) {
            *s = Fr::sum_of_products(row, &old);
        }
    };
    for r in 0..first {
        full(state, r, if r + 1 == first { &opt.pre } else { &MDS });
    }
    for (r, sp) in (first..last).zip(&opt.sparse) {
        state[0] += opt.ark[r][0];
        sbox(&mut state[0]);
        let s0 = state[0];
        state[0] = Fr::sum_of_products(&[sp[0], sp[1], sp[2]], state);
        state[1] += sp[3] * s0;
        state[2] += sp[4] * s0;
    }
    for r in last..ARK.len() {
        full(state, r, &MDS);
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
        permute_optimized(&mut state, &OPTIMIZED);
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
    fn optimized_permutation_is_the_permutation() {
        let opt = optimize(&ARK, &MDS).unwrap();
        assert_eq!(opt, OPTIMIZED, "regenerate src/poseidon_constants.rs");
        let mut rng = ark_std::test_rng();
        for _ in 0..20 {
            let mut a: [Fr; WIDTH] = core::array::from_fn(|_| ark_ff::UniformRand::rand(&mut rng));
            let mut b = a;
            permute(&mut a);
            permute_optimized(&mut b, &opt);
            assert_eq!(a, b);
        }
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
