//! The sidecar's API: one `Ozkcp` namespace, one trait for the server and the typed client, its
//! JSON types (Lotus style: PascalCase fields, CIDs as `{"/": "bafy…"}`), the permission of
//! every method, the error codes, and the OpenRPC document served by `rpc.discover`.
//!
//! To add a method: declare it in [`OzkcpApi`], give it a row in [`METHODS`] (the server refuses
//! any method without one, and a test checks the two agree), implement it in
//! [`crate::server`].

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::Permission;
use crate::store::{DealMachine, DealRecord, ImportRecord, Side};

/// JSON-RPC error codes beyond the standard ones (-32700 parse error, -32600 invalid request,
/// -32601 method not found, -32602 invalid params, -32603 internal error, and jsonrpsee's
/// -32007 request too big).
pub mod codes {
    /// A method's own failure (Lotus answers every method error with code 1).
    pub const METHOD_ERROR: i32 = 1;
    /// Missing, malformed, forged or expired token. Over HTTP this comes with status 401 (as
    /// Lotus answers); a WebSocket upgrade without a valid token is refused with 401 too.
    pub const UNAUTHORIZED: i32 = -32001;
    /// The token is valid but lacks the method's permission.
    pub const FORBIDDEN: i32 = -32003;
}

/// The API version (Lotus encodes semver as `major << 16 | minor << 8 | patch`).
pub const API_VERSION: u32 = 1 << 16;

/// The protocol this sidecar speaks to peers.
pub const PROTOCOL: &str = "ozkcp/1";

/// The `Ozkcp` namespace. The server implements `OzkcpApiServer`; the CLI and tests call it
/// through `OzkcpApiClient`.
#[rpc(server, client, namespace = "Ozkcp", namespace_separator = ".")]
pub trait OzkcpApi {
    /// The sidecar's version.
    #[method(name = "Version")]
    async fn version(&self) -> jsonrpsee::core::RpcResult<VersionJson>;

    /// The permissions `token` grants (empty list is never returned: bad tokens are errors).
    #[method(name = "AuthVerify")]
    async fn auth_verify(&self, token: String) -> jsonrpsee::core::RpcResult<Vec<Permission>>;

    /// A new token with exactly these permissions (Lotus `AuthNew`).
    #[method(name = "AuthNew")]
    async fn auth_new(&self, perms: Vec<Permission>) -> jsonrpsee::core::RpcResult<String>;

    /// Every deal, both sides, oldest first.
    #[method(name = "Deals")]
    async fn deals(&self) -> jsonrpsee::core::RpcResult<Vec<DealInfo>>;

    /// One deal's status.
    #[method(name = "Deal")]
    async fn deal(&self, id: u64) -> jsonrpsee::core::RpcResult<DealInfo>;

    /// Cancels a deal that is not over yet.
    #[method(name = "DealCancel")]
    async fn deal_cancel(&self, id: u64) -> jsonrpsee::core::RpcResult<DealInfo>;

    /// Imports a file on the provider side (an absolute path on the sidecar's machine, as
    /// Lotus' `ClientImport`): cuts it into blocks under a root and stores them.
    #[method(name = "ProviderImport")]
    async fn provider_import(
        &self,
        path: String,
        leaf_size: Option<u64>,
    ) -> jsonrpsee::core::RpcResult<ImportInfo>;

    /// Every import.
    #[method(name = "ProviderImports")]
    async fn provider_imports(&self) -> jsonrpsee::core::RpcResult<Vec<ImportInfo>>;

    /// Starts a retrieval as a client; the deal runs in the background (follow it with
    /// `Ozkcp.Deal` or `Ozkcp.DealEvents`).
    #[method(name = "ClientRetrieve")]
    async fn client_retrieve(&self, params: RetrieveParams)
        -> jsonrpsee::core::RpcResult<DealInfo>;

    /// This sidecar as a provider: its address, peer address and policy.
    #[method(name = "ProviderInfo")]
    async fn provider_info(&self) -> jsonrpsee::core::RpcResult<ProviderInfoJson>;

    /// Streams every committed deal step, and `ActionsDone` once a finished deal's last actions
    /// have run (WebSocket only).
    #[subscription(name = "DealEvents" => "DealEvent", unsubscribe = "DealEventsUnsubscribe", item = DealEventJson)]
    async fn deal_events(&self) -> SubscriptionResult;
}

/// One method: its name, permission and what `rpc.discover` says about it.
#[derive(Debug, Clone, Copy)]
pub struct MethodSpec {
    /// Full name, e.g. `Ozkcp.Deal`.
    pub name: &'static str,
    /// What a token needs to call it.
    pub perm: Permission,
    /// One line for the OpenRPC document.
    pub summary: &'static str,
    /// Positional params: name, JSON schema (a type name or a `#/components/schemas/…` ref),
    /// required.
    pub params: &'static [(&'static str, &'static str, bool)],
    /// The result's schema (as for params); empty for none.
    pub result: &'static str,
}

