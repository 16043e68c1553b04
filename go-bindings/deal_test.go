package ozkcp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin/v16/paych"
)

// An in-process deal driven from Go through the FSM step functions, mirroring
// plugin/src/driver.rs at a small scale: two hosts perform the actions each step returns and
// exchange messages over queues. Fraud mode by default; zk mode with parameters (zk_deal_test.go).

type fault int

const (
	honest fault = iota
	providerWrongKey
	clientForgedVoucher
	providerInvalidProof // interval 1's first chunk carries its neighbour's proof
)

// dealSetup is what differs between fraud and zk deals.
type dealSetup struct {
	mode   ProofMode
	params *Params // zk mode: the circuit's parameters (with the proving key)
	leaf   uint64  // payload leaf size
}

type msg struct {
	kind    string
	body    []byte
	j       uint32
	voucher *paych.SignedVoucher
	reason  string
	terms   []byte     // accept: the terms' CBOR beside the signed terms
	propose *DealTerms // proposal
}

type net struct{ toClient, toProvider []msg }

type clientHost struct {
	t        *testing.T
	key      *Signer
	state    []byte
	rep      *Report
	deal     *ClientDeal
	proposal DealTerms
	terms    []byte // CBOR terms, once accepted
	provider address.Address
	pending  map[uint32][]byte
	reveal   []byte
	evidence []byte
	fault    *Fault
	data     []byte
	faulty   fault
	params   *Params
	refused  map[uint32][]byte // bundles that failed verification
}

type providerHost struct {
	t        *testing.T
	key      *Signer
	state    []byte
	rep      *Report
	deal     *ProviderDeal
	terms    []byte
	payload  *Payload
	data     []byte
	leaf     uint64
	bundles  map[uint32][]byte
	voucher  *paych.SignedVoucher
	revealed int
	redeemed bool
	faulty   fault
	setup    dealSetup
}

const leafSize = 256

func runDeal(t *testing.T, data []byte, f fault) (*clientHost, *providerHost) {
	t.Helper()
	return runDealWith(t, data, f, dealSetup{mode: ModeFraud, leaf: leafSize})
}

