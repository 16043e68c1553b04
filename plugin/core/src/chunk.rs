//! Cutting a block into chunks and the SHA-256 chaining values that bind each chunk to the block.
//!
//! A block of `n` bytes is cut into chunks of `S` bytes; the last chunk is shorter (an empty block
//! has one empty chunk; a block whose length is a multiple of `S` ends with a full chunk). Chunk `i`
//! carries `h_in`, the SHA-256 internal state before its bytes (the IV at the block's start), and
//! `h_out`, the state after them. The final chunk also absorbs SHA-256's padding for the whole
//! block (`0x80`, zeros, the 64-bit big-endian bit length `8n`), so its `h_out` is SHA-256 of the
//! block: the digest in the block's CID. States are written as 32 bytes, the eight 32-bit words
//! big-endian, exactly as SHA-256 writes its digest.

use sha2::{Digest, Sha256};

use crate::bytes::Bytes32;

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
pub const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Smallest chunk size.
pub const MIN_CHUNK_SIZE: u32 = 64;
/// Largest chunk size (1 MiB).
pub const MAX_CHUNK_SIZE: u32 = 1 << 20;

/// Why a chunking request is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The chunk size is not a multiple of 64 in 64 B … 1 MiB.
    #[error("chunk size {0} B is invalid: it must be a multiple of 64 between 64 B and 1 MiB")]
    BadChunkSize(u32),
    /// A non-final chunk's length is not the chunk size, or a final chunk is longer.
    #[error(
        "chunk of {len} B at offset {offset} does not fit chunk size {size} B (final: {is_final})"
    )]
    BadLength {
        /// Chunk length.
        len: usize,
        /// Offset in the block.
        offset: u64,
        /// The chunk size.
        size: u32,
        /// Whether the chunk is the block's last.
        is_final: bool,
    },
}

/// A validated chunk size `S`: a multiple of 64 bytes between 64 B and 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkSize(u32);

impl ChunkSize {
    /// Validates `bytes` as a chunk size.
    pub fn new(bytes: u32) -> Result<Self, ChunkError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&bytes) || !bytes.is_multiple_of(64) {
            return Err(ChunkError::BadChunkSize(bytes));
        }
        Ok(ChunkSize(bytes))
    }

    /// The size in bytes.
    pub fn get(self) -> u32 {
        self.0
    }

    /// How many chunks a block of `block_len` bytes is cut into (at least one).
    pub fn chunks_in(self, block_len: u64) -> u64 {
        block_len.div_ceil(u64::from(self.0)).max(1)
    }

    /// The spans of the chunks of a block of `block_len` bytes, in order.
    pub fn spans(self, block_len: u64) -> impl Iterator<Item = ChunkSpan> {
        let s = u64::from(self.0);
        let count = self.chunks_in(block_len);
        (0..count).map(move |k| {
            let offset = k * s;
            let is_final = k + 1 == count;
            let len = if is_final { block_len - offset } else { s };
            ChunkSpan {
                offset,
                len: len as u32,
                is_final,
                block_len,
            }
        })
    }
}

/// Where a chunk sits in its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpan {
    /// Byte offset of the chunk in the block.
    pub offset: u64,
    /// Length of the chunk in bytes.
    pub len: u32,
    /// Whether this is the block's last chunk (which absorbs the padding).
    pub is_final: bool,
    /// Length of the whole block.
    pub block_len: u64,
}

impl ChunkSpan {
    /// The byte range of the chunk in its block.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.offset as usize..(self.offset as usize + self.len as usize)
    }
}

/// A chunk's chaining values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chaining {
    /// State before the chunk.
    pub h_in: Bytes32,
    /// State after the chunk (the block's digest on its final chunk).
    pub h_out: Bytes32,
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Bytes32 {
    Bytes32(Sha256::digest(data).into())
}

/// The IV as a chaining value.
pub fn iv() -> Bytes32 {
    state_to_bytes(&IV)
}

/// Writes a SHA-256 state as 32 bytes (words big-endian).
pub fn state_to_bytes(state: &[u32; 8]) -> Bytes32 {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    Bytes32(out)
}

/// Reads a SHA-256 state from 32 bytes (words big-endian).
pub fn bytes_to_state(bytes: &Bytes32) -> [u32; 8] {
    let mut state = [0u32; 8];
    for (w, b) in state.iter_mut().zip(bytes.0.chunks_exact(4)) {
        *w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    }
    state
}

