//! # ozkcp judge / retrieval actor
//!
//! One FVM user actor that is both escrow and judge for ozkcp retrieval deals (DESIGN §2).
//! This crate follows the builtin-actors split: `lib.rs` holds the methods, [`state`] the state
//! and its invariants, [`types`] the method numbers, params, returns and exit codes.
//!
//! Built for `wasm32-unknown-unknown` with the `fil-actor` feature (see `actors/devnet/build.rs`,
//! which does it for the devnet); without that feature the crate is a host library that clients
//! and tests use to encode params and read state.
//!
//! ## Escrow model
//! Every address has one escrow [`Account`](types::Account). `AddBalance` credits the value
//! attached to the message to the caller's account, whatever its role: a client's deposit and a
//! provider's collateral are both escrow balances. A client then `LockFunds` for a (provider,
//! deal id): the locked part stays the client's but can only be spent on that deal, so one
//! deposit serves many providers without double spending. `Withdraw` pays out free (unlocked)
//! funds only.
//!
//! Methods (FRC-42 numbers in [`types::method`]): `Constructor`, `AddBalance`, `LockFunds`,
//! `Withdraw`, `GetAccount`, `GetLock`.
//! TODO(plugin): `RedeemVoucher` (stores revealed keys), `Dispute` (each evidence kind), `Settle`,
//! `RegisterVerifyingKey`, and provider collateral locks at deal acceptance.

#![warn(missing_docs)]

pub mod state;
pub mod types;

pub use state::{State, StateError};
pub use types::{exit, method};

// Only in the Wasm build: on the host (even with `--all-features`) there are no syscalls to link.
#[cfg(all(feature = "fil-actor", target_arch = "wasm32"))]
mod actor {
    use cid::Cid;
    use fvm_ipld_blockstore::{Block, Blockstore};
    use fvm_ipld_encoding::ipld_block::IpldBlock;
    use fvm_ipld_encoding::{CBOR, DAG_CBOR};
    use fvm_sdk as sdk;
    use fvm_shared::address::Address;
    use fvm_shared::error::ExitCode;
    use fvm_shared::sys::SendFlags;
    use fvm_shared::{ActorID, METHOD_SEND};
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use crate::state::{State, StateError};
    use crate::types::*;

    /// Multicodec of blake2b-256, the hash of every state block.
    const BLAKE2B_256: u64 = 0xb220;

    /// The system actor (the devnet installs the judge through an implicit message from it).
    const SYSTEM_ACTOR_ID: ActorID = 0;
    /// The init actor (creates actors on real networks).
    const INIT_ACTOR_ID: ActorID = 1;

    /// A method's failure: exit code and message.
    struct ActorError {
        code: ExitCode,
        msg: String,
    }

    impl ActorError {
        fn new(code: ExitCode, msg: impl Into<String>) -> Self {
            ActorError {
                code,
                msg: msg.into(),
            }
        }
    }

    impl From<StateError> for ActorError {
        fn from(e: StateError) -> Self {
            ActorError::new(e.exit_code(), e.to_string())
        }
    }

    type MethodResult = Result<Option<IpldBlock>, ActorError>;

    /// Blockstore over the FVM's IPLD syscalls.
    struct Sdk;

    impl Blockstore for Sdk {
        fn get(&self, k: &Cid) -> anyhow::Result<Option<Vec<u8>>> {
            // The kernel only hands out reachable blocks; a missing one is an error there.
            Ok(Some(sdk::ipld::get(k)?))
        }

        fn put_keyed(&self, k: &Cid, block: &[u8]) -> anyhow::Result<()> {
            let got = sdk::ipld::put(k.hash().code(), k.hash().size() as u32, k.codec(), block)?;
            anyhow::ensure!(got == *k, "put_keyed: CID mismatch");
            Ok(())
        }

        /// Hashes through the syscall (cheaper in gas and code than hashing in Wasm).
        fn put<D>(&self, code: multihash_codetable::Code, block: &Block<D>) -> anyhow::Result<Cid>
        where
            D: AsRef<[u8]>,
        {
            Ok(sdk::ipld::put(
                code.into(),
                32,
                block.codec,
                block.data.as_ref(),
            )?)
        }
    }

    fn params<T: DeserializeOwned>(id: u32) -> Result<T, ActorError> {
        let blk = sdk::message::params_raw(id)
            .map_err(|e| ActorError::new(exit::SERIALIZATION, format!("params: {e}")))?
            .ok_or_else(|| ActorError::new(exit::SERIALIZATION, "params required"))?;
        if blk.codec != CBOR && blk.codec != DAG_CBOR {
            return Err(ActorError::new(exit::SERIALIZATION, "params must be CBOR"));
        }
        fvm_ipld_encoding::from_slice(&blk.data)
            .map_err(|e| ActorError::new(exit::SERIALIZATION, format!("bad params: {e}")))
    }

    fn ret<T: Serialize>(v: &T) -> MethodResult {
        IpldBlock::serialize_dag_cbor(v)
            .map_err(|e| ActorError::new(exit::ASSERTION_FAILED, format!("return: {e}")))
    }

    fn load() -> Result<State, ActorError> {
        let root = sdk::sself::root()
            .map_err(|e| ActorError::new(exit::ASSERTION_FAILED, format!("root: {e:?}")))?;
        let bytes = sdk::ipld::get(&root)
            .map_err(|e| ActorError::new(exit::ASSERTION_FAILED, format!("state: {e}")))?;
        fvm_ipld_encoding::from_slice(&bytes)
            .map_err(|e| ActorError::new(exit::ASSERTION_FAILED, format!("state: {e}")))
    }

