//! End-to-end: setup, prove, verify, batch-verify, encodings and bad inputs.
//!
//! One Groth16 setup per shape is shared by all tests (S = 64 with link, S = 128 without).

use std::sync::OnceLock;

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{Field, UniformRand};
use ark_serialize::CanonicalSerialize;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use ozkcp_zk::native::block_instances;
use ozkcp_zk::*;

struct Fixture {
    shape: CircuitShape,
    prover: ChunkProver,
    vk: VerifyingKey,
    key: PreparedKey,
}

fn fixture(chunk_size: usize, link: bool, seed: u64) -> Fixture {
    let shape = CircuitShape::new(chunk_size, link).unwrap();
    let (pk, vk) = setup(shape, &mut StdRng::seed_from_u64(seed)).unwrap();
    let key = PreparedKey::new(shape, &vk).unwrap();
    let prover = ChunkProver::new(shape, pk).unwrap();
    Fixture {
        shape,
        prover,
        vk,
        key,
    }
}

fn s64() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| fixture(64, true, 1))
}

fn s128() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| fixture(128, false, 2))
}

fn block(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

const KEY: [u8; 32] = [0x42; 32];

fn prove_all(f: &Fixture, items: &[(ChunkPublic, ChunkWitness)]) -> Vec<Proof> {
    prove_chunks(&f.prover, items, &mut StdRng::seed_from_u64(9))
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn lengths_prove_and_verify(f: &Fixture, lengths: &[usize], with_lock_prev: bool) {
    let mut all = Vec::new();
    let mut index = 0u64;
    for &n in lengths {
        let items = block_instances(&block(n), f.shape.chunk_size, index, &KEY, with_lock_prev);
        index += items.len() as u64;
        let proofs = prove_all(f, &items);
        for ((p, _), proof) in items.iter().zip(&proofs) {
            verify_chunk(&f.key, p, proof).unwrap_or_else(|e| panic!("n = {n}: {e}"));
            all.push((p.clone(), proof.clone()));
        }
    }
    verify_batch(&f.key, &all).unwrap();
}

#[test]
fn block_lengths_prove_and_verify_s64() {
    let s = 64;
    lengths_prove_and_verify(s64(), &[0, 1, 55, 56, s - 1, s, s + 1, 3 * s + 17], true);
}

#[test]
fn block_lengths_prove_and_verify_s128() {
    let s = 128;
    lengths_prove_and_verify(s128(), &[0, 64, s - 1, s, s + 1, 3 * s + 17], false);
}

/// An honest middle chunk (index 1 of a 3-chunk block) and the block's first chunk (with
/// `lock_prev`), with their proofs.
fn honest() -> &'static Vec<(ChunkPublic, Proof)> {
    static H: OnceLock<Vec<(ChunkPublic, Proof)>> = OnceLock::new();
    H.get_or_init(|| {
        let f = s64();
        let items = block_instances(&block(150), 64, 10, &KEY, true);
        let proofs = prove_all(f, &items);
        items.into_iter().map(|(p, _)| p).zip(proofs).collect()
    })
}

fn rejected(p: &ChunkPublic, proof: &Proof) {
    assert!(verify_chunk(&s64().key, p, proof).is_err());
}

#[test]
fn bad_statements_are_rejected() {
    let h = honest();
    let (p, proof) = &h[1];
    verify_chunk(&s64().key, p, proof).unwrap();

    let mut bad = p.clone();
    bad.ciphertext[17] ^= 0x08;
    rejected(&bad, proof);

    let mut bad = p.clone();
    bad.lock[0] ^= 1;
    rejected(&bad, proof);

    let mut bad = p.clone();
    bad.h_in[31] ^= 0x80;
    rejected(&bad, proof);

    let mut bad = p.clone();
    bad.h_out[5] ^= 1;
    rejected(&bad, proof);

    let mut bad = p.clone();
    bad.index += 1;
    rejected(&bad, proof);

    // The first chunk's chain link.
    let (p0, proof0) = &h[0];
    verify_chunk(&s64().key, p0, proof0).unwrap();
    let mut bad = p0.clone();
    bad.lock_prev.as_mut().unwrap()[3] ^= 1;
    rejected(&bad, proof0);
    let mut bad = p0.clone();
    bad.lock_prev = None;
    rejected(&bad, proof0);

    // The final chunk claims another block length or final flag.
    let (p2, proof2) = &h[2];
    verify_chunk(&s64().key, p2, proof2).unwrap();
    let mut bad = p2.clone();
    bad.off += 64;
    rejected(&bad, proof2);

    // A proof taken from another chunk.
    rejected(p, proof2);
    rejected(p2, proof);
}

#[test]
fn batch_with_one_bad_proof_fails() {
    let h = honest();
    let mut items = h.clone();
    verify_batch(&s64().key, &items).unwrap();
    items[1].1 = items[2].1.clone();
    assert_eq!(verify_batch(&s64().key, &items), Err(ZkError::InvalidProof));
    let mut items = h.clone();
    items[0].0.ciphertext[0] ^= 1;
    assert_eq!(verify_batch(&s64().key, &items), Err(ZkError::InvalidProof));
    assert_eq!(verify_batch(&s64().key, &[]), Err(ZkError::EmptyBatch));
}

#[test]
fn proof_for_another_circuit_is_rejected() {
    let f128 = s128();
    let items = block_instances(&block(100), 128, 0, &KEY, false);
    let proof128 = prove_all(f128, &items).remove(0);
    verify_chunk(&f128.key, &items[0].0, &proof128).unwrap();
    // Same statement under the S = 64 key: the S = 128 statement does not even pack for S = 64.
    assert!(verify_chunk(&s64().key, &items[0].0, &proof128).is_err());
    // An S = 64 statement with the S = 128 proof.
    let (p, _) = &honest()[0];
    rejected(p, &proof128);
    // A second, independent setup of the same shape is another circuit id.
    let other = fixture(64, true, 77);
    assert_ne!(circuit_id(&other.vk), circuit_id(&s64().vk));
    let (p, proof) = &honest()[1];
    assert_eq!(
        verify_chunk(&other.key, p, proof),
        Err(ZkError::InvalidProof)
    );
    // And a key prepared with another shape than its own verifies nothing of the other shape.
    let wrong = PreparedKey::new(CircuitShape::new(128, false).unwrap(), &s64().vk).unwrap();
    assert!(verify_chunk(&wrong, &items[0].0, &proof128).is_err());
}

#[test]
fn wrong_public_input_length_is_rejected() {
    let (p, proof) = &honest()[1];
    let mut x = public_inputs(&s64().shape, p).unwrap();
    verify_inputs(&s64().key, &x, proof).unwrap();
    x.pop();
    assert!(matches!(
        verify_inputs(&s64().key, &x, proof),
        Err(ZkError::PublicInputLength { .. })
    ));
    x.push(Fr::from(0u64));
    x.push(Fr::from(0u64));
    assert!(matches!(
        verify_inputs(&s64().key, &x, proof),
        Err(ZkError::PublicInputLength { .. })
    ));
}

#[test]
fn proof_bytes_truncated_or_garbage_are_rejected() {
    let (_, proof) = &honest()[1];
    let bytes = proof_to_bytes(proof);
    assert_eq!(bytes.len(), 128);
    assert_eq!(&proof_from_bytes(&bytes).unwrap(), proof);
    assert!(proof_from_bytes(&bytes[..127]).is_err());
    assert!(proof_from_bytes(&bytes[..64]).is_err());
    assert!(proof_from_bytes(&[]).is_err());
    let mut long = bytes.clone();
    long.push(0);
    assert!(proof_from_bytes(&long).is_err());
    assert!(proof_from_bytes(&[0xff; 128]).is_err());
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..20 {
        let g: Vec<u8> = (0..128).map(|_| u8::rand(&mut rng)).collect();
        if let Ok(p) = proof_from_bytes(&g) {
            // A random encoding that decodes to valid points still does not verify.
            assert!(verify_chunk(&s64().key, &honest()[1].0, &p).is_err());
        }
    }
}

fn proof_with(a: G1Affine, b: G2Affine, c: G1Affine) -> Vec<u8> {
    let mut out = Vec::new();
    a.serialize_compressed(&mut out).unwrap();
    b.serialize_compressed(&mut out).unwrap();
    c.serialize_compressed(&mut out).unwrap();
    out
}

#[test]
fn points_off_curve_or_outside_subgroup_are_rejected() {
    let (_, proof) = &honest()[1];
    // G1: an x with no point on y^2 = x^3 + 3 (compressed encodings carry only x).
    let mut x = Fq::from(1u64);
    while (x * x * x + Fq::from(3u64)).sqrt().is_some() {
        x += Fq::from(1u64);
    }
    let mut bytes = proof_to_bytes(proof);
    let mut xb = Vec::new();
    x.serialize_compressed(&mut xb).unwrap();
    bytes[..32].copy_from_slice(&xb);
    assert!(proof_from_bytes(&bytes).is_err());
    // G2: a point on the twist that is not in the prime-order subgroup.
    let mut rng = StdRng::seed_from_u64(6);
    let b = loop {
        let x = Fq2::rand(&mut rng);
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false) {
            if !p.is_in_correct_subgroup_assuming_on_curve() {
                break p;
            }
        }
    };
    assert!(b.is_on_curve());
    let bad = proof_with(proof.a, b, proof.c);
    assert!(proof_from_bytes(&bad).is_err());
    // The point at infinity in every slot decodes but does not verify.
    let zero = proof_with(G1Affine::zero(), G2Affine::zero(), G1Affine::zero());
    if let Ok(p) = proof_from_bytes(&zero) {
        assert!(verify_chunk(&s64().key, &honest()[1].0, &p).is_err());
    }
}

