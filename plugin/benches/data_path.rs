//! Data path throughput against a raw ChaCha20 + SHA-256 pass over the same bytes, same run.
//!
//! `cargo bench -p ozkcp --bench data_path`. Each case processes one interval of 8 blocks.
//! `raw` copies each block, SHA-256s it and ChaCha20-encrypts the copy: the floor any data path
//! must pay. `provider` is `encrypt_interval` (chaining, encryption, ciphertext digests,
//! statements, Merkle root, one signature). `client` is `accept_interval` + `open_interval`
//! (signature, tree, digests, chains, decryption, per-chunk re-chaining). Each runs on one core
//! (a one-thread rayon pool) and on every core.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ozkcp::client::ClientDeal;
use ozkcp::core::block::{cid_of, BlockRef, RAW};
use ozkcp::core::deal::{DealProposal, DealTerms, Manifest, ProofMode, SignedDealTerms};
use ozkcp::core::keys::KeyChain;
use ozkcp::core::sig::SecpSigner;
use ozkcp::core::{Address, TokenAmount};
use ozkcp::provider::ProviderDeal;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

const BLOCKS: usize = 8;

/// The floor: hash the block, write its ciphertext to a new buffer. Outputs are kept until the
/// interval is done, as the data path keeps its ciphertext.
fn raw_pass(block: &[u8]) -> (Vec<u8>, [u8; 32]) {
    let mut buf = block.to_vec();
    let digest = Sha256::digest(block);
    let mut c = ChaCha20::new(&[7u8; 32].into(), &[0u8; 12].into());
    c.apply_keystream(&mut buf);
    (buf, digest.into())
}

struct Setup {
    blocks: Vec<Vec<u8>>,
    provider: ProviderDeal,
    signed: SignedDealTerms,
    keys: KeyChain,
}

fn setup(block_size: usize, chunk_size: u32) -> Setup {
    let blocks: Vec<Vec<u8>> = (0..BLOCKS)
        .map(|b| (0..block_size).map(|i| (i * 13 + b * 7) as u8).collect())
        .collect();
    let refs: Vec<BlockRef> = blocks
        .iter()
        .map(|d| BlockRef {
            cid: cid_of(RAW, d),
            len: d.len() as u64,
        })
        .collect();
    let prov = SecpSigner::random();
    let terms = DealTerms {
        proposal: DealProposal {
            deal_id: 1,
            client: SecpSigner::random().address(),
            provider: prov.address(),
            payload_root: refs[0].cid,
            chunk_size,
            price_per_chunk: TokenAmount::from_atto(1),
            mode: ProofMode::Fraud,
            circuit_id: None,
            judge: Address::new_id(1000),
            lane: 1,
            collateral: TokenAmount::from_atto(0),
            key_reveal_deadline: 0,
            dispute_window: 0,
        },
        manifest: Manifest {
            blocks: refs,
            interval_ends: vec![BLOCKS as u32],
        },
    };
    let signed = SignedDealTerms {
        signature: prov.sign(&terms.signing_bytes().unwrap()),
        terms: terms.clone(),
    };
    let keys = KeyChain::random(1);
    let provider = ProviderDeal::with_keys(terms, prov, keys.clone()).unwrap();
    Setup {
        blocks,
        provider,
        signed,
        keys,
    }
}

fn bench(c: &mut Criterion) {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let all = rayon::ThreadPoolBuilder::new().build().unwrap();
    for block_size in [64 << 10, 1 << 20] {
        for chunk_size in [1024u32, 16 << 10] {
            let s = setup(block_size, chunk_size);
            let views: Vec<&[u8]> = s.blocks.iter().map(|b| b.as_slice()).collect();
            let mut g = c.benchmark_group(format!(
                "block {}KiB chunk {}KiB",
                block_size >> 10,
                chunk_size >> 10
            ));
            g.throughput(Throughput::Bytes((block_size * BLOCKS) as u64));
            g.sample_size(10);
            for (cores, pool) in [("1 core", &one), ("all cores", &all)] {
                g.bench_function(BenchmarkId::new("raw", cores), |b| {
                    b.iter(|| {
                        pool.install(|| views.par_iter().map(|d| raw_pass(d)).collect::<Vec<_>>())
                    })
                });
                g.bench_function(BenchmarkId::new("provider", cores), |b| {
                    b.iter(|| pool.install(|| s.provider.encrypt_interval(0, &views).unwrap()))
                });
                let bundle = s.provider.encrypt_interval(0, &views).unwrap();
                g.bench_function(BenchmarkId::new("client", cores), |b| {
                    b.iter_batched(
                        || (ClientDeal::new(s.signed.clone()).unwrap(), bundle.clone()),
                        |(mut client, bundle)| {
                            pool.install(|| {
                                client.accept_interval(bundle).unwrap();
                                let k = s.keys.key(0).unwrap();
                                client.open_interval(0, k).unwrap().len()
                            })
                        },
                        BatchSize::LargeInput,
                    )
                });
            }
            g.finish();
        }
    }
}

/// The ciphertext digest against a second SHA-256 pass, per chunk size, one core.
fn digests(c: &mut Criterion) {
    for size in [1024usize, 16 << 10, 64 << 10] {
        let data = vec![0x5au8; size];
        let mut g = c.benchmark_group(format!("digest {}KiB", size >> 10));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function("sha256", |b| b.iter(|| Sha256::digest(&data)));
        g.bench_function("blake3", |b| b.iter(|| blake3::hash(&data)));
        g.bench_function("chacha20", |b| {
            let mut buf = data.clone();
            b.iter(|| {
                let mut c = ChaCha20::new(&[7u8; 32].into(), &[0u8; 12].into());
                c.apply_keystream(&mut buf);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, digests, bench);
criterion_main!(benches);
