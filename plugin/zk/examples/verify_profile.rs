//! Where the time of `verify_batch` goes, per proof, for a batch of 64 at S = 1 KiB: the
//! commitment (Poseidon), the `r_i A_i` scalar multiplications, the G2 preparation of `B_i`, the
//! multi-Miller loop and the final exponentiation (random points: the costs do not depend on
//! validity).
//!
//! `cargo run --release -p ozkcp-zk --example verify_profile`

use std::time::Instant;

use ark_bn254::{Bn254, Fr, G1Projective, G2Projective};
use ark_ec::{pairing::Pairing, CurveGroup, PrimeGroup};
use ark_ff::{BigInteger, PrimeField, UniformRand};
use ark_std::rand::{rngs::StdRng, SeedableRng};
use rayon::prelude::*;

fn main() {
    let n = 64;
    let mut rng = StdRng::seed_from_u64(1);
    let k =
        ozkcp_zk::packing::num_stream_scalars(&ozkcp_zk::CircuitShape::new(1024, false).unwrap());
    let xs: Vec<Vec<Fr>> = (0..n)
        .map(|_| (0..k).map(|_| Fr::rand(&mut rng)).collect())
        .collect();
    let a: Vec<_> = (0..n)
        .map(|_| (G1Projective::generator() * Fr::rand(&mut rng)).into_affine())
        .collect();
    let b: Vec<_> = (0..n)
        .map(|_| (G2Projective::generator() * Fr::rand(&mut rng)).into_affine())
        .collect();
    let r: Vec<Fr> = (0..n).map(|_| Fr::from(u128::rand(&mut rng))).collect();
    let per = |t: Instant| t.elapsed().as_secs_f64() * 1e3 / n as f64;
    for _ in 0..3 {
        let t = Instant::now();
        let _: Vec<Fr> = xs.iter().map(|x| ozkcp_zk::poseidon::commit(x)).collect();
        let pos = per(t);
        let t = Instant::now();
        let _: Vec<Fr> = xs
            .par_iter()
            .map(|x| ozkcp_zk::poseidon::commit(x))
            .collect();
        let pos_par = per(t);
        let t = Instant::now();
        let sa: Vec<G1Projective> = a.iter().zip(&r).map(|(p, ri)| *p * ri).collect();
        let mul = per(t);
        let sa = G1Projective::normalize_batch(&sa);
        let t = Instant::now();
        let g2: Vec<<Bn254 as Pairing>::G2Prepared> = b.iter().map(|q| (*q).into()).collect();
        let prep = per(t);
        let t = Instant::now();
        let g1: Vec<<Bn254 as Pairing>::G1Prepared> = sa.iter().map(|p| (*p).into()).collect();
        let ml = Bn254::multi_miller_loop(g1, g2);
        let mll = per(t);
        let t = Instant::now();
        let _ = Bn254::final_exponentiation(ml);
        let fe = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "per proof (ms): poseidon {pos:.3} (parallel {pos_par:.3}), r_i A_i {mul:.3}, G2 prep {prep:.3}, Miller loop {mll:.3}; final exp {fe:.3} ms once; r bits {}",
            r[0].into_bigint().num_bits()
        );
    }
    println!(
        "load: {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
    );
}
