//! Chain access over a Lotus-style JSON-RPC API: the devnet's (`ozkcp devnet run`) or a Lotus
//! node's, at a URL such as `http://127.0.0.1:1234/rpc/v1`.
//!
//! - [`LotusClient`]: the node. Reads (head, nonce, balance, ID lookup, actor state,
//!   `StateCall`) and [`send`](LotusClient::send): build a message, estimate its gas, sign it
//!   with a [`SecpSigner`] (secp256k1 over blake2b-256 of the message's CID bytes, as Lotus),
//!   `MpoolPush` it and `StateWaitMsg` for the receipt. Messages and signatures travel in
//!   Lotus's JSON (the devnet crate's [`ozkcp_devnet::json`] types).
//! - [`JudgeClient`]: one typed call per method of the judge actor, params and returns from
//!   [`ozkcp_judge::types`]; a refusal is a [`ChainError::Exit`] carrying the exit code and its
//!   name (`FORBIDDEN`, `WRONG_PREIMAGE`, …, see [`exit_name`]).
//! - [`LotusJudge`]: the driver's [`Judge`] for one client/provider pair over a
//!   [`JudgeClient`], so whole deals run against a node over a real socket.
//!
//! A message the node's simulation says would fail is not sent: gas estimation fails, the
//! message is replayed with `StateCall` to learn its exit code and reason, and the error says
//! it was refused before sending (no gas spent). A message that fails on chain anyway (the
//! state moved in between) carries its CID.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cid::Cid;
use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::clock::ChainEpoch;
use fvm_shared::econ::TokenAmount;
use fvm_shared::error::ExitCode;
use fvm_shared::message::Message;
use fvm_shared::MethodNum;
use jsonrpsee::http_client::{HeaderMap, HeaderValue, HttpClient, HttpClientBuilder};
use ozkcp::driver::Judge;
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::deal::DealTerms;
use ozkcp_core::evidence::{encode_evidence, Evidence, EvidenceKind, Fault};
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::sig::SecpSigner;
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_devnet::json::{addr_str, parse_addr, parse_amount, MessageJson, SignedMessageJson};
use ozkcp_devnet::rpc::{DevnetApiClient, FilecoinApiClient};
use ozkcp_devnet::SignedMessage;
use ozkcp_judge::types::{
    Account, Deal, DealRef, DisputeParams, DisputeReturn, GetAccountParams, LockCollateralParams,
    LockFundsParams, RedeemVoucherParams, RegisterVerifyingKeyParams, SettleReturn, WithdrawParams,
};
use ozkcp_judge::{exit, method};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Where `ozkcp devnet run` serves by default (Lotus's default port).
pub const DEFAULT_CHAIN_API: &str = "http://127.0.0.1:1234/rpc/v1";
/// Environment variable naming the chain node's API URL.
pub const CHAIN_API_ENV: &str = "OZKCP_CHAIN_API";
/// Environment variable holding a bearer token for the chain node (a Lotus `sign` token).
pub const CHAIN_TOKEN_ENV: &str = "OZKCP_CHAIN_TOKEN";

/// Everything chain access can fail at.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// No answer: connection refused, timeout, HTTP error (e.g. 401 for a missing token).
    #[error("cannot reach the chain node at {url}: {reason}")]
    Unreachable {
        /// The node's API URL.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// The node answered a call with a JSON-RPC error: a pushed message it refused (bad nonce,
    /// bad signature, unknown sender…), an unknown actor, a message not found.
    #[error("the chain node refused {call}: {message} (JSON-RPC error {code})")]
    Refused {
        /// The JSON-RPC method (`Filecoin.MpoolPush`, …).
        call: &'static str,
        /// The JSON-RPC error code (1 for a method's own failure, as Lotus).
        code: i32,
        /// The node's message.
        message: String,
    },
    /// An actor method exited with a non-zero code, on chain or in the node's simulation
    /// before sending.
    #[error("{method} failed with exit code {} ({name}){}: {message}", code.value(), where_failed(cid))]
    Exit {
        /// The actor method (`RedeemVoucher`, …).
        method: String,
        /// The exit code.
        code: ExitCode,
        /// Its name ([`exit_name`]).
        name: &'static str,
        /// The actor's reason, when the node reports one (simulations do; receipts do not).
        message: String,
        /// The failed message's CID when it was executed on chain; `None` when it was refused
        /// before sending (boxed: a CID is large and errors travel far).
        cid: Option<Box<Cid>>,
    },
    /// The node answered something this client cannot read.
    #[error("unexpected answer from the chain node to {call}: {reason}")]
    BadAnswer {
        /// The JSON-RPC method.
        call: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// Bad input from the caller (URL, token, evidence that does not encode, …).
    #[error("invalid {0}")]
    Invalid(String),
}

fn where_failed(cid: &Option<Box<Cid>>) -> String {
    match cid {
        Some(c) => format!(" in message {c}"),
        None => " (refused by the node's simulation, not sent)".into(),
    }
}

impl ChainError {
    /// The exit code, for [`ChainError::Exit`].
    pub fn exit_code(&self) -> Option<ExitCode> {
        match self {
            ChainError::Exit { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The name of an exit code from the judge actor or the FVM: the constant's name in
/// [`ozkcp_judge::exit`] (`FORBIDDEN`, `WRONG_PREIMAGE`, …) or `fvm_shared`'s `SYS_*` names.
/// Codes 32 and up are named as the judge's (ozkcp sends to no other actor).
pub fn exit_name(code: ExitCode) -> &'static str {
    const NAMES: &[(ExitCode, &str)] = &[
        (ExitCode::OK, "OK"),
        (ExitCode::SYS_SENDER_INVALID, "SYS_SENDER_INVALID"),
        (
            ExitCode::SYS_SENDER_STATE_INVALID,
            "SYS_SENDER_STATE_INVALID",
        ),
        (ExitCode::SYS_ILLEGAL_INSTRUCTION, "SYS_ILLEGAL_INSTRUCTION"),
        (ExitCode::SYS_INVALID_RECEIVER, "SYS_INVALID_RECEIVER"),
        (ExitCode::SYS_INSUFFICIENT_FUNDS, "SYS_INSUFFICIENT_FUNDS"),
        (ExitCode::SYS_OUT_OF_GAS, "SYS_OUT_OF_GAS"),
        (ExitCode::SYS_ILLEGAL_EXIT_CODE, "SYS_ILLEGAL_EXIT_CODE"),
        (ExitCode::SYS_ASSERTION_FAILED, "SYS_ASSERTION_FAILED"),
        (ExitCode::SYS_MISSING_RETURN, "SYS_MISSING_RETURN"),
        (exit::ILLEGAL_ARGUMENT, "ILLEGAL_ARGUMENT"),
        (exit::NOT_FOUND, "NOT_FOUND"),
        (exit::FORBIDDEN, "FORBIDDEN"),
        (exit::INSUFFICIENT_FUNDS, "INSUFFICIENT_FUNDS"),
        (exit::ILLEGAL_STATE, "ILLEGAL_STATE"),
        (exit::SERIALIZATION, "SERIALIZATION"),
        (exit::UNHANDLED_MESSAGE, "UNHANDLED_MESSAGE"),
        (ExitCode::USR_UNSPECIFIED, "UNSPECIFIED"),
        (exit::ASSERTION_FAILED, "ASSERTION_FAILED"),
        (exit::NO_FAULT, "NO_FAULT"),
        (exit::WRONG_PREIMAGE, "WRONG_PREIMAGE"),
        (exit::STALE_NONCE, "STALE_NONCE"),
        (exit::ALREADY_REDEEMED, "ALREADY_REDEEMED"),
        (exit::BAD_VOUCHER_SIGNATURE, "BAD_VOUCHER_SIGNATURE"),
        (exit::WRONG_CHANNEL, "WRONG_CHANNEL"),
        (exit::UNSUPPORTED_VOUCHER, "UNSUPPORTED_VOUCHER"),
        (exit::WINDOW_CLOSED, "WINDOW_CLOSED"),
        (exit::TOO_EARLY, "TOO_EARLY"),
        (exit::WRONG_TERMS, "WRONG_TERMS"),
        (exit::BAD_EVIDENCE_SIGNATURE, "BAD_EVIDENCE_SIGNATURE"),
        (exit::BAD_EVIDENCE, "BAD_EVIDENCE"),
        (exit::UNKNOWN_CIRCUIT, "UNKNOWN_CIRCUIT"),
        (exit::DEAL_CLOSED, "DEAL_CLOSED"),
    ];
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("UNKNOWN", |(_, n)| n)
}

/// The judge method's name for a method number (`"RedeemVoucher"`), or `None`.
pub fn method_name(m: MethodNum) -> Option<&'static str> {
    Some(match m {
        0 => "Send",
        method::CONSTRUCTOR => "Constructor",
        method::ADD_BALANCE => "AddBalance",
        method::LOCK_FUNDS => "LockFunds",
        method::LOCK_COLLATERAL => "LockCollateral",
        method::REDEEM_VOUCHER => "RedeemVoucher",
        method::DISPUTE => "Dispute",
        method::SETTLE => "Settle",
        method::REGISTER_VERIFYING_KEY => "RegisterVerifyingKey",
        method::WITHDRAW => "Withdraw",
        method::GET_ACCOUNT => "GetAccount",
        method::GET_DEAL => "GetDeal",
        _ => return None,
    })
}

fn method_label(m: MethodNum) -> String {
    method_name(m).map_or_else(|| format!("method {m}"), String::from)
}

/// The actor's own reason in an FVM failure backtrace (`… -- reason (18)`), or the whole text.
fn abort_reason(info: &str) -> String {
    let line = info
        .lines()
        .rev()
        .find(|l| l.contains(" -- "))
        .and_then(|l| l.rsplit_once(" -- ").map(|(_, r)| r))
        .unwrap_or(info)
        .trim();
    match line.rsplit_once(" (") {
        Some((r, code)) if code.trim_end_matches(')').parse::<u32>().is_ok() => r.to_string(),
        _ => line.to_string(),
    }
}

/// Signs a message as Lotus does: secp256k1 over blake2b-256 of the message's CID bytes.
pub fn sign_message(signer: &SecpSigner, message: Message) -> SignedMessage {
    let signature = signer.sign(&ozkcp_devnet::message_cid(&message).to_bytes());
    SignedMessage { message, signature }
}

/// How a message executed.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// The signed message's CID (what `MpoolPush` returned).
    pub cid: Cid,
    /// Exit code.
    pub exit_code: ExitCode,
    /// CBOR return value (empty if none).
    pub return_data: RawBytes,
    /// Gas used.
    pub gas_used: u64,
    /// Epoch of the tipset that executed it.
    pub height: ChainEpoch,
}

/// A `StateCall` result: a message executed on top of the head and not kept.
#[derive(Clone, Debug, PartialEq)]
pub struct CallResult {
    /// Exit code.
    pub exit_code: ExitCode,
    /// CBOR return value (empty if none).
    pub return_data: RawBytes,
    /// Gas used.
    pub gas_used: u64,
    /// The FVM's failure info ("" on success).
    pub error: String,
}

/// An actor installed on a devnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// Its ID address (`t0…`).
    pub id_address: Address,
    /// Its robust address (`t2…`).
    pub robust_address: Address,
    /// Its code CID.
    pub code: Cid,
    /// Epoch of the install.
    pub height: ChainEpoch,
}

/// A genesis account of a devnet, with its key (devnet test keys only).
#[derive(Clone, Debug)]
pub struct DevnetAccount {
    /// Its f1 address.
    pub address: Address,
    /// Its ID address.
    pub id_address: Address,
    /// Its key.
    pub signer: SecpSigner,
}

type SenderLocks = Arc<Mutex<HashMap<Address, Arc<tokio::sync::Mutex<()>>>>>;

/// A client of a Lotus-style node's JSON-RPC API over HTTP. Cheap to clone; clones share the
/// connection pool and the per-sender locks that keep nonces in order.
#[derive(Clone)]
pub struct LotusClient {
    url: String,
    http: HttpClient,
    senders: SenderLocks,
    confidence: u64,
}

impl std::fmt::Debug for LotusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LotusClient")
            .field("url", &self.url)
            .finish()
    }
}

