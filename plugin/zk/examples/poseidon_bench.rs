//! Native cost of the statement commitment, and the plain against the sparse-round permutation in
//! the same run.
//!
//! `cargo run --release -p ozkcp-zk --example poseidon_bench`
use ark_bn254::Fr;
use ark_ff::UniformRand;
use ozkcp_zk::poseidon::{permute, permute_optimized};
use ozkcp_zk::poseidon_constants::OPTIMIZED;
use std::time::Instant;

fn main() {
    let mut rng = ark_std::test_rng();
    for k in [7usize, 13, 37, 38] {
        let xs: Vec<Fr> = (0..k).map(|_| Fr::rand(&mut rng)).collect();
        let t = Instant::now();
        for _ in 0..100 {
            std::hint::black_box(ozkcp_zk::poseidon::commit(&xs));
        }
        println!(
            "commit of {k} scalars: {:.1} µs",
            t.elapsed().as_secs_f64() * 1e6 / 100.0
        );
    }
    let mut s = [Fr::rand(&mut rng), Fr::rand(&mut rng), Fr::rand(&mut rng)];
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..1000 {
            permute(&mut s);
        }
        let plain = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        for _ in 0..1000 {
            permute_optimized(&mut s, &OPTIMIZED);
        }
        let sparse = t.elapsed().as_secs_f64() * 1e3;
        println!("permutation: plain {plain:.2} µs, sparse rounds {sparse:.2} µs");
    }
    println!(
        "load: {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
    );
}