    fn save(st: &State) -> Result<(), ActorError> {
        let bytes = fvm_ipld_encoding::to_vec(st)
            .map_err(|e| ActorError::new(exit::ASSERTION_FAILED, format!("state: {e}")))?;
        let cid = sdk::ipld::put(BLAKE2B_256, 32, DAG_CBOR, &bytes)
            .map_err(|e| ActorError::new(exit::ASSERTION_FAILED, format!("state: {e}")))?;
        sdk::sself::set_root(&cid)
            .map_err(|e| ActorError::new(exit::ASSERTION_FAILED, format!("set root: {e:?}")))
    }

    fn no_value() -> Result<(), ActorError> {
        let v = sdk::message::value_received();
        if v.is_zero() {
            Ok(())
        } else {
            Err(ActorError::new(
                exit::ILLEGAL_ARGUMENT,
                format!("method takes no value, got {v}"),
            ))
        }
    }

    /// The id of the actor at `addr`; an ID address alone resolves even with no actor behind it,
    /// so the actor's existence is checked through its code.
    fn resolve(addr: &Address) -> Result<ActorID, ActorError> {
        sdk::actor::resolve_address(addr)
            .filter(|id| sdk::actor::get_actor_code_cid(&Address::new_id(*id)).is_some())
            .ok_or_else(|| ActorError::new(exit::NOT_FOUND, format!("no actor at {addr}")))
    }

    /// `Constructor`: empty state. Caller: system or init actor.
    fn constructor() -> MethodResult {
        let caller = sdk::message::caller();
        if caller != SYSTEM_ACTOR_ID && caller != INIT_ACTOR_ID {
            return Err(ActorError::new(
                exit::FORBIDDEN,
                format!("constructor called by {caller}"),
            ));
        }
        save(&State::new(&Sdk)?)?;
        Ok(None)
    }

    /// `AddBalance`: credit the attached value to the caller. No params.
    fn add_balance() -> MethodResult {
        let caller = sdk::message::caller();
        let value = sdk::message::value_received();
        if !value.is_positive() {
            return Err(ActorError::new(
                exit::ILLEGAL_ARGUMENT,
                "attach a positive value",
            ));
        }
        let mut st = load()?;
        let acct = st.add_balance(&Sdk, caller, &value)?;
        save(&st)?;
        ret(&acct)
    }

    /// `LockFunds`: reserve free funds of the caller for a provider and deal.
    fn lock_funds(id: u32) -> MethodResult {
        let caller = sdk::message::caller();
        no_value()?;
        let p: LockFundsParams = params(id)?;
        let provider = resolve(&p.provider)?;
        if provider == caller {
            return Err(ActorError::new(
                exit::ILLEGAL_ARGUMENT,
                "cannot lock for oneself",
            ));
        }
        let mut st = load()?;
        let acct = st.lock_funds(&Sdk, caller, provider, p.deal_id, &p.amount)?;
        save(&st)?;
        ret(&acct)
    }

    /// `Withdraw`: pay free funds back to the caller.
    fn withdraw(id: u32) -> MethodResult {
        let caller = sdk::message::caller();
        no_value()?;
        let p: WithdrawParams = params(id)?;
        let mut st = load()?;
        let acct = st.withdraw(&Sdk, caller, &p.amount)?;
        // State first, then the transfer: a re-entrant caller sees the debited account.
        save(&st)?;
        let sent = sdk::send::send(
            &Address::new_id(caller),
            METHOD_SEND,
            None,
            p.amount.clone(),
            None,
            SendFlags::empty(),
        )
        .map_err(|e| ActorError::new(exit::ASSERTION_FAILED, format!("send: {e}")))?;
        if !sent.exit_code.is_success() {
            return Err(ActorError::new(
                exit::ASSERTION_FAILED,
                format!("send failed: {}", sent.exit_code),
            ));
        }
        ret(&acct)
    }

    /// `GetAccount`: the account of `owner`.
    fn get_account(id: u32) -> MethodResult {
        let p: GetAccountParams = params(id)?;
        let owner = resolve(&p.owner)?;
        ret(&load()?.account(&Sdk, owner)?)
    }

    /// `GetLock`: the lock of (client, deal id), or null.
    fn get_lock(id: u32) -> MethodResult {
        let p: GetLockParams = params(id)?;
        let client = resolve(&p.client)?;
        let lock: LockReturn = load()?.lock(&Sdk, client, p.deal_id)?;
        ret(&lock)
    }

    /// The actor's entry point: dispatch on the FRC-42 method number.
    #[no_mangle]
    pub extern "C" fn invoke(id: u32) -> u32 {
        sdk::vm::set_panic_handler();
        let res = match sdk::message::method_number() {
            method::CONSTRUCTOR => constructor(),
            method::ADD_BALANCE => add_balance(),
            method::LOCK_FUNDS => lock_funds(id),
            method::WITHDRAW => withdraw(id),
            method::GET_ACCOUNT => get_account(id),
            method::GET_LOCK => get_lock(id),
            // TODO(plugin): RedeemVoucher, Dispute, Settle, RegisterVerifyingKey.
            m => Err(ActorError::new(
                exit::UNHANDLED_MESSAGE,
                format!("unknown method {m}"),
            )),
        };
        match res {
            Ok(None) => sdk::vm::NO_DATA_BLOCK_ID,
            Ok(Some(b)) => sdk::ipld::put_block(b.codec, &b.data).unwrap_or_else(|e| {
                sdk::vm::abort(exit::ASSERTION_FAILED.value(), Some(&e.to_string()))
            }),
            Err(e) => sdk::vm::abort(e.code.value(), Some(&e.msg)),
        }
    }
}
