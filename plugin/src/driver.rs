//! A whole deal in one process: a client host and a provider host run their state machines
//! against each other over CBOR messages, with real keys, signatures and data.
//!
//! The hosts do what a node would: they perform the actions each step returns, turn outcomes
//! into events, and persist state (here: a CBOR round trip of both machines at a chosen
//! moment, to show a deal survives a restart). Chain operations go through the [`Judge`] trait:
//! [`InProcessEscrow`] keeps the judge's books in memory with the same voucher and evidence
//! checks the judge actor runs ([`run_deal`]); the integration tests pass a judge backed by the
//! actor on the devnet ([`run_deal_with`]).
//!
//! Faults can be injected on either side to watch the protocol contain them.

use std::collections::{BTreeMap, VecDeque};

use ozkcp_core::deal::{DealProposal, DealTerms, Manifest, ProofMode, SignedDealTerms};
use ozkcp_core::encoding::{from_cbor, to_cbor};
use ozkcp_core::evidence::{
    verify_evidence, Evidence, EvidenceError, Fault, NoProofVerifier, SignedKeyReveal,
};
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::merkle::MerkleTree;
use ozkcp_core::sig::{Secp256k1, SecpSigner};
use ozkcp_core::statement::ciphertext_digest;
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_core::{Address, ChainEpoch, TokenAmount};

use crate::client::{ClientDeal, ClientError};
use crate::fsm::client::{ClientAction, ClientEvent, ClientState};
use crate::fsm::provider::{ProviderAction, ProviderEvent, ProviderState};
use crate::messages::{Message, Notice, VoucherMsg};
use crate::payload::Payload;
use crate::provider::ProviderDeal;
use crate::{EncryptedChunk, IntervalBundle};

/// How to lay out the deal.
#[derive(Debug, Clone)]
pub struct DealConfig {
    /// Chunk size `S`.
    pub chunk_size: u32,
    /// Leaf block size.
    pub block_size: usize,
    /// Leaf blocks per payment interval (the root has its own interval).
    pub blocks_per_interval: u32,
    /// Price per chunk (attoFIL).
    pub price_per_chunk: u64,
    /// Provider collateral (attoFIL).
    pub collateral: u64,
    /// After this many messages, both hosts persist and restore their machines.
    pub restore_after: Option<usize>,
    /// `zk` mode with these keys (one circuit for the chunk size); `None`: fraud mode.
    pub zk: Option<crate::zk::ZkKeys>,
    /// Who deals, where and until when; `None`: fresh random keys, judge `f01000`, deal 1,
    /// key-reveal deadline 1000, dispute window 100.
    pub parties: Option<Parties>,
}

/// The parties and chain coordinates of a deal.
#[derive(Debug, Clone)]
pub struct Parties {
    /// The client's key.
    pub client: SecpSigner,
    /// The provider's key.
    pub provider: SecpSigner,
    /// The judge actor's address.
    pub judge: Address,
    /// The client's deal id (also the voucher lane).
    pub deal_id: u64,
    /// Epoch by which keys must be revealed on chain.
    pub key_reveal_deadline: ChainEpoch,
    /// Epochs after that deadline during which the client may dispute.
    pub dispute_window: ChainEpoch,
}

impl Default for DealConfig {
    fn default() -> Self {
        DealConfig {
            chunk_size: 64,
            block_size: 256,
            blocks_per_interval: 2,
            price_per_chunk: 10,
            collateral: 1_000_000,
            restore_after: None,
            zk: None,
            parties: None,
        }
    }
}

/// A cheating or failing provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderFault {
    /// Honest.
    None,
    /// Reveals a wrong (but signed) key for this interval.
    WrongKey(u32),
    /// Sends a chunk of this interval that decrypts to other bytes (consistently re-signed).
    BadChunk(u32),
    /// States a broken chain in this interval (consistently re-signed).
    BrokenChain(u32),
    /// Never reveals this interval's key.
    NeverReveal(u32),
    /// Sends, for this interval, a chunk whose proof is another chunk's (zk mode).
    InvalidProof(u32),
}

