//! The chunk circuit: one R1CS per [`CircuitShape`] for every chunk of every block.
//!
//! Relation (public statement `p`, witness `K, m`):
//! `c = ChaCha20_K(p.index, m)` (bytes past `len` are zero in `c`),
//! `p.lock = SHA256(K)`,
//! `p.h_out = compress*(p.h_in, m [‖ padding for n = off + len if final])`, and with `link` and the
//! flag set, `p.lock_prev = SHA256(SHA256(TAG ‖ K))`.
//!
//! The statement reaches the verifier as one public input: the circuit packs its bits into
//! 31-byte scalars exactly as [`crate::packing`] does and hashes them with the Poseidon sponge
//! ([`crate::gadgets::poseidon`]); the commitment must equal the input.
//!
//! Lengths are handled without per-length circuits: a thermometer `t_j = [j < len]` (one
//! constraint per byte: `t_j (t_{j-1} - t_j) = 0` is booleanity and monotonicity at once) masks
//! the plaintext (`m (t_j - m) = 0`: booleanity, and zero past `len`) and the ciphertext
//! (`k (t_j - 2m) = c - m`: XOR inside, zero outside). The padding's `0x80` byte sits where
//! `t_{j-1} - t_j = 1`, the 64-bit length field in the block `⌊(len + 8)/64⌋` (a telescoping sum
//! of `t`), and `h_out` is matched against the state after exactly that block. All S/64 + 1
//! compressions always run; non-final chunks are forced to `len = S` and use the state after
//! S/64 blocks.

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, SynthesisError, SynthesisMode,
    Variable,
};
use serde::{Deserialize, Serialize};

use crate::gadgets::bits::{and, to_array, Bit, Lc, Num, Result, Word};
use crate::gadgets::chacha20::chacha20_blocks;
use crate::gadgets::poseidon::{commit, FpLc};
use crate::gadgets::sha256::{sha256_compress, IV};
use crate::native::KEY_CHAIN_TAG;
use crate::packing::{num_stream_scalars, stream_scalars, BYTES_PER_INPUT};
use crate::types::{ChunkPublic, ChunkWitness, CircuitShape};

/// The chunk circuit for a shape, with or without an instance (setup needs none).
#[derive(Clone, Copy, Debug)]
pub struct ChunkCircuit<'a> {
    /// Which circuit.
    pub shape: CircuitShape,
    /// The statement and witness when proving.
    pub instance: Option<(&'a ChunkPublic, &'a ChunkWitness)>,
}

impl<'a> ChunkCircuit<'a> {
    /// The circuit without values, for parameter generation and counting.
    pub fn blank(shape: CircuitShape) -> Self {
        ChunkCircuit {
            shape,
            instance: None,
        }
    }

    /// The circuit with an instance, for proving.
    pub fn new(shape: CircuitShape, public: &'a ChunkPublic, witness: &'a ChunkWitness) -> Self {
        ChunkCircuit {
            shape,
            instance: Some((public, witness)),
        }
    }
}

impl ConstraintSynthesizer<Fr> for ChunkCircuit<'_> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<()> {
        synthesize(self.shape, self.instance, &cs, &mut PartCounts::default())
    }
}

/// Constraint counts per part of the circuit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartCounts {
    /// SHA-256 compressions over the chunk (S/64 + 1).
    pub sha: usize,
    /// ChaCha20 blocks (S/64).
    pub chacha: usize,
    /// The lock `SHA256(K)`.
    pub lock: usize,
    /// The chain link (two compressions and the flag), 0 without `link`.
    pub link: usize,
    /// The Poseidon commitment to the packed statement (the one public input).
    pub commitment: usize,
    /// Everything else: input bits, length masks, XOR with the keystream, padding selection.
    pub other: usize,
}

