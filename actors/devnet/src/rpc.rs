//! The Lotus-style JSON-RPC 2.0 API of the devnet (HTTP and WebSocket at `/rpc/v1`), and its
//! typed client.
//!
//! Methods (positional params, as Lotus): `Filecoin.Version`, `Filecoin.StateNetworkVersion`,
//! `Filecoin.StateLookupID`, `Filecoin.ChainGetMessage`, `Filecoin.ChainHead`, `Filecoin.ChainGetTipSetByHeight`,
//! `Filecoin.ChainReadObj`, `Filecoin.MpoolPush`, `Filecoin.MpoolGetNonce`, `Filecoin.StateWaitMsg`,
//! `Filecoin.StateSearchMsg`, `Filecoin.StateGetActor`, `Filecoin.StateReadState`,
//! `Filecoin.StateCall`, `Filecoin.GasEstimateMessageGas`, `Filecoin.WalletBalance`, and the devnet-only `Devnet.Accounts`, `Devnet.InstallActor` and `Devnet.Advance`.
//! Tipset-key params are accepted and ignored: every query reads the head.
//! A method's own error comes back with code 1, as Lotus does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::RawBytes;
use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;

use crate::chain::Devnet;
use crate::error::DevnetError;
use crate::json::*;
use crate::wallet::SignedMessage;

/// How long `StateWaitMsg` waits for a message that has not executed yet.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The `Filecoin.*` subset the devnet serves. Server and client come from this one definition.
#[rpc(server, client, namespace = "Filecoin", namespace_separator = ".")]
pub trait FilecoinApi {
    /// Node version (Lotus `APIVersion` shape): `{Version, APIVersion, BlockDelay}`.
    #[method(name = "Version")]
    async fn version(&self) -> RpcResult<VersionJson>;

    /// The network version the devnet runs (21).
    #[method(name = "StateNetworkVersion")]
    async fn state_network_version(&self, tsk: Option<serde_json::Value>) -> RpcResult<u32>;

    /// The ID address (`t0…`) of an address.
    #[method(name = "StateLookupID")]
    async fn state_lookup_id(
        &self,
        addr: String,
        tsk: Option<serde_json::Value>,
    ) -> RpcResult<String>;

    /// A message that executed on the devnet, by CID (signed or unsigned).
    #[method(name = "ChainGetMessage")]
    async fn chain_get_message(&self, cid: CidJson) -> RpcResult<MessageJson>;

    /// The head tipset.
    #[method(name = "ChainHead")]
    async fn chain_head(&self) -> RpcResult<TipSetJson>;

    /// The tipset at `height` (tipset key ignored).
    #[method(name = "ChainGetTipSetByHeight")]
    async fn chain_get_tipset_by_height(
        &self,
        height: i64,
        tsk: Option<serde_json::Value>,
    ) -> RpcResult<TipSetJson>;

    /// A raw IPLD block (base64), e.g. to walk an actor's HAMTs.
    #[method(name = "ChainReadObj")]
    async fn chain_read_obj(&self, cid: CidJson) -> RpcResult<String>;

    /// Checks (signature, nonce, size, gas) and executes a signed message in a new epoch;
    /// returns its CID.
    #[method(name = "MpoolPush")]
    async fn mpool_push(&self, msg: SignedMessageJson) -> RpcResult<CidJson>;

    /// The next nonce of an address.
    #[method(name = "MpoolGetNonce")]
    async fn mpool_get_nonce(&self, addr: String) -> RpcResult<u64>;

    /// Waits (up to 60 s) for a message to execute and returns where and how.
    #[method(name = "StateWaitMsg")]
    async fn state_wait_msg(
        &self,
        cid: CidJson,
        confidence: Option<u64>,
        limit: Option<i64>,
        allow_replaced: Option<bool>,
    ) -> RpcResult<MsgLookupJson>;

