//! IPLD blocks and the CIDs that name them.
//!
//! ozkcp binds every chunk to its block through SHA-256, so a block's CID must carry a sha2-256
//! multihash (code `0x12`, 32-byte digest). CIDv0 (always sha2-256, DAG-PB) and CIDv1 with any
//! codec are accepted; any other hash function is refused with an error naming it.

use cid::Cid;

use fvm_ipld_encoding::tuple::*;

use crate::bytes::Bytes32;

/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;
/// Multicodec of raw bytes (CIDv1 leaves).
pub const RAW: u64 = 0x55;
/// Multicodec of DAG-PB (UnixFS nodes, every CIDv0).
pub const DAG_PB: u64 = 0x70;
/// Multicodec of DAG-CBOR.
pub const DAG_CBOR: u64 = 0x71;

/// Why a CID cannot name an ozkcp block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidError {
    /// The multihash is not sha2-256.
    #[error("CID {cid} uses multihash code {code:#x}; ozkcp needs sha2-256 (0x12)")]
    UnsupportedHash {
        /// The CID, as text.
        cid: String,
        /// The multihash code found.
        code: u64,
    },
    /// The sha2-256 digest is not 32 bytes long.
    #[error("CID {cid} carries a sha2-256 digest of {len} bytes; expected 32")]
    BadDigestLength {
        /// The CID, as text.
        cid: String,
        /// The digest length found.
        len: usize,
    },
    /// A block's bytes do not hash to its CID.
    #[error("block bytes hash to {actual}, but CID {cid} names {expected}")]
    Mismatch {
        /// The CID, as text.
        cid: String,
        /// Digest the CID names.
        expected: Bytes32,
        /// Digest of the bytes.
        actual: Bytes32,
    },
}

/// The SHA-256 digest a CID names, or why it names none.
pub fn cid_digest(cid: &Cid) -> Result<Bytes32, CidError> {
    let mh = cid.hash();
    if mh.code() != SHA2_256 {
        return Err(CidError::UnsupportedHash {
            cid: cid.to_string(),
            code: mh.code(),
        });
    }
    let digest: [u8; 32] = mh
        .digest()
        .try_into()
        .map_err(|_| CidError::BadDigestLength {
            cid: cid.to_string(),
            len: mh.digest().len(),
        })?;
    Ok(Bytes32(digest))
}

/// Builds the CIDv1 of `data` under `codec` with a sha2-256 multihash.
pub fn cid_of(codec: u64, data: &[u8]) -> Cid {
    cid_from_digest(codec, &crate::chunk::sha256(data))
}

/// Builds the CIDv1 for a known sha2-256 digest.
pub fn cid_from_digest(codec: u64, digest: &Bytes32) -> Cid {
    let mh = cid::multihash::Multihash::<64>::wrap(SHA2_256, &digest.0)
        .expect("32 bytes always fit a 64-byte multihash");
    Cid::new_v1(codec, mh)
}

/// Checks that `data` is the block `cid` names.
pub fn verify_block(cid: &Cid, data: &[u8]) -> Result<(), CidError> {
    let expected = cid_digest(cid)?;
    let actual = crate::chunk::sha256(data);
    if expected != actual {
        return Err(CidError::Mismatch {
            cid: cid.to_string(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// One block of a deal's manifest: its CID and its length in bytes, as the provider declares them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct BlockRef {
    /// The block's CID (sha2-256 multihash).
    pub cid: Cid,
    /// The block's length in bytes.
    pub len: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::str::FromStr;

    #[test]
    fn cidv0_and_cidv1_sha256_give_the_digest() {
        let data = b"hello ozkcp";
        let v1 = cid_of(RAW, data);
        assert_eq!(cid_digest(&v1).unwrap(), crate::chunk::sha256(data));
        let v0 = Cid::new_v0(*v1.hash()).unwrap();
        assert_eq!(v0.version(), cid::Version::V0);
        assert_eq!(cid_digest(&v0).unwrap(), crate::chunk::sha256(data));
        verify_block(&v0, data).unwrap();
        // A well-known CIDv0 parses and yields its digest.
        let known = Cid::from_str("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG").unwrap();
        assert!(cid_digest(&known).is_ok());
    }

    #[test]
    fn other_hashes_are_refused_by_name() {
        let mh = cid::multihash::Multihash::<64>::wrap(0xb220, &[7u8; 32]).unwrap();
        let cid = Cid::new_v1(RAW, mh);
        let err = cid_digest(&cid).unwrap_err();
        assert!(matches!(
            err,
            CidError::UnsupportedHash { code: 0xb220, .. }
        ));
        assert!(err.to_string().contains("0xb220"));
        let identity = cid::multihash::Multihash::<64>::wrap(0x00, b"abc").unwrap();
        assert!(matches!(
            cid_digest(&Cid::new_v1(RAW, identity)),
            Err(CidError::UnsupportedHash { code: 0, .. })
        ));
    }

    #[test]
    fn short_sha256_digest_is_refused() {
        let mh = cid::multihash::Multihash::<64>::wrap(SHA2_256, &[1u8; 20]).unwrap();
        let err = cid_digest(&Cid::new_v1(RAW, mh)).unwrap_err();
        assert!(matches!(err, CidError::BadDigestLength { len: 20, .. }));
    }

    #[test]
    fn wrong_bytes_do_not_match() {
        let cid = cid_of(RAW, b"abc");
        assert!(matches!(
            verify_block(&cid, b"abd"),
            Err(CidError::Mismatch { .. })
        ));
    }
}
