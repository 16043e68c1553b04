//! The sidecar's deals: retrievals it makes as a client and serves as a provider, each run by
//! a node of `ozkcp::node` over one peer connection ([`crate::peer`]).
//!
//! **Persist, then act.** Every step a node takes is committed to the [`DealStore`] (state and
//! actions, one durable transaction) before its actions run; vouchers are recorded before they
//! are sent (client) or before their key is revealed (provider), and the store refuses a second,
//! different voucher for an interval. Once a step's frames are sent (and, on completion, the
//! payload written), the step's actions are confirmed done.
//!
//! Chain operations go through a [`JudgeFactory`]: [`crate::judges::ChainJudges`] sends them to
//! the judge actor through a Lotus-style node (`ozkcp serve --chain-api … --judge …`);
//! [`MemoryJudges`] keeps each deal's books in memory, for running without a chain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use fvm_ipld_encoding::RawBytes;
use ozkcp::core::deal::{DealProposal, DealTerms, ProofMode, SignedDealTerms};
use ozkcp::core::evidence::{Evidence, Fault};
use ozkcp::core::keys::IntervalKey;
use ozkcp::core::sig::SecpSigner;
use ozkcp::core::voucher::SignedVoucher;
use ozkcp::core::{Address, ChainEpoch, Cid, TokenAmount};
use ozkcp::fsm::client::{ClientAction, ClientEvent, ClientState, ClientStatus};
use ozkcp::fsm::provider::{ProviderAction, ProviderEvent, ProviderState, ProviderStatus};
use ozkcp::messages::{Message, Notice, SignedResume};
use ozkcp::node::{
    ClientNode, ClientSetup, Ctx, InProcessEscrow, Journal, Judge, NodeError, Outbox,
    ProviderFault, ProviderNode, ProviderSetup,
};
use ozkcp::payload::PayloadSource;
use ozkcp::zk::ZkKeys;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::peer::{PeerConn, PeerError, PeerLimits};
use crate::store::{DealMachine, DealRecord, DealStore, PendingActions, Side, StoreError};

/// Smallest and largest chunk sizes a deal may use. `fraud` mode stops at 32 KiB so that
/// bad-chunk evidence (a chunk's ciphertext and statement) fits a 64 KiB chain message.
pub const CHUNK_SIZES: (u32, u32) = (64, 1 << 20);
/// Largest `fraud`-mode chunk size.
pub const MAX_FRAUD_CHUNK: u32 = 32 << 10;
/// Default chunk size of `fraud` deals.
pub const DEFAULT_FRAUD_CHUNK: u32 = 16 << 10;

/// Errors of starting a deal.
#[derive(Debug, thiserror::Error)]
pub enum DealsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is unusable.
    #[error("{0}")]
    Invalid(String),
    /// The chain side could not be set up.
    #[error("judge: {0}")]
    Judge(String),
    /// Listening for peers failed.
    #[error("peer listener on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Where and until when a deal is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCoordinates {
    /// The judge actor.
    pub judge: Address,
    /// Epoch by which keys must be revealed on chain.
    pub key_reveal_deadline: ChainEpoch,
    /// Epochs after that during which the client may dispute.
    pub dispute_window: ChainEpoch,
}

/// Makes the chain side of each deal.
pub trait JudgeFactory: Send + Sync {
    /// The judge and deadlines for a new client deal.
    fn coordinates(&self) -> Result<ChainCoordinates, String>;
    /// The judge of one deal, for our side of it.
    fn judge(&self, side: Side, proposal: &DealProposal) -> Result<Box<dyn Judge + Send>, String>;
    /// Deal (`client`, `deal_id`) is over on our side but may hold funds on chain (a provider's
    /// redeemed pay and collateral, or a client's deposit after an interrupted deal): a
    /// chain-backed factory settles it in the background once its dispute window has closed.
    fn settle_later(&self, _client: Address, _deal_id: u64) {}
}

/// Each deal's books in memory, with the judge actor's own checks: for running without a
/// chain. The provider cannot see the client's deposit, so it checks vouchers without funds.
#[derive(Debug, Clone)]
pub struct MemoryJudges {
    /// The judge address written into proposals.
    pub judge: Address,
}

impl Default for MemoryJudges {
    fn default() -> Self {
        MemoryJudges {
            judge: Address::new_id(1000),
        }
    }
}

impl JudgeFactory for MemoryJudges {
    fn coordinates(&self) -> Result<ChainCoordinates, String> {
        Ok(ChainCoordinates {
            judge: self.judge,
            key_reveal_deadline: 1000,
            dispute_window: 100,
        })
    }

    fn judge(&self, side: Side, _: &DealProposal) -> Result<Box<dyn Judge + Send>, String> {
        Ok(Box::new(MemoryJudge {
            side,
            books: InProcessEscrow::empty(),
        }))
    }
}

/// One deal's books in memory (see [`MemoryJudges`]).
#[derive(Debug, Clone)]
pub struct MemoryJudge {
    side: Side,
    /// The books.
    pub books: InProcessEscrow,
}

impl Judge for MemoryJudge {
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String> {
        Judge::open(&mut self.books, terms, amount)
    }

    fn funds(&self) -> Option<TokenAmount> {
        match self.side {
            Side::Client => self.books.funds(),
            Side::Provider => None,
        }
    }

    fn redeem(
        &mut self,
        terms: &DealTerms,
        j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        if self.side == Side::Provider && self.books.deposit == TokenAmount::from_atto(0) {
            // The client's deposit lives in the client's process: assume the voucher's amount.
            Judge::open(&mut self.books, terms, &v.amount)?;
        }
        Judge::redeem(&mut self.books, terms, j, v, key)
    }

    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String> {
        Judge::dispute(&mut self.books, terms, evidence)
    }

    fn settle(&mut self, terms: &DealTerms) {
        Judge::settle(&mut self.books, terms)
    }
}

/// What the provider serves, and for how much.
#[derive(Debug, Clone)]
pub struct ProviderPolicy {
    /// Lowest price per chunk accepted.
    pub min_price_per_chunk: TokenAmount,
    /// Serve `fraud` deals.
    pub fraud: bool,
    /// Serve `zk` deals (needs parameters).
    pub zk: bool,
    /// Leaf blocks per payment interval.
    pub blocks_per_interval: u32,
    /// Most collateral it locks for one deal.
    pub max_collateral: TokenAmount,
}

