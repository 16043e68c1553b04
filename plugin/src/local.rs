//! A whole retrieval in one process: provider and client run the data path against each other.
//!
//! This is what `ozkcp local-retrieve` runs: no network and no chain, but every check of the
//! protocol (signatures, Merkle paths, chains, vouchers, locks, CIDs) on real bytes.

use std::time::{Duration, Instant};

use ozkcp_core::deal::{DealProposal, DealTerms, Manifest, ProofMode, SignedDealTerms};
use ozkcp_core::sig::SecpSigner;
use ozkcp_core::{Address, TokenAmount};

use crate::client::{ClientDeal, ClientError};
use crate::payload::Payload;
use crate::provider::{ProviderDeal, ProviderError};

/// Options of a local retrieval.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Chunk size `S`.
    pub chunk_size: u32,
    /// Leaf block size.
    pub block_size: usize,
    /// Leaf blocks per payment interval (the root has an interval of its own).
    pub blocks_per_interval: u32,
    /// Price per chunk in attoFIL.
    pub price_per_chunk: u64,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            chunk_size: 16 * 1024,
            block_size: 1 << 20,
            blocks_per_interval: 4,
            price_per_chunk: 1_000,
        }
    }
}

/// What a local retrieval did.
#[derive(Debug, Clone)]
pub struct LocalReport {
    /// Root CID of the payload.
    pub root: ozkcp_core::Cid,
    /// Blocks in the manifest (root included).
    pub blocks: usize,
    /// Chunks sent.
    pub chunks: u64,
    /// Payment intervals.
    pub intervals: usize,
    /// Total paid (attoFIL).
    pub paid: TokenAmount,
    /// The retrieved file's bytes.
    pub data: Vec<u8>,
    /// Wall time of the data path.
    pub elapsed: Duration,
}

/// A failure on either side.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Provider side.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    /// Client side.
    #[error("client: {0}")]
    Client(#[from] ClientError),
    /// Encoding.
    #[error(transparent)]
    Encoding(#[from] ozkcp_core::encoding::EncodingError),
    /// Retrieved bytes differ from the original (cannot happen if every check passed).
    #[error("retrieved bytes differ from the original")]
    Differs,
}

/// Retrieves `data` through the whole data path and checks the result equals it.
pub fn retrieve_local(data: &[u8], opts: &LocalOptions) -> Result<LocalReport, LocalError> {
    let start = Instant::now();
    let payload = Payload::from_bytes(data, opts.block_size)?;
    let client_key = SecpSigner::random();
    let provider_key = SecpSigner::random();
    let leaves = payload.blocks.len() as u32 - 1;
    let mut interval_ends = vec![1];
    let mut end = 1;
    while end < leaves + 1 {
        end = (end + opts.blocks_per_interval.max(1)).min(leaves + 1);
        interval_ends.push(end);
    }
    let terms = DealTerms {
        proposal: DealProposal {
            deal_id: 1,
            client: client_key.address(),
            provider: provider_key.address(),
            payload_root: payload.root,
            chunk_size: opts.chunk_size,
            price_per_chunk: TokenAmount::from_atto(opts.price_per_chunk),
            mode: ProofMode::Fraud,
            circuit_id: None,
            judge: Address::new_id(1000),
            lane: 1,
            collateral: TokenAmount::from_atto(0),
            key_reveal_deadline: 0,
            dispute_window: 0,
        },
        manifest: Manifest {
            blocks: payload.refs(),
            interval_ends,
        },
    };
    let signed = SignedDealTerms {
        signature: provider_key.sign(&terms.signing_bytes()?),
        terms: terms.clone(),
    };
    let mut provider = ProviderDeal::new(terms, provider_key)?;
    let mut client = ClientDeal::new(signed)?;
    let mut paid = TokenAmount::from_atto(0);
    for (j, place) in provider.layout().intervals.clone().iter().enumerate() {
        let j = j as u32;
        let blocks: Vec<&[u8]> = payload.blocks
            [place.first_block as usize..place.end_block as usize]
            .iter()
            .map(|(_, b)| b.as_slice())
            .collect();
        let bundle = provider.encrypt_interval(j, &blocks)?;
        client.accept_interval(bundle)?;
        let voucher = client.voucher_for(j, &client_key)?;
        let key = provider.reveal_key(j, &voucher, None)?;
        paid = voucher.amount.clone();
        client.open_interval(j, &key)?;
    }
    let out = Payload::leaf_bytes(&client.blocks());
    if out != data {
        return Err(LocalError::Differs);
    }
    Ok(LocalReport {
        root: payload.root,
        blocks: payload.blocks.len(),
        chunks: client.layout().total_chunks,
        intervals: client.layout().intervals.len(),
        paid,
        data: out,
        elapsed: start.elapsed(),
    })
}
