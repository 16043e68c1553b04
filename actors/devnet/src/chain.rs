//! The devnet itself: genesis, the mempool checks, one epoch per push, and the persisted head.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use cid::Cid;
use fvm::call_manager::DefaultCallManager;
use fvm::engine::EnginePool;
use fvm::executor::{ApplyKind, ApplyRet, DefaultExecutor, Executor};
use fvm::machine::{DefaultMachine, Manifest, NetworkConfig};
use fvm::state_tree::{ActorState, StateTree};
use fvm::DefaultKernel;
use fvm_integration_tests::dummy::DummyExterns;
use fvm_integration_tests::tester::Tester;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::{Deserialize_tuple, Serialize_tuple};
use fvm_ipld_encoding::{CborStore, RawBytes};
use fvm_shared::address::{Address, Protocol};
use fvm_shared::econ::TokenAmount;
use fvm_shared::error::ExitCode;
use fvm_shared::message::Message;
use fvm_shared::state::StateTreeVersion;
use fvm_shared::version::NetworkVersion;
use fvm_shared::{ActorID, IPLD_RAW};
use multihash_codetable::{Code, MultihashDigest};
use num_traits::Zero;
use serde::de::DeserializeOwned;

use crate::error::{fvm_err, DevnetError};
use crate::store::{ChainStore, Staged};
use crate::wallet::{self, blake2b_256, cbor_cid, message_cid, Key, SignedMessage};

type DevnetMachine = DefaultMachine<Staged, DummyExterns>;
type DevnetExecutor = DefaultExecutor<DefaultKernel<DefaultCallManager<DevnetMachine>>>;

/// The system actor: sender of the implicit constructor call when installing an actor.
const SYSTEM_ACTOR_ID: ActorID = 0;
/// Largest message accepted, as Lotus's mempool (64 KiB).
pub const MAX_MESSAGE_SIZE: usize = 64 << 10;
/// Block gas limit; a message may ask for at most this much gas.
pub const BLOCK_GAS_LIMIT: u64 = 10_000_000_000;
/// The network version the devnet runs.
pub const NETWORK_VERSION: NetworkVersion = NetworkVersion::V21;
/// Seconds between epochs (for timestamps only: epochs advance per push, not per clock).
pub const EPOCH_DURATION_SECONDS: u64 = 30;

/// What the chain starts with.
#[derive(Clone, Debug)]
pub struct GenesisConfig {
    /// Number of funded secp256k1 accounts.
    pub accounts: usize,
    /// Balance of each account.
    pub balance: TokenAmount,
    /// Seed of the accounts' keys: the same seed gives the same keys (devnet only, not secret).
    pub seed: u64,
}

impl Default for GenesisConfig {
    /// Four accounts with 1,000,000 FIL each, seed 0.
    fn default() -> Self {
        GenesisConfig {
            accounts: 4,
            balance: TokenAmount::from_whole(1_000_000),
            seed: 0,
        }
    }
}

/// A funded account made at genesis, with its private key (devnet only).
#[derive(Clone, Debug)]
pub struct GenesisAccount {
    /// Its actor id.
    pub id: ActorID,
    /// Its key; `key.address` is its f1 address.
    pub key: Key,
}

/// A tipset, its DAG-CBOR record and its header block `(cid, bytes)`.
type SealedTipset = (Tipset, Vec<u8>, (Cid, Vec<u8>));

/// The persisted head of the chain.
#[derive(Clone, Debug, Serialize_tuple, Deserialize_tuple)]
struct HeadRecord {
    state_root: Cid,
    epoch: u64,
    tipset: Cid,
    manifest: Cid,
    genesis_time: u64,
    /// (actor id, secret key bytes) of the genesis accounts.
    accounts: Vec<(ActorID, RawBytes)>,
}

