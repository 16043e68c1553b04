package ozkcp

/*
#include "ozkcp.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin/v16/paych"
	"github.com/ipfs/go-cid"
)

// BlockRef is one block of a manifest: its CID and length.
type BlockRef struct {
	Cid cid.Cid
	Len uint64
}

type blockJSON struct {
	Cid string `json:"cid"`
	Len uint64 `json:"len"`
}

// Payload is a file cut into raw leaves under a DAG-CBOR root: Blocks lists the root first.
type Payload struct {
	Root      cid.Cid
	Blocks    []BlockRef
	RootBlock []byte
}

// PayloadFromBytes cuts data into leaves of leafSize bytes under a root listing them.
// Leaf k's bytes are data[k*leafSize:].
func PayloadFromBytes(data []byte, leafSize uint64) (*Payload, error) {
	p, n := in(data)
	b, err := value(C.ozkcp_payload_from_bytes(p, n, C.uint64_t(leafSize)))
	if err != nil {
		return nil, err
	}
	var j struct {
		Root      string      `json:"root"`
		Blocks    []blockJSON `json:"blocks"`
		RootBlock []byte      `json:"root_block"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("ozkcp: payload: %w", err)
	}
	out := &Payload{RootBlock: j.RootBlock}
	if out.Root, err = cid.Decode(j.Root); err != nil {
		return nil, err
	}
	for _, bl := range j.Blocks {
		c, err := cid.Decode(bl.Cid)
		if err != nil {
			return nil, err
		}
		out.Blocks = append(out.Blocks, BlockRef{Cid: c, Len: bl.Len})
	}
	return out, nil
}

// ProofMode is how chunks are proven.
type ProofMode uint8

// Proof modes.
const (
	ModeFraud ProofMode = 0
	ModeZk    ProofMode = 1
)

// DealTerms are the client's proposal and the provider's manifest.
type DealTerms struct {
	DealID            uint64
	Client, Provider  address.Address
	PayloadRoot       cid.Cid
	ChunkSize         uint32
	PricePerChunk     abi.TokenAmount
	Mode              ProofMode
	CircuitID         []byte // zk mode only
	Judge             address.Address
	Lane              uint64
	Collateral        abi.TokenAmount
	KeyRevealDeadline abi.ChainEpoch
	DisputeWindow     abi.ChainEpoch
	Blocks            []BlockRef
	IntervalEnds      []uint32
}

// Encode returns the terms' CBOR (validated: layout and CIDs).
func (t *DealTerms) Encode() ([]byte, error) {
	mode := "fraud"
	if t.Mode == ModeZk {
		mode = "zk"
	}
	j := map[string]any{
		"deal_id": t.DealID, "client": t.Client.Bytes(), "provider": t.Provider.Bytes(),
		"payload_root": t.PayloadRoot.String(), "chunk_size": t.ChunkSize,
		"price_per_chunk": string(amountArg(t.PricePerChunk)), "mode": mode,
		"judge": t.Judge.Bytes(), "lane": t.Lane, "collateral": string(amountArg(t.Collateral)),
		"key_reveal_deadline": int64(t.KeyRevealDeadline), "dispute_window": int64(t.DisputeWindow),
		"interval_ends": t.IntervalEnds,
	}
	if t.CircuitID != nil {
		j["circuit_id"] = t.CircuitID
	}
	blocks := make([]blockJSON, len(t.Blocks))
	for i, b := range t.Blocks {
		blocks[i] = blockJSON{Cid: b.Cid.String(), Len: b.Len}
	}
	j["blocks"] = blocks
	if t.IntervalEnds == nil {
		j["interval_ends"] = []uint32{}
	}
	raw, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	p, n := in(raw)
	return value(C.ozkcp_deal_terms_encode(p, n))
}

// TermsDigest is the digest of terms (CBOR) that commitments and key reveals name.
func TermsDigest(terms []byte) ([]byte, error) {
	p, n := in(terms)
	return value(C.ozkcp_deal_terms_digest(p, n))
}

// SignTerms signs terms (CBOR) as the provider: the signed terms' CBOR.
func (s *Signer) SignTerms(terms []byte) ([]byte, error) {
	p, n := in(terms)
	return s.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult { return C.ozkcp_deal_terms_sign(h, p, n) })
}

// VerifyTerms checks the provider's signature on signed terms (CBOR).
func VerifyTerms(signed []byte) error {
	p, n := in(signed)
	return status(C.ozkcp_deal_terms_verify(p, n))
}

// IntervalPlace is where a payment interval sits in a deal.
type IntervalPlace struct {
	FirstBlock uint32          `json:"first_block"`
	EndBlock   uint32          `json:"end_block"`
	FirstChunk uint64          `json:"first_chunk"`
	Chunks     uint64          `json:"chunks"`
	Owed       abi.TokenAmount `json:"-"`
	OwedAtto   string          `json:"owed"`
}

// DealLayout is where every chunk and interval of a deal sits.
type DealLayout struct {
	ChunkSize   uint32          `json:"chunk_size"`
	TotalChunks uint64          `json:"total_chunks"`
	Intervals   []IntervalPlace `json:"intervals"`
}

// Layout computes the layout of terms (CBOR).
func Layout(terms []byte) (*DealLayout, error) {
	p, n := in(terms)
	b, err := value(C.ozkcp_deal_layout(p, n))
	if err != nil {
		return nil, err
	}
	var l DealLayout
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	for i := range l.Intervals {
		if l.Intervals[i].Owed, err = big.FromString(l.Intervals[i].OwedAtto); err != nil {
			return nil, err
		}
	}
	return &l, nil
}

// ProviderDeal is the provider's side of one deal. Calls on it are serialized.
type ProviderDeal struct{ h *handle }

// NewProviderDeal serves terms (CBOR) signing with s; the key chain ends at lastKey (nil:
// random). A zk deal proves its chunks with params (loaded with a proving key); pass nil for
// a fraud deal. s and params may be closed afterwards.
func NewProviderDeal(terms []byte, s *Signer, params *Params, lastKey []byte) (*ProviderDeal, error) {
	tp, tn := in(terms)
	kp, kn := in(lastKey)
	if s == nil {
		return nil, &Error{Code: CodeBadHandle, Msg: "nil signer"}
	}
	var h *handle
	err := s.h.use(func(sp *C.OzkcpHandle) error {
		return useParams(params, func(pp *C.OzkcpHandle) error {
			var err error
			h, err = newHandle(C.ozkcp_provider_new(tp, tn, sp, pp, kp, kn))
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return &ProviderDeal{h}, nil
}

// Close releases the deal.
func (d *ProviderDeal) Close() error { return d.h.close() }

// Lock returns interval j's lock.
func (d *ProviderDeal) Lock(j uint32) ([]byte, error) {
	return d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult { return C.ozkcp_provider_lock(h, C.uint32_t(j)) })
}

// EncryptInterval encrypts and states interval j from its blocks: the bundle's CBOR.
func (d *ProviderDeal) EncryptInterval(j uint32, blocks [][]byte) ([]byte, error) {
	data := concat(blocks)
	lens := make([]uint64, len(blocks))
	for i, b := range blocks {
		lens[i] = uint64(len(b))
	}
	dp, dn := in(data)
	var lp *C.uint64_t
	if len(lens) > 0 {
		lp = (*C.uint64_t)(unsafe.Pointer(&lens[0]))
	}
	return d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
		return C.ozkcp_provider_encrypt_interval(h, C.uint32_t(j), dp, dn, lp, C.size_t(len(lens)))
	})
}

// Commit re-signs a bundle's (CBOR) commitment over its chunks as they are now, for hosts
// that edit a bundle (fault-injection tests): the bundle's CBOR.
func (d *ProviderDeal) Commit(j uint32, bundle []byte) ([]byte, error) {
	bp, bn := in(bundle)
	return d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
		return C.ozkcp_provider_commit(h, C.uint32_t(j), bp, bn)
	})
}

// RevealKey checks the voucher for interval j (and funds, if known) and returns K_j; on a
// refused voucher nothing is revealed (ErrRejected).
func (d *ProviderDeal) RevealKey(j uint32, v *paych.SignedVoucher, funds *abi.TokenAmount) ([]byte, error) {
	vb, err := EncodeVoucher(v)
	if err != nil {
		return nil, err
	}
	vp, vn := in(vb)
	var fb []byte
	if funds != nil {
		fb = amountArg(*funds)
	}
	fp, fn := in(fb)
	return d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
		return C.ozkcp_provider_reveal_key(h, C.uint32_t(j), vp, vn, fp, fn)
	})
}

// SignReveal signs the reveal of key as interval j's key: the SignedKeyReveal CBOR.
func (d *ProviderDeal) SignReveal(j uint32, key []byte) ([]byte, error) {
	kp, kn := in(key)
	return d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
		return C.ozkcp_provider_sign_reveal(h, C.uint32_t(j), kp, kn)
	})
}

// ClientDeal is the client's side of one deal. Calls on it are serialized.
type ClientDeal struct{ h *handle }

// NewClientDeal starts a deal from provider-signed terms (CBOR). A zk deal verifies proofs
// with params (the deal's circuit); pass nil for a fraud deal. params may be closed afterwards.
func NewClientDeal(signedTerms []byte, params *Params) (*ClientDeal, error) {
	p, n := in(signedTerms)
	var h *handle
	err := useParams(params, func(pp *C.OzkcpHandle) error {
		var err error
		h, err = newHandle(C.ozkcp_client_new(p, n, pp))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ClientDeal{h}, nil
}

// Close releases the deal.
func (d *ClientDeal) Close() error { return d.h.close() }

// AcceptInterval checks an interval bundle (CBOR) before paying and keeps it.
func (d *ClientDeal) AcceptInterval(bundle []byte) error {
	p, n := in(bundle)
	return d.h.status(func(h *C.OzkcpHandle) *C.OzkcpStatusResult { return C.ozkcp_client_accept_interval(h, p, n) })
}

// VoucherFor returns the signed voucher for interval j if the payment rule allows it.
func (d *ClientDeal) VoucherFor(j uint32, s *Signer) (*paych.SignedVoucher, error) {
	if s == nil {
		return nil, &Error{Code: CodeBadHandle, Msg: "nil signer"}
	}
	var b []byte
	err := s.h.use(func(sp *C.OzkcpHandle) error {
		var err error
		b, err = d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
			return C.ozkcp_client_voucher_for(h, C.uint32_t(j), sp)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return DecodeVoucher(b)
}

// OpenInterval opens every interval up to j with K_j and returns interval j's blocks.
// Errors: ErrWrongKey, *BadChunkError, ErrRejected.
func (d *ClientDeal) OpenInterval(j uint32, key []byte) ([][]byte, error) {
	kp, kn := in(key)
	data, lens, err := d.h.pair(func(h *C.OzkcpHandle) *C.OzkcpPairResult {
		return C.ozkcp_client_open_interval(h, C.uint32_t(j), kp, kn)
	})
	if err != nil {
		return nil, err
	}
	return splitBlocks(data, lens)
}

// Blocks returns every opened block in manifest order.
func (d *ClientDeal) Blocks() ([][]byte, error) {
	data, lens, err := d.h.pair(func(h *C.OzkcpHandle) *C.OzkcpPairResult { return C.ozkcp_client_blocks(h) })
	if err != nil {
		return nil, err
	}
	return splitBlocks(data, lens)
}

// Commitment returns accepted interval j's signed commitment (CBOR).
func (d *ClientDeal) Commitment(j uint32) ([]byte, error) {
	return d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult { return C.ozkcp_client_commitment(h, C.uint32_t(j)) })
}

// SignedStatement returns chunk index's statement with its path to the signed root (CBOR).
func (d *ClientDeal) SignedStatement(index uint64) ([]byte, error) {
	return d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
		return C.ozkcp_client_signed_statement(h, C.uint64_t(index))
	})
}

// BadChunkEvidence is evidence (CBOR) that chunk index decrypts under key to wrong bytes.
func (d *ClientDeal) BadChunkEvidence(index uint64, key []byte) ([]byte, error) {
	kp, kn := in(key)
	return d.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
		return C.ozkcp_client_bad_chunk_evidence(h, C.uint64_t(index), kp, kn)
	})
}

// IsComplete says whether every interval has been opened.
func (d *ClientDeal) IsComplete() (bool, error) {
	err := d.h.status(func(h *C.OzkcpHandle) *C.OzkcpStatusResult { return C.ozkcp_client_is_complete(h) })
	if err == nil {
		return true, nil
	}
	if e, ok := err.(*Error); ok && e.Code == CodeRejected {
		return false, nil
	}
	return false, err
}
