package ozkcp

/*
#include "ozkcp.h"
*/
import "C"

import (
	"encoding/json"

	"github.com/filecoin-project/go-address"
)

// EvidenceKind numbers the kinds of evidence, as on the wire.
type EvidenceKind uint8

// Evidence kinds.
const (
	EvidenceWrongKey         EvidenceKind = 0
	EvidenceInvalidProof     EvidenceKind = 1
	EvidenceBadChunk         EvidenceKind = 2
	EvidenceBrokenChain      EvidenceKind = 3
	EvidenceBadChainStart    EvidenceKind = 4
	EvidenceWrongFinalDigest EvidenceKind = 5
	EvidenceBadLayout        EvidenceKind = 6
)

// Fault is what the judge found proven.
type Fault struct {
	Kind     EvidenceKind `json:"kind"`
	Interval uint32       `json:"interval"`
	Chunk    *uint64      `json:"chunk"`
}

// WrongKeyEvidence builds evidence from a signed commitment and a signed key reveal (CBOR).
func WrongKeyEvidence(commitment, reveal []byte) ([]byte, error) {
	cp, cn := in(commitment)
	rp, rn := in(reveal)
	return value(C.ozkcp_evidence_wrong_key(cp, cn, rp, rn))
}

// BadChunkEvidence builds evidence from a signed statement, its ciphertext and the key.
func BadChunkEvidence(signedStatement, ciphertext, key []byte) ([]byte, error) {
	sp, sn := in(signedStatement)
	cp, cn := in(ciphertext)
	kp, kn := in(key)
	return value(C.ozkcp_evidence_bad_chunk(sp, sn, cp, cn, kp, kn))
}

// InvalidProofEvidence builds evidence from a signed statement, its ciphertext and proof.
func InvalidProofEvidence(signedStatement, ciphertext, proof []byte) ([]byte, error) {
	sp, sn := in(signedStatement)
	cp, cn := in(ciphertext)
	pp, pn := in(proof)
	return value(C.ozkcp_evidence_invalid_proof(sp, sn, cp, cn, pp, pn))
}

// BrokenChainEvidence builds evidence from two consecutive signed statements.
func BrokenChainEvidence(first, second []byte) ([]byte, error) {
	ap, an := in(first)
	bp, bn := in(second)
	return value(C.ozkcp_evidence_broken_chain(ap, an, bp, bn))
}

// StatementEvidence builds single-statement evidence (bad chain start, wrong final digest,
// bad layout).
func StatementEvidence(kind EvidenceKind, signedStatement []byte) ([]byte, error) {
	sp, sn := in(signedStatement)
	return value(C.ozkcp_evidence_statement(C.uint8_t(kind), sp, sn))
}

// VerifyEvidence judges evidence (CBOR) against terms (CBOR) with the judge's function.
// Invalid-proof evidence is judged with the verifying key in params (the deal's circuit); with
// nil params it is rejected as unjudgeable. Other evidence needs no params.
func VerifyEvidence(terms, evidence []byte, params *Params) (*Fault, error) {
	tp, tn := in(terms)
	ep, en := in(evidence)
	var b []byte
	err := useParams(params, func(pp *C.OzkcpHandle) error {
		var err error
		b, err = value(C.ozkcp_evidence_verify(tp, tn, ep, en, pp))
		return err
	})
	if err != nil {
		return nil, err
	}
	var f Fault
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// KeyReveal is an opened, signature-checked key reveal.
type KeyReveal struct {
	DealID   uint64 `json:"deal_id"`
	Interval uint32 `json:"interval"`
	Terms    []byte `json:"terms"`
	Key      []byte `json:"key"`
}

// OpenKeyReveal checks a signed key reveal (CBOR) against the provider and returns its content.
func OpenKeyReveal(reveal []byte, provider address.Address) (*KeyReveal, error) {
	rp, rn := in(reveal)
	pb := provider.Bytes()
	pp, pn := in(pb)
	b, err := value(C.ozkcp_key_reveal_open(rp, rn, pp, pn))
	if err != nil {
		return nil, err
	}
	var r KeyReveal
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