    /// Looks a message up without waiting; null if it has not executed.
    #[method(name = "StateSearchMsg")]
    async fn state_search_msg(
        &self,
        tsk: Option<serde_json::Value>,
        cid: CidJson,
        limit: Option<i64>,
        allow_replaced: Option<bool>,
    ) -> RpcResult<Option<MsgLookupJson>>;

    /// An actor's code, state root, nonce and balance.
    #[method(name = "StateGetActor")]
    async fn state_get_actor(
        &self,
        addr: String,
        tsk: Option<serde_json::Value>,
    ) -> RpcResult<ActorJson>;

    /// An actor's balance, code and state (DAG-JSON and raw base64 CBOR).
    #[method(name = "StateReadState")]
    async fn state_read_state(
        &self,
        addr: String,
        tsk: Option<serde_json::Value>,
    ) -> RpcResult<ActorStateJson>;

    /// Runs a message on top of the head without keeping anything (no signature needed); for
    /// getters such as the judge's `GetAccount`.
    #[method(name = "StateCall")]
    async fn state_call(
        &self,
        msg: MessageJson,
        tsk: Option<serde_json::Value>,
    ) -> RpcResult<InvocResultJson>;

    /// Fills `GasLimit` (simulated gas + 25%), `GasFeeCap` and `GasPremium` ("0") of a message.
    #[method(name = "GasEstimateMessageGas")]
    async fn gas_estimate_message_gas(
        &self,
        msg: MessageJson,
        spec: Option<serde_json::Value>,
        tsk: Option<serde_json::Value>,
    ) -> RpcResult<MessageJson>;

    /// Balance in attoFIL ("0" for an unknown address).
    #[method(name = "WalletBalance")]
    async fn wallet_balance(&self, addr: String) -> RpcResult<String>;
}

/// Devnet-only methods.
#[rpc(server, client, namespace = "Devnet", namespace_separator = ".")]
pub trait DevnetApi {
    /// The genesis accounts with their private keys (test use only).
    #[method(name = "Accounts")]
    async fn accounts(&self) -> RpcResult<Vec<AccountJson>>;

    /// Installs an actor: base64 Wasm and base64 CBOR constructor params (or null).
    #[method(name = "InstallActor")]
    async fn install_actor(
        &self,
        wasm: String,
        params: Option<String>,
    ) -> RpcResult<InstalledActorJson>;

    /// Makes `epochs` empty epochs (deadlines pass); returns the new head epoch.
    #[method(name = "Advance")]
    async fn advance(&self, epochs: u64) -> RpcResult<u64>;
}

fn rpc_err(e: DevnetError) -> ErrorObjectOwned {
    // Lotus answers a method's own failure with code 1.
    ErrorObjectOwned::owned(1, e.to_string(), None::<()>)
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    B64.decode(s)
        .map_err(|e| rpc_err(DevnetError::Invalid(format!("{what} base64: {e}"))))
}

/// The RPC handlers over a shared [`Devnet`].
#[derive(Clone)]
pub struct RpcImpl {
    devnet: Arc<Devnet>,
}

impl RpcImpl {
    /// Handlers for `devnet`.
    pub fn new(devnet: Arc<Devnet>) -> Self {
        RpcImpl { devnet }
    }

    /// Runs blocking devnet work off the async runtime.
    async fn blocking<T, F>(&self, f: F) -> RpcResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Devnet) -> Result<T, DevnetError> + Send + 'static,
    {
        let d = self.devnet.clone();
        tokio::task::spawn_blocking(move || f(&d))
            .await
            .map_err(|e| rpc_err(DevnetError::Fvm(e.to_string())))?
            .map_err(rpc_err)
    }
}

#[async_trait]
impl FilecoinApiServer for RpcImpl {
    async fn version(&self) -> RpcResult<VersionJson> {
        Ok(VersionJson {
            version: format!("ozkcp-devnet/{}", env!("CARGO_PKG_VERSION")),
            api_version: 0x0002_0300, // Lotus full node API v1 (2.3.0)
            block_delay: crate::chain::EPOCH_DURATION_SECONDS,
        })
    }

