package ozkcp

/*
#include "ozkcp.h"
*/
import "C"

import (
	"bytes"
	"fmt"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/builtin/v16/paych"
)

// Signer is a secp256k1 key that signs the Filecoin way (blake2b-256, 65-byte signatures).
// Safe for concurrent use.
type Signer struct{ h *handle }

// NewSigner loads a key from its 32 secret bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) == 0 {
		return nil, &Error{Code: CodeInvalidInput, Msg: "secret key: empty"}
	}
	p, n := in(secret)
	h, err := newHandle(C.ozkcp_signer_new(p, n))
	if err != nil {
		return nil, err
	}
	return &Signer{h}, nil
}

// RandomSigner makes a fresh key.
func RandomSigner() (*Signer, error) {
	h, err := newHandle(C.ozkcp_signer_new(nil, 0))
	if err != nil {
		return nil, err
	}
	return &Signer{h}, nil
}

// Close releases the key. A second Close returns an error.
func (s *Signer) Close() error { return s.h.close() }

func addressOf(h *handle) ([]byte, error) {
	return h.bytes(func(p *C.OzkcpHandle) *C.OzkcpBytesResult { return C.ozkcp_signer_address(p) })
}

// Address is the signer's f1 address.
func (s *Signer) Address() (address.Address, error) {
	b, err := addressOf(s.h)
	if err != nil {
		return address.Undef, err
	}
	return address.NewFromBytes(b)
}

// Sign signs msg: the signature in Filecoin's byte form (type byte 1 + 65 bytes).
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	p, n := in(msg)
	return s.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult { return C.ozkcp_signer_sign(h, p, n) })
}

// VerifySignature checks a signature (byte form) by signer over msg.
func VerifySignature(sig []byte, signer address.Address, msg []byte) error {
	sp, sn := in(sig)
	ab := signer.Bytes()
	ap, an := in(ab)
	mp, mn := in(msg)
	return status(C.ozkcp_verify_signature(sp, sn, ap, an, mp, mn))
}

// EncodeVoucher is the voucher's CBOR (go-state-types' encoding, which is ozkcp's).
func EncodeVoucher(v *paych.SignedVoucher) ([]byte, error) {
	if v == nil {
		return nil, &Error{Code: CodeInvalidInput, Msg: "nil voucher"}
	}
	var buf bytes.Buffer
	if err := v.MarshalCBOR(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeVoucher reads a voucher's CBOR.
func DecodeVoucher(b []byte) (*paych.SignedVoucher, error) {
	var v paych.SignedVoucher
	if err := v.UnmarshalCBOR(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("ozkcp: voucher: %w", err)
	}
	return &v, nil
}

func amountArg(a abi.TokenAmount) []byte {
	if a.Int == nil {
		return []byte("0")
	}
	return []byte(a.String())
}

// NewVoucher makes an unsigned hash-locked voucher for the cumulative amount on lane of the
// judge channel, locked by lock (32 bytes).
func NewVoucher(channel address.Address, lane, nonce uint64, amount abi.TokenAmount, lock []byte) (*paych.SignedVoucher, error) {
	cb := channel.Bytes()
	cp, cn := in(cb)
	ab := amountArg(amount)
	ap, an := in(ab)
	lp, ln := in(lock)
	b, err := value(C.ozkcp_voucher_create(cp, cn, C.uint64_t(lane), C.uint64_t(nonce), ap, an, lp, ln))
	if err != nil {
		return nil, err
	}
	return DecodeVoucher(b)
}

// SignVoucher signs v as the client and returns the signed copy.
func (s *Signer) SignVoucher(v *paych.SignedVoucher) (*paych.SignedVoucher, error) {
	vb, err := EncodeVoucher(v)
	if err != nil {
		return nil, err
	}
	vp, vn := in(vb)
	b, err := s.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult { return C.ozkcp_voucher_sign(h, vp, vn) })
	if err != nil {
		return nil, err
	}
	return DecodeVoucher(b)
}

// VerifyVoucher checks the voucher's signature against the client.
func VerifyVoucher(v *paych.SignedVoucher, client address.Address) error {
	vb, err := EncodeVoucher(v)
	if err != nil {
		return err
	}
	return VerifyVoucherBytes(vb, client)
}

// VerifyVoucherBytes is VerifyVoucher on the voucher's CBOR.
func VerifyVoucherBytes(voucher []byte, client address.Address) error {
	vp, vn := in(voucher)
	cb := client.Bytes()
	cp, cn := in(cb)
	return status(C.ozkcp_voucher_verify(vp, vn, cp, cn))
}

// VoucherExpectation is what the provider expects of the next voucher on a deal.
type VoucherExpectation struct {
	Channel   address.Address
	Lane      uint64
	Client    address.Address
	LastNonce *uint64         // nonce of the last accepted voucher, if any
	Owed      abi.TokenAmount // cumulative amount owed once this interval is paid
	Lock      []byte          // lock of the interval being paid
	Funds     *abi.TokenAmount
}

// CheckVoucher is the provider's check before revealing a key.
func CheckVoucher(v *paych.SignedVoucher, e VoucherExpectation) error {
	vb, err := EncodeVoucher(v)
	if err != nil {
		return err
	}
	vp, vn := in(vb)
	chb, clb := e.Channel.Bytes(), e.Client.Bytes()
	chp, chn := in(chb)
	clp, cln := in(clb)
	ob := amountArg(e.Owed)
	op, on := in(ob)
	lp, ln := in(e.Lock)
	var fb []byte
	if e.Funds != nil {
		fb = amountArg(*e.Funds)
	}
	fp, fn := in(fb)
	has, last := false, uint64(0)
	if e.LastNonce != nil {
		has, last = true, *e.LastNonce
	}
	return status(C.ozkcp_voucher_check(vp, vn, chp, chn, C.uint64_t(e.Lane), clp, cln,
		C.bool(has), C.uint64_t(last), op, on, lp, ln, fp, fn))
}

// SignCommitment builds and signs an interval commitment over the statements' leaf hashes.
func (s *Signer) SignCommitment(dealID uint64, termsDigest []byte, interval uint32, firstChunk uint64, lock []byte, leaves [][]byte) ([]byte, error) {
	tp, tn := in(termsDigest)
	lp, ln := in(lock)
	vp, vn := in(concat(leaves))
	return s.h.bytes(func(h *C.OzkcpHandle) *C.OzkcpBytesResult {
		return C.ozkcp_commitment_sign(h, C.uint64_t(dealID), tp, tn, C.uint32_t(interval), C.uint64_t(firstChunk), lp, ln, vp, vn)
	})
}

// VerifyCommitment checks a signed interval commitment (CBOR) against the provider.
func VerifyCommitment(commitment []byte, provider address.Address) error {
	cp, cn := in(commitment)
	pb := provider.Bytes()
	pp, pn := in(pb)
	return status(C.ozkcp_commitment_verify(cp, cn, pp, pn))
}