impl Default for ProviderPolicy {
    fn default() -> Self {
        ProviderPolicy {
            min_price_per_chunk: TokenAmount::from_atto(0),
            fraud: true,
            zk: true,
            blocks_per_interval: 4,
            max_collateral: TokenAmount::from_whole(1),
        }
    }
}

impl ProviderPolicy {
    /// Why `p` is refused, if it is.
    pub fn refuses(&self, p: &DealProposal, zk_chunk: Option<u32>) -> Option<String> {
        match p.mode {
            ProofMode::Fraud if !self.fraud => return Some("fraud mode is not served".into()),
            ProofMode::Zk if !self.zk => return Some("zk mode is not served".into()),
            ProofMode::Zk if zk_chunk != Some(p.chunk_size) => {
                return Some(format!(
                    "no zk parameters for chunk size {} (have {zk_chunk:?})",
                    p.chunk_size
                ))
            }
            ProofMode::Fraud if p.chunk_size > MAX_FRAUD_CHUNK => {
                return Some(format!(
                "fraud-mode chunks are at most {MAX_FRAUD_CHUNK} B (evidence must fit a message)"
            ))
            }
            _ => {}
        }
        if p.price_per_chunk < self.min_price_per_chunk {
            return Some(format!(
                "price {} per chunk is below {}",
                p.price_per_chunk.atto(),
                self.min_price_per_chunk.atto()
            ));
        }
        if p.collateral > self.max_collateral {
            return Some(format!(
                "collateral {} is above {}",
                p.collateral.atto(),
                self.max_collateral.atto()
            ));
        }
        None
    }
}

/// How the sidecar deals.
pub struct NodeConfig {
    /// The wallet key: our address as client and as provider.
    pub key: SecpSigner,
    /// What we serve as a provider.
    pub policy: ProviderPolicy,
    /// The chain side.
    pub judges: Arc<dyn JudgeFactory>,
    /// Groth16 keys for `zk` deals (one chunk size), if any.
    pub zk: Option<ZkParams>,
    /// Peer connection limits.
    pub limits: PeerLimits,
    /// Test-only: make our provider cheat this way (`ozkcp serve --provider-fault`).
    pub fault: ProviderFault,
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("NodeConfig")
            .field("address", &self.key.address().to_string())
            .field("policy", &self.policy)
            .field(
                "zk",
                &self.zk.as_ref().map(|k| k.keys.verifier.circuit_id()),
            )
            .field("limits", &self.limits)
            .field("fault", &self.fault)
            .finish()
    }
}

/// The Groth16 keys of one chunk size.
#[derive(Clone)]
pub struct ZkParams {
    /// The circuit's chunk size.
    pub chunk_size: u32,
    /// Prover and verifier.
    pub keys: ZkKeys,
}

impl ZkParams {
    /// Loads `ozkcp params generate` output.
    pub fn load(dir: &std::path::Path) -> Result<Self, String> {
        let (m, pk) = ozkcp_zk::read_params_pk(dir).map_err(|e| e.to_string())?;
        let chunk_size = m.shape.chunk_size as u32;
        let verifier = ozkcp::zk::ZkVerifier::new(chunk_size, &pk.vk).map_err(|e| e.to_string())?;
        let prover = ozkcp::zk::ZkProver::new(chunk_size, pk).map_err(|e| e.to_string())?;
        Ok(ZkParams {
            chunk_size,
            keys: ZkKeys {
                prover: Arc::new(prover),
                verifier,
            },
        })
    }
}

/// A retrieval to make.
#[derive(Debug, Clone)]
pub struct RetrieveRequest {
    /// The payload's root.
    pub root: Cid,
    /// The provider's peer address (`ws://host:port/peer/v0` or `host:port`).
    pub peer: String,
    /// The provider's address.
    pub provider: Address,
    /// Proof mode.
    pub mode: ProofMode,
    /// Price per chunk (attoFIL).
    pub price_per_chunk: TokenAmount,
    /// Chunk size; `None`: 16 KiB in `fraud` mode, the parameters' in `zk` mode.
    pub chunk_size: Option<u32>,
    /// Collateral asked of the provider.
    pub collateral: TokenAmount,
    /// Where to write the payload (absolute path on the sidecar's machine).
    pub out: PathBuf,
}

enum Control {
    Cancel,
    /// Stop driving the deal without stepping it: a new connection takes it over.
    Detach,
}

/// Most frames a client node takes in one call.
const BATCH: usize = 64;

/// How many times a client deal comes back after its connection broke.
const MAX_RESUMES: u32 = 8;

/// The deal flows of one sidecar (cheap to share).
pub struct Deals {
    store: DealStore,
    cfg: NodeConfig,
    live: Mutex<HashMap<u64, mpsc::UnboundedSender<Control>>>,
    peer_addr: Mutex<Option<SocketAddr>>,
}

impl std::fmt::Debug for Deals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deals").field("cfg", &self.cfg).finish()
    }
}

/// The store as a node's journal: steps and vouchers committed before they are acted on.
struct StoreJournal {
    store: DealStore,
    id: u64,
    step: Option<u64>,
}

impl Journal for StoreJournal {
    fn client_step(
        &mut self,
        e: &ClientEvent,
        s: &ClientState,
        a: &[ClientAction],
    ) -> Result<(), String> {
        let rec = self
            .store
            .record_client(self.id, e, s, a)
            .map_err(|e| e.to_string())?;
        self.step = Some(rec.step);
        Ok(())
    }

    fn provider_step(
        &mut self,
        e: &ProviderEvent,
        s: &ProviderState,
        a: &[ProviderAction],
    ) -> Result<(), String> {
        let rec = self
            .store
            .record_provider(self.id, e, s, a)
            .map_err(|e| e.to_string())?;
        self.step = Some(rec.step);
        Ok(())
    }

    fn voucher_sent(&mut self, j: u32, v: &SignedVoucher) -> Result<(), String> {
        self.store
            .put_voucher(self.id, j, v)
            .map_err(|e| e.to_string())
    }

    fn voucher_accepted(&mut self, j: u32, v: &SignedVoucher) -> Result<(), String> {
        self.store
            .put_voucher(self.id, j, v)
            .map_err(|e| e.to_string())
    }

    fn client_terms(&mut self, terms: &SignedDealTerms) -> Result<(), String> {
        self.store
            .update_session(self.id, |s| s.client_terms = Some(terms.clone()))
            .map_err(|e| e.to_string())
    }

    fn root_opened(&mut self, root: &[u8]) -> Result<(), String> {
        self.store
            .update_session(self.id, |s| s.root = Some(RawBytes::new(root.to_vec())))
            .map_err(|e| e.to_string())
    }