/// What `ozkcp circuit info` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CircuitInfo {
    /// The shape.
    pub shape: CircuitShape,
    /// Total R1CS constraints.
    pub constraints: usize,
    /// Per part.
    pub parts: PartCounts,
    /// SHA-256 compressions over the chunk.
    pub sha_compressions: usize,
    /// ChaCha20 blocks.
    pub chacha_blocks: usize,
    /// Number of public inputs (field elements).
    pub public_inputs: usize,
    /// Witness variables.
    pub witness_variables: usize,
    /// Constraints per plaintext byte at full length.
    pub constraints_per_byte: f64,
}

/// Count the constraints of a shape's circuit (synthesises it once without values).
pub fn circuit_info(shape: CircuitShape) -> core::result::Result<CircuitInfo, SynthesisError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    let mut parts = PartCounts::default();
    synthesize(shape, None, &cs, &mut parts)?;
    let constraints = cs.num_constraints();
    Ok(CircuitInfo {
        shape,
        constraints,
        parts,
        sha_compressions: shape.data_compressions(),
        chacha_blocks: shape.chacha_blocks(),
        public_inputs: cs.num_instance_variables() - 1,
        witness_variables: cs.num_witness_variables(),
        constraints_per_byte: constraints as f64 / shape.chunk_size as f64,
    })
}

/// Adds constraint deltas to the part they belong to.
struct Meter<'a> {
    cs: &'a ConstraintSystemRef<Fr>,
    last: usize,
}

impl Meter<'_> {
    fn charge(&mut self, part: &mut usize) {
        let now = self.cs.num_constraints();
        *part += now - self.last;
        self.last = now;
    }
}

/// Accumulates the public byte stream, bit by bit, into one linear combination per input.
struct Packer {
    lcs: Vec<Lc>,
    pos: usize,
    pow: Vec<Fr>,
}

const BITS_PER_INPUT: usize = BYTES_PER_INPUT * 8;

impl Packer {
    fn new(inputs: usize) -> Self {
        let mut pow = Vec::with_capacity(BITS_PER_INPUT);
        let mut x = Fr::ONE;
        for _ in 0..BITS_PER_INPUT {
            pow.push(x);
            x.double_in_place();
        }
        Packer {
            lcs: vec![Lc::zero(); inputs],
            pos: 0,
            pow,
        }
    }

    fn push_lc(&mut self, lc: &Lc, width: usize) {
        let (e, off) = (self.pos / BITS_PER_INPUT, self.pos % BITS_PER_INPUT);
        debug_assert!(off + width <= BITS_PER_INPUT, "field straddles two inputs");
        let k = self.pow[off];
        self.lcs[e].0.extend(lc.0.iter().map(|(c, v)| (k * c, *v)));
        self.pos += width;
    }

    fn push_bit(&mut self, b: &Bit) {
        if b.as_constant() == Some(false) {
            self.pos += 1;
        } else {
            self.push_lc(b.lc(), 1);
        }
    }

    fn push_bits(&mut self, bits: &[Bit]) {
        for b in bits {
            self.push_bit(b);
        }
    }

    fn skip(&mut self, n: usize) {
        self.pos += n;
    }
}

fn alloc_bits(
    cs: &ConstraintSystemRef<Fr>,
    n: usize,
    value: impl Fn(usize) -> Option<bool>,
) -> Result<Vec<Bit>> {
    (0..n).map(|i| Bit::alloc(cs, value(i))).collect()
}

fn alloc_bytes(
    cs: &ConstraintSystemRef<Fr>,
    bytes: Option<&[u8]>,
    n: usize,
) -> Result<Vec<[Bit; 8]>> {
    (0..n)
        .map(|j| {
            let v = alloc_bits(cs, 8, |i| bytes.map(|b| (b[j] >> i) & 1 == 1))?;
            Ok(to_array(v))
        })
        .collect()
}

fn const_byte(x: u8) -> [Bit; 8] {
    core::array::from_fn(|i| Bit::constant((x >> i) & 1 == 1))
}

