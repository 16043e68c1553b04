//! The client's node: proposes, locks funds, verifies each interval, pays with hash-locked
//! vouchers, opens intervals with the revealed keys, and disputes with the judge on a fault.

use ozkcp_core::deal::ProofMode;
use std::collections::BTreeMap;

use ozkcp_core::deal::{DealProposal, SignedDealTerms};
use ozkcp_core::encoding::from_cbor;
use ozkcp_core::evidence::{Evidence, Fault, SignedKeyReveal};
use ozkcp_core::merkle::MerkleTree;
use ozkcp_core::sig::{Secp256k1, SecpSigner};
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_core::TokenAmount;

use super::{message_deal, message_name, ClientFault, Ctx, Judge, NodeError};
use crate::client::{ClientDeal, ClientError};
use crate::fsm::client::{ClientAction, ClientEvent, ClientState, ClientStatus};
use crate::messages::{Message, Notice, Resume, VoucherMsg};
use crate::{EncryptedChunk, IntervalBundle};

/// What a client node starts from.
#[derive(Clone)]
pub struct ClientSetup {
    /// The client's key (signs vouchers).
    pub key: SecpSigner,
    /// The deal it proposes (its `deal_id` is the node's).
    pub proposal: DealProposal,
    /// The verifier of the deal's circuit (`zk` mode).
    pub verifier: Option<crate::zk::ZkVerifier>,
    /// A fault to inject (tests and demos).
    pub fault: ClientFault,
}

/// One client deal.
pub struct ClientNode {
    key: SecpSigner,
    state: ClientState,
    deal: Option<ClientDeal>,
    proposal: DealProposal,
    buffered: BTreeMap<u32, Vec<EncryptedChunk>>,
    pending: BTreeMap<u32, IntervalBundle>,
    last_voucher: Option<SignedVoucher>,
    reveal: Option<SignedKeyReveal>,
    evidence: Option<Evidence>,
    opened: Vec<(u32, Vec<u8>)>,
    delivered: bool,
    fault: ClientFault,
    awaiting_deadline: bool,
    verifier: Option<crate::zk::ZkVerifier>,
    found: Option<Fault>,
}

impl ClientNode {
    /// A new deal in `DealStatusNew`; [`start`](Self::start) sends the proposal.
    pub fn new(setup: ClientSetup) -> Self {
        let mode = setup.proposal.mode;
        let (state, _) = ClientState::new(setup.proposal.deal_id, mode);
        ClientNode {
            key: setup.key,
            state,
            deal: None,
            proposal: setup.proposal,
            buffered: BTreeMap::new(),
            pending: BTreeMap::new(),
            last_voucher: None,
            reveal: None,
            evidence: None,
            opened: Vec::new(),
            delivered: false,
            fault: setup.fault,
            awaiting_deadline: false,
            verifier: setup.verifier,
            found: None,
        }
    }

    /// Runs the new deal's first actions (the seed's `ClientRetrieve`: send the proposal).
    pub fn start<J: Judge + ?Sized>(&mut self, ctx: &mut Ctx<'_, J>) -> Result<(), NodeError> {
        let (_, first) = ClientState::new(self.state.deal_id, self.state.mode);
        self.act(first, ctx)
    }

    /// The machine.
    pub fn state(&self) -> &ClientState {
        &self.state
    }

    /// Replaces the machine with a restored copy of itself (after a restart).
    pub fn restore(&mut self, state: ClientState) {
        self.state = state;
    }

    /// The deal, once the provider accepted.
    pub fn deal(&self) -> Option<&ClientDeal> {
        self.deal.as_ref()
    }

    /// Takes the leaf blocks opened (decrypted and checked against their CIDs) since the last
    /// call, as `(manifest position, bytes)` in order: a host that writes them out as they come
    /// keeps memory to an interval or two. Once [`delivered`](Self::delivered), every block
    /// has been handed out.
    pub fn take_opened(&mut self) -> Vec<(u32, Vec<u8>)> {
        std::mem::take(&mut self.opened)
    }

