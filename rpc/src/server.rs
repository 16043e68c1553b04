//! The sidecar server: JSON-RPC 2.0 over HTTP and WebSocket at `/rpc/v1` (and `/rpc/v0`), with
//! Lotus-style bearer-token auth in two layers:
//!
//! 1. HTTP ([`AuthHttpLayer`]): every request, WebSocket upgrades included, must carry
//!    `Authorization: Bearer <token>` with a valid token; otherwise the answer is HTTP 401 with
//!    a JSON-RPC error body (code [`codes::UNAUTHORIZED`]). The granted permissions go into the
//!    request's extensions, which jsonrpsee hands to every call (for WebSocket: every call on
//!    that connection). Lotus lets token-less requests call read methods; the sidecar does
//!    not: its deal list names peers and payloads.
//! 2. JSON-RPC ([`PermissionLayer`]): each call (batch entries too) is checked against the
//!    method's permission in [`METHODS`](crate::api::METHODS); a short token gets code [`codes::FORBIDDEN`], a method
//!    without a row gets -32601 (fail closed).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::Either;
use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::core::{async_trait, RpcResult, SubscriptionResult};
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{
    HttpBody, HttpRequest, HttpResponse, MethodResponse, PendingSubscriptionSink, Server,
    ServerConfig, ServerHandle, SubscriptionMessage,
};
use jsonrpsee::types::{ErrorCode, ErrorObjectOwned, Request};
use jsonrpsee::RpcModule;
use tokio::sync::broadcast::error::RecvError;

use crate::api::{
    codes, method_error, openrpc_document, permission_of, DealEventJson, DealInfo, ImportInfo,
    OzkcpApiServer, ProviderInfoJson, RetrieveParams, VersionJson, API_VERSION, PROTOCOL,
};
use crate::auth::{Granted, JwtAuth, Permission};
use crate::deals::{Deals, DealsError, RetrieveRequest};
use crate::store::{DealStore, StoreError};

/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3120";
/// Default largest request body (bytes). Every method takes small params (a file is imported
/// by path), so 1 MiB is generous; larger bodies get HTTP 413 / code -32007.
pub const DEFAULT_MAX_REQUEST: u32 = 1 << 20;
/// Default leaf block size for imports.
pub const DEFAULT_LEAF_SIZE: u64 = 1 << 20;
/// Largest leaf block size an import may ask for.
pub const MAX_LEAF_SIZE: u64 = 1 << 24;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to bind (loopback by default).
    pub listen: SocketAddr,
    /// Largest request body in bytes.
    pub max_request_body: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            max_request_body: DEFAULT_MAX_REQUEST,
            max_connections: 128,
        }
    }
}

/// Errors of starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The method table and the trait disagree (a bug).
    #[error("rpc module: {0}")]
    Module(String),
}

/// A running sidecar; stops when [`stop`](Sidecar::stop) is called or it is dropped.
pub struct Sidecar {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    handle: ServerHandle,
}

impl Sidecar {
    /// `http://<addr>/rpc/v1`.
    pub fn http_url(&self) -> String {
        format!("http://{}/rpc/v1", self.local_addr)
    }

    /// `ws://<addr>/rpc/v1`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/rpc/v1", self.local_addr)
    }

    /// Stops the server and waits until it has.
    pub async fn stop(self) {
        let handle = self.handle.clone();
        let _ = handle.stop();
        handle.stopped().await;
    }

    /// Waits until the server stops.
    pub async fn stopped(&self) {
        self.handle.clone().stopped().await
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.handle.stop();
    }
}

/// Serves `store` with tokens checked by `auth` (no deal flows: `Ozkcp.ClientRetrieve` is
/// refused).
pub async fn serve(
    store: DealStore,
    auth: Arc<JwtAuth>,
    config: &ServeConfig,
) -> Result<Sidecar, ServerError> {
    serve_with(store, auth, config, None).await
}

