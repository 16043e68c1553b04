package ozkcp

import (
	"bytes"
	"errors"
	"testing"
)

// zk-mode deals from Go through the FSM step functions: the 64-byte circuit of zkFixture
// (single-party setup), a payload of two 64-byte leaves and a short one under its root block,
// intervals of the root and then two leaves: six or so chunks, each proven by the provider and
// batch-verified by the client before it pays.

func zkDeal(t *testing.T, data []byte, f fault) (*clientHost, *providerHost) {
	t.Helper()
	params, _, _ := zkFixture(t)
	return runDealWith(t, data, f, dealSetup{mode: ModeZk, params: params, leaf: 64})
}

func TestZkDealHonest(t *testing.T) {
	data := testData(130)
	c, p := zkDeal(t, data, honest)
	if c.rep.Status != "Completed" || p.rep.Status != "Completed" {
		t.Fatalf("client %s (%s), provider %s (%s)", c.rep.Status, c.rep.State.Message, p.rep.Status, p.rep.State.Message)
	}
	if !bytes.Equal(c.data, data) {
		t.Fatal("client did not get the payload")
	}
	if !p.redeemed || p.revealed != int(p.rep.State.Intervals) {
		t.Fatalf("provider redeemed %v, revealed %d of %d", p.redeemed, p.revealed, p.rep.State.Intervals)
	}
	// Every chunk the client accepted carries a proof.
	for j, b := range p.bundles {
		for i, ch := range decodeBundle(t, b).chunks {
			if len(ch.proof) != 128 {
				t.Fatalf("interval %d chunk %d: proof of %d bytes", j, i, len(ch.proof))
			}
		}
	}
}

func TestZkDealInvalidProofIsProven(t *testing.T) {
	params, _, _ := zkFixture(t)
	c, p := zkDeal(t, testData(130), providerInvalidProof)
	// The client refuses interval 1 before paying for it.
	if c.rep.Status == "Completed" || c.data != nil || p.revealed > 1 {
		t.Fatalf("client %s, data %d bytes, provider revealed %d keys", c.rep.Status, len(c.data), p.revealed)
	}
	refused, ok := c.refused[1]
	if !ok {
		t.Fatalf("interval 1 was not refused (refused: %d intervals)", len(c.refused))
	}
	b := decodeBundle(t, refused)
	evidence, err := InvalidProofEvidence(b.signedStatement(t, 0), b.chunks[0].ciphertext, b.chunks[0].proof)
	must(t, err)

	// The judge's function, with the circuit's verifying key, finds the fault.
	f, err := VerifyEvidence(c.terms, evidence, params)
	must(t, err)
	want := statementIndex(t, b.chunks[0].statement)
	if f.Kind != EvidenceInvalidProof || f.Interval != 1 || f.Chunk == nil || *f.Chunk != want {
		t.Fatalf("fault %+v, want invalid proof of chunk %d in interval 1", f, want)
	}
	// Without a verifying key it cannot judge the proof: rejected, not a fault.
	if _, err := VerifyEvidence(c.terms, evidence, nil); !errors.Is(err, ErrRejected) {
		t.Fatalf("no verifying key: %v", err)
	}
	// The neighbour's own, valid proof proves nothing.
	honestEv, err := InvalidProofEvidence(b.signedStatement(t, 1), b.chunks[1].ciphertext, b.chunks[1].proof)
	must(t, err)
	if _, err := VerifyEvidence(c.terms, honestEv, params); !errors.Is(err, ErrRejected) {
		t.Fatalf("valid proof judged: %v", err)
	}
	// Nor does a proof other than the one the statement names.
	unsigned, err := InvalidProofEvidence(b.signedStatement(t, 1), b.chunks[1].ciphertext, bytes.Repeat([]byte{1}, 128))
	must(t, err)
	if _, err := VerifyEvidence(c.terms, unsigned, params); !errors.Is(err, ErrRejected) {
		t.Fatalf("unsigned proof judged: %v", err)
	}
}

func TestZkDealBadParams(t *testing.T) {
	c, p := zkDeal(t, testData(10), honest)
	if c.rep.Status != "Completed" {
		t.Fatalf("client %s (%s)", c.rep.Status, c.rep.State.Message)
	}
	signed, err := p.key.SignTerms(p.terms)
	must(t, err)
	verifyOnly, err := LoadParams(64, false, zkOnce.vk, nil, nil)
	must(t, err)
	// A provider needs the proving key; a client without a verifier cannot check proofs.
	if _, err := NewProviderDeal(p.terms, p.key, verifyOnly, nil); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("provider without a proving key: %v", err)
	}
	d, err := NewClientDeal(signed, verifyOnly)
	must(t, err)
	must(t, d.Close())
	// The wrong handle type, and parameters used after Close.
	if _, err := NewClientDeal(signed, &Params{p.key.h}); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("signer as params: %v", err)
	}
	must(t, verifyOnly.Close())
	if _, err := NewClientDeal(signed, verifyOnly); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("closed params: %v", err)
	}
	if _, err := VerifyEvidence(c.terms, []byte{0x80}, verifyOnly); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("closed params: %v", err)
	}
}