    /// Whether the deal delivered its payload: every block opened (the seed's `DeliverData`).
    pub fn delivered(&self) -> bool {
        self.delivered
    }

    /// The whole verified payload once delivered, for hosts that do not stream with
    /// [`take_opened`](Self::take_opened) (what they took is not in it).
    pub fn take_data(&mut self) -> Option<Vec<u8>> {
        if !self.delivered {
            return None;
        }
        let blocks: Vec<Vec<u8>> = self.take_opened().into_iter().map(|(_, b)| b).collect();
        Some(blocks.concat())
    }

    /// The fault the judge found, if a dispute was won.
    pub fn fault_found(&self) -> Option<&Fault> {
        self.found.as_ref()
    }

    /// Whether the node waits for the deal's deadlines to pass before it recovers funds.
    pub fn awaiting_deadline(&self) -> bool {
        self.awaiting_deadline
    }

    /// The deadlines passed: the judge settles and unspent funds come back.
    pub fn deadline_passed<J: Judge + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        self.awaiting_deadline = false;
        if let Some(d) = &self.deal {
            ctx.judge.settle(&d.terms().terms);
        }
        let e = if self.state.status == ClientStatus::Cancelling {
            ClientEvent::CancelComplete
        } else {
            ClientEvent::FundsRecovered
        };
        self.event(e, ctx)
    }

    /// Decodes a frame from the provider and handles it.
    pub fn receive<J: Judge + ?Sized>(
        &mut self,
        frame: &[u8],
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        let msg = from_cbor::<Message>(frame).map_err(|e| NodeError::Decode(e.to_string()))?;
        self.handle(msg, ctx)
    }

    /// Handles a message from the provider.
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
        let refuse = |state: &ClientState, reason: &str| NodeError::Unexpected {
            message: name,
            state: format!("DealStatus{:?}", state.status),
            reason: reason.into(),
        };
        let e = match msg {
            Message::Accept(signed) => match self.adopt(ClientDeal::new(signed)) {
                Ok(deal) => {
                    // On record before funds are locked for them.
                    ctx.journal
                        .client_terms(deal.terms())
                        .map_err(NodeError::Journal)?;
                    let intervals = deal.layout().intervals.len() as u32;
                    self.deal = Some(deal);
                    ClientEvent::DealAccepted { intervals }
                }
                Err(reason) => ClientEvent::Error { reason },
            },
            Message::Reject(n) => ClientEvent::DealRejected { reason: n.reason },
            Message::Chunk(chunk) => {
                if self.deal.is_none() {
                    return Err(refuse(&self.state, "no deal yet"));
                }
                self.buffered
                    .entry(chunk.statement.interval)
                    .or_default()
                    .push(chunk);
                ClientEvent::ChunkReceived
            }
            Message::IntervalEnd(commitment) => {
                let j = commitment.commitment.interval;
                if self.deal.is_none() || j >= self.state.intervals || j != self.state.received {
                    return Err(refuse(&self.state, "no such interval is awaited"));
                }
                let chunks = self.buffered.remove(&j).unwrap_or_default();
                self.pending
                    .insert(j, IntervalBundle { commitment, chunks });
                if j + 1 == self.state.intervals {
                    ClientEvent::LastIntervalReceived
                } else {
                    ClientEvent::IntervalReceived
                }
            }
            Message::Key(reveal) => {
                let ok = self.deal.as_ref().is_some_and(|d| {
                    reveal
                        .verify_signature(&d.terms().terms.proposal.provider, &Secp256k1)
                        .is_ok()
                });
                if !ok {
                    return Err(refuse(&self.state, "not signed by the provider"));
                }
                self.reveal = Some(reveal);
                ClientEvent::KeyReceived
            }
            Message::Abort(n) => ClientEvent::ProviderAborted { reason: n.reason },
            _ => return Err(refuse(&self.state, "a provider never sends it")),
        };
        self.step(e, ctx)
    }

    /// Applies an outside event (`Cancel`, `KeyTimeout`, `Error`, …) and runs its actions.
    pub fn event<J: Judge + ?Sized>(
        &mut self,
        e: ClientEvent,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        self.step(e, ctx)
    }

    /// One step: refused events change nothing; the journal records the step before its
    /// actions run.
    fn step<J: Judge + ?Sized>(
        &mut self,
        e: ClientEvent,
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
                .client_step(&e, &state, &actions)
                .map_err(NodeError::Journal)?;
        }
        self.state = state;
        self.act(actions, ctx)
    }

    /// An event that follows from an action; one the machine refuses is dropped.
    fn then<J: Judge + ?Sized>(
        &mut self,
        e: ClientEvent,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        match self.step(e, ctx) {
            Err(NodeError::Unexpected { .. }) => Ok(()),
            other => other,
        }
    }

    fn act<J: Judge + ?Sized>(
        &mut self,
        actions: Vec<ClientAction>,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        for a in actions {
            let next = match a {
                ClientAction::SendProposal => {
                    ctx.send(&Message::Proposal(self.proposal.clone()));
                    Some(ClientEvent::ProposalSent)
                }
                ClientAction::LockFunds => {
                    let d = self.deal.as_ref().expect("accepted");
                    let total = d
                        .layout()
                        .intervals
                        .last()
                        .map(|i| i.owed.clone())
                        .unwrap_or_default();
                    let terms = d.terms().terms.clone();
                    match ctx.judge.open(&terms, &total) {
                        Ok(()) => {
                            // The lock has landed: pushed, then confirmed.
                            self.then(ClientEvent::FundsLockPushed, ctx)?;
                            Some(ClientEvent::FundsLocked)
                        }
                        Err(reason) => Some(ClientEvent::Error { reason }),
                    }
                }
                ClientAction::AllocateLane => Some(ClientEvent::LaneAllocated),
                ClientAction::SendStartTransfer => {
                    ctx.send(&Message::StartTransfer(Notice {
                        deal_id: self.state.deal_id,
                        reason: String::new(),
                    }));
                    None
                }
                ClientAction::VerifyInterval { interval } => Some(self.verify(interval)),
                ClientAction::SendVoucher { interval } => {
                    self.send_voucher(interval, ctx)?;
                    None
                }
                ClientAction::OpenInterval { interval } => Some(self.open(interval, ctx)?),
                ClientAction::SubmitDispute => {
                    let d = self.deal.as_ref().expect("accepted");
                    let terms = d.terms().terms.clone();
                    match self.evidence.as_ref().map(|e| ctx.judge.dispute(&terms, e)) {
                        Some(Ok(f)) => {
                            self.found = Some(f);
                            self.then(ClientEvent::DisputeSubmitted, ctx)?;
                            Some(ClientEvent::DisputeWon)
                        }
                        _ => {
                            self.then(ClientEvent::DisputeSubmitted, ctx)?;
                            Some(ClientEvent::DisputeLost)
                        }
                    }
                }
                ClientAction::SendAbort => {
                    ctx.send(&Message::Abort(Notice {
                        deal_id: self.state.deal_id,
                        reason: self.state.message.clone(),
                    }));
                    None
                }
                // Funds come back once the deadlines pass: the provider may still redeem until then.
                ClientAction::RecoverFunds => {
                    self.awaiting_deadline = true;
                    None
                }
                ClientAction::DeliverData => {
                    self.delivered = true;
                    None
                }
            };
            if let Some(e) = next {
                self.then(e, ctx)?;
            }
        }
        Ok(())
    }

    fn verify(&mut self, j: u32) -> ClientEvent {
        let (Some(deal), Some(bundle)) = (self.deal.as_mut(), self.pending.remove(&j)) else {
            return ClientEvent::ProofsInvalid {
                reason: format!("interval {j} never arrived"),
            };
        };
        match deal.check_interval(&bundle) {
            Ok(tree) => {
                deal.keep_interval(bundle, tree);
                ClientEvent::ProofsVerified
            }
            Err(err) => match signed_fault_evidence(&bundle, &err) {
                Some(e) => {
                    self.evidence = Some(e);
                    ClientEvent::FaultyStatements {
                        reason: err.to_string(),
                    }
                }
                None => ClientEvent::ProofsInvalid {
                    reason: err.to_string(),
                },
            },
        }
    }

    fn send_voucher<J: Judge + ?Sized>(
        &mut self,
        j: u32,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        if self.fault == ClientFault::StopPaying(j) {
            return Ok(());
        }
        let deal = self.deal.as_mut().expect("accepted");
        let Ok(mut v) = deal.voucher_for(j, &self.key) else {
            return Ok(());
        };
        match self.fault {
            ClientFault::ForgedVoucher(i) if i == j => {
                v.sign(&SecpSigner::random()).expect("signs");
            }
            ClientFault::ReplayedVoucher(i) if i == j => {
                if let Some(prev) = &self.last_voucher {
                    v = prev.clone();
                }
            }
            ClientFault::ShortVoucher(i) if i == j => {
                v.amount -= TokenAmount::from_atto(1);
                v.sign(&self.key).expect("signs");
            }
            _ => {}
        }
        ctx.journal
            .voucher_sent(j, &v)
            .map_err(NodeError::Journal)?;
        self.last_voucher = Some(v.clone());
        ctx.send(&Message::Voucher(VoucherMsg {
            deal_id: self.state.deal_id,
            interval: j,
            voucher: v,
        }));
        Ok(())
    }

    fn open<J: Judge + ?Sized>(
        &mut self,
        j: u32,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<ClientEvent, NodeError> {
        let deal = self.deal.as_mut().expect("accepted");
        let Some(reveal) = self.reveal.clone() else {
            return Ok(ClientEvent::WrongKey);
        };
        if reveal.reveal.interval != j {
            return Ok(ClientEvent::WrongKey);
        }
        let last = j + 1 == self.state.intervals;
        let opened = deal.open_interval(j, &reveal.reveal.key).map(|_| ());
        if opened.is_ok() {
            for (b, bytes) in deal.take_opened() {
                if b == 0 {
                    // The root is read for its links (kept to resume); the file is the leaves.
                    ctx.journal
                        .root_opened(&bytes)
                        .map_err(NodeError::Journal)?;
                } else {
                    self.opened.push((b, bytes));
                }
            }
        }
        Ok(match opened {
            Ok(()) if last => ClientEvent::AllChunksReceived,
            Ok(()) => ClientEvent::KeyAccepted,
            Err(ClientError::WrongKey(_)) => {
                if let Some(c) = deal.commitment(j) {
                    self.evidence = Some(Evidence::WrongKey {
                        commitment: c.clone(),
                        reveal,
                    });
                }
                ClientEvent::WrongKey
            }
            Err(ClientError::BadChunk { index }) => {
                let keys = reveal.reveal.key.with_earlier(j as usize);
                let i = deal.chunk(index).map_or(j, |c| c.statement.interval);
                if let Ok(e) = deal.bad_chunk_evidence(index, &keys[i as usize]) {
                    self.evidence = Some(e);
                }
                ClientEvent::BadChunk { index }
            }
            Err(e) => ClientEvent::Error {
                reason: e.to_string(),
            },
        })
    }

    /// After a restart: the deal rebuilt from the terms the journal kept
    /// ([`Journal::client_terms`]) and, once interval 0 was opened, the root block
    /// ([`Journal::root_opened`]); [`resume`](Self::resume) goes on with it.
    ///
    /// `from` is the first interval whose bytes the host no longer has (at most the machine's
    /// `opened`): [`resume`](Self::resume) asks for it again.
    pub fn restore_deal(
        &mut self,
        terms: SignedDealTerms,
        root: Option<&[u8]>,
        from: u32,
    ) -> Result<(), NodeError> {
        let from = from.min(self.state.opened);
        let deal = self
            .adopt(ClientDeal::resume(terms, from, root))
            .map_err(|reason| NodeError::Unexpected {
                message: "restore",
                state: format!("DealStatus{:?}", self.state.status),
                reason,
            })?;
        self.deal = Some(deal);
        Ok(())
    }

    /// A deal from the provider's signed terms, with the verifier a `zk` deal needs (a node may
    /// hold one for its zk deals; a fraud deal needs none); refused unless the terms are for
    /// our proposal.
    fn adopt(&self, deal: Result<ClientDeal, ClientError>) -> Result<ClientDeal, String> {
        let zk = self.proposal.mode == ProofMode::Zk;
        let deal = deal
            .and_then(|d| match &self.verifier {
                Some(v) if zk => d.with_verifier(v.clone()),
                _ => Ok(d),
            })
            .map_err(|e| e.to_string())?;
        if deal.terms().terms.proposal != self.proposal {
            return Err("terms differ from the proposal".into());
        }
        Ok(deal)
    }

    /// Goes on with a deal in transfer over a new connection (the old one broke, or the
    /// sidecar restarted): what was received but not opened is dropped, and a signed `Resume`
    /// asks the provider for it again from interval `from` (the first not opened, or an
    /// earlier one whose bytes the host lost). Vouchers for intervals paid before go out
    /// again unchanged.
    pub fn resume<J: Judge + ?Sized>(
        &mut self,
        from: u32,
        ctx: &mut Ctx<'_, J>,
    ) -> Result<(), NodeError> {
        let from = from.min(self.state.opened);
        let refuse = |state: &ClientState, reason: &str| NodeError::Unexpected {
            message: "Resume",
            state: format!("DealStatus{:?}", state.status),
            reason: reason.into(),
        };
        let Some(deal) = self.deal.as_mut() else {
            return Err(refuse(&self.state, "no deal to resume"));
        };
        let terms = deal
            .terms()
            .terms
            .digest()
            .map_err(|e| refuse(&self.state, &e.to_string()))?;
        self.step(ClientEvent::Resumed { from }, ctx)?;
        let deal = self.deal.as_mut().expect("checked above");
        deal.rewind(from);
        self.buffered.clear();
        self.pending.clear();
        self.reveal = None;
        let resume = Resume {
            deal_id: self.state.deal_id,
            terms,
            from,
        }
        .sign(&self.key)
        .map_err(|e| refuse(&self.state, &e.to_string()))?;
        ctx.send(&Message::Resume(resume));
        Ok(())
    }
}

/// Evidence for faults visible in signed statements alone (broken chain, wrong final digest).
fn signed_fault_evidence(bundle: &IntervalBundle, err: &ClientError) -> Option<Evidence> {
    let index = match err {
        ClientError::ChainBreak { index, .. } | ClientError::FinalDigest { index, .. } => *index,
        _ => return None,
    };
    let leaves: Vec<_> = bundle
        .chunks
        .iter()
        .map(|c| c.statement.leaf())
        .collect::<Result<_, _>>()
        .ok()?;
    let tree = MerkleTree::new(leaves);
    let first = bundle.commitment.commitment.first_chunk;
    let signed = |i: u64| {
        let s = bundle
            .chunks
            .get(usize::try_from(i.checked_sub(first)?).ok()?)?
            .statement
            .clone();
        ozkcp_core::evidence::SignedStatement::from_tree(s, &tree, bundle.commitment.clone()).ok()
    };
    let this = signed(index)?;
    Some(match err {
        ClientError::FinalDigest { .. } => Evidence::WrongFinalDigest { chunk: this },
        _ if this.statement.offset == 0 => Evidence::BadChainStart { chunk: this },
        _ => Evidence::BrokenChain {
            first: signed(index - 1)?,
            second: this,
        },
    })
}
