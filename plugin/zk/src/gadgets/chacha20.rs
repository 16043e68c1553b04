//! The ChaCha20 block function (RFC 8439 §2.3) as constraints.
//!
//! Each quarter-round step `a += b; d ^= a; d <<<= r` costs one addition (33 constraints: 32
//! result bits and a carry whose booleanity closes the range check) and one XOR (32); rotations
//! are free. Steps on constants (the counter, a zero nonce word) are free.
//! See [`BLOCK_CONSTRAINTS`].
//!
//! [`chacha20_blocks`] runs the blocks of one chunk in lockstep. They share key and nonce and
//! differ only in the counter (state word 12), so every step whose two operands do not yet
//! depend on the counter yields the same variables in every block and is synthesised once: three
//! of the four first column quarter rounds, the first addition of the fourth, and two additions
//! and one XOR of the first diagonal round (see [`SHARED_CONSTRAINTS`]). Sound because such a
//! step is the same function of the same variables in every block; only the constraint system is
//! shared.

use super::bits::{add_many, to_array, Result, Word};
use ark_bn254::Fr;
use ark_relations::gr1cs::ConstraintSystemRef;

/// Constraints of one block with a variable key, a non-zero counter and the nonce `(0, n1, n2)`
/// with `n1`, `n2` variable, as chunks use it (pinned by a test).
pub const BLOCK_CONSTRAINTS: usize = 21_231;

/// Constraints that [`chacha20_blocks`] synthesises once for all blocks of a chunk (variable key
/// and 64-bit nonce): `n` blocks with non-zero counters cost `n * (BLOCK_CONSTRAINTS - SHARED) +
/// SHARED` (a zero counter saves one more addition).
pub const SHARED_CONSTRAINTS: usize = 879;

/// `"expand 32-byte k"` as four little-endian words.
pub const CONSTANTS: [u32; 4] = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];

/// The quarter rounds of one double round: four columns, then four diagonals.
const DOUBLE_ROUND: [(usize, usize, usize, usize); 8] = [
    (0, 4, 8, 12),
    (1, 5, 9, 13),
    (2, 6, 10, 14),
    (3, 7, 11, 15),
    (0, 5, 10, 15),
    (1, 6, 11, 12),
    (2, 7, 8, 13),
    (3, 4, 9, 14),
];

/// The states of several blocks, run in lockstep. `shared[i]` says that word `i` is the same
/// [`Word`] in every block (so far a function of key, nonce and constants only).
struct Lockstep {
    x: Vec<[Word; 16]>,
    shared: [bool; 16],
}

impl Lockstep {
    /// `x[dst] = op(x[dst], x[src])` in every block, synthesised once if both operands are
    /// shared.
    fn step(
        &mut self,
        dst: usize,
        src: usize,
        mut op: impl FnMut(&Word, &Word) -> Result<Word>,
    ) -> Result<()> {
        if self.shared[dst] && self.shared[src] {
            let y = op(&self.x[0][dst], &self.x[0][src])?;
            for x in &mut self.x {
                x[dst] = y.clone();
            }
        } else {
            for x in &mut self.x {
                x[dst] = op(&x[dst], &x[src])?;
            }
            self.shared[dst] = false;
        }
        Ok(())
    }

    fn quarter_round(
        &mut self,
        cs: &ConstraintSystemRef<Fr>,
        (a, b, c, d): (usize, usize, usize, usize),
    ) -> Result<()> {
        let add = |x: &Word, y: &Word| add_many(cs, &[x.num(), y.num()]);
        let xor_rotl = |r: usize| move |x: &Word, y: &Word| Ok(x.xor(cs, y)?.rotl(r));
        self.step(a, b, add)?;
        self.step(d, a, xor_rotl(16))?;
        self.step(c, d, add)?;
        self.step(b, c, xor_rotl(12))?;
        self.step(a, b, add)?;
        self.step(d, a, xor_rotl(8))?;
        self.step(c, d, add)?;
        self.step(b, c, xor_rotl(7))?;
        Ok(())
    }
}

/// The ChaCha20 block for `key` (eight little-endian words), block counter `counter` and the
/// three nonce words: the sixteen keystream words (serialise each little-endian).
pub fn chacha20_block(
    cs: &ConstraintSystemRef<Fr>,
    key: &[Word; 8],
    counter: u32,
    nonce: &[Word; 3],
) -> Result<[Word; 16]> {
    let mut out = chacha20_blocks(cs, key, &[counter], nonce)?;
    out.pop()
        .ok_or(ark_relations::gr1cs::SynthesisError::Unsatisfiable)
}

