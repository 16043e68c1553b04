//! Multi-scalar multiplication in G1 with batch-affine buckets, for the prover's `H` MSM (one
//! full-size scalar per domain point: the largest single cost of a proof).
//!
//! Pippenger with signed `c`-bit digits, windows in parallel, one bucket array per window. The
//! bucket additions run in affine coordinates, [`BATCH`] at a time, sharing one field inversion
//! (Montgomery's trick): about 6 base-field multiplications per addition instead of the 10 of
//! the extended-Jacobian mixed addition that arkworks' MSM uses. An addition whose bucket already
//! has one waiting in the batch, or whose two points share an x-coordinate (a doubling or a
//! cancellation, which the affine formula cannot do), goes to a per-bucket projective fallback
//! instead; the two are summed when the buckets are reduced. The result is the same group
//! element as `G1Projective::msm_bigint` (tested on random and adversarial inputs).

use ark_bn254::{Fq, Fr, G1Affine, G1Projective};
use ark_ec::{AdditiveGroup, AffineRepr};
use ark_ff::{Field, One, PrimeField, Zero};
use rayon::prelude::*;

/// Bucket additions per shared inversion.
const BATCH: usize = 512;

/// Scalars as `s + H` in five limbs, `H = Σ_w 2^(c·w + c - 1)`: window `w` of that is the signed
/// digit `d_w + 2^(c-1)` with `s = Σ_w d_w 2^(c·w)`, `d_w ∈ [-2^(c-1), 2^(c-1))`.
type Shifted = [u64; 5];

/// Window width for `n` points (minimises windows × (n + 2^c) with cheap bucket additions).
fn window_bits(n: usize) -> usize {
    let log = usize::BITS as usize - n.leading_zeros() as usize;
    log.saturating_sub(4).clamp(4, 16)
}

/// `Σ scalars[i] · bases[i]`.
pub(crate) fn msm(bases: &[G1Affine], scalars: &[<Fr as PrimeField>::BigInt]) -> G1Projective {
    let n = bases.len().min(scalars.len());
    if n == 0 {
        return G1Projective::zero();
    }
    let c = window_bits(n);
    // s + H < 2^(c·W) needs c·W >= 256 for s < 2^254.
    let windows = 256usize.div_ceil(c);
    let mut h = [0u64; 5];
    for w in 0..windows {
        let bit = c * w + c - 1;
        h[bit / 64] |= 1 << (bit % 64);
    }
    let shifted: Vec<Shifted> = scalars[..n]
        .par_iter()
        .map(|s| {
            let mut out = [0u64; 5];
            let mut carry = 0u128;
            for (k, o) in out.iter_mut().enumerate() {
                let limb = s.as_ref().get(k).copied().unwrap_or(0) as u128;
                let v = limb + h[k] as u128 + carry;
                *o = v as u64;
                carry = v >> 64;
            }
            out
        })
        .collect();
    let sums: Vec<G1Projective> = (0..windows)
        .into_par_iter()
        .map(|w| window_sum(&bases[..n], &shifted, w, c))
        .collect();
    let mut acc = G1Projective::zero();
    for s in sums.iter().rev() {
        for _ in 0..c {
            acc.double_in_place();
        }
        acc += s;
    }
    acc
}

/// The signed digit of window `w`.
fn digit(t: &Shifted, w: usize, c: usize) -> i32 {
    let bit = c * w;
    let (limb, off) = (bit / 64, bit % 64);
    let mut v = t[limb] >> off;
    if off + c > 64 && limb + 1 < 5 {
        v |= t[limb + 1] << (64 - off);
    }
    (v & ((1u64 << c) - 1)) as i32 - (1i32 << (c - 1))
}

/// One window: `Σ_i d_i · bases[i]` through `2^(c-1)` buckets.
fn window_sum(bases: &[G1Affine], shifted: &[Shifted], w: usize, c: usize) -> G1Projective {
    let half = 1usize << (c - 1);
    let mut buckets = Buckets {
        affine: vec![G1Affine::identity(); half],
        fallback: vec![G1Projective::zero(); half],
        busy: vec![0u64; half.div_ceil(64)],
        pending: Vec::with_capacity(BATCH),
        prefix: Vec::with_capacity(BATCH),
    };
    for (base, t) in bases.iter().zip(shifted) {
        let d = digit(t, w, c);
        if d == 0 || base.is_zero() {
            continue;
        }
        let (idx, p) = if d > 0 {
            (d as usize - 1, *base)
        } else {
            ((-d) as usize - 1, -*base)
        };
        buckets.add(idx, p);
    }
    buckets.flush();
    // Σ_k (k + 1) B_k as Σ_k (running sum from the top).
    let mut running = G1Projective::zero();
    let mut res = G1Projective::zero();
    for (a, f) in buckets.affine.iter().zip(&buckets.fallback).rev() {
        if !a.is_zero() {
            running += a;
        }
        if !f.is_zero() {
            running += f;
        }
        res += &running;
    }
    res
}

