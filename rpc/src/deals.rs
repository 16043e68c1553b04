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

use ozkcp::core::deal::{DealProposal, DealTerms, ProofMode};
use ozkcp::core::evidence::{Evidence, Fault};
use ozkcp::core::keys::IntervalKey;
use ozkcp::core::sig::SecpSigner;
use ozkcp::core::voucher::SignedVoucher;
use ozkcp::core::{Address, ChainEpoch, Cid, TokenAmount};
use ozkcp::fsm::client::{ClientAction, ClientEvent, ClientState, ClientStatus};
use ozkcp::fsm::provider::{ProviderAction, ProviderEvent, ProviderState, ProviderStatus};
use ozkcp::messages::{Message, Notice};
use ozkcp::node::{
    ClientNode, ClientSetup, Ctx, InProcessEscrow, Journal, Judge, NodeError, Outbox,
    ProviderFault, ProviderNode, ProviderSetup,
};
use ozkcp::zk::ZkKeys;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::peer::{PeerConn, PeerError, PeerLimits};
use crate::store::{DealRecord, DealStore, Side, StoreError};

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
}

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

    /// After a restart: every deal the last process left unfinished. A deal's connection died
    /// with that process and its peer ended its side, so it cannot pick up mid-transfer: it
    /// ends as `Errored` with the reason (its vouchers stay on record; nothing is sent or
    /// revealed again), and on a chain it is settled once its window closes (the client's
    /// unspent funds back, the provider's redeemed pay claimed). A finished deal whose last actions were not confirmed is confirmed
    /// (its effects were local: a delivered file is in place or the retrieval is to be rerun).
    /// Returns the ids of the deals ended.
    pub fn recover(&self) -> Result<Vec<u64>, StoreError> {
        let reason = "interrupted: the sidecar stopped mid-deal (vouchers on record are kept)";
        let mut ended = Vec::new();
        for d in self.store.unfinished()? {
            if d.is_terminal() {
                tracing::warn!(deal = d.id, "confirming the actions of a finished deal");
                self.store.actions_done(d.id, d.step)?;
                continue;
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
            ended.push(d.id);
        }
        Ok(ended)
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
        let run = Running {
            node,
            judge,
            journal: StoreJournal {
                store: self.store.clone(),
                id,
                step: None,
            },
            conn: None,
        };
        let me = self.clone();
        tokio::spawn(async move {
            me.run_client(run, url, req.out, rx).await;
            me.live.lock().expect("not poisoned").remove(&id);
        });
        Ok(created.deal)
    }

    async fn run_client(
        &self,
        mut run: Running<ClientNode>,
        url: String,
        out: PathBuf,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let id = run.journal.id;
        match PeerConn::connect(&url, self.cfg.limits).await {
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
        let mut file = OutputFile::new(out.clone());
        let r = run.call(|n, ctx| n.start(ctx)).await;
        if let Err(e) = r {
            tracing::warn!(deal = id, "starting: {e}");
        }
        run.journal.done();
        while !run.node.state().is_terminal() {
            if run.node.awaiting_deadline() {
                // The judge settles once the deadlines pass (in memory: at once).
                let _ = run.call(|n, ctx| n.deadline_passed(ctx)).await;
                run.journal.done();
                continue;
            }
            let Some(conn) = run.conn.as_mut() else {
                let _ = run
                    .call(|n, ctx| {
                        n.event(
                            ClientEvent::Error {
                                reason: "the provider connection broke".into(),
                            },
                            ctx,
                        )
                    })
                    .await;
                break;
            };
            let frame = tokio::select! {
                f = conn.next(None) => f,
                Some(Control::Cancel) = control.recv() => {
                    let _ = run.call(|n, ctx| n.event(ClientEvent::Cancel, ctx)).await;
                    run.journal.done();
                    continue;
                }
            };
            let r = match frame {
                Ok(frame) => run.call(|n, ctx| n.receive(&frame, ctx)).await,
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
                    tracing::error!(deal = id, "writing {}: {e}", out.display());
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

    /// Serves one client connection: its first frame must be a proposal.
    async fn serve(self: Arc<Self>, mut conn: PeerConn, from: SocketAddr) {
        let first = match conn.next(None).await {
            Ok(f) => f,
            Err(e) => return tracing::debug!("peer {from}: {e}"),
        };
        let proposal = match ozkcp::core::encoding::from_cbor::<Message>(&first) {
            Ok(Message::Proposal(p)) => p,
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
        let node = ProviderNode::new(
            deal_id,
            mode,
            ProviderSetup {
                key: self.cfg.key.clone(),
                payload: match payload {
                    Some(p) => Arc::new(p),
                    None => Arc::new(ozkcp::payload::Payload {
                        root,
                        blocks: Vec::new(),
                    }),
                },
                blocks_per_interval: self.cfg.policy.blocks_per_interval,
                prover: self.cfg.zk.as_ref().map(|k| k.keys.prover.clone()),
                fault: self.cfg.fault,
            },
        );
        let (tx, mut control) = mpsc::unbounded_channel();
        self.live.lock().expect("not poisoned").insert(id, tx);
        let mut run = Running {
            node,
            judge,
            journal: StoreJournal {
                store: self.store.clone(),
                id,
                step: None,
            },
            conn: Some(conn),
        };
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
        let accepted = proposal;
        if let Err(e) = r {
            tracing::warn!(deal = id, "accepting: {e}");
        }
        run.journal.done();
        while !run.node.state().is_terminal() {
            let Some(conn) = run.conn.as_mut() else {
                let _ = run
                    .call(|n, ctx| {
                        n.event(
                            ProviderEvent::Error {
                                reason: "the client connection broke".into(),
                            },
                            ctx,
                        )
                    })
                    .await;
                break;
            };
            let frame = tokio::select! {
                f = conn.next(None) => f,
                Some(Control::Cancel) = control.recv() => {
                    let reason = "cancelled by the operator".to_string();
                    let _ = run.call(|n, ctx| n.event(ProviderEvent::Error { reason }, ctx)).await;
                    run.journal.done();
                    continue;
                }
            };
            let r = match frame {
                Ok(frame) => run.call(|n, ctx| n.receive(&frame, ctx)).await,
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
        self.live.lock().expect("not poisoned").remove(&id);
        let st = run.node.state();
        if st.status == ProviderStatus::Errored {
            // Tell the client why (e.g. our collateral could not be locked).
            let reason = st.message.clone();
            abort(&mut run.conn, deal_id, &reason).await;
        } else if let Some(conn) = run.conn.take() {
            conn.close().await;
        }
        if run.node.state().paid > 0 {
            self.cfg
                .judges
                .settle_later(accepted.client, accepted.deal_id);
        }
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

/// A client deal's output, written as its blocks open: into `<out>.part` (created with the
/// first block), then synced and renamed onto `out` once every block is in, so `out` is never
/// half-written. Writing happens on a blocking thread while the deal goes on; a deal that ends
/// without finishing leaves no `.part` behind.
struct OutputFile {
    queue: Option<std::sync::mpsc::Sender<Piece>>,
    writer: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    out: PathBuf,
    finished: bool,
}

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
        }
    }

    fn part(&self) -> PathBuf {
        let mut tmp = self.out.clone().into_os_string();
        tmp.push(".part");
        PathBuf::from(tmp)
    }

    fn send(&mut self, piece: Piece) {
        if self.queue.is_none() {
            let (tx, rx) = std::sync::mpsc::channel();
            let part = self.part();
            self.writer = Some(tokio::task::spawn_blocking(move || write_pieces(&part, rx)));
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

/// The writer thread: blocks into `part` until `End` (then synced); if the deal drops its queue
/// before that, `part` is removed.
fn write_pieces(
    part: &std::path::Path,
    pieces: std::sync::mpsc::Receiver<Piece>,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(part)?);
    let r = (|| {
        for p in pieces {
            match p {
                Piece::Block(b) => f.write_all(&b)?,
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
