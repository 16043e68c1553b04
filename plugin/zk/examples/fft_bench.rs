//! Radix-2 vs mixed-radix FFT sizes (scratch measurement).
use ark_bn254::Fr;
use ark_ff::UniformRand;
use ark_poly::{EvaluationDomain, MixedRadixEvaluationDomain, Radix2EvaluationDomain};
use std::time::Instant;

fn main() {
    let mut rng = ark_std::test_rng();
    let n = 295_700usize;
    let r2 = Radix2EvaluationDomain::<Fr>::new(n).unwrap();
    let mr = MixedRadixEvaluationDomain::<Fr>::new(n).unwrap();
    println!("radix2 {} mixed {}", r2.size(), mr.size());
    for _ in 0..2 {
        let mut v: Vec<Fr> = (0..r2.size()).map(|_| Fr::rand(&mut rng)).collect();
        let t = Instant::now();
        r2.ifft_in_place(&mut v);
        r2.get_coset(Fr::from(5u64)).unwrap().fft_in_place(&mut v);
        println!("radix2 ifft+cosetfft {:?}", t.elapsed());
        let mut v: Vec<Fr> = (0..mr.size()).map(|_| Fr::rand(&mut rng)).collect();
        let t = Instant::now();
        mr.ifft_in_place(&mut v);
        mr.get_coset(Fr::from(5u64)).unwrap().fft_in_place(&mut v);
        println!("mixed ifft+cosetfft {:?}", t.elapsed());
    }
}
