//! The sidecar over real loopback sockets: auth, permissions, bad input, deals, events,
//! imports, restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::client::{ClientT, Subscription};
use jsonrpsee::rpc_params;
use ozkcp::core::deal::ProofMode;
use ozkcp::fsm::client::ClientEvent;
use ozkcp_rpc::api::{codes, DealEventJson, OzkcpApiClient, METHODS};
use ozkcp_rpc::auth::{now_secs, JwtAuth, Permission};
use ozkcp_rpc::client::{connect_http, connect_ws};
use ozkcp_rpc::repo::{ApiInfo, Repo};
use ozkcp_rpc::server::{serve, ServeConfig, Sidecar};
use ozkcp_rpc::store::DealStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

struct Env {
    _dir: tempfile::TempDir,
    repo: Repo,
    store: DealStore,
    auth: Arc<JwtAuth>,
    server: Sidecar,
}

impl Env {
    async fn start() -> Env {
        Env::start_with(ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_request_body: 64 * 1024,
            ..ServeConfig::default()
        })
        .await
    }

    async fn start_with(config: ServeConfig) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        let auth = Arc::new(JwtAuth::new(&repo.jwt_secret().unwrap()));
        let store = DealStore::open(&repo.db_path()).unwrap();
        let server = serve(store.clone(), auth.clone(), &config).await.unwrap();
        Env {
            _dir: dir,
            repo,
            store,
            auth,
            server,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr
    }

    fn token(&self, perm: Permission) -> String {
        self.auth.create_token(perm, None).unwrap()
    }

    fn info(&self, perm: Permission) -> ApiInfo {
        ApiInfo {
            token: Zeroizing::new(self.token(perm)),
            addr: self.addr(),
        }
    }

    fn http(&self, perm: Permission) -> jsonrpsee::http_client::HttpClient {
        connect_http(&self.info(perm)).unwrap()
    }

    async fn ws(&self, perm: Permission) -> jsonrpsee::ws_client::WsClient {
        connect_ws(&self.info(perm)).await.unwrap()
    }
}

