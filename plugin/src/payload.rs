//! Turning bytes into a payload: raw leaf blocks under a DAG-CBOR root that lists them.
//!
//! The root block is a DAG-CBOR list of the leaves' CIDs (CIDv1, raw codec, sha2-256). It is the
//! manifest's first block, so a client that has decrypted the root knows which leaf CIDs to
//! trust before it pays for them.

use std::borrow::Cow;

use ozkcp_core::block::{cid_of, BlockRef, DAG_CBOR, RAW};
use ozkcp_core::encoding::{from_cbor, to_cbor, EncodingError};
use ozkcp_core::Cid;

/// A payload ready to serve: its blocks in sending order, root first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Root CID.
    pub root: Cid,
    /// Blocks (root first) with their bytes.
    pub blocks: Vec<(BlockRef, Vec<u8>)>,
}

impl Payload {
    /// Cuts `data` into raw leaves of `leaf_size` bytes (at least one leaf, possibly empty) under
    /// a DAG-CBOR root listing their CIDs.
    pub fn from_bytes(data: &[u8], leaf_size: usize) -> Result<Self, EncodingError> {
        assert!(leaf_size > 0, "leaf size must be positive");
        let mut leaves: Vec<(BlockRef, Vec<u8>)> = data
            .chunks(leaf_size)
            .map(|c| {
                (
                    BlockRef {
                        cid: cid_of(RAW, c),
                        len: c.len() as u64,
                    },
                    c.to_vec(),
                )
            })
            .collect();
        if leaves.is_empty() {
            leaves.push((
                BlockRef {
                    cid: cid_of(RAW, &[]),
                    len: 0,
                },
                Vec::new(),
            ));
        }
        let links: Vec<Cid> = leaves.iter().map(|(r, _)| r.cid).collect();
        let root_bytes = to_cbor(&links)?;
        let root = cid_of(DAG_CBOR, &root_bytes);
        let mut blocks = vec![(
            BlockRef {
                cid: root,
                len: root_bytes.len() as u64,
            },
            root_bytes,
        )];
        blocks.extend(leaves);
        Ok(Payload { root, blocks })
    }

    /// The block references (the manifest's block list).
    pub fn refs(&self) -> Vec<BlockRef> {
        self.blocks.iter().map(|(r, _)| r.clone()).collect()
    }

    /// The file's bytes: every leaf in order.
    pub fn leaf_bytes(blocks: &[Vec<u8>]) -> Vec<u8> {
        blocks.get(1..).unwrap_or_default().concat()
    }
}

/// A payload a provider serves: its root, its blocks (root first), and their bytes read when an
/// interval needs them, so a large payload never has to sit in memory whole.
pub trait PayloadSource: Send + Sync {
    /// The root CID.
    fn root(&self) -> Cid;
    /// The blocks' references, root first (the manifest's block list).
    fn refs(&self) -> Vec<BlockRef>;
    /// The bytes of block `index` (a position in [`refs`](Self::refs)); an error if they
    /// cannot be read.
    fn block(&self, index: usize) -> Result<Cow<'_, [u8]>, String>;
}

impl PayloadSource for Payload {
    fn root(&self) -> Cid {
        self.root
    }

    fn refs(&self) -> Vec<BlockRef> {
        Payload::refs(self)
    }

    fn block(&self, index: usize) -> Result<Cow<'_, [u8]>, String> {
        self.blocks
            .get(index)
            .map(|(_, b)| Cow::Borrowed(b.as_slice()))
            .ok_or_else(|| format!("no block {index} in the payload"))
    }
}

/// The CIDs a decoded root links to.
pub fn root_links(root_bytes: &[u8]) -> Result<Vec<Cid>, EncodingError> {
    from_cbor(root_bytes)
}
