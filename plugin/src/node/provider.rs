//! The provider's node: accepts a proposal for a payload it holds, encrypts and states each
//! interval (proving it in `zk` mode), streams one interval ahead, reveals a key only for a
//! voucher that checks out, and redeems the best voucher at the end.

use std::collections::BTreeMap;

use ozkcp_core::deal::{DealProposal, DealTerms, Manifest, SignedDealTerms};
use ozkcp_core::encoding::from_cbor;
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::sig::SecpSigner;
use ozkcp_core::statement::ciphertext_digest;
use ozkcp_core::voucher::SignedVoucher;

use super::{message_deal, message_name, Ctx, Judge, NodeError, ProviderFault};
use crate::fsm::provider::{ProviderAction, ProviderEvent, ProviderState, ProviderStatus};
use crate::messages::{Message, Notice};
use crate::payload::PayloadSource;
use crate::provider::ProviderDeal;
use crate::IntervalBundle;

/// What a provider node serves with.
#[derive(Clone)]
pub struct ProviderSetup {
    /// The provider's key (signs terms, roots and reveals).
    pub key: SecpSigner,
    /// The payload it offers (blocks are read as intervals need them).
    pub payload: std::sync::Arc<dyn PayloadSource>,
    /// Leaf blocks per payment interval (the root has its own interval).
    pub blocks_per_interval: u32,
    /// The prover of the circuit it serves `zk` deals with.
    pub prover: Option<std::sync::Arc<crate::zk::ZkProver>>,
    /// A fault to inject (tests and demos).
    pub fault: ProviderFault,
}

/// One provider deal.
pub struct ProviderNode {
    key: SecpSigner,
    state: ProviderState,
    deal: Option<ProviderDeal>,
    payload: std::sync::Arc<dyn PayloadSource>,
    bundles: BTreeMap<u32, IntervalBundle>,
    voucher: Option<SignedVoucher>,
    /// Every voucher accepted, by interval (a resumed client sends some again); the last is
    /// the best, the one redeemed.
    accepted: BTreeMap<u32, SignedVoucher>,
    /// The interval whose voucher was redeemed.
    redeemed: Option<u32>,
    keys_revealed: u32,
    fault: ProviderFault,
    blocks_per_interval: u32,
    prover: Option<std::sync::Arc<crate::zk::ZkProver>>,
}

impl ProviderNode {
    /// A node for deal `deal_id` (the client's id) in `mode`, waiting for the proposal.
    pub fn new(deal_id: u64, mode: ozkcp_core::deal::ProofMode, setup: ProviderSetup) -> Self {
        ProviderNode {
            key: setup.key,
            state: ProviderState::new(deal_id, mode),
            deal: None,
            payload: setup.payload,
            bundles: BTreeMap::new(),
            voucher: None,
            accepted: BTreeMap::new(),
            redeemed: None,
            keys_revealed: 0,
            fault: setup.fault,
            blocks_per_interval: setup.blocks_per_interval,
            prover: setup.prover,
        }
    }

    /// The machine.
    pub fn state(&self) -> &ProviderState {
        &self.state
    }

    /// Replaces the machine with a restored copy of itself (after a restart).
    pub fn restore(&mut self, state: ProviderState) {
        self.state = state;
    }

    /// After a restart: the deal rebuilt from the terms and last key the journal kept
    /// ([`Journal::provider_deal`]) and the vouchers accepted before (by interval).
    pub fn restore_deal(
        &mut self,
        terms: DealTerms,
        last_key: IntervalKey,
        accepted: Vec<(u32, SignedVoucher)>,
    ) -> Result<(), NodeError> {
        let n = terms.manifest.interval_ends.len();
        let keys = ozkcp_core::keys::KeyChain::from_last(last_key, n);
        let mut deal = ProviderDeal::with_keys(terms, self.key.clone(), keys)
            .map(|d| self.with_prover(d))
            .map_err(|e| NodeError::Unexpected {
                message: "restore",
                state: format!("DealStatus{:?}", self.state.status),
                reason: e.to_string(),
            })?;
        self.accepted = accepted.into_iter().collect();
        deal.set_last_nonce(self.accepted.values().next_back().map(|v| v.nonce));
        self.deal = Some(deal);
        Ok(())
    }

    /// The deal, once accepted.
    pub fn deal(&self) -> Option<&ProviderDeal> {
        self.deal.as_ref()
    }

