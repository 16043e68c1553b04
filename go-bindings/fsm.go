package ozkcp

/*
#include "ozkcp.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
)

// Event is an FSM event: Name is the event's name (e.g. "DealAccepted"); the other fields are
// set for the events that carry them.
type Event struct {
	Name      string  `json:"event"`
	Intervals *uint32 `json:"intervals,omitempty"`
	Reason    *string `json:"reason,omitempty"`
	Index     *uint64 `json:"index,omitempty"`
}

// Ev is an event without data.
func Ev(name string) Event { return Event{Name: name} }

// EvIntervals is an event carrying a number of intervals (DealAccepted).
func EvIntervals(name string, n uint32) Event { return Event{Name: name, Intervals: &n} }

// EvReason is an event carrying a reason (DealRejected, ProofsInvalid, Error, …).
func EvReason(name, reason string) Event { return Event{Name: name, Reason: &reason} }

// EvIndex is an event carrying a chunk index (BadChunk).
func EvIndex(name string, index uint64) Event { return Event{Name: name, Index: &index} }

// Action is something the host must do after a step.
type Action struct {
	Name     string `json:"action"`
	Interval uint32 `json:"interval"`
}

// Counters are a machine's counters (client: received/verified/paid/opened; provider:
// sent/paid).
type Counters struct {
	DealID    uint64 `json:"deal_id"`
	Intervals uint32 `json:"intervals"`
	Received  uint32 `json:"received"`
	Verified  uint32 `json:"verified"`
	Sent      uint32 `json:"sent"`
	Paid      uint32 `json:"paid"`
	Opened    uint32 `json:"opened"`
	Message   string `json:"message"`
}

// Report is the outcome of a step: the new status (DealStatus<Status>), the counters and the
// actions for the host, in order.
type Report struct {
	Status   string   `json:"status"`
	Terminal bool     `json:"terminal"`
	State    Counters `json:"state"`
	Actions  []Action `json:"actions"`
}

func report(state, js []byte, err error) ([]byte, *Report, error) {
	if err != nil {
		return nil, nil, err
	}
	var r Report
	if err := json.Unmarshal(js, &r); err != nil {
		return nil, nil, fmt.Errorf("ozkcp: fsm report: %w", err)
	}
	return state, &r, nil
}

// ClientFsmNew starts a client deal: its state (CBOR, persist it) and first report.
func ClientFsmNew(dealID uint64, mode ProofMode) ([]byte, *Report, error) {
	return report(pair(C.ozkcp_client_fsm_new(C.uint64_t(dealID), C.uint8_t(mode))))
}

// ClientFsmStep applies an event to a client state (CBOR). A transition the table does not
// have is ErrRejected; the old state stays valid.
func ClientFsmStep(state []byte, e Event) ([]byte, *Report, error) {
	return fsmStep(state, e, true)
}

// ProviderFsmNew starts a provider deal for a retrieval order.
func ProviderFsmNew(dealID uint64, mode ProofMode) ([]byte, *Report, error) {
	return report(pair(C.ozkcp_provider_fsm_new(C.uint64_t(dealID), C.uint8_t(mode))))
}

// ProviderFsmStep applies an event to a provider state (CBOR).
func ProviderFsmStep(state []byte, e Event) ([]byte, *Report, error) {
	return fsmStep(state, e, false)
}

func fsmStep(state []byte, e Event, client bool) ([]byte, *Report, error) {
	ev, err := json.Marshal(e)
	if err != nil {
		return nil, nil, err
	}
	return FsmStepRaw(state, ev, client)
}

// FsmStepRaw is a step with the event as raw JSON (for hosts that build events themselves).
func FsmStepRaw(state, event []byte, client bool) ([]byte, *Report, error) {
	sp, sn := in(state)
	ep, en := in(event)
	if client {
		return report(pair(C.ozkcp_client_fsm_step(sp, sn, ep, en)))
	}
	return report(pair(C.ozkcp_provider_fsm_step(sp, sn, ep, en)))
}