    fn provider_deal(&mut self, terms: &DealTerms, last_key: &IntervalKey) -> Result<(), String> {
        self.store
            .update_session(self.id, |s| {
                s.provider_terms = Some(terms.clone());
                s.last_key = Some(last_key.clone());
            })
            .map_err(|e| e.to_string())
    }
}

impl StoreJournal {
    /// The frames of the last step went out: its actions are done.
    fn done(&mut self) {
        if let Some(step) = self.step.take() {
            if let Err(e) = self.store.actions_done(self.id, step) {
                tracing::warn!(deal = self.id, "confirming actions: {e}");
            }
        }
    }
}

/// One side's node with its judge, journal and connection.
struct Running<N> {
    node: N,
    judge: Box<dyn Judge + Send>,
    journal: StoreJournal,
    conn: Option<PeerConn>,
}

impl<N> Running<N> {
    /// Deal `id`'s node with its judge, journaling into `store`; no connection yet.
    fn new(node: N, judge: Box<dyn Judge + Send>, store: &DealStore, id: u64) -> Self {
        Running {
            node,
            judge,
            journal: StoreJournal {
                store: store.clone(),
                id,
                step: None,
            },
            conn: None,
        }
    }

    /// Runs `f` on the node (off the async threads: it encrypts, verifies, commits); the frames
    /// it produces leave as they are made.
    async fn call(
        &mut self,
        f: impl FnOnce(&mut N, &mut Ctx<'_, dyn Judge + Send>) -> Result<(), NodeError>,
    ) -> Result<(), NodeError> {
        let mut dropped = Vec::new();
        let r = tokio::task::block_in_place(|| {
            let out: &mut dyn Outbox = match self.conn.as_mut() {
                Some(c) => c.sender(),
                None => &mut dropped,
            };
            let mut ctx = Ctx {
                judge: &mut *self.judge,
                journal: &mut self.journal,
                out,
            };
            f(&mut self.node, &mut ctx)
        });
        if let Some(e) = self.conn.as_mut().and_then(|c| c.sender().failure()) {
            tracing::debug!(deal = self.journal.id, "sending: {e}");
            self.conn = None;
        }
        r
    }
}

impl Deals {
    /// Deal flows over `store` with `cfg`.
    pub fn new(store: DealStore, cfg: NodeConfig) -> Arc<Self> {
        Arc::new(Deals {
            store,
            cfg,
            live: Mutex::new(HashMap::new()),
            peer_addr: Mutex::new(None),
        })
    }

    /// Our wallet address.
    pub fn address(&self) -> Address {
        self.cfg.key.address()
    }

    /// Our provider's address, peer address and policy (`Ozkcp.ProviderInfo`).
    pub fn provider_info(&self) -> crate::api::ProviderInfoJson {
        let address = self.address().to_string();
        let peer = self.peer_url();
        let p = &self.cfg.policy;
        let mut modes = Vec::new();
        if p.fraud {
            modes.push("fraud".to_string());
        }
        if p.zk && self.cfg.zk.is_some() {
            modes.push("zk".to_string());
        }
        crate::api::ProviderInfoJson {
            spec: peer.as_ref().map(|u| format!("{address}@{u}")),
            address,
            peer,
            modes,
            min_price_per_chunk: p.min_price_per_chunk.atto().to_string(),
            zk_chunk_size: self.cfg.zk.as_ref().map(|k| k.chunk_size),
        }
    }

    /// Where clients reach our provider (`ws://…/peer/v0`), once listening.
    pub fn peer_url(&self) -> Option<String> {
        self.peer_addr
            .lock()
            .expect("not poisoned")
            .map(|a| format!("ws://{a}{}", crate::peer::PEER_PATH))
    }

