//! Set-up shared by the integration tests: a devnet served over a real socket with the judge
//! deployed, and an in-process sidecar (deal store, peer listener, JSON-RPC server).
// Each test file uses the part it needs.
#![allow(dead_code)]

use std::sync::Arc;

use fvm_ipld_encoding::RawBytes;
use ozkcp_devnet::{Devnet, GenesisConfig, RpcServer};
use ozkcp_rpc::auth::{JwtAuth, Permission};
use ozkcp_rpc::chain::{DevnetAccount, JudgeClient, LotusClient};
use ozkcp_rpc::client::connect_http;
use ozkcp_rpc::deals::{Deals, NodeConfig};
use ozkcp_rpc::repo::ApiInfo;
use ozkcp_rpc::server::{serve_with, ServeConfig, Sidecar};
use ozkcp_rpc::store::DealStore;
use zeroize::Zeroizing;

/// A devnet in a temporary directory, served on a loopback port, the judge installed through
/// its API.
pub struct ServedChain {
    /// The chain directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The API server.
    pub srv: RpcServer,
    /// The judge through the API.
    pub judge: JudgeClient,
    /// The funded genesis accounts.
    pub accounts: Vec<DevnetAccount>,
}

/// Starts a [`ServedChain`].
pub async fn served_chain(genesis: GenesisConfig) -> ServedChain {
    let dir = tempfile::tempdir().unwrap();
    let net = Devnet::open(dir.path(), genesis).unwrap();
    let srv = ozkcp_devnet::serve(Arc::new(net), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let node = LotusClient::new(&srv.http_url(), None).unwrap();
    let judge = node
        .install_actor(ozkcp_devnet::judge_wasm(), RawBytes::default())
        .await
        .unwrap();
    assert!(judge.id_address.to_string()[1..].starts_with('0'));
    let accounts = node.devnet_accounts().await.unwrap();
    ServedChain {
        dir,
        srv,
        judge: JudgeClient::new(node, judge.id_address),
        accounts,
    }
}

/// A sidecar in this process: its store, deal flows, JSON-RPC server and an admin client.
pub struct Node {
    /// The store's directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The deal store.
    pub store: DealStore,
    /// The deal flows (listening for peers).
    pub deals: Arc<Deals>,
    /// The JSON-RPC server.
    pub sidecar: Sidecar,
    /// An admin-token client of it.
    pub rpc: jsonrpsee::http_client::HttpClient,
}

/// Starts a [`Node`] dealing with `cfg`, serving peers and JSON-RPC on loopback ports.
pub async fn sidecar(cfg: NodeConfig) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = DealStore::open(&dir.path().join("db")).unwrap();
    let auth = Arc::new(JwtAuth::new(&Zeroizing::new(vec![7; 32])));
    let deals = Deals::new(store.clone(), cfg);
    deals
        .listen_peers("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServeConfig::default()
    };
    let sidecar = serve_with(store.clone(), auth.clone(), &config, Some(deals.clone()))
        .await
        .unwrap();
    let info = ApiInfo {
        token: auth.create_token(Permission::Admin, None).unwrap().into(),
        addr: sidecar.local_addr,
    };
    Node {
        dir,
        store,
        deals,
        sidecar,
        rpc: connect_http(&info).unwrap(),
    }
}
