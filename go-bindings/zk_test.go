package ozkcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
	"testing"
)

// zk fixture: one 64-byte circuit, set up once (single-party setup: tests only).
var zkOnce struct {
	sync.Once
	params *Params
	vk     []byte
	public []byte
	proof  []byte
	err    error
}

// chunkPublic builds the JSON of ozkcp_zk::ChunkPublic for a one-chunk block (test-only
// knowledge of the layout: the API itself takes it as opaque bytes).
func chunkPublic(t testing.TB, key, plain []byte, index uint64) []byte {
	spans, err := ChainBlock(plain, 64)
	must2(t, err)
	lock, err := KeyLock(key)
	must2(t, err)
	ct, err := EncryptChunk(key, index, plain)
	must2(t, err)
	ints := func(b []byte) []int {
		out := make([]int, len(b))
		for i, x := range b {
			out[i] = int(x)
		}
		return out
	}
	s := spans[0]
	j, err := json.Marshal(map[string]any{
		"index": index, "off": s.Offset, "len": s.Len, "final_chunk": s.IsFinal,
		"h_in": ints(s.HIn), "h_out": ints(s.HOut), "lock": ints(lock), "lock_prev": nil,
		"ciphertext": ints(ct),
	})
	must2(t, err)
	return j
}

func must2(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func zkFixture(t testing.TB) (*Params, []byte, []byte) {
	if testing.Short() {
		t.Skip("zk setup takes a while")
	}
	zkOnce.Do(func() {
		pk, vk, err := ZkSetup(64, false, bytes.Repeat([]byte{1}, 32))
		if err != nil {
			zkOnce.err = err
			return
		}
		p, err := LoadParams(64, false, vk, pk, nil)
		if err != nil {
			zkOnce.err = err
			return
		}
		key := bytes.Repeat([]byte{3}, 32)
		plain := testData(64)
		zkOnce.public = chunkPublic(t, key, plain, 5)
		zkOnce.proof, zkOnce.err = p.Prove(zkOnce.public, key, plain)
		zkOnce.params, zkOnce.vk = p, vk
	})
	must2(t, zkOnce.err)
	return zkOnce.params, zkOnce.public, zkOnce.proof
}

func TestZkProveVerify(t *testing.T) {
	p, public, proof := zkFixture(t)
	if len(proof) != 128 {
		t.Fatalf("proof of %d bytes", len(proof))
	}
	must(t, p.Verify(public, proof))
	must(t, p.VerifyBatch([][]byte{public, public}, [][]byte{proof, proof}))
	id, err := p.CircuitID()
	must(t, err)
	if len(id) != 32 {
		t.Fatal("circuit id")
	}
	// Another statement, a garbage or truncated proof, a wrong witness.
	other := chunkPublic(t, bytes.Repeat([]byte{4}, 32), testData(64), 5)
	if err := p.Verify(other, proof); !errors.Is(err, ErrRejected) {
		t.Fatalf("proof for another statement: %v", err)
	}
	if err := p.Verify(public, proof[:127]); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("truncated proof: %v", err)
	}
	if err := p.Verify(public, bytes.Repeat([]byte{0xff}, 128)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("garbage proof: %v", err)
	}
	if err := p.Verify([]byte("{}"), proof); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("garbage statement: %v", err)
	}
	if err := p.VerifyBatch(nil, nil); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("empty batch: %v", err)
	}
	if _, err := p.Prove(public, bytes.Repeat([]byte{4}, 32), testData(64)); err == nil {
		t.Fatal("a wrong witness must not prove")
	}
	// Verify-only parameters cannot prove.
	_, vk, err := ZkSetup(64, false, bytes.Repeat([]byte{1}, 32))
	_ = vk
	if err == nil {
		// (setup is deterministic with a seed; the verifying key matches the fixture's)
		v, err := LoadParams(64, false, vk, nil, id)
		must(t, err)
		defer v.Close()
		must(t, v.Verify(public, proof))
		if _, err := v.Prove(public, bytes.Repeat([]byte{3}, 32), testData(64)); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("prove without a proving key: %v", err)
		}
		if _, err := LoadParams(64, false, vk, nil, make([]byte, 32)); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("wrong circuit id: %v", err)
		}
	}
}
