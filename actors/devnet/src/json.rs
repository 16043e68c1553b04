//! Lotus JSON shapes for the JSON-RPC API, and conversions from and to the FVM types.
//!
//! Conventions (as Lotus): CIDs are `{"/": "bafy…"}`, amounts are decimal attoFIL strings,
//! bytes are standard base64 strings, addresses are strings. The devnet prints addresses with
//! the testnet prefix `t` (as Lotus devnets do) and accepts both `t` and `f` on input.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cid::Cid;
use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::crypto::signature::{Signature, SignatureType};
use fvm_shared::econ::TokenAmount;
use fvm_shared::message::Message;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

use crate::chain::{ActorInfo, Lookup, Tipset};
use crate::error::DevnetError;
use crate::wallet::{message_cid, SignedMessage};

/// An address as the devnet prints it: `t` prefix.
pub fn addr_str(a: &Address) -> String {
    let s = a.to_string();
    format!("t{}", &s[1..])
}

/// Parses an address with either network prefix (`f…` or `t…`).
pub fn parse_addr(s: &str) -> Result<Address, DevnetError> {
    let rest = s
        .strip_prefix('t')
        .or_else(|| s.strip_prefix('f'))
        .ok_or_else(|| DevnetError::Invalid(format!("address {s:?} must start with t or f")))?;
    // fvm_shared parses with the process-wide network prefix (mainnet `f` by default).
    let current = Address::new_id(0).to_string();
    let prefix = &current[..1];
    Address::from_str(&format!("{prefix}{rest}"))
        .map_err(|e| DevnetError::Invalid(format!("address {s:?}: {e}")))
}

/// Parses a decimal attoFIL amount.
pub fn parse_amount(s: &str) -> Result<TokenAmount, DevnetError> {
    let atto = fvm_shared::bigint::BigInt::from_str(s)
        .map_err(|e| DevnetError::Invalid(format!("amount {s:?}: {e}")))?;
    Ok(TokenAmount::from_atto(atto))
}

/// A CID in Lotus/DAG-JSON form: `{"/": "bafy…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CidJson {
    /// The CID's string form.
    #[serde(rename = "/")]
    pub cid: String,
}

impl From<&Cid> for CidJson {
    fn from(c: &Cid) -> Self {
        CidJson { cid: c.to_string() }
    }
}

impl CidJson {
    /// Parses the CID.
    pub fn to_cid(&self) -> Result<Cid, DevnetError> {
        Cid::try_from(self.cid.as_str())
            .map_err(|e| DevnetError::Invalid(format!("cid {:?}: {e}", self.cid)))
    }
}

/// Lotus `Message` JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageJson {
    /// Always 0.
    pub version: u64,
    /// Receiver.
    pub to: String,
    /// Sender.
    pub from: String,
    /// Sender's nonce.
    pub nonce: u64,
    /// attoFIL.
    pub value: String,
    /// Gas limit.
    pub gas_limit: u64,
    /// attoFIL per gas.
    pub gas_fee_cap: String,
    /// attoFIL per gas (must be 0 on the devnet).
    pub gas_premium: String,
    /// Method number.
    pub method: u64,
    /// base64 CBOR params, or null.
    #[serde(default)]
    pub params: Option<String>,
    /// The message's CID (output only, as Lotus adds it; ignored on input).
    #[serde(rename = "CID", default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<CidJson>,
}

impl From<&Message> for MessageJson {
    fn from(m: &Message) -> Self {
        MessageJson {
            version: m.version,
            to: addr_str(&m.to),
            from: addr_str(&m.from),
            nonce: m.sequence,
            value: m.value.atto().to_string(),
            gas_limit: m.gas_limit,
            gas_fee_cap: m.gas_fee_cap.atto().to_string(),
            gas_premium: m.gas_premium.atto().to_string(),
            method: m.method_num,
            params: (!m.params.is_empty()).then(|| B64.encode(m.params.bytes())),
            cid: Some((&message_cid(m)).into()),
        }
    }
}

impl TryFrom<&MessageJson> for Message {
    type Error = DevnetError;
    fn try_from(m: &MessageJson) -> Result<Self, DevnetError> {
        let params = match &m.params {
            None => RawBytes::default(),
            Some(p) => RawBytes::new(
                B64.decode(p)
                    .map_err(|e| DevnetError::Invalid(format!("params base64: {e}")))?,
            ),
        };
        Ok(Message {
            version: m.version,
            to: parse_addr(&m.to)?,
            from: parse_addr(&m.from)?,
            sequence: m.nonce,
            value: parse_amount(&m.value)?,
            method_num: m.method,
            params,
            gas_limit: m.gas_limit,
            gas_fee_cap: parse_amount(&m.gas_fee_cap)?,
            gas_premium: parse_amount(&m.gas_premium)?,
        })
    }
}

/// Lotus `Signature` JSON: `{"Type": 1, "Data": base64}` (1 = secp256k1, 2 = BLS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignatureJson {
    /// 1 secp256k1, 2 BLS.
    #[serde(rename = "Type")]
    pub sig_type: u8,
    /// base64 signature bytes.
    pub data: String,
}

