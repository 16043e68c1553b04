//! The SHA-256 compression function as constraints (FIPS 180-4 §6.2.2), bellman style.
//!
//! Costs per compression with a variable input state: Σ0/Σ1/σ0/σ1 two constraints per output bit
//! (one where a shifted-in bit is constant zero), `Ch` one per bit, `Maj` two per bit, and every
//! sum reduced once: `e' = d + T1` is a single [`add_many`] over all its terms and `a' = e' - d + T2`
//! one over four, message-schedule words one [`add_many`] of four. Values that are only ever
//! added are never decomposed: `w[62]`, `w[63]` enter the round sums as their four terms, and the
//! last round's `e'`, `a'` go straight into the final state additions. See
//! [`COMPRESS_CONSTRAINTS`].

use super::bits::{add_many, ch, maj, xor3, Bit, Num, Result, Word};
use ark_bn254::Fr;
use ark_relations::gr1cs::ConstraintSystemRef;

/// Constraints of one compression with a variable state and variable message words (pinned by a
/// test).
pub const COMPRESS_CONSTRAINTS: usize = 26_038;

/// The SHA-256 initial state `H(0)`.
pub const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The round constants `K`.
pub const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// `x ⊕ y ⊕ z` bitwise, as a number (only ever added).
fn xor3_num(cs: &ConstraintSystemRef<Fr>, x: &Word, y: &Word, z: &Word) -> Result<Num> {
    let mut bits = Vec::with_capacity(32);
    for i in 0..32 {
        bits.push(xor3(cs, &x.0[i], &y.0[i], &z.0[i])?);
    }
    Ok(Num::from_bits(&bits))
}

/// `Σ0(a) = ROTR2 ⊕ ROTR13 ⊕ ROTR22`.
pub fn big_sigma0(cs: &ConstraintSystemRef<Fr>, a: &Word) -> Result<Num> {
    xor3_num(cs, &a.rotr(2), &a.rotr(13), &a.rotr(22))
}

/// `Σ1(e) = ROTR6 ⊕ ROTR11 ⊕ ROTR25`.
pub fn big_sigma1(cs: &ConstraintSystemRef<Fr>, e: &Word) -> Result<Num> {
    xor3_num(cs, &e.rotr(6), &e.rotr(11), &e.rotr(25))
}

/// `σ0(w) = ROTR7 ⊕ ROTR18 ⊕ SHR3`.
pub fn small_sigma0(cs: &ConstraintSystemRef<Fr>, w: &Word) -> Result<Num> {
    xor3_num(cs, &w.rotr(7), &w.rotr(18), &w.shr(3))
}

/// `σ1(w) = ROTR17 ⊕ ROTR19 ⊕ SHR10`.
pub fn small_sigma1(cs: &ConstraintSystemRef<Fr>, w: &Word) -> Result<Num> {
    xor3_num(cs, &w.rotr(17), &w.rotr(19), &w.shr(10))
}

/// `Ch(e, f, g)` bitwise, as a number.
pub fn sha256_ch(cs: &ConstraintSystemRef<Fr>, e: &Word, f: &Word, g: &Word) -> Result<Num> {
    let mut bits: Vec<Bit> = Vec::with_capacity(32);
    for i in 0..32 {
        bits.push(ch(cs, &e.0[i], &f.0[i], &g.0[i])?);
    }
    Ok(Num::from_bits(&bits))
}

/// `Maj(a, b, c)` bitwise, as a number.
pub fn sha256_maj(cs: &ConstraintSystemRef<Fr>, a: &Word, b: &Word, c: &Word) -> Result<Num> {
    let mut bits: Vec<Bit> = Vec::with_capacity(32);
    for i in 0..32 {
        bits.push(maj(cs, &a.0[i], &b.0[i], &c.0[i])?);
    }
    Ok(Num::from_bits(&bits))
}