/// A tipset of the devnet: one block holding the messages of one push.
#[derive(Clone, Debug, PartialEq, Serialize_tuple, Deserialize_tuple)]
pub struct Tipset {
    /// The epoch.
    pub epoch: u64,
    /// CID of the block header (the tipset key's only CID).
    pub block: Cid,
    /// The parent block (None at genesis).
    pub parent: Option<Cid>,
    /// State root before this tipset's messages.
    pub parent_state_root: Cid,
    /// State root after them.
    pub state_root: Cid,
    /// Signed CIDs of the messages, in execution order.
    pub messages: Vec<Cid>,
    /// Unix seconds.
    pub timestamp: u64,
}

/// Where and how a message executed (Lotus `MsgLookup` + receipt).
#[derive(Clone, Debug, PartialEq, Serialize_tuple, Deserialize_tuple)]
pub struct Lookup {
    /// CID of the signed message (what `push` returned).
    pub message: Cid,
    /// CID of the unsigned message.
    pub unsigned: Cid,
    /// Exit code of the call.
    pub exit_code: ExitCode,
    /// Return value (CBOR of the method's return, empty if none).
    pub return_data: RawBytes,
    /// Gas used.
    pub gas_used: u64,
    /// Epoch of the tipset that executed it.
    pub epoch: u64,
    /// That tipset's block CID.
    pub tipset: Cid,
    /// FVM failure info (backtrace) for a failed call.
    pub error: Option<String>,
}

/// The outcome of a simulated call ([`Devnet::simulate`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CallResult {
    /// Exit code.
    pub exit_code: ExitCode,
    /// Return value (CBOR).
    pub return_data: RawBytes,
    /// Gas used.
    pub gas_used: u64,
    /// FVM failure info for a failed call.
    pub error: Option<String>,
    /// Gas by charge name, largest first (only from [`Devnet::simulate_traced`]).
    pub gas_by_charge: Vec<(String, u64)>,
}

/// An actor as the state tree holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ActorInfo {
    /// Its actor id.
    pub id: ActorID,
    /// Code CID.
    pub code: Cid,
    /// State root.
    pub head: Cid,
    /// Next nonce (accounts) / sequence.
    pub nonce: u64,
    /// Balance.
    pub balance: TokenAmount,
}

/// The result of installing an actor.
#[derive(Clone, Debug, PartialEq)]
pub struct InstalledActor {
    /// Its ID address (`t0…`).
    pub id_address: Address,
    /// Its robust actor address (`t2…`).
    pub robust_address: Address,
    /// CID of its Wasm code (raw, blake2b-256).
    pub code: Cid,
    /// Epoch of the install.
    pub epoch: u64,
}

/// A local Filecoin devnet on the real ref-fvm engine, persisted in a directory.
///
/// Every [`push`](Devnet::push) (or [`push_batch`](Devnet::push_batch)) executes in a new
/// epoch at once, so a receipt exists when it returns. Thread-safe: calls are serialised.
pub struct Devnet {
    dir: PathBuf,
    store: ChainStore,
    engine: EnginePool,
    network: NetworkConfig,
    head: Mutex<HeadRecord>,
    epochs: tokio::sync::watch::Sender<u64>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Deterministic devnet keys: blake2b-256("ozkcp-devnet-genesis" ‖ seed ‖ i ‖ attempt).
fn genesis_key(seed: u64, i: usize) -> Key {
    (0u32..)
        .find_map(|attempt| {
            let mut pre = b"ozkcp-devnet-genesis".to_vec();
            pre.extend_from_slice(&seed.to_be_bytes());
            pre.extend_from_slice(&(i as u64).to_be_bytes());
            pre.extend_from_slice(&attempt.to_be_bytes());
            Key::from_bytes(&blake2b_256(&pre)).ok()
        })
        .expect("some attempt gives a valid key")
}

impl Devnet {
    /// Opens the devnet in `dir`: reopens and continues from the stored head if there is one,
    /// otherwise creates the directory and a genesis from `genesis` (ignored when reopening).
    pub fn open(dir: impl AsRef<Path>, genesis: GenesisConfig) -> Result<Self, DevnetError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let store = ChainStore::open(&dir.join("chain.redb"))?;
        let mut network = NetworkConfig::new(NETWORK_VERSION);
        let head = match store.meta("head")? {
            Some(bytes) => fvm_ipld_encoding::from_slice::<HeadRecord>(&bytes)?,
            None => Self::genesis(&store, &genesis)?,
        };
        network.override_actors(head.manifest);
        let engine = EnginePool::new((&network).into()).map_err(fvm_err)?;
        let (epochs, _) = tokio::sync::watch::channel(head.epoch);
        Ok(Devnet {
            dir,
            store,
            engine,
            network,
            head: Mutex::new(head),
            epochs,
        })
    }

