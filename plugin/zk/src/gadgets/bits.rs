//! Boolean and 32-bit word arithmetic over a constraint system, written for constraint count.
//!
//! A [`Bit`] is a linear combination known to take the value 0 or 1 (a constant, an allocated
//! boolean, its negation, or a sum of mutually exclusive booleans). A [`Word`] is 32 bits, least
//! significant first, so rotations and byte re-orderings are free. Additions are deferred: a
//! [`Num`] is any linear combination with a known upper bound, and [`add_many`] reduces a sum of
//! `Num`s modulo 2^32 with a single range decomposition.

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field, One};
use ark_relations::gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};

/// Linear combinations over the BN254 scalar field.
pub type Lc = LinearCombination<Fr>;

/// Result of constraint synthesis.
pub type Result<T> = core::result::Result<T, SynthesisError>;

/// A boolean-valued linear combination with its (prover-side) value.
#[derive(Clone, Debug)]
pub struct Bit {
    lc: Lc,
    value: Option<bool>,
    constant: Option<bool>,
}

impl Bit {
    /// The constant `b`.
    pub fn constant(b: bool) -> Self {
        let lc = if b {
            Lc::from(Variable::One)
        } else {
            Lc::zero()
        };
        Bit {
            lc,
            value: Some(b),
            constant: Some(b),
        }
    }

    /// Wrap a linear combination that the caller has already constrained to 0/1.
    pub fn from_lc(lc: Lc, value: Option<bool>) -> Self {
        Bit {
            lc,
            value,
            constant: None,
        }
    }

    /// Allocate a witness bit, with one booleanity constraint `b * (1 - b) = 0`.
    pub fn alloc(cs: &ConstraintSystemRef<Fr>, value: Option<bool>) -> Result<Self> {
        let v = cs.new_witness_variable(|| {
            value.map(Fr::from).ok_or(SynthesisError::AssignmentMissing)
        })?;
        cs.enforce_r1cs_constraint(|| v.into(), || Lc::from(Variable::One) - v, Lc::zero)?;
        Ok(Bit::from_lc(v.into(), value))
    }

    /// The linear combination.
    pub fn lc(&self) -> &Lc {
        &self.lc
    }

    /// The value, if known (always known for constants; known in proving mode otherwise).
    pub fn value(&self) -> Option<bool> {
        self.value
    }

    /// `Some(b)` if this bit is the constant `b`.
    pub fn as_constant(&self) -> Option<bool> {
        self.constant
    }

    /// Logical negation, free: `1 - b`.
    pub fn not(&self) -> Self {
        match self.constant {
            Some(b) => Bit::constant(!b),
            None => Bit {
                lc: Lc::from(Variable::One) - &self.lc,
                value: self.value.map(|b| !b),
                constant: None,
            },
        }
    }
}

fn new_var(cs: &ConstraintSystemRef<Fr>, value: Option<bool>) -> Result<Variable> {
    cs.new_witness_variable(|| value.map(Fr::from).ok_or(SynthesisError::AssignmentMissing))
}

fn both(a: Option<bool>, b: Option<bool>, f: impl Fn(bool, bool) -> bool) -> Option<bool> {
    Some(f(a?, b?))
}

fn scaled(lc: &Lc, k: Fr) -> Lc {
    lc.clone() * k
}

/// `a XOR b`: one constraint `(2a) * b = a + b - c`, none if an input is constant.
pub fn xor(cs: &ConstraintSystemRef<Fr>, a: &Bit, b: &Bit) -> Result<Bit> {
    match (a.constant, b.constant) {
        (Some(x), _) => Ok(if x { b.not() } else { b.clone() }),
        (_, Some(y)) => Ok(if y { a.not() } else { a.clone() }),
        _ => {
            let value = both(a.value, b.value, |x, y| x ^ y);
            let c = new_var(cs, value)?;
            let two = Fr::from(2u64);
            cs.enforce_r1cs_constraint(
                || scaled(&a.lc, two),
                || b.lc.clone(),
                || a.lc.clone() + &b.lc - c,
            )?;
            Ok(Bit::from_lc(c.into(), value))
        }
    }
}

/// `a AND b`: one constraint, none if an input is constant.
pub fn and(cs: &ConstraintSystemRef<Fr>, a: &Bit, b: &Bit) -> Result<Bit> {
    match (a.constant, b.constant) {
        (Some(x), _) => Ok(if x { b.clone() } else { Bit::constant(false) }),
        (_, Some(y)) => Ok(if y { a.clone() } else { Bit::constant(false) }),
        _ => {
            let value = both(a.value, b.value, |x, y| x & y);
            let c = new_var(cs, value)?;
            cs.enforce_r1cs_constraint(|| a.lc.clone(), || b.lc.clone(), || c.into())?;
            Ok(Bit::from_lc(c.into(), value))
        }
    }
}