    /// Correct keys revealed so far.
    pub fn keys_revealed(&self) -> u32 {
        self.keys_revealed
    }

    /// The best voucher accepted so far, with its interval (what [`Judge::redeem`] cashes).
    pub fn best_voucher(&self) -> Option<(u32, &SignedVoucher)> {
        self.accepted.iter().next_back().map(|(j, v)| (*j, v))
    }

    /// `d` with the prover of our circuit, if we serve `zk` deals.
    fn with_prover(&self, d: ProviderDeal) -> ProviderDeal {
        match &self.prover {
            Some(p) => d.with_prover(p.clone()),
            None => d,
        }
    }

    /// Decodes a frame from the client and handles it.
    pub fn receive<J: Judge + ?Sized>(
        &mut self,
        frame: &[u8],
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        let msg = from_cbor::<Message>(frame).map_err(|e| NodeError::Decode(e.to_string()))?;
        self.handle(msg, ctx)
    }

    /// Handles a message from the client.
    pub fn handle<J: Judge + ?Sized>(
        &mut self,
        msg: Message,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        let name = message_name(&msg);
        if message_deal(&msg) != self.state.deal_id {
            return Err(NodeError::WrongDeal {
                expected: self.state.deal_id,
                got: message_deal(&msg),
            });
        }
        let refuse = |state: &ProviderState, reason: &str| NodeError::Unexpected {
            message: name,
            state: format!("DealStatus{:?}", state.status),
            reason: reason.into(),
        };
        let e = match msg {
            Message::Proposal(proposal) => {
                if self.state.status != ProviderStatus::New {
                    return Err(refuse(&self.state, "the deal was proposed already"));
                }
                let e = self.accept(proposal);
                if let (ProviderEvent::DealAccepted { .. }, Some(d)) = (&e, &self.deal) {
                    // Terms and keys are on record before the terms go out.
                    ctx.journal
                        .provider_deal(d.terms(), d.last_key())
                        .map_err(NodeError::Journal)?;
                }
                e
            }
            Message::Resume(r) => {
                let Some(d) = &self.deal else {
                    return Err(refuse(&self.state, "no deal to resume"));
                };
                let digest = d
                    .terms()
                    .digest()
                    .map_err(|e| NodeError::Decode(e.to_string()))?;
                if r.resume.terms != digest || !r.verify(&d.terms().proposal.client) {
                    return Err(refuse(&self.state, "not signed by the deal's client"));
                }
                // Only what was paid for may be asked again; later intervals come in order.
                // (Vouchers are journaled before their keys leave; the machine's own count may
                // lag them after a crash.)
                let paid = self
                    .accepted
                    .keys()
                    .next_back()
                    .map_or(0, |j| j + 1)
                    .max(self.state.paid);
                if r.resume.from > paid || r.resume.from >= self.state.intervals {
                    return Err(refuse(
                        &self.state,
                        "resumes past the first unpaid interval",
                    ));
                }
                self.bundles.clear();
                self.voucher = None;
                ProviderEvent::Resumed {
                    from: r.resume.from,
                }
            }
            Message::StartTransfer(_) => match (&self.deal, self.state.status) {
                // The client's funds are locked: lock our collateral before any data leaves.
                (Some(d), ProviderStatus::Unsealed) => match ctx.judge.accept(d.terms()) {
                    Ok(()) => ProviderEvent::TransferStarted,
                    Err(reason) => ProviderEvent::Error {
                        reason: format!("locking collateral: {reason}"),
                    },
                },
                _ => ProviderEvent::TransferStarted,
            },
            Message::Voucher(v) if v.interval == self.state.current() => {
                self.voucher = Some(v.voucher);
                ProviderEvent::VoucherReceived
            }
            Message::Voucher(_) => return Err(refuse(&self.state, "not the interval due")),
            Message::Abort(_) => ProviderEvent::ClientCancelled,
            _ => return Err(refuse(&self.state, "a client never sends it")),
        };
        self.step(e, ctx)
    }

    /// Applies an outside event (`PaymentTimeout`, `Error`, …) and runs its actions.
    pub fn event<J: Judge + ?Sized>(
        &mut self,
        e: ProviderEvent,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        self.step(e, ctx)
    }