/// Sixteen big-endian message words from 64 bytes.
fn be_words<const N: usize>(bytes: &[[Bit; 8]]) -> [Word; N] {
    core::array::from_fn(|w| {
        Word::from_be_bytes([
            &bytes[4 * w],
            &bytes[4 * w + 1],
            &bytes[4 * w + 2],
            &bytes[4 * w + 3],
        ])
    })
}

/// The 32 bytes of a state (big-endian words).
fn state_bytes(state: &[Word; 8]) -> Vec<[Bit; 8]> {
    state
        .iter()
        .flat_map(|w| (0..4).map(move |q| w.byte(3 - q)))
        .collect()
}

/// Message block of a 32-byte SHA-256 input with its padding.
fn padded_32(words: &[Word; 8]) -> [Word; 16] {
    let mut b: Vec<Word> = words.to_vec();
    b.push(Word::constant(0x8000_0000));
    b.extend((0..6).map(|_| Word::constant(0)));
    b.push(Word::constant(256));
    to_array(b)
}

fn iv_words() -> [Word; 8] {
    IV.map(Word::constant)
}

fn synthesize(
    shape: CircuitShape,
    instance: Option<(&ChunkPublic, &ChunkWitness)>,
    cs: &ConstraintSystemRef<Fr>,
    parts: &mut PartCounts,
) -> Result<()> {
    let s = shape.chunk_size;
    let nblocks = s / 64;
    let p = instance.map(|x| x.0);
    let wit = instance.map(|x| x.1);
    let scalars = match p {
        Some(p) => Some(stream_scalars(&shape, p).map_err(|_| SynthesisError::Unsatisfiable)?),
        None => None,
    };
    if let (Some(p), Some(w)) = (p, wit) {
        if w.plaintext.len() != p.len as usize {
            return Err(SynthesisError::Unsatisfiable);
        }
    }
    let mut meter = Meter {
        cs,
        last: cs.num_constraints(),
    };

    // The one public input: the commitment to the packed statement.
    let ninputs = num_stream_scalars(&shape);
    let commitment = scalars.as_deref().map(crate::poseidon::commit);
    let x = cs.new_input_variable(|| commitment.ok_or(SynthesisError::AssignmentMissing))?;

    // Header.
    let len = p.map(|p| p.len as usize);
    let fin = p.map(|p| p.final_chunk);
    let index_bits = alloc_bits(cs, 64, |i| p.map(|p| (p.index >> i) & 1 == 1))?;
    let final_bit = Bit::alloc(cs, fin)?;
    let link_bit = if shape.link {
        Bit::alloc(cs, p.map(|p| p.lock_prev.is_some()))?
    } else {
        Bit::constant(false)
    };
    let n_val = p.map(|p| {
        if p.final_chunk {
            p.off + p.len as u64
        } else {
            0
        }
    });
    let n_bits = alloc_bits(cs, 61, |i| n_val.map(|n| (n >> i) & 1 == 1))?;

    // Thermometer t_j = [j < len].
    let mut t: Vec<Variable> = Vec::with_capacity(s);
    for j in 0..s {
        let v = cs.new_witness_variable(|| {
            len.map(|l| Fr::from(j < l))
                .ok_or(SynthesisError::AssignmentMissing)
        })?;
        let prev: Lc = if j == 0 {
            Variable::One.into()
        } else {
            t[j - 1].into()
        };
        cs.enforce_r1cs_constraint(|| v.into(), || prev - v, Lc::zero)?;
        t.push(v);
    }
    let tt = |j: isize| -> Lc {
        if j < 0 {
            Variable::One.into()
        } else if j as usize >= s {
            Lc::zero()
        } else {
            t[j as usize].into()
        }
    };
    let one_minus_final = final_bit.not();
    // A non-final chunk is full and encodes no block length.
    let len_lc = ark_relations::gr1cs::LinearCombination(t.iter().map(|v| (Fr::ONE, *v)).collect());
    cs.enforce_r1cs_constraint(
        || one_minus_final.lc().clone(),
        || Lc::from((Fr::from(s as u64), Variable::One)) - &len_lc,
        Lc::zero,
    )?;
    let n_num = Num::from_bits(&n_bits);
    cs.enforce_r1cs_constraint(
        || one_minus_final.lc().clone(),
        || n_num.lc().clone(),
        Lc::zero,
    )?;
    // The padding byte 0x80 at j = len: t_{j-1} - t_j for j < S, final * t_{S-1} at j = S.
    let t_last = Bit::from_lc(t[s - 1].into(), len.map(|l| l == s));
    let is80_s = and(cs, &final_bit, &t_last)?;
    let e_val = |j: usize| -> Option<bool> { Some(len? == j && (j < s || fin?)) };

    // Key and plaintext.
    let key = alloc_bytes(cs, wit.map(|w| &w.key[..]), 32)?;
    let mut m: Vec<[Bit; 8]> = Vec::with_capacity(s);
    for (j, tj) in t.iter().enumerate() {
        let mut byte = Vec::with_capacity(8);
        for i in 0..8 {
            let val = match (len, wit) {
                (Some(l), Some(w)) => Some(j < l && (w.plaintext[j] >> i) & 1 == 1),
                _ => None,
            };
            let v = cs.new_witness_variable(|| {
                val.map(Fr::from).ok_or(SynthesisError::AssignmentMissing)
            })?;
            cs.enforce_r1cs_constraint(|| v.into(), || Lc::from(*tj) - v, Lc::zero)?;
            byte.push(Bit::from_lc(v.into(), val));
        }
        m.push(to_array(byte));
    }
    meter.charge(&mut parts.other);

    // Encryption: c = m XOR keystream inside len, zero outside.
    let key_le: [Word; 8] = core::array::from_fn(|w| {
        Word::from_le_bytes([
            &key[4 * w],
            &key[4 * w + 1],
            &key[4 * w + 2],
            &key[4 * w + 3],
        ])
    });
    let nonce = [
        Word::constant(0),
        Word(core::array::from_fn(|i| index_bits[i].clone())),
        Word(core::array::from_fn(|i| index_bits[32 + i].clone())),
    ];
    let mut c: Vec<[Bit; 8]> = Vec::with_capacity(s);
    let counters: Vec<u32> = (0..nblocks as u32).collect();
    let keystream = chacha20_blocks(cs, &key_le, &counters, &nonce)?;
    meter.charge(&mut parts.chacha);
    for (blk, ks) in keystream.iter().enumerate() {
        for q in 0..64 {
            let j = 64 * blk + q;
            let kb = ks[q / 4].byte(q % 4);
            let mut byte = Vec::with_capacity(8);
            for i in 0..8 {
                let (mb, kbit) = (&m[j][i], &kb[i]);
                let val = match (mb.value(), kbit.value(), len) {
                    (Some(x), Some(y), Some(l)) => Some(j < l && (x ^ y)),
                    _ => None,
                };
                let v = cs.new_witness_variable(|| {
                    val.map(Fr::from).ok_or(SynthesisError::AssignmentMissing)
                })?;
                cs.enforce_r1cs_constraint(
                    || kbit.lc().clone(),
                    || Lc::from(t[j]) + (-Fr::from(2u64), mb.lc()),
                    || Lc::from(v) - mb.lc(),
                )?;
                byte.push(Bit::from_lc(v.into(), val));
            }
            c.push(to_array(byte));
        }
        meter.charge(&mut parts.other);
    }

    // SHA-256 over the chunk and its padding.
    let h_in = alloc_bytes(cs, p.map(|p| &p.h_in[..]), 32)?;
    let h_out = alloc_bytes(cs, p.map(|p| &p.h_out[..]), 32)?;
    let mut state: [Word; 8] = be_words(&h_in);
    let mut states = Vec::with_capacity(nblocks + 1);
    let mut islens = Vec::with_capacity(nblocks + 1);
    for b in 0..=nblocks {
        // islen_b = final * [⌊(len + 8)/64⌋ = b] = sum of the 0x80 selectors over [64b-8, 64b+55].
        let lo = (64 * b as isize - 8).max(0);
        let (islen_lc, islen_val) = if b < nblocks {
            let hi = 64 * b as isize + 55;
            (tt(lo - 1) - &tt(hi), len.map(|l| (l + 8) / 64 == b))
        } else {
            (
                tt(lo - 1) - &tt(s as isize - 1) + is80_s.lc(),
                len.zip(fin).map(|(l, f)| f && (l + 8) / 64 == b),
            )
        };
        let islen = Bit::from_lc(islen_lc, islen_val);
        let mut lenbits = Vec::with_capacity(61);
        for nb in &n_bits {
            lenbits.push(and(cs, &islen, nb)?);
        }
        let mut block: Vec<[Bit; 8]> = Vec::with_capacity(64);
        for q in 0..64 {
            let j = 64 * b + q;
            let byte: [Bit; 8] = core::array::from_fn(|i| {
                let mut lc = Lc::zero();
                let mut val = Some(false);
                let mut add = |bit: &Bit| {
                    lc.0.extend_from_slice(&bit.lc().0);
                    val = match (val, bit.value()) {
                        (Some(a), Some(x)) => Some(a | x),
                        _ => None,
                    };
                };
                if j < s {
                    add(&m[j][i]);
                }
                if i == 7 {
                    if j < s {
                        add(&Bit::from_lc(
                            tt(j as isize - 1) - &tt(j as isize),
                            e_val(j),
                        ));
                    } else if j == s {
                        add(&is80_s);
                    }
                }
                if q >= 56 {
                    let l = (7 - (q - 56)) * 8 + i;
                    if l >= 3 {
                        add(&lenbits[l - 3]);
                    }
                }
                if lc.0.is_empty() {
                    Bit::constant(false)
                } else {
                    lc.compactify();
                    Bit::from_lc(lc, val)
                }
            });
            block.push(byte);
        }
        meter.charge(&mut parts.other);
        state = sha256_compress(cs, &state, &be_words(&block))?;
        meter.charge(&mut parts.sha);
        states.push(state.clone());
        islens.push(islen);
    }
    // h_out is the state after block ⌊(len + 8)/64⌋ (final) or after block S/64 - 1.
    let h_out_words: [Word; 8] = be_words(&h_out);
    let half = |words: &[Word], k: usize| -> Lc {
        let mut lc = Lc::zero();
        let mut coeff = Fr::ONE;
        let two32 = Fr::from(1u64 << 32);
        for w in &words[4 * k..4 * k + 4] {
            lc.0.extend(w.num().lc().0.iter().map(|(c, v)| (coeff * c, *v)));
            coeff *= two32;
        }
        lc.compactify();
        lc
    };
    for (b, (st, islen)) in states.iter().zip(islens.iter()).enumerate() {
        let mut sel = islen.lc().clone();
        if b + 1 == nblocks {
            sel = sel + one_minus_final.lc();
        }
        for k in 0..2 {
            let diff = half(st, k) - &half(&h_out_words, k);
            cs.enforce_r1cs_constraint(|| sel.clone(), || diff, Lc::zero)?;
        }
    }
    meter.charge(&mut parts.other);

    // Lock L = SHA256(K).
    let key_be: [Word; 8] = be_words(&key);
    let lock = sha256_compress(cs, &iv_words(), &padded_32(&key_be))?;
    meter.charge(&mut parts.lock);

    // Chain link L_prev = SHA256(SHA256(TAG || K)), exposed only when the flag is set.
    let mut lock_prev_bytes = Vec::new();
    if shape.link {
        let mut msg: Vec<[Bit; 8]> = KEY_CHAIN_TAG.iter().map(|x| const_byte(*x)).collect();
        msg.extend(key.iter().cloned());
        msg.push(const_byte(0x80));
        while msg.len() < 62 {
            msg.push(const_byte(0));
        }
        let bits = ((KEY_CHAIN_TAG.len() + 32) * 8) as u16;
        msg.extend(bits.to_be_bytes().map(const_byte));
        let kp = sha256_compress(cs, &iv_words(), &be_words(&msg))?;
        let lp = sha256_compress(cs, &iv_words(), &padded_32(&kp))?;
        for byte in state_bytes(&lp) {
            let mut out = Vec::with_capacity(8);
            for b in &byte {
                out.push(and(cs, &link_bit, b)?);
            }
            lock_prev_bytes.push(out);
        }
        meter.charge(&mut parts.link);
    }

    // Pack the stream and bind it to the public inputs.
    let mut pk = Packer::new(ninputs);
    pk.push_bits(&index_bits);
    pk.push_lc(&len_lc, 16);
    pk.push_bit(&final_bit);
    pk.push_bit(&link_bit);
    pk.skip(6);
    pk.push_bits(&n_bits);
    pk.skip(3);
    for byte in h_in.iter().chain(h_out.iter()) {
        pk.push_bits(byte);
    }
    for byte in state_bytes(&lock) {
        pk.push_bits(&byte);
    }
    for byte in &lock_prev_bytes {
        pk.push_bits(byte);
    }
    for byte in &c {
        pk.push_bits(byte);
    }
    meter.charge(&mut parts.other);
    let packed: Vec<FpLc> = pk
        .lcs
        .into_iter()
        .enumerate()
        .map(|(e, mut lc)| {
            lc.compactify();
            FpLc {
                lc,
                value: scalars.as_ref().map(|v| v[e]),
            }
        })
        .collect();
    let out = commit(cs, &packed)?;
    cs.enforce_r1cs_constraint(|| out.lc - x, || Variable::One.into(), Lc::zero)?;
    meter.charge(&mut parts.commitment);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::block_instances;

    fn satisfied(shape: CircuitShape, p: &ChunkPublic, w: &ChunkWitness) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        ChunkCircuit::new(shape, p, w)
            .generate_constraints(cs.clone())
            .unwrap();
        cs.is_satisfied().unwrap()
    }

    #[test]
    fn honest_instances_satisfy() {
        let shape = CircuitShape::new(64, true).unwrap();
        for n in [0usize, 1, 55, 56, 63, 64, 65, 130, 209] {
            let block: Vec<u8> = (0..n).map(|i| (i * 13 + 1) as u8).collect();
            for (p, w) in block_instances(&block, 64, 7, &[3u8; 32], true) {
                assert!(satisfied(shape, &p, &w), "n = {n}, chunk {}", p.index);
            }
        }
    }

    #[test]
    fn wrong_statements_do_not_satisfy() {
        let shape = CircuitShape::new(64, true).unwrap();
        let block: Vec<u8> = (0..100u8).collect();
        let inst = block_instances(&block, 64, 0, &[5u8; 32], true);
        let (p, w) = &inst[1];
        let mut bad = p.clone();
        bad.ciphertext[3] ^= 1;
        assert!(!satisfied(shape, &bad, w));
        let mut bad = p.clone();
        bad.h_out[0] ^= 1;
        assert!(!satisfied(shape, &bad, w));
        let mut bad = p.clone();
        bad.off += 64;
        assert!(!satisfied(shape, &bad, w));
        let (p0, w0) = &inst[0];
        let mut bad = p0.clone();
        bad.lock_prev.as_mut().unwrap()[31] ^= 1;
        assert!(!satisfied(shape, &bad, w0));
    }

    #[test]
    fn info_counts() {
        let info = circuit_info(CircuitShape::new(64, true).unwrap()).unwrap();
        assert_eq!(info.public_inputs, 1);
        assert_eq!(
            info.constraints,
            info.parts.sha
                + info.parts.chacha
                + info.parts.lock
                + info.parts.link
                + info.parts.commitment
                + info.parts.other
        );
        // Seven stream scalars: four permutations and the equality with the input.
        assert_eq!(info.parts.commitment, 4 * 243 + 1);
        println!("{info:#?}");
    }
}
