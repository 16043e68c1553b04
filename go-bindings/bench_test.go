package ozkcp

import (
	"bytes"
	"testing"
)

// Overhead of the boundary: compare with `cargo run -p ozkcp-ffi --release --example overhead`
// (the same operations on the Rust API directly). See ffi/BENCHMARKS.md.

func BenchmarkEncrypt1MiBInPlace(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 32)
	buf := testData(1 << 20)
	b.SetBytes(1 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ChunkKeystreamInPlace(key, uint64(i), buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncrypt1MiBCopy(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 32)
	buf := testData(1 << 20)
	b.SetBytes(1 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := EncryptChunk(key, uint64(i), buf); err != nil {
			b.Fatal(err)
		}
	}
}

// The fixed cost of one call through cgo and the C ABI: 64 bytes of keystream (~0.1 µs of
// work), so what remains is the boundary (cgo transition, argument checks, result struct).
func BenchmarkCall64B(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 32)
	buf := testData(64)
	for i := 0; i < b.N; i++ {
		if err := ChunkKeystreamInPlace(key, uint64(i), buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyProof(b *testing.B) {
	p, public, proof := zkFixture(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Verify(public, proof); err != nil {
			b.Fatal(err)
		}
	}
}
