//! Profile proofs: `ZK_SIZE=256 ZK_WHICH=ours|base|ab cargo run
//! --release --example prove_profile [--features ark-std/print-trace]` (`ab`: our prover and the
//! stock one alternately on the same key).

#[path = "../benches/baseline/mod.rs"]
mod baseline;

use std::time::Instant;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use ozkcp_zk::native::block_instances;
use ozkcp_zk::*;

fn main() {
    let s: usize = std::env::var("ZK_SIZE")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(256);
    let which = std::env::var("ZK_WHICH").unwrap_or_else(|_| "ours".into());
    let reps: usize = std::env::var("ZK_REPS")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(2);
    let shape = CircuitShape::new(s, true).expect("shape");
    let mut rng = StdRng::seed_from_u64(1);
    let key = [7u8; 32];
    let block: Vec<u8> = (0..s).map(|i| i as u8).collect();
    let items = block_instances(&block, s, 3, &key, true);
    let (p, w) = &items[0];
    if which == "ab" {
        // Our prover and the stock ark-groth16 prover on the same key, alternating.
        let (pk, vk) = setup(shape, &mut rng).expect("setup");
        let prover = ChunkProver::new(shape, pk.clone()).expect("prover");
        let prepared = PreparedKey::new(shape, &vk).expect("vk");
        for _ in 0..reps {
            let t = Instant::now();
            let (proof, tm) = prover.prove_timed(p, w, &mut rng).expect("prove");
            eprintln!(
                "PROVE ChunkProver S={s}: {:.2} s {tm:?}",
                t.elapsed().as_secs_f64()
            );
            verify_chunk(&prepared, p, &proof).expect("verifies");
            let t = Instant::now();
            let proof = Groth16::<Bn254>::create_random_proof_with_reduction(
                ozkcp_zk::circuit::ChunkCircuit::new(shape, p, w),
                &pk,
                &mut rng,
            )
            .expect("prove");
            eprintln!(
                "PROVE stock prover S={s}: {:.2} s",
                t.elapsed().as_secs_f64()
            );
            verify_chunk(&prepared, p, &proof).expect("verifies");
        }
    } else if which == "ours" {
        let (pk, _) = setup(shape, &mut rng).expect("setup");
        let prover = ChunkProver::new(shape, pk).expect("prover");
        for _ in 0..reps {
            let t = Instant::now();
            let (_, tm) = prover.prove_timed(p, w, &mut rng).expect("prove");
            eprintln!(
                "PROVE ours S={s}: {:.2} s {tm:?}",
                t.elapsed().as_secs_f64()
            );
        }
    } else {
        let bcirc = baseline::Baseline {
            chunk_size: s,
            key: Some(key),
            plaintext: Some(w.plaintext.clone()),
            index: p.index,
            ciphertext: Some(p.ciphertext.clone()),
            link: true,
        };
        let bpk =
            Groth16::<Bn254>::generate_random_parameters_with_reduction(bcirc.clone(), &mut rng)
                .expect("setup");
        for _ in 0..reps {
            let t = Instant::now();
            Groth16::<Bn254>::create_random_proof_with_reduction(bcirc.clone(), &bpk, &mut rng)
                .expect("prove");
            eprintln!("PROVE base S={s}: {:.2} s", t.elapsed().as_secs_f64());
        }
    }
}