/// Lotus `SignedMessage` JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignedMessageJson {
    /// The message.
    pub message: MessageJson,
    /// Its signature.
    pub signature: SignatureJson,
    /// The signed message's CID (output only).
    #[serde(rename = "CID", default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<CidJson>,
}

impl From<&SignedMessage> for SignedMessageJson {
    fn from(sm: &SignedMessage) -> Self {
        SignedMessageJson {
            message: (&sm.message).into(),
            signature: SignatureJson {
                sig_type: match sm.signature.signature_type() {
                    SignatureType::Secp256k1 => 1,
                    SignatureType::BLS => 2,
                },
                data: B64.encode(sm.signature.bytes()),
            },
            cid: Some((&sm.cid()).into()),
        }
    }
}

impl TryFrom<&SignedMessageJson> for SignedMessage {
    type Error = DevnetError;
    fn try_from(sm: &SignedMessageJson) -> Result<Self, DevnetError> {
        let data = B64
            .decode(&sm.signature.data)
            .map_err(|e| DevnetError::Invalid(format!("signature base64: {e}")))?;
        let signature = match sm.signature.sig_type {
            1 => Signature::new_secp256k1(data),
            2 => Signature::new_bls(data),
            t => return Err(DevnetError::Invalid(format!("signature type {t}"))),
        };
        Ok(SignedMessage {
            message: Message::try_from(&sm.message)?,
            signature,
        })
    }
}

/// Lotus `MessageReceipt` JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiptJson {
    /// Exit code.
    pub exit_code: u32,
    /// base64 CBOR return value, or null.
    pub r#return: Option<String>,
    /// Gas used.
    pub gas_used: u64,
    /// Always null on the devnet (no events).
    pub events_root: Option<CidJson>,
}

/// Lotus `MsgLookup` JSON (answer of `StateWaitMsg` / `StateSearchMsg`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MsgLookupJson {
    /// The message's CID (the signed CID for secp messages).
    pub message: CidJson,
    /// Its receipt.
    pub receipt: ReceiptJson,
    /// Always null.
    pub return_dec: Option<serde_json::Value>,
    /// Tipset key of the tipset that executed it.
    pub tip_set: Vec<CidJson>,
    /// Its epoch.
    pub height: i64,
}

impl From<&Lookup> for MsgLookupJson {
    fn from(l: &Lookup) -> Self {
        MsgLookupJson {
            message: (&l.message).into(),
            receipt: ReceiptJson {
                exit_code: l.exit_code.value(),
                r#return: (!l.return_data.is_empty()).then(|| B64.encode(l.return_data.bytes())),
                gas_used: l.gas_used,
                events_root: None,
            },
            return_dec: None,
            tip_set: vec![(&l.tipset).into()],
            height: l.epoch as i64,
        }
    }
}

impl MsgLookupJson {
    /// Exit code, return bytes and gas, decoded.
    pub fn return_bytes(&self) -> Result<Vec<u8>, DevnetError> {
        match &self.receipt.r#return {
            None => Ok(vec![]),
            Some(r) => B64
                .decode(r)
                .map_err(|e| DevnetError::Invalid(format!("return base64: {e}"))),
        }
    }
}

/// A block header of the devnet, in a reduced Lotus `BlockHeader` shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlockHeaderJson {
    /// Always `t00` (no miners on the devnet).
    pub miner: String,
    /// Parent tipset key.
    pub parents: Vec<CidJson>,
    /// Epoch.
    pub height: i64,
    /// State root before this block's messages.
    pub parent_state_root: CidJson,
    /// Devnet extension: state root after this block's messages.
    pub state_root: CidJson,
    /// Devnet extension: signed CIDs of the messages it executed.
    pub messages: Vec<CidJson>,
    /// Unix seconds.
    pub timestamp: u64,
    /// Always "0".
    pub parent_base_fee: String,
}

/// Lotus `TipSet` JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TipSetJson {
    /// Tipset key.
    pub cids: Vec<CidJson>,
    /// Its one block.
    pub blocks: Vec<BlockHeaderJson>,
    /// Epoch.
    pub height: i64,
}

impl From<&Tipset> for TipSetJson {
    fn from(t: &Tipset) -> Self {
        TipSetJson {
            cids: vec![(&t.block).into()],
            blocks: vec![BlockHeaderJson {
                miner: "t00".into(),
                parents: t.parent.iter().map(CidJson::from).collect(),
                height: t.epoch as i64,
                parent_state_root: (&t.parent_state_root).into(),
                state_root: (&t.state_root).into(),
                messages: t.messages.iter().map(CidJson::from).collect(),
                timestamp: t.timestamp,
                parent_base_fee: "0".into(),
            }],
            height: t.epoch as i64,
        }
    }
}