    fn genesis(store: &ChainStore, cfg: &GenesisConfig) -> Result<HeadRecord, DevnetError> {
        let bs = Staged::new(store.clone());
        // No builtin-actors bundle: a v1 manifest of the FVM's dummy code CIDs. Nothing may call a
        // builtin actor (no Init.Exec, no sends that would create accounts).
        let codes: Vec<(String, Cid)> = Manifest::DUMMY_CODES
            .iter()
            .map(|(n, c)| (n.to_string(), *c))
            .collect();
        let data = bs.put_cbor(&codes, Code::Blake2b256).map_err(fvm_err)?;
        let manifest = bs
            .put_cbor(&(1u32, data), Code::Blake2b256)
            .map_err(fvm_err)?;
        let mut tester =
            Tester::<_, DummyExterns>::new(NETWORK_VERSION, StateTreeVersion::V5, manifest, bs)
                .map_err(fvm_err)?;
        let mut accounts = Vec::with_capacity(cfg.accounts);
        for i in 0..cfg.accounts {
            let key = genesis_key(cfg.seed, i);
            let secret = k256::SecretKey::from_slice(&key.secret_bytes()).map_err(fvm_err)?;
            let (id, _) = tester
                .make_secp256k1_account(secret, cfg.balance.clone())
                .map_err(fvm_err)?;
            accounts.push((id, RawBytes::new(key.secret_bytes().to_vec())));
        }
        let mut tree = tester.state_tree.take().expect("tester has a state tree");
        let state_root = tree.flush().map_err(fvm_err)?;
        let mut blocks = tree.into_store().take();
        let genesis_time = now();
        let tipset = Tipset {
            epoch: 0,
            block: Cid::default(),
            parent: None,
            parent_state_root: state_root,
            state_root,
            messages: vec![],
            timestamp: genesis_time,
        };
        let (tipset, tipset_bytes, header) = Self::seal_tipset(tipset)?;
        let head = HeadRecord {
            state_root,
            epoch: 0,
            tipset: tipset.block,
            manifest,
            genesis_time,
            accounts,
        };
        store.commit_epoch(
            0,
            &tipset_bytes,
            &{
                blocks.push(header);
                blocks
            },
            &[],
            &fvm_ipld_encoding::to_vec(&head)?,
        )?;
        Ok(head)
    }

    /// Names the tipset by the CID of its header; returns it, its record and the header block.
    fn seal_tipset(mut ts: Tipset) -> Result<SealedTipset, DevnetError> {
        let header = fvm_ipld_encoding::to_vec(&(
            ts.epoch,
            ts.parent,
            ts.parent_state_root,
            ts.state_root,
            &ts.messages,
            ts.timestamp,
        ))?;
        ts.block = cbor_cid(&header);
        let bytes = fvm_ipld_encoding::to_vec(&ts)?;
        let block = (ts.block, header);
        Ok((ts, bytes, block))
    }

    /// The directory holding the chain.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blockstore, to load IPLD data (e.g. an actor's HAMTs) of the current state.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// The genesis accounts with their keys.
    pub fn accounts(&self) -> Vec<GenesisAccount> {
        let head = self.head.lock().expect("head lock");
        head.accounts
            .iter()
            .map(|(id, sk)| GenesisAccount {
                id: *id,
                key: Key::from_bytes(sk.bytes()).expect("stored keys are valid"),
            })
            .collect()
    }

    /// Current epoch.
    pub fn epoch(&self) -> u64 {
        self.head.lock().expect("head lock").epoch
    }

    /// Current state root.
    pub fn state_root(&self) -> Cid {
        self.head.lock().expect("head lock").state_root
    }