/// One HTTP/1.1 POST over a fresh TCP connection: status and body.
async fn raw_post(addr: SocketAddr, auth: Option<&str>, body: &[u8]) -> (u16, serde_json::Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST /rpc/v1 HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before reading a body it refuses.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    (status, json)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

async fn next(sub: &mut Subscription<DealEventJson>) -> DealEventJson {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn call_code(e: jsonrpsee::core::client::Error) -> (i32, String) {
    match e {
        jsonrpsee::core::client::Error::Call(obj) => (obj.code(), obj.message().to_string()),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[tokio::test]
async fn version_and_discover_over_http_and_websocket() {
    let env = Env::start().await;
    let v = env.http(Permission::Read).version().await.unwrap();
    assert_eq!(v.version, format!("ozkcp {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(v.protocol, "ozkcp/1");
    let ws = env.ws(Permission::Read).await;
    assert_eq!(ws.version().await.unwrap(), v);
    let doc: serde_json::Value = ws.request("rpc.discover", rpc_params![]).await.unwrap();
    assert_eq!(doc["openrpc"], "1.2.6");
    let methods = doc["methods"].as_array().unwrap();
    assert_eq!(methods.len(), METHODS.len());
    for spec in METHODS {
        let m = methods.iter().find(|m| m["name"] == spec.name).unwrap();
        assert_eq!(m["x-permission"], spec.perm.as_str(), "{}", spec.name);
    }
    let perms = env
        .http(Permission::Read)
        .auth_verify(env.token(Permission::Sign))
        .await
        .unwrap();
    assert_eq!(
        perms,
        vec![Permission::Read, Permission::Write, Permission::Sign]
    );
    // AuthNew is admin-only and makes working tokens.
    let t = env
        .http(Permission::Admin)
        .auth_new(vec![Permission::Read])
        .await
        .unwrap();
    assert_eq!(env.auth.verify(&t).unwrap().0, vec![Permission::Read]);
    env.server.stop().await;
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_get_401() {
    let env = Env::start().await;
    let addr = env.addr();
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"Ozkcp.Version","params":[]}"#;

    let (status, json) = raw_post(addr, None, body).await;
    assert_eq!(status, 401);
    assert_eq!(json["error"]["code"], codes::UNAUTHORIZED);
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing Authorization"));

    let other = JwtAuth::new(&Zeroizing::new(vec![0x42; 32]));
    let forged = other.create_token(Permission::Admin, None).unwrap();
    let (status, json) = raw_post(addr, Some(&bearer(&forged)), body).await;
    assert_eq!(
        (status, json["error"]["code"].as_i64()),
        (401, Some(-32001))
    );
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid token"));

    let expired = env
        .auth
        .create_token_for(&[Permission::Read], Some(now_secs() - 5))
        .unwrap();
    let (status, json) = raw_post(addr, Some(&bearer(&expired)), body).await;
    assert_eq!(status, 401);
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));

    let (status, _) = raw_post(addr, Some("Basic dXNlcjpwYXNz"), body).await;
    assert_eq!(status, 401);
    let (status, _) = raw_post(addr, Some("Bearer garbage"), body).await;
    assert_eq!(status, 401);

    // A token that expires later works until then.
    let later = env.auth.create_token(Permission::Read, Some(3600)).unwrap();
    let (status, json) = raw_post(addr, Some(&bearer(&later)), body).await;
    assert_eq!(status, 200);
    assert_eq!(json["result"]["Protocol"], "ozkcp/1");

    // The WebSocket upgrade is refused the same way.
    let no_token = ApiInfo {
        token: Zeroizing::new(String::new()),
        addr,
    };
    let err = connect_ws(&no_token).await.unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    let forged_info = ApiInfo {
        token: Zeroizing::new(forged),
        addr,
    };
    assert!(connect_ws(&forged_info).await.is_err());
    // The HTTP client gets the 401 as a transport error.
    let err = connect_http(&no_token)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // Other paths are 404.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /debug HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    env.server.stop().await;
}

#[tokio::test]
async fn short_permissions_are_forbidden_on_http_websocket_and_in_batches() {
    let env = Env::start().await;
    let id = env
        .store
        .create_client_deal(ProofMode::Fraud, "p", None)
        .unwrap()
        .deal
        .id;
    let (code, msg) = call_code(
        env.http(Permission::Read)
            .deal_cancel(id)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::FORBIDDEN);
    assert_eq!(
        msg,
        "missing permission to invoke 'Ozkcp.DealCancel' (need 'write')"
    );
    let ws = env.ws(Permission::Sign).await;
    let (code, msg) = call_code(
        ws.provider_import("/etc/hostname".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::FORBIDDEN);
    assert!(msg.contains("need 'admin'"), "{msg}");
    // The connection stays usable.
    assert!(ws.deal(id).await.is_ok());
    // Nothing was cancelled.
    assert!(!env.store.deal(id).unwrap().unwrap().is_terminal());
    assert_eq!(env.store.deal(id).unwrap().unwrap().step, 0);

    // A batch: the allowed entry runs, the refused one gets its own error.
    let batch = format!(
        r#"[{{"jsonrpc":"2.0","id":1,"method":"Ozkcp.Deal","params":[{id}]}},
           {{"jsonrpc":"2.0","id":2,"method":"Ozkcp.DealCancel","params":[{id}]}}]"#
    );
    let (status, json) = raw_post(
        env.addr(),
        Some(&bearer(&env.token(Permission::Read))),
        batch.as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let arr = json.as_array().unwrap();
    let by_id = |i: i64| arr.iter().find(|r| r["id"] == i).unwrap();
    assert_eq!(by_id(1)["result"]["ID"], id);
    assert_eq!(by_id(2)["error"]["code"], codes::FORBIDDEN);
    assert_eq!(env.store.deal(id).unwrap().unwrap().step, 0);
    env.server.stop().await;
}

#[tokio::test]
async fn bad_input_is_answered_and_harmless() {
    let env = Env::start().await;
    let addr = env.addr();
    let auth = bearer(&env.token(Permission::Admin));
    let auth = Some(auth.as_str());

    let (status, json) = raw_post(addr, auth, b"{\"jsonrpc\":\"2.0\",\"id\":1,\"meth").await;
    assert_eq!(json["error"]["code"], -32700, "{status} {json}");

    let (_, json) = raw_post(
        addr,
        auth,
        br#"{"jsonrpc":"2.0","id":2,"method":"Ozkcp.NoSuchMethod","params":[]}"#,
    )
    .await;
    assert_eq!(json["error"]["code"], -32601);
    assert_eq!(json["id"], 2);

    let (_, json) = raw_post(
        addr,
        auth,
        br#"{"jsonrpc":"2.0","id":3,"method":"Ozkcp.Deal","params":["seven"]}"#,
    )
    .await;
    assert_eq!(json["error"]["code"], -32602);

    let (_, json) = raw_post(
        addr,
        auth,
        br#"{"jsonrpc":"2.0","id":4,"method":"Ozkcp.Deal","params":[]}"#,
    )
    .await;
    assert_eq!(json["error"]["code"], -32602);

    // Valid JSON but no JSON-RPC request: jsonrpsee answers it as a parse error too.
    let (_, json) = raw_post(addr, auth, br#"{"hello":"world"}"#).await;
    assert_eq!(json["error"]["code"], -32700);

    // Over the 64 KiB limit of this server: 413 and -32007.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"Ozkcp.ProviderImport","params":["/{}"]}}"#,
        "a".repeat(200_000)
    );
    let (status, json) = raw_post(addr, auth, big.as_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(json["error"]["code"], -32007);

    // Method errors: Lotus' code 1 with a clear message.
    let c = env.http(Permission::Admin);
    let (code, msg) = call_code(c.deal(999).await.unwrap_err());
    assert_eq!((code, msg.as_str()), (codes::METHOD_ERROR, "no deal 999"));
    let (code, msg) = call_code(
        c.provider_import("relative/file".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, -32602);
    assert!(msg.contains("absolute"), "{msg}");
    let (code, msg) = call_code(
        c.provider_import("/no/such/file".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::METHOD_ERROR);
    assert!(msg.contains("/no/such/file"), "{msg}");
    let (code, _) = call_code(
        c.provider_import("/no/such/file".into(), Some(0))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, -32602);

    // Garbage over a WebSocket connection: answered, and the connection keeps working.
    let ws = env.ws(Permission::Read).await;
    let err = ws
        .request::<serde_json::Value, _>("Ozkcp.Nope", rpc_params![1, 2])
        .await
        .unwrap_err();
    assert_eq!(call_code(err).0, -32601);

    // None of it hurt the server.
    assert_eq!(c.version().await.unwrap().protocol, "ozkcp/1");
    assert_eq!(ws.version().await.unwrap().protocol, "ozkcp/1");
    env.server.stop().await;
}

#[tokio::test]
async fn deals_status_cancel_and_events() {
    let env = Env::start().await;
    let ws = env.ws(Permission::Read).await;
    let mut sub = ws.deal_events().await.unwrap();

    let created = env
        .store
        .create_client_deal(ProofMode::Fraud, "f01234", None)
        .unwrap();
    let id = created.deal.id;
    env.store
        .step_client(id, ClientEvent::ProposalSent)
        .unwrap();
    env.store
        .step_client(id, ClientEvent::DealAccepted { intervals: 4 })
        .unwrap();

    let e = next(&mut sub).await;
    assert_eq!(
        (e.event.as_str(), e.to.as_str()),
        ("Created", "DealStatusNew")
    );
    assert_eq!(e.deal.pending_actions, 1);
    let e = next(&mut sub).await;
    assert_eq!(
        (e.event.as_str(), e.from.as_str(), e.to.as_str()),
        ("ProposalSent", "DealStatusNew", "DealStatusWaitAcceptance")
    );
    let e = next(&mut sub).await;
    assert_eq!(e.to, "DealStatusAccepted");
    assert_eq!(e.deal.intervals, 4);

    let http = env.http(Permission::Write);
    let list = http.deals().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, "DealStatusAccepted");
    assert_eq!(list[0].peer, "f01234");
    let d = http.deal(id).await.unwrap();
    assert_eq!(
        (d.deal_id, d.mode.as_str(), d.received),
        (id, "fraud", Some(0))
    );

    let cancelled = http.deal_cancel(id).await.unwrap();
    assert_eq!(cancelled.status, "DealStatusCancelling");
    let e = next(&mut sub).await;
    assert_eq!(
        (e.event.as_str(), e.to.as_str()),
        ("Cancel", "DealStatusCancelling")
    );
    // The cancel is persisted with its actions for the flow to run.
    assert!(!env.store.deal(id).unwrap().unwrap().pending.is_empty());

    // A provider deal cancelled twice: the second is refused, clearly.
    let p = env
        .store
        .create_provider_deal(9, ProofMode::Zk, "f05678", None)
        .unwrap();
    assert_eq!(
        http.deal_cancel(p.id).await.unwrap().status,
        "DealStatusErrored"
    );
    let (code, msg) = call_code(http.deal_cancel(p.id).await.unwrap_err());
    assert_eq!(code, codes::METHOD_ERROR);
    assert!(msg.contains(&format!("deal {}", p.id)), "{msg}");
    sub.unsubscribe().await.unwrap();
    env.server.stop().await;
}

#[tokio::test]
async fn provider_import_stores_the_payload() {
    let env = Env::start().await;
    let file = env.repo.path().join("data.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let c = env.http(Permission::Admin);
    let info = c
        .provider_import(file.to_str().unwrap().into(), Some(1 << 20))
        .await
        .unwrap();
    let expected = ozkcp::payload::Payload::from_bytes(&data, 1 << 20).unwrap();
    assert_eq!(info.root.cid, expected.root.to_string());
    assert_eq!(
        (info.size, info.blocks, info.leaf_size),
        (3_000_000, 4, 1 << 20)
    );
    assert_eq!(c.provider_imports().await.unwrap(), vec![info]);
    assert_eq!(
        env.store.payload(&expected.root).unwrap().unwrap(),
        expected
    );
    env.server.stop().await;
}

#[tokio::test]
async fn deals_survive_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::open(dir.path()).unwrap();
    let secret = repo.jwt_secret().unwrap();
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServeConfig::default()
    };
    let before = {
        let auth = Arc::new(JwtAuth::new(&secret));
        let store = DealStore::open(&repo.db_path()).unwrap();
        let server = serve(store.clone(), auth.clone(), &config).await.unwrap();
        let c = store
            .create_client_deal(ProofMode::Fraud, "p", None)
            .unwrap();
        store
            .step_client(c.deal.id, ClientEvent::ProposalSent)
            .unwrap();
        store
            .create_provider_deal(3, ProofMode::Zk, "c", None)
            .unwrap();
        let info = ApiInfo {
            token: Zeroizing::new(auth.create_token(Permission::Read, None).unwrap()),
            addr: server.local_addr,
        };
        let list = connect_http(&info).unwrap().deals().await.unwrap();
        server.stop().await;
        list
    };
    // Same secret from the repo: old tokens still work; same database: same deals.
    let auth = Arc::new(JwtAuth::new(&repo.jwt_secret().unwrap()));
    let store = DealStore::open(&repo.db_path()).unwrap();
    let server = serve(store, auth.clone(), &config).await.unwrap();
    let info = ApiInfo {
        token: Zeroizing::new(auth.create_token(Permission::Read, None).unwrap()),
        addr: server.local_addr,
    };
    let after = connect_http(&info).unwrap().deals().await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after.len(), 2);
    server.stop().await;
}
