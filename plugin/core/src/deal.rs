//! Deal terms and the manifest.
//!
//! The client proposes a [`DealProposal`]; the provider answers with the [`Manifest`] (the ordered
//! blocks it will send, with lengths, grouped into payment intervals of whole blocks) and signs
//! the resulting [`DealTerms`]. [`DealLayout`] derives from the terms where every block, chunk and
//! interval sits and what is owed after each interval.

use cid::Cid;
use fvm_ipld_encoding::repr::{Deserialize_repr, Serialize_repr};
use fvm_ipld_encoding::tuple::*;
use fvm_shared::address::Address;
use fvm_shared::clock::ChainEpoch;
use fvm_shared::crypto::signature::Signature;
use fvm_shared::econ::TokenAmount;

use crate::block::{cid_digest, BlockRef, CidError};
use crate::bytes::Bytes32;
use crate::chunk::{ChunkError, ChunkSize};
use crate::encoding::{to_cbor, EncodingError};
use crate::sig::{SigError, SignatureVerifier};

/// Domain prefix of the bytes a provider signs when it accepts deal terms.
pub const TERMS_SIGNING_TAG: &[u8] = b"ozkcp/deal-terms/v1\0";

/// How chunks are proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum ProofMode {
    /// Optimistic: signed statements and collateral, no SNARK; faults are proven to the judge.
    Fraud = 0,
    /// Every chunk carries a Groth16 proof the client checks before paying.
    Zk = 1,
}

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DealProposal {
    /// Deal identifier, unique per client.
    pub deal_id: u64,
    /// The client (f1).
    pub client: Address,
    /// The provider (f1).
    pub provider: Address,
    /// Root CID of the payload.
    pub payload_root: Cid,
    /// Chunk size `S` in bytes.
    pub chunk_size: u32,
    /// Price per chunk.
    pub price_per_chunk: TokenAmount,
    /// Proof mode.
    pub mode: ProofMode,
    /// Circuit id (digest of the verifying key) in `zk` mode.
    pub circuit_id: Option<Bytes32>,
    /// The judge actor (escrow and voucher channel).
    pub judge: Address,
    /// Voucher lane of this deal on the judge.
    pub lane: u64,
    /// Collateral the provider locks.
    pub collateral: TokenAmount,
    /// Epoch by which every key must be revealed on chain.
    pub key_reveal_deadline: ChainEpoch,
    /// Epochs after the key-reveal deadline during which the client may dispute.
    pub dispute_window: ChainEpoch,
}

/// The provider's declaration of what it will send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Manifest {
    /// The blocks, in sending order.
    pub blocks: Vec<BlockRef>,
    /// End of each payment interval as a count of blocks (strictly increasing, the last equals
    /// the number of blocks).
    pub interval_ends: Vec<u32>,
}

/// Proposal and manifest together: what both parties agree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DealTerms {
    /// The client's proposal.
    pub proposal: DealProposal,
    /// The provider's manifest.
    pub manifest: Manifest,
}

/// Deal terms signed by the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SignedDealTerms {
    /// The terms.
    pub terms: DealTerms,
    /// The provider's signature over [`DealTerms::signing_bytes`].
    pub signature: Signature,
}

