//! Chunk encryption: `c_i = ChaCha20(K_j, nonce = i, m_i)`.
//!
//! The exact layout, so that any RFC 8439 ChaCha20 can decrypt: the 256-bit key is the interval
//! key `K_j`; the 96-bit nonce is four zero bytes followed by the chunk's index in the deal as a
//! 64-bit little-endian integer (state words 13, 14, 15 = `0`, `i mod 2^32`, `i >> 32`); the
//! 32-bit block counter (word 12) starts at 0 and counts 64-byte blocks of the chunk. Ciphertext
//! is plaintext XOR keystream, as long as the plaintext. Chunk indices are unique within a deal
//! and every interval has its own key, so no (key, nonce) pair is ever used twice.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;

use crate::keys::IntervalKey;

/// The 96-bit ChaCha20 nonce of chunk `index`.
pub fn chunk_nonce(index: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&index.to_le_bytes());
    nonce
}

/// Encrypts (or decrypts: the operation is its own inverse) chunk `index` in place.
pub fn apply_chunk_keystream(key: &IntervalKey, index: u64, buf: &mut [u8]) {
    let mut c = ChaCha20::new(key.expose().into(), &chunk_nonce(index).into());
    c.apply_keystream(buf);
}

/// Encrypts chunk `index`'s plaintext in place.
pub fn encrypt_chunk(key: &IntervalKey, index: u64, plaintext: &mut [u8]) {
    apply_chunk_keystream(key, index, plaintext)
}

/// Decrypts chunk `index`'s ciphertext in place.
pub fn decrypt_chunk(key: &IntervalKey, index: u64, ciphertext: &mut [u8]) {
    apply_chunk_keystream(key, index, ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_layout_is_four_zero_bytes_then_index_le() {
        assert_eq!(chunk_nonce(0x4a), [0, 0, 0, 0, 0x4a, 0, 0, 0, 0, 0, 0, 0]);
        let n = chunk_nonce(0x0102_0304_0506_0708);
        assert_eq!(&n[..4], &[0, 0, 0, 0]);
        assert_eq!(&n[4..], &[8, 7, 6, 5, 4, 3, 2, 1]);
    }

    /// RFC 8439 appendix A.1, test vector #1: zero key, zero nonce, counter 0 — our chunk 0.
    #[test]
    fn chunk_zero_under_zero_key_is_rfc8439_vector_1() {
        let key = IntervalKey::from_bytes([0; 32]);
        let mut ks = [0u8; 64];
        apply_chunk_keystream(&key, 0, &mut ks);
        let expected = "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7\
                        da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586";
        let expected: String = expected.split_whitespace().collect();
        assert_eq!(hex::encode(ks), expected);
    }

    #[test]
    fn second_block_of_a_chunk_uses_counter_one() {
        use chacha20::cipher::StreamCipherSeek;
        let key = IntervalKey::from_bytes(core::array::from_fn(|i| i as u8));
        let mut a = [0u8; 128];
        apply_chunk_keystream(&key, 5, &mut a);
        let mut c = ChaCha20::new(key.expose().into(), &chunk_nonce(5).into());
        c.seek(64u32);
        let mut d = [0u8; 64];
        c.apply_keystream(&mut d);
        assert_eq!(&a[64..], &d);
    }

    #[test]
    fn round_trip_and_wrong_key_or_index() {
        let key = IntervalKey::from_bytes([1; 32]);
        let msg: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut buf = msg.clone();
        encrypt_chunk(&key, 7, &mut buf);
        assert_ne!(buf, msg);
        let mut wrong = buf.clone();
        decrypt_chunk(&IntervalKey::from_bytes([2; 32]), 7, &mut wrong);
        assert_ne!(wrong, msg);
        let mut wrong = buf.clone();
        decrypt_chunk(&key, 8, &mut wrong);
        assert_ne!(wrong, msg);
        decrypt_chunk(&key, 7, &mut buf);
        assert_eq!(buf, msg);
    }
}
