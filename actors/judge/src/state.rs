//! The judge actor's state and its invariants.
//!
//! Layout (DAG-CBOR tuple `[accounts, deals, circuits, total]`):
//! - `accounts`: HAMT (bit width 5, SHA-256 keyed) from the owner's actor id (8 bytes, big
//!   endian) to [`Account`] `[balance, locked]`;
//! - `deals`: HAMT ([`deals_config`]: links only in the root, one deal per bucket) from (client
//!   actor id ‖ deal id, 16 bytes big endian) to [`Deal`]; closed deals stay (their keys remain
//!   readable and their ids used);
//! - `circuits`: HAMT from a circuit id (32 bytes) to its compressed Groth16 verifying key;
//! - `total`: the sum of every account's `balance`.
//!
//! Invariants, checked by [`State::check_invariants`]:
//! - `total` == Σ `account.balance` == the actor's FIL balance (the last one is checked on chain);
//! - for every account, 0 ≤ `locked` ≤ `balance`, and `locked` == Σ over its live deals of
//!   `deal.locked + deal.paid` (as client: the whole reserve, paid or not) and `deal.collateral`
//!   (as provider of an active deal).
//!
//! Money only moves between accounts here, never in or out, except through `add_balance` and
//! `withdraw`. A redeemed voucher changes only the deal (`paid` up, `locked` down): the pay stays
//! in the client's locked funds, so a redeem writes one small record whatever the number of
//! accounts. Settling moves the pay to the provider and unlocks the rest; a won dispute moves
//! the provider's collateral to the client and unlocks the client's whole reserve (so the pay
//! never leaves).

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::tuple::{Deserialize_tuple, Serialize_tuple};
use fvm_ipld_encoding::RawBytes;
use fvm_ipld_hamt::{BytesKey, Hamt};
use fvm_shared::econ::TokenAmount;
use fvm_shared::error::ExitCode;
use fvm_shared::ActorID;
use num_traits::Zero;
use ozkcp_core::bytes::Bytes32;
use std::collections::BTreeMap;

use crate::types::{exit, Account, Deal, DealStatus};

/// HAMT bit width of every map (the builtin actors' default).
pub const HAMT_BIT_WIDTH: u32 = 5;

/// The deals map's HAMT layout: the root holds links only, each deal sits in a small node below
/// it. Every block a write touches is paid per byte (3,340 gas/B on the FVM), and with data in
/// the root a redeem rewrote every deal stored there; this way a redeem rewrites one small node
/// and a root of at most 32 links.
pub fn deals_config() -> fvm_ipld_hamt::Config {
    fvm_ipld_hamt::Config {
        bit_width: HAMT_BIT_WIDTH,
        min_data_depth: 1,
        max_array_width: 1,
    }
}

