//! The sidecar's persistent state in one embedded database (redb) in the repo: deals with their
//! state machines, imported payloads and their blocks.
//!
//! **Persist, then act.** A deal moves only through [`DealStore::step_client`] and
//! [`DealStore::step_provider`]: each loads the deal, runs the pure FSM step, and commits the new
//! state *together with the actions it returned* in one durable transaction before handing the
//! actions to the caller. The actions stay in the record (`pending`) until the host calls
//! [`DealStore::actions_done`]; after a crash, [`DealStore::unfinished`] lists the deals whose
//! actions may not have run, so the host runs them again. Actions must therefore be safe to
//! repeat (resend a message, re-push a chain message that is already on chain, …).
//!
//! Every committed step is also broadcast as a [`DealEvent`] (the RPC `Ozkcp.DealEvents`).
//!
//! Tables: `deals` (local id → CBOR [`DealRecord`]), `meta` (`next_deal_id`), `imports` (root CID
//! bytes → CBOR [`ImportRecord`]), `blocks` (CID bytes → block bytes), `vouchers` ((deal,
//! interval) → CBOR [`SignedVoucher`]: sent by our client, or accepted by our provider before
//! it revealed the interval's key).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use fvm_ipld_encoding::tuple::*;
use fvm_ipld_encoding::RawBytes;
use ozkcp::core::block::BlockRef;
use ozkcp::core::deal::{DealTerms, ProofMode, SignedDealTerms};
use ozkcp::core::encoding::{from_cbor, to_cbor, EncodingError};
use ozkcp::core::keys::IntervalKey;
use ozkcp::core::voucher::SignedVoucher;
use ozkcp::core::Cid;
use ozkcp::fsm::client::{ClientAction, ClientEvent, ClientState};
use ozkcp::fsm::provider::{ProviderAction, ProviderEvent, ProviderState};
use ozkcp::fsm::InvalidTransition;
use ozkcp::payload::{root_links, Payload, PayloadSource};
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

const DEALS: TableDefinition<u64, &[u8]> = TableDefinition::new("deals");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const IMPORTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("imports");
const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
const VOUCHERS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("vouchers");
/// What a restart needs to resume each deal ([`Session`]); apart from the records, which the
/// API shows, because it holds the provider's key.
const SESSIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("sessions");
const NEXT_DEAL_ID: &str = "next_deal_id";

/// How many deal events a slow subscriber may fall behind before it misses some.
pub const EVENT_BUFFER: usize = 1024;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (I/O, corruption, another process holds it).
    #[error("deal database: {0}")]
    Db(String),
    /// A record does not decode (or encode).
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// No deal with this id.
    #[error("no deal {0}")]
    NoDeal(u64),
    /// The deal is on the other side than the step asked for.
    #[error("deal {id} is a {side} deal")]
    WrongSide {
        /// The deal.
        id: u64,
        /// Its side.
        side: Side,
    },
    /// The machine refused the event; the deal is unchanged.
    #[error("deal {id}: {source}")]
    Transition {
        /// The deal.
        id: u64,
        /// The refusal.
        source: InvalidTransition,
    },
    /// Another voucher was recorded for this interval already.
    #[error("deal {id}: interval {interval} has another voucher on record")]
    VoucherConflict {
        /// The deal.
        id: u64,
        /// The interval.
        interval: u32,
    },
    /// A block of an import is missing.
    #[error("block {0} is missing from the blockstore")]
    MissingBlock(Cid),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.to_string())
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Which side of a deal this sidecar is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// We retrieve and pay.
    Client,
    /// We serve and get paid.
    Provider,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Provider => "provider",
        })
    }
}

/// A deal's state machine, either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DealMachine {
    /// A retrieval we make.
    Client(ClientState),
    /// A retrieval we serve.
    Provider(ProviderState),
}