    fn step<J: Judge + ?Sized>(
        &mut self,
        e: ProviderEvent,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        let (state, actions) = self
            .state
            .step(e.clone())
            .map_err(|err| NodeError::Unexpected {
                message: "event",
                state: format!("DealStatus{:?}", self.state.status),
                reason: err.to_string(),
            })?;
        if state != self.state || !actions.is_empty() {
            ctx.journal
                .provider_step(&e, &state, &actions)
                .map_err(NodeError::Journal)?;
        }
        self.state = state;
        self.act(actions, ctx)
    }

    fn then<J: Judge + ?Sized>(
        &mut self,
        e: ProviderEvent,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        match self.step(e, ctx) {
            Err(NodeError::Unexpected { .. }) => Ok(()),
            other => other,
        }
    }

    fn accept(&mut self, proposal: DealProposal) -> ProviderEvent {
        if proposal.provider != self.key.address() || proposal.payload_root != self.payload.root() {
            return ProviderEvent::DealRejected {
                reason: "not my payload or not me".into(),
            };
        }
        let refs = self.payload.refs();
        let leaves = refs.len().saturating_sub(1) as u32;
        let mut ends = vec![1];
        let mut end = 1;
        while end < leaves + 1 {
            end = (end + self.blocks_per_interval.max(1)).min(leaves + 1);
            ends.push(end);
        }
        let terms = DealTerms {
            proposal,
            manifest: Manifest {
                blocks: refs,
                interval_ends: ends,
            },
        };
        let deal = ProviderDeal::new(terms, self.key.clone()).map(|d| self.with_prover(d));
        match deal {
            Ok(deal) => {
                let intervals = deal.layout().intervals.len() as u32;
                self.deal = Some(deal);
                ProviderEvent::DealAccepted { intervals }
            }
            Err(e) => ProviderEvent::DealRejected {
                reason: e.to_string(),
            },
        }
    }

    fn act<J: Judge + ?Sized>(
        &mut self,
        actions: Vec<ProviderAction>,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        for a in actions {
            let next = match a {
                ProviderAction::SendAcceptance => {
                    let d = self.deal.as_ref().expect("accepted");
                    let terms = d.terms().clone();
                    let signature = self.key.sign(&terms.signing_bytes().expect("terms encode"));
                    ctx.send(&Message::Accept(SignedDealTerms { terms, signature }));
                    None
                }
                ProviderAction::SendRejection => {
                    ctx.send(&Message::Reject(Notice {
                        deal_id: self.state.deal_id,
                        reason: self.state.message.clone(),
                    }));
                    None
                }
                ProviderAction::Unseal => Some(ProviderEvent::Unsealed),
                ProviderAction::EncryptInterval { interval } => match self.encrypt(interval) {
                    Ok(()) => Some(ProviderEvent::Encrypted),
                    Err(reason) => Some(ProviderEvent::Error { reason }),
                },
                // Fraud mode: the signed commitment is the proof (zk proofs are made with the
                // encryption).
                ProviderAction::GenerateProofs { .. } => Some(ProviderEvent::ProofsGenerated),
                ProviderAction::SendInterval { interval } => {
                    self.send_interval(interval, ctx);
                    None
                }
                ProviderAction::PrefetchInterval { interval } => match self.encrypt(interval) {
                    Ok(()) => {
                        self.send_interval(interval, ctx);
                        Some(ProviderEvent::Prefetched)
                    }
                    Err(reason) => Some(ProviderEvent::Error { reason }),
                },
                ProviderAction::CheckVoucher { interval } => self.check_voucher(interval, ctx)?,
                ProviderAction::SendAbort => {
                    ctx.send(&Message::Abort(Notice {
                        deal_id: self.state.deal_id,
                        reason: self.state.message.clone(),
                    }));
                    None
                }
                ProviderAction::RedeemVoucher => {
                    let best = self.accepted.iter().next_back();
                    if let (Some((&j, v)), Some(d)) = (best, &self.deal) {
                        // A deal completed again after a resume has nothing new to redeem.
                        if self.redeemed != Some(j) {
                            if let Ok(k) = d.paid_key(j) {
                                let _ = ctx.judge.redeem(d.terms(), j, v, &k);
                            }
                            self.redeemed = Some(j);
                        }
                    }
                    None
                }
            };
            if let Some(e) = next {
                self.then(e, ctx)?;
            }
        }
        Ok(())
    }