    /// Serves deals to clients at `addr`; returns the bound address.
    pub async fn listen_peers(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> Result<SocketAddr, DealsError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| DealsError::Listen { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| DealsError::Listen { addr, source })?;
        *self.peer_addr.lock().expect("not poisoned") = Some(local);
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Ok((stream, from)) = listener.accept().await else {
                    continue;
                };
                let Some(deals) = me.upgrade() else { break };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    match PeerConn::accept(stream, deals.cfg.limits).await {
                        Ok(conn) => deals.serve(conn, from).await,
                        Err(e) => tracing::debug!("peer {from}: {e}"),
                    }
                });
            }
        });
        Ok(local)
    }

    /// After a restart: every deal the last process left unfinished.
    ///
    /// - A client deal in transfer whose terms are on record is **resumed**: the intervals whose
    ///   bytes are intact in `<out>.part` are kept (each block checked against its CID), the
    ///   file is cut after them, and the deal reconnects to its provider and asks for the rest
    ///   with a signed `Resume` (vouchers on record go out again unchanged).
    /// - A provider deal in transfer whose terms and keys are on record waits (parked) for its
    ///   client to resume it, for the peer idle limit.
    /// - Any other unfinished deal cannot pick up: it ends `Errored` with the reason (its
    ///   vouchers stay on record; nothing is sent or revealed again), and on a chain it is
    ///   settled once its window closes (the client's unspent funds back, the provider's
    ///   redeemed pay claimed).
    /// - A finished deal whose last actions were not confirmed is confirmed (its effects were
    ///   local).
    pub fn recover(self: &Arc<Self>) -> Result<Recovered, StoreError> {
        let reason = "interrupted: the sidecar stopped mid-deal (vouchers on record are kept)";
        let mut done = Recovered::default();
        for d in self.store.unfinished()? {
            if d.is_terminal() {
                let delivering = matches!(&d.pending, PendingActions::Client(a)
                    if a.contains(&ClientAction::DeliverData));
                if delivering {
                    // Completed, but the process died before the file was renamed into place:
                    // the whole payload is in `.part` if every block checks out.
                    match self.deliver_after_restart(&d) {
                        Ok(out) => tracing::info!(deal = d.id, "payload delivered to {out}"),
                        Err(e) => tracing::error!(deal = d.id, "cannot deliver the payload: {e}"),
                    }
                } else {
                    tracing::warn!(deal = d.id, "confirming the actions of a finished deal");
                }
                self.store.actions_done(d.id, d.step)?;
                continue;
            }
            match &d.machine {
                DealMachine::Client(s) if s.can_resume() => match self.resume_client(&d, s) {
                    Ok(()) => {
                        done.resumed.push(d.id);
                        continue;
                    }
                    Err(e) => tracing::warn!(deal = d.id, "cannot resume: {e}"),
                },
                DealMachine::Provider(s) if s.can_resume() => {
                    let recorded = self.store.session(d.id)?;
                    if recorded.is_some_and(|r| r.provider_terms.is_some() && r.last_key.is_some())
                    {
                        self.clone().park(d.id, s.clone());
                        done.waiting.push(d.id);
                        continue;
                    }
                }
                _ => {}
            }
            match d.side() {
                Side::Client => {
                    self.store.step_client(
                        d.id,
                        ClientEvent::Error {
                            reason: reason.into(),
                        },
                    )?;
                }
                Side::Provider => {
                    self.store.step_provider(
                        d.id,
                        ProviderEvent::Error {
                            reason: reason.into(),
                        },
                    )?;
                }
            }
            let step = self.store.deal(d.id)?.map_or(0, |r| r.step);
            self.store.actions_done(d.id, step)?;
            // Funds it locked on chain come back (client) or its redeemed pay is claimed
            // (provider) once the deal's window has closed.
            let client = match d.side() {
                Side::Client => Some(self.address()),
                Side::Provider => d.peer.split('@').next().and_then(|a| a.parse().ok()),
            };
            if let Some(client) = client {
                self.cfg.judges.settle_later(client, d.deal_id());
            }
            done.ended.push(d.id);
        }
        Ok(done)
    }

    /// What client deal `id` recorded to be finished after a restart: the provider's signed
    /// terms, the output path, and the root block once opened.
    fn client_session(
        &self,
        id: u64,
    ) -> Result<(SignedDealTerms, PathBuf, Option<Vec<u8>>), String> {
        let session = self
            .store
            .session(id)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        match (session.client_terms, session.out) {
            (Some(terms), Some(out)) => {
                Ok((terms, PathBuf::from(out), session.root.map(|r| r.to_vec())))
            }
            _ => Err("nothing was recorded to finish it".into()),
        }
    }

    /// A completed client deal whose file was not renamed into place: checks every block of
    /// `<out>.part` against its CID, syncs it and renames it onto `out`.
    fn deliver_after_restart(&self, d: &DealRecord) -> Result<String, String> {
        let (terms, out, root) = self.client_session(d.id)?;
        let part = OutputFile::part_of(&out);
        let intervals = terms.terms.manifest.interval_ends.len() as u32;
        let root = root.is_some();
        if !part.exists() && intact_prefix(&terms, &out, intervals, root)?.0 == intervals {
            // Renamed already; only the confirmation was lost.
            return Ok(out.display().to_string());
        }
        let (whole, len) = intact_prefix(&terms, &part, intervals, root)?;
        if whole != intervals {
            return Err(format!(
                "{} holds only {whole} of {intervals} intervals",
                part.display()
            ));
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&part)
            .map_err(|e| e.to_string())?;
        f.set_len(len).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&part, &out).map_err(|e| e.to_string())?;
        Ok(out.display().to_string())
    }

    /// Rebuilds client deal `d` (in transfer) from the store and its `.part` file, and runs it
    /// on: it reconnects and resumes.
    fn resume_client(self: &Arc<Self>, d: &DealRecord, state: &ClientState) -> Result<(), String> {
        let (terms, out, root) = self.client_session(d.id)?;
        let url = d
            .peer
            .split_once('@')
            .map(|(_, u)| u.to_string())
            .ok_or("no provider address on record")?;
        let (from, keep) = intact_prefix(
            &terms,
            &OutputFile::part_of(&out),
            state.opened,
            root.is_some(),
        )?;
        let mut node = ClientNode::new(ClientSetup {
            key: self.cfg.key.clone(),
            proposal: terms.terms.proposal.clone(),
            verifier: self.cfg.zk.as_ref().map(|k| k.keys.verifier.clone()),
            fault: ozkcp::node::ClientFault::None,
        });
        node.restore(state.clone());
        node.restore_deal(terms.clone(), root.as_deref(), from)
            .map_err(|e| e.to_string())?;
        let judge = self.cfg.judges.judge(Side::Client, &terms.terms.proposal)?;
        let control = self.claim(d.id).ok_or("the deal is already running")?;
        tracing::info!(
            deal = d.id,
            "resuming from interval {from} ({keep} bytes kept)"
        );
        let run = Running::new(node, judge, &self.store, d.id);
        let file = OutputFile::resume(out, keep);
        let me = self.clone();
        let id = d.id;
        tokio::spawn(async move {
            me.run_client(run, url, file, control, Some(from)).await;
            me.unlive(id);
        });
        Ok(())
    }

    /// Cancels a live deal through its node (the client tells the provider and recovers its
    /// funds; a provider deal errors), or a dormant one in the store.
    pub fn cancel(&self, id: u64) -> Result<DealRecord, StoreError> {
        let live = self.live.lock().expect("not poisoned").get(&id).cloned();
        match live {
            Some(tx) if tx.send(Control::Cancel).is_ok() => {
                self.store.deal(id)?.ok_or(StoreError::NoDeal(id))
            }
            _ => self.store.cancel(id),
        }
    }

    /// Starts a retrieval as a client: records the deal and runs it in the background.
    pub async fn retrieve(
        self: &Arc<Self>,
        req: RetrieveRequest,
    ) -> Result<DealRecord, DealsError> {
        if !req.out.is_absolute() {
            return Err(DealsError::Invalid(format!(
                "out must be an absolute path (written by the sidecar): {}",
                req.out.display()
            )));
        }
        let chunk_size = match (req.mode, req.chunk_size, &self.cfg.zk) {
            (ProofMode::Zk, _, None) => {
                return Err(DealsError::Invalid(
                    "zk mode needs parameters (ozkcp serve --params DIR)".into(),
                ))
            }
            (ProofMode::Zk, Some(s), Some(k)) if s != k.chunk_size => {
                return Err(DealsError::Invalid(format!(
                    "the zk parameters are for chunk size {}, not {s}",
                    k.chunk_size
                )))
            }
            (ProofMode::Zk, _, Some(k)) => k.chunk_size,
            (ProofMode::Fraud, s, _) => s.unwrap_or(DEFAULT_FRAUD_CHUNK),
        };
        if chunk_size < CHUNK_SIZES.0 || chunk_size > CHUNK_SIZES.1 || chunk_size % 64 != 0 {
            return Err(DealsError::Invalid(format!(
                "chunk size must be a multiple of 64 in {}..={}",
                CHUNK_SIZES.0, CHUNK_SIZES.1
            )));
        }
        if req.mode == ProofMode::Fraud && chunk_size > MAX_FRAUD_CHUNK {
            return Err(DealsError::Invalid(format!(
                "fraud-mode chunks are at most {MAX_FRAUD_CHUNK} B"
            )));
        }
        let url =
            crate::peer::peer_url(&req.peer).map_err(|e| DealsError::Invalid(e.to_string()))?;
        let coords = self.cfg.judges.coordinates().map_err(DealsError::Judge)?;
        let store = self.store.clone();
        let (mode, root) = (req.mode, req.root);
        let peer = format!("{}@{url}", req.provider);
        let created = tokio::task::spawn_blocking(move || {
            store.create_client_deal_as(Some(new_deal_id()), mode, &peer, Some(root))
        })
        .await
        .map_err(|e| DealsError::Invalid(e.to_string()))??;
        let id = created.deal.id;
        let deal_id = created.deal.deal_id();
        let proposal = DealProposal {
            deal_id,
            client: self.address(),
            provider: req.provider,
            payload_root: req.root,
            chunk_size,
            price_per_chunk: req.price_per_chunk.clone(),
            mode,
            circuit_id: match mode {
                ProofMode::Zk => self.cfg.zk.as_ref().map(|k| k.keys.verifier.circuit_id()),
                ProofMode::Fraud => None,
            },
            judge: coords.judge,
            lane: deal_id,
            collateral: req.collateral.clone(),
            key_reveal_deadline: coords.key_reveal_deadline,
            dispute_window: coords.dispute_window,
        };
        let judge = self
            .cfg
            .judges
            .judge(Side::Client, &proposal)
            .map_err(DealsError::Judge)?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.live.lock().expect("not poisoned").insert(id, tx);
        let node = ClientNode::new(ClientSetup {
            key: self.cfg.key.clone(),
            proposal,
            verifier: self.cfg.zk.as_ref().map(|k| k.keys.verifier.clone()),
            fault: ozkcp::node::ClientFault::None,
        });
        let run = Running::new(node, judge, &self.store, id);
        let out = req.out.to_string_lossy().into_owned();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.update_session(id, |s| s.out = Some(out)))
            .await
            .map_err(|e| DealsError::Invalid(e.to_string()))??;
        let me = self.clone();
        let file = OutputFile::new(req.out);
        tokio::spawn(async move {
            me.run_client(run, url, file, rx, None).await;
            me.live.lock().expect("not poisoned").remove(&id);
        });
        Ok(created.deal)
    }

    /// Drives a client deal: a new one (`resume: None`, it proposes) or one resumed after a
    /// restart from interval `from` (`Some(from)`, it sends a signed `Resume`). A connection
    /// that breaks in the middle of the transfer is opened again and the deal resumed (at most
    /// [`MAX_RESUMES`] times, each try for up to the peer idle limit).
    async fn run_client(
        &self,
        mut run: Running<ClientNode>,
        url: String,
        mut file: OutputFile,
        mut control: mpsc::UnboundedReceiver<Control>,
        resume: Option<u32>,
    ) {
        let id = run.journal.id;
        let first = match resume {
            None => PeerConn::connect(&url, self.cfg.limits).await,
            Some(_) => self.reconnect(&url).await,
        };
        match first {
            Ok(conn) => run.conn = Some(conn),
            Err(e) => {
                let reason = format!("cannot reach the provider: {e}");
                let _ = run
                    .call(|n, ctx| n.event(ClientEvent::Error { reason }, ctx))
                    .await;
                run.journal.done();
                return;
            }
        }
        let r = match resume {
            None => run.call(|n, ctx| n.start(ctx)).await,
            Some(from) => run.call(|n, ctx| n.resume(from, ctx)).await,
        };
        if let Err(e) = r {
            tracing::warn!(deal = id, "starting: {e}");
        }
        run.journal.done();
        let mut resumes = 0;
        while !run.node.state().is_terminal() {
            if run.node.awaiting_deadline() {
                // The judge settles once the deadlines pass (in memory: at once).
                let _ = run.call(|n, ctx| n.deadline_passed(ctx)).await;
                run.journal.done();
                continue;
            }
            let frame = match run.conn.as_mut() {
                Some(conn) => tokio::select! {
                    f = conn.next(None) => f,
                    Some(c) = control.recv() => {
                        if matches!(c, Control::Cancel) {
                            let _ = run.call(|n, ctx| n.event(ClientEvent::Cancel, ctx)).await;
                            run.journal.done();
                        }
                        continue;
                    }
                },
                None => Err(PeerError::Closed),
            };
            let r = match frame {
                Ok(frame) => {
                    // Frames that are already here go through the node in one call (chunks
                    // arrive by the thousand; each call leaves the async threads).
                    let mut frames = vec![frame];
                    if let Some(conn) = run.conn.as_mut() {
                        while frames.len() < BATCH {
                            match conn.try_next() {
                                Some(Ok(f)) => frames.push(f),
                                // An error is read again by the next `next`.
                                _ => break,
                            }
                        }
                    }
                    run.call(|n, ctx| frames.iter().try_for_each(|f| n.receive(f, ctx)))
                        .await
                }
                // The connection broke mid-transfer: come back on a new one.
                Err(e)
                    if !matches!(e, PeerError::Idle(_))
                        && run.node.state().can_resume()
                        && resumes < MAX_RESUMES =>
                {
                    resumes += 1;
                    tracing::info!(deal = id, "provider connection lost ({e}); resuming");
                    run.conn = None;
                    match self.reconnect(&url).await {
                        Ok(conn) => {
                            run.conn = Some(conn);
                            let from = run.node.state().opened;
                            run.call(|n, ctx| n.resume(from, ctx)).await
                        }
                        Err(e) => {
                            let reason = format!("the provider connection broke: {e}");
                            run.call(|n, ctx| n.event(ClientEvent::Error { reason }, ctx))
                                .await
                        }
                    }
                }
                Err(e) => {
                    let waiting_key = run.node.state().status == ClientStatus::SendFunds
                        && matches!(e, PeerError::Idle(_));
                    let event = if waiting_key {
                        ClientEvent::KeyTimeout
                    } else {
                        ClientEvent::Error {
                            reason: e.to_string(),
                        }
                    };
                    run.call(|n, ctx| n.event(event, ctx)).await
                }
            };
            if let Err(e) = r {
                // Garbage or a protocol violation: this deal ends, nothing else is affected.
                tracing::info!(deal = id, "provider misbehaved: {e}");
                let reason = e.to_string();
                let _ = run
                    .call(|n, ctx| n.event(ClientEvent::Error { reason }, ctx))
                    .await;
                abort(&mut run.conn, run.node.state().deal_id, &e.to_string()).await;
            }
            for (_, block) in run.node.take_opened() {
                file.write(block);
            }
            if run.node.delivered() && !file.is_finished() {
                if let Err(e) = file.finish().await {
                    tracing::error!(deal = id, "writing {}: {e}", file.out.display());
                    continue; // actions stay pending: rerun after a restart
                }
            }
            run.journal.done();
        }
        run.journal.done();
        if let Some(conn) = run.conn.take() {
            conn.close().await;
        }
    }

    /// Opens a connection to `url` again, trying for up to the peer idle limit.
    async fn reconnect(&self, url: &str) -> Result<PeerConn, PeerError> {
        let deadline = tokio::time::Instant::now() + self.cfg.limits.idle;
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            match PeerConn::connect(url, self.cfg.limits).await {
                Ok(c) => return Ok(c),
                Err(e) if tokio::time::Instant::now() + wait > deadline => return Err(e),
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(2));
                }
            }
        }
    }

    /// Serves one client connection: its first frame is a proposal, or a signed `Resume` of a
    /// deal we serve.
    async fn serve(self: Arc<Self>, mut conn: PeerConn, from: SocketAddr) {
        let first = match conn.next(None).await {
            Ok(f) => f,
            Err(e) => return tracing::debug!("peer {from}: {e}"),
        };
        let proposal = match ozkcp::core::encoding::from_cbor::<Message>(&first) {
            Ok(Message::Proposal(p)) => p,
            Ok(Message::Resume(r)) => return self.resume_provider(conn, r, from).await,
            Ok(_) | Err(_) => {
                tracing::info!("peer {from}: the first frame is no proposal; closing");
                return conn.close().await;
            }
        };
        let store = self.store.clone();
        let (deal_id, mode, root) = (proposal.deal_id, proposal.mode, proposal.payload_root);
        let peer = format!("{}@{from}", proposal.client);
        let loaded = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let rec = store.create_provider_deal(deal_id, mode, &peer, Some(root))?;
            Ok((rec, store.served_payload(&root)?))
        })
        .await;
        let (rec, payload) = match loaded {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return tracing::error!("recording a deal: {e}"),
            Err(e) => return tracing::error!("recording a deal: {e}"),
        };
        let id = rec.id;
        let zk_chunk = self.cfg.zk.as_ref().map(|k| k.chunk_size);
        let refusal = match &payload {
            None => Some(format!("payload {root} is not imported here")),
            Some(_) => self.cfg.policy.refuses(&proposal, zk_chunk),
        };
        let judge = match self.cfg.judges.judge(Side::Provider, &proposal) {
            Ok(j) => j,
            Err(e) => return tracing::error!(deal = id, "judge: {e}"),
        };
        let payload: Arc<dyn PayloadSource> = match payload {
            Some(p) => Arc::new(p),
            None => Arc::new(ozkcp::payload::Payload {
                root,
                blocks: Vec::new(),
            }),
        };
        let node = ProviderNode::new(deal_id, mode, self.provider_setup(payload));
        let (tx, control) = mpsc::unbounded_channel();
        self.live.lock().expect("not poisoned").insert(id, tx);
        let mut run = Running::new(node, judge, &self.store, id);
        run.conn = Some(conn);
        let r = match refusal {
            Some(reason) => {
                tracing::info!(deal = id, "refused: {reason}");
                run.call(|n, ctx| n.event(ProviderEvent::DealRejected { reason }, ctx))
                    .await
            }
            None => {
                run.call(|n, ctx| n.handle(Message::Proposal(proposal.clone()), ctx))
                    .await
            }
        };
        if let Err(e) = r {
            tracing::warn!(deal = id, "accepting: {e}");
        }
        run.journal.done();
        self.run_provider(run, proposal.client, control).await;
    }

    fn provider_setup(&self, payload: Arc<dyn PayloadSource>) -> ProviderSetup {
        ProviderSetup {
            key: self.cfg.key.clone(),
            payload,
            blocks_per_interval: self.cfg.policy.blocks_per_interval,
            prover: self.cfg.zk.as_ref().map(|k| k.keys.prover.clone()),
            fault: self.cfg.fault,
        }
    }

    /// Drives a provider deal until it ends, or until its connection breaks in the middle of
    /// the transfer: then the deal waits (parked) for its client to resume it on a new
    /// connection, and errors if it does not come back within the peer idle limit.
    async fn run_provider(
        self: Arc<Self>,
        mut run: Running<ProviderNode>,
        client: Address,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let id = run.journal.id;
        let deal_id = run.node.state().deal_id;
        while !run.node.state().is_terminal() {
            let frame = match run.conn.as_mut() {
                Some(conn) => tokio::select! {
                    f = conn.next(None) => f,
                    Some(c) = control.recv() => {
                        match c {
                            Control::Cancel => {
                                let reason = "cancelled by the operator".to_string();
                                let _ = run.call(|n, ctx| n.event(ProviderEvent::Error { reason }, ctx)).await;
                                run.journal.done();
                                continue;
                            }
                            // Another connection takes the deal over.
                            Control::Detach => return self.unlive(id),
                        }
                    }
                },
                None => Err(PeerError::Closed),
            };
            let r = match frame {
                Ok(frame) => run.call(|n, ctx| n.receive(&frame, ctx)).await,
                Err(e) if !matches!(e, PeerError::Idle(_)) && run.node.state().can_resume() => {
                    tracing::info!(
                        deal = id,
                        "client connection lost ({e}); waiting for it to resume"
                    );
                    run.journal.done();
                    self.unlive(id);
                    return self.park(id, run.node.state().clone());
                }
                Err(e) => {
                    let unpaid = run.node.state().status == ProviderStatus::FundsNeeded
                        && matches!(e, PeerError::Idle(_));
                    let event = if unpaid {
                        ProviderEvent::PaymentTimeout
                    } else {
                        ProviderEvent::Error {
                            reason: e.to_string(),
                        }
                    };
                    run.call(|n, ctx| n.event(event, ctx)).await
                }
            };
            if let Err(e) = r {
                tracing::info!(deal = id, "client misbehaved: {e}");
                let reason = e.to_string();
                let _ = run
                    .call(|n, ctx| n.event(ProviderEvent::Error { reason }, ctx))
                    .await;
                abort(&mut run.conn, deal_id, &e.to_string()).await;
            }
            run.journal.done();
        }
        run.journal.done();
        self.unlive(id);
        let st = run.node.state();
        if st.status == ProviderStatus::Errored {
            // Tell the client why (e.g. our collateral could not be locked).
            let reason = st.message.clone();
            abort(&mut run.conn, deal_id, &reason).await;
        } else if let Some(conn) = run.conn.take() {
            conn.close().await;
        }
        if run.node.state().paid > 0 {
            self.cfg.judges.settle_later(client, deal_id);
        }
    }

    fn unlive(&self, id: u64) {
        self.live.lock().expect("not poisoned").remove(&id);
    }

    /// Takes deal `id` for one task (`None` if another task drives it).
    fn claim(&self, id: u64) -> Option<mpsc::UnboundedReceiver<Control>> {
        let mut live = self.live.lock().expect("not poisoned");
        if live.contains_key(&id) {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        live.insert(id, tx);
        Some(rx)
    }

    /// A provider deal whose client went away mid-transfer: it waits for a `Resume` for the
    /// peer idle limit, then ends `Errored` (redeeming what it accepted, settled later).
    fn park(self: Arc<Self>, id: u64, at: ProviderState) {
        tokio::spawn(async move {
            tokio::time::sleep(self.cfg.limits.idle).await;
            let Some(control) = self.claim(id) else {
                return; // resumed
            };
            drop(control);
            let rec = match self.store.deal(id) {
                Ok(Some(r)) => r,
                _ => return self.unlive(id),
            };
            let still = matches!(&rec.machine, DealMachine::Provider(s) if *s == at);
            if still && !at.is_terminal() {
                match self.rebuild_provider(&rec) {
                    Ok((mut run, client)) => {
                        let reason = "the client did not come back to resume".to_string();
                        let _ = run
                            .call(|n, ctx| n.event(ProviderEvent::Error { reason }, ctx))
                            .await;
                        run.journal.done();
                        if run.node.state().paid > 0 {
                            self.cfg.judges.settle_later(client, rec.deal_id());
                        }
                    }
                    Err(e) => tracing::warn!(deal = id, "ending a parked deal: {e}"),
                }
            }
            self.unlive(id);
        });
    }

    /// The node of provider deal `rec` as the store has it (state, terms, keys, vouchers),
    /// with its judge, and the deal's client.
    fn rebuild_provider(
        &self,
        rec: &DealRecord,
    ) -> Result<(Running<ProviderNode>, Address), String> {
        let DealMachine::Provider(state) = &rec.machine else {
            return Err("not a provider deal".into());
        };
        let session = self
            .store
            .session(rec.id)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let (Some(terms), Some(key)) = (session.provider_terms, session.last_key) else {
            return Err("nothing was recorded to resume it".into());
        };
        let root = terms.proposal.payload_root;
        let payload = self
            .store
            .served_payload(&root)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("payload {root} is no longer imported"))?;
        let vouchers = self.store.vouchers(rec.id).map_err(|e| e.to_string())?;
        let judge = self.cfg.judges.judge(Side::Provider, &terms.proposal)?;
        let client = terms.proposal.client;
        let mut node = ProviderNode::new(
            state.deal_id,
            state.mode,
            self.provider_setup(Arc::new(payload)),
        );
        node.restore(state.clone());
        node.restore_deal(terms, key, vouchers)
            .map_err(|e| e.to_string())?;
        Ok((Running::new(node, judge, &self.store, rec.id), client))
    }

    /// A client came back with a signed `Resume`: find its deal, take it over from whichever
    /// task held it, rebuild its node from the store and go on over `conn`.
    async fn resume_provider(self: Arc<Self>, conn: PeerConn, r: SignedResume, from: SocketAddr) {
        let me = self.clone();
        let wanted = r.clone();
        let found = tokio::task::spawn_blocking(move || -> Result<Option<DealRecord>, String> {
            for rec in me.store.deals().map_err(|e| e.to_string())? {
                if rec.side() != Side::Provider || rec.deal_id() != wanted.resume.deal_id {
                    continue;
                }
                let session = me.store.session(rec.id).map_err(|e| e.to_string())?;
                let Some(terms) = session.and_then(|s| s.provider_terms) else {
                    continue;
                };
                // Signed by the deal's client, before anything is taken from a live task.
                if terms.digest().is_ok_and(|d| d == wanted.resume.terms)
                    && wanted.verify(&terms.proposal.client)
                {
                    return Ok(Some(rec));
                }
            }
            Ok(None)
        })
        .await;
        let rec = match found {
            Ok(Ok(Some(rec))) => rec,
            other => {
                let reason = match other {
                    Ok(Err(e)) => e,
                    _ => "no such deal to resume".into(),
                };
                tracing::info!("peer {from}: resume refused: {reason}");
                return abort(&mut Some(conn), r.resume.deal_id, &reason).await;
            }
        };
        let id = rec.id;
        // The old connection may not have noticed yet: its task lets go of the deal.
        let detach = self.live.lock().expect("not poisoned").get(&id).cloned();
        if let Some(tx) = detach {
            let _ = tx.send(Control::Detach);
            for _ in 0..100 {
                if !self.live.lock().expect("not poisoned").contains_key(&id) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        let Some(control) = self.claim(id) else {
            return abort(&mut Some(conn), r.resume.deal_id, "the deal is busy").await;
        };
        // Read again: the task that let go may have stepped it.
        let rec = match self.store.deal(id) {
            Ok(Some(rec)) => rec,
            _ => {
                self.unlive(id);
                return conn.close().await;
            }
        };
        let (mut run, client) = match self.rebuild_provider(&rec) {
            Ok(x) => x,
            Err(reason) => {
                self.unlive(id);
                tracing::info!(deal = id, "resume refused: {reason}");
                return abort(&mut Some(conn), r.resume.deal_id, &reason).await;
            }
        };
        tracing::info!(
            deal = id,
            "client {client} resumes from interval {}",
            r.resume.from
        );
        run.conn = Some(conn);
        if let Err(e) = run.call(|n, ctx| n.handle(Message::Resume(r), ctx)).await {
            tracing::info!(deal = id, "resume refused: {e}");
            self.unlive(id);
            return abort(&mut run.conn, rec.deal_id(), &e.to_string()).await;
        }
        run.journal.done();
        self.run_provider(run, client, control).await;
    }
}

/// A fresh deal id for a proposal: random, so that the judge (which keys deals by client and id)
/// never sees one twice from a wallet, even across repos or a wiped repo; below 2^53 so that
/// JSON tools read it exactly.
fn new_deal_id() -> u64 {
    1 + rand::random::<u64>() % ((1 << 53) - 1)
}

/// Tells the peer why its deal ends (best effort) and drops the connection.
async fn abort(conn: &mut Option<PeerConn>, deal_id: u64, reason: &str) {
    if let Some(mut c) = conn.take() {
        let notice = Message::Abort(Notice {
            deal_id,
            reason: reason.to_string(),
        });
        if let Ok(f) = ozkcp::core::encoding::to_cbor(&notice) {
            let _ = c.send_all(vec![f]);
        }
        c.close().await;
    }
}

/// What [`Deals::recover`] did with the deals the last process left unfinished.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Client deals going on (reconnecting to resume).
    pub resumed: Vec<u64>,
    /// Provider deals waiting for their clients to resume them.
    pub waiting: Vec<u64>,
    /// Deals that could not go on: ended `Errored`.
    pub ended: Vec<u64>,
}

