//! Method numbers, parameters, returns and exit codes of the judge actor.
//!
//! Every parameter and return value is a DAG-CBOR tuple (`serde_tuple`), like the builtin actors.
//! Method numbers follow FRC-42 (`method_hash!`), so the constructor is method 1.

use fvm_ipld_encoding::repr::{Deserialize_repr, Serialize_repr};
use fvm_ipld_encoding::strict_bytes;
use fvm_ipld_encoding::tuple::{Deserialize_tuple, Serialize_tuple};
use fvm_shared::address::Address;
use fvm_shared::clock::ChainEpoch;
use fvm_shared::econ::TokenAmount;
use fvm_shared::error::ExitCode;
use fvm_shared::{ActorID, MethodNum};
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::deal::DealTerms;
use ozkcp_core::voucher::SignedVoucher;

/// FRC-42 method numbers of the judge actor.
pub mod method {
    use super::MethodNum;
    use frc42_dispatch::method_hash;

    /// `Constructor`: sets up empty state. Callable only by the system (devnet install) or init actor.
    pub const CONSTRUCTOR: MethodNum = method_hash!("Constructor");
    /// `AddBalance`: credits the attached value to the caller's escrow account.
    pub const ADD_BALANCE: MethodNum = method_hash!("AddBalance");
    /// `LockFunds`: the client opens a deal on chain, reserving part of its free balance for the
    /// deal's provider.
    pub const LOCK_FUNDS: MethodNum = method_hash!("LockFunds");
    /// `LockCollateral`: the provider accepts the deal on chain by locking its collateral.
    pub const LOCK_COLLATERAL: MethodNum = method_hash!("LockCollateral");
    /// `RedeemVoucher`: the provider redeems a client voucher by revealing the interval key.
    pub const REDEEM_VOUCHER: MethodNum = method_hash!("RedeemVoucher");
    /// `Dispute`: the client proves a provider fault with signed evidence.
    pub const DISPUTE: MethodNum = method_hash!("Dispute");
    /// `Settle`: closes a deal after its deadlines (or cancels one never accepted).
    pub const SETTLE: MethodNum = method_hash!("Settle");
    /// `RegisterVerifyingKey`: stores a Groth16 verifying key under its circuit id.
    pub const REGISTER_VERIFYING_KEY: MethodNum = method_hash!("RegisterVerifyingKey");
    /// `Withdraw`: pays free (unlocked) escrow funds back to the caller.
    pub const WITHDRAW: MethodNum = method_hash!("Withdraw");
    /// `GetAccount`: reads an escrow account (balance and locked part).
    pub const GET_ACCOUNT: MethodNum = method_hash!("GetAccount");
    /// `GetDeal`: reads one deal (with the last revealed key).
    pub const GET_DEAL: MethodNum = method_hash!("GetDeal");
}

/// Exit codes of the judge actor, all user codes. 16–24 are the standard user codes (so generic
/// tooling prints sensible names); 32 and up are this actor's own, one per kind of refusal.
pub mod exit {
    use super::ExitCode;

