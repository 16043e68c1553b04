//! Public-input packing, shared by the prover, the verifier and the judge actor.
//!
//! The statement is serialised into one byte stream and cut into 31-byte pieces, each read as a
//! little-endian integer (< 2^248 < r) and taken as one BN254 scalar:
//!
//! | bytes            | field                                                            |
//! |------------------|------------------------------------------------------------------|
//! | 0..8             | `index`, u64 little-endian                                       |
//! | 8..10            | `len`, u16 little-endian (0..=S)                                 |
//! | 10               | flags: bit 0 `final_chunk`, bit 1 link (`lock_prev` present)     |
//! | 11..19           | `n = off + len` (u64 LE, < 2^61) if final, else 0                |
//! | 19..51           | `h_in` (8 big-endian words)                                      |
//! | 51..83           | `h_out`                                                          |
//! | 83..115          | `lock`                                                           |
//! | 115..147         | `lock_prev` (zeros if absent) — only in circuits with `link`     |
//! | next `S` bytes   | ciphertext, zero-padded from `len` to `S`                        |
//!
//! That gives `k = ceil((19 + 96 [+ 32] + S) / 31)` stream scalars (7 for S = 64 with link, 38
//! for S = 1 KiB with link, 137 for S = 4 KiB with link). The circuit has **one public input**:
//! the Poseidon sponge commitment to the `k` scalars ([`crate::poseidon::commit`], `ceil(k/2)`
//! permutations), which the circuit recomputes from the same bits. A verifier (client or judge)
//! recomputes it natively from the statement: each scalar fed to Groth16 costs the verifier a
//! scalar multiplication, a Poseidon permutation costs about as much as twenty field
//! multiplications of it.

use alloc::vec::Vec;
use ark_bn254::Fr;
use ark_ff::PrimeField;

use crate::error::{Result, ZkError};
use crate::poseidon::commit;
use crate::types::{ChunkPublic, CircuitShape};

/// Bytes per public input element.
pub const BYTES_PER_INPUT: usize = 31;
/// Bytes of the header (index, len, flags, block length).
pub const HEADER_BYTES: usize = 19;
/// Offset of `h_in` in the stream.
pub const H_IN_OFFSET: usize = 19;
/// Offset of `h_out` in the stream.
pub const H_OUT_OFFSET: usize = 51;
/// Offset of `lock` in the stream.
pub const LOCK_OFFSET: usize = 83;
/// Offset of `lock_prev` in the stream (circuits with link).
pub const LOCK_PREV_OFFSET: usize = 115;
/// Block lengths must stay below this (the padding's bit length is 64 bits).
pub const MAX_BLOCK_LEN: u64 = 1 << 61;

/// Offset of the ciphertext in the stream.
pub fn ciphertext_offset(shape: &CircuitShape) -> usize {
    if shape.link {
        LOCK_PREV_OFFSET + 32
    } else {
        LOCK_PREV_OFFSET
    }
}

/// Length of the packed byte stream.
pub fn stream_len(shape: &CircuitShape) -> usize {
    ciphertext_offset(shape) + shape.chunk_size
}

/// Number of 31-byte scalars the statement is packed into.
pub fn num_stream_scalars(shape: &CircuitShape) -> usize {
    stream_len(shape).div_ceil(BYTES_PER_INPUT)
}

/// Number of public inputs (field elements) of a circuit: the one commitment.
pub fn num_public_inputs(_shape: &CircuitShape) -> usize {
    1
}

/// Check a statement against a circuit shape.
pub fn check_statement(shape: &CircuitShape, p: &ChunkPublic) -> Result<()> {
    let s = shape.chunk_size;
    if p.len as usize > s {
        return Err(ZkError::Statement("len exceeds the chunk size"));
    }
    if p.ciphertext.len() != p.len as usize {
        return Err(ZkError::Statement("ciphertext length differs from len"));
    }
    if !p.final_chunk && p.len as usize != s {
        return Err(ZkError::Statement("a non-final chunk must be full"));
    }
    if p.off % s as u64 != 0 {
        return Err(ZkError::Statement(
            "offset is not a multiple of the chunk size",
        ));
    }
    match p.block_len() {
        Some(n) if n < MAX_BLOCK_LEN => {}
        _ => return Err(ZkError::Statement("block too long")),
    }
    if p.lock_prev.is_some() && !shape.link {
        return Err(ZkError::Statement("lock_prev needs a circuit with link"));
    }
    Ok(())
}

/// The packed byte stream of a statement (see the module docs).
pub fn public_stream(shape: &CircuitShape, p: &ChunkPublic) -> Result<Vec<u8>> {
    check_statement(shape, p)?;
    let mut out = Vec::with_capacity(stream_len(shape));
    out.extend_from_slice(&p.index.to_le_bytes());
    out.extend_from_slice(&(p.len as u16).to_le_bytes());
    out.push(p.final_chunk as u8 | ((p.lock_prev.is_some() as u8) << 1));
    let n = if p.final_chunk {
        p.block_len().unwrap_or(0)
    } else {
        0
    };
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&p.h_in);
    out.extend_from_slice(&p.h_out);
    out.extend_from_slice(&p.lock);
    if shape.link {
        out.extend_from_slice(&p.lock_prev.unwrap_or([0u8; 32]));
    }
    out.extend_from_slice(&p.ciphertext);
    out.resize(stream_len(shape), 0);
    Ok(out)
}

/// The stream cut into 31-byte little-endian scalars.
pub fn stream_scalars(shape: &CircuitShape, p: &ChunkPublic) -> Result<Vec<Fr>> {
    let stream = public_stream(shape, p)?;
    Ok(stream
        .chunks(BYTES_PER_INPUT)
        .map(Fr::from_le_bytes_mod_order)
        .collect())
}

/// The public inputs of a chunk proof: the Poseidon commitment to the stream scalars.
pub fn public_inputs(shape: &CircuitShape, p: &ChunkPublic) -> Result<Vec<Fr>> {
    Ok(alloc::vec![commit(&stream_scalars(shape, p)?)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let s = |n, l| CircuitShape::new(n, l).unwrap();
        assert_eq!(num_stream_scalars(&s(64, true)), 7);
        assert_eq!(num_stream_scalars(&s(1024, true)), 38);
        assert_eq!(num_stream_scalars(&s(4096, true)), 137);
        assert_eq!(num_stream_scalars(&s(1024, false)), 37);
        assert_eq!(num_public_inputs(&s(1024, true)), 1);
    }
}
