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
//! ## Deals and money
//! Every address has one escrow [`Account`](types::Account). `AddBalance` credits the value
//! attached to the message to the caller's account, whatever its role: a client's deposit and a
//! provider's collateral are both escrow balances.
//!
//! 1. The client `LockFunds` with the deal terms: the deal opens under (client, deal id) and part
//!    of the client's free balance is reserved for the terms' provider, so one deposit serves
//!    many providers without double spending. A client uses each deal id once.
//! 2. The provider `LockCollateral`s with the digest of the terms it signed: the deal is active.
//! 3. The provider `RedeemVoucher`s with the interval key (the voucher's hash preimage), up to the
//!    key-reveal deadline: the pay moves from the client's reserve into the provider's account,
//!    held there until settlement; the key is stored in the deal for the client to read.
//! 4. Until the dispute deadline the client may `Dispute` with provider-signed evidence
//!    (`ozkcp_core::evidence`): a proven fault moves the provider's pay and collateral to the
//!    client and closes the deal. Invalid-proof evidence is verified with the Groth16 key the
//!    deal's circuit id names (`RegisterVerifyingKey`).
//! 5. After the dispute deadline anyone may `Settle`: the client's unspent funds and the
//!    provider's pay and collateral are unlocked. `Withdraw` pays out free funds.
//!
//! Method numbers in [`types::method`] (FRC-42), exit codes in [`types::exit`].

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

    use fvm_shared::address::Protocol;
    use fvm_shared::clock::ChainEpoch;
    use fvm_shared::crypto::signature::Signature;
    use fvm_shared::econ::TokenAmount;
    use num_traits::Zero;
    use ozkcp_core::bytes::Bytes32;
    use ozkcp_core::chunk::sha256;
    use ozkcp_core::deal::{DealTerms, ProofMode};
    use ozkcp_core::encoding::to_cbor;
    use ozkcp_core::evidence::{
        decode_evidence, verify_evidence, EvidenceError, ProofRejected, ProofVerifier,
    };
    use ozkcp_core::keys::IntervalKey;
    use ozkcp_core::sig::{check_secp_form, SigError, SignatureVerifier};
    use ozkcp_core::statement::Statement;
    use ozkcp_core::voucher::{check_voucher, VoucherError, VoucherExpectation};
    use ozkcp_zk::{CircuitShape, PreparedKey};

    use crate::state::{Redeemed, State, StateError};
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

    /// Signature checks through the FVM (`recover_secp_public_key`), after the same form checks
    /// as the host verifier (`ozkcp_core::sig::check_secp_form`), so both accept the same bytes.
    struct SyscallSigs;

    impl SignatureVerifier for SyscallSigs {
        fn verify(&self, sig: &Signature, signer: &Address, msg: &[u8]) -> Result<(), SigError> {
            if signer.protocol() != Protocol::Secp256k1 {
                return Err(SigError::NotSecpAddress(signer.to_string()));
            }
            check_secp_form(sig)?;
            match sdk::crypto::verify_signature(sig, signer, msg) {
                Ok(true) => Ok(()),
                Ok(false) => Err(SigError::WrongSigner {
                    expected: signer.to_string(),
                    actual: "another key".into(),
                }),
                Err(_) => Err(SigError::Malformed("no public key recovers from it")),
            }
        }
    }

    /// Groth16 checks with the verifying key registered for the deal's circuit.
    struct RegisteredKeys<'a>(&'a State);

    impl ProofVerifier for RegisteredKeys<'_> {
        fn verify_chunk_proof(
            &self,
            terms: &DealTerms,
            statement: &Statement,
            ciphertext: &[u8],
            proof: &[u8],
        ) -> Result<(), ProofRejected> {
            let unavailable =
                |e: &dyn core::fmt::Display| ProofRejected::Unavailable(e.to_string());
            let id = terms
                .proposal
                .circuit_id
                .ok_or_else(|| unavailable(&"the deal names no circuit"))?;
            let vk = self
                .0
                .verifying_key(&Sdk, &id)
                .map_err(|e| unavailable(&e))?
                .ok_or_else(|| unavailable(&"no verifying key is registered for the circuit"))?;
            let vk = ozkcp_zk::vk_from_bytes(&vk, Some(&id.0)).map_err(|e| unavailable(&e))?;
            let shape = CircuitShape::new(terms.proposal.chunk_size as usize, false)
                .map_err(|e| unavailable(&e))?;
            let key = PreparedKey::new(shape, &vk).map_err(|e| unavailable(&e))?;
            key.verify_chunk_proof(terms, statement, ciphertext, proof)
        }
    }

    fn now() -> ChainEpoch {
        sdk::network::curr_epoch()
    }

    fn illegal(msg: impl Into<String>) -> ActorError {
        ActorError::new(exit::ILLEGAL_ARGUMENT, msg)
    }

    /// `LockFunds`: the terms' client opens the deal and reserves `amount` for its provider.
    fn lock_funds(id: u32) -> MethodResult {
        let caller = sdk::message::caller();
        no_value()?;
        let p: LockFundsParams = params(id)?;
        let prop = &p.terms.proposal;
        if resolve(&prop.client)? != caller {
            return Err(ActorError::new(
                exit::FORBIDDEN,
                "only the terms' client opens the deal",
            ));
        }
        let provider = resolve(&prop.provider)?;
        if provider == caller {
            return Err(illegal("cannot open a deal with oneself"));
        }
        for (who, addr) in [("client", &prop.client), ("provider", &prop.provider)] {
            if addr.protocol() != Protocol::Secp256k1 {
                return Err(illegal(format!(
                    "the {who} must be named by its key address (f1), not {addr}"
                )));
            }
        }
        if resolve(&prop.judge)? != sdk::message::receiver() {
            return Err(illegal("the terms name another judge"));
        }
        p.terms
            .layout()
            .map_err(|e| illegal(format!("invalid terms: {e}")))?;
        if prop.collateral.is_negative() {
            return Err(illegal("negative collateral"));
        }
        if prop.key_reveal_deadline <= now() {
            return Err(illegal(format!(
                "key-reveal deadline {} is not after the current epoch {}",
                prop.key_reveal_deadline,
                now()
            )));
        }
        let dispute_deadline = (prop.dispute_window >= 0)
            .then(|| prop.key_reveal_deadline.checked_add(prop.dispute_window))
            .flatten()
            .ok_or_else(|| illegal("bad dispute window"))?;
        if prop.mode == ProofMode::Zk {
            let known = match prop.circuit_id {
                Some(c) => load()?.verifying_key(&Sdk, &c)?.is_some(),
                None => false,
            };
            if !known {
                return Err(ActorError::new(
                    exit::UNKNOWN_CIRCUIT,
                    "a zk deal needs a registered circuit",
                ));
            }
        }
        let terms = p
            .terms
            .digest()
            .map_err(|e| ActorError::new(exit::SERIALIZATION, e.to_string()))?;
        let deal = Deal {
            client: caller,
            provider,
            deal_id: prop.deal_id,
            client_key: prop.client,
            channel: prop.judge,
            lane: prop.lane,
            terms,
            status: DealStatus::Open,
            locked: p.amount.clone(),
            paid: TokenAmount::zero(),
            collateral: prop.collateral.clone(),
            key_reveal_deadline: prop.key_reveal_deadline,
            dispute_deadline,
            nonce: None,
            voucher: None,
            key: None,
            fault: None,
        };
        let mut st = load()?;
        let deal = st.open_deal(&Sdk, deal)?;
        save(&st)?;
        ret(&deal)
    }

    /// `LockCollateral`: the deal's provider accepts the terms it signed.
    fn lock_collateral(id: u32) -> MethodResult {
        let caller = sdk::message::caller();
        no_value()?;
        let p: LockCollateralParams = params(id)?;
        let client = resolve(&p.client)?;
        let mut st = load()?;
        let deal = st.existing_deal(&Sdk, client, p.deal_id)?;
        if deal.provider != caller {
            return Err(ActorError::new(
                exit::FORBIDDEN,
                "only the deal's provider locks its collateral",
            ));
        }
        if deal.terms != p.terms {
            return Err(ActorError::new(
                exit::WRONG_TERMS,
                "the deal was opened with other terms",
            ));
        }
        if now() > deal.key_reveal_deadline {
            return Err(ActorError::new(
                exit::WINDOW_CLOSED,
                "the key-reveal deadline has passed",
            ));
        }
        let deal = st.lock_collateral(&Sdk, client, p.deal_id)?;
        save(&st)?;
        ret(&deal)
    }

    fn voucher_error(e: VoucherError) -> ActorError {
        let code = match e {
            VoucherError::Signature(_) => exit::BAD_VOUCHER_SIGNATURE,
            VoucherError::Encoding(_) => exit::SERIALIZATION,
            VoucherError::WrongChannel { .. } | VoucherError::WrongLane { .. } => {
                exit::WRONG_CHANNEL
            }
            VoucherError::StaleNonce { .. } => exit::STALE_NONCE,
            VoucherError::AmountTooLow { .. } => exit::ILLEGAL_ARGUMENT,
            VoucherError::InsufficientFunds { .. } => exit::INSUFFICIENT_FUNDS,
            VoucherError::WrongLock => exit::WRONG_PREIMAGE,
            VoucherError::Unsupported(_) => exit::UNSUPPORTED_VOUCHER,
        };
        ActorError::new(code, e.to_string())
    }

    /// `RedeemVoucher`: the provider is paid up to the voucher's amount by revealing its key.
    fn redeem_voucher(id: u32) -> MethodResult {
        let caller = sdk::message::caller();
        no_value()?;
        let p: RedeemVoucherParams = params(id)?;
        let client = resolve(&p.client)?;
        let mut st = load()?;
        let deal = st.existing_deal(&Sdk, client, p.deal_id)?;
        if deal.provider != caller {
            return Err(ActorError::new(
                exit::FORBIDDEN,
                "only the deal's provider redeems its vouchers",
            ));
        }
        if !deal.status.is_live() {
            return Err(ActorError::new(exit::DEAL_CLOSED, "the deal is closed"));
        }
        if now() > deal.key_reveal_deadline {
            return Err(ActorError::new(
                exit::WINDOW_CLOSED,
                "the key-reveal deadline has passed",
            ));
        }
        let digest = to_cbor(&p.voucher)
            .map(|b| sha256(&b))
            .map_err(|e| ActorError::new(exit::SERIALIZATION, e.to_string()))?;
        if deal.voucher == Some(digest) {
            return Err(ActorError::new(
                exit::ALREADY_REDEEMED,
                "this voucher was redeemed already",
            ));
        }
        let key = IntervalKey::from_bytes(p.key.0);
        let expect = VoucherExpectation {
            channel: deal.channel,
            lane: deal.lane,
            client: deal.client_key,
            last_nonce: deal.nonce,
            owed: deal.paid.clone(),
            lock: key.lock(),
            funds: Some(&deal.paid + &deal.locked),
        };
        check_voucher(&p.voucher, &expect, &SyscallSigs).map_err(voucher_error)?;
        let redeemed = Redeemed {
            amount: p.voucher.amount.clone(),
            nonce: p.voucher.nonce,
            voucher: digest,
            key: p.key,
        };
        let deal = st.redeem(&Sdk, client, p.deal_id, redeemed)?;
        save(&st)?;
        ret(&deal)
    }

    fn evidence_error(e: EvidenceError) -> ActorError {
        let code = match e {
            EvidenceError::NoFault => exit::NO_FAULT,
            EvidenceError::Signature { .. } => exit::BAD_EVIDENCE_SIGNATURE,
            EvidenceError::TooLarge { .. } | EvidenceError::Malformed(_) => exit::SERIALIZATION,
            EvidenceError::VerifierUnavailable(_) => exit::UNKNOWN_CIRCUIT,
            _ => exit::BAD_EVIDENCE,
        };
        ActorError::new(code, e.to_string())
    }

    /// `Dispute`: the client proves a fault of the provider; the provider's pay and collateral
    /// go to the client.
    fn dispute(id: u32) -> MethodResult {
        let caller = sdk::message::caller();
        no_value()?;
        let p: DisputeParams = params(id)?;
        let client = resolve(&p.client)?;
        let mut st = load()?;
        let deal = st.existing_deal(&Sdk, client, p.deal_id)?;
        if caller != deal.client {
            return Err(ActorError::new(
                exit::FORBIDDEN,
                "only the deal's client disputes",
            ));
        }
        match deal.status {
            DealStatus::Active => {}
            DealStatus::Open => {
                return Err(ActorError::new(
                    exit::ILLEGAL_STATE,
                    "the provider never accepted the deal: settle it instead",
                ))
            }
            _ => return Err(ActorError::new(exit::DEAL_CLOSED, "the deal is closed")),
        }
        if now() > deal.dispute_deadline {
            return Err(ActorError::new(
                exit::WINDOW_CLOSED,
                "the dispute window has closed",
            ));
        }
        let terms = p
            .terms
            .digest()
            .map_err(|e| ActorError::new(exit::SERIALIZATION, e.to_string()))?;
        if terms != deal.terms {
            return Err(ActorError::new(
                exit::WRONG_TERMS,
                "the deal was opened with other terms",
            ));
        }
        let evidence = decode_evidence(&p.evidence).map_err(evidence_error)?;
        let fault = verify_evidence(&p.terms, &evidence, &SyscallSigs, &RegisteredKeys(&st))
            .map_err(evidence_error)?;
        let (_, to_client) = st.slash(&Sdk, client, p.deal_id, fault.kind() as u8)?;
        save(&st)?;
        ret(&DisputeReturn {
            kind: fault.kind() as u8,
            interval: fault.interval(),
            chunk: fault.chunk(),
            to_client,
        })
    }

    /// `Settle`: closes a deal after its dispute deadline; the client may cancel a deal its
    /// provider never accepted at any time (anyone after the key-reveal deadline).
    fn settle(id: u32) -> MethodResult {
        let caller = sdk::message::caller();
        no_value()?;
        let p: DealRef = params(id)?;
        let client = resolve(&p.client)?;
        let mut st = load()?;
        let deal = st.existing_deal(&Sdk, client, p.deal_id)?;
        let early = match deal.status {
            DealStatus::Open => caller != client && now() <= deal.key_reveal_deadline,
            DealStatus::Active => now() <= deal.dispute_deadline,
            _ => false, // refused below as closed
        };
        if early {
            return Err(ActorError::new(
                exit::TOO_EARLY,
                "the deal's deadlines have not passed",
            ));
        }
        let (_, to_client, to_provider) = st.settle(&Sdk, client, p.deal_id)?;
        save(&st)?;
        ret(&SettleReturn {
            to_client,
            to_provider,
        })
    }

    /// `RegisterVerifyingKey`: stores a Groth16 verifying key (points checked on the curve and
    /// in the subgroup) under its circuit id, for zk deals and invalid-proof disputes.
    fn register_verifying_key(id: u32) -> MethodResult {
        no_value()?;
        let p: RegisterVerifyingKeyParams = params(id)?;
        let vk = ozkcp_zk::vk_from_bytes(&p.vk, None)
            .map_err(|e| illegal(format!("not a verifying key: {e}")))?;
        if vk.gamma_abc_g1.len() != 2 {
            return Err(illegal(
                "an ozkcp chunk circuit has exactly one public input",
            ));
        }
        let circuit = Bytes32(ozkcp_zk::circuit_id(&vk));
        let mut st = load()?;
        st.register_verifying_key(&Sdk, &circuit, ozkcp_zk::vk_to_bytes(&vk))?;
        save(&st)?;
        ret(&circuit)
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

    /// `GetDeal`: the deal (client, deal id), or null.
    fn get_deal(id: u32) -> MethodResult {
        let p: DealRef = params(id)?;
        let client = resolve(&p.client)?;
        let deal: DealReturn = load()?.deal(&Sdk, client, p.deal_id)?;
        ret(&deal)
    }

    /// The actor's entry point: dispatch on the FRC-42 method number.
    #[no_mangle]
    pub extern "C" fn invoke(id: u32) -> u32 {
        sdk::vm::set_panic_handler();
        let res = match sdk::message::method_number() {
            method::CONSTRUCTOR => constructor(),
            method::ADD_BALANCE => add_balance(),
            method::LOCK_FUNDS => lock_funds(id),
            method::LOCK_COLLATERAL => lock_collateral(id),
            method::REDEEM_VOUCHER => redeem_voucher(id),
            method::DISPUTE => dispute(id),
            method::SETTLE => settle(id),
            method::REGISTER_VERIFYING_KEY => register_verifying_key(id),
            method::WITHDRAW => withdraw(id),
            method::GET_ACCOUNT => get_account(id),
            method::GET_DEAL => get_deal(id),
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