/// Why deal terms are invalid.
#[derive(Debug, thiserror::Error)]
pub enum DealError {
    /// Bad chunk size.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// A CID does not name a sha2-256 block.
    #[error(transparent)]
    Cid(#[from] CidError),
    /// Encoding failed.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// Bad provider signature.
    #[error("deal terms signature: {0}")]
    Signature(#[from] SigError),
    /// The manifest has no blocks.
    #[error("the manifest lists no blocks")]
    EmptyManifest,
    /// Interval ends are not strictly increasing up to the block count.
    #[error("interval ends {ends:?} must increase strictly and end at the block count {blocks}")]
    BadIntervals {
        /// The ends given.
        ends: Vec<u32>,
        /// Blocks in the manifest.
        blocks: usize,
    },
    /// `zk` mode without a circuit id, or a circuit id in `fraud` mode.
    #[error("a circuit id is required in zk mode and meaningless in fraud mode")]
    CircuitId,
    /// The deal has more chunks than an index can count.
    #[error("the deal has too many chunks")]
    TooLarge,
}

impl DealTerms {
    /// The bytes the provider signs: a domain tag followed by the terms' CBOR.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, EncodingError> {
        let mut out = TERMS_SIGNING_TAG.to_vec();
        out.extend_from_slice(&to_cbor(self)?);
        Ok(out)
    }

    /// SHA-256 of [`DealTerms::signing_bytes`]: names exactly these terms. Commitments and key
    /// reveals carry it, so nothing signed for one deal can be passed off as another's, even if
    /// a client reuses a deal id.
    pub fn digest(&self) -> Result<Bytes32, EncodingError> {
        Ok(crate::chunk::sha256(&self.signing_bytes()?))
    }

    /// Validates the terms and computes where everything sits.
    pub fn layout(&self) -> Result<DealLayout, DealError> {
        DealLayout::new(self)
    }
}

impl SignedDealTerms {
    /// Checks the provider's signature.
    pub fn verify(&self, verifier: &impl SignatureVerifier) -> Result<(), DealError> {
        let provider = self.terms.proposal.provider;
        verifier.verify(&self.signature, &provider, &self.terms.signing_bytes()?)?;
        Ok(())
    }
}

/// Where a block sits in the deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPlace {
    /// Position in the manifest.
    pub block: u32,
    /// Interval it belongs to.
    pub interval: u32,
    /// Index of its first chunk in the deal.
    pub first_chunk: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// SHA-256 digest its CID names.
    pub digest: Bytes32,
}

/// Where an interval sits in the deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalPlace {
    /// Blocks `[first_block, end_block)`.
    pub first_block: u32,
    /// End (exclusive) block.
    pub end_block: u32,
    /// Index of its first chunk.
    pub first_chunk: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// Cumulative amount owed once this interval is paid.
    pub owed: TokenAmount,
}

/// The validated geometry of a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealLayout {
    /// Chunk size.
    pub chunk_size: ChunkSize,
    /// Every block.
    pub blocks: Vec<BlockPlace>,
    /// Every interval.
    pub intervals: Vec<IntervalPlace>,
    /// Chunks in the deal.
    pub total_chunks: u64,
}