const fn m(
    name: &'static str,
    perm: Permission,
    summary: &'static str,
    params: &'static [(&'static str, &'static str, bool)],
    result: &'static str,
) -> MethodSpec {
    MethodSpec {
        name,
        perm,
        summary,
        params,
        result,
    }
}

use Permission::{Admin, Read, Write};

/// Every method the server answers, with its permission. Permissions follow Lotus' choices for
/// the closest Lotus method (`ClientImport` is admin: it reads server-side files;
/// `ClientListImports` and `ClientCancelRetrievalDeal` are write; `AuthNew` is admin).
pub const METHODS: &[MethodSpec] = &[
    m(
        "Ozkcp.Version",
        Read,
        "The sidecar's version.",
        &[],
        "Version",
    ),
    m(
        "Ozkcp.AuthVerify",
        Read,
        "The permissions a token grants.",
        &[("token", "string", true)],
        "Permissions",
    ),
    m(
        "Ozkcp.AuthNew",
        Admin,
        "A new token with exactly these permissions.",
        &[("perms", "Permissions", true)],
        "string",
    ),
    m(
        "Ozkcp.Deals",
        Read,
        "Every deal, both sides, oldest first.",
        &[],
        "DealList",
    ),
    m(
        "Ozkcp.Deal",
        Read,
        "One deal's status.",
        &[("id", "integer", true)],
        "DealInfo",
    ),
    m(
        "Ozkcp.DealCancel",
        Write,
        "Cancels a deal that is not over yet.",
        &[("id", "integer", true)],
        "DealInfo",
    ),
    m(
        "Ozkcp.ProviderImport",
        Admin,
        "Imports a file (absolute path on the sidecar's machine) for serving.",
        &[("path", "string", true), ("leafSize", "integer", false)],
        "ImportInfo",
    ),
    m(
        "Ozkcp.ProviderImports",
        Write,
        "Every import.",
        &[],
        "ImportList",
    ),
    m(
        "Ozkcp.ClientRetrieve",
        Write,
        "Starts a retrieval as a client (Lotus: ClientRetrieve is write).",
        &[("params", "RetrieveParams", true)],
        "DealInfo",
    ),
    m(
        "Ozkcp.ProviderInfo",
        Read,
        "This sidecar's provider address, peer address and policy.",
        &[],
        "ProviderInfo",
    ),
    m(
        "Ozkcp.DealEvents",
        Read,
        "Subscribes to deal steps (WebSocket); notifications are Ozkcp.DealEvent.",
        &[],
        "string",
    ),
    m(
        "Ozkcp.DealEventsUnsubscribe",
        Read,
        "Ends a DealEvents subscription.",
        &[("subscription", "string", true)],
        "boolean",
    ),
    m(
        "rpc.discover",
        Read,
        "This OpenRPC document.",
        &[],
        "object",
    ),
];

/// The permission `method` needs; `None` for a method the server does not have.
pub fn permission_of(method: &str) -> Option<Permission> {
    METHODS.iter().find(|s| s.name == method).map(|s| s.perm)
}

/// `Ozkcp.Version`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionJson {
    /// e.g. `ozkcp 0.1.0`.
    pub version: String,
    /// [`API_VERSION`].
    #[serde(rename = "APIVersion")]
    pub api_version: u32,
    /// [`PROTOCOL`].
    pub protocol: String,
}

/// A CID as Lotus writes it in JSON: `{"/": "bafy…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CidJson {
    /// The CID's string form.
    #[serde(rename = "/")]
    pub cid: String,
}

impl CidJson {
    fn of(cid: &ozkcp::core::Cid) -> Self {
        CidJson {
            cid: cid.to_string(),
        }
    }
}

/// A deal's status as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealInfo {
    /// Local id (use it with `Ozkcp.Deal` and `Ozkcp.DealCancel`).
    #[serde(rename = "ID")]
    pub id: u64,
    /// The protocol's deal id (the client's; equals `ID` for client deals).
    #[serde(rename = "DealID")]
    pub deal_id: u64,
    /// `client` or `provider`.
    pub side: Side,
    /// The seed's state name, e.g. `DealStatusOngoing`.
    pub status: String,
    /// `fraud` or `zk`.
    pub mode: String,
    /// The other party.
    pub peer: String,
    /// The payload root, once known.
    pub payload_root: Option<CidJson>,
    /// Payment intervals (0 until accepted).
    pub intervals: u32,
    /// Intervals paid (client: vouchers sent; provider: vouchers accepted).
    pub paid: u32,
    /// Client: intervals received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<u32>,
    /// Client: intervals verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<u32>,
    /// Client: intervals opened with their keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened: Option<u32>,
    /// Provider: intervals sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<u32>,
    /// Why the deal failed, if it did.
    pub message: String,
    /// Whether the deal is over.
    pub terminal: bool,
    /// Steps committed.
    pub step: u64,
    /// Actions of the last step not yet confirmed done by the host.
    pub pending_actions: usize,
    /// Creation time, ms since the epoch.
    pub created: u64,
    /// Last step's time, ms since the epoch.
    pub updated: u64,
}

