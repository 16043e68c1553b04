//! A whole deal in one process: a client host and a provider host run their state machines
//! against each other over CBOR messages, with real keys, signatures and data.
//!
//! The two sides are the transport-agnostic nodes of [`crate::node`]; the driver is their
//! transport (two in-memory queues) and persists state the crude way (a CBOR round trip of both
//! machines at a chosen moment, to show a deal survives a restart). Chain operations go through the [`Judge`] trait:
//! [`InProcessEscrow`] keeps the judge's books in memory with the same voucher and evidence
//! checks the judge actor runs ([`run_deal`]); the integration tests pass a judge backed by the
//! actor on the devnet ([`run_deal_with`]).
//!
//! Faults can be injected on either side to watch the protocol contain them.

use std::collections::{BTreeMap, VecDeque};

use ozkcp_core::deal::{DealProposal, DealTerms, ProofMode, SignedDealTerms};
use ozkcp_core::encoding::{from_cbor, to_cbor};
use ozkcp_core::evidence::Fault;
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::sig::SecpSigner;
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_core::{Address, ChainEpoch, TokenAmount};

use crate::fsm::client::{ClientAction, ClientEvent, ClientState, ClientStatus};
use crate::fsm::provider::{ProviderAction, ProviderEvent, ProviderState, ProviderStatus};
use crate::node::{ClientNode, ClientSetup, Ctx, Journal, ProviderNode, ProviderSetup};
use crate::payload::Payload;

pub use crate::node::{ClientFault, InProcessEscrow, Judge, ProviderFault};

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
    /// After this many messages the connection drops (frames in flight are lost) and the client
    /// resumes on a new one; with `restart`, both hosts first restart from what they recorded.
    pub interrupt: Option<Interruption>,
    /// `zk` mode with these keys (one circuit for the chunk size); `None`: fraud mode.
    pub zk: Option<crate::zk::ZkKeys>,
    /// Who deals, where and until when; `None`: fresh random keys, judge `f01000`, deal 1,
    /// key-reveal deadline 1000, dispute window 100.
    pub parties: Option<Parties>,
}

/// A connection lost mid-deal ([`DealConfig::interrupt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interruption {
    /// After how many messages.
    pub after: usize,
    /// Both hosts also restart: their nodes are rebuilt from their journals and the machines
    /// from their CBOR.
    pub restart: bool,
}

/// What the hosts of the driver record (the sidecar keeps the same in its store): enough to
/// rebuild both nodes, and one voucher per interval on each side.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The client's signed terms.
    pub client_terms: Option<SignedDealTerms>,
    /// The root block, once the client opened it.
    pub root: Option<Vec<u8>>,
    /// The provider's terms and last key.
    pub provider: Option<(DealTerms, IntervalKey)>,
    /// Vouchers the client sent, by interval.
    pub sent: BTreeMap<u32, SignedVoucher>,
    /// Vouchers the provider accepted, by interval.
    pub accepted: BTreeMap<u32, SignedVoucher>,
    /// The client's machine as of its last synced step (what a crash leaves), and a later
    /// unsynced one.
    pub client_synced: Option<ClientState>,
    client_unsynced: Option<ClientState>,
    /// The same for the provider.
    pub provider_synced: Option<ProviderState>,
    provider_unsynced: Option<ProviderState>,
}

impl Recorded {
    /// A durable write: unsynced steps before it are synced with it.
    fn sync(&mut self) {
        if let Some(s) = self.client_unsynced.take() {
            self.client_synced = Some(s);
        }
        if let Some(s) = self.provider_unsynced.take() {
            self.provider_synced = Some(s);
        }
    }
}

/// One voucher per interval: the same one again is fine, another is refused.
fn record_once(
    book: &mut BTreeMap<u32, SignedVoucher>,
    j: u32,
    v: &SignedVoucher,
) -> Result<(), String> {
    match book.get(&j) {
        Some(prev) if prev != v => Err(format!("a second, different voucher for interval {j}")),
        _ => {
            book.insert(j, v.clone());
            Ok(())
        }
    }
}

impl Journal for Recorded {
    fn client_step(
        &mut self,
        _: &ClientEvent,
        state: &ClientState,
        actions: &[ClientAction],
    ) -> Result<(), String> {
        // As the sidecar's store: steps that need no sync of their own wait for the next one.
        self.client_unsynced = Some(state.clone());
        if ClientAction::sync_needed(actions) {
            self.sync();
        }
        Ok(())
    }

    fn provider_step(
        &mut self,
        _: &ProviderEvent,
        state: &ProviderState,
        actions: &[ProviderAction],
    ) -> Result<(), String> {
        self.provider_unsynced = Some(state.clone());
        if ProviderAction::sync_needed(actions) {
            self.sync();
        }
        Ok(())
    }

    fn voucher_sent(&mut self, j: u32, v: &SignedVoucher) -> Result<(), String> {
        record_once(&mut self.sent, j, v)?;
        self.sync();
        Ok(())
    }

    fn voucher_accepted(&mut self, j: u32, v: &SignedVoucher) -> Result<(), String> {
        record_once(&mut self.accepted, j, v)?;
        self.sync();
        Ok(())
    }

    fn client_terms(&mut self, terms: &SignedDealTerms) -> Result<(), String> {
        self.client_terms = Some(terms.clone());
        Ok(())
    }

    fn root_opened(&mut self, root: &[u8]) -> Result<(), String> {
        self.root = Some(root.to_vec());
        Ok(())
    }