/// How much of a deal's output survived a restart: the first interval (at most `opened`) whose
/// blocks are not all intact in `part`, and the bytes before it. Each block is checked against
/// its CID; interval 0's root block counts only when it is on record (`root`).
fn intact_prefix(
    terms: &SignedDealTerms,
    part: &std::path::Path,
    opened: u32,
    root: bool,
) -> Result<(u32, u64), String> {
    use std::io::Read;
    let layout = terms.terms.layout().map_err(|e| e.to_string())?;
    let blocks = &terms.terms.manifest.blocks;
    let mut file = std::fs::File::open(part).ok();
    let (mut from, mut keep) = (0u32, 0u64);
    'intervals: for (i, place) in layout.intervals.iter().enumerate().take(opened as usize) {
        let mut bytes = 0u64;
        for b in place.first_block..place.end_block {
            let r = &blocks[b as usize];
            if b == 0 {
                if !root {
                    break 'intervals;
                }
                continue;
            }
            let Some(f) = file.as_mut() else {
                break 'intervals;
            };
            let mut buf = vec![0u8; r.len as usize];
            if f.read_exact(&mut buf).is_err()
                || ozkcp::core::block::cid_of(r.cid.codec(), &buf) != r.cid
            {
                break 'intervals;
            }
            bytes += r.len;
        }
        from = i as u32 + 1;
        keep += bytes;
    }
    Ok((from, keep))
}

