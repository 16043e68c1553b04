package ozkcp

import (
	"bytes"
	"crypto/sha256"
	"testing"

	cbg "github.com/whyrusleeping/cbor-gen"
)

// Test-only access to an IntervalBundle's CBOR (the tuple [commitment, [[statement,
// ciphertext, proof], ...]]): the fault-injection tests tamper with what a provider sends and
// build evidence from a bundle the client refused. Hosts pass bundles through as opaque bytes.

type testChunk struct {
	statement  []byte // CBOR tuple of the statement's 12 fields; the last is proof_digest
	ciphertext []byte
	proof      []byte // nil in fraud mode
}

type testBundle struct {
	commitment []byte
	chunks     []testChunk
}

var cborNull = []byte{0xf6}

func readArray(t *testing.T, r *bytes.Reader, want uint64) uint64 {
	t.Helper()
	maj, n, err := cbg.CborReadHeader(r)
	must(t, err)
	if maj != cbg.MajArray || (want > 0 && n != want) {
		t.Fatalf("CBOR: want an array of %d, got major %d length %d", want, maj, n)
	}
	return n
}

func readRaw(t *testing.T, r *bytes.Reader) []byte {
	t.Helper()
	var d cbg.Deferred
	must(t, d.UnmarshalCBOR(r))
	return d.Raw
}

func readBytes(t *testing.T, raw []byte) []byte {
	t.Helper()
	if bytes.Equal(raw, cborNull) {
		return nil
	}
	b, err := cbg.ReadByteArray(bytes.NewReader(raw), 1<<30)
	must(t, err)
	return b
}

func encodeBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	if b == nil {
		return cborNull
	}
	var w bytes.Buffer
	must(t, cbg.WriteByteArray(&w, b))
	return w.Bytes()
}

func arrayOf(t *testing.T, items ...[]byte) []byte {
	t.Helper()
	var w bytes.Buffer
	must(t, cbg.CborWriteHeader(&w, cbg.MajArray, uint64(len(items))))
	for _, it := range items {
		w.Write(it)
	}
	return w.Bytes()
}

func decodeBundle(t *testing.T, b []byte) *testBundle {
	t.Helper()
	r := bytes.NewReader(b)
	readArray(t, r, 2)
	out := &testBundle{commitment: readRaw(t, r)}
	for i, n := uint64(0), readArray(t, r, 0); i < n; i++ {
		readArray(t, r, 3)
		out.chunks = append(out.chunks, testChunk{
			statement:  readRaw(t, r),
			ciphertext: readBytes(t, readRaw(t, r)),
			proof:      readBytes(t, readRaw(t, r)),
		})
	}
	if r.Len() != 0 {
		t.Fatal("CBOR: trailing bytes after the bundle")
	}
	return out
}

func (b *testBundle) encode(t *testing.T) []byte {
	t.Helper()
	chunks := make([][]byte, len(b.chunks))
	for i, c := range b.chunks {
		chunks[i] = arrayOf(t, c.statement, encodeBytes(t, c.ciphertext), encodeBytes(t, c.proof))
	}
	return arrayOf(t, b.commitment, arrayOf(t, chunks...))
}

// statementFields splits a statement's CBOR into its 12 fields.
func statementFields(t *testing.T, s []byte) [][]byte {
	t.Helper()
	r := bytes.NewReader(s)
	n := readArray(t, r, 12)
	fields := make([][]byte, n)
	for i := range fields {
		fields[i] = readRaw(t, r)
	}
	return fields
}

// statementIndex reads a statement's chunk index (field 1).
func statementIndex(t *testing.T, s []byte) uint64 {
	t.Helper()
	maj, v, err := cbg.CborReadHeader(bytes.NewReader(statementFields(t, s)[1]))
	must(t, err)
	if maj != cbg.MajUnsignedInt {
		t.Fatal("CBOR: statement index is not an unsigned integer")
	}
	return v
}

// giveProof makes chunk i carry proof, stated consistently (proof_digest = SHA-256(proof)).
func (b *testBundle) giveProof(t *testing.T, i int, proof []byte) {
	t.Helper()
	fields := statementFields(t, b.chunks[i].statement)
	d := sha256.Sum256(proof)
	fields[11] = encodeBytes(t, d[:])
	b.chunks[i].statement = arrayOf(t, fields...)
	b.chunks[i].proof = proof
}

// signedStatement is chunk i's SignedStatement CBOR: [statement, Merkle path, commitment].
func (b *testBundle) signedStatement(t *testing.T, i int) []byte {
	t.Helper()
	leaves := make([][]byte, len(b.chunks))
	for k, c := range b.chunks {
		var err error
		leaves[k], err = StatementLeaf(c.statement)
		must(t, err)
	}
	path, err := MerkleProof(leaves, uint32(i))
	must(t, err)
	return arrayOf(t, b.chunks[i].statement, path, b.commitment)
}