impl From<&DealRecord> for DealInfo {
    fn from(r: &DealRecord) -> Self {
        let (deal_id, intervals, paid, received, verified, opened, sent, message) = match &r.machine
        {
            DealMachine::Client(s) => (
                s.deal_id,
                s.intervals,
                s.paid,
                Some(s.received),
                Some(s.verified),
                Some(s.opened),
                None,
                s.message.clone(),
            ),
            DealMachine::Provider(s) => (
                s.deal_id,
                s.intervals,
                s.paid,
                None,
                None,
                None,
                Some(s.sent),
                s.message.clone(),
            ),
        };
        DealInfo {
            id: r.id,
            deal_id,
            side: r.side(),
            status: r.status_name(),
            mode: mode_name(r.mode()).into(),
            peer: r.peer.clone(),
            payload_root: r.payload_root.as_ref().map(CidJson::of),
            intervals,
            paid,
            received,
            verified,
            opened,
            sent,
            message,
            terminal: r.is_terminal(),
            step: r.step,
            pending_actions: r.pending.len(),
            created: r.created_ms,
            updated: r.updated_ms,
        }
    }
}

/// `fraud` or `zk`.
pub fn mode_name(mode: ozkcp::core::deal::ProofMode) -> &'static str {
    match mode {
        ozkcp::core::deal::ProofMode::Fraud => "fraud",
        ozkcp::core::deal::ProofMode::Zk => "zk",
    }
}

/// A deal step, as `Ozkcp.DealEvent` notifications carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealEventJson {
    /// The event, e.g. `DealAccepted` (`Created` for a new deal).
    pub event: String,
    /// The state before (empty for a new deal).
    pub from: String,
    /// The state after.
    pub to: String,
    /// The deal after the step.
    pub deal: DealInfo,
}

/// An imported payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportInfo {
    /// Root CID.
    pub root: CidJson,
    /// File size in bytes.
    pub size: u64,
    /// Blocks, root included.
    pub blocks: u64,
    /// Leaf block size.
    pub leaf_size: u64,
    /// The imported path.
    pub source: String,
    /// Import time, ms since the epoch.
    pub created: u64,
}

impl From<&ImportRecord> for ImportInfo {
    fn from(r: &ImportRecord) -> Self {
        ImportInfo {
            root: CidJson::of(&r.root),
            size: r.size,
            blocks: r.blocks,
            leaf_size: r.leaf_size,
            source: r.source.clone(),
            created: r.created_ms,
        }
    }
}

/// Where a provider is: its wallet address and its peer address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProviderAddr {
    /// Its f1 address (it signs the terms).
    pub address: String,
    /// Its peer address: `ws://host:port/peer/v0` or `host:port`.
    pub peer: String,
}

impl ProviderAddr {
    /// Parses `<f-address>@<peer address>`, as `Ozkcp.ProviderInfo`'s `Spec` prints it.
    pub fn parse(s: &str) -> Option<Self> {
        let (address, peer) = s.trim().split_once('@')?;
        (!address.is_empty() && !peer.is_empty()).then(|| ProviderAddr {
            address: address.into(),
            peer: peer.into(),
        })
    }
}

/// `Ozkcp.ClientRetrieve`'s request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetrieveParams {
    /// The payload's root CID.
    pub root: CidJson,
    /// Who serves it.
    pub provider: ProviderAddr,
    /// `fraud` or `zk`.
    pub mode: String,
    /// Price per chunk in attoFIL (decimal string); default 0.
    #[serde(default)]
    pub price_per_chunk: Option<String>,
    /// Chunk size; default 16 KiB in fraud mode, the parameters' in zk mode.
    #[serde(default)]
    pub chunk_size: Option<u32>,
    /// Collateral asked of the provider in attoFIL (decimal string); default 0.
    #[serde(default)]
    pub collateral: Option<String>,
    /// Absolute path on the sidecar's machine to write the payload to.
    pub out: String,
}