/// Serves `store` with tokens checked by `auth`, and runs deals through `deals`.
pub async fn serve_with(
    store: DealStore,
    auth: Arc<JwtAuth>,
    config: &ServeConfig,
    deals: Option<Arc<Deals>>,
) -> Result<Sidecar, ServerError> {
    let module = rpc_module_with(store, auth.clone(), deals)?;
    let http = tower::ServiceBuilder::new().layer(AuthHttpLayer { auth });
    let rpc = RpcServiceBuilder::new().layer(PermissionLayer);
    let server = Server::builder()
        .set_config(
            ServerConfig::builder()
                .max_request_body_size(config.max_request_body)
                .max_connections(config.max_connections)
                .build(),
        )
        .set_http_middleware(http)
        .set_rpc_middleware(rpc)
        .build(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = server.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let handle = server.start(module);
    Ok(Sidecar { local_addr, handle })
}

/// The methods: [`OzkcpApiServer`] plus `rpc.discover`.
pub fn rpc_module(store: DealStore, auth: Arc<JwtAuth>) -> Result<RpcModule<()>, ServerError> {
    rpc_module_with(store, auth, None)
}

/// [`rpc_module`] with deal flows.
pub fn rpc_module_with(
    store: DealStore,
    auth: Arc<JwtAuth>,
    deals: Option<Arc<Deals>>,
) -> Result<RpcModule<()>, ServerError> {
    let mut module = RpcModule::new(());
    module
        .merge(OzkcpApiServer::into_rpc(RpcImpl { store, auth, deals }))
        .map_err(|e| ServerError::Module(e.to_string()))?;
    module
        .register_method("rpc.discover", |_, _, _| openrpc_document())
        .map_err(|e| ServerError::Module(e.to_string()))?;
    Ok(module)
}

struct RpcImpl {
    store: DealStore,
    auth: Arc<JwtAuth>,
    deals: Option<Arc<Deals>>,
}

impl RpcImpl {
    /// Runs a store operation off the async threads (redb commits fsync).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&DealStore) -> Result<T, StoreError> + Send + 'static,
    ) -> RpcResult<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| {
                ErrorObjectOwned::owned(ErrorCode::InternalError.code(), e.to_string(), None::<()>)
            })?
            .map_err(method_error)
    }
}

#[async_trait]
impl OzkcpApiServer for RpcImpl {
    async fn version(&self) -> RpcResult<VersionJson> {
        Ok(VersionJson {
            version: format!("ozkcp {}", env!("CARGO_PKG_VERSION")),
            api_version: API_VERSION,
            protocol: PROTOCOL.into(),
        })
    }

    async fn auth_verify(&self, token: String) -> RpcResult<Vec<Permission>> {
        self.auth.verify(&token).map(|g| g.0).map_err(method_error)
    }

    async fn auth_new(&self, perms: Vec<Permission>) -> RpcResult<String> {
        if perms.is_empty() {
            return Err(method_error("a token needs at least one permission"));
        }
        self.auth
            .create_token_for(&perms, None)
            .map_err(method_error)
    }

    async fn deals(&self) -> RpcResult<Vec<DealInfo>> {
        self.blocking(|s| Ok(s.deals()?.iter().map(DealInfo::from).collect()))
            .await
    }

    async fn deal(&self, id: u64) -> RpcResult<DealInfo> {
        self.blocking(move |s| {
            s.deal(id)?
                .as_ref()
                .map(DealInfo::from)
                .ok_or(StoreError::NoDeal(id))
        })
        .await
    }

    async fn deal_cancel(&self, id: u64) -> RpcResult<DealInfo> {
        match &self.deals {
            Some(d) => {
                let d = d.clone();
                tokio::task::spawn_blocking(move || d.cancel(id))
                    .await
                    .map_err(|e| method_error(e.to_string()))?
                    .map(|r| DealInfo::from(&r))
                    .map_err(method_error)
            }
            None => {
                self.blocking(move |s| Ok(DealInfo::from(&s.cancel(id)?)))
                    .await
            }
        }
    }

