//! A whole fraud-mode deal in one process: both state machines, CBOR messages, every check.
//!
//! `cargo bench -p ozkcp --bench deal`: 64 MiB payload, 1 MiB blocks, 4 blocks per interval,
//! 16 KiB chunks; throughput in payload bytes.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ozkcp::driver::{run_deal, ClientFault, DealConfig, ProviderFault};

fn bench(c: &mut Criterion) {
    let size = 64usize << 20;
    let data: Vec<u8> = (0..size).map(|i| (i * 131 + i / 4096) as u8).collect();
    let mut g = c.benchmark_group("fraud deal 64MiB");
    g.throughput(Throughput::Bytes(size as u64));
    g.sample_size(10);
    for chunk_kib in [16u32, 64] {
        let cfg = DealConfig {
            chunk_size: chunk_kib << 10,
            block_size: 1 << 20,
            blocks_per_interval: 4,
            ..DealConfig::default()
        };
        g.bench_function(format!("S={chunk_kib}KiB"), |b| {
            b.iter(|| {
                let o = run_deal(&data, &cfg, ProviderFault::None, ClientFault::None);
                assert!(o.data.is_some());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
