package ozkcp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/big"
)

func TestABIVersion(t *testing.T) {
	if LibraryABIVersion() != ABIVersion {
		t.Fatalf("library ABI %d, bindings %d", LibraryABIVersion(), ABIVersion)
	}
}

func TestKeysAndCipher(t *testing.T) {
	last := bytes.Repeat([]byte{9}, 32)
	keys, locks, err := KeyChain(last, 4)
	must(t, err)
	if len(keys) != 4 || !bytes.Equal(keys[3], last) {
		t.Fatal("chain must end at the last key")
	}
	earlier, err := KeyWithEarlier(keys[2], 2)
	must(t, err)
	for i := range earlier {
		if !bytes.Equal(earlier[i], keys[i]) {
			t.Fatalf("derived key %d differs", i)
		}
		must(t, KeyOpens(keys[i], locks[i]))
	}
	if err := KeyOpens(keys[0], locks[1]); !errors.Is(err, ErrRejected) {
		t.Fatalf("wrong key: %v", err)
	}
	plain := testData(1000)
	ct, err := EncryptChunk(keys[0], 7, plain)
	must(t, err)
	back, err := DecryptChunk(keys[0], 7, ct)
	must(t, err)
	if !bytes.Equal(back, plain) {
		t.Fatal("round trip")
	}
	must(t, ChunkKeystreamInPlace(keys[0], 7, ct))
	if !bytes.Equal(ct, plain) {
		t.Fatal("in place")
	}
	spans, err := ChainBlock(plain, 256)
	must(t, err)
	if len(spans) != 4 || !spans[3].IsFinal || spans[3].Len != 1000-768 {
		t.Fatalf("spans %+v", spans)
	}
}

func TestMerkle(t *testing.T) {
	leaves := [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)}
	root, err := MerkleRoot(leaves)
	must(t, err)
	proof, err := MerkleProof(leaves, 2)
	must(t, err)
	must(t, MerkleVerify(proof, leaves[2], root))
	if err := MerkleVerify(proof, leaves[1], root); !errors.Is(err, ErrRejected) {
		t.Fatalf("wrong leaf: %v", err)
	}
}

// Null pointers and zero lengths (nil and empty slices), truncated and garbage buffers: each an
// error, never a crash.
func TestBadInputs(t *testing.T) {
	garbage := bytes.Repeat([]byte{0xa7, 0x13, 0xff}, 50)
	for _, k := range [][]byte{nil, {}, make([]byte, 31), make([]byte, 33)} {
		if _, err := KeyLock(k); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("key of %d bytes: %v", len(k), err)
		}
		if _, err := EncryptChunk(k, 0, []byte{1}); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("encrypt with key of %d bytes: %v", len(k), err)
		}
	}
	if _, _, err := KeyChain(nil, 0); !errors.Is(err, ErrInvalidInput) {
		t.Fatal("empty chain")
	}
	if _, err := ChainBlock(nil, 63); !errors.Is(err, ErrInvalidInput) {
		t.Fatal("bad chunk size")
	}
	if _, err := MerkleRoot(nil); !errors.Is(err, ErrInvalidInput) {
		t.Fatal("no leaves")
	}
	for n := 0; n < len(garbage); n += 11 {
		g := garbage[:n]
		checks := map[string]error{}
		_, checks["leaf"] = StatementLeaf(g)
		_, checks["layout"] = Layout(g)
		checks["terms"] = VerifyTerms(g)
		_, checks["evidence"] = VerifyEvidence(g, g, nil)
		_, _, checks["state"] = ClientFsmStep(g, Ev("ProposalSent"))
		_, _, checks["pstate"] = ProviderFsmStep(g, Ev("Unsealed"))
		_, checks["client"] = NewClientDeal(g, nil)
		checks["commitment"] = VerifyCommitment(g, address.Undef)
		_, checks["payload"] = PayloadFromBytes(g, 0)
		_, checks["params"] = LoadParams(64, false, g, nil, nil)
		checks["voucher"] = VerifyVoucherBytes(g, address.Undef)
		for what, err := range checks {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%s with %d garbage bytes: %v", what, n, err)
			}
		}
	}
	// Truncated: a valid state cut short.
	state, _, err := ClientFsmNew(1, ModeFraud)
	must(t, err)
	for cut := 0; cut < len(state); cut++ {
		if _, _, err := ClientFsmStep(state[:cut], Ev("ProposalSent")); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("state cut at %d: %v", cut, err)
		}
	}
	// Refused transitions and unknown events.
	if _, _, err := ClientFsmStep(state, Ev("KeyAccepted")); !errors.Is(err, ErrRejected) {
		t.Fatalf("invalid transition: %v", err)
	}
	if _, _, err := ClientFsmStep(state, Ev("NoSuchEvent")); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown event: %v", err)
	}
	if _, _, err := FsmStepRaw(state, garbage, true); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("garbage event: %v", err)
	}
	if _, _, err := ClientFsmNew(1, 7); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad mode: %v", err)
	}
	// Amounts and addresses.
	judge, _ := address.NewIDAddress(100)
	if _, err := NewVoucher(judge, 1, 1, big.NewInt(-1), make([]byte, 32)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("negative amount: %v", err)
	}
	if _, err := NewVoucher(address.Undef, 1, 1, big.NewInt(1), make([]byte, 32)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("undefined address: %v", err)
	}
}

// Double close, calls after close and wrong handle types through the Go API.
func TestHandles(t *testing.T) {
	s, err := RandomSigner()
	must(t, err)
	if _, err := s.Address(); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	if err := s.Close(); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("double close: %v", err)
	}
	if _, err := s.Sign([]byte("m")); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("sign after close: %v", err)
	}
	if _, err := s.Address(); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("address after close: %v", err)
	}
	if _, err := NewSigner(nil); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("nil secret: %v", err)
	}
	if _, err := NewSigner(make([]byte, 32)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("zero secret: %v", err)
	}
	var nilSigner *Signer
	if _, err := NewProviderDeal(nil, nilSigner, nil, nil); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("nil signer: %v", err)
	}

	// A handle of one type used where another is needed: the library refuses it.
	other, err := RandomSigner()
	must(t, err)
	defer other.Close()
	deal, p := runDeal(t, testData(300), honest)
	if _, err := addressOf(deal.deal.h); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("client deal used as a signer: %v", err)
	}
	if _, err := (&ProviderDeal{other.h}).Lock(0); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("signer used as a provider deal: %v", err)
	}
	if err := (&ClientDeal{p.deal.h}).AcceptInterval(nil); !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrBadHandle) {
		t.Fatalf("provider deal used as a client deal: %v", err)
	}
	if _, err := (&Params{other.h}).CircuitID(); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("signer used as params: %v", err)
	}
	must(t, deal.deal.Close())
	if _, err := deal.deal.Blocks(); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("deal after close: %v", err)
	}
}

// Concurrent calls on shared handles while one goroutine closes them: every call either works
// or reports ErrBadHandle, never crashes.
func TestConcurrentUseAndClose(t *testing.T) {
	s, err := RandomSigner()
	must(t, err)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				if _, err := s.Sign([]byte("m")); err != nil {
					if !errors.Is(err, ErrBadHandle) {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	must(t, s.Close())
	for g := 0; g < 8; g++ {
		must(t, <-done)
	}
}
