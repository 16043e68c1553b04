//! The statement and witness of one chunk proof, and the shape of a circuit.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Result, ZkError};

/// Largest chunk size the zk circuit supports.
pub const MAX_CHUNK_SIZE: usize = 4096;

/// Which circuit: the chunk size and whether it carries the key-chain link.
///
/// With `link`, every chunk proof can (when its statement has `lock_prev`) also prove
/// `L_prev = SHA256(SHA256(TAG || K))`, the backward key chain; the link costs two SHA-256
/// compressions in every proof of that circuit, so a deal picks the shape once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CircuitShape {
    /// Chunk size `S` in bytes (a multiple of 64, 64..=4096).
    pub chunk_size: usize,
    /// Whether the circuit has the chain-link constraint (selected per chunk by a public flag).
    pub link: bool,
}

impl CircuitShape {
    /// A shape, checking the chunk size.
    pub fn new(chunk_size: usize, link: bool) -> Result<Self> {
        if chunk_size == 0 || chunk_size % 64 != 0 || chunk_size > MAX_CHUNK_SIZE {
            return Err(ZkError::ChunkSize(chunk_size));
        }
        Ok(CircuitShape { chunk_size, link })
    }

    /// SHA-256 compressions over the chunk's bytes (one more than `S/64` for the padding).
    pub fn data_compressions(&self) -> usize {
        self.chunk_size / 64 + 1
    }

    /// ChaCha20 blocks per chunk.
    pub fn chacha_blocks(&self) -> usize {
        self.chunk_size / 64
    }
}

/// The public side of one chunk proof (what the verifier knows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkPublic {
    /// The chunk's index within the deal (the ChaCha20 nonce).
    pub index: u64,
    /// Offset of the chunk within its block (a multiple of `S`).
    pub off: u64,
    /// Bytes in the chunk (`S` unless final).
    pub len: u32,
    /// Whether this is its block's last chunk (then `h_out` includes SHA-256 padding for the
    /// block length `off + len`, so it is the block's digest).
    pub final_chunk: bool,
    /// SHA-256 state before the chunk (big-endian words; the IV at a block's start).
    pub h_in: [u8; 32],
    /// SHA-256 state after the chunk.
    pub h_out: [u8; 32],
    /// The interval's lock `L = SHA256(K)`.
    pub lock: [u8; 32],
    /// The previous interval's lock `L_prev = SHA256(SHA256(TAG || K))`, proven when present
    /// (needs a circuit with `link`).
    pub lock_prev: Option<[u8; 32]>,
    /// The `len` ciphertext bytes.
    pub ciphertext: Vec<u8>,
}

impl ChunkPublic {
    /// The block length `off + len` that a final chunk's padding encodes.
    pub fn block_len(&self) -> Option<u64> {
        self.off.checked_add(self.len as u64)
    }
}

/// The prover's secret: the interval key and the chunk's plaintext. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ChunkWitness {
    /// The interval key `K`.
    pub key: [u8; 32],
    /// The chunk's `len` plaintext bytes.
    pub plaintext: Vec<u8>,
}

impl core::fmt::Debug for ChunkWitness {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChunkWitness")
            .field("key", &"<secret>")
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}