    async fn state_network_version(&self, _tsk: Option<serde_json::Value>) -> RpcResult<u32> {
        Ok(u32::from(crate::chain::NETWORK_VERSION))
    }

    async fn state_lookup_id(
        &self,
        addr: String,
        _tsk: Option<serde_json::Value>,
    ) -> RpcResult<String> {
        self.blocking(move |d| {
            let a = parse_addr(&addr)?;
            let info = d.actor(&a)?.ok_or(DevnetError::ActorNotFound(a))?;
            Ok(addr_str(&fvm_shared::address::Address::new_id(info.id)))
        })
        .await
    }

    async fn chain_get_message(&self, cid: CidJson) -> RpcResult<MessageJson> {
        self.blocking(move |d| {
            let c = cid.to_cid()?;
            let l = d.lookup(&c)?.ok_or(DevnetError::MessageNotFound(c))?;
            let bytes = d
                .store()
                .get(&l.message)
                .map_err(|e| DevnetError::Store(e.to_string()))?
                .ok_or(DevnetError::MessageNotFound(c))?;
            let sm: SignedMessage = fvm_ipld_encoding::from_slice(&bytes)?;
            Ok(MessageJson::from(&sm.message))
        })
        .await
    }

    async fn chain_head(&self) -> RpcResult<TipSetJson> {
        self.blocking(|d| Ok(TipSetJson::from(&d.head()?))).await
    }

    async fn chain_get_tipset_by_height(
        &self,
        height: i64,
        _tsk: Option<serde_json::Value>,
    ) -> RpcResult<TipSetJson> {
        self.blocking(move |d| {
            let h = u64::try_from(height)
                .map_err(|_| DevnetError::Invalid(format!("height {height}")))?;
            d.tipset(h)?
                .map(|t| TipSetJson::from(&t))
                .ok_or_else(|| DevnetError::Invalid(format!("height {h} is above the head")))
        })
        .await
    }

    async fn chain_read_obj(&self, cid: CidJson) -> RpcResult<String> {
        self.blocking(move |d| {
            let c = cid.to_cid()?;
            let b = d
                .store()
                .get(&c)
                .map_err(|e| DevnetError::Store(e.to_string()))?
                .ok_or_else(|| DevnetError::Invalid(format!("no block {c}")))?;
            Ok(B64.encode(b))
        })
        .await
    }

    async fn mpool_push(&self, msg: SignedMessageJson) -> RpcResult<CidJson> {
        let sm = SignedMessage::try_from(&msg).map_err(rpc_err)?;
        self.blocking(move |d| Ok(CidJson::from(&d.push(sm)?)))
            .await
    }

    async fn mpool_get_nonce(&self, addr: String) -> RpcResult<u64> {
        self.blocking(move |d| d.nonce(&parse_addr(&addr)?)).await
    }

    async fn state_wait_msg(
        &self,
        cid: CidJson,
        _confidence: Option<u64>,
        _limit: Option<i64>,
        _allow_replaced: Option<bool>,
    ) -> RpcResult<MsgLookupJson> {
        let c = cid.to_cid().map_err(rpc_err)?;
        let mut epochs = self.devnet.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
        loop {
            if let Some(l) = self.blocking(move |d| d.lookup(&c)).await? {
                return Ok(MsgLookupJson::from(&l));
            }
            match tokio::time::timeout_at(deadline, epochs.changed()).await {
                Ok(Ok(())) => continue,
                _ => return Err(rpc_err(DevnetError::MessageNotFound(c))),
            }
        }
    }

    async fn state_search_msg(
        &self,
        _tsk: Option<serde_json::Value>,
        cid: CidJson,
        _limit: Option<i64>,
        _allow_replaced: Option<bool>,
    ) -> RpcResult<Option<MsgLookupJson>> {
        let c = cid.to_cid().map_err(rpc_err)?;
        self.blocking(move |d| Ok(d.lookup(&c)?.as_ref().map(MsgLookupJson::from)))
            .await
    }