/// `Ozkcp.ProviderInfo`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProviderInfoJson {
    /// The wallet address.
    pub address: String,
    /// `ws://…/peer/v0`, if the sidecar serves peers.
    pub peer: Option<String>,
    /// `<address>@<peer>`, what `ozkcp retrieve --provider` takes.
    pub spec: Option<String>,
    /// Modes served.
    pub modes: Vec<String>,
    /// Lowest price per chunk, attoFIL.
    pub min_price_per_chunk: String,
    /// The zk parameters' chunk size, if any.
    pub zk_chunk_size: Option<u32>,
}

/// A method's own error (code 1, as Lotus).
pub fn method_error(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::METHOD_ERROR, msg.to_string(), None::<()>)
}

/// The OpenRPC document of [`METHODS`] (each with an `x-permission` field).
pub fn openrpc_document() -> Value {
    let schema = |t: &str| -> Value {
        match t {
            "string" | "integer" | "boolean" | "object" => json!({ "type": t }),
            other => json!({ "$ref": format!("#/components/schemas/{other}") }),
        }
    };
    let methods: Vec<Value> = METHODS
        .iter()
        .map(|s| {
            let params: Vec<Value> = s
                .params
                .iter()
                .map(|(name, t, required)| {
                    json!({ "name": name, "required": required, "schema": schema(t) })
                })
                .collect();
            let mut method = json!({
                "name": s.name,
                "summary": s.summary,
                "paramStructure": "by-position",
                "params": params,
                "x-permission": s.perm.as_str(),
            });
            if !s.result.is_empty() {
                method["result"] = json!({ "name": "result", "schema": schema(s.result) });
            }
            method
        })
        .collect();
    let int = json!({ "type": "integer" });
    let string = json!({ "type": "string" });
    let cid = json!({ "type": "object", "properties": { "/": string } });
    json!({
        "openrpc": "1.2.6",
        "info": {
            "title": "ozkcp sidecar",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Fair-exchange retrieval. HS256 JWT bearer tokens with read/write/sign/admin permissions; x-permission names each method's."
        },
        "methods": methods,
        "components": { "schemas": {
            "Version": { "type": "object", "properties": {
                "Version": string, "APIVersion": int, "Protocol": string } },
            "Permissions": { "type": "array", "items": {
                "type": "string", "enum": ["read", "write", "sign", "admin"] } },
            "Cid": cid,
            "DealInfo": { "type": "object", "properties": {
                "ID": int, "DealID": int,
                "Side": { "type": "string", "enum": ["client", "provider"] },
                "Status": string, "Mode": { "type": "string", "enum": ["fraud", "zk"] },
                "Peer": string, "PayloadRoot": { "$ref": "#/components/schemas/Cid" },
                "Intervals": int, "Paid": int, "Received": int, "Verified": int,
                "Opened": int, "Sent": int, "Message": string,
                "Terminal": { "type": "boolean" }, "Step": int, "PendingActions": int,
                "Created": int, "Updated": int } },
            "DealList": { "type": "array", "items": { "$ref": "#/components/schemas/DealInfo" } },
            "DealEvent": { "type": "object", "properties": {
                "Event": string, "From": string, "To": string,
                "Deal": { "$ref": "#/components/schemas/DealInfo" } } },
            "ImportInfo": { "type": "object", "properties": {
                "Root": { "$ref": "#/components/schemas/Cid" }, "Size": int, "Blocks": int,
                "LeafSize": int, "Source": string, "Created": int } },
            "ProviderAddr": { "type": "object", "properties": {
                "Address": string, "Peer": string } },
            "RetrieveParams": { "type": "object", "required": ["Root", "Provider", "Mode", "Out"],
                "properties": {
                "Root": { "$ref": "#/components/schemas/Cid" },
                "Provider": { "$ref": "#/components/schemas/ProviderAddr" },
                "Mode": { "type": "string", "enum": ["fraud", "zk"] },
                "PricePerChunk": string, "ChunkSize": int, "Collateral": string, "Out": string } },
            "ProviderInfo": { "type": "object", "properties": {
                "Address": string, "Peer": string, "Spec": string,
                "Modes": { "type": "array", "items": string },
                "MinPricePerChunk": string, "ZkChunkSize": int } },
            "ImportList": { "type": "array", "items": { "$ref": "#/components/schemas/ImportInfo" } }
        } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_row_is_unique_and_documented() {
        let mut names: Vec<_> = METHODS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
        let doc = openrpc_document();
        assert_eq!(doc["methods"].as_array().unwrap().len(), METHODS.len());
        assert_eq!(permission_of("Ozkcp.DealCancel"), Some(Permission::Write));
        assert_eq!(permission_of("Ozkcp.Nope"), None);
    }
}