/// The ChaCha20 blocks for `key`, `nonce` and each of `counters`, sharing the steps that do not
/// depend on the counter (see the module docs).
pub fn chacha20_blocks(
    cs: &ConstraintSystemRef<Fr>,
    key: &[Word; 8],
    counters: &[u32],
    nonce: &[Word; 3],
) -> Result<Vec<[Word; 16]>> {
    let inits: Vec<[Word; 16]> = counters
        .iter()
        .map(|ctr| {
            let mut init: Vec<Word> = CONSTANTS.iter().map(|c| Word::constant(*c)).collect();
            init.extend(key.iter().cloned());
            init.push(Word::constant(*ctr));
            init.extend(nonce.iter().cloned());
            to_array(init)
        })
        .collect();
    let mut shared = [true; 16];
    shared[12] = counters.windows(2).all(|w| w[0] == w[1]);
    let mut st = Lockstep {
        x: inits.clone(),
        shared,
    };
    for _ in 0..10 {
        for qr in DOUBLE_ROUND {
            st.quarter_round(cs, qr)?;
        }
    }
    let mut out = Vec::with_capacity(inits.len());
    for (x, init) in st.x.iter().zip(&inits) {
        let mut ks = Vec::with_capacity(16);
        for (s, i) in x.iter().zip(init.iter()) {
            // Adding the constant 0 (a zero nonce word) is the identity: no new bits.
            ks.push(if i.as_constant() == Some(0) {
                s.clone()
            } else {
                add_many(cs, &[s.num(), i.num()])?
            });
        }
        out.push(to_array(ks));
    }
    Ok(out)
}

/// Native twin of [`chacha20_block`].
pub fn chacha20_block_native(key: &[u32; 8], counter: u32, nonce: &[u32; 3]) -> [u32; 16] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&CONSTANTS);
    init[4..12].copy_from_slice(key);
    init[12] = counter;
    init[13..].copy_from_slice(nonce);
    let mut x = init;
    fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(16);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(12);
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(8);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(7);
    }
    for _ in 0..10 {
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 1, 5, 9, 13);
        qr(&mut x, 2, 6, 10, 14);
        qr(&mut x, 3, 7, 11, 15);
        qr(&mut x, 0, 5, 10, 15);
        qr(&mut x, 1, 6, 11, 12);
        qr(&mut x, 2, 7, 8, 13);
        qr(&mut x, 3, 4, 9, 14);
    }
    core::array::from_fn(|i| x[i].wrapping_add(init[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;
    use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
    use rand::{Rng, SeedableRng};

    fn keystream(key: &[u8; 32], nonce: &[u8; 12], counter: u32) -> [u8; 64] {
        let mut c = chacha20::ChaCha20::new(key.into(), nonce.into());
        c.seek(64u64 * counter as u64);
        let mut out = [0u8; 64];
        c.apply_keystream(&mut out);
        out
    }

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn native_twin_matches_chacha20_crate() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..50 {
            let key: [u8; 32] = rng.gen();
            let nonce: [u8; 12] = rng.gen();
            let counter: u32 = rng.gen_range(0..1000);
            let k: [u32; 8] = words(&key).try_into().unwrap();
            let n: [u32; 3] = words(&nonce).try_into().unwrap();
            let ks = chacha20_block_native(&k, counter, &n);
            let bytes: Vec<u8> = ks.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(bytes, keystream(&key, &nonce, counter).to_vec());
        }
    }

    #[test]
    fn gadget_matches_native_and_pins_cost() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for _ in 0..3 {
            let key: [u32; 8] = rng.gen();
            let nonce: [u32; 3] = [0, rng.gen(), rng.gen()];
            let counter: u32 = rng.gen_range(0..64);
            let cs = ConstraintSystem::<Fr>::new_ref();
            let k: Vec<Word> = key
                .iter()
                .map(|x| Word::alloc(&cs, Some(*x)).unwrap())
                .collect();
            let n = [
                Word::constant(0),
                Word::alloc(&cs, Some(nonce[1])).unwrap(),
                Word::alloc(&cs, Some(nonce[2])).unwrap(),
            ];
            let before = cs.num_constraints();
            let out = chacha20_block(&cs, &to_array(k), counter, &n).unwrap();
            assert_eq!(cs.num_constraints() - before, BLOCK_CONSTRAINTS);
            assert!(cs.is_satisfied().unwrap());
            let got: Vec<u32> = out.iter().map(|w| w.value().unwrap()).collect();
            assert_eq!(got, chacha20_block_native(&key, counter, &nonce).to_vec());
        }
    }

    #[test]
    fn blocks_in_lockstep_match_native_and_pin_cost() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for n in [1usize, 2, 4] {
            let key: [u32; 8] = rng.gen();
            let nonce: [u32; 3] = [0, rng.gen(), rng.gen()];
            let cs = ConstraintSystem::<Fr>::new_ref();
            let k: Vec<Word> = key
                .iter()
                .map(|x| Word::alloc(&cs, Some(*x)).unwrap())
                .collect();
            let nw = [
                Word::constant(0),
                Word::alloc(&cs, Some(nonce[1])).unwrap(),
                Word::alloc(&cs, Some(nonce[2])).unwrap(),
            ];
            let counters: Vec<u32> = (1..=n as u32).collect();
            let before = cs.num_constraints();
            let out = chacha20_blocks(&cs, &to_array(k), &counters, &nw).unwrap();
            assert_eq!(
                cs.num_constraints() - before,
                n * (BLOCK_CONSTRAINTS - SHARED_CONSTRAINTS) + SHARED_CONSTRAINTS
            );
            assert!(cs.is_satisfied().unwrap());
            for (ctr, ks) in counters.iter().zip(&out) {
                let got: Vec<u32> = ks.iter().map(|w| w.value().unwrap()).collect();
                assert_eq!(got, chacha20_block_native(&key, *ctr, &nonce).to_vec());
            }
        }
    }
}