/// A cheating or failing client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFault {
    /// Honest.
    None,
    /// Signs this interval's voucher with another key.
    ForgedVoucher(u32),
    /// Sends the previous voucher again for this interval.
    ReplayedVoucher(u32),
    /// Pays one attoFIL less than owed for this interval.
    ShortVoucher(u32),
    /// Stops paying at this interval.
    StopPaying(u32),
}

/// What happened, for each party.
#[derive(Debug, Clone)]
pub struct Outcome<J = InProcessEscrow> {
    /// The client's final machine.
    pub client: ClientState,
    /// The provider's final machine.
    pub provider: ProviderState,
    /// The payload, if the client got all of it and it checked out.
    pub data: Option<Vec<u8>>,
    /// The original payload (for comparison).
    pub original: Vec<u8>,
    /// Intervals in the deal.
    pub intervals: u32,
    /// Chunks in the deal.
    pub chunks: u64,
    /// Intervals the provider sent (including one streamed ahead).
    pub intervals_sent: u32,
    /// Keys the provider revealed (correct ones).
    pub keys_revealed: u32,
    /// The judge at the end (its books).
    pub escrow: J,
    /// The fault the judge found, if a dispute was won.
    pub fault: Option<Fault>,
    /// Messages exchanged.
    pub messages: usize,
}

/// The chain side of one deal, as the driver's hosts use it.
pub trait Judge {
    /// The client locks `amount` for the deal and the provider locks its collateral; both have
    /// landed when this returns `Ok`.
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String>;
    /// Funds the client has locked for the deal (paid or not), as the provider reads them.
    fn funds(&self) -> Option<TokenAmount>;
    /// The provider redeems voucher `v` of interval `j` by revealing `key`.
    fn redeem(
        &mut self,
        terms: &DealTerms,
        j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String>;
    /// The client submits evidence; returns the fault the judge found.
    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String>;
    /// The deadlines pass and the deal settles.
    fn settle(&mut self, terms: &DealTerms);
}

/// The judge's books for one deal, kept in process with the judge's own checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProcessEscrow {
    /// What the client locked for the deal at the start.
    pub deposit: TokenAmount,
    /// The client's funds still locked for the provider.
    pub locked: TokenAmount,
    /// The provider's collateral.
    pub collateral: TokenAmount,
    /// Paid out to the provider by redeemed vouchers.
    pub paid_to_provider: TokenAmount,
    /// Returned to the client (refunds, unspent funds, slashed collateral).
    pub returned_to_client: TokenAmount,
    /// Keys revealed on chain by redemption, by interval.
    pub revealed: BTreeMap<u32, [u8; 32]>,
    /// Highest voucher nonce redeemed.
    pub nonce: Option<u64>,
    /// Whether the provider was slashed.
    pub slashed: bool,
}

impl Judge for InProcessEscrow {
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String> {
        *self = InProcessEscrow::new(amount.clone(), terms.proposal.collateral.clone());
        Ok(())
    }

    fn funds(&self) -> Option<TokenAmount> {
        Some(self.locked.clone())
    }

    fn redeem(
        &mut self,
        terms: &DealTerms,
        j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        InProcessEscrow::redeem(self, terms, j, v, key)
    }

    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String> {
        InProcessEscrow::dispute(self, terms, evidence).map_err(|e| e.to_string())
    }

    fn settle(&mut self, _: &DealTerms) {
        InProcessEscrow::settle(self)
    }
}

impl InProcessEscrow {
    /// Empty books: nothing locked yet.
    pub fn empty() -> Self {
        InProcessEscrow::new(TokenAmount::from_atto(0), TokenAmount::from_atto(0))
    }

    fn new(locked: TokenAmount, collateral: TokenAmount) -> Self {
        InProcessEscrow {
            deposit: locked.clone(),
            locked,
            collateral,
            paid_to_provider: TokenAmount::from_atto(0),
            returned_to_client: TokenAmount::from_atto(0),
            revealed: BTreeMap::new(),
            nonce: None,
            slashed: false,
        }
    }