    /// Reads, encrypts and states interval `j`; an error if its blocks cannot be read or are
    /// not what the manifest says (the payload changed under us).
    fn encrypt(&mut self, j: u32) -> Result<(), String> {
        let d = self.deal.as_ref().expect("accepted");
        let place = &d.layout().intervals[j as usize];
        let read = (place.first_block as usize..place.end_block as usize)
            .map(|i| self.payload.block(i))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| format!("reading interval {j}: {e}"))?;
        let blocks: Vec<&[u8]> = read.iter().map(|b| b.as_ref()).collect();
        let mut bundle = d
            .encrypt_interval(j, &blocks)
            .map_err(|e| format!("encrypting interval {j}: {e}"))?;
        match self.fault {
            ProviderFault::BadChunk(i) if i == j => {
                let c = &mut bundle.chunks[0];
                c.ciphertext[0] ^= 1;
                c.statement.ct_digest = ciphertext_digest(&c.ciphertext);
                bundle.commitment = d.commit(j, &bundle.chunks).expect("commits");
            }
            ProviderFault::BrokenChain(i) if i == j => {
                if let Some(c) = bundle.chunks.iter_mut().find(|c| c.statement.offset > 0) {
                    c.statement.h_in.0[0] ^= 1;
                }
                bundle.commitment = d.commit(j, &bundle.chunks).expect("commits");
            }
            ProviderFault::InvalidProof(i) if i == j && bundle.chunks.len() > 1 => {
                // Chunk 0 carries chunk 1's (valid, but not its) proof, consistently stated.
                let other = bundle.chunks[1].proof.clone();
                let c = &mut bundle.chunks[0];
                c.statement.proof_digest = other
                    .as_ref()
                    .map(|p| ozkcp_core::evidence::proof_digest(p));
                c.proof = other;
                bundle.commitment = d.commit(j, &bundle.chunks).expect("commits");
            }
            _ => {}
        }
        self.bundles.insert(j, bundle);
        Ok(())
    }

    fn send_interval<J: Judge + ?Sized>(&mut self, j: u32, ctx: &mut Ctx<'_, J>) {
        // Sent once: the bundle is not needed afterwards.
        let Some(bundle) = self.bundles.remove(&j) else {
            return;
        };
        for chunk in bundle.chunks {
            ctx.send(&Message::Chunk(chunk));
        }
        ctx.send(&Message::IntervalEnd(bundle.commitment));
    }

    fn check_voucher<J: Judge + ?Sized>(
        &mut self,
        j: u32,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<Option<ProviderEvent>, NodeError> {
        let d = self.deal.as_mut().expect("accepted");
        let Some(v) = self.voucher.take() else {
            return Ok(None);
        };
        let accepted = if j + 1 == self.state.intervals {
            ProviderEvent::LastVoucherAccepted
        } else {
            ProviderEvent::VoucherAccepted
        };
        if let Some(prev) = self.accepted.get(&j) {
            // Paid before a resume: the same voucher gets the same key again; any other is
            // refused (a voucher per interval, once).
            if *prev != v {
                return Ok(Some(ProviderEvent::WrongVoucher {
                    reason: format!("interval {j} was paid with another voucher"),
                }));
            }
            let key = d
                .paid_key(j)
                .map_err(|e| NodeError::Journal(e.to_string()))?;
            ctx.send(&Message::Key(d.sign_reveal(j, key).expect("signs")));
            return Ok(Some(accepted));
        }
        Ok(Some(match d.reveal_key(j, &v, ctx.judge.funds()) {
            Ok(key) => {
                if self.fault == ProviderFault::NeverReveal(j) {
                    return Ok(None);
                }
                // The voucher is on record before its key leaves.
                ctx.journal
                    .voucher_accepted(j, &v)
                    .map_err(NodeError::Journal)?;
                let sent = if self.fault == ProviderFault::WrongKey(j) {
                    IntervalKey::from_bytes([0x42; 32])
                } else {
                    self.keys_revealed += 1;
                    key.clone()
                };
                let reveal = d.sign_reveal(j, sent).expect("signs");
                ctx.send(&Message::Key(reveal));
                self.accepted.insert(j, v);
                accepted
            }
            Err(e) => ProviderEvent::WrongVoucher {
                reason: e.to_string(),
            },
        }))
    }
}
