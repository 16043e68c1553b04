//! The judge actor's state and its invariants.
//!
//! Layout (DAG-CBOR tuple `[accounts, locks, total]`):
//! - `accounts`: HAMT (bit width 5, SHA-256 keyed) from the owner's actor id (8 bytes, big
//!   endian) to [`Account`] `[balance, locked]`;
//! - `locks`: HAMT from (client actor id ‖ deal id, 16 bytes big endian) to [`Lock`];
//! - `total`: the sum of every account's `balance`.
//!
//! Invariants, checked by [`State::check_invariants`]:
//! - `total` == Σ `account.balance` == the actor's FIL balance (the last one is checked on chain);
//! - for every account, 0 ≤ `locked` ≤ `balance`, and `locked` == Σ of its locks' amounts.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::{Deserialize_tuple, Serialize_tuple};
use fvm_ipld_hamt::{BytesKey, Hamt};
use fvm_shared::econ::TokenAmount;
use fvm_shared::error::ExitCode;
use fvm_shared::ActorID;
use num_traits::Zero;
use std::collections::BTreeMap;

use crate::types::{exit, Account, Lock};

/// HAMT bit width of both maps (the builtin actors' default).
pub const HAMT_BIT_WIDTH: u32 = 5;

/// Why a state transition was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Amount zero or negative where a positive one is needed.
    #[error("amount must be positive, got {0}")]
    NonPositiveAmount(TokenAmount),
    /// Not enough free balance.
    #[error("insufficient free balance: need {need}, free {free}")]
    InsufficientFunds {
        /// Amount asked for.
        need: TokenAmount,
        /// Free balance of the account.
        free: TokenAmount,
    },
    /// A lock under this deal id already exists for another provider.
    #[error(
        "deal {deal_id} of client {client} is locked for provider {existing}, not {requested}"
    )]
    LockConflict {
        /// The client.
        client: ActorID,
        /// The deal id.
        deal_id: u64,
        /// The provider of the existing lock.
        existing: ActorID,
        /// The provider asked for.
        requested: ActorID,
    },
    /// A stored invariant does not hold.
    #[error("invariant broken: {0}")]
    Invariant(String),
    /// The blockstore or HAMT failed.
    #[error("state store: {0}")]
    Store(String),
}

impl StateError {
    /// The exit code the actor aborts with for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StateError::NonPositiveAmount(_) => exit::ILLEGAL_ARGUMENT,
            StateError::InsufficientFunds { .. } => exit::INSUFFICIENT_FUNDS,
            StateError::LockConflict { .. } => exit::ILLEGAL_STATE,
            StateError::Invariant(_) | StateError::Store(_) => exit::ASSERTION_FAILED,
        }
    }
}

impl From<fvm_ipld_hamt::Error> for StateError {
    fn from(e: fvm_ipld_hamt::Error) -> Self {
        StateError::Store(e.to_string())
    }
}

/// The judge actor's state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct State {
    /// HAMT: owner actor id → [`Account`].
    pub accounts: Cid,
    /// HAMT: (client actor id, deal id) → [`Lock`].
    pub locks: Cid,
    /// Σ of all account balances; equals the actor's FIL balance.
    pub total: TokenAmount,
}

/// HAMT key of an account.
pub fn account_key(owner: ActorID) -> BytesKey {
    BytesKey(owner.to_be_bytes().to_vec())
}

/// HAMT key of a lock.
pub fn lock_key(client: ActorID, deal_id: u64) -> BytesKey {
    let mut k = client.to_be_bytes().to_vec();
    k.extend_from_slice(&deal_id.to_be_bytes());
    BytesKey(k)
}

fn positive(amount: &TokenAmount) -> Result<(), StateError> {
    if amount.is_positive() {
        Ok(())
    } else {
        Err(StateError::NonPositiveAmount(amount.clone()))
    }
}

impl State {
    /// Empty state: two empty HAMTs, total zero.
    pub fn new<BS: Blockstore>(store: &BS) -> Result<Self, StateError> {
        let accounts = Hamt::<_, Account>::new_with_bit_width(store, HAMT_BIT_WIDTH).flush()?;
        let locks = Hamt::<_, Lock>::new_with_bit_width(store, HAMT_BIT_WIDTH).flush()?;
        Ok(State {
            accounts,
            locks,
            total: TokenAmount::zero(),
        })
    }