    /// Redeems a voucher with its key: the key must open the voucher's lock, the nonce must be
    /// new and the cumulative amount within the locked funds.
    fn redeem(
        &mut self,
        terms: &DealTerms,
        j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        v.verify_signature(&terms.proposal.client, &Secp256k1)
            .map_err(|e| e.to_string())?;
        if key.lock().0.as_slice() != v.secret_pre_image.as_slice() {
            return Err("key does not open the voucher's lock".into());
        }
        if self.nonce.is_some_and(|n| v.nonce <= n) {
            return Err("voucher nonce already redeemed".into());
        }
        if v.amount > self.locked || self.slashed {
            return Err("voucher exceeds the locked funds".into());
        }
        let due = v.amount.clone() - self.paid_to_provider.clone();
        self.paid_to_provider += due;
        self.nonce = Some(v.nonce);
        self.revealed.insert(j, *key.expose());
        Ok(())
    }

    /// Judges evidence with the judge's function; a proven fault slashes the collateral to the
    /// client and refunds everything paid.
    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, EvidenceError> {
        let fault = verify_evidence(terms, evidence, &Secp256k1, &NoProofVerifier)?;
        self.slashed = true;
        // Everything locked comes back (what was paid included) and the collateral with it.
        self.returned_to_client += self.locked.clone() + self.collateral.clone();
        self.paid_to_provider = TokenAmount::from_atto(0);
        self.locked = TokenAmount::from_atto(0);
        self.collateral = TokenAmount::from_atto(0);
        Ok(fault)
    }

    /// After the deadlines: the client's unspent funds go back.
    fn settle(&mut self) {
        let unspent = self.locked.clone() - self.paid_to_provider.clone();
        if unspent > TokenAmount::from_atto(0) {
            self.returned_to_client += unspent;
        }
        self.locked = self.paid_to_provider.clone();
    }
}

struct ClientHost {
    key: SecpSigner,
    state: ClientState,
    deal: Option<ClientDeal>,
    proposal: DealProposal,
    buffered: BTreeMap<u32, Vec<EncryptedChunk>>,
    pending: BTreeMap<u32, IntervalBundle>,
    last_voucher: Option<SignedVoucher>,
    reveal: Option<SignedKeyReveal>,
    evidence: Option<Evidence>,
    data: Option<Vec<u8>>,
    fault: ClientFault,
    awaiting_deadline: bool,
    zk: Option<crate::zk::ZkKeys>,
}

struct ProviderHost {
    key: SecpSigner,
    state: ProviderState,
    deal: Option<ProviderDeal>,
    payload: Payload,
    bundles: BTreeMap<u32, IntervalBundle>,
    voucher: Option<SignedVoucher>,
    best: Option<(u32, SignedVoucher, IntervalKey)>,
    keys_revealed: u32,
    fault: ProviderFault,
    blocks_per_interval: u32,
    zk: Option<crate::zk::ZkKeys>,
}

/// Runs a whole deal over `data` and reports what each party paid and received.
pub fn run_deal(data: &[u8], cfg: &DealConfig, pf: ProviderFault, cf: ClientFault) -> Outcome {
    run_deal_with(data, cfg, pf, cf, InProcessEscrow::empty())
}

