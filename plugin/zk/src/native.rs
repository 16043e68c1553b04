//! The relation computed natively with `sha2` and `chacha20`: what an honest provider does, and
//! how tests build valid instances.

use alloc::vec::Vec;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use sha2::{Digest, Sha256};

use crate::types::{ChunkPublic, ChunkWitness};

/// Domain tag of the backward key chain `K_prev = SHA256(TAG || K)`.
pub const KEY_CHAIN_TAG: &[u8; 18] = b"ozkcp/key-chain/v1";

/// The SHA-256 initial state.
pub const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Serialise a SHA-256 state as 32 bytes (big-endian words).
pub fn state_to_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, w) in state.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// Parse a SHA-256 state from 32 bytes (big-endian words).
pub fn state_from_bytes(bytes: &[u8; 32]) -> [u32; 8] {
    core::array::from_fn(|i| {
        u32::from_be_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    })
}

/// The lock `L = SHA256(K)`.
pub fn lock(key: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(key).into()
}

/// The previous interval's key `K_prev = SHA256(TAG || K)`.
pub fn prev_key(key: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(KEY_CHAIN_TAG);
    h.update(key);
    h.finalize().into()
}

/// The previous interval's lock `L_prev = SHA256(K_prev)`.
pub fn lock_prev(key: &[u8; 32]) -> [u8; 32] {
    lock(&prev_key(key))
}

/// ChaCha20 (RFC 8439) of a chunk: nonce = 4 zero bytes || index (u64 LE), counter from 0.
pub fn encrypt_chunk(key: &[u8; 32], index: u64, data: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&index.to_le_bytes());
    let mut c = chacha20::ChaCha20::new(key.into(), (&nonce).into());
    let mut out = data.to_vec();
    c.apply_keystream(&mut out);
    out
}

/// The chaining value after a chunk: compress its bytes (a non-final chunk must be a multiple of
/// 64 bytes); for the final chunk also the SHA-256 padding for a block of `off + data.len()`
/// bytes.
pub fn chain(h_in: &[u8; 32], off: u64, data: &[u8], final_chunk: bool) -> [u8; 32] {
    let mut state = state_from_bytes(h_in);
    let mut buf = data.to_vec();
    if final_chunk {
        let bits = (off + data.len() as u64) * 8;
        buf.push(0x80);
        while buf.len() % 64 != 56 {
            buf.push(0);
        }
        buf.extend_from_slice(&bits.to_be_bytes());
    }
    assert!(buf.len() % 64 == 0, "non-final chunk must be whole blocks");
    for block in buf.chunks(64) {
        let block: [u8; 64] = block.try_into().unwrap_or([0u8; 64]);
        sha2::compress256(&mut state, &[block.into()]);
    }
    state_to_bytes(&state)
}

/// Cut a block into chunks of `chunk_size` and build each chunk's statement and witness, as an
/// honest provider does. `first_index` is the deal index of the block's first chunk;
/// `with_lock_prev` adds `lock_prev` to the first chunk's statement.
pub fn block_instances(
    block: &[u8],
    chunk_size: usize,
    first_index: u64,
    key: &[u8; 32],
    with_lock_prev: bool,
) -> Vec<(ChunkPublic, ChunkWitness)> {
    let n = block.len();
    let count = if n == 0 { 1 } else { n.div_ceil(chunk_size) };
    let l = lock(key);
    let mut h = state_to_bytes(&SHA256_IV);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let off = i * chunk_size;
        let end = (off + chunk_size).min(n);
        let data = &block[off..end];
        let final_chunk = i + 1 == count;
        let h_out = chain(&h, off as u64, data, final_chunk);
        let index = first_index + i as u64;
        out.push((
            ChunkPublic {
                index,
                off: off as u64,
                len: data.len() as u32,
                final_chunk,
                h_in: h,
                h_out,
                lock: l,
                lock_prev: (with_lock_prev && i == 0).then(|| lock_prev(key)),
                ciphertext: encrypt_chunk(key, index, data),
            },
            ChunkWitness {
                key: *key,
                plaintext: data.to_vec(),
            },
        ));
        h = h_out;
    }
    out
}

/// Check natively that a witness fits a statement (what the circuit proves), so a provider
/// never spends a proof on a wrong instance.
pub fn check_instance(
    shape: &crate::types::CircuitShape,
    p: &ChunkPublic,
    w: &ChunkWitness,
) -> crate::error::Result<()> {
    use crate::error::ZkError::Statement;
    crate::packing::check_statement(shape, p)?;
    if w.plaintext.len() != p.len as usize {
        return Err(Statement("plaintext length differs from len"));
    }
    if encrypt_chunk(&w.key, p.index, &w.plaintext) != p.ciphertext {
        return Err(Statement(
            "ciphertext is not the encryption of the plaintext",
        ));
    }
    if lock(&w.key) != p.lock {
        return Err(Statement("lock is not SHA256(key)"));
    }
    if let Some(lp) = p.lock_prev {
        if lock_prev(&w.key) != lp {
            return Err(Statement("lock_prev is not SHA256(SHA256(TAG || key))"));
        }
    }
    if chain(&p.h_in, p.off, &w.plaintext, p.final_chunk) != p.h_out {
        return Err(Statement("h_out is not the chaining value after the chunk"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_h_out_is_block_digest() {
        for n in [0usize, 1, 55, 56, 63, 64, 65, 200, 1000] {
            let block: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let inst = block_instances(&block, 128, 5, &[9u8; 32], true);
            let last = &inst.last().unwrap().0;
            assert_eq!(
                last.h_out,
                <[u8; 32]>::from(Sha256::digest(&block)),
                "n = {n}"
            );
        }
    }
}
