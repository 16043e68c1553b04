//! Native cost of the statement commitment (scratch measurement).
use ark_bn254::Fr;
use ark_ff::UniformRand;
use std::time::Instant;

fn main() {
    let mut rng = ark_std::test_rng();
    for k in [13usize, 38] {
        let xs: Vec<Fr> = (0..k).map(|_| Fr::rand(&mut rng)).collect();
        let t = Instant::now();
        for _ in 0..100 {
            std::hint::black_box(ozkcp_zk::poseidon::commit(&xs));
        }
        println!(
            "commit of {k} scalars: {:.1} µs",
            t.elapsed().as_secs_f64() * 1e4
        );
    }
}