    async fn client_retrieve(&self, p: RetrieveParams) -> RpcResult<DealInfo> {
        let Some(deals) = &self.deals else {
            return Err(method_error("this sidecar runs no deal flows"));
        };
        let bad =
            |m: String| ErrorObjectOwned::owned(ErrorCode::InvalidParams.code(), m, None::<()>);
        let root: ozkcp::core::Cid = p
            .root
            .cid
            .parse()
            .map_err(|e| bad(format!("root {:?}: {e}", p.root.cid)))?;
        let provider: ozkcp::core::Address = p
            .provider
            .address
            .parse()
            .map_err(|e| bad(format!("provider address {:?}: {e}", p.provider.address)))?;
        let mode = match p.mode.as_str() {
            "fraud" => ozkcp::core::deal::ProofMode::Fraud,
            "zk" => ozkcp::core::deal::ProofMode::Zk,
            other => return Err(bad(format!("mode must be fraud or zk, not {other:?}"))),
        };
        let atto = |s: &Option<String>,
                    what: &str|
         -> Result<ozkcp::core::TokenAmount, ErrorObjectOwned> {
            match s {
                None => Ok(ozkcp::core::TokenAmount::from_atto(0)),
                Some(s) => s
                    .parse::<u128>()
                    .map(ozkcp::core::TokenAmount::from_atto)
                    .map_err(|e| bad(format!("{what} {s:?}: {e}"))),
            }
        };
        let req = RetrieveRequest {
            root,
            peer: p.provider.peer.clone(),
            provider,
            mode,
            price_per_chunk: atto(&p.price_per_chunk, "price per chunk")?,
            chunk_size: p.chunk_size,
            collateral: atto(&p.collateral, "collateral")?,
            out: p.out.into(),
        };
        deals
            .retrieve(req)
            .await
            .map(|r| DealInfo::from(&r))
            .map_err(|e| match e {
                DealsError::Invalid(m) => bad(m),
                other => method_error(other),
            })
    }

    async fn provider_info(&self) -> RpcResult<ProviderInfoJson> {
        let Some(deals) = &self.deals else {
            return Err(method_error("this sidecar runs no deal flows"));
        };
        Ok(deals.provider_info())
    }

    async fn provider_import(&self, path: String, leaf_size: Option<u64>) -> RpcResult<ImportInfo> {
        let leaf_size = leaf_size.unwrap_or(DEFAULT_LEAF_SIZE);
        if leaf_size == 0 || leaf_size > MAX_LEAF_SIZE {
            return Err(ErrorObjectOwned::owned(
                ErrorCode::InvalidParams.code(),
                format!("leaf size must be 1 … {MAX_LEAF_SIZE} bytes, got {leaf_size}"),
                None::<()>,
            ));
        }
        if !Path::new(&path).is_absolute() {
            return Err(ErrorObjectOwned::owned(
                ErrorCode::InvalidParams.code(),
                format!("path must be absolute (it is read by the sidecar): {path:?}"),
                None::<()>,
            ));
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || -> Result<ImportInfo, String> {
            let data = std::fs::read(&path).map_err(|e| format!("reading {path}: {e}"))?;
            let payload = ozkcp::payload::Payload::from_bytes(&data, leaf_size as usize)
                .map_err(|e| e.to_string())?;
            let rec = store
                .put_import(&payload, data.len() as u64, leaf_size, &path)
                .map_err(|e| e.to_string())?;
            tracing::info!(root = %rec.root, size = rec.size, "imported {path}");
            Ok(ImportInfo::from(&rec))
        })
        .await
        .map_err(|e| method_error(e.to_string()))?
        .map_err(method_error)
    }

    async fn provider_imports(&self) -> RpcResult<Vec<ImportInfo>> {
        self.blocking(|s| Ok(s.imports()?.iter().map(ImportInfo::from).collect()))
            .await
    }

    async fn deal_events(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut events = self.store.subscribe();
        let sink = pending.accept().await?;
        loop {
            tokio::select! {
                _ = sink.closed() => break,
                ev = events.recv() => match ev {
                    Ok(ev) => {
                        let json = DealEventJson {
                            event: ev.event,
                            from: ev.from,
                            to: ev.deal.status_name(),
                            deal: DealInfo::from(&ev.deal),
                        };
                        let msg = SubscriptionMessage::from(serde_json::value::to_raw_value(&json)?);
                        if sink.send(msg).await.is_err() {
                            break;
                        }
                    }
                    // A subscriber that fell behind is cut off rather than shown a gap.
                    Err(RecvError::Lagged(n)) => {
                        return Err(format!("subscriber fell {n} deal events behind").into());
                    }
                    Err(RecvError::Closed) => break,
                },
            }
        }
        Ok(())
    }
}

fn unauthorized(message: &str) -> HttpResponse {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": codes::UNAUTHORIZED, "message": message },
    });
    HttpResponse::builder()
        .status(401)
        .header("content-type", "application/json; charset=utf-8")
        .header("www-authenticate", "Bearer")
        .body(HttpBody::from(body.to_string()))
        .expect("a static response is valid")
}

fn forbidden(method: &str, need: Permission) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        codes::FORBIDDEN,
        format!("missing permission to invoke '{method}' (need '{need}')"),
        None::<()>,
    )
}

