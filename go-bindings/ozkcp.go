// Package ozkcp is the Go face of the ozkcp C ABI (ffi/): fair-exchange retrievals for a
// Filecoin-style node, in the style of filecoin-ffi.
//
// Every call copies its result into Go memory and frees the Rust side at once. Long-lived
// objects (Signer, Params, ProviderDeal, ClientDeal) wrap Rust handles: Close them when done
// (a finalizer does it otherwise); calls after Close, and a second Close, return errors.
// Vouchers are go-state-types paych.SignedVoucher values, amounts abi.TokenAmount, addresses
// go-address, CIDs go-cid.
//
// Build the static library first (see Makefile): cargo build -p ozkcp-ffi --release. The
// linker looks in ../target/release; point it elsewhere with CGO_LDFLAGS=-L<dir>.
package ozkcp

/*
#cgo CFLAGS: -I${SRCDIR}/../ffi/include
#cgo LDFLAGS: -L${SRCDIR}/../target/release -l:libozkcp_ffi.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include "ozkcp.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

//go:generate sh -c "cd .. && cargo build -p ozkcp-ffi --release"

// ABIVersion is the ABI version these bindings were written for.
const ABIVersion = 2

// LibraryABIVersion is the ABI version of the linked library.
func LibraryABIVersion() uint32 { return uint32(C.ozkcp_abi_version()) }

// Code is a status code of the C ABI.
type Code int

// Status codes (OZKCP_* in ozkcp.h).
const (
	CodeInvalidInput Code = C.OZKCP_ERR_INVALID_INPUT
	CodeRejected     Code = C.OZKCP_ERR_REJECTED
	CodeBadHandle    Code = C.OZKCP_ERR_BAD_HANDLE
	CodePanic        Code = C.OZKCP_ERR_PANIC
	CodeWrongKey     Code = C.OZKCP_ERR_WRONG_KEY
	CodeBadChunk     Code = C.OZKCP_ERR_BAD_CHUNK
)

// Error is an error from the library: a status code and a message.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("ozkcp (code %d): %s", e.Code, e.Msg) }

// Is matches the sentinel of the same code (errors.Is(err, ozkcp.ErrRejected)).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalidInput = &Error{Code: CodeInvalidInput}
	ErrRejected     = &Error{Code: CodeRejected}
	ErrBadHandle    = &Error{Code: CodeBadHandle}
	ErrPanic        = &Error{Code: CodePanic}
	ErrWrongKey     = &Error{Code: CodeWrongKey}
)

// BadChunkError says which chunk decrypted to bytes contradicting its statement.
type BadChunkError struct {
	Index uint64
	Msg   string
}

func (e *BadChunkError) Error() string {
	return fmt.Sprintf("ozkcp: bad chunk %d: %s", e.Index, e.Msg)
}

func newError(code C.int32_t, msg *C.char) *Error {
	return &Error{Code: Code(code), Msg: C.GoString(msg)}
}

// in passes a Go byte slice as (pointer, length): cgo keeps it alive for the call.
func in(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

func out(p *C.uint8_t, n C.size_t) []byte {
	if p == nil || n == 0 {
		return []byte{}
	}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))...)
}

func status(r *C.OzkcpStatusResult) error {
	defer C.ozkcp_destroy_status_result(r)
	if r.status_code != C.OZKCP_OK {
		return newError(r.status_code, r.error_msg)
	}
	return nil
}

func value(r *C.OzkcpBytesResult) ([]byte, error) {
	defer C.ozkcp_destroy_bytes_result(r)
	if r.status_code != C.OZKCP_OK {
		return nil, newError(r.status_code, r.error_msg)
	}
	return out(r.value_ptr, r.value_len), nil
}

func pair(r *C.OzkcpPairResult) ([]byte, []byte, error) {
	defer C.ozkcp_destroy_pair_result(r)
	if r.status_code != C.OZKCP_OK {
		e := newError(r.status_code, r.error_msg)
		if e.Code == CodeBadChunk && r.first_len == 8 {
			idx := binary.LittleEndian.Uint64(out(r.first_ptr, r.first_len))
			return nil, nil, &BadChunkError{Index: idx, Msg: e.Msg}
		}
		return nil, nil, e
	}
	return out(r.first_ptr, r.first_len), out(r.second_ptr, r.second_len), nil
}

// handle owns one Rust handle. Calls hold the read lock; Close takes the write lock, so a
// handle is never destroyed under a running call.
type handle struct {
	mu  sync.RWMutex
	ptr *C.OzkcpHandle
}

func newHandle(r *C.OzkcpHandleResult) (*handle, error) {
	defer C.ozkcp_destroy_handle_result(r)
	if r.status_code != C.OZKCP_OK {
		return nil, newError(r.status_code, r.error_msg)
	}
	h := &handle{ptr: r.handle}
	runtime.SetFinalizer(h, func(h *handle) { _ = h.close() })
	return h, nil
}

var errClosed = &Error{Code: CodeBadHandle, Msg: "handle is closed"}

// use runs f with the live handle pointer.
func (h *handle) use(f func(*C.OzkcpHandle) error) error {
	if h == nil {
		return &Error{Code: CodeBadHandle, Msg: "nil handle"}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.ptr == nil {
		return errClosed
	}
	err := f(h.ptr)
	runtime.KeepAlive(h)
	return err
}

func (h *handle) close() error {
	if h == nil {
		return &Error{Code: CodeBadHandle, Msg: "nil handle"}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == nil {
		return errClosed
	}
	err := status(C.ozkcp_handle_destroy(h.ptr))
	h.ptr = nil
	runtime.SetFinalizer(h, nil)
	return err
}

// useParams runs f with p's live handle, or with a null handle when p is nil (no parameters).
func useParams(p *Params, f func(*C.OzkcpHandle) error) error {
	if p == nil {
		return f(nil)
	}
	return p.h.use(f)
}

// withBytes runs a call returning bytes on a live handle.
func (h *handle) bytes(f func(*C.OzkcpHandle) *C.OzkcpBytesResult) ([]byte, error) {
	var v []byte
	err := h.use(func(p *C.OzkcpHandle) error {
		var err error
		v, err = value(f(p))
		return err
	})
	return v, err
}

func (h *handle) status(f func(*C.OzkcpHandle) *C.OzkcpStatusResult) error {
	return h.use(func(p *C.OzkcpHandle) error { return status(f(p)) })
}

func (h *handle) pair(f func(*C.OzkcpHandle) *C.OzkcpPairResult) ([]byte, []byte, error) {
	var a, b []byte
	err := h.use(func(p *C.OzkcpHandle) error {
		var err error
		a, b, err = pair(f(p))
		return err
	})
	return a, b, err
}

// splitBlocks turns (concatenated data, u64 LE lengths) into blocks.
func splitBlocks(data, lens []byte) ([][]byte, error) {
	if len(lens)%8 != 0 {
		return nil, errors.New("ozkcp: malformed block lengths")
	}
	blocks := make([][]byte, 0, len(lens)/8)
	at := uint64(0)
	for i := 0; i < len(lens); i += 8 {
		n := binary.LittleEndian.Uint64(lens[i:])
		if at+n > uint64(len(data)) {
			return nil, errors.New("ozkcp: block lengths run past the data")
		}
		blocks = append(blocks, data[at:at+n:at+n])
		at += n
	}
	return blocks, nil
}