    fn provider_deal(&mut self, terms: &DealTerms, last_key: &IntervalKey) -> Result<(), String> {
        self.provider = Some((terms.clone(), last_key.clone()));
        Ok(())
    }
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
            interrupt: None,
            zk: None,
            parties: None,
        }
    }
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
    /// What the hosts recorded.
    pub recorded: Recorded,
}

/// A machine as a host gets it back from storage: through its CBOR.
fn persisted<T: serde::Serialize + serde::de::DeserializeOwned>(state: &T) -> T {
    from_cbor(&to_cbor(state).expect("state encodes")).expect("decodes")
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
    let deal_id = parties.deal_id;
    let mode = if cfg.zk.is_some() {
        ProofMode::Zk
    } else {
        ProofMode::Fraud
    };
    let proposal = DealProposal {
        deal_id,
        client: parties.client.address(),
        provider: parties.provider.address(),
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
    let client_setup = ClientSetup {
        key: parties.client,
        proposal,
        verifier: cfg.zk.as_ref().map(|k| k.verifier.clone()),
        fault: cf,
    };
    let provider_setup = ProviderSetup {
        key: parties.provider,
        payload: std::sync::Arc::new(payload),
        blocks_per_interval: cfg.blocks_per_interval,
        prover: cfg.zk.as_ref().map(|k| k.prover.clone()),
        fault: pf,
    };
    let mut c = ClientNode::new(client_setup.clone());
    let mut p = ProviderNode::new(deal_id, mode, provider_setup.clone());
    let mut escrow = judge;
    let mut journal = Recorded::default();
    // What the client host wrote out, block by block as they opened.
    let mut written: Vec<u8> = Vec::new();
    let mut to_client: VecDeque<Vec<u8>> = VecDeque::new();
    let mut to_provider: VecDeque<Vec<u8>> = VecDeque::new();
    let mut out = Vec::new();
    macro_rules! ctx {
        () => {
            Ctx {
                judge: &mut escrow,
                journal: &mut journal,
                out: &mut out,
            }
        };
    }
    // A frame the machine refuses is dropped: the deal's state is unchanged.
    let _ = c.start(&mut ctx!());
    to_provider.extend(out.drain(..));
    let mut messages = 0usize;
    loop {
        if cfg.restore_after == Some(messages) {
            c.restore(persisted(c.state()));
            p.restore(persisted(p.state()));
        }
        if cfg.interrupt.is_some_and(|i| i.after == messages) && !c.state().is_terminal() {
            to_client.clear();
            to_provider.clear();
            if cfg.interrupt.is_some_and(|i| i.restart) {
                // Both hosts come back from their last synced steps.
                let cs = persisted(journal.client_synced.as_ref().unwrap_or(c.state()));
                let ps = persisted(journal.provider_synced.as_ref().unwrap_or(p.state()));
                c = ClientNode::new(client_setup.clone());
                c.restore(cs);
                if let Some(t) = journal.client_terms.clone() {
                    let from = c.state().opened;
                    let _ = c.restore_deal(t, journal.root.as_deref(), from);
                }
                p = ProviderNode::new(deal_id, mode, provider_setup.clone());
                p.restore(ps);
                if let Some((t, k)) = journal.provider.clone() {
                    let accepted = journal
                        .accepted
                        .iter()
                        .map(|(j, v)| (*j, v.clone()))
                        .collect();
                    let _ = p.restore_deal(t, k, accepted);
                }
            }
            let from = c.state().opened;
            let _ = c.resume(from, &mut ctx!());
            to_provider.extend(out.drain(..));
        }
        if let Some(bytes) = to_provider.pop_front() {
            messages += 1;
            let _ = p.receive(&bytes, &mut ctx!());
            to_client.extend(out.drain(..));
        } else if let Some(bytes) = to_client.pop_front() {
            messages += 1;
            let _ = c.receive(&bytes, &mut ctx!());
            to_provider.extend(out.drain(..));
            for (_, b) in c.take_opened() {
                written.extend_from_slice(&b);
            }
        } else if p.state().status == ProviderStatus::FundsNeeded {
            // Nothing moves: the client stopped paying.
            let _ = p.event(ProviderEvent::PaymentTimeout, &mut ctx!());
            to_client.extend(out.drain(..));
        } else if c.state().status == ClientStatus::SendFunds {
            // Nothing moves: the key-reveal deadline passes.
            let _ = c.event(ClientEvent::KeyTimeout, &mut ctx!());
            to_provider.extend(out.drain(..));
        } else if c.awaiting_deadline() {
            // The deadlines pass: the judge returns what was not redeemed.
            let _ = c.deadline_passed(&mut ctx!());
            to_provider.extend(out.drain(..));
        } else {
            break;
        }
        assert!(messages < 1_000_000, "deal does not terminate");
    }
    if !c.state().is_terminal() {
        let _ = c.event(
            ClientEvent::Error {
                reason: "deal stalled".into(),
            },
            &mut ctx!(),
        );
    }
    let (intervals, chunks) = p.deal().map_or((0, 0), |d| {
        (d.layout().intervals.len() as u32, d.layout().total_chunks)
    });
    Outcome {
        intervals,
        chunks,
        intervals_sent: p.state().sent,
        keys_revealed: p.keys_revealed(),
        fault: c.fault_found().cloned(),
        data: c.delivered().then_some(written),
        client: c.state().clone(),
        provider: p.state().clone(),
        original: data.to_vec(),
        escrow,
        messages,
        recorded: journal,
    }
}