/// HTTP layer: path filter (`/rpc/v0`, `/rpc/v1`, else 404) and bearer-token check (else 401).
#[derive(Clone)]
pub struct AuthHttpLayer {
    auth: Arc<JwtAuth>,
}

impl<S> tower::Layer<S> for AuthHttpLayer {
    type Service = AuthHttp<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthHttp {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service of [`AuthHttpLayer`].
#[derive(Clone)]
pub struct AuthHttp<S> {
    inner: S,
    auth: Arc<JwtAuth>,
}

type BoxFut<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B> tower::Service<HttpRequest<B>> for AuthHttp<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = BoxFut<HttpResponse, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: HttpRequest<B>) -> Self::Future {
        let path = req.uri().path();
        if path != "/rpc/v1" && path != "/rpc/v0" {
            return Box::pin(async {
                Ok(HttpResponse::builder()
                    .status(404)
                    .body(HttpBody::from("404 page not found\n"))
                    .expect("a static response is valid"))
            });
        }
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        let granted = match header {
            None => Err("missing Authorization: Bearer <token> header".to_string()),
            Some(h) => match h.strip_prefix("Bearer ") {
                None => Err("Authorization header is not a Bearer token".to_string()),
                Some(token) => self
                    .auth
                    .verify(token.trim())
                    .map_err(|e| format!("unauthorized: {e}")),
            },
        };
        match granted {
            Ok(g) => {
                req.extensions_mut().insert(g);
                Box::pin(self.inner.call(req))
            }
            Err(msg) => {
                // The reason, never the token.
                tracing::debug!("refused request: {msg}");
                Box::pin(async move { Ok(unauthorized(&msg)) })
            }
        }
    }
}

/// JSON-RPC layer: each call needs its method's permission ([`METHODS`](crate::api::METHODS)).
#[derive(Clone, Copy, Debug)]
pub struct PermissionLayer;

impl<S> tower::Layer<S> for PermissionLayer {
    type Service = PermissionCheck<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PermissionCheck(inner)
    }
}

/// The service of [`PermissionLayer`].
#[derive(Clone, Debug)]
pub struct PermissionCheck<S>(S);

/// Whether a call with these extensions may invoke `method`.
fn check(method: &str, ext: &http::Extensions) -> Result<(), ErrorObjectOwned> {
    let Some(need) = permission_of(method) else {
        return Err(ErrorCode::MethodNotFound.into());
    };
    match ext.get::<Granted>() {
        Some(g) if g.allows(need) => Ok(()),
        _ => Err(forbidden(method, need)),
    }
}

impl<S> RpcServiceT for PermissionCheck<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            NotificationResponse = MethodResponse,
            BatchResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        match check(req.method_name(), req.extensions()) {
            Ok(()) => Either::Left(self.0.call(req)),
            Err(e) => {
                let rp = MethodResponse::error(req.id().into_owned(), e);
                Either::Right(std::future::ready(rp))
            }
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let entries = batch
            .into_iter()
            .filter_map(|entry| match entry {
                Ok(BatchEntry::Call(req)) => {
                    Some(match check(req.method_name(), req.extensions()) {
                        Ok(()) => Ok(BatchEntry::Call(req)),
                        Err(e) => Err(BatchEntryErr::new(req.id().into_owned(), e)),
                    })
                }
                // A refused notification gets no answer: drop it.
                Ok(BatchEntry::Notification(n)) => check(n.method_name(), n.extensions())
                    .ok()
                    .map(|_| Ok(BatchEntry::Notification(n))),
                Err(e) => Some(Err(e)),
            })
            .collect();
        self.0.batch(Batch::from(entries))
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        match check(n.method_name(), n.extensions()) {
            Ok(()) => Either::Left(self.0.notification(n)),
            Err(_) => Either::Right(std::future::ready(MethodResponse::notification())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::METHODS;
    use zeroize::Zeroizing;

    #[test]
    fn every_served_method_declares_a_permission() {
        let dir = tempfile::tempdir().unwrap();
        let store = DealStore::open(&dir.path().join("db")).unwrap();
        let auth = Arc::new(JwtAuth::new(&Zeroizing::new(vec![3; 32])));
        let module = rpc_module(store, auth).unwrap();
        let mut served: Vec<&str> = module.method_names().collect();
        served.sort();
        let mut table: Vec<&str> = METHODS.iter().map(|s| s.name).collect();
        table.sort();
        assert_eq!(served, table);
    }
}