/// Actions of the last step that the host has not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingActions {
    /// The client machine's actions.
    Client(Vec<ClientAction>),
    /// The provider machine's actions.
    Provider(Vec<ProviderAction>),
}

impl PendingActions {
    /// How many actions are pending.
    pub fn len(&self) -> usize {
        match self {
            PendingActions::Client(a) => a.len(),
            PendingActions::Provider(a) => a.len(),
        }
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One deal as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DealRecord {
    /// Local id (the store's; for client deals also the protocol deal id).
    pub id: u64,
    /// The state machine.
    pub machine: DealMachine,
    /// The other party (address or peer URL, as the flow chose).
    pub peer: String,
    /// The payload's root, once known.
    pub payload_root: Option<Cid>,
    /// Steps committed so far (0 for a new deal).
    pub step: u64,
    /// The last step's actions until [`DealStore::actions_done`].
    pub pending: PendingActions,
    /// Creation time (ms since the epoch).
    pub created_ms: u64,
    /// Time of the last step (ms since the epoch).
    pub updated_ms: u64,
}

impl DealRecord {
    /// Which side we are on.
    pub fn side(&self) -> Side {
        match self.machine {
            DealMachine::Client(_) => Side::Client,
            DealMachine::Provider(_) => Side::Provider,
        }
    }

    /// The protocol's deal id (the client's, as the proposal and the judge carry it).
    pub fn deal_id(&self) -> u64 {
        match &self.machine {
            DealMachine::Client(s) => s.deal_id,
            DealMachine::Provider(s) => s.deal_id,
        }
    }

    /// The seed's state name, e.g. `DealStatusOngoing`.
    pub fn status_name(&self) -> String {
        match &self.machine {
            DealMachine::Client(s) => format!("DealStatus{:?}", s.status),
            DealMachine::Provider(s) => format!("DealStatus{:?}", s.status),
        }
    }

    /// Whether the deal is over.
    pub fn is_terminal(&self) -> bool {
        match &self.machine {
            DealMachine::Client(s) => s.is_terminal(),
            DealMachine::Provider(s) => s.is_terminal(),
        }
    }

    /// The proof mode.
    pub fn mode(&self) -> ProofMode {
        match &self.machine {
            DealMachine::Client(s) => s.mode,
            DealMachine::Provider(s) => s.mode,
        }
    }
}

/// A committed step, as broadcast to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealEvent {
    /// The event's kind, e.g. `DealAccepted` (`Created` for a new deal, `ActionsDone` when the
    /// last actions of a finished deal have run: no state change).
    pub event: String,
    /// The state before the step.
    pub from: String,
    /// The deal after the step.
    pub deal: DealRecord,
}

/// What a step committed: the new record and the actions to run now.
#[derive(Debug, Clone)]
pub struct Stepped<A> {
    /// The deal as committed.
    pub deal: DealRecord,
    /// The actions, in order (also kept in `deal.pending` until confirmed).
    pub actions: Vec<A>,
}

/// A payload imported on the provider side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ImportRecord {
    /// Root CID (the DAG-CBOR block listing the leaves).
    pub root: Cid,
    /// File size in bytes.
    pub size: u64,
    /// Blocks, root included.
    pub blocks: u64,
    /// Leaf block size used to cut the file.
    pub leaf_size: u64,
    /// Where it came from (the path given to the import).
    pub source: String,
    /// Import time (ms since the epoch).
    pub created_ms: u64,
}

/// What a restart needs to resume a deal, recorded as the deal goes (see
/// [`ozkcp::node::Journal`]).
#[derive(Debug, Clone, Default, Serialize_tuple, Deserialize_tuple)]
pub struct Session {
    /// Client: where the payload is written.
    pub out: Option<String>,
    /// Client: the provider's signed terms.
    pub client_terms: Option<SignedDealTerms>,
    /// Client: the root block, once opened (the links it pays for).
    pub root: Option<RawBytes>,
    /// Provider: the terms it serves.
    pub provider_terms: Option<DealTerms>,
    /// Provider: the last key of the deal's chain (derives every key; a secret, zeroized on
    /// drop, never shown by the API).
    pub last_key: Option<IntervalKey>,
}

