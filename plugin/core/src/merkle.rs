//! SHA-256 Merkle trees over an interval's statements.
//!
//! Leaves and inner nodes are domain-separated (`SHA256(0x00 || leaf)`, `SHA256(0x01 || l || r)`)
//! so a leaf can never pass for a node. Levels pair nodes left to right; a lone last node moves up
//! unchanged. The tree's size is part of every proof and of the signed commitment, so each leaf has
//! exactly one position and one path.

use fvm_ipld_encoding::tuple::*;
use sha2::{Digest, Sha256};

use crate::bytes::Bytes32;

/// Domain byte of leaves.
pub const LEAF_TAG: u8 = 0x00;
/// Domain byte of inner nodes.
pub const NODE_TAG: u8 = 0x01;

/// Why a Merkle proof failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The position is outside the tree.
    #[error("leaf {position} is outside a tree of {leaves} leaves")]
    OutOfRange {
        /// Claimed position.
        position: u32,
        /// Leaves in the tree.
        leaves: u32,
    },
    /// The path has the wrong number of siblings for its position.
    #[error("path has {got} siblings, a leaf at {position} of {leaves} needs {need}")]
    BadPathLength {
        /// Position.
        position: u32,
        /// Leaves.
        leaves: u32,
        /// Siblings given.
        got: usize,
        /// Siblings needed.
        need: usize,
    },
    /// The path leads to another root.
    #[error("path leads to root {computed}, not the signed root {expected}")]
    RootMismatch {
        /// Root from the path.
        computed: Bytes32,
        /// Root expected.
        expected: Bytes32,
    },
}

/// Hash of a leaf's bytes.
pub fn leaf_hash(data: &[u8]) -> Bytes32 {
    let mut h = Sha256::new();
    h.update([LEAF_TAG]);
    h.update(data);
    Bytes32(h.finalize().into())
}

/// Hash of an inner node.
pub fn node_hash(left: &Bytes32, right: &Bytes32) -> Bytes32 {
    let mut h = Sha256::new();
    h.update([NODE_TAG]);
    h.update(left.0);
    h.update(right.0);
    Bytes32(h.finalize().into())
}

/// An inclusion proof: the leaf's position, the tree's size and the siblings from leaf to root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct MerkleProof {
    /// Position of the leaf (0-based).
    pub position: u32,
    /// Number of leaves in the tree.
    pub leaves: u32,
    /// Sibling hashes, bottom-up.
    pub siblings: Vec<Bytes32>,
}

impl MerkleProof {
    /// Recomputes the root from `leaf` (a leaf hash) and checks it against `root`.
    pub fn verify(&self, leaf: &Bytes32, root: &Bytes32) -> Result<(), MerkleError> {
        let computed = self.root_from(leaf)?;
        if computed != *root {
            return Err(MerkleError::RootMismatch {
                computed,
                expected: *root,
            });
        }
        Ok(())
    }

    /// The root that this path and `leaf` lead to.
    pub fn root_from(&self, leaf: &Bytes32) -> Result<Bytes32, MerkleError> {
        if self.position >= self.leaves {
            return Err(MerkleError::OutOfRange {
                position: self.position,
                leaves: self.leaves,
            });
        }
        let need = path_length(self.position, self.leaves);
        if self.siblings.len() != need {
            return Err(MerkleError::BadPathLength {
                position: self.position,
                leaves: self.leaves,
                got: self.siblings.len(),
                need,
            });
        }
        let (mut pos, mut width) = (self.position, self.leaves);
        let mut acc = *leaf;
        let mut sib = self.siblings.iter();
        while width > 1 {
            if pos % 2 == 1 {
                acc = node_hash(sib.next().expect("length checked"), &acc);
            } else if pos + 1 < width {
                acc = node_hash(&acc, sib.next().expect("length checked"));
            }
            pos /= 2;
            width = width.div_ceil(2);
        }
        Ok(acc)
    }
}