struct Buckets {
    affine: Vec<G1Affine>,
    fallback: Vec<G1Projective>,
    /// Buckets with an addition waiting in `pending`.
    busy: Vec<u64>,
    pending: Vec<(usize, G1Affine)>,
    /// Per pending addition: the product of the earlier denominators, or `None` if it went to
    /// the fallback.
    prefix: Vec<Option<Fq>>,
}

impl Buckets {
    fn add(&mut self, idx: usize, p: G1Affine) {
        let (word, bit) = (idx / 64, 1u64 << (idx % 64));
        if self.busy[word] & bit != 0 {
            self.fallback[idx] += &p;
        } else if self.affine[idx].is_zero() {
            self.affine[idx] = p;
        } else {
            self.busy[word] |= bit;
            self.pending.push((idx, p));
            if self.pending.len() == BATCH {
                self.flush();
            }
        }
    }

    /// Apply the pending additions with one inversion.
    fn flush(&mut self) {
        self.prefix.clear();
        let mut acc = Fq::one();
        for (idx, p) in &self.pending {
            let q = &self.affine[*idx];
            let dx = p.x - q.x;
            if dx.is_zero() {
                // p = ±q: doubling or cancellation, done projectively.
                self.fallback[*idx] += p;
                self.prefix.push(None);
                continue;
            }
            self.prefix.push(Some(acc));
            acc *= dx;
        }
        let mut inv = acc.inverse().expect("a product of non-zero elements");
        for ((idx, p), prefix) in self.pending.iter().zip(&self.prefix).rev() {
            self.busy[idx / 64] &= !(1u64 << (idx % 64));
            let Some(prefix) = prefix else {
                continue;
            };
            let q = self.affine[*idx];
            let dx = p.x - q.x;
            let inv_dx = inv * prefix;
            inv *= dx;
            let lambda = (p.y - q.y) * inv_dx;
            let x3 = lambda.square() - q.x - p.x;
            let y3 = lambda * (q.x - x3) - q.y;
            self.affine[*idx] = G1Affine::new_unchecked(x3, y3);
        }
        self.pending.clear();
    }
}

/// Scalars as big integers (what [`msm`] takes).
pub(crate) fn bigints(scalars: &[Fr]) -> Vec<<Fr as PrimeField>::BigInt> {
    scalars.par_iter().map(|x| x.into_bigint()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{CurveGroup, VariableBaseMSM};
    use ark_std::{rand::SeedableRng, UniformRand};

    fn check(bases: &[G1Affine], scalars: &[Fr]) {
        let b = bigints(scalars);
        assert_eq!(
            msm(bases, &b).into_affine(),
            G1Projective::msm_bigint(bases, &b).into_affine()
        );
    }

    #[test]
    fn matches_arkworks_on_random_inputs() {
        let mut rng = ark_std::rand::rngs::StdRng::seed_from_u64(9);
        for n in [1usize, 2, 7, 100, 3000] {
            let bases: Vec<G1Affine> = (0..n)
                .map(|_| G1Projective::rand(&mut rng).into_affine())
                .collect();
            let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            check(&bases, &scalars);
        }
    }

    #[test]
    fn handles_doublings_cancellations_and_edge_scalars() {
        let mut rng = ark_std::rand::rngs::StdRng::seed_from_u64(10);
        let p = G1Projective::rand(&mut rng).into_affine();
        let q = G1Projective::rand(&mut rng).into_affine();
        let n = 2000;
        // The same base with the same scalar (doublings in one bucket), its negation
        // (cancellations), the identity, and scalars 0, 1, -1, 2^c-ish.
        let mut bases = Vec::new();
        let mut scalars = Vec::new();
        for i in 0..n {
            let (b, s) = match i % 6 {
                0 => (p, Fr::from(12345u64)),
                1 => (-p, Fr::from(12345u64)),
                2 => (q, -Fr::one()),
                3 => (G1Affine::identity(), Fr::from(7u64)),
                4 => (q, Fr::zero()),
                _ => (p, Fr::from((1u64 << 15) + i as u64)),
            };
            bases.push(b);
            scalars.push(s);
        }
        check(&bases, &scalars);
        check(&[p, p], &[Fr::from(3u64), Fr::from(3u64)]);
        check(&[p, -p], &[Fr::from(3u64), Fr::from(3u64)]);
    }
}