/// Why a state transition was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Amount zero or negative where a positive one is needed.
    #[error("amount must be positive, got {0}")]
    NonPositiveAmount(TokenAmount),
    /// Not enough free balance.
    #[error("insufficient free balance of {owner}: need {need}, free {free}")]
    InsufficientFunds {
        /// Whose balance.
        owner: ActorID,
        /// Amount asked for.
        need: TokenAmount,
        /// Free balance of the account.
        free: TokenAmount,
    },
    /// The client already used this deal id.
    #[error("client {client} already has a deal {deal_id}")]
    DealExists {
        /// The client.
        client: ActorID,
        /// The deal id.
        deal_id: u64,
    },
    /// No such deal.
    #[error("no deal {deal_id} of client {client}")]
    NoDeal {
        /// The client.
        client: ActorID,
        /// The deal id.
        deal_id: u64,
    },
    /// The deal is not in the status the transition needs.
    #[error("deal {deal_id} is {status:?}; this needs it {needed}")]
    WrongStatus {
        /// The deal id.
        deal_id: u64,
        /// Its status.
        status: DealStatus,
        /// What the transition needs.
        needed: &'static str,
    },
    /// A voucher pays more than the deal's funds.
    #[error("voucher pays {amount} in all, but the deal holds only {funds}")]
    BeyondFunds {
        /// Cumulative amount of the voucher.
        amount: TokenAmount,
        /// Paid plus still locked.
        funds: TokenAmount,
    },
    /// A voucher pays less in all than already paid.
    #[error("voucher pays {amount} in all, but {paid} was paid already")]
    BelowPaid {
        /// Cumulative amount of the voucher.
        amount: TokenAmount,
        /// Already paid.
        paid: TokenAmount,
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
            StateError::NonPositiveAmount(_) | StateError::BelowPaid { .. } => {
                exit::ILLEGAL_ARGUMENT
            }
            StateError::InsufficientFunds { .. } | StateError::BeyondFunds { .. } => {
                exit::INSUFFICIENT_FUNDS
            }
            StateError::DealExists { .. } => exit::ILLEGAL_STATE,
            StateError::NoDeal { .. } => exit::NOT_FOUND,
            StateError::WrongStatus { status, .. } if !status.is_live() => exit::DEAL_CLOSED,
            StateError::WrongStatus { .. } => exit::ILLEGAL_STATE,
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
    /// HAMT: (client actor id, deal id) → [`Deal`].
    pub deals: Cid,
    /// HAMT: circuit id → compressed verifying key.
    pub circuits: Cid,
    /// Σ of all account balances; equals the actor's FIL balance.
    pub total: TokenAmount,
}

/// HAMT key of an account.
pub fn account_key(owner: ActorID) -> BytesKey {
    BytesKey(owner.to_be_bytes().to_vec())
}

/// HAMT key of a deal.
pub fn deal_key(client: ActorID, deal_id: u64) -> BytesKey {
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

/// The accounts map while a transition edits it.
struct Accounts<'a, BS: Blockstore>(Hamt<&'a BS, Account>);

impl<BS: Blockstore> Accounts<'_, BS> {
    fn get(&self, owner: ActorID) -> Result<Account, StateError> {
        Ok(self
            .0
            .get(&account_key(owner))?
            .cloned()
            .unwrap_or_default())
    }

    fn put(&mut self, owner: ActorID, acct: &Account) -> Result<(), StateError> {
        if acct.balance.is_zero() && acct.locked.is_zero() {
            self.0.delete(&account_key(owner))?;
        } else {
            self.0.set(account_key(owner), acct.clone())?;
        }
        Ok(())
    }

    /// Locks `amount` of `owner`'s free balance.
    fn lock(&mut self, owner: ActorID, amount: &TokenAmount) -> Result<(), StateError> {
        let mut a = self.get(owner)?;
        if a.free() < *amount {
            return Err(StateError::InsufficientFunds {
                owner,
                need: amount.clone(),
                free: a.free(),
            });
        }
        a.locked += amount;
        self.put(owner, &a)
    }

    /// Unlocks `amount` of `owner`'s locked funds.
    fn unlock(&mut self, owner: ActorID, amount: &TokenAmount) -> Result<(), StateError> {
        let mut a = self.get(owner)?;
        a.locked -= amount;
        if a.locked.is_negative() {
            return Err(StateError::Invariant(format!(
                "unlocking {amount} of {owner} leaves a negative lock"
            )));
        }
        self.put(owner, &a)
    }

    /// Moves `amount` of `from`'s locked funds into `to`'s balance, locked or free.
    fn transfer_locked(
        &mut self,
        from: ActorID,
        to: ActorID,
        amount: &TokenAmount,
        locked_at_dest: bool,
    ) -> Result<(), StateError> {
        if amount.is_zero() {
            return Ok(());
        }
        let mut a = self.get(from)?;
        a.balance -= amount;
        a.locked -= amount;
        if a.locked.is_negative() || a.balance.is_negative() {
            return Err(StateError::Invariant(format!(
                "moving {amount} of {from}'s locked funds overdraws it"
            )));
        }
        self.put(from, &a)?;
        let mut b = self.get(to)?;
        b.balance += amount;
        if locked_at_dest {
            b.locked += amount;
        }
        self.put(to, &b)
    }
}