/// [`run_deal`] against any [`Judge`] (e.g. the judge actor on a devnet).
pub fn run_deal_with<J: Judge>(
    data: &[u8],
    cfg: &DealConfig,
    pf: ProviderFault,
    cf: ClientFault,
    judge: J,
) -> Outcome<J> {
    let payload = Payload::from_bytes(data, cfg.block_size).expect("payload encodes");
    let parties = cfg.parties.clone().unwrap_or_else(|| Parties {
        client: SecpSigner::random(),
        provider: SecpSigner::random(),
        judge: Address::new_id(1000),
        deal_id: 1,
        key_reveal_deadline: 1000,
        dispute_window: 100,
    });
    let client_key = parties.client;
    let provider_key = parties.provider;
    let deal_id = parties.deal_id;
    let mode = if cfg.zk.is_some() {
        ProofMode::Zk
    } else {
        ProofMode::Fraud
    };
    let proposal = DealProposal {
        deal_id,
        client: client_key.address(),
        provider: provider_key.address(),
        payload_root: payload.root,
        chunk_size: cfg.chunk_size,
        price_per_chunk: TokenAmount::from_atto(cfg.price_per_chunk),
        mode,
        circuit_id: cfg.zk.as_ref().map(|k| k.verifier.circuit_id()),
        judge: parties.judge,
        lane: deal_id,
        collateral: TokenAmount::from_atto(cfg.collateral),
        key_reveal_deadline: parties.key_reveal_deadline,
        dispute_window: parties.dispute_window,
    };
    let (cstate, first) = ClientState::new(deal_id, mode);
    let mut c = ClientHost {
        key: client_key,
        state: cstate,
        deal: None,
        proposal,
        buffered: BTreeMap::new(),
        pending: BTreeMap::new(),
        last_voucher: None,
        reveal: None,
        evidence: None,
        data: None,
        fault: cf,
        awaiting_deadline: false,
        zk: cfg.zk.clone(),
    };
    let mut p = ProviderHost {
        key: provider_key,
        state: ProviderState::new(deal_id, mode),
        deal: None,
        payload,
        bundles: BTreeMap::new(),
        voucher: None,
        best: None,
        keys_revealed: 0,
        fault: pf,
        blocks_per_interval: cfg.blocks_per_interval,
        zk: cfg.zk.clone(),
    };
    let mut escrow = judge;
    let mut to_client: VecDeque<Vec<u8>> = VecDeque::new();
    let mut to_provider: VecDeque<Vec<u8>> = VecDeque::new();
    let mut fault = None;
    c.act(first, &mut to_provider, &mut escrow, &mut fault);
    let mut messages = 0usize;
    loop {
        if cfg.restore_after == Some(messages) {
            c.state = from_cbor(&to_cbor(&c.state).expect("state encodes")).expect("state decodes");
            p.state = from_cbor(&to_cbor(&p.state).expect("state encodes")).expect("state decodes");
        }
        if let Some(bytes) = to_provider.pop_front() {
            messages += 1;
            p.receive(&bytes, &mut to_client, &mut escrow);
        } else if let Some(bytes) = to_client.pop_front() {
            messages += 1;
            c.receive(&bytes, &mut to_provider, &mut escrow, &mut fault);
        } else if p.state.status == crate::fsm::provider::ProviderStatus::FundsNeeded {
            // Nothing moves: the client stopped paying.
            p.event(ProviderEvent::PaymentTimeout, &mut to_client, &mut escrow);
        } else if c.state.status == crate::fsm::client::ClientStatus::SendFunds {
            // Nothing moves: the key-reveal deadline passes.
            c.event(
                ClientEvent::KeyTimeout,
                &mut to_provider,
                &mut escrow,
                &mut fault,
            );
        } else if c.awaiting_deadline {
            // The deadlines pass: the judge returns what was not redeemed.
            c.awaiting_deadline = false;
            if let Some(d) = &c.deal {
                escrow.settle(&d.terms().terms);
            }
            let e = if c.state.status == crate::fsm::client::ClientStatus::Cancelling {
                ClientEvent::CancelComplete
            } else {
                ClientEvent::FundsRecovered
            };
            c.event(e, &mut to_provider, &mut escrow, &mut fault);
        } else {
            break;
        }
        assert!(messages < 1_000_000, "deal does not terminate");
    }
    if !c.state.is_terminal() {
        c.event(
            ClientEvent::Error {
                reason: "deal stalled".into(),
            },
            &mut to_provider,
            &mut escrow,
            &mut fault,
        );
    }
    let intervals = p
        .deal
        .as_ref()
        .map_or(0, |d| d.layout().intervals.len() as u32);
    Outcome {
        intervals,
        chunks: p.deal.as_ref().map_or(0, |d| d.layout().total_chunks),
        intervals_sent: p.state.sent,
        keys_revealed: p.keys_revealed,
        client: c.state,
        provider: p.state,
        data: c.data,
        original: data.to_vec(),
        escrow,
        fault,
        messages,
    }
}

fn send(queue: &mut VecDeque<Vec<u8>>, m: &Message) {
    queue.push_back(to_cbor(m).expect("messages encode"));
}