impl DealLayout {
    /// Validates `terms` and lays the deal out.
    pub fn new(terms: &DealTerms) -> Result<Self, DealError> {
        let p = &terms.proposal;
        let m = &terms.manifest;
        let chunk_size = ChunkSize::new(p.chunk_size)?;
        if (p.mode == ProofMode::Zk) != p.circuit_id.is_some() {
            return Err(DealError::CircuitId);
        }
        if m.blocks.is_empty() {
            return Err(DealError::EmptyManifest);
        }
        let ends_ok = m.interval_ends.last().map(|&e| e as usize) == Some(m.blocks.len())
            && m.interval_ends.windows(2).all(|w| w[0] < w[1])
            && m.interval_ends[0] > 0;
        if !ends_ok {
            return Err(DealError::BadIntervals {
                ends: m.interval_ends.clone(),
                blocks: m.blocks.len(),
            });
        }
        let mut blocks = Vec::with_capacity(m.blocks.len());
        let mut intervals = Vec::with_capacity(m.interval_ends.len());
        let mut next_chunk = 0u64;
        let mut start = 0u32;
        for (j, &end) in m.interval_ends.iter().enumerate() {
            let first_chunk = next_chunk;
            for b in start..end {
                let r = &m.blocks[b as usize];
                let chunks = chunk_size.chunks_in(r.len);
                blocks.push(BlockPlace {
                    block: b,
                    interval: j as u32,
                    first_chunk: next_chunk,
                    chunks,
                    digest: cid_digest(&r.cid)?,
                });
                next_chunk = next_chunk.checked_add(chunks).ok_or(DealError::TooLarge)?;
            }
            intervals.push(IntervalPlace {
                first_block: start,
                end_block: end,
                first_chunk,
                chunks: next_chunk - first_chunk,
                owed: p.price_per_chunk.clone() * next_chunk,
            });
            start = end;
        }
        Ok(DealLayout {
            chunk_size,
            blocks,
            intervals,
            total_chunks: next_chunk,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{cid_of, RAW};
    use crate::encoding::from_cbor;

    pub(crate) fn terms(lens: &[u64], ends: Vec<u32>) -> DealTerms {
        let blocks = lens
            .iter()
            .map(|&n| BlockRef {
                cid: cid_of(RAW, &vec![1u8; n as usize]),
                len: n,
            })
            .collect::<Vec<_>>();
        DealTerms {
            proposal: DealProposal {
                deal_id: 42,
                client: Address::new_id(1001),
                provider: Address::new_id(1002),
                payload_root: blocks[0].cid,
                chunk_size: 64,
                price_per_chunk: TokenAmount::from_atto(10),
                mode: ProofMode::Fraud,
                circuit_id: None,
                judge: Address::new_id(1000),
                lane: 42,
                collateral: TokenAmount::from_atto(5000),
                key_reveal_deadline: 100,
                dispute_window: 50,
            },
            manifest: Manifest {
                blocks,
                interval_ends: ends,
            },
        }
    }

    #[test]
    fn layout_counts_chunks_and_cumulative_prices() {
        let t = terms(&[0, 64, 65, 200], vec![2, 4]);
        let l = t.layout().unwrap();
        assert_eq!(
            l.blocks.iter().map(|b| b.chunks).collect::<Vec<_>>(),
            vec![1, 1, 2, 4]
        );
        assert_eq!(l.total_chunks, 8);
        assert_eq!(l.intervals[0].chunks, 2);
        assert_eq!(l.intervals[1].first_chunk, 2);
        assert_eq!(l.intervals[1].owed, TokenAmount::from_atto(80));
        assert_eq!(l.blocks[3].first_chunk, 4);
        assert_eq!(l.blocks[3].interval, 1);
    }

    #[test]
    fn bad_terms_are_refused() {
        assert!(matches!(
            terms(&[1, 2], vec![1]).layout(),
            Err(DealError::BadIntervals { .. })
        ));
        assert!(matches!(
            terms(&[1, 2], vec![2, 2]).layout(),
            Err(DealError::BadIntervals { .. })
        ));
        assert!(matches!(
            terms(&[1, 2], vec![0, 2]).layout(),
            Err(DealError::BadIntervals { .. })
        ));
        let mut t = terms(&[1], vec![1]);
        t.proposal.chunk_size = 100;
        assert!(matches!(t.layout(), Err(DealError::Chunk(_))));
        let mut t = terms(&[1], vec![1]);
        t.proposal.mode = ProofMode::Zk;
        assert!(matches!(t.layout(), Err(DealError::CircuitId)));
        let mut t = terms(&[1], vec![1]);
        t.manifest.blocks.clear();
        t.manifest.interval_ends = vec![];
        assert!(matches!(t.layout(), Err(DealError::EmptyManifest)));
        let mut t = terms(&[1], vec![1]);
        let mh = cid::multihash::Multihash::<64>::wrap(0x13, &[0; 64]).unwrap();
        t.manifest.blocks[0].cid = Cid::new_v1(RAW, mh);
        assert!(matches!(
            t.layout(),
            Err(DealError::Cid(CidError::UnsupportedHash { code: 0x13, .. }))
        ));
    }

    #[test]
    fn terms_round_trip_and_truncation_fails() {
        let t = terms(&[3, 70], vec![1, 2]);
        let b = to_cbor(&t).unwrap();
        assert_eq!(from_cbor::<DealTerms>(&b).unwrap(), t);
        for cut in [0, 1, b.len() / 2, b.len() - 1] {
            assert!(from_cbor::<DealTerms>(&b[..cut]).is_err());
        }
        // Unknown proof mode.
        let mut p = t.proposal.clone();
        p.mode = ProofMode::Zk;
        let mut pb = to_cbor(&p).unwrap();
        let pos = pb.iter().rposition(|&x| x == 0x01).unwrap();
        pb[pos] = 0x07;
        assert!(from_cbor::<DealProposal>(&pb).is_err());
    }

    #[test]
    fn signed_terms_verify_only_for_the_provider() {
        use crate::sig::{Secp256k1, SecpSigner};
        let prov = SecpSigner::random();
        let mut t = terms(&[3], vec![1]);
        t.proposal.provider = prov.address();
        let st = SignedDealTerms {
            signature: prov.sign(&t.signing_bytes().unwrap()),
            terms: t.clone(),
        };
        st.verify(&Secp256k1).unwrap();
        let mut forged = st.clone();
        forged.terms.proposal.price_per_chunk = TokenAmount::from_atto(1);
        assert!(matches!(
            forged.verify(&Secp256k1),
            Err(DealError::Signature(_))
        ));
        let other = SecpSigner::random();
        let wrong = SignedDealTerms {
            signature: other.sign(&t.signing_bytes().unwrap()),
            terms: t,
        };
        assert!(wrong.verify(&Secp256k1).is_err());
    }
}