/// A deal the state just created or changed.
pub type DealResult = Result<Deal, StateError>;

impl State {
    /// Empty state: three empty HAMTs, total zero.
    pub fn new<BS: Blockstore>(store: &BS) -> Result<Self, StateError> {
        let accounts = Hamt::<_, Account>::new_with_bit_width(store, HAMT_BIT_WIDTH).flush()?;
        let deals = Hamt::<_, Deal>::new_with_config(store, deals_config()).flush()?;
        let circuits = Hamt::<_, RawBytes>::new_with_bit_width(store, HAMT_BIT_WIDTH).flush()?;
        Ok(State {
            accounts,
            deals,
            circuits,
            total: TokenAmount::zero(),
        })
    }

    fn accounts<'a, BS: Blockstore>(&self, store: &'a BS) -> Result<Accounts<'a, BS>, StateError> {
        Ok(Accounts(Hamt::load_with_bit_width(
            &self.accounts,
            store,
            HAMT_BIT_WIDTH,
        )?))
    }

    fn deals<'a, BS: Blockstore>(&self, store: &'a BS) -> Result<Hamt<&'a BS, Deal>, StateError> {
        Ok(Hamt::load_with_config(&self.deals, store, deals_config())?)
    }

    fn circuits<'a, BS: Blockstore>(
        &self,
        store: &'a BS,
    ) -> Result<Hamt<&'a BS, RawBytes>, StateError> {
        Ok(Hamt::load_with_bit_width(
            &self.circuits,
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
        self.accounts(store)?.get(owner)
    }

    /// The deal (`client`, `deal_id`), if any.
    pub fn deal<BS: Blockstore>(
        &self,
        store: &BS,
        client: ActorID,
        deal_id: u64,
    ) -> Result<Option<Deal>, StateError> {
        Ok(self.deals(store)?.get(&deal_key(client, deal_id))?.cloned())
    }

    /// The deal (`client`, `deal_id`), or [`StateError::NoDeal`].
    pub fn existing_deal<BS: Blockstore>(
        &self,
        store: &BS,
        client: ActorID,
        deal_id: u64,
    ) -> DealResult {
        self.deal(store, client, deal_id)?
            .ok_or(StateError::NoDeal { client, deal_id })
    }

    /// The deal (`client`, `deal_id`) if it is in `status`, or why not.
    fn deal_in<BS: Blockstore>(
        &self,
        store: &BS,
        client: ActorID,
        deal_id: u64,
        status: DealStatus,
    ) -> DealResult {
        let deal = self.existing_deal(store, client, deal_id)?;
        if deal.status != status {
            return Err(StateError::WrongStatus {
                deal_id,
                status: deal.status,
                needed: match status {
                    DealStatus::Open => "open",
                    DealStatus::Active => "active (collateral locked)",
                    DealStatus::Settled => "settled",
                    DealStatus::Slashed => "slashed",
                },
            });
        }
        Ok(deal)
    }

    /// The verifying key registered under `circuit`, if any.
    pub fn verifying_key<BS: Blockstore>(
        &self,
        store: &BS,
        circuit: &Bytes32,
    ) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self
            .circuits(store)?
            .get(&BytesKey(circuit.0.to_vec()))?
            .map(|b| b.to_vec()))
    }

    /// Stores a verifying key (already checked by the caller) under its circuit id. Registering
    /// the same key again changes nothing.
    pub fn register_verifying_key<BS: Blockstore>(
        &mut self,
        store: &BS,
        circuit: &Bytes32,
        vk: Vec<u8>,
    ) -> Result<(), StateError> {
        let mut circuits = self.circuits(store)?;
        circuits.set_if_absent(BytesKey(circuit.0.to_vec()), RawBytes::new(vk))?;
        self.circuits = circuits.flush()?;
        Ok(())
    }

    fn put_deal<BS: Blockstore>(&mut self, store: &BS, deal: &Deal) -> Result<(), StateError> {
        let mut deals = self.deals(store)?;
        deals.set(deal_key(deal.client, deal.deal_id), deal.clone())?;
        self.deals = deals.flush()?;
        Ok(())
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
        let mut acct = accounts.get(owner)?;
        acct.balance += amount;
        accounts.put(owner, &acct)?;
        self.accounts = accounts.0.flush()?;
        self.total += amount;
        Ok(acct)
    }

    /// Opens `deal` (status, paid and nonce fresh): reserves `deal.locked` (> 0) of the client's
    /// free balance. A client's deal id is used once, whatever the provider.
    pub fn open_deal<BS: Blockstore>(&mut self, store: &BS, deal: Deal) -> DealResult {
        positive(&deal.locked)?;
        if self.deal(store, deal.client, deal.deal_id)?.is_some() {
            return Err(StateError::DealExists {
                client: deal.client,
                deal_id: deal.deal_id,
            });
        }
        let mut accounts = self.accounts(store)?;
        accounts.lock(deal.client, &deal.locked)?;
        let deal = Deal {
            status: DealStatus::Open,
            paid: TokenAmount::zero(),
            nonce: None,
            voucher: None,
            key: None,
            fault: None,
            ..deal
        };
        self.put_deal(store, &deal)?;
        self.accounts = accounts.0.flush()?;
        Ok(deal)
    }

    /// The provider accepts an open deal: locks its collateral (which may be zero).
    pub fn lock_collateral<BS: Blockstore>(
        &mut self,
        store: &BS,
        client: ActorID,
        deal_id: u64,
    ) -> DealResult {
        let mut deal = self.deal_in(store, client, deal_id, DealStatus::Open)?;
        let mut accounts = self.accounts(store)?;
        if !deal.collateral.is_zero() {
            accounts.lock(deal.provider, &deal.collateral)?;
        }
        deal.status = DealStatus::Active;
        self.put_deal(store, &deal)?;
        self.accounts = accounts.0.flush()?;
        Ok(deal)
    }

    /// Records a redeemed voucher of an active deal: its cumulative `amount` becomes the deal's
    /// pay (the pay stays in the client's locked funds until [`State::settle`] moves it), with the
    /// voucher's nonce and digest and the revealed key.
    pub fn redeem<BS: Blockstore>(
        &mut self,
        store: &BS,
        client: ActorID,
        deal_id: u64,
        redeemed: Redeemed,
    ) -> DealResult {
        let mut deal = self.deal_in(store, client, deal_id, DealStatus::Active)?;
        let funds = &deal.paid + &deal.locked;
        if redeemed.amount > funds {
            return Err(StateError::BeyondFunds {
                amount: redeemed.amount,
                funds,
            });
        }
        if redeemed.amount < deal.paid {
            return Err(StateError::BelowPaid {
                amount: redeemed.amount,
                paid: deal.paid,
            });
        }
        // Only the deal changes: the pay stays locked in the client's account until the deal
        // settles (then it moves to the provider) or is slashed (then it never moves). So a
        // redeem writes one small record, whatever the number of accounts.
        let due = &redeemed.amount - &deal.paid;
        deal.locked -= &due;
        deal.paid += &due;
        deal.nonce = Some(redeemed.nonce);
        deal.voucher = Some(redeemed.voucher);
        deal.key = Some(redeemed.key);
        self.put_deal(store, &deal)?;
        Ok(deal)
    }

    /// A proven fault: the provider's pay for the deal and its collateral go to the client, and
    /// the client's unspent funds are unlocked. Returns the deal and what the client received.
    pub fn slash<BS: Blockstore>(
        &mut self,
        store: &BS,
        client: ActorID,
        deal_id: u64,
        kind: u8,
    ) -> Result<(Deal, TokenAmount), StateError> {
        let mut deal = self.deal_in(store, client, deal_id, DealStatus::Active)?;
        let to_client = &deal.paid + &deal.collateral;
        let mut accounts = self.accounts(store)?;
        accounts.transfer_locked(deal.provider, deal.client, &deal.collateral, false)?;
        accounts.unlock(deal.client, &(&deal.locked + &deal.paid))?;
        deal.status = DealStatus::Slashed;
        deal.fault = Some(kind);
        self.put_deal(store, &deal)?;
        self.accounts = accounts.0.flush()?;
        Ok((deal, to_client))
    }

    /// Closes a live deal: unlocks the client's unspent funds and, for an active deal, the
    /// provider's pay and collateral. Returns the deal and the two amounts (client, provider).
    pub fn settle<BS: Blockstore>(
        &mut self,
        store: &BS,
        client: ActorID,
        deal_id: u64,
    ) -> Result<(Deal, TokenAmount, TokenAmount), StateError> {
        let mut deal = self.existing_deal(store, client, deal_id)?;
        let to_provider = match deal.status {
            DealStatus::Active => &deal.paid + &deal.collateral,
            DealStatus::Open => deal.paid.clone(), // zero: nothing is redeemed before acceptance
            status => {
                return Err(StateError::WrongStatus {
                    deal_id,
                    status,
                    needed: "open or active",
                })
            }
        };
        let mut accounts = self.accounts(store)?;
        // The pay moves now; the rest of the client's reserve and the collateral are unlocked.
        accounts.transfer_locked(deal.client, deal.provider, &deal.paid, false)?;
        accounts.unlock(deal.client, &deal.locked)?;
        accounts.unlock(deal.provider, &(&to_provider - &deal.paid))?;
        deal.status = DealStatus::Settled;
        self.put_deal(store, &deal)?;
        self.accounts = accounts.0.flush()?;
        Ok((deal.clone(), deal.locked, to_provider))
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
        let mut acct = accounts.get(owner)?;
        if acct.free() < *amount {
            return Err(StateError::InsufficientFunds {
                owner,
                need: amount.clone(),
                free: acct.free(),
            });
        }
        acct.balance -= amount;
        accounts.put(owner, &acct)?;
        self.accounts = accounts.0.flush()?;
        self.total -= amount;
        Ok(acct)
    }

    /// Every account, by owner id.
    pub fn all_accounts<BS: Blockstore>(
        &self,
        store: &BS,
    ) -> Result<BTreeMap<ActorID, Account>, StateError> {
        let mut out = BTreeMap::new();
        self.accounts(store)?.0.for_each(|k, v| {
            let id = <[u8; 8]>::try_from(k.0.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| anyhow::anyhow!("bad account key"))?;
            out.insert(id, v.clone());
            Ok(())
        })?;
        Ok(out)
    }

    /// Every deal.
    pub fn all_deals<BS: Blockstore>(&self, store: &BS) -> Result<Vec<Deal>, StateError> {
        let mut out = Vec::new();
        self.deals(store)?.for_each(|_, v| {
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
        for d in self.all_deals(store)? {
            if d.locked.is_negative() || d.paid.is_negative() || d.collateral.is_negative() {
                return Err(StateError::Invariant(format!(
                    "deal {} of {} has a negative amount",
                    d.deal_id, d.client
                )));
            }
            if d.status.is_live() {
                *locked.entry(d.client).or_default() += &d.locked + &d.paid;
            }
            if d.status == DealStatus::Active {
                *locked.entry(d.provider).or_default() += &d.collateral;
            }
        }
        for (id, a) in &accounts {
            let want = locked.remove(id).unwrap_or_default();
            if a.locked != want || a.locked.is_negative() || a.locked > a.balance {
                return Err(StateError::Invariant(format!(
                    "account {id}: balance {}, locked {}, sum of its deals' locks {want}",
                    a.balance, a.locked
                )));
            }
        }
        if let Some((id, amt)) = locked.into_iter().find(|(_, a)| !a.is_zero()) {
            return Err(StateError::Invariant(format!(
                "deals lock {amt} of {id}, which has no account"
            )));
        }
        Ok(())
    }
}

/// A voucher the actor accepted, as [`State::redeem`] records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    /// Cumulative amount of the voucher.
    pub amount: TokenAmount,
    /// Its nonce.
    pub nonce: u64,
    /// Digest of its signed bytes.
    pub voucher: Bytes32,
    /// The revealed key.
    pub key: Bytes32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvm_ipld_blockstore::MemoryBlockstore;
    use fvm_shared::address::Address;

    fn fil(n: u64) -> TokenAmount {
        TokenAmount::from_atto(n)
    }

    fn deal(client: ActorID, provider: ActorID, deal_id: u64, locked: u64, coll: u64) -> Deal {
        Deal {
            client,
            provider,
            deal_id,
            client_key: Address::new_id(client),
            channel: Address::new_id(99),
            lane: deal_id,
            terms: Bytes32([7; 32]),
            status: DealStatus::Settled, // reset by open_deal
            locked: fil(locked),
            paid: fil(5), // reset by open_deal
            collateral: fil(coll),
            key_reveal_deadline: 100,
            dispute_deadline: 200,
            nonce: Some(3),
            voucher: None,
            key: None,
            fault: None,
        }
    }

    fn voucher(amount: u64, nonce: u64) -> Redeemed {
        Redeemed {
            amount: fil(amount),
            nonce,
            voucher: Bytes32([nonce as u8; 32]),
            key: Bytes32([1; 32]),
        }
    }

    #[test]
    fn one_deposit_serves_many_providers_without_double_spending() {
        let bs = MemoryBlockstore::default();
        let mut st = State::new(&bs).unwrap();
        st.add_balance(&bs, 100, &fil(1000)).unwrap();
        let d = st.open_deal(&bs, deal(100, 200, 1, 600, 0)).unwrap();
        assert_eq!(
            (d.status, d.paid.clone(), d.nonce),
            (DealStatus::Open, fil(0), None)
        );
        st.open_deal(&bs, deal(100, 201, 2, 300, 0)).unwrap();
        let e = st.open_deal(&bs, deal(100, 202, 3, 101, 0)).unwrap_err();
        assert_eq!(e.exit_code(), exit::INSUFFICIENT_FUNDS);
        // A deal id is used once per client, whatever the provider.
        let e = st.open_deal(&bs, deal(100, 202, 1, 1, 0)).unwrap_err();
        assert_eq!(e.exit_code(), exit::ILLEGAL_STATE);
        // Only unlocked funds leave.
        let e = st.withdraw(&bs, 100, &fil(101)).unwrap_err();
        assert_eq!(e.exit_code(), exit::INSUFFICIENT_FUNDS);
        let a = st.withdraw(&bs, 100, &fil(100)).unwrap();
        assert_eq!(a.free(), fil(0));
        assert_eq!(st.total, fil(900));
        st.check_invariants(&bs).unwrap();
        for bad in [fil(0), TokenAmount::from_atto(-1)] {
            let e = st.add_balance(&bs, 1, &bad).unwrap_err();
            assert_eq!(e.exit_code(), exit::ILLEGAL_ARGUMENT);
        }
    }

    #[test]
    fn redeem_records_the_pay_and_settle_moves_it() {
        let bs = MemoryBlockstore::default();
        let mut st = State::new(&bs).unwrap();
        st.add_balance(&bs, 100, &fil(1000)).unwrap();
        st.add_balance(&bs, 200, &fil(50)).unwrap();
        st.open_deal(&bs, deal(100, 200, 1, 600, 40)).unwrap();
        // Not before the collateral is locked.
        let e = st.redeem(&bs, 100, 1, voucher(10, 1)).unwrap_err();
        assert_eq!(e.exit_code(), exit::ILLEGAL_STATE);
        st.lock_collateral(&bs, 100, 1).unwrap();
        assert_eq!(st.account(&bs, 200).unwrap().locked, fil(40));
        let e = st.lock_collateral(&bs, 100, 1).unwrap_err();
        assert_eq!(e.exit_code(), exit::ILLEGAL_STATE);
        st.redeem(&bs, 100, 1, voucher(100, 1)).unwrap();
        let d = st.redeem(&bs, 100, 1, voucher(250, 2)).unwrap();
        assert_eq!((d.paid.clone(), d.locked.clone()), (fil(250), fil(350)));
        // Cumulative: never below what was paid, never beyond the deal's funds.
        let e = st.redeem(&bs, 100, 1, voucher(249, 3)).unwrap_err();
        assert_eq!(e.exit_code(), exit::ILLEGAL_ARGUMENT);
        let e = st.redeem(&bs, 100, 1, voucher(601, 3)).unwrap_err();
        assert_eq!(e.exit_code(), exit::INSUFFICIENT_FUNDS);
        // The pay stays in the client's reserve until settlement: nobody can withdraw it.
        let p = st.account(&bs, 200).unwrap();
        assert_eq!((p.balance.clone(), p.locked.clone()), (fil(50), fil(40)));
        let c = st.account(&bs, 100).unwrap();
        assert_eq!((c.balance.clone(), c.locked.clone()), (fil(1000), fil(600)));
        st.check_invariants(&bs).unwrap();
        let (d, to_client, to_provider) = st.settle(&bs, 100, 1).unwrap();
        assert_eq!(d.status, DealStatus::Settled);
        assert_eq!((to_client, to_provider), (fil(350), fil(290)));
        assert_eq!(st.account(&bs, 200).unwrap().free(), fil(300));
        assert_eq!(st.account(&bs, 100).unwrap().free(), fil(750));
        let e = st.settle(&bs, 100, 1).unwrap_err();
        assert_eq!(e.exit_code(), exit::DEAL_CLOSED);
        let e = st.redeem(&bs, 100, 1, voucher(300, 9)).unwrap_err();
        assert_eq!(e.exit_code(), exit::DEAL_CLOSED);
        st.check_invariants(&bs).unwrap();
        assert_eq!(st.total, fil(1050));
    }

    #[test]
    fn slash_refunds_pay_and_collateral() {
        let bs = MemoryBlockstore::default();
        let mut st = State::new(&bs).unwrap();
        st.add_balance(&bs, 100, &fil(1000)).unwrap();
        st.add_balance(&bs, 200, &fil(50)).unwrap();
        st.open_deal(&bs, deal(100, 200, 1, 600, 40)).unwrap();
        st.lock_collateral(&bs, 100, 1).unwrap();
        st.redeem(&bs, 100, 1, voucher(100, 1)).unwrap();
        let (d, to_client) = st.slash(&bs, 100, 1, 2).unwrap();
        assert_eq!((d.status, d.fault), (DealStatus::Slashed, Some(2)));
        assert_eq!(to_client, fil(140));
        let c = st.account(&bs, 100).unwrap();
        assert_eq!((c.balance.clone(), c.locked.clone()), (fil(1040), fil(0)));
        let p = st.account(&bs, 200).unwrap();
        assert_eq!((p.balance.clone(), p.locked.clone()), (fil(10), fil(0)));
        let e = st.slash(&bs, 100, 1, 2).unwrap_err();
        assert_eq!(e.exit_code(), exit::DEAL_CLOSED);
        st.check_invariants(&bs).unwrap();
    }

    #[test]
    fn invariants_hold_over_random_transitions() {
        let bs = MemoryBlockstore::default();
        let mut st = State::new(&bs).unwrap();
        let mut x: u64 = 7;
        for i in 0..600u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let who = 100 + (x >> 61);
            let other = 100 + ((x >> 58) & 7);
            let id = (x >> 20) % 6;
            let amt = 1 + (x >> 40) % 1000;
            let _ = match i % 7 {
                0 => st.add_balance(&bs, who, &fil(amt)).map(drop),
                1 => st
                    .open_deal(&bs, deal(who, other, id, amt, amt / 3))
                    .map(drop),
                2 => st.lock_collateral(&bs, who, id).map(drop),
                3 => st.redeem(&bs, who, id, voucher(amt / 2, i)).map(drop),
                4 => st.slash(&bs, who, id, 1).map(drop),
                5 => st.settle(&bs, who, id).map(drop),
                _ => st.withdraw(&bs, who, &fil(amt)).map(drop),
            };
            st.check_invariants(&bs).unwrap();
        }
    }
}
