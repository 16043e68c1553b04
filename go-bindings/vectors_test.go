package ozkcp

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/filecoin-project/go-address"
	gocrypto "github.com/filecoin-project/go-crypto"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin/v16/paych"
	"github.com/filecoin-project/go-state-types/crypto"
	"golang.org/x/crypto/blake2b"
)

// voucherVector is the shape of testdata/vectors/voucher_*.json (bytes in hex).
type voucherVector struct {
	Comment      string `json:"comment"`
	Secret       string `json:"secret"`
	Client       string `json:"client"`
	ClientBytes  string `json:"client_bytes"`
	Channel      string `json:"channel_bytes"`
	Lane         uint64 `json:"lane"`
	Nonce        uint64 `json:"nonce"`
	Amount       string `json:"amount"`
	Lock         string `json:"lock"`
	SigningBytes string `json:"signing_bytes"`
	Signed       string `json:"signed"`
}

func vectorPath(name string) string { return filepath.Join("..", "testdata", "vectors", name) }

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	must(t, err)
	return b
}

// A voucher signed in Rust decodes into paych.SignedVoucher, re-encodes to the same bytes with
// go-state-types, and its signature verifies against the f1 address with blake2b-256 +
// secp256k1 recovery in Go.
func TestRustVoucherVector(t *testing.T) {
	raw, err := os.ReadFile(vectorPath("voucher_rust.json"))
	must(t, err)
	var v voucherVector
	must(t, json.Unmarshal(raw, &v))
	signed := unhex(t, v.Signed)
	sv, err := DecodeVoucher(signed)
	must(t, err)
	again, err := EncodeVoucher(sv)
	must(t, err)
	if !bytes.Equal(again, signed) {
		t.Fatalf("go-state-types re-encodes differently:\n%x\n%x", again, signed)
	}
	sb, err := sv.SigningBytes()
	must(t, err)
	if !bytes.Equal(sb, unhex(t, v.SigningBytes)) {
		t.Fatal("signing bytes differ")
	}
	if sv.Signature == nil || sv.Signature.Type != crypto.SigTypeSecp256k1 {
		t.Fatal("secp256k1 signature expected")
	}
	digest := blake2b.Sum256(sb)
	pub, err := gocrypto.EcRecover(digest[:], sv.Signature.Data)
	must(t, err)
	addr, err := address.NewSecp256k1Address(pub)
	must(t, err)
	if !bytes.Equal(addr.Bytes(), unhex(t, v.ClientBytes)) {
		t.Fatalf("recovered %s, vector says %s", addr, v.Client)
	}
	if sv.Lane != v.Lane || sv.Nonce != v.Nonce || sv.Amount.String() != v.Amount || !bytes.Equal(sv.SecretHash, unhex(t, v.Lock)) {
		t.Fatal("fields differ")
	}
	must(t, VerifyVoucher(sv, addr))
}

// goVoucher signs a voucher entirely in Go (go-state-types + go-crypto).
func goVoucher(t *testing.T) (voucherVector, *paych.SignedVoucher, address.Address) {
	secret := bytes.Repeat([]byte{0x5a}, 32)
	pub := gocrypto.PublicKey(secret)
	client, err := address.NewSecp256k1Address(pub)
	must(t, err)
	channel, _ := address.NewIDAddress(1000)
	lock := bytes.Repeat([]byte{0xcd}, 32)
	sv := &paych.SignedVoucher{ChannelAddr: channel, SecretHash: lock, Lane: 3, Nonce: 2, Amount: big.NewInt(123456789), Merges: []paych.Merge{}}
	sb, err := sv.SigningBytes()
	must(t, err)
	digest := blake2b.Sum256(sb)
	sig, err := gocrypto.Sign(secret, digest[:])
	must(t, err)
	sv.Signature = &crypto.Signature{Type: crypto.SigTypeSecp256k1, Data: sig}
	enc, err := EncodeVoucher(sv)
	must(t, err)
	return voucherVector{
		Comment:     "voucher signed in Go (go-state-types + go-crypto); checked by ffi/tests/vectors.rs",
		Secret:      hex.EncodeToString(secret),
		Client:      client.String(),
		ClientBytes: hex.EncodeToString(client.Bytes()),
		Channel:     hex.EncodeToString(channel.Bytes()),
		Lane:        sv.Lane, Nonce: sv.Nonce, Amount: sv.Amount.String(),
		Lock: hex.EncodeToString(lock), SigningBytes: hex.EncodeToString(sb), Signed: hex.EncodeToString(enc),
	}, sv, client
}

// A voucher made in Go is accepted by Rust's check, fresh and as committed in
// testdata/vectors/voucher_go.json (which the Rust tests read too). go-crypto signs with a
// random nonce, so only the unsigned part is compared; OZKCP_BLESS=1 rewrites the file.
func TestGoVoucherAcceptedByRust(t *testing.T) {
	vec, sv, client := goVoucher(t)
	lock := unhex(t, vec.Lock)
	expect := VoucherExpectation{Channel: sv.ChannelAddr, Lane: 3, Client: client, Owed: big.NewInt(123456789), Lock: lock}
	must(t, CheckVoucher(sv, expect))
	if os.Getenv("OZKCP_BLESS") != "" {
		raw, err := json.MarshalIndent(vec, "", "  ")
		must(t, err)
		must(t, os.WriteFile(vectorPath("voucher_go.json"), append(raw, '\n'), 0o644))
	}
	raw, err := os.ReadFile(vectorPath("voucher_go.json"))
	must(t, err)
	var committed voucherVector
	must(t, json.Unmarshal(raw, &committed))
	if committed.SigningBytes != vec.SigningBytes || committed.ClientBytes != vec.ClientBytes {
		t.Fatal("testdata/vectors/voucher_go.json is stale: rerun with OZKCP_BLESS=1")
	}
	cv, err := DecodeVoucher(unhex(t, committed.Signed))
	must(t, err)
	must(t, CheckVoucher(cv, expect))
}