/// Lotus `Actor` JSON (answer of `StateGetActor`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActorJson {
    /// Code CID.
    pub code: CidJson,
    /// State root.
    pub head: CidJson,
    /// Next nonce.
    pub nonce: u64,
    /// attoFIL.
    pub balance: String,
    /// Always null (no f4 addresses on the devnet).
    pub delegated_address: Option<String>,
}

impl From<&ActorInfo> for ActorJson {
    fn from(a: &ActorInfo) -> Self {
        ActorJson {
            code: (&a.code).into(),
            head: (&a.head).into(),
            nonce: a.nonce,
            balance: a.balance.atto().to_string(),
            delegated_address: None,
        }
    }
}

/// Lotus `ActorState` JSON (answer of `StateReadState`).
///
/// `State` is the actor's state root decoded generically from DAG-CBOR to DAG-JSON (links as
/// `{"/": cid}`, bytes as `{"/": {"bytes": base64}}`, tuples as arrays), since the devnet knows
/// no actor's types; `RawState` is the same block as base64 CBOR, for typed decoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActorStateJson {
    /// attoFIL.
    pub balance: String,
    /// Code CID.
    pub code: CidJson,
    /// The state decoded as DAG-JSON.
    pub state: serde_json::Value,
    /// Devnet extension: the state block, base64 CBOR.
    pub raw_state: String,
}

/// A genesis account with its key, Lotus `KeyInfo` style (answer of `Devnet.Accounts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountJson {
    /// The f1 address (`t1…`).
    pub address: String,
    /// The ID address (`t0…`).
    pub id_address: String,
    /// Always "secp256k1".
    #[serde(rename = "Type")]
    pub key_type: String,
    /// base64 of the 32-byte secret key (as `lotus wallet export` after hex-decoding).
    pub private_key: String,
}

/// Answer of `Devnet.InstallActor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstalledActorJson {
    /// `t0…`.
    pub id_address: String,
    /// `t2…`.
    pub robust_address: String,
    /// Code CID.
    pub code: CidJson,
    /// Epoch of the install.
    pub height: i64,
}

/// Converts a DAG-CBOR block to DAG-JSON.
pub fn cbor_to_json(bytes: &[u8]) -> Result<serde_json::Value, DevnetError> {
    let ipld: ipld_core::ipld::Ipld = fvm_ipld_encoding::from_slice(bytes)?;
    Ok(ipld_to_json(&ipld))
}

fn ipld_to_json(v: &ipld_core::ipld::Ipld) -> serde_json::Value {
    use ipld_core::ipld::Ipld;
    use serde_json::{json, Value};
    match v {
        Ipld::Null => Value::Null,
        Ipld::Bool(b) => json!(b),
        Ipld::Integer(i) => {
            if let Ok(x) = i64::try_from(*i) {
                json!(x)
            } else if let Ok(x) = u64::try_from(*i) {
                json!(x)
            } else {
                json!(i.to_string())
            }
        }
        Ipld::Float(f) => json!(f),
        Ipld::String(s) => json!(s),
        Ipld::Bytes(b) => json!({"/": {"bytes": B64.encode(b)}}),
        Ipld::List(l) => Value::Array(l.iter().map(ipld_to_json).collect()),
        Ipld::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), ipld_to_json(v)))
                .collect(),
        ),
        Ipld::Link(c) => json!({"/": c.to_string()}),
    }
}

/// Lotus `InvocResult` JSON (answer of `StateCall`), the fields the devnet fills.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocResultJson {
    /// CID of the (unsigned) message as simulated.
    pub msg_cid: CidJson,
    /// The message as simulated (nonce and fees set by the devnet).
    pub msg: MessageJson,
    /// Its receipt.
    pub msg_rct: ReceiptJson,
    /// FVM failure info, "" on success.
    pub error: String,
}

impl InvocResultJson {
    /// Builds the answer from the simulated message and its result.
    pub fn new(msg: &Message, r: &crate::chain::CallResult) -> Self {
        InvocResultJson {
            msg_cid: (&message_cid(msg)).into(),
            msg: msg.into(),
            msg_rct: ReceiptJson {
                exit_code: r.exit_code.value(),
                r#return: (!r.return_data.is_empty()).then(|| B64.encode(r.return_data.bytes())),
                gas_used: r.gas_used,
                events_root: None,
            },
            error: r.error.clone().unwrap_or_default(),
        }
    }

    /// The return bytes, decoded from base64.
    pub fn return_bytes(&self) -> Result<Vec<u8>, DevnetError> {
        match &self.msg_rct.r#return {
            None => Ok(vec![]),
            Some(r) => B64
                .decode(r)
                .map_err(|e| DevnetError::Invalid(format!("return base64: {e}"))),
        }
    }
}

/// Lotus `APIVersion` JSON (answer of `Filecoin.Version`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionJson {
    /// `ozkcp-devnet/<crate version>`.
    pub version: String,
    /// Lotus's full-node API version number this subset follows.
    #[serde(rename = "APIVersion")]
    pub api_version: u32,
    /// Seconds per epoch (nominal).
    pub block_delay: u64,
}