/// A client deal's output, written as its blocks open: into `<out>.part` (created with the
/// first block), then synced and renamed onto `out` once every block is in, so `out` is never
/// half-written. Writing happens on a blocking thread while the deal goes on; a deal that ends
/// without finishing leaves no `.part` behind.
struct OutputFile {
    queue: Option<std::sync::mpsc::Sender<Piece>>,
    writer: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    out: PathBuf,
    finished: bool,
    /// Resumed: the `.part` file's first bytes to keep (the rest is cut).
    keep: Option<u64>,
}

/// Bytes the output writer lets pile up before it syncs them.
const SYNC_EVERY: usize = 8 << 20;

/// What the writer thread is given.
enum Piece {
    Block(Vec<u8>),
    /// Every block is in: sync the file.
    End,
}

impl OutputFile {
    fn new(out: PathBuf) -> Self {
        OutputFile {
            queue: None,
            writer: None,
            out,
            finished: false,
            keep: None,
        }
    }

    /// Goes on writing after a restart: the first `keep` bytes of `.part` stay.
    fn resume(out: PathBuf, keep: u64) -> Self {
        let mut file = Self::new(out);
        file.keep = Some(keep);
        file
    }

    fn part_of(out: &std::path::Path) -> PathBuf {
        let mut tmp = out.to_path_buf().into_os_string();
        tmp.push(".part");
        PathBuf::from(tmp)
    }