/// One SHA-256 compression: the new state from `state` and the sixteen big-endian message words.
pub fn sha256_compress(
    cs: &ConstraintSystemRef<Fr>,
    state: &[Word; 8],
    block: &[Word; 16],
) -> Result<[Word; 8]> {
    // Message schedule. `w[t]` needs bits only while a later σ reads it (t <= 61); the last two
    // words stay unreduced sums that the rounds' additions absorb (mod 2^32 is compatible).
    let mut w: Vec<Vec<Num>> = block.iter().map(|x| vec![x.num()]).collect();
    let mut bits: Vec<Word> = block.to_vec();
    for t in 16..64 {
        let s1 = small_sigma1(cs, &bits[t - 2])?;
        let s0 = small_sigma0(cs, &bits[t - 15])?;
        let terms = vec![s1, bits[t - 7].num(), s0, bits[t - 16].num()];
        if t < 62 {
            let wt = add_many(cs, &terms)?;
            w.push(vec![wt.num()]);
            bits.push(wt);
        } else {
            w.push(terms);
        }
    }

    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state.clone();
    for (t, wt) in w.iter().enumerate() {
        let s1 = big_sigma1(cs, &e)?;
        let chv = sha256_ch(cs, &e, &f, &g)?;
        let s0 = big_sigma0(cs, &a)?;
        let mj = sha256_maj(cs, &a, &b, &c)?;
        let mut t1 = vec![h.num(), s1, chv, Num::constant(K[t])];
        t1.extend(wt.iter().cloned());
        if t == 63 {
            // The last e' and a' are only added to the state: reduce `state + d + T1` and
            // `state + T1 + T2` directly, without their own bits.
            let mut e_terms = vec![state[4].num(), d.num()];
            e_terms.extend(t1.iter().cloned());
            let mut a_terms = vec![state[0].num(), s0, mj];
            a_terms.extend(t1);
            let out0 = add_many(cs, &a_terms)?;
            let out4 = add_many(cs, &e_terms)?;
            let rest = [(1, a), (2, b), (3, c), (5, e), (6, f), (7, g)];
            let mut out: [Option<Word>; 8] = Default::default();
            out[0] = Some(out0);
            out[4] = Some(out4);
            for (i, v) in rest {
                out[i] = Some(add_many(cs, &[state[i].num(), v.num()])?);
            }
            return Ok(out.map(|w| w.expect("every word is set")));
        }
        // Deferred additions: e' = d + T1 is reduced once over all its terms.
        let mut e_terms = vec![d.num()];
        e_terms.extend(t1);
        let new_e = add_many(cs, &e_terms)?;
        // a' = e' - d + T2 (mod 2^32): four terms instead of seven, one carry bit fewer.
        let new_a = add_many(cs, &[new_e.num(), Num::neg_mod(&d), s0, mj])?;
        h = g;
        g = f;
        f = e;
        e = new_e;
        d = c;
        c = b;
        b = a;
        a = new_a;
    }
    unreachable!("the schedule has 64 words")
}

/// Native twin of [`sha256_compress`].
pub fn sha256_compress_native(state: &[u32; 8], block: &[u32; 16]) -> [u32; 8] {
    let mut w = [0u32; 64];
    w[..16].copy_from_slice(block);
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = s1
            .wrapping_add(w[t - 7])
            .wrapping_add(s0)
            .wrapping_add(w[t - 16]);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for t in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let chv = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(chv)
            .wrapping_add(K[t])
            .wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let mj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(mj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    let v = [a, b, c, d, e, f, g, h];
    core::array::from_fn(|i| state[i].wrapping_add(v[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;
    use rand::{Rng, SeedableRng};

    fn words_from_block(block: &[u8; 64]) -> [u32; 16] {
        core::array::from_fn(|i| u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap()))
    }

    #[test]
    fn native_twin_matches_sha2() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let state: [u32; 8] = rng.gen();
            let mut block = [0u8; 64];
            rng.fill(&mut block[..]);
            let mut expect = state;
            sha2::compress256(&mut expect, &[block.into()]);
            assert_eq!(
                sha256_compress_native(&state, &words_from_block(&block)),
                expect
            );
        }
    }

    #[test]
    fn gadget_matches_native_and_pins_cost() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for _ in 0..3 {
            let state: [u32; 8] = rng.gen();
            let block: [u32; 16] = rng.gen();
            let cs = ConstraintSystem::<Fr>::new_ref();
            let st: Vec<Word> = state
                .iter()
                .map(|x| Word::alloc(&cs, Some(*x)).unwrap())
                .collect();
            let bl: Vec<Word> = block
                .iter()
                .map(|x| Word::alloc(&cs, Some(*x)).unwrap())
                .collect();
            let before = cs.num_constraints();
            let out = sha256_compress(
                &cs,
                &super::super::bits::to_array(st),
                &super::super::bits::to_array(bl),
            )
            .unwrap();
            assert_eq!(cs.num_constraints() - before, COMPRESS_CONSTRAINTS);
            assert!(cs.is_satisfied().unwrap());
            let got: Vec<u32> = out.iter().map(|w| w.value().unwrap()).collect();
            assert_eq!(got, sha256_compress_native(&state, &block).to_vec());
        }
    }

    #[test]
    fn gadget_rejects_wrong_output_bit() {
        // Flipping an allocated output bit's value must break satisfiability.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let st: Vec<Word> = IV
            .iter()
            .map(|x| Word::alloc(&cs, Some(*x)).unwrap())
            .collect();
        let bl: Vec<Word> = (0..16)
            .map(|i| Word::alloc(&cs, Some(i)).unwrap())
            .collect();
        let out = sha256_compress(
            &cs,
            &super::super::bits::to_array(st),
            &super::super::bits::to_array(bl),
        )
        .unwrap();
        assert!(cs.is_satisfied().unwrap());
        // Constrain the first output word to a wrong value.
        let wrong = out[0].value().unwrap() ^ 1;
        super::super::bits::enforce_equal(
            &cs,
            out[0].num().lc().clone(),
            Num::constant(wrong).lc().clone(),
        )
        .unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }
}