/// The deal store (cheap to clone; one per repo, shared by the server and the flows).
#[derive(Clone)]
pub struct DealStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    events: broadcast::Sender<DealEvent>,
}

impl std::fmt::Debug for DealStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DealStore")
    }
}

impl DealStore {
    /// Opens (or creates) the database at `path`. One process at a time: a second open of the
    /// same file fails with [`StoreError::Db`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        {
            tx.open_table(DEALS)?;
            tx.open_table(META)?;
            tx.open_table(IMPORTS)?;
            tx.open_table(BLOCKS)?;
            tx.open_table(VOUCHERS)?;
            tx.open_table(SESSIONS)?;
        }
        tx.commit()?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Ok(DealStore {
            inner: Arc::new(Inner { db, events }),
        })
    }

    /// Receives every step committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DealEvent> {
        self.inner.events.subscribe()
    }

    /// Starts a client deal (the seed's `ClientRetrieve`): allocates its id, which is also the
    /// protocol's deal id, and commits the machine with its first actions.
    pub fn create_client_deal(
        &self,
        mode: ProofMode,
        peer: &str,
        payload_root: Option<Cid>,
    ) -> Result<Stepped<ClientAction>, StoreError> {
        self.create_client_deal_as(None, mode, peer, payload_root)
    }

    /// [`DealStore::create_client_deal`] with the deal id the protocol and the judge see
    /// (`None`: the local record id).
    pub fn create_client_deal_as(
        &self,
        deal_id: Option<u64>,
        mode: ProofMode,
        peer: &str,
        payload_root: Option<Cid>,
    ) -> Result<Stepped<ClientAction>, StoreError> {
        let mut actions = Vec::new();
        let deal = self.create(
            |id| {
                let (state, a) = ClientState::new(deal_id.unwrap_or(id), mode);
                actions = a.clone();
                (DealMachine::Client(state), PendingActions::Client(a))
            },
            peer,
            payload_root,
        )?;
        Ok(Stepped { deal, actions })
    }

    /// Records a retrieval order received from a client (the seed's `RetrievalOrder`);
    /// `deal_id` is the client's id for it, the record gets a local one.
    pub fn create_provider_deal(
        &self,
        deal_id: u64,
        mode: ProofMode,
        peer: &str,
        payload_root: Option<Cid>,
    ) -> Result<DealRecord, StoreError> {
        self.create(
            |_| {
                (
                    DealMachine::Provider(ProviderState::new(deal_id, mode)),
                    PendingActions::Provider(Vec::new()),
                )
            },
            peer,
            payload_root,
        )
    }

    fn create(
        &self,
        make: impl FnOnce(u64) -> (DealMachine, PendingActions),
        peer: &str,
        payload_root: Option<Cid>,
    ) -> Result<DealRecord, StoreError> {
        let tx = self.inner.db.begin_write()?;
        let record = {
            let mut meta = tx.open_table(META)?;
            let id = meta.get(NEXT_DEAL_ID)?.map(|v| v.value()).unwrap_or(1);
            meta.insert(NEXT_DEAL_ID, id + 1)?;
            let (machine, pending) = make(id);
            let now = now_ms();
            let record = DealRecord {
                id,
                machine,
                peer: peer.to_string(),
                payload_root,
                step: 0,
                pending,
                created_ms: now,
                updated_ms: now,
            };
            tx.open_table(DEALS)?
                .insert(id, to_cbor(&record)?.as_slice())?;
            record
        };
        tx.commit()?;
        let _ = self.inner.events.send(DealEvent {
            event: "Created".into(),
            from: String::new(),
            deal: record.clone(),
        });
        Ok(record)
    }

    /// Applies `event` to client deal `id` and commits the new state and its actions before
    /// returning them. A refused event leaves the deal as it was.
    pub fn step_client(
        &self,
        id: u64,
        event: ClientEvent,
    ) -> Result<Stepped<ClientAction>, StoreError> {
        let kind = format!("{:?}", event.kind());
        let mut out = Vec::new();
        let deal = self.update(id, &kind, true, |rec| match &rec.machine {
            DealMachine::Client(s) => {
                let (next, actions) = s
                    .step(event)
                    .map_err(|source| StoreError::Transition { id, source })?;
                rec.machine = DealMachine::Client(next);
                rec.pending = PendingActions::Client(actions.clone());
                out = actions;
                Ok(())
            }
            DealMachine::Provider(_) => Err(StoreError::WrongSide {
                id,
                side: Side::Provider,
            }),
        })?;
        Ok(Stepped { deal, actions: out })
    }

    /// Applies `event` to provider deal `id`; as [`step_client`](Self::step_client).
    pub fn step_provider(
        &self,
        id: u64,
        event: ProviderEvent,
    ) -> Result<Stepped<ProviderAction>, StoreError> {
        let kind = format!("{:?}", event.kind());
        let mut out = Vec::new();
        let deal = self.update(id, &kind, true, |rec| match &rec.machine {
            DealMachine::Provider(s) => {
                let (next, actions) = s
                    .step(event)
                    .map_err(|source| StoreError::Transition { id, source })?;
                rec.machine = DealMachine::Provider(next);
                rec.pending = PendingActions::Provider(actions.clone());
                out = actions;
                Ok(())
            }
            DealMachine::Client(_) => Err(StoreError::WrongSide {
                id,
                side: Side::Client,
            }),
        })?;
        Ok(Stepped { deal, actions: out })
    }

    /// Cancels a deal on the operator's request: a client deal gets `Cancel` (it then tells
    /// the provider and recovers its funds), a provider deal ends as `Errored` with the reason
    /// "cancelled by the operator". A finished deal is refused.
    pub fn cancel(&self, id: u64) -> Result<DealRecord, StoreError> {
        let deal = self.deal(id)?.ok_or(StoreError::NoDeal(id))?;
        Ok(match deal.side() {
            Side::Client => self.step_client(id, ClientEvent::Cancel)?.deal,
            Side::Provider => {
                self.step_provider(
                    id,
                    ProviderEvent::Error {
                        reason: "cancelled by the operator".into(),
                    },
                )?
                .deal
            }
        })
    }

    /// Commits a client step a node took (event, new state, actions) before its actions run:
    /// the same record as [`step_client`](Self::step_client), for hosts whose node steps the
    /// machine itself. The stored machine must be the one the node stepped from.
    pub fn record_client(
        &self,
        id: u64,
        event: &ClientEvent,
        state: &ClientState,
        actions: &[ClientAction],
    ) -> Result<DealRecord, StoreError> {
        let kind = format!("{:?}", event.kind());
        let durable = ClientAction::sync_needed(actions);
        self.update(id, &kind, durable, |rec| match &rec.machine {
            DealMachine::Client(_) => {
                rec.machine = DealMachine::Client(state.clone());
                rec.pending = PendingActions::Client(actions.to_vec());
                Ok(())
            }
            DealMachine::Provider(_) => Err(StoreError::WrongSide {
                id,
                side: Side::Provider,
            }),
        })
    }

    /// As [`record_client`](Self::record_client), for a provider step.
    pub fn record_provider(
        &self,
        id: u64,
        event: &ProviderEvent,
        state: &ProviderState,
        actions: &[ProviderAction],
    ) -> Result<DealRecord, StoreError> {
        let kind = format!("{:?}", event.kind());
        let durable = ProviderAction::sync_needed(actions);
        self.update(id, &kind, durable, |rec| match &rec.machine {
            DealMachine::Provider(_) => {
                rec.machine = DealMachine::Provider(state.clone());
                rec.pending = PendingActions::Provider(actions.to_vec());
                Ok(())
            }
            DealMachine::Client(_) => Err(StoreError::WrongSide {
                id,
                side: Side::Client,
            }),
        })
    }

    /// Records a voucher of deal `id` for `interval` (durably, before it is sent or its key
    /// revealed). Recording the same voucher again is a no-op; another voucher for the same
    /// interval is refused, so no interval is ever paid (or unlocked) twice.
    pub fn put_voucher(
        &self,
        id: u64,
        interval: u32,
        voucher: &SignedVoucher,
    ) -> Result<(), StoreError> {
        let bytes = to_cbor(voucher)?;
        let tx = self.inner.db.begin_write()?;
        {
            let mut table = tx.open_table(VOUCHERS)?;
            if let Some(old) = table.get((id, interval))? {
                if old.value() != bytes.as_slice() {
                    return Err(StoreError::VoucherConflict { id, interval });
                }
                return Ok(());
            }
            table.insert((id, interval), bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Changes deal `id`'s session (one durable transaction).
    pub fn update_session(
        &self,
        id: u64,
        change: impl FnOnce(&mut Session),
    ) -> Result<(), StoreError> {
        let tx = self.inner.db.begin_write()?;
        {
            let mut table = tx.open_table(SESSIONS)?;
            let mut session: Session = match table.get(id)? {
                Some(v) => from_cbor(v.value())?,
                None => Session::default(),
            };
            change(&mut session);
            table.insert(id, to_cbor(&session)?.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deal `id`'s session, if anything was recorded.
    pub fn session(&self, id: u64) -> Result<Option<Session>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(SESSIONS)?;
        Ok(match table.get(id)? {
            Some(v) => Some(from_cbor(v.value())?),
            None => None,
        })
    }

    /// Deal `id`'s recorded vouchers, by interval.
    pub fn vouchers(&self, id: u64) -> Result<Vec<(u32, SignedVoucher)>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(VOUCHERS)?;
        let mut out = Vec::new();
        for entry in table.range((id, 0)..=(id, u32::MAX))? {
            let (k, v) = entry?;
            out.push((k.value().1, from_cbor(v.value())?));
        }
        Ok(out)
    }

    /// The host ran the actions of step `step`: forget them. A stale `step` (the deal moved on
    /// since) changes nothing.
    ///
    /// Not synced to disk on its own (it is with the next step): if the process dies first, the
    /// actions look pending after the restart and are confirmed or redone then, which actions
    /// must allow anyway. Each step stays durable before its actions run.
    pub fn actions_done(&self, id: u64, step: u64) -> Result<(), StoreError> {
        let mut tx = self.inner.db.begin_write()?;
        let changed = {
            let mut deals = tx.open_table(DEALS)?;
            let mut rec: DealRecord = match deals.get(id)? {
                Some(v) => from_cbor(v.value())?,
                None => return Err(StoreError::NoDeal(id)),
            };
            let changed = rec.step == step && !rec.pending.is_empty();
            if changed {
                rec.pending = match rec.pending {
                    PendingActions::Client(_) => PendingActions::Client(Vec::new()),
                    PendingActions::Provider(_) => PendingActions::Provider(Vec::new()),
                };
                deals.insert(id, to_cbor(&rec)?.as_slice())?;
            }
            changed.then_some(rec)
        };
        match changed {
            Some(rec) => {
                tx.set_durability(redb::Durability::None);
                tx.commit()?;
                // Watchers learn that a finished deal's effects are all done (e.g. its file is
                // in place); mid-deal confirmations are too many to be worth an event each.
                if rec.is_terminal() {
                    let _ = self.inner.events.send(DealEvent {
                        event: "ActionsDone".into(),
                        from: rec.status_name(),
                        deal: rec,
                    });
                }
            }
            None => tx.abort()?,
        }
        Ok(())
    }

    /// Applies `f` to deal `id` as one step. A `durable` step is synced before this returns;
    /// another (its actions all stay in the process or journal themselves before they act, see
    /// `ClientAction::is_local` and `journals_itself`) is synced with the next durable write: if
    /// the process dies before that, the deal restarts from the last durable step and redoes
    /// the local work.
    fn update(
        &self,
        id: u64,
        event: &str,
        durable: bool,
        f: impl FnOnce(&mut DealRecord) -> Result<(), StoreError>,
    ) -> Result<DealRecord, StoreError> {
        let mut tx = self.inner.db.begin_write()?;
        if !durable {
            tx.set_durability(redb::Durability::None);
        }
        let (from, rec) = {
            let mut deals = tx.open_table(DEALS)?;
            let mut rec: DealRecord = match deals.get(id)? {
                Some(v) => from_cbor(v.value())?,
                None => return Err(StoreError::NoDeal(id)),
            };
            let from = rec.status_name();
            f(&mut rec)?;
            rec.step += 1;
            rec.updated_ms = now_ms();
            deals.insert(id, to_cbor(&rec)?.as_slice())?;
            (from, rec)
        };
        // Durable before anyone sees the actions.
        tx.commit()?;
        let _ = self.inner.events.send(DealEvent {
            event: event.to_string(),
            from,
            deal: rec.clone(),
        });
        Ok(rec)
    }

    /// One deal.
    pub fn deal(&self, id: u64) -> Result<Option<DealRecord>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let deals = tx.open_table(DEALS)?;
        Ok(match deals.get(id)? {
            Some(v) => Some(from_cbor(v.value())?),
            None => None,
        })
    }

    /// Every deal, oldest first.
    pub fn deals(&self) -> Result<Vec<DealRecord>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let deals = tx.open_table(DEALS)?;
        let mut out = Vec::new();
        for entry in deals.iter()? {
            let (_, v) = entry?;
            out.push(from_cbor(v.value())?);
        }
        Ok(out)
    }

    /// Deals to resume after a restart: not terminal, or with actions not confirmed done.
    pub fn unfinished(&self) -> Result<Vec<DealRecord>, StoreError> {
        Ok(self
            .deals()?
            .into_iter()
            .filter(|d| !d.is_terminal() || !d.pending.is_empty())
            .collect())
    }

    /// Stores `payload`'s blocks and its import record (idempotent: the same file imports to
    /// the same root).
    pub fn put_import(
        &self,
        payload: &Payload,
        size: u64,
        leaf_size: u64,
        source: &str,
    ) -> Result<ImportRecord, StoreError> {
        let record = ImportRecord {
            root: payload.root,
            size,
            blocks: payload.blocks.len() as u64,
            leaf_size,
            source: source.to_string(),
            created_ms: now_ms(),
        };
        let tx = self.inner.db.begin_write()?;
        {
            let mut blocks = tx.open_table(BLOCKS)?;
            for (r, bytes) in &payload.blocks {
                blocks.insert(r.cid.to_bytes().as_slice(), bytes.as_slice())?;
            }
            tx.open_table(IMPORTS)?.insert(
                payload.root.to_bytes().as_slice(),
                to_cbor(&record)?.as_slice(),
            )?;
        }
        tx.commit()?;
        Ok(record)
    }

    /// Every import.
    pub fn imports(&self) -> Result<Vec<ImportRecord>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(IMPORTS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (_, v) = entry?;
            out.push(from_cbor(v.value())?);
        }
        out.sort_by_key(|r: &ImportRecord| r.created_ms);
        Ok(out)
    }

    /// One block's bytes.
    pub fn block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(BLOCKS)?;
        Ok(table
            .get(cid.to_bytes().as_slice())?
            .map(|v| v.value().to_vec()))
    }

    /// The import of `root`, if there was one.
    pub fn import(&self, root: &Cid) -> Result<Option<ImportRecord>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(IMPORTS)?;
        Ok(match table.get(root.to_bytes().as_slice())? {
            Some(v) => Some(from_cbor(v.value())?),
            None => None,
        })
    }

    /// An imported payload to serve, its leaves read from the store as intervals need them;
    /// `None` if `root` was never imported. Leaf lengths come from the import record (every
    /// leaf is `leaf_size` bytes but the last), so opening a deal reads only the root.
    pub fn served_payload(&self, root: &Cid) -> Result<Option<StoredPayload>, StoreError> {
        let (Some(record), Some(root_bytes)) = (self.import(root)?, self.block(root)?) else {
            return Ok(None);
        };
        let links = root_links(&root_bytes)?;
        let mut refs = Vec::with_capacity(links.len() + 1);
        refs.push(BlockRef {
            cid: *root,
            len: root_bytes.len() as u64,
        });
        let mut left = record.size;
        for cid in links {
            let len = left.min(record.leaf_size);
            left -= len;
            refs.push(BlockRef { cid, len });
        }
        Ok(Some(StoredPayload {
            store: self.clone(),
            refs,
            root_bytes,
        }))
    }

    /// An imported payload, read whole (root first, leaves in order); `None` if `root` was
    /// never imported.
    pub fn payload(&self, root: &Cid) -> Result<Option<Payload>, StoreError> {
        let Some(root_bytes) = self.block(root)? else {
            return Ok(None);
        };
        let mut blocks = vec![(
            BlockRef {
                cid: *root,
                len: root_bytes.len() as u64,
            },
            root_bytes.clone(),
        )];
        for cid in root_links(&root_bytes)? {
            let bytes = self.block(&cid)?.ok_or(StoreError::MissingBlock(cid))?;
            blocks.push((
                BlockRef {
                    cid,
                    len: bytes.len() as u64,
                },
                bytes,
            ));
        }
        Ok(Some(Payload {
            root: *root,
            blocks,
        }))
    }
}