#[test]
fn keys_round_trip_and_circuit_id_is_enforced() {
    let f = s64();
    let id = circuit_id(&f.vk);
    let vk_bytes = vk_to_bytes(&f.vk);
    assert_eq!(vk_from_bytes(&vk_bytes, Some(&id)).unwrap(), f.vk);
    assert!(matches!(
        vk_from_bytes(&vk_bytes, Some(&circuit_id(&s128().vk))),
        Err(ZkError::CircuitId { .. })
    ));
    assert!(vk_from_bytes(&vk_bytes[..vk_bytes.len() - 1], None).is_err());
    let pk_bytes = pk_to_bytes(f.prover.proving_key());
    let pk = pk_from_bytes(&pk_bytes, &id).unwrap();
    assert_eq!(pk.vk, f.vk);
    assert!(matches!(
        pk_from_bytes(&pk_bytes, &[0u8; 32]),
        Err(ZkError::CircuitId { .. })
    ));
    // A proof made with the reloaded key verifies.
    let items = block_instances(&block(10), 64, 3, &KEY, false);
    let prover = ChunkProver::new(f.shape, pk).unwrap();
    let proof = prove_chunk(
        &prover,
        &items[0].0,
        &items[0].1,
        &mut StdRng::seed_from_u64(3),
    )
    .unwrap();
    verify_chunk(&f.key, &items[0].0, &proof).unwrap();
}