/// How many times [`LotusClient::send`] sends a message that runs out of gas on chain.
pub const OUT_OF_GAS_ATTEMPTS: u32 = 3;

/// How long one call may take (`StateWaitMsg` waits for a message to execute).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

fn transport_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

impl LotusClient {
    /// A client of the node at `url` (`http://host:port/rpc/v1`), sending `token` (if any) as
    /// a bearer token. Connects lazily: an unreachable node shows on the first call.
    pub fn new(url: &str, token: Option<&str>) -> Result<Self, ChainError> {
        let mut headers = HeaderMap::new();
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            let mut v = HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| ChainError::Invalid("chain API token (not a header value)".into()))?;
            v.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, v);
        }
        let http = HttpClientBuilder::default()
            .set_headers(headers)
            .max_request_size(16 << 20)
            .max_response_size(64 << 20)
            .request_timeout(REQUEST_TIMEOUT)
            .build(url)
            .map_err(|e| ChainError::Invalid(format!("chain API URL {url:?}: {e}")))?;
        Ok(LotusClient {
            url: url.to_string(),
            http,
            senders: SenderLocks::default(),
            confidence: 1,
        })
    }

    /// A client of the node named by `$OZKCP_CHAIN_API` (default [`DEFAULT_CHAIN_API`]), with
    /// `$OZKCP_CHAIN_TOKEN` if set.
    pub fn from_env() -> Result<Self, ChainError> {
        let url = std::env::var(CHAIN_API_ENV).unwrap_or_else(|_| DEFAULT_CHAIN_API.into());
        let token = std::env::var(CHAIN_TOKEN_ENV).ok();
        Self::new(&url, token.as_deref())
    }

    /// Epochs `StateWaitMsg` waits past a message's inclusion (default 1; Lotus's own default
    /// is 5).
    pub fn with_confidence(mut self, epochs: u64) -> Self {
        self.confidence = epochs;
        self
    }

    /// The node's API URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn rpc_err(&self, call: &'static str, e: jsonrpsee::core::client::Error) -> ChainError {
        use jsonrpsee::core::client::Error as E;
        match e {
            E::Call(obj) => ChainError::Refused {
                call,
                code: obj.code(),
                message: obj.message().to_string(),
            },
            E::Transport(t) => ChainError::Unreachable {
                url: self.url.clone(),
                reason: transport_reason(&*t),
            },
            E::RequestTimeout => ChainError::Unreachable {
                url: self.url.clone(),
                reason: format!("{call} timed out after {} s", REQUEST_TIMEOUT.as_secs()),
            },
            E::ParseError(p) => ChainError::BadAnswer {
                call,
                reason: p.to_string(),
            },
            other => ChainError::Unreachable {
                url: self.url.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// The head's epoch (`Filecoin.ChainHead`).
    pub async fn epoch(&self) -> Result<ChainEpoch, ChainError> {
        let head = self
            .http
            .chain_head()
            .await
            .map_err(|e| self.rpc_err("Filecoin.ChainHead", e))?;
        Ok(head.height)
    }

    /// The next nonce of `addr` (`Filecoin.MpoolGetNonce`, pending messages included).
    pub async fn nonce(&self, addr: &Address) -> Result<u64, ChainError> {
        self.http
            .mpool_get_nonce(addr_str(addr))
            .await
            .map_err(|e| self.rpc_err("Filecoin.MpoolGetNonce", e))
    }

    /// The FIL balance of `addr` (`Filecoin.WalletBalance`; 0 for an unknown address).
    pub async fn balance(&self, addr: &Address) -> Result<TokenAmount, ChainError> {
        const CALL: &str = "Filecoin.WalletBalance";
        let s = self
            .http
            .wallet_balance(addr_str(addr))
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        parse_amount(&s).map_err(|e| bad(CALL, e))
    }

    /// The ID address of `addr` (`Filecoin.StateLookupID`).
    pub async fn lookup_id(&self, addr: &Address) -> Result<Address, ChainError> {
        const CALL: &str = "Filecoin.StateLookupID";
        let s = self
            .http
            .state_lookup_id(addr_str(addr), None)
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        parse_addr(&s).map_err(|e| bad(CALL, e))
    }

    /// The state root block of actor `addr`, decoded (`Filecoin.StateGetActor` then
    /// `Filecoin.ChainReadObj`, which every Lotus node serves), e.g. `ozkcp_judge::State`.
    pub async fn read_state<T: DeserializeOwned>(&self, addr: &Address) -> Result<T, ChainError> {
        let actor = self
            .http
            .state_get_actor(addr_str(addr), None)
            .await
            .map_err(|e| self.rpc_err("Filecoin.StateGetActor", e))?;
        const CALL: &str = "Filecoin.ChainReadObj";
        let raw = self
            .http
            .chain_read_obj(actor.head)
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        let bytes = B64.decode(raw).map_err(|e| bad(CALL, e))?;
        fvm_ipld_encoding::from_slice(&bytes).map_err(|e| bad(CALL, e))
    }

    /// Runs `msg` on top of the head without keeping anything (`Filecoin.StateCall`): for
    /// getters, and to learn why a message would fail. No signature needed.
    pub async fn call(&self, msg: &Message) -> Result<CallResult, ChainError> {
        const CALL: &str = "Filecoin.StateCall";
        let r = self
            .http
            .state_call(MessageJson::from(msg), None)
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        Ok(CallResult {
            exit_code: ExitCode::new(r.msg_rct.exit_code),
            return_data: RawBytes::new(r.return_bytes().map_err(|e| bad(CALL, e))?),
            gas_used: r.msg_rct.gas_used,
            error: r.error,
        })
    }

    /// `msg` with its gas limit, fee cap and premium filled by the node
    /// (`Filecoin.GasEstimateMessageGas`). Fails if the node's simulation of it fails.
    pub async fn estimate_gas(&self, msg: &Message) -> Result<Message, ChainError> {
        const CALL: &str = "Filecoin.GasEstimateMessageGas";
        let m = self
            .http
            .gas_estimate_message_gas(MessageJson::from(msg), None, None)
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        Message::try_from(&m).map_err(|e| bad(CALL, e))
    }

    /// Pushes a signed message to the node's mempool (`Filecoin.MpoolPush`); returns its CID.
    /// The node checks signature, nonce, size and gas: a refusal is [`ChainError::Refused`].
    pub async fn push(&self, sm: &SignedMessage) -> Result<Cid, ChainError> {
        const CALL: &str = "Filecoin.MpoolPush";
        let c = self
            .http
            .mpool_push(SignedMessageJson::from(sm))
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        c.to_cid().map_err(|e| bad(CALL, e))
    }

    /// Waits for message `cid` to execute (`Filecoin.StateWaitMsg`) and returns its receipt,
    /// whatever its exit code.
    pub async fn wait(&self, cid: &Cid) -> Result<Receipt, ChainError> {
        const CALL: &str = "Filecoin.StateWaitMsg";
        let l = self
            .http
            .state_wait_msg(cid.into(), Some(self.confidence), Some(-1), Some(true))
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        Ok(Receipt {
            cid: l.message.to_cid().map_err(|e| bad(CALL, e))?,
            exit_code: ExitCode::new(l.receipt.exit_code),
            return_data: RawBytes::new(l.return_bytes().map_err(|e| bad(CALL, e))?),
            gas_used: l.receipt.gas_used,
            height: l.height,
        })
    }

    fn sender_lock(&self, from: Address) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.senders.lock().expect("sender locks");
        map.entry(from).or_default().clone()
    }

    /// Sends `method` of actor `to` from `from`'s key with `params` and `value`, and waits for
    /// it: estimate gas (a message that would fail is not sent: [`ChainError::Exit`] with no
    /// CID), take the next nonce, sign, push, wait. Messages of one sender through one client
    /// (and its clones) are pushed one at a time, so their nonces never collide. A message that
    /// ran out of gas on chain (other messages grew the state it touches between estimate and
    /// execution; it changed nothing) is estimated and sent again, up to
    /// [`OUT_OF_GAS_ATTEMPTS`] times.
    pub async fn send(
        &self,
        from: &SecpSigner,
        to: Address,
        method: MethodNum,
        params: RawBytes,
        value: TokenAmount,
    ) -> Result<Receipt, ChainError> {
        let mut attempt = 1;
        loop {
            let r = self
                .send_once(from, to, method, params.clone(), value.clone())
                .await;
            match r {
                Err(ChainError::Exit {
                    code,
                    cid: Some(cid),
                    ..
                }) if code == ExitCode::SYS_OUT_OF_GAS && attempt < OUT_OF_GAS_ATTEMPTS => {
                    tracing::warn!(
                        "{} ran out of gas in {cid}; estimating and sending it again",
                        method_label(method)
                    );
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    async fn send_once(
        &self,
        from: &SecpSigner,
        to: Address,
        method: MethodNum,
        params: RawBytes,
        value: TokenAmount,
    ) -> Result<Receipt, ChainError> {
        let mut msg = Message {
            version: 0,
            from: from.address(),
            to,
            sequence: 0,
            value,
            method_num: method,
            params,
            gas_limit: 0,
            gas_fee_cap: TokenAmount::from_atto(0),
            gas_premium: TokenAmount::from_atto(0),
        };
        let est = match self.estimate_gas(&msg).await {
            Ok(m) => m,
            Err(e @ ChainError::Refused { .. }) => {
                // Learn the exit code and the actor's reason from a replay.
                let r = self.call(&msg).await?;
                if !r.exit_code.is_success() {
                    return Err(ChainError::Exit {
                        method: method_label(method),
                        code: r.exit_code,
                        name: exit_name(r.exit_code),
                        message: abort_reason(&r.error),
                        cid: None,
                    });
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        msg.gas_limit = est.gas_limit;
        msg.gas_fee_cap = est.gas_fee_cap;
        msg.gas_premium = est.gas_premium;
        let lock = self.sender_lock(msg.from);
        let cid = {
            let _turn = lock.lock().await;
            msg.sequence = self.nonce(&msg.from).await?;
            self.push(&sign_message(from, msg)).await?
        };
        let r = self.wait(&cid).await?;
        if !r.exit_code.is_success() {
            return Err(ChainError::Exit {
                method: method_label(method),
                code: r.exit_code,
                name: exit_name(r.exit_code),
                message: "(receipts carry no reason)".into(),
                cid: Some(Box::new(cid)),
            });
        }
        Ok(r)
    }

    /// Devnet only: the genesis accounts with their keys (`Devnet.Accounts`).
    pub async fn devnet_accounts(&self) -> Result<Vec<DevnetAccount>, ChainError> {
        const CALL: &str = "Devnet.Accounts";
        let list = self
            .http
            .accounts()
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        list.iter()
            .map(|a| {
                let secret: [u8; 32] = B64
                    .decode(&a.private_key)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| bad(CALL, "a private key is not 32 bytes of base64"))?;
                let signer = SecpSigner::from_bytes(&secret).map_err(|e| bad(CALL, e))?;
                let address = parse_addr(&a.address).map_err(|e| bad(CALL, e))?;
                if signer.address() != address {
                    return Err(bad(CALL, format!("key does not match {}", a.address)));
                }
                Ok(DevnetAccount {
                    address,
                    id_address: parse_addr(&a.id_address).map_err(|e| bad(CALL, e))?,
                    signer,
                })
            })
            .collect()
    }

    /// Devnet only: installs a Wasm actor, calling its constructor with `params`
    /// (`Devnet.InstallActor`).
    pub async fn install_actor(
        &self,
        wasm: &[u8],
        params: RawBytes,
    ) -> Result<Installed, ChainError> {
        const CALL: &str = "Devnet.InstallActor";
        let p = (!params.is_empty()).then(|| B64.encode(params.bytes()));
        let i = self
            .http
            .install_actor(B64.encode(wasm), p)
            .await
            .map_err(|e| self.rpc_err(CALL, e))?;
        Ok(Installed {
            id_address: parse_addr(&i.id_address).map_err(|e| bad(CALL, e))?,
            robust_address: parse_addr(&i.robust_address).map_err(|e| bad(CALL, e))?,
            code: i.code.to_cid().map_err(|e| bad(CALL, e))?,
            height: i.height,
        })
    }

    /// Devnet only: makes `epochs` empty epochs (`Devnet.Advance`); returns the new head epoch.
    pub async fn advance(&self, epochs: u64) -> Result<ChainEpoch, ChainError> {
        let h = self
            .http
            .advance(epochs)
            .await
            .map_err(|e| self.rpc_err("Devnet.Advance", e))?;
        Ok(h as ChainEpoch)
    }
}

fn bad(call: &'static str, e: impl std::fmt::Display) -> ChainError {
    ChainError::BadAnswer {
        call,
        reason: e.to_string(),
    }
}

fn cbor<T: Serialize>(v: &T) -> Result<RawBytes, ChainError> {
    RawBytes::serialize(v).map_err(|e| ChainError::Invalid(format!("params: {e}")))
}

/// A judge method's result and the receipt of its message.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent<T> {
    /// The decoded return value.
    pub value: T,
    /// The message's receipt (gas used, epoch, CID).
    pub receipt: Receipt,
}

/// Typed calls of the judge actor at one address through a [`LotusClient`].
#[derive(Clone, Debug)]
pub struct JudgeClient {
    node: LotusClient,
    judge: Address,
}

impl JudgeClient {
    /// The judge at `judge` on `node`.
    pub fn new(node: LotusClient, judge: Address) -> Self {
        JudgeClient { node, judge }
    }

    /// The node.
    pub fn node(&self) -> &LotusClient {
        &self.node
    }

    /// The judge's address.
    pub fn address(&self) -> Address {
        self.judge
    }

    async fn send<R: DeserializeOwned>(
        &self,
        from: &SecpSigner,
        m: MethodNum,
        params: RawBytes,
        value: TokenAmount,
    ) -> Result<Sent<R>, ChainError> {
        let receipt = self.node.send(from, self.judge, m, params, value).await?;
        let value = receipt.return_data.deserialize().map_err(|e| {
            bad(
                "Filecoin.StateWaitMsg",
                format!("{} return: {e}", method_label(m)),
            )
        })?;
        Ok(Sent { value, receipt })
    }

    async fn get<R: DeserializeOwned>(
        &self,
        from: Address,
        m: MethodNum,
        params: RawBytes,
    ) -> Result<R, ChainError> {
        let msg = Message {
            version: 0,
            from,
            to: self.judge,
            sequence: 0,
            value: TokenAmount::from_atto(0),
            method_num: m,
            params,
            gas_limit: 0,
            gas_fee_cap: TokenAmount::from_atto(0),
            gas_premium: TokenAmount::from_atto(0),
        };
        let r = self.node.call(&msg).await?;
        if !r.exit_code.is_success() {
            return Err(ChainError::Exit {
                method: method_label(m),
                code: r.exit_code,
                name: exit_name(r.exit_code),
                message: abort_reason(&r.error),
                cid: None,
            });
        }
        r.return_data.deserialize().map_err(|e| {
            bad(
                "Filecoin.StateCall",
                format!("{} return: {e}", method_label(m)),
            )
        })
    }

    /// `AddBalance`: credits `amount` (sent with the message) to `from`'s escrow account.
    pub async fn add_balance(
        &self,
        from: &SecpSigner,
        amount: TokenAmount,
    ) -> Result<Sent<Account>, ChainError> {
        self.send(from, method::ADD_BALANCE, RawBytes::default(), amount)
            .await
    }

    /// `LockFunds`: the terms' client opens the deal, reserving `amount` of its free balance.
    pub async fn lock_funds(
        &self,
        client: &SecpSigner,
        terms: &DealTerms,
        amount: TokenAmount,
    ) -> Result<Sent<Deal>, ChainError> {
        let p = cbor(&LockFundsParams {
            terms: terms.clone(),
            amount,
        })?;
        self.send(client, method::LOCK_FUNDS, p, TokenAmount::from_atto(0))
            .await
    }

    /// `LockCollateral`: the provider accepts deal (`client`, `deal_id`) under the terms of
    /// digest `terms` ([`DealTerms::digest`]) by locking their collateral.
    pub async fn lock_collateral(
        &self,
        provider: &SecpSigner,
        client: Address,
        deal_id: u64,
        terms: Bytes32,
    ) -> Result<Sent<Deal>, ChainError> {
        let p = cbor(&LockCollateralParams {
            client,
            deal_id,
            terms,
        })?;
        self.send(
            provider,
            method::LOCK_COLLATERAL,
            p,
            TokenAmount::from_atto(0),
        )
        .await
    }

    /// `RedeemVoucher`: the provider is paid up to `voucher`'s amount by revealing `key`.
    pub async fn redeem_voucher(
        &self,
        provider: &SecpSigner,
        client: Address,
        deal_id: u64,
        voucher: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<Sent<Deal>, ChainError> {
        let p = cbor(&RedeemVoucherParams {
            client,
            deal_id,
            voucher: voucher.clone(),
            key: Bytes32(*key.expose()),
        })?;
        self.send(
            provider,
            method::REDEEM_VOUCHER,
            p,
            TokenAmount::from_atto(0),
        )
        .await
    }

    /// `Dispute`: the terms' client proves a provider fault with `evidence`.
    pub async fn dispute(
        &self,
        client: &SecpSigner,
        terms: &DealTerms,
        evidence: &Evidence,
    ) -> Result<Sent<DisputeReturn>, ChainError> {
        let evidence =
            encode_evidence(evidence).map_err(|e| ChainError::Invalid(format!("evidence: {e}")))?;
        let p = cbor(&DisputeParams {
            client: terms.proposal.client,
            deal_id: terms.proposal.deal_id,
            terms: terms.clone(),
            evidence,
        })?;
        self.send(client, method::DISPUTE, p, TokenAmount::from_atto(0))
            .await
    }

    /// `Settle`: closes deal (`client`, `deal_id`) after its deadlines.
    pub async fn settle(
        &self,
        from: &SecpSigner,
        client: Address,
        deal_id: u64,
    ) -> Result<Sent<SettleReturn>, ChainError> {
        let p = cbor(&DealRef { client, deal_id })?;
        self.send(from, method::SETTLE, p, TokenAmount::from_atto(0))
            .await
    }

    /// `RegisterVerifyingKey`: stores a compressed Groth16 verifying key; returns its circuit id.
    pub async fn register_verifying_key(
        &self,
        from: &SecpSigner,
        vk: Vec<u8>,
    ) -> Result<Sent<Bytes32>, ChainError> {
        let p = cbor(&RegisterVerifyingKeyParams { vk })?;
        self.send(
            from,
            method::REGISTER_VERIFYING_KEY,
            p,
            TokenAmount::from_atto(0),
        )
        .await
    }

    /// `Withdraw`: pays `amount` of `from`'s free escrow balance back to it.
    pub async fn withdraw(
        &self,
        from: &SecpSigner,
        amount: TokenAmount,
    ) -> Result<Sent<Account>, ChainError> {
        let p = cbor(&WithdrawParams { amount })?;
        self.send(from, method::WITHDRAW, p, TokenAmount::from_atto(0))
            .await
    }

    /// `GetDeal` through `StateCall`: deal (`client`, `deal_id`), or `None`. `client` must exist
    /// on chain (it is the call's sender).
    pub async fn deal(&self, client: Address, deal_id: u64) -> Result<Option<Deal>, ChainError> {
        self.get(
            client,
            method::GET_DEAL,
            cbor(&DealRef { client, deal_id })?,
        )
        .await
    }

    /// `GetAccount` through `StateCall`: `owner`'s escrow account. `owner` must exist on chain
    /// (it is the call's sender).
    pub async fn account(&self, owner: Address) -> Result<Account, ChainError> {
        self.get(
            owner,
            method::GET_ACCOUNT,
            cbor(&GetAccountParams { owner })?,
        )
        .await
    }
}

/// The judge actor behind the driver's [`Judge`] trait for one client/provider pair, over a
/// node's JSON-RPC API: every operation is a signed message from the client's or the
/// provider's key.
///
/// The trait is synchronous: call it from a thread that may block (a plain thread or
/// `tokio::task::spawn_blocking`, or a multi-threaded runtime's worker), never from a
/// current-thread runtime's task. Calls run on the runtime given to [`LotusJudge::new`].
pub struct LotusJudge {
    judge: JudgeClient,
    rt: tokio::runtime::Handle,
    client: SecpSigner,
    provider: SecpSigner,
    devnet: bool,
    deal: Option<(Address, u64)>,
    /// Every message sent: (method name, receipt).
    pub log: Vec<(&'static str, Receipt)>,
    /// The last error, typed (the trait only passes strings on).
    pub last_error: Option<ChainError>,
}

impl LotusJudge {
    /// A judge for deals between `client` and `provider` through `judge`, run on `rt`. On a
    /// devnet (`devnet`), deadlines are passed with `Devnet.Advance`; on a real node, by waiting
    /// for the epochs.
    pub fn new(
        judge: JudgeClient,
        rt: tokio::runtime::Handle,
        client: SecpSigner,
        provider: SecpSigner,
        devnet: bool,
    ) -> Self {
        LotusJudge {
            judge,
            rt,
            client,
            provider,
            devnet,
            deal: None,
            log: Vec::new(),
            last_error: None,
        }
    }

    /// The judge client.
    pub fn judge(&self) -> &JudgeClient {
        &self.judge
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        block_on(&self.rt, f)
    }

    fn record<T>(
        &mut self,
        name: &'static str,
        r: Result<Sent<T>, ChainError>,
    ) -> Result<T, String> {
        match r {
            Ok(s) => {
                self.log.push((name, s.receipt));
                Ok(s.value)
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::warn!("{msg}");
                self.last_error = Some(e);
                Err(msg)
            }
        }
    }

    /// Gas used by the logged messages named `name`.
    pub fn gas(&self, name: &str) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, r)| r.gas_used)
            .collect()
    }

    /// The deal as the judge keeps it (after [`Judge::open`]).
    pub fn deal(&self) -> Result<Option<Deal>, ChainError> {
        match self.deal {
            Some((client, id)) => self.block_on(self.judge.deal(client, id)),
            None => Ok(None),
        }
    }

    /// Waits until the head is past `epoch` (advancing a devnet).
    async fn pass(&self, epoch: ChainEpoch) -> Result<(), ChainError> {
        let node = self.judge.node();
        loop {
            let now = node.epoch().await?;
            if now > epoch {
                return Ok(());
            }
            if self.devnet {
                node.advance((epoch + 1 - now) as u64).await?;
            } else {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }

    /// Lets the deal's dispute window pass and settles it from the provider (its pay and
    /// collateral become free), as a node does once a completed deal's window has closed.
    pub fn settle_deal(&mut self) -> Result<SettleReturn, String> {
        let (client, id) = self.deal.ok_or("no deal opened")?;
        let r = self.block_on(async {
            let deal = self.judge.deal(client, id).await?.ok_or_else(|| {
                ChainError::Invalid(format!("deal {id} of {}: not on chain", addr_str(&client)))
            })?;
            self.pass(deal.dispute_deadline).await?;
            self.judge.settle(&self.provider, client, id).await
        });
        self.record("Settle", r)
    }
}

/// Runs `f` on `rt` from synchronous code (the driver's `Judge` trait): inside a worker of a
/// multi-threaded runtime through `block_in_place`, elsewhere directly. `rt` must be
/// multi-threaded: a handle's `block_on` drives no IO on a current-thread runtime.
pub fn block_on<F: Future>(rt: &tokio::runtime::Handle, f: F) -> F::Output {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| rt.block_on(f))
        }
        _ => rt.block_on(f),
    }
}

/// The fault a won `Dispute` names.
pub fn fault_of(ret: &DisputeReturn) -> Result<Fault, String> {
    EvidenceKind::from_u8(ret.kind)
        .and_then(|k| Fault::from_parts(k, ret.interval, ret.chunk))
        .ok_or_else(|| format!("the judge returned an unknown fault {ret:?}"))
}

/// The log name of a dispute of `kind`.
pub fn dispute_name(kind: EvidenceKind) -> &'static str {
    match kind {
        EvidenceKind::WrongKey => "Dispute (wrong key)",
        EvidenceKind::InvalidProof => "Dispute (invalid Groth16 proof)",
        EvidenceKind::BadChunk => "Dispute (bad chunk)",
        EvidenceKind::BrokenChain => "Dispute (broken chain)",
        EvidenceKind::BadChainStart => "Dispute (bad chain start)",
        EvidenceKind::WrongFinalDigest => "Dispute (wrong final digest)",
        EvidenceKind::BadLayout => "Dispute (bad layout)",
    }
}

impl Judge for LotusJudge {
    fn open(&mut self, terms: &DealTerms, amount: &TokenAmount) -> Result<(), String> {
        let p = &terms.proposal;
        self.deal = Some((p.client, p.deal_id));
        let j = self.judge.clone();
        let r = self.block_on(j.add_balance(&self.client, amount.clone()));
        self.record("AddBalance", r)?;
        let r = self.block_on(j.lock_funds(&self.client, terms, amount.clone()));
        self.record("LockFunds", r)?;
        if p.collateral.is_positive() {
            let r = self.block_on(j.add_balance(&self.provider, p.collateral.clone()));
            self.record("AddBalance", r)?;
        }
        let digest = terms.digest().map_err(|e| e.to_string())?;
        let r = self.block_on(j.lock_collateral(&self.provider, p.client, p.deal_id, digest));
        self.record("LockCollateral", r)?;
        Ok(())
    }

    fn funds(&self) -> Option<TokenAmount> {
        // The provider reads the deal from chain state.
        let deal = self.deal().ok()??;
        deal.status.is_live().then(|| &deal.paid + &deal.locked)
    }

    fn redeem(
        &mut self,
        terms: &DealTerms,
        _j: u32,
        v: &SignedVoucher,
        key: &IntervalKey,
    ) -> Result<(), String> {
        let p = &terms.proposal;
        let r =
            self.block_on(
                self.judge
                    .redeem_voucher(&self.provider, p.client, p.deal_id, v, key),
            );
        self.record("RedeemVoucher", r).map(drop)
    }

    fn dispute(&mut self, terms: &DealTerms, evidence: &Evidence) -> Result<Fault, String> {
        let r = self.block_on(self.judge.dispute(&self.client, terms, evidence));
        let ret = self.record(dispute_name(evidence.kind()), r)?;
        fault_of(&ret)
    }

    fn settle(&mut self, terms: &DealTerms) {
        let p = &terms.proposal;
        let deadline = p.key_reveal_deadline + p.dispute_window;
        let (client, id) = (p.client, p.deal_id);
        let r = self.block_on(async {
            self.pass(deadline).await?;
            self.judge.settle(&self.client, client, id).await
        });
        let _ = self.record("Settle", r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake node (JSON-RPC over a real socket) whose first `n_out_of_gas` executed messages
    /// run out of gas; counts the pushes.
    async fn fake_node(
        n_out_of_gas: u32,
    ) -> (
        jsonrpsee::server::ServerHandle,
        String,
        Arc<std::sync::atomic::AtomicU32>,
    ) {
        use ozkcp_devnet::json::{CidJson, MessageJson, MsgLookupJson, ReceiptJson};
        use std::sync::atomic::Ordering::SeqCst;
        let pushes = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut m = jsonrpsee::RpcModule::new(pushes.clone());
        m.register_method("Filecoin.GasEstimateMessageGas", |p, _, _| {
            let (mut msg, _, _): (
                MessageJson,
                Option<serde_json::Value>,
                Option<serde_json::Value>,
            ) = p.parse().unwrap();
            msg.gas_limit = 1_000;
            serde_json::to_value(msg).unwrap()
        })
        .unwrap();
        m.register_method("Filecoin.MpoolGetNonce", |_, n, _| n.load(SeqCst) as u64)
            .unwrap();
        m.register_method("Filecoin.MpoolPush", |_, n, _| {
            n.fetch_add(1, SeqCst);
            serde_json::to_value(CidJson::from(&Cid::default())).unwrap()
        })
        .unwrap();
        m.register_method("Filecoin.StateWaitMsg", move |_, n, _| {
            let code = if n.load(SeqCst) <= n_out_of_gas {
                ExitCode::SYS_OUT_OF_GAS
            } else {
                ExitCode::OK
            };
            let lookup = MsgLookupJson {
                message: CidJson::from(&Cid::default()),
                receipt: ReceiptJson {
                    exit_code: code.value(),
                    r#return: None,
                    gas_used: 1_000,
                    events_root: None,
                },
                return_dec: None,
                tip_set: Vec::new(),
                height: 7,
            };
            serde_json::to_value(lookup).unwrap()
        })
        .unwrap();
        let server = jsonrpsee::server::Server::builder()
            .build("127.0.0.1:0")
            .await
            .unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        (server.start(m), url, pushes)
    }

    #[tokio::test]
    async fn a_message_out_of_gas_is_estimated_and_sent_again_a_bounded_number_of_times() {
        let key = SecpSigner::from_bytes(&[3; 32]).unwrap();
        let send = |url: String| {
            let key = key.clone();
            async move {
                LotusClient::new(&url, None)
                    .unwrap()
                    .send(
                        &key,
                        Address::new_id(1000),
                        2,
                        RawBytes::default(),
                        TokenAmount::from_atto(0),
                    )
                    .await
            }
        };
        // Out of gas twice, then it lands on the third push.
        let (_srv, url, pushes) = fake_node(2).await;
        let r = send(url).await.unwrap();
        assert!(r.exit_code.is_success());
        assert_eq!(pushes.load(std::sync::atomic::Ordering::SeqCst), 3);
        // Out of gas every time: the error, after OUT_OF_GAS_ATTEMPTS pushes and no more.
        let (_srv, url, pushes) = fake_node(u32::MAX).await;
        match send(url).await {
            Err(ChainError::Exit {
                code, cid: Some(_), ..
            }) => {
                assert_eq!(code, ExitCode::SYS_OUT_OF_GAS)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            pushes.load(std::sync::atomic::Ordering::SeqCst),
            OUT_OF_GAS_ATTEMPTS
        );
    }

    #[test]
    fn every_judge_exit_code_has_its_own_name() {
        let codes = [
            (exit::ILLEGAL_ARGUMENT, "ILLEGAL_ARGUMENT"),
            (exit::FORBIDDEN, "FORBIDDEN"),
            (exit::WRONG_PREIMAGE, "WRONG_PREIMAGE"),
            (exit::DEAL_CLOSED, "DEAL_CLOSED"),
            (ExitCode::SYS_OUT_OF_GAS, "SYS_OUT_OF_GAS"),
        ];
        for (c, n) in codes {
            assert_eq!(exit_name(c), n);
        }
        let mut seen = std::collections::HashSet::new();
        for v in 0..=255u32 {
            let n = exit_name(ExitCode::new(v));
            assert!(n == "UNKNOWN" || seen.insert(n), "{n} named twice");
        }
        // 16..=24 and 32..=45: every code the judge uses is named.
        for v in (16..=24).chain(32..=45) {
            assert_ne!(exit_name(ExitCode::new(v)), "UNKNOWN", "code {v}");
        }
        assert_eq!(exit_name(ExitCode::new(46)), "UNKNOWN");
    }

    #[test]
    fn abort_reasons_are_cut_from_fvm_backtraces() {
        let bt = "message failed with backtrace:\n00: f01000 (method 1234) -- only the deal's provider redeems its vouchers (18)\n";
        assert_eq!(
            abort_reason(bt),
            "only the deal's provider redeems its vouchers"
        );
        assert_eq!(abort_reason("plain"), "plain");
    }

    #[test]
    fn method_names() {
        assert_eq!(method_name(method::REDEEM_VOUCHER), Some("RedeemVoucher"));
        assert_eq!(method_label(7), "method 7");
    }
}
