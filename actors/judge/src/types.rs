//! Method numbers, parameters, returns and exit codes of the judge actor.
//!
//! Every parameter and return value is a DAG-CBOR tuple (`serde_tuple`), like the builtin actors.
//! Method numbers follow FRC-42 (`method_hash!`), so the constructor is method 1.

use fvm_ipld_encoding::tuple::{Deserialize_tuple, Serialize_tuple};
use fvm_shared::address::Address;
use fvm_shared::econ::TokenAmount;
use fvm_shared::error::ExitCode;
use fvm_shared::{ActorID, MethodNum};

/// FRC-42 method numbers of the judge actor.
pub mod method {
    use super::MethodNum;
    use frc42_dispatch::method_hash;

    /// `Constructor`: sets up empty state. Callable only by the system (devnet install) or init actor.
    pub const CONSTRUCTOR: MethodNum = method_hash!("Constructor");
    /// `AddBalance`: credits the attached value to the caller's escrow account.
    pub const ADD_BALANCE: MethodNum = method_hash!("AddBalance");
    /// `LockFunds`: the caller (a client) reserves part of its free balance for one provider/deal.
    pub const LOCK_FUNDS: MethodNum = method_hash!("LockFunds");
    /// `Withdraw`: pays free (unlocked) escrow funds back to the caller.
    pub const WITHDRAW: MethodNum = method_hash!("Withdraw");
    /// `GetAccount`: reads an escrow account (balance and locked part).
    pub const GET_ACCOUNT: MethodNum = method_hash!("GetAccount");
    /// `GetLock`: reads the lock of one (client, deal id).
    pub const GET_LOCK: MethodNum = method_hash!("GetLock");
    // TODO(plugin): "RedeemVoucher", "Dispute", "Settle", "RegisterVerifyingKey" and the
    // provider-collateral lock taken when a deal is accepted. They need the protocol types of
    // `ozkcp-core` (vouchers, statements, evidence) and are added with them.
}

/// Exit codes of the judge actor. All are user codes (≥ 16); the escrow errors reuse the
/// standard user codes so generic tooling prints sensible names.
pub mod exit {
    use super::ExitCode;

    /// Params do not make sense (zero or negative amount, value attached where none is expected…).
    pub const ILLEGAL_ARGUMENT: ExitCode = ExitCode::USR_ILLEGAL_ARGUMENT; // 16
    /// An address in the params does not resolve to an actor, or no such account/lock.
    pub const NOT_FOUND: ExitCode = ExitCode::USR_NOT_FOUND; // 17
    /// The caller may not call this method (e.g. constructor from a user account).
    pub const FORBIDDEN: ExitCode = ExitCode::USR_FORBIDDEN; // 18
    /// Not enough free (unlocked) escrow balance for a lock or withdrawal.
    pub const INSUFFICIENT_FUNDS: ExitCode = ExitCode::USR_INSUFFICIENT_FUNDS; // 19
    /// A lock for this (client, deal id) exists for another provider.
    pub const ILLEGAL_STATE: ExitCode = ExitCode::USR_ILLEGAL_STATE; // 20
    /// Params are not the expected CBOR.
    pub const SERIALIZATION: ExitCode = ExitCode::USR_SERIALIZATION; // 21
    /// Unknown method number.
    pub const UNHANDLED_MESSAGE: ExitCode = ExitCode::USR_UNHANDLED_MESSAGE; // 22
    /// Internal error (state store failure, broken invariant).
    pub const ASSERTION_FAILED: ExitCode = ExitCode::USR_ASSERTION_FAILED; // 24
}

/// Params of `LockFunds`: reserve `amount` of the caller's free balance for `provider` under
/// `deal_id`. Locking again under the same deal id with the same provider adds to the lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct LockFundsParams {
    /// The provider the funds are reserved for (any address form that resolves on chain).
    pub provider: Address,
    /// Client-chosen deal id; unique per client.
    pub deal_id: u64,
    /// Amount to lock, > 0.
    pub amount: TokenAmount,
}

/// Params of `Withdraw`: pay `amount` of the caller's free balance back to the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct WithdrawParams {
    /// Amount to withdraw, > 0 and ≤ free balance.
    pub amount: TokenAmount,
}

/// Params of `GetAccount`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct GetAccountParams {
    /// The account owner.
    pub owner: Address,
}

/// Params of `GetLock`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct GetLockParams {
    /// The client that locked the funds.
    pub client: Address,
    /// The client's deal id.
    pub deal_id: u64,
}

/// One escrow account: what `AddBalance` put in, minus withdrawals (and, later, payments).
/// `balance` includes the `locked` part; the free part is `balance - locked`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Account {
    /// Total escrow funds of the owner, locked or not.
    pub balance: TokenAmount,
    /// The part of `balance` reserved by locks.
    pub locked: TokenAmount,
}

impl Account {
    /// Funds that may be locked or withdrawn.
    pub fn free(&self) -> TokenAmount {
        &self.balance - &self.locked
    }
}

/// Funds a client reserved for one provider and deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Lock {
    /// Actor id of the client whose funds are locked.
    pub client: ActorID,
    /// Actor id of the provider the funds are reserved for.
    pub provider: ActorID,
    /// The client's deal id.
    pub deal_id: u64,
    /// Locked amount (still owned by the client, spendable only for this deal).
    pub amount: TokenAmount,
}

/// Return of `LockFunds`, `Withdraw` and `GetAccount`: the caller's (or owner's) account after
/// the call.
pub type AccountReturn = Account;

/// Return of `GetLock`: the lock, if any.
pub type LockReturn = Option<Lock>;