    async fn state_get_actor(
        &self,
        addr: String,
        _tsk: Option<serde_json::Value>,
    ) -> RpcResult<ActorJson> {
        self.blocking(move |d| {
            let a = parse_addr(&addr)?;
            d.actor(&a)?
                .map(|i| ActorJson::from(&i))
                .ok_or(DevnetError::ActorNotFound(a))
        })
        .await
    }

    async fn state_read_state(
        &self,
        addr: String,
        _tsk: Option<serde_json::Value>,
    ) -> RpcResult<ActorStateJson> {
        self.blocking(move |d| {
            let a = parse_addr(&addr)?;
            let info = d.actor(&a)?.ok_or(DevnetError::ActorNotFound(a))?;
            let raw = d.read_state_raw(&a)?;
            Ok(ActorStateJson {
                balance: info.balance.atto().to_string(),
                code: (&info.code).into(),
                state: cbor_to_json(&raw)?,
                raw_state: B64.encode(&raw),
            })
        })
        .await
    }

    async fn state_call(
        &self,
        msg: MessageJson,
        _tsk: Option<serde_json::Value>,
    ) -> RpcResult<InvocResultJson> {
        let m = fvm_shared::message::Message::try_from(&msg).map_err(rpc_err)?;
        self.blocking(move |d| {
            let r = d.simulate(m.clone())?;
            let mut shown = m;
            shown.sequence = d.nonce(&shown.from)?;
            Ok(InvocResultJson::new(&shown, &r))
        })
        .await
    }

    async fn gas_estimate_message_gas(
        &self,
        msg: MessageJson,
        _spec: Option<serde_json::Value>,
        _tsk: Option<serde_json::Value>,
    ) -> RpcResult<MessageJson> {
        let m = fvm_shared::message::Message::try_from(&msg).map_err(rpc_err)?;
        self.blocking(move |d| {
            let gas = d.estimate_gas(&m)?;
            let mut out = m;
            out.gas_limit = gas;
            out.gas_fee_cap = fvm_shared::econ::TokenAmount::from_atto(0);
            out.gas_premium = fvm_shared::econ::TokenAmount::from_atto(0);
            Ok(MessageJson::from(&out))
        })
        .await
    }

    async fn wallet_balance(&self, addr: String) -> RpcResult<String> {
        self.blocking(move |d| Ok(d.balance(&parse_addr(&addr)?)?.atto().to_string()))
            .await
    }
}

#[async_trait]
impl DevnetApiServer for RpcImpl {
    async fn accounts(&self) -> RpcResult<Vec<AccountJson>> {
        self.blocking(|d| {
            Ok(d.accounts()
                .iter()
                .map(|a| AccountJson {
                    address: addr_str(&a.key.address),
                    id_address: addr_str(&fvm_shared::address::Address::new_id(a.id)),
                    key_type: "secp256k1".into(),
                    private_key: B64.encode(a.key.secret_bytes()),
                })
                .collect())
        })
        .await
    }

    async fn advance(&self, epochs: u64) -> RpcResult<u64> {
        if epochs > 100_000 {
            return Err(rpc_err(DevnetError::Invalid(format!(
                "advance by at most 100000 epochs at once, not {epochs}"
            ))));
        }
        self.blocking(move |d| d.advance(epochs)).await
    }

    async fn install_actor(
        &self,
        wasm: String,
        params: Option<String>,
    ) -> RpcResult<InstalledActorJson> {
        let wasm = b64(&wasm, "wasm")?;
        let params = match params {
            Some(p) => RawBytes::new(b64(&p, "params")?),
            None => RawBytes::default(),
        };
        self.blocking(move |d| {
            let i = d.install_actor(&wasm, params)?;
            Ok(InstalledActorJson {
                id_address: addr_str(&i.id_address),
                robust_address: addr_str(&i.robust_address),
                code: (&i.code).into(),
                height: i.epoch as i64,
            })
        })
        .await
    }
}

