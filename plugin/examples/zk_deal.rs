//! Times a whole zk-mode deal in one process: `cargo run --release -p ozkcp --example zk_deal [S] [BYTES]`.
//!
//! Prints the setup time (single-party, devnet-only) and the deal's seconds per chunk (proving,
//! batch verification, vouchers, keys, every check).

use std::time::Instant;

use ozkcp::driver::{run_deal, ClientFault, DealConfig, ProviderFault};

fn main() {
    let mut args = std::env::args().skip(1);
    let s: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let bytes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4096);
    let t = Instant::now();
    let keys = ozkcp::zk::dev_setup(s).expect("setup");
    let setup = t.elapsed().as_secs_f64();
    let data: Vec<u8> = (0..bytes).map(|i| (i * 31 + 7) as u8).collect();
    let cfg = DealConfig {
        chunk_size: s,
        block_size: 1024,
        blocks_per_interval: 2,
        zk: Some(keys),
        ..DealConfig::default()
    };
    let t = Instant::now();
    let o = run_deal(&data, &cfg, ProviderFault::None, ClientFault::None);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(
        o.data.as_deref(),
        Some(data.as_slice()),
        "deal failed: {}",
        o.client.message
    );
    println!(
        "S = {s} B, {bytes} B payload: setup {setup:.1} s; deal {secs:.1} s for {} chunks, {:.2} s per chunk ({} intervals)",
        o.chunks,
        secs / o.chunks as f64,
        o.intervals
    );
}