impl ClientHost {
    fn event(
        &mut self,
        e: ClientEvent,
        out: &mut VecDeque<Vec<u8>>,
        escrow: &mut impl Judge,
        fault: &mut Option<Fault>,
    ) {
        match self.state.step(e) {
            Ok((state, actions)) => {
                self.state = state;
                self.act(actions, out, escrow, fault);
            }
            // A message that makes no sense now is ignored; the deal's state is unchanged.
            Err(_invalid) => {}
        }
    }

    fn receive(
        &mut self,
        bytes: &[u8],
        out: &mut VecDeque<Vec<u8>>,
        escrow: &mut impl Judge,
        fault: &mut Option<Fault>,
    ) {
        let Ok(msg) = from_cbor::<Message>(bytes) else {
            return;
        };
        let e = match msg {
            Message::Accept(signed) => {
                let deal = ClientDeal::new(signed).and_then(|d| match &self.zk {
                    Some(keys) => d.with_verifier(keys.verifier.clone()),
                    None => Ok(d),
                });
                match deal {
                    Ok(deal) if deal.terms().terms.proposal == self.proposal => {
                        let intervals = deal.layout().intervals.len() as u32;
                        self.deal = Some(deal);
                        ClientEvent::DealAccepted { intervals }
                    }
                    Ok(_) => ClientEvent::Error {
                        reason: "terms differ from the proposal".into(),
                    },
                    Err(e) => ClientEvent::Error {
                        reason: e.to_string(),
                    },
                }
            }
            Message::Reject(n) => ClientEvent::DealRejected { reason: n.reason },
            Message::Chunk(chunk) => {
                self.buffered
                    .entry(chunk.statement.interval)
                    .or_default()
                    .push(chunk);
                ClientEvent::ChunkReceived
            }
            Message::IntervalEnd(commitment) => {
                let j = commitment.commitment.interval;
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
                    return;
                }
                self.reveal = Some(reveal);
                ClientEvent::KeyReceived
            }
            Message::Abort(n) => ClientEvent::ProviderAborted { reason: n.reason },
            _ => return,
        };
        self.event(e, out, escrow, fault);
    }

    fn act(
        &mut self,
        actions: Vec<ClientAction>,
        out: &mut VecDeque<Vec<u8>>,
        escrow: &mut impl Judge,
        fault: &mut Option<Fault>,
    ) {
        for a in actions {
            let next = match a {
                ClientAction::SendProposal => {
                    send(out, &Message::Proposal(self.proposal.clone()));
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
                    match escrow.open(&d.terms().terms, &total) {
                        Ok(()) => {
                            // The lock has landed: pushed, then confirmed.
                            self.event(ClientEvent::FundsLockPushed, out, escrow, fault);
                            Some(ClientEvent::FundsLocked)
                        }
                        Err(reason) => Some(ClientEvent::Error { reason }),
                    }
                }
                ClientAction::AllocateLane => Some(ClientEvent::LaneAllocated),
                ClientAction::SendStartTransfer => {
                    send(
                        out,
                        &Message::StartTransfer(Notice {
                            deal_id: self.state.deal_id,
                            reason: String::new(),
                        }),
                    );
                    None
                }
                ClientAction::VerifyInterval { interval } => Some(self.verify(interval)),
                ClientAction::SendVoucher { interval } => {
                    self.send_voucher(interval, out);
                    None
                }
                ClientAction::OpenInterval { interval } => Some(self.open(interval)),
                ClientAction::SubmitDispute => {
                    let d = self.deal.as_ref().expect("accepted");
                    match self
                        .evidence
                        .as_ref()
                        .map(|e| escrow.dispute(&d.terms().terms, e))
                    {
                        Some(Ok(f)) => {
                            *fault = Some(f);
                            self.event(ClientEvent::DisputeSubmitted, out, escrow, fault);
                            Some(ClientEvent::DisputeWon)
                        }
                        _ => {
                            self.event(ClientEvent::DisputeSubmitted, out, escrow, fault);
                            Some(ClientEvent::DisputeLost)
                        }
                    }
                }
                ClientAction::SendAbort => {
                    send(
                        out,
                        &Message::Abort(Notice {
                            deal_id: self.state.deal_id,
                            reason: self.state.message.clone(),
                        }),
                    );
                    None
                }
                // Funds come back once the deadlines pass: the provider may still redeem until then.
                ClientAction::RecoverFunds => {
                    self.awaiting_deadline = true;
                    None
                }
                ClientAction::DeliverData => {
                    let d = self.deal.as_ref().expect("accepted");
                    self.data = Some(Payload::leaf_bytes(&d.blocks()));
                    None
                }
            };
            if let Some(e) = next {
                self.event(e, out, escrow, fault);
            }
        }
    }

    fn verify(&mut self, j: u32) -> ClientEvent {
        let (Some(deal), Some(bundle)) = (self.deal.as_mut(), self.pending.remove(&j)) else {
            return ClientEvent::ProofsInvalid {
                reason: format!("interval {j} never arrived"),
            };
        };
        let kept = bundle.clone();
        match deal.accept_interval(bundle) {
            Ok(_) => ClientEvent::ProofsVerified,
            Err(err) => match signed_fault_evidence(&kept, &err) {
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

    fn send_voucher(&mut self, j: u32, out: &mut VecDeque<Vec<u8>>) {
        if self.fault == ClientFault::StopPaying(j) {
            return;
        }
        let deal = self.deal.as_mut().expect("accepted");
        let Ok(mut v) = deal.voucher_for(j, &self.key) else {
            return;
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
        self.last_voucher = Some(v.clone());
        send(
            out,
            &Message::Voucher(VoucherMsg {
                deal_id: self.state.deal_id,
                interval: j,
                voucher: v,
            }),
        );
    }

    fn open(&mut self, j: u32) -> ClientEvent {
        let deal = self.deal.as_mut().expect("accepted");
        let Some(reveal) = self.reveal.clone() else {
            return ClientEvent::WrongKey;
        };
        if reveal.reveal.interval != j {
            return ClientEvent::WrongKey;
        }
        let last = j + 1 == self.state.intervals;
        match deal.open_interval(j, &reveal.reveal.key) {
            Ok(_) if last => ClientEvent::AllChunksReceived,
            Ok(_) => ClientEvent::KeyAccepted,
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
        }
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

impl ProviderHost {
    fn event(&mut self, e: ProviderEvent, out: &mut VecDeque<Vec<u8>>, escrow: &mut impl Judge) {
        if let Ok((state, actions)) = self.state.step(e) {
            self.state = state;
            self.act(actions, out, escrow);
        }
    }

    fn receive(&mut self, bytes: &[u8], out: &mut VecDeque<Vec<u8>>, escrow: &mut impl Judge) {
        let Ok(msg) = from_cbor::<Message>(bytes) else {
            return;
        };
        let e = match msg {
            Message::Proposal(proposal) => self.accept(proposal),
            Message::StartTransfer(_) => ProviderEvent::TransferStarted,
            Message::Voucher(v) if v.interval == self.state.current() => {
                self.voucher = Some(v.voucher);
                ProviderEvent::VoucherReceived
            }
            Message::Abort(_) => ProviderEvent::ClientCancelled,
            _ => return,
        };
        self.event(e, out, escrow);
    }

    fn accept(&mut self, proposal: DealProposal) -> ProviderEvent {
        if proposal.provider != self.key.address() || proposal.payload_root != self.payload.root {
            return ProviderEvent::DealRejected {
                reason: "not my payload or not me".into(),
            };
        }
        let leaves = self.payload.blocks.len() as u32 - 1;
        let mut ends = vec![1];
        let mut end = 1;
        while end < leaves + 1 {
            end = (end + self.blocks_per_interval.max(1)).min(leaves + 1);
            ends.push(end);
        }
        let terms = DealTerms {
            proposal,
            manifest: Manifest {
                blocks: self.payload.refs(),
                interval_ends: ends,
            },
        };
        let deal = ProviderDeal::new(terms, self.key.clone()).map(|d| match &self.zk {
            Some(keys) => d.with_prover(keys.prover.clone()),
            None => d,
        });
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

    fn act(
        &mut self,
        actions: Vec<ProviderAction>,
        out: &mut VecDeque<Vec<u8>>,
        escrow: &mut impl Judge,
    ) {
        for a in actions {
            let next = match a {
                ProviderAction::SendAcceptance => {
                    let d = self.deal.as_ref().expect("accepted");
                    let terms = d.terms().clone();
                    let signature = self.key.sign(&terms.signing_bytes().expect("terms encode"));
                    send(out, &Message::Accept(SignedDealTerms { terms, signature }));
                    None
                }
                ProviderAction::SendRejection => {
                    send(
                        out,
                        &Message::Reject(Notice {
                            deal_id: self.state.deal_id,
                            reason: self.state.message.clone(),
                        }),
                    );
                    None
                }
                ProviderAction::Unseal => Some(ProviderEvent::Unsealed),
                ProviderAction::EncryptInterval { interval } => {
                    self.encrypt(interval);
                    Some(ProviderEvent::Encrypted)
                }
                // Fraud mode: the signed commitment is the proof.
                ProviderAction::GenerateProofs { .. } => Some(ProviderEvent::ProofsGenerated),
                ProviderAction::SendInterval { interval } => {
                    self.send_interval(interval, out);
                    None
                }
                ProviderAction::PrefetchInterval { interval } => {
                    self.encrypt(interval);
                    self.send_interval(interval, out);
                    Some(ProviderEvent::Prefetched)
                }
                ProviderAction::CheckVoucher { interval } => {
                    self.check_voucher(interval, out, escrow)
                }
                ProviderAction::SendAbort => {
                    send(
                        out,
                        &Message::Abort(Notice {
                            deal_id: self.state.deal_id,
                            reason: self.state.message.clone(),
                        }),
                    );
                    None
                }
                ProviderAction::RedeemVoucher => {
                    if let (Some((j, v, k)), Some(d)) = (&self.best, &self.deal) {
                        let _ = escrow.redeem(d.terms(), *j, v, k);
                    }
                    None
                }
            };
            if let Some(e) = next {
                self.event(e, out, escrow);
            }
        }
    }

    fn encrypt(&mut self, j: u32) {
        let d = self.deal.as_ref().expect("accepted");
        let place = &d.layout().intervals[j as usize];
        let blocks: Vec<&[u8]> = self.payload.blocks
            [place.first_block as usize..place.end_block as usize]
            .iter()
            .map(|(_, b)| b.as_slice())
            .collect();
        let mut bundle = d
            .encrypt_interval(j, &blocks)
            .expect("own payload encrypts");
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
    }

    fn send_interval(&mut self, j: u32, out: &mut VecDeque<Vec<u8>>) {
        let Some(bundle) = self.bundles.get(&j) else {
            return;
        };
        for chunk in &bundle.chunks {
            send(out, &Message::Chunk(chunk.clone()));
        }
        send(out, &Message::IntervalEnd(bundle.commitment.clone()));
    }

    fn check_voucher(
        &mut self,
        j: u32,
        out: &mut VecDeque<Vec<u8>>,
        escrow: &impl Judge,
    ) -> Option<ProviderEvent> {
        let d = self.deal.as_mut().expect("accepted");
        let v = self.voucher.take()?;
        match d.reveal_key(j, &v, escrow.funds()) {
            Ok(key) => {
                if self.fault == ProviderFault::NeverReveal(j) {
                    return None;
                }
                let sent = if self.fault == ProviderFault::WrongKey(j) {
                    IntervalKey::from_bytes([0x42; 32])
                } else {
                    self.keys_revealed += 1;
                    key.clone()
                };
                let reveal = d.sign_reveal(j, sent).expect("signs");
                send(out, &Message::Key(reveal));
                self.best = Some((j, v, key));
                let last = j + 1 == self.state.intervals;
                Some(if last {
                    ProviderEvent::LastVoucherAccepted
                } else {
                    ProviderEvent::VoucherAccepted
                })
            }
            Err(e) => Some(ProviderEvent::WrongVoucher {
                reason: e.to_string(),
            }),
        }
    }
}
