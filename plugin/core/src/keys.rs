//! Interval keys, their hash chain and their locks.
//!
//! Each payment interval `j` has a key `K_j` and a lock `L_j = SHA256(K_j)` that the client's
//! voucher for the interval carries. Keys form a chain backwards from a random last key:
//! `K_{j-1} = SHA256(KEY_CHAIN_TAG || K_j)`. Revealing `K_j` reveals every earlier key, so redeeming
//! the last voucher opens the whole deal, while `L_j` says nothing about `K_{j-1}`.
//!
//! Keys are zeroized on drop, compared in constant time and never printed.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::bytes::Bytes32;

/// Domain tag of the backward key chain (18 bytes, so `tag || key` fits one SHA-256 block).
pub const KEY_CHAIN_TAG: &[u8; 18] = b"ozkcp/key-chain/v1";

/// A lock: `SHA256(K_j)`, public, carried by vouchers and statements.
pub type Lock = Bytes32;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `SHA256(key)` is not the lock it should open.
    #[error("revealed key does not open lock {lock}")]
    WrongKey {
        /// The lock the key should have opened.
        lock: Lock,
    },
    /// A key index beyond the chain was asked for.
    #[error("interval {index} is outside a key chain of {len} keys")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// Keys in the chain.
        len: usize,
    },
}

/// The secret key of one payment interval.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct IntervalKey([u8; 32]);

impl IntervalKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        IntervalKey(bytes)
    }

    /// A fresh key from the operating system's random generator.
    #[cfg(feature = "std")]
    pub fn random() -> Self {
        use rand_core::{OsRng, RngCore};
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        IntervalKey(k)
    }

    /// The secret bytes. Handle with care: they must not be logged or kept unzeroized.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The lock `SHA256(K)`.
    pub fn lock(&self) -> Lock {
        Bytes32(Sha256::digest(self.0).into())
    }

    /// The previous interval's key, `SHA256(KEY_CHAIN_TAG || K)`.
    pub fn previous(&self) -> IntervalKey {
        let mut h = Sha256::new();
        h.update(KEY_CHAIN_TAG);
        h.update(self.0);
        IntervalKey(h.finalize().into())
    }

    /// Checks, in constant time, that this key opens `lock`.
    pub fn opens(&self, lock: &Lock) -> Result<(), KeyError> {
        if bool::from(self.lock().0.ct_eq(&lock.0)) {
            Ok(())
        } else {
            Err(KeyError::WrongKey { lock: *lock })
        }
    }

    /// Given this key as `K_j`, returns `K_0 … K_j` in order.
    pub fn with_earlier(&self, j: usize) -> Vec<IntervalKey> {
        let mut keys = Vec::with_capacity(j + 1);
        keys.push(self.clone());
        for _ in 0..j {
            let prev = keys.last().expect("never empty").previous();
            keys.push(prev);
        }
        keys.reverse();
        keys
    }
}

impl PartialEq for IntervalKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for IntervalKey {}

impl fmt::Debug for IntervalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntervalKey(<redacted>)")
    }
}

impl Serialize for IntervalKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for IntervalKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut b = Bytes32::deserialize(d)?;
        let key = IntervalKey(b.0);
        b.0.zeroize();
        Ok(key)
    }
}

/// The provider's keys for every interval of a deal, derived from one random last key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyChain {
    keys: Vec<IntervalKey>,
}

impl KeyChain {
    /// Builds the chain of `intervals` keys ending at `last`.
    pub fn from_last(last: IntervalKey, intervals: usize) -> Self {
        KeyChain {
            keys: last.with_earlier(intervals.saturating_sub(1)),
        }
    }

    /// A chain of `intervals` keys from a random last key.
    #[cfg(feature = "std")]
    pub fn random(intervals: usize) -> Self {
        Self::from_last(IntervalKey::random(), intervals)
    }

    /// Key of interval `j`.
    pub fn key(&self, j: usize) -> Result<&IntervalKey, KeyError> {
        self.keys.get(j).ok_or(KeyError::OutOfRange {
            index: j,
            len: self.keys.len(),
        })
    }

    /// Lock of interval `j`.
    pub fn lock(&self, j: usize) -> Result<Lock, KeyError> {
        Ok(self.key(j)?.lock())
    }

    /// Locks of every interval, in order.
    pub fn locks(&self) -> Vec<Lock> {
        self.keys.iter().map(IntervalKey::lock).collect()
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for KeyChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyChain({} keys, <redacted>)", self.keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_runs_backwards_with_the_domain_tag() {
        let last = IntervalKey::from_bytes([9; 32]);
        let chain = KeyChain::from_last(last.clone(), 4);
        assert_eq!(chain.len(), 4);
        assert_eq!(chain.key(3).unwrap(), &last);
        let mut h = Sha256::new();
        h.update(b"ozkcp/key-chain/v1");
        h.update([9u8; 32]);
        let k2: [u8; 32] = h.finalize().into();
        assert_eq!(chain.key(2).unwrap().expose(), &k2);
        for j in 0..4 {
            assert_eq!(
                chain.lock(j).unwrap(),
                crate::chunk::sha256(chain.key(j).unwrap().expose())
            );
        }
        // Any later key re-derives every earlier one.
        let from_k2 = chain.key(2).unwrap().with_earlier(2);
        assert_eq!(from_k2.as_slice(), &chain.keys[..3]);
        assert!(matches!(
            chain.key(4),
            Err(KeyError::OutOfRange { index: 4, len: 4 })
        ));
    }

    #[test]
    fn locks_open_only_with_their_key() {
        let chain = KeyChain::random(3);
        let l1 = chain.lock(1).unwrap();
        chain.key(1).unwrap().opens(&l1).unwrap();
        assert_eq!(
            chain.key(0).unwrap().opens(&l1),
            Err(KeyError::WrongKey { lock: l1 })
        );
        assert!(chain.key(2).unwrap().opens(&l1).is_err());
        assert_ne!(chain.key(0).unwrap(), chain.key(1).unwrap());
    }

    #[test]
    fn keys_are_never_printed() {
        let k = IntervalKey::from_bytes([0xab; 32]);
        let shown = format!("{k:?} {:?}", KeyChain::from_last(k.clone(), 2));
        assert!(!shown.to_lowercase().contains("abab"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn keys_encode_as_32_byte_strings() {
        let k = IntervalKey::from_bytes([3; 32]);
        let bytes = crate::encoding::to_cbor(&k).unwrap();
        assert_eq!(&bytes[..2], &[0x58, 0x20]);
        let back: IntervalKey = crate::encoding::from_cbor(&bytes).unwrap();
        assert_eq!(back, k);
        assert!(crate::encoding::from_cbor::<IntervalKey>(&bytes[..20]).is_err());
        assert!(crate::encoding::from_cbor::<IntervalKey>(&[0x41, 0x00]).is_err());
    }
}