/// Computes `h_out` for a chunk of `data` at `span` in its block, starting from `h_in`.
///
/// A non-final chunk must be exactly `size` bytes; a final one at most `size` bytes.
pub fn chain_chunk(
    h_in: &Bytes32,
    data: &[u8],
    span: &ChunkSpan,
    size: ChunkSize,
) -> Result<Bytes32, ChunkError> {
    let s = size.get() as usize;
    let fits = if span.is_final {
        data.len() <= s && span.offset + data.len() as u64 == span.block_len
    } else {
        data.len() == s
    };
    if !fits || data.len() != span.len as usize {
        return Err(ChunkError::BadLength {
            len: data.len(),
            offset: span.offset,
            size: size.get(),
            is_final: span.is_final,
        });
    }
    let mut state = bytes_to_state(h_in);
    let (blocks, rest) = data.as_chunks::<64>();
    sha2::block_api::compress256(&mut state, blocks);
    if span.is_final {
        let tail = padding_tail(rest, span.block_len);
        let (tail_blocks, _) = tail.buf[..tail.len].as_chunks::<64>();
        sha2::block_api::compress256(&mut state, tail_blocks);
    }
    Ok(state_to_bytes(&state))
}

/// The last partial 64-byte block of a message followed by SHA-256 padding: one or two blocks.
struct PaddedTail {
    buf: [u8; 128],
    len: usize,
}

fn padding_tail(rest: &[u8], block_len: u64) -> PaddedTail {
    debug_assert!(rest.len() < 64);
    let mut buf = [0u8; 128];
    buf[..rest.len()].copy_from_slice(rest);
    buf[rest.len()] = 0x80;
    let len = if rest.len() < 56 { 64 } else { 128 };
    buf[len - 8..len].copy_from_slice(&(block_len.wrapping_mul(8)).to_be_bytes());
    PaddedTail { buf, len }
}

/// Chains every chunk of `block`: the chaining values of each chunk, in order.
pub fn chain_block(block: &[u8], size: ChunkSize) -> Vec<(ChunkSpan, Chaining)> {
    let mut h = iv();
    size.spans(block.len() as u64)
        .map(|span| {
            let h_out = chain_chunk(&h, &block[span.range()], &span, size)
                .expect("spans come from the block itself");
            let c = Chaining { h_in: h, h_out };
            h = h_out;
            (span, c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn chunk_sizes_are_validated() {
        for bad in [0, 1, 63, 65, 100, 32, MAX_CHUNK_SIZE + 64, u32::MAX] {
            assert_eq!(ChunkSize::new(bad), Err(ChunkError::BadChunkSize(bad)));
        }
        for good in [64, 128, 1024, 16384, MAX_CHUNK_SIZE] {
            assert_eq!(ChunkSize::new(good).unwrap().get(), good);
        }
    }

    #[test]
    fn final_h_out_is_the_sha256_of_blocks_of_every_awkward_length() {
        for s in [64u32, 128, 256, 1024] {
            let size = ChunkSize::new(s).unwrap();
            let s = s as usize;
            for n in [0, 1, 55, 56, 63, 64, 65, s - 1, s, s + 1, 3 * s + 17] {
                let data = block(n);
                let links = chain_block(&data, size);
                assert_eq!(links.len() as u64, size.chunks_in(n as u64), "n={n} S={s}");
                assert_eq!(links[0].1.h_in, iv());
                for w in links.windows(2) {
                    assert_eq!(w[0].1.h_out, w[1].1.h_in, "chain breaks at n={n} S={s}");
                    assert!(!w[0].0.is_final);
                    assert_eq!(w[0].0.len as usize, s);
                }
                let (last_span, last) = links.last().unwrap();
                assert!(last_span.is_final);
                assert_eq!(last_span.offset + u64::from(last_span.len), n as u64);
                assert_eq!(last.h_out, sha256(&data), "n={n} S={s}");
            }
        }
    }

    #[test]
    fn non_final_h_out_is_the_raw_midstate() {
        let size = ChunkSize::new(64).unwrap();
        let data = block(130);
        let links = chain_block(&data, size);
        let mut st = IV;
        sha2::block_api::compress256(&mut st, data[..64].as_chunks::<64>().0);
        assert_eq!(links[0].1.h_out, state_to_bytes(&st));
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let size = ChunkSize::new(64).unwrap();
        let span = ChunkSpan {
            offset: 0,
            len: 64,
            is_final: false,
            block_len: 200,
        };
        assert!(matches!(
            chain_chunk(&iv(), &[0u8; 63], &span, size),
            Err(ChunkError::BadLength { len: 63, .. })
        ));
        let fin = ChunkSpan {
            offset: 128,
            len: 72,
            is_final: true,
            block_len: 200,
        };
        assert!(chain_chunk(&iv(), &[0u8; 72], &fin, size).is_err());
        let fin = ChunkSpan {
            offset: 128,
            len: 10,
            is_final: true,
            block_len: 200,
        };
        assert!(chain_chunk(&iv(), &[0u8; 10], &fin, size).is_err());
    }

    #[test]
    fn state_bytes_round_trip() {
        let b = Bytes32([0x5a; 32]);
        assert_eq!(state_to_bytes(&bytes_to_state(&b)), b);
        assert_eq!(bytes_to_state(&iv()), IV);
    }
}
