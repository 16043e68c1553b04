//! The Rust side of the boundary-overhead benchmark (ffi/BENCHMARKS.md): the operations that
//! `go-bindings/bench_test.go` times through cgo, here on the Rust API directly.
//!
//! `cargo run -p ozkcp-ffi --release --example overhead`

use std::hint::black_box;
use std::time::{Duration, Instant};

use ozkcp_core::cipher::apply_chunk_keystream;
use ozkcp_core::keys::IntervalKey;
use ozkcp_zk::{
    proof_from_bytes, proof_to_bytes, ChunkProver, ChunkPublic, ChunkWitness, CircuitShape,
    PreparedKey,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Runs `f` for at least `min` (and 5 iterations), returning ns per iteration.
fn time(min: Duration, mut f: impl FnMut(u64)) -> f64 {
    f(0); // warm up
    let start = Instant::now();
    let mut n = 0u64;
    while n < 5 || start.elapsed() < min {
        f(n);
        n += 1;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn test_data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

fn main() {
    let min = Duration::from_secs(3);
    let key = IntervalKey::from_bytes([7; 32]);
    let mut buf = test_data(1 << 20);
    let ns = time(min, |i| apply_chunk_keystream(&key, i, black_box(&mut buf)));
    println!(
        "Encrypt1MiBInPlace  {ns:>12.0} ns/op  {:.1} MB/s",
        1048576e3 / ns
    );
    // The same through the C ABI, called from Rust: the boundary's own cost without Go.
    let ns = time(min, |i| unsafe {
        let r = ozkcp_ffi::data::ozkcp_chunk_keystream_in_place(
            [7u8; 32].as_ptr(),
            32,
            i,
            buf.as_mut_ptr(),
            buf.len(),
        );
        assert_eq!((*r).status_code, ozkcp_ffi::OZKCP_OK);
        ozkcp_ffi::ozkcp_destroy_status_result(r);
    });
    println!(
        "Encrypt1MiBInPlaceC {ns:>12.0} ns/op  {:.1} MB/s",
        1048576e3 / ns
    );
    // The fixed cost of a call: 64 bytes of keystream, directly and through the C ABI.
    let mut small = test_data(64);
    let ns = time(min, |i| {
        apply_chunk_keystream(&key, i, black_box(&mut small))
    });
    println!("Call64B             {ns:>12.1} ns/op");
    let ns = time(min, |i| unsafe {
        let r = ozkcp_ffi::data::ozkcp_chunk_keystream_in_place(
            [7u8; 32].as_ptr(),
            32,
            i,
            small.as_mut_ptr(),
            small.len(),
        );
        assert_eq!((*r).status_code, ozkcp_ffi::OZKCP_OK);
        ozkcp_ffi::ozkcp_destroy_status_result(r);
    });
    println!("Call64BC            {ns:>12.1} ns/op");
    let plain = test_data(1 << 20);
    let ns = time(min, |i| {
        let mut c = plain.clone();
        apply_chunk_keystream(&key, i, &mut c);
        black_box(c);
    });
    println!(
        "Encrypt1MiBCopy     {ns:>12.0} ns/op  {:.1} MB/s",
        1048576e3 / ns
    );

    // The Go fixture: 64-byte circuit, seed [1; 32], key [3; 32], chunk 5 of a 64-byte block.
    let shape = CircuitShape::new(64, false).unwrap();
    let (pk, vk) = ozkcp_zk::setup(shape, &mut StdRng::from_seed([1; 32])).unwrap();
    let prepared = PreparedKey::new(shape, &vk).unwrap();
    let prover = ChunkProver::new(shape, pk).unwrap();
    let k = IntervalKey::from_bytes([3; 32]);
    let m = test_data(64);
    let mut ct = m.clone();
    apply_chunk_keystream(&k, 5, &mut ct);
    let public = ChunkPublic {
        index: 5,
        off: 0,
        len: 64,
        final_chunk: true,
        h_in: ozkcp_core::chunk::iv().0,
        h_out: ozkcp_core::chunk::sha256(&m).0,
        lock: k.lock().0,
        lock_prev: None,
        ciphertext: ct,
    };
    let witness = ChunkWitness {
        key: [3; 32],
        plaintext: m,
    };
    let proof =
        ozkcp_zk::prove_chunk(&prover, &public, &witness, &mut StdRng::from_entropy()).unwrap();
    let proof_bytes = proof_to_bytes(&proof);
    let ns = time(min, |_| {
        let p = proof_from_bytes(black_box(&proof_bytes)).unwrap();
        ozkcp_zk::verify_chunk(&prepared, black_box(&public), &p).unwrap();
    });
    println!("VerifyProof         {ns:>12.0} ns/op  (proof decoded from bytes each time)");
}