/// SHA-256 `Ch(e, f, g) = e ? f : g`: one constraint `e * (f - g) = ch - g`.
pub fn ch(cs: &ConstraintSystemRef<Fr>, e: &Bit, f: &Bit, g: &Bit) -> Result<Bit> {
    if let Some(x) = e.constant {
        return Ok(if x { f.clone() } else { g.clone() });
    }
    match (f.constant, g.constant) {
        (Some(x), Some(y)) if x == y => return Ok(Bit::constant(x)),
        (Some(true), Some(false)) => return Ok(e.clone()),
        (Some(false), Some(true)) => return Ok(e.not()),
        _ => {}
    }
    let value = match (e.value, f.value, g.value) {
        (Some(e), Some(f), Some(g)) => Some(if e { f } else { g }),
        _ => None,
    };
    let c = new_var(cs, value)?;
    cs.enforce_r1cs_constraint(
        || e.lc.clone(),
        || f.lc.clone() - &g.lc,
        || Lc::from(c) - &g.lc,
    )?;
    Ok(Bit::from_lc(c.into(), value))
}

/// SHA-256 `Maj(a, b, c)` as `(a XOR b) ? c : a`: two constraints (fewer with constants).
pub fn maj(cs: &ConstraintSystemRef<Fr>, a: &Bit, b: &Bit, c: &Bit) -> Result<Bit> {
    let x = xor(cs, a, b)?;
    ch(cs, &x, c, a)
}

/// `a XOR b XOR c` as a linear combination (two constraints; one if an input is constant). The
/// result is 0/1 valued but carries no variable of its own, so it is meant for additions.
pub fn xor3(cs: &ConstraintSystemRef<Fr>, a: &Bit, b: &Bit, c: &Bit) -> Result<Bit> {
    let t = xor(cs, a, b)?;
    if t.constant.is_some() || c.constant.is_some() {
        return xor(cs, &t, c);
    }
    // t + c - 2tc with p = t * c.
    let value = both(t.value, c.value, |x, y| x ^ y);
    let p = new_var(cs, both(t.value, c.value, |x, y| x & y))?;
    cs.enforce_r1cs_constraint(|| t.lc.clone(), || c.lc.clone(), || p.into())?;
    let lc = t.lc + &c.lc + (-Fr::from(2u64), p);
    Ok(Bit::from_lc(lc, value))
}

/// 32 bits, least significant first.
#[derive(Clone, Debug)]
pub struct Word(pub [Bit; 32]);

impl Word {
    /// The constant `x`.
    pub fn constant(x: u32) -> Self {
        Word(core::array::from_fn(|i| Bit::constant((x >> i) & 1 == 1)))
    }

    /// Allocate 32 witness bits (32 booleanity constraints).
    pub fn alloc(cs: &ConstraintSystemRef<Fr>, value: Option<u32>) -> Result<Self> {
        let mut bits = Vec::with_capacity(32);
        for i in 0..32 {
            bits.push(Bit::alloc(cs, value.map(|x| (x >> i) & 1 == 1))?);
        }
        Ok(Word(to_array(bits)))
    }

    /// The value, if every bit is known.
    pub fn value(&self) -> Option<u32> {
        let mut x = 0u32;
        for (i, b) in self.0.iter().enumerate() {
            x |= (b.value? as u32) << i;
        }
        Some(x)
    }

    /// `Some(x)` if every bit is constant.
    pub fn as_constant(&self) -> Option<u32> {
        let mut x = 0u32;
        for (i, b) in self.0.iter().enumerate() {
            x |= (b.constant? as u32) << i;
        }
        Some(x)
    }

    /// Rotate right by `r` (free).
    pub fn rotr(&self, r: usize) -> Self {
        Word(core::array::from_fn(|i| self.0[(i + r) % 32].clone()))
    }

    /// Rotate left by `r` (free).
    pub fn rotl(&self, r: usize) -> Self {
        self.rotr((32 - r % 32) % 32)
    }

    /// Logical shift right by `r` (free).
    pub fn shr(&self, r: usize) -> Self {
        Word(core::array::from_fn(|i| {
            if i + r < 32 {
                self.0[i + r].clone()
            } else {
                Bit::constant(false)
            }
        }))
    }

    /// Bitwise XOR (32 constraints, fewer with constant bits).
    pub fn xor(&self, cs: &ConstraintSystemRef<Fr>, other: &Word) -> Result<Word> {
        let mut bits = Vec::with_capacity(32);
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            bits.push(xor(cs, a, b)?);
        }
        Ok(Word(to_array(bits)))
    }

    /// This word as a number `sum 2^i b_i`.
    pub fn num(&self) -> Num {
        Num::from_bits(&self.0)
    }

    /// The little-endian byte `k` (bits 8k..8k+8).
    pub fn byte(&self, k: usize) -> [Bit; 8] {
        core::array::from_fn(|i| self.0[8 * k + i].clone())
    }

    /// Build a word from four bytes (least significant bits first in each), `bytes[0]` being the
    /// least significant byte.
    pub fn from_le_bytes(bytes: [&[Bit; 8]; 4]) -> Self {
        Word(core::array::from_fn(|i| bytes[i / 8][i % 8].clone()))
    }

    /// Build a word from four bytes, `bytes[0]` being the most significant byte (SHA-256 order).
    pub fn from_be_bytes(bytes: [&[Bit; 8]; 4]) -> Self {
        Word(core::array::from_fn(|i| bytes[3 - i / 8][i % 8].clone()))
    }
}