    /// Params do not make sense (zero or negative amount, value attached where none is expected,
    /// deadline in the past, a voucher paying less than already paid…).
    pub const ILLEGAL_ARGUMENT: ExitCode = ExitCode::USR_ILLEGAL_ARGUMENT; // 16
    /// An address in the params does not resolve to an actor, or no such deal.
    pub const NOT_FOUND: ExitCode = ExitCode::USR_NOT_FOUND; // 17
    /// The caller may not call this method on this deal (a third party redeeming or disputing,
    /// the constructor from a user account…).
    pub const FORBIDDEN: ExitCode = ExitCode::USR_FORBIDDEN; // 18
    /// Not enough free escrow balance (lock, collateral, withdrawal), or a voucher beyond the
    /// funds locked for the deal.
    pub const INSUFFICIENT_FUNDS: ExitCode = ExitCode::USR_INSUFFICIENT_FUNDS; // 19
    /// The deal is not in a state that allows this (deal id already used by this client,
    /// collateral locked twice, redeem or dispute before the provider accepted).
    pub const ILLEGAL_STATE: ExitCode = ExitCode::USR_ILLEGAL_STATE; // 20
    /// Params are not the expected CBOR (truncated, wrong shape, non-canonical evidence).
    pub const SERIALIZATION: ExitCode = ExitCode::USR_SERIALIZATION; // 21
    /// Unknown method number.
    pub const UNHANDLED_MESSAGE: ExitCode = ExitCode::USR_UNHANDLED_MESSAGE; // 22
    /// Internal error (state store failure, broken invariant, failed payout).
    pub const ASSERTION_FAILED: ExitCode = ExitCode::USR_ASSERTION_FAILED; // 24
    /// The evidence is consistent: it proves no fault, so the dispute fails.
    pub const NO_FAULT: ExitCode = ExitCode::new(32);
    /// The revealed key does not open the voucher's lock (`SHA256(key) ≠ secret hash`).
    pub const WRONG_PREIMAGE: ExitCode = ExitCode::new(33);
    /// The voucher's nonce is not above the last redeemed nonce of the deal.
    pub const STALE_NONCE: ExitCode = ExitCode::new(34);
    /// This very voucher was redeemed already.
    pub const ALREADY_REDEEMED: ExitCode = ExitCode::new(35);
    /// The voucher is not signed by the deal's client.
    pub const BAD_VOUCHER_SIGNATURE: ExitCode = ExitCode::new(36);
    /// The voucher names another channel (judge address) or lane than the deal's.
    pub const WRONG_CHANNEL: ExitCode = ExitCode::new(37);
    /// The voucher uses paych features ozkcp vouchers leave empty (extra, merges, time locks).
    pub const UNSUPPORTED_VOUCHER: ExitCode = ExitCode::new(38);
    /// Too late: redeem or collateral after the key-reveal deadline, dispute after the window.
    pub const WINDOW_CLOSED: ExitCode = ExitCode::new(39);
    /// Too early: settling an accepted deal before its dispute window has closed.
    pub const TOO_EARLY: ExitCode = ExitCode::new(40);
    /// The deal terms given are not the ones the deal was opened with.
    pub const WRONG_TERMS: ExitCode = ExitCode::new(41);
    /// A signature in the evidence is not the deal provider's.
    pub const BAD_EVIDENCE_SIGNATURE: ExitCode = ExitCode::new(42);
    /// The evidence is well-formed but does not apply (other deal, not under a signed root,
    /// ciphertext or proof not the stated ones, wrong mode, …).
    pub const BAD_EVIDENCE: ExitCode = ExitCode::new(43);
    /// The deal's circuit id has no registered verifying key, or the key bytes are invalid.
    pub const UNKNOWN_CIRCUIT: ExitCode = ExitCode::new(44);
    /// The deal is closed (settled or slashed).
    pub const DEAL_CLOSED: ExitCode = ExitCode::new(45);
}

/// Where a deal is on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum DealStatus {
    /// The client locked funds; the provider has not locked its collateral yet.
    Open = 0,
    /// The provider locked its collateral: vouchers can be redeemed and faults disputed.
    Active = 1,
    /// Closed after the deadlines: the client's unspent funds and the provider's pay and
    /// collateral are free again.
    Settled = 2,
    /// Closed by a won dispute: the provider's pay and collateral went to the client.
    Slashed = 3,
}

impl DealStatus {
    /// Whether the deal still holds locked funds.
    pub fn is_live(self) -> bool {
        matches!(self, DealStatus::Open | DealStatus::Active)
    }
}

/// One deal as the judge keeps it. Keyed by (client actor id, deal id): a client never reuses
/// a deal id, whatever the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Deal {
    /// Actor id of the client.
    pub client: ActorID,
    /// Actor id of the provider.
    pub provider: ActorID,
    /// The client's deal id.
    pub deal_id: u64,
    /// The client's key address (f1), which signs vouchers.
    pub client_key: Address,
    /// The judge address vouchers must name as their channel (the terms' `judge`).
    pub channel: Address,
    /// The deal's voucher lane.
    pub lane: u64,
    /// SHA-256 of the deal terms' signing bytes ([`DealTerms::digest`]).
    pub terms: Bytes32,
    /// Where the deal is.
    pub status: DealStatus,
    /// Client funds still reserved for the deal (not yet paid).
    pub locked: TokenAmount,
    /// Paid to the provider by redeemed vouchers. It stays in the client's locked funds until the
    /// deal settles (then it moves to the provider), so a won dispute refunds it by not moving it.
    pub paid: TokenAmount,
    /// The provider's collateral (locked in its account once the deal is active).
    pub collateral: TokenAmount,
    /// Last epoch at which vouchers can be redeemed (keys revealed).
    pub key_reveal_deadline: ChainEpoch,
    /// Last epoch at which the client can dispute.
    pub dispute_deadline: ChainEpoch,
    /// Nonce of the last redeemed voucher.
    pub nonce: Option<u64>,
    /// Digest of the last redeemed voucher (to tell a replay from a stale voucher).
    pub voucher: Option<Bytes32>,
    /// The key revealed with the last redeemed voucher. It opens that voucher's lock and, through
    /// the key chain, derives every earlier interval's key: the client reads its keys here.
    pub key: Option<Bytes32>,
    /// The evidence kind of the won dispute, when slashed.
    pub fault: Option<u8>,
}