/// A payload in the store, served block by block ([`DealStore::served_payload`]).
pub struct StoredPayload {
    store: DealStore,
    refs: Vec<BlockRef>,
    root_bytes: Vec<u8>,
}

impl PayloadSource for StoredPayload {
    fn root(&self) -> Cid {
        self.refs[0].cid
    }

    fn refs(&self) -> Vec<BlockRef> {
        self.refs.clone()
    }

    fn block(&self, index: usize) -> Result<Cow<'_, [u8]>, String> {
        if index == 0 {
            return Ok(Cow::Borrowed(&self.root_bytes));
        }
        let r = self
            .refs
            .get(index)
            .ok_or_else(|| format!("no block {index} in payload {}", self.root()))?;
        match self.store.block(&r.cid) {
            Ok(Some(b)) => Ok(Cow::Owned(b)),
            Ok(None) => Err(format!("block {} is missing from the store", r.cid)),
            Err(e) => Err(format!("reading block {}: {e}", r.cid)),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ozkcp::fsm::client::ClientStatus;
    use ozkcp::fsm::provider::ProviderStatus;

    #[test]
    fn deals_survive_a_restart_with_their_pending_actions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ozkcp.redb");
        let (before, pending_step) = {
            let store = DealStore::open(&path).unwrap();
            let c = store
                .create_client_deal(ProofMode::Fraud, "provider-a", None)
                .unwrap();
            assert_eq!(c.actions, vec![ClientAction::SendProposal]);
            let s = store
                .step_client(c.deal.id, ClientEvent::ProposalSent)
                .unwrap();
            store.actions_done(c.deal.id, s.deal.step).unwrap();
            let s = store
                .step_client(c.deal.id, ClientEvent::DealAccepted { intervals: 3 })
                .unwrap();
            assert_eq!(s.deal.status_name(), "DealStatusAccepted");
            assert!(!s.actions.is_empty());
            let p = store
                .create_provider_deal(77, ProofMode::Zk, "client-b", None)
                .unwrap();
            store
                .step_provider(p.id, ProviderEvent::DealAccepted { intervals: 2 })
                .unwrap();
            (store.deals().unwrap(), s.deal.step)
        };
        let store = DealStore::open(&path).unwrap();
        let after = store.deals().unwrap();
        assert_eq!(after, before);
        assert_eq!(after.len(), 2);
        // The client deal's LockFunds was never confirmed: it is listed for resumption.
        let unfinished = store.unfinished().unwrap();
        assert_eq!(unfinished.len(), 2);
        let client = &after[0];
        assert!(
            matches!(&client.machine, DealMachine::Client(s) if s.status == ClientStatus::Accepted && s.intervals == 3)
        );
        assert!(!client.pending.is_empty());
        store.actions_done(client.id, pending_step - 1).unwrap(); // stale: no effect
        assert!(!store.deal(client.id).unwrap().unwrap().pending.is_empty());
        store.actions_done(client.id, pending_step).unwrap();
        assert!(store.deal(client.id).unwrap().unwrap().pending.is_empty());
        let provider = &after[1];
        assert!(
            matches!(&provider.machine, DealMachine::Provider(s) if s.status == ProviderStatus::Unsealing && s.deal_id == 77)
        );
        // Ids keep counting after a restart.
        let next = store
            .create_client_deal(ProofMode::Fraud, "provider-a", None)
            .unwrap();
        assert_eq!(next.deal.id, 3);
    }