    fn accounts<'a, BS: Blockstore>(
        &self,
        store: &'a BS,
    ) -> Result<Hamt<&'a BS, Account>, StateError> {
        Ok(Hamt::load_with_bit_width(
            &self.accounts,
            store,
            HAMT_BIT_WIDTH,
        )?)
    }

    fn locks<'a, BS: Blockstore>(&self, store: &'a BS) -> Result<Hamt<&'a BS, Lock>, StateError> {
        Ok(Hamt::load_with_bit_width(
            &self.locks,
            store,
            HAMT_BIT_WIDTH,
        )?)
    }

    /// The account of `owner` (all zero if it never deposited).
    pub fn account<BS: Blockstore>(
        &self,
        store: &BS,
        owner: ActorID,
    ) -> Result<Account, StateError> {
        Ok(self
            .accounts(store)?
            .get(&account_key(owner))?
            .cloned()
            .unwrap_or_default())
    }

    /// The lock of (`client`, `deal_id`), if any.
    pub fn lock<BS: Blockstore>(
        &self,
        store: &BS,
        client: ActorID,
        deal_id: u64,
    ) -> Result<Option<Lock>, StateError> {
        Ok(self.locks(store)?.get(&lock_key(client, deal_id))?.cloned())
    }

    /// Credits `amount` (> 0) to `owner`'s account.
    pub fn add_balance<BS: Blockstore>(
        &mut self,
        store: &BS,
        owner: ActorID,
        amount: &TokenAmount,
    ) -> Result<Account, StateError> {
        positive(amount)?;
        let mut accounts = self.accounts(store)?;
        let mut acct = accounts
            .get(&account_key(owner))?
            .cloned()
            .unwrap_or_default();
        acct.balance += amount;
        accounts.set(account_key(owner), acct.clone())?;
        self.accounts = accounts.flush()?;
        self.total += amount;
        Ok(acct)
    }

    /// Reserves `amount` (> 0) of `client`'s free balance for `provider` under `deal_id`.
    /// The same deal id may be topped up for the same provider, never moved to another one.
    pub fn lock_funds<BS: Blockstore>(
        &mut self,
        store: &BS,
        client: ActorID,
        provider: ActorID,
        deal_id: u64,
        amount: &TokenAmount,
    ) -> Result<Account, StateError> {
        positive(amount)?;
        let mut accounts = self.accounts(store)?;
        let mut acct = accounts
            .get(&account_key(client))?
            .cloned()
            .unwrap_or_default();
        if acct.free() < *amount {
            return Err(StateError::InsufficientFunds {
                need: amount.clone(),
                free: acct.free(),
            });
        }
        let mut locks = self.locks(store)?;
        let key = lock_key(client, deal_id);
        let lock = match locks.get(&key)? {
            Some(l) if l.provider != provider => {
                return Err(StateError::LockConflict {
                    client,
                    deal_id,
                    existing: l.provider,
                    requested: provider,
                })
            }
            Some(l) => Lock {
                amount: &l.amount + amount,
                ..l.clone()
            },
            None => Lock {
                client,
                provider,
                deal_id,
                amount: amount.clone(),
            },
        };
        locks.set(key, lock)?;
        acct.locked += amount;
        accounts.set(account_key(client), acct.clone())?;
        self.locks = locks.flush()?;
        self.accounts = accounts.flush()?;
        Ok(acct)
    }

    /// Debits `amount` (> 0) from `owner`'s free balance; the caller then sends it out.
    pub fn withdraw<BS: Blockstore>(
        &mut self,
        store: &BS,
        owner: ActorID,
        amount: &TokenAmount,
    ) -> Result<Account, StateError> {
        positive(amount)?;
        let mut accounts = self.accounts(store)?;
        let mut acct = accounts
            .get(&account_key(owner))?
            .cloned()
            .unwrap_or_default();
        if acct.free() < *amount {
            return Err(StateError::InsufficientFunds {
                need: amount.clone(),
                free: acct.free(),
            });
        }
        acct.balance -= amount;
        if acct.balance.is_zero() {
            accounts.delete(&account_key(owner))?;
        } else {
            accounts.set(account_key(owner), acct.clone())?;
        }
        self.accounts = accounts.flush()?;
        self.total -= amount;
        Ok(acct)
    }

    /// Every account, by owner id.
    pub fn all_accounts<BS: Blockstore>(
        &self,
        store: &BS,
    ) -> Result<BTreeMap<ActorID, Account>, StateError> {
        let mut out = BTreeMap::new();
        self.accounts(store)?.for_each(|k, v| {
            let id = <[u8; 8]>::try_from(k.0.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| anyhow::anyhow!("bad account key"))?;
            out.insert(id, v.clone());
            Ok(())
        })?;
        Ok(out)
    }

    /// Every lock.
    pub fn all_locks<BS: Blockstore>(&self, store: &BS) -> Result<Vec<Lock>, StateError> {
        let mut out = Vec::new();
        self.locks(store)?.for_each(|_, v| {
            out.push(v.clone());
            Ok(())
        })?;
        Ok(out)
    }

    /// Checks the invariants of the module docs (except the on-chain FIL balance).
    pub fn check_invariants<BS: Blockstore>(&self, store: &BS) -> Result<(), StateError> {
        let accounts = self.all_accounts(store)?;
        let sum: TokenAmount = accounts.values().map(|a| a.balance.clone()).sum();
        if sum != self.total {
            return Err(StateError::Invariant(format!(
                "total {} != sum of balances {}",
                self.total, sum
            )));
        }
        let mut locked: BTreeMap<ActorID, TokenAmount> = BTreeMap::new();
        for l in self.all_locks(store)? {
            *locked.entry(l.client).or_default() += &l.amount;
        }
        for (id, a) in &accounts {
            let want = locked.remove(id).unwrap_or_default();
            if a.locked != want || a.locked.is_negative() || a.locked > a.balance {
                return Err(StateError::Invariant(format!(
                    "account {id}: balance {}, locked {}, sum of locks {want}",
                    a.balance, a.locked
                )));
            }
        }
        if let Some((id, amt)) = locked.into_iter().find(|(_, a)| !a.is_zero()) {
            return Err(StateError::Invariant(format!(
                "locks of {id} ({amt}) without an account"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvm_ipld_blockstore::MemoryBlockstore;

    fn fil(n: u64) -> TokenAmount {
        TokenAmount::from_atto(n)
    }

    #[test]
    fn deposit_lock_withdraw_rules() {
        let bs = MemoryBlockstore::default();
        let mut st = State::new(&bs).unwrap();
        st.add_balance(&bs, 100, &fil(1000)).unwrap();
        st.lock_funds(&bs, 100, 200, 1, &fil(600)).unwrap();
        st.lock_funds(&bs, 100, 201, 2, &fil(300)).unwrap();
        // One deposit, many providers, never more than deposited.
        let e = st.lock_funds(&bs, 100, 202, 3, &fil(101)).unwrap_err();
        assert_eq!(e.exit_code(), exit::INSUFFICIENT_FUNDS);
        // A deal id stays with its provider; top-ups are fine.
        let e = st.lock_funds(&bs, 100, 201, 1, &fil(1)).unwrap_err();
        assert_eq!(e.exit_code(), exit::ILLEGAL_STATE);
        st.lock_funds(&bs, 100, 200, 1, &fil(50)).unwrap();
        assert_eq!(st.lock(&bs, 100, 1).unwrap().unwrap().amount, fil(650));
        // Only unlocked funds leave.
        let e = st.withdraw(&bs, 100, &fil(51)).unwrap_err();
        assert_eq!(e.exit_code(), exit::INSUFFICIENT_FUNDS);
        let a = st.withdraw(&bs, 100, &fil(50)).unwrap();
        assert_eq!(a.free(), fil(0));
        assert_eq!(st.total, fil(950));
        st.check_invariants(&bs).unwrap();
        for bad in [fil(0), TokenAmount::from_atto(-1)] {
            let e = st.add_balance(&bs, 1, &bad).unwrap_err();
            assert_eq!(e.exit_code(), exit::ILLEGAL_ARGUMENT);
        }
    }

    #[test]
    fn total_tracks_sum_of_balances() {
        let bs = MemoryBlockstore::default();
        let mut st = State::new(&bs).unwrap();
        let mut x: u64 = 7;
        for i in 0..300u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let who = 100 + (x >> 60);
            let amt = fil(1 + (x >> 40) % 1000);
            match i % 3 {
                0 => drop(st.add_balance(&bs, who, &amt)),
                1 => drop(st.lock_funds(&bs, who, 7, x % 5, &amt)),
                _ => drop(st.withdraw(&bs, who, &amt)),
            }
            st.check_invariants(&bs).unwrap();
        }
    }
}