/// Params of `LockFunds`: open a deal with these terms and reserve `amount` of the caller's free
/// balance for the terms' provider. The caller must be the terms' client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct LockFundsParams {
    /// The deal terms (proposal and manifest) both parties agreed on.
    pub terms: DealTerms,
    /// Amount to reserve, > 0 (usually the deal's full price).
    pub amount: TokenAmount,
}

/// Params of `LockCollateral`: the provider accepts deal (`client`, `deal_id`) with the terms it
/// signed off-chain (named by digest) by locking the terms' collateral.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct LockCollateralParams {
    /// The deal's client.
    pub client: Address,
    /// The client's deal id.
    pub deal_id: u64,
    /// [`DealTerms::digest`] of the terms the provider agreed to.
    pub terms: Bytes32,
}

/// Params of `RedeemVoucher`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct RedeemVoucherParams {
    /// The deal's client.
    pub client: Address,
    /// The client's deal id.
    pub deal_id: u64,
    /// The client-signed voucher.
    pub voucher: SignedVoucher,
    /// The interval key: `SHA256(key)` must be the voucher's secret hash.
    pub key: Bytes32,
}

/// Params of `Dispute`. Only the deal's client may call it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DisputeParams {
    /// The deal's client.
    pub client: Address,
    /// The client's deal id.
    pub deal_id: u64,
    /// The deal terms (their digest must be the deal's).
    pub terms: DealTerms,
    /// The evidence, as `ozkcp_core::evidence::encode_evidence` makes it (≤ 64 KiB).
    #[serde(with = "strict_bytes")]
    pub evidence: Vec<u8>,
}

/// Params of `Settle` and `GetDeal`: which deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DealRef {
    /// The deal's client.
    pub client: Address,
    /// The client's deal id.
    pub deal_id: u64,
}

/// Params of `RegisterVerifyingKey`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct RegisterVerifyingKeyParams {
    /// The compressed Groth16 verifying key (`ozkcp_zk::vk_to_bytes`).
    #[serde(with = "strict_bytes")]
    pub vk: Vec<u8>,
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

/// One escrow account: deposits and credits, minus withdrawals and debits.
/// `balance` includes the `locked` part; the free part is `balance - locked`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Account {
    /// Total escrow funds of the owner, locked or not.
    pub balance: TokenAmount,
    /// The part of `balance` reserved by live deals (a client's unspent funds, a provider's
    /// collateral and not yet settled pay).
    pub locked: TokenAmount,
}

impl Account {
    /// Funds that may be locked or withdrawn.
    pub fn free(&self) -> TokenAmount {
        &self.balance - &self.locked
    }
}

/// Return of `Dispute`: the fault proven and what went to the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DisputeReturn {
    /// The evidence kind (`ozkcp_core::evidence::EvidenceKind` as its wire number).
    pub kind: u8,
    /// The interval of the fault.
    pub interval: u32,
    /// The chunk of the fault, for chunk faults.
    pub chunk: Option<u64>,
    /// Credited to the client: the provider's pay for the deal and its collateral.
    pub to_client: TokenAmount,
}

/// Return of `Settle`: what was released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SettleReturn {
    /// Client funds unlocked (never spent on the deal).
    pub to_client: TokenAmount,
    /// Provider funds unlocked (its pay and its collateral).
    pub to_provider: TokenAmount,
}

/// Return of `AddBalance`, `Withdraw` and `GetAccount`: the caller's (or owner's) account after
/// the call.
pub type AccountReturn = Account;

/// Return of `GetDeal`: the deal, if any.
pub type DealReturn = Option<Deal>;

/// Return of `RegisterVerifyingKey`: the circuit id (SHA-256 of the compressed key).
pub type CircuitIdReturn = Bytes32;
