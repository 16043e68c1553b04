package ozkcp

/*
#include "ozkcp.h"
*/
import "C"

import "bytes"

// ZkSetup runs a single-party Groth16 setup for a circuit shape (devnets and tests only).
// seed (32 bytes) makes it deterministic; nil for a random one.
func ZkSetup(chunkSize uint32, link bool, seed []byte) (pk, vk []byte, err error) {
	p, n := in(seed)
	return pair(C.ozkcp_zk_setup(C.uint32_t(chunkSize), C.bool(link), p, n))
}

// Params are loaded Groth16 parameters of one circuit. Safe for concurrent use.
type Params struct{ h *handle }

// LoadParams loads a compressed verifying key, optionally a proving key (nil: verify only)
// and the expected circuit id (nil: any).
func LoadParams(chunkSize uint32, link bool, vk, pk, circuitID []byte) (*Params, error) {
	vp, vn := in(vk)
	pp, pn := in(pk)
	ip, iN := in(circuitID)
	h, err := newHandle(C.ozkcp_zk_params_load(C.uint32_t(chunkSize), C.bool(link), vp, vn, pp, pn, ip, iN))
	if err != nil {
		return nil, err
	}
	return &Params{h}, nil
}

// Close releases the parameters.
func (p *Params) Close() error { return p.h.close() }

// CircuitID is SHA-256 of the compressed verifying key.
func (p *Params) CircuitID() ([]byte, error) {
	return p.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult { return C.ozkcp_zk_circuit_id(h) })
}

// Prove proves one chunk from its public statement (JSON of ozkcp_zk::ChunkPublic), key and
// plaintext: the 128-byte proof.
func (p *Params) Prove(public, key, plaintext []byte) ([]byte, error) {
	up, un := in(public)
	kp, kn := in(key)
	mp, mn := in(plaintext)
	return p.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
		return C.ozkcp_zk_prove(h, up, un, kp, kn, mp, mn)
	})
}

// Verify checks one proof for its public statement (JSON). ErrRejected if it does not verify.
func (p *Params) Verify(public, proof []byte) error {
	up, un := in(public)
	pp, pn := in(proof)
	return p.h.status(func(h *C.OzkcpHandle) *C.OzkcpStatusResult { return C.ozkcp_zk_verify(h, up, un, pp, pn) })
}

// VerifyBatch checks many proofs of this circuit at once (same order as publics).
func (p *Params) VerifyBatch(publics, proofs [][]byte) error {
	arr := append([]byte{'['}, bytes.Join(publics, []byte{','})...)
	arr = append(arr, ']')
	up, un := in(arr)
	pp, pn := in(concat(proofs))
	return p.h.status(func(h *C.OzkcpHandle) *C.OzkcpStatusResult {
		return C.ozkcp_zk_verify_batch(h, up, un, pp, pn)
	})
}