    #[test]
    fn refused_events_and_cancel() {
        let dir = tempfile::tempdir().unwrap();
        let store = DealStore::open(&dir.path().join("db")).unwrap();
        let c = store
            .create_client_deal(ProofMode::Fraud, "p", None)
            .unwrap();
        let mut events = store.subscribe();
        let err = store
            .step_client(c.deal.id, ClientEvent::KeyAccepted)
            .unwrap_err();
        assert!(matches!(err, StoreError::Transition { .. }), "{err}");
        assert_eq!(store.deal(c.deal.id).unwrap().unwrap(), c.deal);
        assert!(matches!(
            store.step_provider(c.deal.id, ProviderEvent::Unsealed),
            Err(StoreError::WrongSide { .. })
        ));
        let cancelled = store.cancel(c.deal.id).unwrap();
        assert_eq!(cancelled.status_name(), "DealStatusCancelling");
        let ev = events.try_recv().unwrap();
        assert_eq!(
            (ev.event.as_str(), ev.from.as_str()),
            ("Cancel", "DealStatusNew")
        );
        assert!(matches!(store.cancel(99), Err(StoreError::NoDeal(99))));
        let p = store
            .create_provider_deal(5, ProofMode::Fraud, "c", None)
            .unwrap();
        let p = store.cancel(p.id).unwrap();
        assert_eq!(p.status_name(), "DealStatusErrored");
        assert!(matches!(
            store.cancel(p.id),
            Err(StoreError::Transition { .. })
        ));
    }

    #[test]
    fn imports_reassemble_their_payload() {
        let dir = tempfile::tempdir().unwrap();
        let store = DealStore::open(&dir.path().join("db")).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let payload = Payload::from_bytes(&data, 4096).unwrap();
        let rec = store.put_import(&payload, 10_000, 4096, "/tmp/x").unwrap();
        assert_eq!(rec.blocks, 4);
        assert_eq!(store.imports().unwrap(), vec![rec]);
        let back = store.payload(&payload.root).unwrap().unwrap();
        assert_eq!(back, payload);
        let leaves: Vec<Vec<u8>> = back.blocks.into_iter().map(|(_, b)| b).collect();
        assert_eq!(Payload::leaf_bytes(&leaves), data);
        assert!(store.payload(&payload.blocks[1].0.cid).is_err()); // a raw leaf is no root
    }
}