/// An HTTP client of the devnet (or of a Lotus node): use it through [`FilecoinApiClient`] and
/// [`DevnetApiClient`]. `url` is e.g. `http://127.0.0.1:1234/rpc/v1`.
pub fn connect_http(url: &str) -> Result<jsonrpsee::http_client::HttpClient, DevnetError> {
    jsonrpsee::http_client::HttpClientBuilder::default()
        .max_request_size(16 << 20)
        .build(url)
        .map_err(|e| DevnetError::Invalid(format!("rpc client {url}: {e}")))
}

/// A WebSocket client of the devnet (or of a Lotus node). `url` is e.g.
/// `ws://127.0.0.1:1234/rpc/v1`.
pub async fn connect_ws(url: &str) -> Result<jsonrpsee::ws_client::WsClient, DevnetError> {
    jsonrpsee::ws_client::WsClientBuilder::default()
        .max_request_size(16 << 20)
        .build(url)
        .await
        .map_err(|e| DevnetError::Invalid(format!("rpc client {url}: {e}")))
}

/// A running RPC server; stops when [`stop`](RpcServer::stop) is called or it is dropped.
pub struct RpcServer {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcServer {
    /// The HTTP URL of the API (`http://addr/rpc/v1`).
    pub fn http_url(&self) -> String {
        format!("http://{}/rpc/v1", self.local_addr)
    }

    /// The WebSocket URL of the API (`ws://addr/rpc/v1`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/rpc/v1", self.local_addr)
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(self) {
        let handle = self.handle.clone();
        let _ = handle.stop();
        handle.stopped().await;
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        let _ = self.handle.stop();
    }
}

/// Serves `devnet` over HTTP and WebSocket on `addr` (use a loopback address). The API answers
/// on `/rpc/v1` (and `/rpc/v0`, same methods); other paths get 404.
pub async fn serve(devnet: Arc<Devnet>, addr: SocketAddr) -> Result<RpcServer, DevnetError> {
    let http = tower::ServiceBuilder::new().layer(PathFilterLayer);
    let server = Server::builder()
        .set_http_middleware(http)
        .set_config(
            ServerConfig::builder()
                .max_request_body_size(16 << 20)
                .build(),
        )
        .build(addr)
        .await?;
    let local_addr = server.local_addr()?;
    let imp = RpcImpl::new(devnet);
    let mut module = FilecoinApiServer::into_rpc(imp.clone());
    module
        .merge(DevnetApiServer::into_rpc(imp))
        .map_err(|e| DevnetError::Invalid(e.to_string()))?;
    let handle = server.start(module);
    Ok(RpcServer { local_addr, handle })
}

/// Rejects requests outside `/rpc/v0` and `/rpc/v1` with 404.
#[derive(Clone, Copy)]
struct PathFilterLayer;

impl<S> tower::Layer<S> for PathFilterLayer {
    type Service = PathFilter<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PathFilter(inner)
    }
}

#[derive(Clone)]
struct PathFilter<S>(S);

impl<S, B> tower::Service<jsonrpsee::server::HttpRequest<B>> for PathFilter<S>
where
    S: tower::Service<
        jsonrpsee::server::HttpRequest<B>,
        Response = jsonrpsee::server::HttpResponse,
    >,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: jsonrpsee::server::HttpRequest<B>) -> Self::Future {
        let path = req.uri().path();
        if path == "/rpc/v1" || path == "/rpc/v0" {
            Box::pin(self.0.call(req))
        } else {
            Box::pin(async {
                let resp = jsonrpsee::server::HttpResponse::builder()
                    .status(404)
                    .body(jsonrpsee::server::HttpBody::from("404 page not found\n"))
                    .expect("a static response is valid");
                Ok(resp)
            })
        }
    }
}