#[test]
fn wrong_witness_is_an_error_not_a_proof() {
    let f = s64();
    let items = block_instances(&block(10), 64, 3, &KEY, false);
    let mut w = items[0].1.clone();
    w.key[0] ^= 1;
    assert!(matches!(
        prove_chunk(&f.prover, &items[0].0, &w, &mut StdRng::seed_from_u64(3)),
        Err(ZkError::Statement(_))
    ));
}

/// Verify our export with snarkjs: set `OZKCP_SNARKJS_DIR` to a directory where
/// `npm install snarkjs` was run (the test runs `npx snarkjs groth16 verify` there).
#[test]
#[ignore = "needs Node and snarkjs; set OZKCP_SNARKJS_DIR"]
fn snarkjs_verifies_exported_proof() {
    let Ok(dir) = std::env::var("OZKCP_SNARKJS_DIR") else {
        eprintln!("OZKCP_SNARKJS_DIR not set; skipping");
        return;
    };
    let f = s64();
    let (p, proof) = &honest()[1];
    let out = std::env::temp_dir().join(format!("ozkcp-zk-snarkjs-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let write = |name: &str, v: serde_json::Value| {
        std::fs::write(out.join(name), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    };
    write(
        "verification_key.json",
        snarkjs::verification_key_json(&f.vk),
    );
    write("proof.json", snarkjs::proof_json(proof));
    let x = public_inputs(&f.shape, p).unwrap();
    write("public.json", snarkjs::public_json(&x));
    let run = |public: &str| {
        std::process::Command::new("npx")
            .current_dir(&dir)
            .args(["snarkjs", "groth16", "verify"])
            .arg(out.join("verification_key.json"))
            .arg(out.join(public))
            .arg(out.join("proof.json"))
            .output()
            .unwrap()
    };
    let ok = run("public.json");
    let stdout = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(
        ok.status.success() && stdout.contains("OK"),
        "snarkjs: {stdout}"
    );
    // And it rejects a wrong input.
    let mut y = x.clone();
    y[0] += Fr::from(1u64);
    write("public_bad.json", snarkjs::public_json(&y));
    let bad = run("public_bad.json");
    let stdout = String::from_utf8_lossy(&bad.stdout).to_string();
    assert!(
        !stdout.contains("OK!"),
        "snarkjs accepted a wrong input: {stdout}"
    );
}