pub(crate) fn to_array<T: core::fmt::Debug, const N: usize>(v: Vec<T>) -> [T; N] {
    match v.try_into() {
        Ok(a) => a,
        Err(v) => panic!("expected {N} elements, got {}", v.len()),
    }
}

/// A linear combination whose integer value is at most `bound`, for deferred additions.
#[derive(Clone, Debug)]
pub struct Num {
    lc: Lc,
    value: Option<u64>,
    bound: u64,
    constant: bool,
}

impl Num {
    /// The constant `x`.
    pub fn constant(x: u32) -> Self {
        Num {
            lc: Lc::from((Fr::from(x as u64), Variable::One)),
            value: Some(x as u64),
            bound: x as u64,
            constant: true,
        }
    }

    /// `2^32 - w`, bounded by `2^32`: adding it subtracts `w` modulo `2^32`.
    pub fn neg_mod(w: &Word) -> Self {
        let n = w.num();
        let two32 = Fr::from(1u64 << 32);
        let mut lc = Lc::from((two32, Variable::One));
        lc.0.extend(n.lc.0.iter().map(|(c, v)| (-*c, *v)));
        lc.compactify();
        Num {
            lc,
            value: n.value.map(|x| (1u64 << 32) - x),
            bound: 1u64 << 32,
            constant: n.constant,
        }
    }

    /// `sum 2^i bits[i]` (bits must be boolean-valued).
    pub fn from_bits(bits: &[Bit]) -> Self {
        let mut lc = Lc::zero();
        let mut value = Some(0u64);
        let mut coeff = Fr::one();
        let mut constant = true;
        for (i, b) in bits.iter().enumerate() {
            if b.constant != Some(false) {
                lc.0.extend(b.lc.0.iter().map(|(c, v)| (coeff * c, *v)));
            }
            constant &= b.constant.is_some();
            value = match (value, b.value) {
                (Some(v), Some(x)) => Some(v | ((x as u64) << i)),
                _ => None,
            };
            coeff.double_in_place();
        }
        lc.compactify();
        Num {
            lc,
            value,
            bound: (1u64 << bits.len()) - 1,
            constant,
        }
    }

    /// The linear combination.
    pub fn lc(&self) -> &Lc {
        &self.lc
    }

    /// The value, if known.
    pub fn value(&self) -> Option<u64> {
        self.value
    }
}

/// `sum(operands) mod 2^32` with one range decomposition: 32 result bits plus `k - 1` carry bits
/// are allocated (booleanity each) and the top carry bit is the linear combination
/// `(sum - result - lower carries) / 2^(32 + k - 1)`, whose booleanity is the last constraint.
/// So two operands cost 33 constraints, up to four cost 34, up to eight cost 35.
pub fn add_many(cs: &ConstraintSystemRef<Fr>, operands: &[Num]) -> Result<Word> {
    let mut lc = Lc::zero();
    let mut value = Some(0u64);
    let mut bound = 0u64;
    let mut constant = true;
    for n in operands {
        lc.0.extend_from_slice(&n.lc.0);
        value = match (value, n.value) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        bound += n.bound;
        constant &= n.constant;
    }
    if constant {
        let v = value.unwrap_or(0);
        return Ok(Word::constant(v as u32));
    }
    let carry_bits = (64 - (bound >> 32).leading_zeros()) as usize;
    let mut bits = Vec::with_capacity(32);
    let mut rest = lc;
    let mut coeff = Fr::one();
    for i in 0..32 {
        let b = Bit::alloc(cs, value.map(|v| (v >> i) & 1 == 1))?;
        rest.0.extend(b.lc.0.iter().map(|(c, v)| (-coeff * c, *v)));
        bits.push(b);
        coeff.double_in_place();
    }
    rest.compactify();
    if carry_bits == 0 {
        // The sum fits 32 bits: it must equal the decomposition.
        cs.enforce_r1cs_constraint(|| rest, || Variable::One.into(), Lc::zero)?;
    } else {
        for i in 0..carry_bits - 1 {
            let b = Bit::alloc(cs, value.map(|v| (v >> (32 + i)) & 1 == 1))?;
            rest.0.extend(b.lc.0.iter().map(|(c, v)| (-coeff * c, *v)));
            coeff.double_in_place();
        }
        // top = rest / 2^(32 + carry_bits - 1) must be boolean.
        let inv = coeff.inverse().ok_or(SynthesisError::Unsatisfiable)?;
        let top = rest * inv;
        cs.enforce_r1cs_constraint(|| top.clone(), || Lc::from(Variable::One) - &top, Lc::zero)?;
    }
    Ok(Word(to_array(bits)))
}

/// Enforce `a = b` for two linear combinations (one constraint).
pub fn enforce_equal(cs: &ConstraintSystemRef<Fr>, a: Lc, b: Lc) -> Result<()> {
    cs.enforce_r1cs_constraint(|| a - &b, || Variable::One.into(), Lc::zero)
}