    fn part(&self) -> PathBuf {
        Self::part_of(&self.out)
    }

    fn send(&mut self, piece: Piece) {
        if self.queue.is_none() {
            let (tx, rx) = std::sync::mpsc::channel();
            let (part, keep) = (self.part(), self.keep);
            self.writer = Some(tokio::task::spawn_blocking(move || {
                write_pieces(&part, keep, rx)
            }));
            self.queue = Some(tx);
        }
        if let Some(q) = &self.queue {
            // A failed writer is reported by `finish`.
            let _ = q.send(piece);
        }
    }

    /// Queues the next block's bytes.
    fn write(&mut self, block: Vec<u8>) {
        self.send(Piece::Block(block));
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    /// Waits for every queued block to be on disk, then renames `.part` onto `out`.
    async fn finish(&mut self) -> std::io::Result<()> {
        self.send(Piece::End);
        self.queue = None;
        let writer = self.writer.take().expect("started by send");
        writer.await.map_err(std::io::Error::other)??;
        let (part, out) = (self.part(), self.out.clone());
        tokio::task::spawn_blocking(move || std::fs::rename(part, out))
            .await
            .map_err(std::io::Error::other)??;
        self.finished = true;
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        // A resumed deal that ended before writing again leaves no `.part` either (a started
        // writer removes it itself).
        if !self.finished && self.writer.is_none() && self.keep.is_some() {
            let _ = std::fs::remove_file(self.part());
        }
    }
}

/// The writer thread: blocks into `part` until `End` (then synced); if the deal drops its queue
/// before that, `part` is removed.
fn write_pieces(
    part: &std::path::Path,
    keep: Option<u64>,
    pieces: std::sync::mpsc::Receiver<Piece>,
) -> std::io::Result<()> {
    use std::io::{Seek, Write};
    let file = match keep {
        None => std::fs::File::create(part)?,
        Some(keep) => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(part)?;
            f.set_len(keep)?;
            f.seek(std::io::SeekFrom::Start(keep))?;
            f
        }
    };
    let mut f = std::io::BufWriter::with_capacity(1 << 20, file);
    let r = (|| {
        let mut unsynced = 0usize;
        for p in pieces {
            match p {
                Piece::Block(b) => {
                    f.write_all(&b)?;
                    // Sync as we go (this thread only writes), so that the final sync, which
                    // the deal waits for, has little left to do.
                    unsynced += b.len();
                    if unsynced >= SYNC_EVERY {
                        f.flush()?;
                        f.get_ref().sync_data()?;
                        unsynced = 0;
                    }
                }
                Piece::End => {
                    f.flush()?;
                    return f.get_ref().sync_all();
                }
            }
        }
        Err(std::io::Error::other(
            "the deal ended before its payload was complete",
        ))
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(part);
    }
    r
}