func runDealWith(t *testing.T, data []byte, f fault, setup dealSetup) (*clientHost, *providerHost) {
	t.Helper()
	ck, err := RandomSigner()
	must(t, err)
	pk, err := RandomSigner()
	must(t, err)
	payload, err := PayloadFromBytes(data, setup.leaf)
	must(t, err)
	caddr, err := ck.Address()
	must(t, err)
	paddr, err := pk.Address()
	must(t, err)
	judge, _ := address.NewIDAddress(1000)
	var circuit []byte
	if setup.mode == ModeZk {
		circuit, err = setup.params.CircuitID()
		must(t, err)
	}
	c := &clientHost{t: t, key: ck, provider: paddr, pending: map[uint32][]byte{}, faulty: f,
		params: setup.params, refused: map[uint32][]byte{},
		proposal: DealTerms{DealID: 1, Client: caddr, Provider: paddr, PayloadRoot: payload.Root,
			ChunkSize: 64, PricePerChunk: big.NewInt(10), Mode: setup.mode, CircuitID: circuit,
			Judge: judge, Lane: 1, Collateral: big.NewInt(1_000_000), KeyRevealDeadline: 1000,
			DisputeWindow: 100}}
	p := &providerHost{t: t, key: pk, payload: payload, data: data, leaf: setup.leaf,
		bundles: map[uint32][]byte{}, faulty: f, setup: setup}
	n := &net{}
	c.state, c.rep, err = ClientFsmNew(1, setup.mode)
	must(t, err)
	c.act(c.rep.Actions, n)
	for steps := 0; ; steps++ {
		if steps > 10000 {
			t.Fatal("deal does not terminate")
		}
		if len(n.toProvider) > 0 {
			m := n.toProvider[0]
			n.toProvider = n.toProvider[1:]
			p.receive(m, n)
		} else if len(n.toClient) > 0 {
			m := n.toClient[0]
			n.toClient = n.toClient[1:]
			c.receive(m, n)
		} else {
			break
		}
	}
	t.Cleanup(func() {
		for _, cl := range []interface{ Close() error }{ck, pk} {
			_ = cl.Close()
		}
		if c.deal != nil {
			_ = c.deal.Close()
		}
		if p.deal != nil {
			_ = p.deal.Close()
		}
	})
	return c, p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (c *clientHost) event(e Event, n *net) {
	state, rep, err := ClientFsmStep(c.state, e)
	if err != nil {
		// A message that makes no sense now is ignored; the state is unchanged.
		if !errors.Is(err, ErrRejected) {
			c.t.Fatalf("client step %s: %v", e.Name, err)
		}
		return
	}
	c.state, c.rep = state, rep
	c.act(rep.Actions, n)
}

func (c *clientHost) receive(m msg, n *net) {
	var e Event
	switch m.kind {
	case "accept":
		if err := VerifyTerms(m.body); err != nil {
			e = EvReason("Error", err.Error())
			break
		}
		deal, err := NewClientDeal(m.body, c.params)
		if err != nil {
			e = EvReason("Error", err.Error())
			break
		}
		c.deal = deal
		c.terms = m.terms
		l, err := Layout(c.terms)
		must(c.t, err)
		e = EvIntervals("DealAccepted", uint32(len(l.Intervals)))
	case "interval":
		c.pending[m.j] = m.body
		if m.j+1 == c.rep.State.Intervals {
			e = Ev("LastIntervalReceived")
		} else {
			e = Ev("IntervalReceived")
		}
	case "key":
		if _, err := OpenKeyReveal(m.body, c.provider); err != nil {
			return
		}
		c.reveal = m.body
		e = Ev("KeyReceived")
	case "abort":
		e = EvReason("ProviderAborted", m.reason)
	default:
		return
	}
	c.event(e, n)
}

func (c *clientHost) act(actions []Action, n *net) {
	for _, a := range actions {
		var next *Event
		ev := func(e Event) { next = &e }
		switch a.Name {
		case "SendProposal":
			n.toProvider = append(n.toProvider, msg{kind: "proposal", propose: &c.proposal})
			ev(Ev("ProposalSent"))
		case "LockFunds":
			c.event(Ev("FundsLockPushed"), n)
			ev(Ev("FundsLocked"))
		case "AllocateLane":
			ev(Ev("LaneAllocated"))
		case "SendStartTransfer":
			n.toProvider = append(n.toProvider, msg{kind: "start"})
		case "VerifyInterval":
			if err := c.deal.AcceptInterval(c.pending[a.Interval]); err != nil {
				c.refused[a.Interval] = c.pending[a.Interval]
				ev(EvReason("ProofsInvalid", err.Error()))
			} else {
				ev(Ev("ProofsVerified"))
			}
		case "SendVoucher":
			v, err := c.deal.VoucherFor(a.Interval, c.key)
			must(c.t, err)
			if c.faulty == clientForgedVoucher && a.Interval == 1 {
				other, err := RandomSigner()
				must(c.t, err)
				v, err = other.SignVoucher(v)
				must(c.t, err)
				_ = other.Close()
			}
			n.toProvider = append(n.toProvider, msg{kind: "voucher", j: a.Interval, voucher: v})
		case "OpenInterval":
			ev(c.open(a.Interval))
		case "SubmitDispute":
			c.event(Ev("DisputeSubmitted"), n)
			f, err := VerifyEvidence(c.terms, c.evidence, c.params)
			if err != nil {
				ev(Ev("DisputeLost"))
			} else {
				c.fault = f
				ev(Ev("DisputeWon"))
			}
		case "SendAbort":
			n.toProvider = append(n.toProvider, msg{kind: "abort", reason: c.rep.State.Message})
		case "RecoverFunds":
			if c.rep.Status == "Cancelling" {
				ev(Ev("CancelComplete"))
			} else {
				ev(Ev("FundsRecovered"))
			}
		case "DeliverData":
			blocks, err := c.deal.Blocks()
			must(c.t, err)
			c.data = bytes.Join(blocks[1:], nil)
		default:
			c.t.Fatalf("client: unknown action %q", a.Name)
		}
		if next != nil {
			c.event(*next, n)
		}
	}
}

func (c *clientHost) open(j uint32) Event {
	r, err := OpenKeyReveal(c.reveal, c.provider)
	if err != nil || r.Interval != j {
		return Ev("WrongKey")
	}
	_, err = c.deal.OpenInterval(j, r.Key)
	var bad *BadChunkError
	switch {
	case err == nil && j+1 == c.rep.State.Intervals:
		return Ev("AllChunksReceived")
	case err == nil:
		return Ev("KeyAccepted")
	case errors.Is(err, ErrWrongKey):
		cm, cerr := c.deal.Commitment(j)
		must(c.t, cerr)
		c.evidence, err = WrongKeyEvidence(cm, c.reveal)
		must(c.t, err)
		return Ev("WrongKey")
	case errors.As(err, &bad):
		return EvIndex("BadChunk", bad.Index)
	default:
		return EvReason("Error", err.Error())
	}
}

func (p *providerHost) event(e Event, n *net) {
	state, rep, err := ProviderFsmStep(p.state, e)
	if err != nil {
		if !errors.Is(err, ErrRejected) {
			p.t.Fatalf("provider step %s: %v", e.Name, err)
		}
		return
	}
	p.state, p.rep = state, rep
	p.act(rep.Actions, n)
}

func (p *providerHost) receive(m msg, n *net) {
	switch m.kind {
	case "proposal":
		p.accept(*m.propose, n)
	case "start":
		p.event(Ev("TransferStarted"), n)
	case "voucher":
		if m.j == p.rep.State.Paid {
			p.voucher = m.voucher
			p.event(Ev("VoucherReceived"), n)
		}
	case "abort":
		p.event(Ev("ClientCancelled"), n)
	}
}

func (p *providerHost) accept(proposal DealTerms, n *net) {
	var err error
	p.state, p.rep, err = ProviderFsmNew(1, p.setup.mode)
	must(p.t, err)
	leaves := uint32(len(p.payload.Blocks) - 1)
	ends := []uint32{1}
	for end := uint32(1); end < leaves+1; {
		end = min(end+2, leaves+1)
		ends = append(ends, end)
	}
	terms := proposal
	terms.Blocks = p.payload.Blocks
	terms.IntervalEnds = ends
	p.terms, err = terms.Encode()
	must(p.t, err)
	p.deal, err = NewProviderDeal(p.terms, p.key, p.setup.params, nil)
	must(p.t, err)
	l, err := Layout(p.terms)
	must(p.t, err)
	p.event(EvIntervals("DealAccepted", uint32(len(l.Intervals))), n)
}

func (p *providerHost) blocks(j uint32) [][]byte {
	l, err := Layout(p.terms)
	must(p.t, err)
	iv := l.Intervals[j]
	var out [][]byte
	for b := iv.FirstBlock; b < iv.EndBlock; b++ {
		if b == 0 {
			out = append(out, p.payload.RootBlock)
			continue
		}
		lo := uint64(b-1) * p.leaf
		hi := min(lo+p.leaf, uint64(len(p.data)))
		out = append(out, p.data[lo:hi])
	}
	return out
}

func (p *providerHost) act(actions []Action, n *net) {
	for _, a := range actions {
		var next *Event
		ev := func(e Event) { next = &e }
		switch a.Name {
		case "SendAcceptance":
			signed, err := p.key.SignTerms(p.terms)
			must(p.t, err)
			n.toClient = append(n.toClient, msg{kind: "accept", body: signed, terms: p.terms})
		case "SendRejection", "SendAbort":
			n.toClient = append(n.toClient, msg{kind: "abort", reason: p.rep.State.Message})
		case "Unseal":
			ev(Ev("Unsealed"))
		case "EncryptInterval":
			p.encrypt(a.Interval)
			ev(Ev("Encrypted"))
		case "GenerateProofs":
			ev(Ev("ProofsGenerated"))
		case "SendInterval":
			n.toClient = append(n.toClient, msg{kind: "interval", j: a.Interval, body: p.bundles[a.Interval]})
		case "PrefetchInterval":
			p.encrypt(a.Interval)
			n.toClient = append(n.toClient, msg{kind: "interval", j: a.Interval, body: p.bundles[a.Interval]})
			ev(Ev("Prefetched"))
		case "CheckVoucher":
			ev(p.check(a.Interval, n))
		case "RedeemVoucher":
			p.redeemed = true
		default:
			p.t.Fatalf("provider: unknown action %q", a.Name)
		}
		if next != nil {
			p.event(*next, n)
		}
	}
}

func (p *providerHost) encrypt(j uint32) {
	b, err := p.deal.EncryptInterval(j, p.blocks(j))
	must(p.t, err)
	if p.faulty == providerInvalidProof && j == 1 {
		// A valid proof, but of another chunk, stated as this chunk's and signed.
		bundle := decodeBundle(p.t, b)
		bundle.giveProof(p.t, 0, bundle.chunks[1].proof)
		b, err = p.deal.Commit(j, bundle.encode(p.t))
		must(p.t, err)
	}
	p.bundles[j] = b
}

func (p *providerHost) check(j uint32, n *net) Event {
	funds := big.NewInt(1 << 40)
	key, err := p.deal.RevealKey(j, p.voucher, &funds)
	if err != nil {
		return EvReason("WrongVoucher", err.Error())
	}
	if p.faulty == providerWrongKey && j == 1 {
		key = bytes.Repeat([]byte{0x42}, 32)
	} else {
		p.revealed++
	}
	reveal, err := p.deal.SignReveal(j, key)
	must(p.t, err)
	n.toClient = append(n.toClient, msg{kind: "key", body: reveal})
	if j+1 == p.rep.State.Intervals {
		return Ev("LastVoucherAccepted")
	}
	return Ev("VoucherAccepted")
}

func testData(n int) []byte {
	d := make([]byte, n)
	for i := range d {
		d[i] = byte(i*31 + 7)
	}
	return d
}

func TestFraudDealHonest(t *testing.T) {
	data := testData(1000)
	c, p := runDeal(t, data, honest)
	if c.rep.Status != "Completed" || p.rep.Status != "Completed" {
		t.Fatalf("client %s (%s), provider %s (%s)", c.rep.Status, c.rep.State.Message, p.rep.Status, p.rep.State.Message)
	}
	if !bytes.Equal(c.data, data) {
		t.Fatal("client did not get the payload")
	}
	if ok, err := c.deal.IsComplete(); err != nil || !ok {
		t.Fatalf("complete: %v %v", ok, err)
	}
	if !p.redeemed || p.revealed != int(p.rep.State.Intervals) {
		t.Fatalf("provider redeemed %v, revealed %d of %d", p.redeemed, p.revealed, p.rep.State.Intervals)
	}
}

func TestFraudDealWrongKeyIsProven(t *testing.T) {
	c, p := runDeal(t, testData(1000), providerWrongKey)
	if c.rep.Status != "Completed" || c.fault == nil || c.fault.Kind != EvidenceWrongKey || c.fault.Interval != 1 {
		t.Fatalf("client %s, fault %+v", c.rep.Status, c.fault)
	}
	if c.data != nil {
		t.Fatal("data delivered despite the wrong key")
	}
	_ = p
}

func TestFraudDealForgedVoucherRevealsNothing(t *testing.T) {
	c, p := runDeal(t, testData(1000), clientForgedVoucher)
	if p.revealed != 1 || p.rep.Status == "Completed" && p.rep.State.Paid > 1 {
		t.Fatalf("provider revealed %d keys, status %s", p.revealed, p.rep.Status)
	}
	if c.rep.Status == "Completed" {
		t.Fatalf("client completed with a forged voucher")
	}
}
