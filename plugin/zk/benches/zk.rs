//! Benchmarks for BENCHMARKS.md: constraints, prove time against the stock-gadget baseline in
//! the same run, verify single and batch, peak memory of one proof.
//!
//! `cargo bench -p ozkcp-zk --bench zk` (env `ZK_BENCH_SIZES=256,1024`, `ZK_BENCH_REPS=2`).

mod baseline;

use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr};
use ark_groth16::Groth16;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, SynthesisMode};
use ark_std::rand::{rngs::StdRng, SeedableRng};
use ozkcp_zk::native::block_instances;
use ozkcp_zk::*;

fn best<T>(reps: usize, f: impl FnMut() -> T) -> (Duration, T) {
    let (all, x) = each(reps, f);
    (all.into_iter().min().expect("reps > 0"), x)
}

/// Every repetition's time (the last result).
fn each<T>(reps: usize, mut f: impl FnMut() -> T) -> (Vec<Duration>, T) {
    let mut all = Vec::new();
    let mut out = None;
    for _ in 0..reps {
        let t = Instant::now();
        let x = f();
        all.push(t.elapsed());
        out = Some(x);
    }
    (all, out.expect("reps > 0"))
}

fn secs(all: &[Duration]) -> String {
    all.iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn baseline_constraints(s: usize, link: bool) -> usize {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    baseline::Baseline {
        chunk_size: s,
        key: None,
        plaintext: None,
        index: 0,
        ciphertext: None,
        link,
    }
    .generate_constraints(cs.clone())
    .expect("baseline synthesis");
    cs.num_constraints()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("ZK_BENCH_SIZES")
        .unwrap_or_else(|_| "256,1024".into())
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    let reps: usize = std::env::var("ZK_BENCH_REPS")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(2);
    let link = std::env::var("ZK_BENCH_LINK").map_or(true, |x| x != "0");
    let threads = rayon::current_num_threads();
    println!(
        "# ozkcp-zk benchmarks (rayon threads: {threads}, reps: {reps}, link: {link}, load: {})",
        load()
    );
    let key = [7u8; 32];
    for &s in &sizes {
        let shape = CircuitShape::new(s, link).expect("shape");
        let info = circuit_info(shape).expect("info");
        let info_nolink = circuit_info(CircuitShape::new(s, false).expect("shape")).expect("info");
        let base = baseline_constraints(s, link);
        println!("\n## S = {s}");
        println!(
            "constraints: ours {} ({:.1}/B; without link {} = {:.1}/B), baseline {} ({:.1}/B), ratio {:.2}x",
            info.constraints,
            info.constraints_per_byte,
            info_nolink.constraints,
            info_nolink.constraints_per_byte,
            base,
            base as f64 / s as f64,
            base as f64 / info.constraints as f64
        );
        println!(
            "parts: {:?}, public inputs {}",
            info.parts, info.public_inputs
        );

        let mut rng = StdRng::seed_from_u64(1);
        let t = Instant::now();
        let (pk, vk) = setup(shape, &mut rng).expect("setup");
        let setup_ours = t.elapsed();
        let pk_bytes = pk_to_bytes(&pk).len();
        let prover = ChunkProver::new(shape, pk).expect("prover");
        let block: Vec<u8> = (0..s).map(|i| i as u8).collect();
        let items = block_instances(&block, s, 3, &key, link);
        let (p, w) = &items[0];
        reset_hwm();
        let hwm_before = vm_hwm_kib();
        let mut timings = Vec::new();
        let load_ours = load();
        let (prove_ours, proof) = each(reps, || {
            let (proof, tm) = prover.prove_timed(p, w, &mut rng).expect("prove");
            timings.push(tm);
            proof
        });
        let hwm = vm_hwm_kib();
        let prepared = PreparedKey::new(shape, &vk).expect("vk");
        verify_chunk(&prepared, p, &proof).expect("verifies");

        let with_base = std::env::var("ZK_BENCH_BASELINE").map_or(true, |x| x != "0");
        let bcirc = baseline::Baseline {
            chunk_size: s,
            key: Some(key),
            plaintext: Some(w.plaintext.clone()),
            index: p.index,
            ciphertext: Some(p.ciphertext.clone()),
            link,
        };
        let load_base = load();
        let base = with_base.then(|| {
            let t = Instant::now();
            let bpk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
                bcirc.clone(),
                &mut rng,
            )
            .expect("baseline setup");
            let setup_base = t.elapsed();
            let (prove_base, _) = each(reps, || {
                Groth16::<Bn254>::create_random_proof_with_reduction(bcirc.clone(), &bpk, &mut rng)
                    .expect("baseline prove")
            });
            (setup_base, prove_base)
        });
        println!(
            "setup: ours {:.1} s, baseline {:.1} s; proving key {:.1} MB compressed",
            setup_ours.as_secs_f64(),
            base.as_ref().map_or(f64::NAN, |b| b.0.as_secs_f64()),
            pk_bytes as f64 / 1e6
        );
        let bo = prove_ours.iter().min().expect("reps").as_secs_f64();
        match &base {
            Some((_, prove_base)) => {
                let bb = prove_base.iter().min().expect("reps").as_secs_f64();
                println!(
                    "prove: ours [{}] s (load {load_ours}), baseline [{}] s (load {load_base}); best {bo:.2} vs {bb:.2}: speed-up {:.2}x",
                    secs(&prove_ours),
                    secs(prove_base),
                    bb / bo
                );
            }
            None => println!("prove: ours [{}] s (load {load_ours})", secs(&prove_ours)),
        }
        for tm in &timings {
            println!("  ours: {tm:?}");
        }
        if let (Some(a), Some(b)) = (hwm_before, hwm) {
            println!(
                "peak RSS while proving (VmHWM after reset): {:.0} MB (before: {:.0} MB)",
                b as f64 / 1024.0,
                a as f64 / 1024.0
            );
        }

        // Verify: single, and a batch of 64 (re-randomised copies of valid proofs).
        let (v1, _) = best(50, || verify_chunk(&prepared, p, &proof).expect("verify"));
        let batch: Vec<(ChunkPublic, Proof)> = (0..64)
            .map(|_| {
                let pr = Groth16::<Bn254>::rerandomize_proof(&vk, &proof, &mut rng);
                (p.clone(), pr)
            })
            .collect();
        let (vb, _) = best(5, || verify_batch(&prepared, &batch).expect("batch"));
        println!(
            "verify: single {:.2} ms; batch of 64 {:.2} ms = {:.3} ms/proof",
            v1.as_secs_f64() * 1e3,
            vb.as_secs_f64() * 1e3,
            vb.as_secs_f64() * 1e3 / 64.0
        );
    }
}