fn path_length(mut pos: u32, mut width: u32) -> usize {
    let mut n = 0;
    while width > 1 {
        if pos % 2 == 1 || pos + 1 < width {
            n += 1;
        }
        pos /= 2;
        width = width.div_ceil(2);
    }
    n
}

/// A whole tree, kept level by level so every leaf's proof can be read off.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<Bytes32>>,
}

impl MerkleTree {
    /// Builds the tree over leaf hashes (at least one).
    pub fn new(leaves: Vec<Bytes32>) -> Self {
        assert!(!leaves.is_empty(), "a Merkle tree needs at least one leaf");
        assert!(u32::try_from(leaves.len()).is_ok(), "too many leaves");
        let mut levels = vec![leaves];
        while levels.last().expect("non-empty").len() > 1 {
            let next = levels
                .last()
                .expect("non-empty")
                .chunks(2)
                .map(|p| {
                    if p.len() == 2 {
                        node_hash(&p[0], &p[1])
                    } else {
                        p[0]
                    }
                })
                .collect();
            levels.push(next);
        }
        MerkleTree { levels }
    }

    /// The root.
    pub fn root(&self) -> Bytes32 {
        self.levels.last().expect("non-empty")[0]
    }

    /// Number of leaves.
    pub fn len(&self) -> u32 {
        self.levels[0].len() as u32
    }

    /// Always false: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The inclusion proof of leaf `position`.
    pub fn proof(&self, position: u32) -> Result<MerkleProof, MerkleError> {
        let leaves = self.len();
        if position >= leaves {
            return Err(MerkleError::OutOfRange { position, leaves });
        }
        let mut pos = position as usize;
        let mut siblings = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sib = pos ^ 1;
            if sib < level.len() {
                siblings.push(level[sib]);
            }
            pos /= 2;
        }
        Ok(MerkleProof {
            position,
            leaves,
            siblings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u32) -> Vec<Bytes32> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves() {
        for n in 1..=33u32 {
            let t = MerkleTree::new(leaves(n));
            for p in 0..n {
                let proof = t.proof(p).unwrap();
                proof
                    .verify(&leaf_hash(&p.to_le_bytes()), &t.root())
                    .unwrap();
            }
            assert!(t.proof(n).is_err());
        }
    }

    #[test]
    fn one_leaf_tree_root_is_the_leaf() {
        let t = MerkleTree::new(leaves(1));
        assert_eq!(t.root(), leaf_hash(&0u32.to_le_bytes()));
        assert!(t.proof(0).unwrap().siblings.is_empty());
    }

    #[test]
    fn wrong_leaf_position_or_path_fail() {
        let t = MerkleTree::new(leaves(7));
        let proof = t.proof(3).unwrap();
        let leaf = leaf_hash(&3u32.to_le_bytes());
        assert!(matches!(
            proof.verify(&leaf_hash(&4u32.to_le_bytes()), &t.root()),
            Err(MerkleError::RootMismatch { .. })
        ));
        let mut moved = proof.clone();
        moved.position = 2;
        assert!(moved.verify(&leaf, &t.root()).is_err());
        let mut short = proof.clone();
        short.siblings.pop();
        assert!(matches!(
            short.verify(&leaf, &t.root()),
            Err(MerkleError::BadPathLength { .. })
        ));
        let mut out = proof.clone();
        out.position = 9;
        assert!(matches!(
            out.verify(&leaf, &t.root()),
            Err(MerkleError::OutOfRange { .. })
        ));
        // The last, lone leaf has no sibling at the bottom: claiming a bigger tree breaks the path.
        // (The tree size itself is bound by the signed commitment, not by the root.)
        let mut resized = t.proof(6).unwrap();
        resized.leaves = 8;
        assert!(resized
            .verify(&leaf_hash(&6u32.to_le_bytes()), &t.root())
            .is_err());
    }

    #[test]
    fn leaves_and_nodes_are_domain_separated() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let mut both = a.0.to_vec();
        both.extend_from_slice(&b.0);
        assert_ne!(leaf_hash(&both), node_hash(&a, &b));
    }
}