    /// The head tipset.
    pub fn head(&self) -> Result<Tipset, DevnetError> {
        let epoch = self.epoch();
        self.tipset(epoch)?
            .ok_or_else(|| DevnetError::Store(format!("missing tipset {epoch}")))
    }

    /// The tipset at `epoch`, if the chain has reached it.
    pub fn tipset(&self, epoch: u64) -> Result<Option<Tipset>, DevnetError> {
        self.store
            .tipset(epoch)?
            .map(|b| fvm_ipld_encoding::from_slice(&b).map_err(Into::into))
            .transpose()
    }

    /// A receiver of the head epoch, updated after every epoch (for waiters).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.epochs.subscribe()
    }

    fn tree(&self, root: &Cid) -> Result<StateTree<&ChainStore>, DevnetError> {
        StateTree::new_from_root(&self.store, root).map_err(fvm_err)
    }

    /// The actor at `addr` in the current state, if any.
    pub fn actor(&self, addr: &Address) -> Result<Option<ActorInfo>, DevnetError> {
        let tree = self.tree(&self.state_root())?;
        let Some(id) = tree.lookup_id(addr).map_err(fvm_err)? else {
            return Ok(None);
        };
        Ok(tree.get_actor(id).map_err(fvm_err)?.map(|a| ActorInfo {
            id,
            code: a.code,
            head: a.state,
            nonce: a.sequence,
            balance: a.balance,
        }))
    }

    /// Balance of `addr` (zero if there is no such actor, as Lotus's `WalletBalance`).
    pub fn balance(&self, addr: &Address) -> Result<TokenAmount, DevnetError> {
        Ok(self
            .actor(addr)?
            .map(|a| a.balance)
            .unwrap_or_else(TokenAmount::zero))
    }

    /// Next nonce of `addr` (zero if there is no such actor).
    pub fn nonce(&self, addr: &Address) -> Result<u64, DevnetError> {
        Ok(self.actor(addr)?.map(|a| a.nonce).unwrap_or(0))
    }

    /// The raw CBOR state root block of the actor at `addr`.
    pub fn read_state_raw(&self, addr: &Address) -> Result<Vec<u8>, DevnetError> {
        let actor = self.actor(addr)?.ok_or(DevnetError::ActorNotFound(*addr))?;
        self.store
            .get(&actor.head)
            .map_err(fvm_err)?
            .ok_or_else(|| DevnetError::Store(format!("missing state block {}", actor.head)))
    }

    /// The state of the actor at `addr`, decoded as `T`.
    pub fn read_state<T: DeserializeOwned>(&self, addr: &Address) -> Result<T, DevnetError> {
        Ok(fvm_ipld_encoding::from_slice(&self.read_state_raw(addr)?)?)
    }

    /// The receipt of a message, by signed or unsigned CID, if it executed.
    pub fn lookup(&self, cid: &Cid) -> Result<Option<Lookup>, DevnetError> {
        self.store
            .receipt(cid)?
            .map(|b| fvm_ipld_encoding::from_slice(&b).map_err(Into::into))
            .transpose()
    }

    /// The receipt of a message; an error if it has not executed. Pushes execute at once, so
    /// this never needs to block in-process (the RPC's `StateWaitMsg` does wait).
    pub fn wait(&self, cid: &Cid) -> Result<Lookup, DevnetError> {
        self.lookup(cid)?.ok_or(DevnetError::MessageNotFound(*cid))
    }

    /// Checks and executes one signed message in a new epoch; returns its signed CID.
    pub fn push(&self, msg: SignedMessage) -> Result<Cid, DevnetError> {
        self.push_batch(vec![msg])?
            .pop()
            .expect("one message in, one result out")
    }

    /// Checks every message like a mempool (size, signature, nonce in order per sender, gas),
    /// then executes the accepted ones together in one new epoch. Returns, per message, its
    /// signed CID or why it was rejected. No epoch is made if none is accepted.
    pub fn push_batch(
        &self,
        msgs: Vec<SignedMessage>,
    ) -> Result<Vec<Result<Cid, DevnetError>>, DevnetError> {
        let mut head = self.head.lock().expect("head lock");
        let tree = self.tree(&head.state_root)?;
        let mut next_nonce: std::collections::HashMap<ActorID, u64> = Default::default();
        let mut results = Vec::with_capacity(msgs.len());
        let mut accepted = Vec::new();
        for sm in msgs {
            match Self::check(&tree, &mut next_nonce, &sm) {
                Ok(len) => {
                    let cid = sm.cid();
                    results.push(Ok(cid));
                    accepted.push((sm, cid, len));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        drop(tree);
        if accepted.is_empty() {
            return Ok(results);
        }
        let epoch = head.epoch + 1;
        let timestamp = head.genesis_time + epoch * EPOCH_DURATION_SECONDS;
        let staged = Staged::new(self.store.clone());
        let mut exec = self.executor(epoch, timestamp, head.state_root, staged.clone())?;
        let mut rets = Vec::with_capacity(accepted.len());
        for (sm, _, len) in &accepted {
            let ret = exec
                .execute_message(sm.message.clone(), ApplyKind::Explicit, *len)
                .map_err(fvm_err)?;
            rets.push(ret);
        }
        let state_root = exec.flush().map_err(fvm_err)?;
        drop(exec);
        let tipset = Tipset {
            epoch,
            block: Cid::default(),
            parent: Some(head.tipset),
            parent_state_root: head.state_root,
            state_root,
            messages: accepted.iter().map(|(_, c, _)| *c).collect(),
            timestamp,
        };
        let (tipset, tipset_bytes, header) = Self::seal_tipset(tipset)?;
        let mut receipts = Vec::with_capacity(accepted.len() * 2);
        let mut blocks = staged.take();
        blocks.push(header);
        for ((sm, cid, _), ret) in accepted.iter().zip(rets) {
            blocks.push((*cid, sm.to_bytes()));
            let unsigned = message_cid(&sm.message);
            let rec = fvm_ipld_encoding::to_vec(&Self::lookup_of(
                *cid,
                unsigned,
                &ret,
                epoch,
                tipset.block,
            ))?;
            receipts.push((cid.to_bytes(), rec.clone()));
            receipts.push((unsigned.to_bytes(), rec));
        }
        let new_head = HeadRecord {
            state_root,
            epoch,
            tipset: tipset.block,
            ..head.clone()
        };
        self.store.commit_epoch(
            epoch,
            &tipset_bytes,
            &blocks,
            &receipts,
            &fvm_ipld_encoding::to_vec(&new_head)?,
        )?;
        *head = new_head;
        self.epochs.send_replace(epoch);
        Ok(results)
    }

    /// Makes `n` empty epochs (no messages, same state), so deadlines pass without traffic, as
    /// time passes on a real chain. Returns the new head epoch.
    pub fn advance(&self, n: u64) -> Result<u64, DevnetError> {
        let mut head = self.head.lock().expect("head lock");
        for _ in 0..n {
            let epoch = head.epoch + 1;
            let timestamp = head.genesis_time + epoch * EPOCH_DURATION_SECONDS;
            let tipset = Tipset {
                epoch,
                block: Cid::default(),
                parent: Some(head.tipset),
                parent_state_root: head.state_root,
                state_root: head.state_root,
                messages: Vec::new(),
                timestamp,
            };
            let (tipset, tipset_bytes, header) = Self::seal_tipset(tipset)?;
            let new_head = HeadRecord {
                epoch,
                tipset: tipset.block,
                ..head.clone()
            };
            self.store.commit_epoch(
                epoch,
                &tipset_bytes,
                &[header],
                &[],
                &fvm_ipld_encoding::to_vec(&new_head)?,
            )?;
            *head = new_head;
        }
        self.epochs.send_replace(head.epoch);
        Ok(head.epoch)
    }

    fn lookup_of(message: Cid, unsigned: Cid, ret: &ApplyRet, epoch: u64, tipset: Cid) -> Lookup {
        Lookup {
            message,
            unsigned,
            exit_code: ret.msg_receipt.exit_code,
            return_data: ret.msg_receipt.return_data.clone(),
            gas_used: ret.msg_receipt.gas_used,
            epoch,
            tipset,
            error: ret
                .failure_info
                .as_ref()
                .filter(|_| !ret.msg_receipt.exit_code.is_success())
                .map(|f| f.to_string()),
        }
    }

    /// Mempool checks; returns the message's length on the wire.
    fn check(
        tree: &StateTree<&ChainStore>,
        next_nonce: &mut std::collections::HashMap<ActorID, u64>,
        sm: &SignedMessage,
    ) -> Result<usize, DevnetError> {
        let m = &sm.message;
        let len = sm.to_bytes().len();
        if len > MAX_MESSAGE_SIZE {
            return Err(DevnetError::Rejected(format!(
                "message is {len} bytes, the limit is {MAX_MESSAGE_SIZE}"
            )));
        }
        if m.version != 0 {
            return Err(DevnetError::Rejected(format!("version {} != 0", m.version)));
        }
        if m.gas_limit == 0 || m.gas_limit > BLOCK_GAS_LIMIT {
            return Err(DevnetError::Rejected(format!(
                "gas limit {} not in 1..={BLOCK_GAS_LIMIT}",
                m.gas_limit
            )));
        }
        if m.value.is_negative() || m.gas_fee_cap.is_negative() {
            return Err(DevnetError::Rejected("negative value or fee cap".into()));
        }
        if !m.gas_premium.is_zero() {
            // The premium goes to the reward actor, which this devnet does not have.
            return Err(DevnetError::Rejected(
                "gas premium must be 0 on the devnet".into(),
            ));
        }
        let id = tree
            .lookup_id(&m.from)
            .map_err(fvm_err)?
            .ok_or(DevnetError::UnknownSender(m.from))?;
        let actor = tree
            .get_actor(id)
            .map_err(fvm_err)?
            .ok_or(DevnetError::UnknownSender(m.from))?;
        // The key address that must have signed: From itself, or the account's key address.
        let signer = match m.from.protocol() {
            Protocol::Secp256k1 => m.from,
            _ => {
                let st: fvm::account_actor::State = tree
                    .store()
                    .get_cbor(&actor.state)
                    .ok()
                    .flatten()
                    .ok_or(DevnetError::UnknownSender(m.from))?;
                st.address
            }
        };
        wallet::verify(&message_cid(m).to_bytes(), &sm.signature, &signer)?;
        let expected = next_nonce.get(&id).copied().unwrap_or(actor.sequence);
        if m.sequence != expected {
            return Err(DevnetError::WrongNonce {
                from: m.from,
                expected,
                got: m.sequence,
            });
        }
        let cost = &m.value + &m.gas_fee_cap * m.gas_limit;
        if actor.balance < cost {
            return Err(DevnetError::Rejected(format!(
                "balance {} below value + max gas cost {cost}",
                actor.balance
            )));
        }
        next_nonce.insert(id, expected + 1);
        Ok(len)
    }

    fn executor(
        &self,
        epoch: u64,
        timestamp: u64,
        root: Cid,
        store: Staged,
    ) -> Result<DevnetExecutor, DevnetError> {
        let mc = self.network.for_epoch(epoch as i64, timestamp, root);
        // Base fee 0 (machine default): no gas is paid, so no reward actor is needed.
        let machine = DefaultMachine::new(&mc, store, DummyExterns).map_err(fvm_err)?;
        DevnetExecutor::new(self.engine.clone(), machine).map_err(fvm_err)
    }

    /// Executes `msg` on top of the head and throws the result away (Lotus `StateCall`): no
    /// signature is needed, the nonce is set to the sender's next one, fees to 0, and a zero gas
    /// limit means the block gas limit. For read-only getters and gas estimation.
    pub fn simulate(&self, msg: Message) -> Result<CallResult, DevnetError> {
        self.simulate_inner(msg, false)
    }

    /// Like [`simulate`](Devnet::simulate), with the gas charges summed by charge name (e.g.
    /// `OnChainMessage`, `wasm_exec`, `OnBlockOpen`, `OnSyscall`…), largest first, in
    /// [`CallResult::gas_by_charge`]. For the gas tables of the docs.
    pub fn simulate_traced(&self, msg: Message) -> Result<CallResult, DevnetError> {
        self.simulate_inner(msg, true)
    }

    fn simulate_inner(&self, mut msg: Message, trace: bool) -> Result<CallResult, DevnetError> {
        let (root, epoch, genesis_time) = {
            let head = self.head.lock().expect("head lock");
            (head.state_root, head.epoch, head.genesis_time)
        };
        let tree = self.tree(&root)?;
        let sender = tree
            .lookup_id(&msg.from)
            .map_err(fvm_err)?
            .and_then(|id| tree.get_actor(id).ok().flatten())
            .ok_or(DevnetError::UnknownSender(msg.from))?;
        drop(tree);
        msg.sequence = sender.sequence;
        msg.gas_fee_cap = TokenAmount::zero();
        msg.gas_premium = TokenAmount::zero();
        if msg.gas_limit == 0 {
            msg.gas_limit = BLOCK_GAS_LIMIT;
        }
        let len = fvm_ipld_encoding::to_vec(&msg)?.len() + 67; // + a secp signature
        let epoch = epoch + 1;
        let timestamp = genesis_time + epoch * EPOCH_DURATION_SECONDS;
        let mut mc = self.network.for_epoch(epoch as i64, timestamp, root);
        if trace {
            mc.enable_tracing();
        }
        let machine = DefaultMachine::new(&mc, Staged::new(self.store.clone()), DummyExterns)
            .map_err(fvm_err)?;
        let mut exec = DevnetExecutor::new(self.engine.clone(), machine).map_err(fvm_err)?;
        let ret = exec
            .execute_message(msg, ApplyKind::Explicit, len)
            .map_err(fvm_err)?;
        let mut by_charge: std::collections::BTreeMap<String, u64> = Default::default();
        for ev in &ret.exec_trace {
            if let fvm::trace::ExecutionEvent::GasCharge(c) = ev {
                *by_charge.entry(c.name.to_string()).or_default() += c.total().round_up();
            }
        }
        let mut gas_by_charge: Vec<(String, u64)> = by_charge.into_iter().collect();
        gas_by_charge.sort_by_key(|c| std::cmp::Reverse(c.1));
        Ok(CallResult {
            gas_by_charge,
            exit_code: ret.msg_receipt.exit_code,
            return_data: ret.msg_receipt.return_data,
            gas_used: ret.msg_receipt.gas_used,
            error: ret
                .failure_info
                .filter(|_| !ret.msg_receipt.exit_code.is_success())
                .map(|f| f.to_string()),
        })
    }

    /// A gas limit for `msg`: the gas a simulation uses, plus 25% (as Lotus overestimates).
    pub fn estimate_gas(&self, msg: &Message) -> Result<u64, DevnetError> {
        let mut m = msg.clone();
        m.gas_limit = 0;
        let r = self.simulate(m)?;
        if !r.exit_code.is_success() {
            return Err(DevnetError::Rejected(format!(
                "message would fail with exit code {}: {}",
                r.exit_code.value(),
                r.error.unwrap_or_default()
            )));
        }
        Ok((r.gas_used + r.gas_used / 4).min(BLOCK_GAS_LIMIT))
    }

    /// Installs an actor from its Wasm code in a new epoch: stores the code, creates the actor
    /// (robust `t2` address and an id) and calls its constructor (method 1) with
    /// `constructor_params` (CBOR, may be empty) from the system actor. Nothing is kept if the
    /// constructor fails.
    pub fn install_actor(
        &self,
        wasm: &[u8],
        constructor_params: RawBytes,
    ) -> Result<InstalledActor, DevnetError> {
        let mut head = self.head.lock().expect("head lock");
        let epoch = head.epoch + 1;
        let timestamp = head.genesis_time + epoch * EPOCH_DURATION_SECONDS;
        let code = Cid::new_v1(IPLD_RAW, Code::Blake2b256.digest(wasm));
        self.store.put_keyed(&code, wasm).map_err(fvm_err)?;
        // Validate and compile now, so a broken module fails here and not at its first call.
        self.engine
            .acquire()
            .preload(&code, &self.store)
            .map_err(|e| DevnetError::Invalid(format!("wasm module: {e:#}")))?;

        let bs = Staged::new(self.store.clone());
        let mut tree = StateTree::new_from_root(&bs, &head.state_root).map_err(fvm_err)?;
        let mut seed = code.to_bytes();
        seed.extend_from_slice(&epoch.to_be_bytes());
        let robust_address = Address::new_actor(&seed);
        let id = tree
            .register_new_address(&robust_address)
            .map_err(fvm_err)?;
        let empty = tree
            .store()
            .put_cbor(&[(); 0], Code::Blake2b256)
            .map_err(fvm_err)?;
        tree.set_actor(
            id,
            ActorState::new(code, empty, TokenAmount::zero(), 0, None),
        );
        let root = tree.flush().map_err(fvm_err)?;
        drop(tree);

        let ctor = Message {
            version: 0,
            from: Address::new_id(SYSTEM_ACTOR_ID),
            to: Address::new_id(id),
            sequence: 0,
            value: TokenAmount::zero(),
            method_num: 1,
            params: constructor_params,
            gas_limit: BLOCK_GAS_LIMIT,
            gas_fee_cap: TokenAmount::zero(),
            gas_premium: TokenAmount::zero(),
        };
        let ctor_cid = message_cid(&ctor);
        let mut exec = self.executor(epoch, timestamp, root, bs.clone())?;
        let ret = exec
            .execute_message(ctor, ApplyKind::Implicit, 0)
            .map_err(fvm_err)?;
        if !ret.msg_receipt.exit_code.is_success() {
            return Err(DevnetError::InstallFailed {
                code: ret.msg_receipt.exit_code.value(),
                message: ret.failure_info.map(|f| f.to_string()).unwrap_or_default(),
            });
        }
        let state_root = exec.flush().map_err(fvm_err)?;
        drop(exec);
        let tipset = Tipset {
            epoch,
            block: Cid::default(),
            parent: Some(head.tipset),
            parent_state_root: head.state_root,
            state_root,
            messages: vec![ctor_cid],
            timestamp,
        };
        let (tipset, tipset_bytes, header) = Self::seal_tipset(tipset)?;
        let rec = fvm_ipld_encoding::to_vec(&Self::lookup_of(
            ctor_cid,
            ctor_cid,
            &ret,
            epoch,
            tipset.block,
        ))?;
        let new_head = HeadRecord {
            state_root,
            epoch,
            tipset: tipset.block,
            ..head.clone()
        };
        self.store.commit_epoch(
            epoch,
            &tipset_bytes,
            &{
                let mut blocks = bs.take();
                blocks.push(header);
                blocks
            },
            &[(ctor_cid.to_bytes(), rec)],
            &fvm_ipld_encoding::to_vec(&new_head)?,
        )?;
        *head = new_head;
        self.epochs.send_replace(epoch);
        Ok(InstalledActor {
            id_address: Address::new_id(id),
            robust_address,
            code,
            epoch,
        })
    }

    /// A message from `from` with the devnet's defaults (gas limit 1e9, fees 0), to be signed.
    pub fn message(
        &self,
        from: &Key,
        to: Address,
        method_num: u64,
        params: RawBytes,
        value: TokenAmount,
    ) -> Result<Message, DevnetError> {
        Ok(Message {
            version: 0,
            from: from.address,
            to,
            sequence: self.nonce(&from.address)?,
            value,
            method_num,
            params,
            gas_limit: 1_000_000_000,
            gas_fee_cap: TokenAmount::zero(),
            gas_premium: TokenAmount::zero(),
        })
    }

    /// Builds, signs, pushes a message from `from`, and returns its receipt.
    pub fn call(
        &self,
        from: &Key,
        to: Address,
        method_num: u64,
        params: RawBytes,
        value: TokenAmount,
    ) -> Result<Lookup, DevnetError> {
        let msg = self.message(from, to, method_num, params, value)?;
        let cid = self.push(from.sign_message(msg))?;
        self.wait(&cid)
    }
}
