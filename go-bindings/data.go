package ozkcp

/*
#include "ozkcp.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
)

// KeyChain returns the keys K_0…K_{n-1} of a chain ending at lastKey (32 bytes; nil for a
// fresh random key) and their locks SHA256(K_j).
func KeyChain(lastKey []byte, intervals uint32) (keys, locks [][]byte, err error) {
	p, n := in(lastKey)
	if lastKey != nil && len(lastKey) == 0 {
		return nil, nil, &Error{Code: CodeInvalidInput, Msg: "last key: empty (pass nil for a random key)"}
	}
	k, l, err := pair(C.ozkcp_key_chain(p, n, C.uint32_t(intervals)))
	if err != nil {
		return nil, nil, err
	}
	return split32(k), split32(l), nil
}

func split32(b []byte) [][]byte {
	out := make([][]byte, 0, len(b)/32)
	for i := 0; i+32 <= len(b); i += 32 {
		out = append(out, b[i:i+32:i+32])
	}
	return out
}

// KeyLock returns the lock SHA256(K) of a 32-byte key.
func KeyLock(key []byte) ([]byte, error) {
	p, n := in(key)
	return value(C.ozkcp_key_lock(p, n))
}

// KeyWithEarlier returns K_0…K_j given K_j.
func KeyWithEarlier(key []byte, j uint32) ([][]byte, error) {
	p, n := in(key)
	b, err := value(C.ozkcp_key_with_earlier(p, n, C.uint32_t(j)))
	if err != nil {
		return nil, err
	}
	return split32(b), nil
}

// KeyOpens checks that key opens lock (ErrRejected if not).
func KeyOpens(key, lock []byte) error {
	kp, kn := in(key)
	lp, ln := in(lock)
	return status(C.ozkcp_key_opens(kp, kn, lp, ln))
}

// ChunkSpan is one chunk of a block with its SHA-256 chaining values.
type ChunkSpan struct {
	Offset  uint64 `json:"offset"`
	Len     uint32 `json:"len"`
	IsFinal bool   `json:"is_final"`
	HIn     []byte `json:"h_in"`
	HOut    []byte `json:"h_out"`
}

// ChainBlock cuts a block into chunks of chunkSize bytes and chains them.
func ChainBlock(block []byte, chunkSize uint32) ([]ChunkSpan, error) {
	p, n := in(block)
	b, err := value(C.ozkcp_chain_block(p, n, C.uint32_t(chunkSize)))
	if err != nil {
		return nil, err
	}
	var spans []ChunkSpan
	if err := json.Unmarshal(b, &spans); err != nil {
		return nil, fmt.Errorf("ozkcp: spans: %w", err)
	}
	return spans, nil
}

// EncryptChunk encrypts chunk index under key (ChaCha20, nonce = index) into a new slice.
func EncryptChunk(key []byte, index uint64, plaintext []byte) ([]byte, error) {
	return keystreamCopy(key, index, plaintext)
}

// DecryptChunk decrypts chunk index under key into a new slice.
func DecryptChunk(key []byte, index uint64, ciphertext []byte) ([]byte, error) {
	return keystreamCopy(key, index, ciphertext)
}

// keystreamCopy copies the input once into Go memory and applies the keystream there in
// place: one copy, where ozkcp_encrypt_chunk would copy into Rust and then back into Go.
func keystreamCopy(key []byte, index uint64, data []byte) ([]byte, error) {
	buf := append([]byte{}, data...)
	if err := ChunkKeystreamInPlace(key, index, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// ChunkKeystreamInPlace encrypts or decrypts buf in place (no copy crosses the boundary).
func ChunkKeystreamInPlace(key []byte, index uint64, buf []byte) error {
	kp, kn := in(key)
	p, n := in(buf)
	return status(C.ozkcp_chunk_keystream_in_place(kp, kn, C.uint64_t(index), p, n))
}

// CiphertextDigest is the statement digest (BLAKE3-256) of a ciphertext.
func CiphertextDigest(ciphertext []byte) ([]byte, error) {
	p, n := in(ciphertext)
	return value(C.ozkcp_ciphertext_digest(p, n))
}

// StatementLeaf is the Merkle leaf hash of a statement (CBOR).
func StatementLeaf(statement []byte) ([]byte, error) {
	p, n := in(statement)
	return value(C.ozkcp_statement_leaf(p, n))
}

func concat(parts [][]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// MerkleRoot is the root over 32-byte leaf hashes.
func MerkleRoot(leaves [][]byte) ([]byte, error) {
	p, n := in(concat(leaves))
	return value(C.ozkcp_merkle_root(p, n))
}

// MerkleProof is the inclusion proof (CBOR) of leaf position.
func MerkleProof(leaves [][]byte, position uint32) ([]byte, error) {
	p, n := in(concat(leaves))
	return value(C.ozkcp_merkle_proof(p, n, C.uint32_t(position)))
}

// MerkleVerify checks a proof (CBOR) from leaf to root.
func MerkleVerify(proof, leaf, root []byte) error {
	pp, pn := in(proof)
	lp, ln := in(leaf)
	rp, rn := in(root)
	return status(C.ozkcp_merkle_verify(pp, pn, lp, ln, rp, rn))
}

// CheckStatement checks that statement (CBOR) sits under the signed commitment (CBOR) by its
// Merkle proof (CBOR) and agrees with it.
func CheckStatement(commitment, statement, proof []byte) error {
	cp, cn := in(commitment)
	sp, sn := in(statement)
	pp, pn := in(proof)
	return status(C.ozkcp_commitment_check_statement(cp, cn, sp, sn, pp, pn))
}

// CheckCiphertext checks a ciphertext against its statement (CBOR): length and digest.
func CheckCiphertext(statement, ciphertext []byte) error {
	sp, sn := in(statement)
	cp, cn := in(ciphertext)
	return status(C.ozkcp_statement_check_ciphertext(sp, sn, cp, cn))
}
