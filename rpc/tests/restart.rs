//! `kill -9` of a client sidecar (`ozkcp serve` as a child process) in the middle of a
//! retrieval: after the restart no deal is lost, every voucher is on record once, the provider
//! revealed keys only for vouchers it recorded first, and retrievals work again.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ozkcp::core::sig::SecpSigner;
use ozkcp::node::ProviderFault;
use ozkcp::payload::Payload;
use ozkcp_rpc::api::{CidJson, DealInfo, OzkcpApiClient, ProviderAddr, RetrieveParams};
use ozkcp_rpc::client::connect_http;
use ozkcp_rpc::deals::{Deals, JudgeFactory, MemoryJudges, NodeConfig, ProviderPolicy};
use ozkcp_rpc::peer::PeerLimits;
use ozkcp_rpc::repo::ApiInfo;
use ozkcp_rpc::store::DealStore;

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(repo: &Path) -> Serve {
    start_with(repo, &[])
}

fn start_with(repo: &Path, extra: &[&str]) -> Serve {
    let _ = std::fs::remove_file(repo.join("api"));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ozkcp"))
        .args(["serve", "--listen", "127.0.0.1:0", "--repo"])
        .arg(repo)
        .args(extra)
        .env_remove("OZKCP_API_INFO")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !repo.join("api").exists() {
        assert!(Instant::now() < deadline, "the sidecar did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    serve
}

mod common;

/// A provider in this process serving a 3 MB import, one 16 KiB block per payment interval
/// (many small intervals, so that a kill lands mid-deal).
async fn provider(
    key: SecpSigner,
    judges: Arc<dyn JudgeFactory>,
) -> (common::Node, Payload, Vec<u8>) {
    let node = common::sidecar(NodeConfig {
        key,
        policy: ProviderPolicy {
            blocks_per_interval: 1,
            ..ProviderPolicy::default()
        },
        judges,
        zk: None,
        limits: PeerLimits {
            idle: Duration::from_secs(5),
            ..PeerLimits::default()
        },
        fault: ProviderFault::None,
    })
    .await;
    let bytes: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i * 7 + (i >> 9)) as u8)
        .collect();
    let payload = Payload::from_bytes(&bytes, 16_384).unwrap();
    node.store
        .put_import(&payload, bytes.len() as u64, 16_384, "test")
        .unwrap();
    (node, payload, bytes)
}

/// A fraud retrieval of `payload` from `provider` in 1 KiB chunks at 3 attoFIL each.
fn params(
    provider: &Deals,
    payload: &Payload,
    out: &Path,
    collateral: Option<&str>,
) -> RetrieveParams {
    RetrieveParams {
        root: CidJson {
            cid: payload.root.to_string(),
        },
        provider: ProviderAddr {
            address: provider.address().to_string(),
            peer: provider.peer_url().unwrap(),
        },
        mode: "fraud".into(),
        price_per_chunk: Some("3".into()),
        chunk_size: Some(1024),
        collateral: collateral.map(str::to_string),
        out: out.to_string_lossy().into_owned(),
    }
}

/// Waits until the client deal `id` has paid two intervals, asserting it has not finished (the
/// kill must land mid-deal).
async fn paid_twice_unfinished(rpc: &jsonrpsee::http_client::HttpClient, id: u64) {
    let t = Instant::now();
    loop {
        let now = rpc.deal(id).await.unwrap();
        assert!(!now.terminal, "finished before the kill: {now:?}");
        if now.paid >= 2 {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{now:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until client deal `id` is terminal with its last actions done.
async fn finished(rpc: &jsonrpsee::http_client::HttpClient, id: u64) -> DealInfo {
    let t = Instant::now();
    loop {
        let now = rpc.deal(id).await.unwrap();
        if now.terminal && now.pending_actions == 0 {
            return now;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "{now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a sidecar's only deal is over (a provider records its last step just after the
/// last key leaves, so it may end a moment after its client).
async fn only_deal_over(rpc: &jsonrpsee::http_client::HttpClient) -> DealInfo {
    let t = Instant::now();
    loop {
        let ds = rpc.deals().await.unwrap();
        if ds.len() == 1 && ds[0].terminal {
            return ds[0].clone();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{ds:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sidecar config with the in-memory judge, a fresh key and peer idle limit `idle`.
fn memory_config(idle: Duration) -> NodeConfig {
    NodeConfig {
        key: SecpSigner::random(),
        policy: ProviderPolicy::default(),
        judges: Arc::new(MemoryJudges::default()),
        zk: None,
        limits: PeerLimits {
            idle,
            ..PeerLimits::default()
        },
        fault: ProviderFault::None,
    }
}

/// Every voucher the provider accepted is one the client recorded before sending it, and
/// each side holds one voucher per interval.
fn one_voucher_per_interval(client: &DealStore, cid: u64, provider: &DealStore, pid: u64) {
    let sent = client.vouchers(cid).unwrap();
    let accepted = provider.vouchers(pid).unwrap();
    assert!(sent.len() >= accepted.len());
    for (j, v) in &accepted {
        assert!(sent.iter().any(|(k, w)| k == j && w == v), "interval {j}");
    }
    for book in [&sent, &accepted] {
        let intervals: Vec<u32> = book.iter().map(|(j, _)| *j).collect();
        let mut unique = intervals.clone();
        unique.dedup();
        assert_eq!(intervals, unique, "one voucher per interval");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_the_client_mid_deal_then_the_deal_resumes_and_completes() {
    // The provider, in this process.
    let (p, payload, bytes) =
        provider(SecpSigner::random(), Arc::new(MemoryJudges::default())).await;
    let (provider, pstore) = (&p.deals, &p.store);

    // The client: a child `ozkcp serve`.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let out = dir.path().join("copy");
    let child = start(&repo);
    let rpc = connect_http(&ApiInfo::discover(&repo).unwrap()).unwrap();
    let params = params(provider, &payload, &out, None);
    let d = rpc.client_retrieve(params.clone()).await.unwrap();
    paid_twice_unfinished(&rpc, d.id).await;
    let mut child = child;
    // SIGKILL: no cleanup of any kind.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    drop(child);
    assert!(!out.exists());

    // Restart: the deal reconnects, resumes from what its `.part` file holds, and completes
    // with every byte; the provider's deal (parked meanwhile) completes too.
    let restarted = start(&repo);
    let rpc = connect_http(&ApiInfo::discover(&repo).unwrap()).unwrap();
    let after = finished(&rpc, d.id).await;
    assert_eq!(after.status, "DealStatusCompleted", "{after:?}");
    assert_eq!(after.paid, after.intervals, "{after:?}");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let pdeal = only_deal_over(&p.rpc).await;
    assert_eq!(pdeal.status, "DealStatusCompleted", "{pdeal:?}");
    drop(restarted);
    let cstore = DealStore::open(&repo.join("ozkcp.redb")).unwrap();
    one_voucher_per_interval(&cstore, d.id, pstore, pdeal.id);
    assert_eq!(cstore.vouchers(d.id).unwrap().len() as u32, after.intervals);
    drop(cstore);

    // And the sidecar retrieves again after the restart.
    let _again = start(&repo);
    let rpc = connect_http(&ApiInfo::discover(&repo).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    let d2 = rpc.client_retrieve(params).await.unwrap();
    assert!(d2.id > d.id);
    assert_eq!(finished(&rpc, d2.id).await.status, "DealStatusCompleted");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

/// `kill -9` of the provider sidecar (a child `ozkcp serve --peer-listen` on a fixed port)
/// mid-deal: the client keeps trying, the restarted provider waits for it with the deal's
/// terms and keys from its store, and the deal completes with every byte, each interval paid
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_the_provider_mid_deal_then_the_client_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let prepo = dir.path().join("provider");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let pargs = [
        "--peer-listen",
        listen.as_str(),
        "--blocks-per-interval",
        "1",
    ];
    let pchild = start_with(&prepo, &pargs);
    let file = dir.path().join("data");
    let bytes: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i * 13 + (i >> 7)) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let prpc = connect_http(&ApiInfo::discover(&prepo).unwrap()).unwrap();
    let imported = prpc
        .provider_import(file.to_string_lossy().into_owned(), Some(16_384))
        .await
        .unwrap();
    let info = prpc.provider_info().await.unwrap();

    // The client, in this process, patient enough for the restart.
    let c = common::sidecar(memory_config(Duration::from_secs(30))).await;
    let out = dir.path().join("copy");
    let d = c
        .deals
        .retrieve(ozkcp_rpc::deals::RetrieveRequest {
            root: imported.root.cid.parse().unwrap(),
            provider: info.address.parse().unwrap(),
            peer: info.peer.clone().unwrap(),
            mode: ozkcp::core::deal::ProofMode::Fraud,
            price_per_chunk: ozkcp::core::TokenAmount::from_atto(3),
            chunk_size: Some(1024),
            collateral: ozkcp::core::TokenAmount::from_atto(0),
            out: out.clone(),
        })
        .await
        .unwrap();
    paid_twice_unfinished(&c.rpc, d.id).await;
    let mut pchild = pchild;
    pchild.0.kill().unwrap();
    pchild.0.wait().unwrap();
    drop(pchild);

    let _restarted = start_with(&prepo, &pargs);
    let done = finished(&c.rpc, d.id).await;
    assert_eq!(done.status, "DealStatusCompleted", "{done:?}");
    assert_eq!(done.paid, done.intervals);
    assert!(std::fs::read(&out).unwrap() == bytes, "the copy differs");
    let prpc = connect_http(&ApiInfo::discover(&prepo).unwrap()).unwrap();
    let pdone = only_deal_over(&prpc).await;
    assert_eq!(pdone.status, "DealStatusCompleted", "{pdone:?}");
    drop(_restarted);
    let pstore = DealStore::open(&prepo.join("ozkcp.redb")).unwrap();
    one_voucher_per_interval(&c.store, d.id, &pstore, pdone.id);
}

/// The same kill on a chain (a devnet served in this process, the client a child `ozkcp serve
/// --judge …` with a genesis key): after the restart the deal resumes and completes, the
/// provider redeems its last voucher, and once the window closes the deal settles: the client
/// paid exactly what the provider redeemed, once, and nothing stays locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_on_a_chain_the_resumed_deal_completes_and_settles() {
    use base64::Engine;
    use ozkcp_judge::types::DealStatus;
    use ozkcp_rpc::judges::{ChainJudges, Deadlines};

    let chain = common::served_chain(Default::default()).await;
    let (srv, judge, accounts) = (&chain.srv, chain.judge.clone(), &chain.accounts);
    let node = judge.node().clone();
    let judge_addr = judge.address();
    let (client_addr, provider_addr) = (accounts[0].address, accounts[1].address);
    let holdings = |a| {
        let (node, judge) = (node.clone(), judge.clone());
        async move { node.balance(&a).await.unwrap() + judge.account(a).await.unwrap().balance }
    };

    // The provider, in this process, on the chain.
    let judges = ChainJudges::new(
        judge.clone(),
        tokio::runtime::Handle::current(),
        accounts[1].signer.clone(),
        Deadlines::default(),
        Duration::from_millis(50),
    );
    let (p, payload, bytes) = provider(accounts[1].signer.clone(), Arc::new(judges)).await;
    let provider = &p.deals;
    let (client_before, provider_before) =
        (holdings(client_addr).await, holdings(provider_addr).await);

    // The client: a child sidecar with genesis account 0's key, on the same judge.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let key_json = format!(
        r#"{{"Type":"secp256k1","PrivateKey":"{}"}}"#,
        base64::engine::general_purpose::STANDARD.encode(*accounts[0].signer.secret_bytes())
    );
    assert_cmd::Command::cargo_bin("ozkcp")
        .unwrap()
        .arg("--repo")
        .arg(&repo)
        .args(["wallet", "import"])
        .write_stdin(key_json)
        .assert()
        .success();
    let api = srv.http_url();
    let judge_str = judge_addr.to_string();
    let chain_args = [
        "--chain-api",
        api.as_str(),
        "--judge",
        judge_str.as_str(),
        "--reveal-epochs",
        "300",
        "--dispute-epochs",
        "20",
        "--chain-poll-ms",
        "50",
    ];
    let client = start_with(&repo, &chain_args);
    let rpc = connect_http(&ApiInfo::discover(&repo).unwrap()).unwrap();
    let out = dir.path().join("copy");
    let d = rpc
        .client_retrieve(params(provider, &payload, &out, Some("500")))
        .await
        .unwrap();
    let t = Instant::now();
    paid_twice_unfinished(&rpc, d.id).await;
    let mut client = client;
    client.0.kill().unwrap();
    client.0.wait().unwrap();
    drop(client);

    // Restart: the deal resumes and completes; the provider redeems its last voucher.
    let restarted = start_with(&repo, &chain_args);
    let rpc = connect_http(&ApiInfo::discover(&repo).unwrap()).unwrap();
    let after = finished(&rpc, d.id).await;
    assert_eq!(after.status, "DealStatusCompleted", "{after:?}");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let deal = loop {
        let on_chain = judge.deal(client_addr, d.deal_id).await.unwrap().unwrap();
        if on_chain.key.is_some() {
            break on_chain;
        }
        assert!(t.elapsed() < Duration::from_secs(90), "never redeemed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(deal.paid.is_positive());
    let _restarted = restarted;
    let now = node.epoch().await.unwrap();
    node.advance((deal.dispute_deadline - now + 1) as u64)
        .await
        .unwrap();
    let settled = loop {
        let on_chain = judge.deal(client_addr, d.deal_id).await.unwrap().unwrap();
        if on_chain.status == DealStatus::Settled {
            break on_chain;
        }
        assert!(t.elapsed() < Duration::from_secs(90), "never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(settled.paid, deal.paid, "no voucher redeemed twice");
    assert_eq!(
        client_before - holdings(client_addr).await,
        settled.paid.clone()
    );
    assert_eq!(
        holdings(provider_addr).await - provider_before,
        settled.paid
    );
    for a in [client_addr, provider_addr] {
        assert!(
            judge.account(a).await.unwrap().locked.is_zero(),
            "{a}: locked"
        );
    }
}

/// The process died after a deal completed but before its file was renamed into place: on
/// restart the payload in `<out>.part` is checked block by block against the CIDs and
/// delivered; a `.part` that lacks blocks is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_deal_whose_file_was_not_renamed_is_delivered_on_restart() {
    use ozkcp::driver::{run_deal, ClientFault, DealConfig};
    use ozkcp::fsm::client::{ClientAction, ClientEvent};
    use ozkcp_rpc::deals::Deals;

    let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 + 7) as u8).collect();
    let o = run_deal(
        &data,
        &DealConfig::default(),
        ProviderFault::None,
        ClientFault::None,
    );
    let terms = o.recorded.client_terms.clone().unwrap();
    let root = o.recorded.root.clone().unwrap();
    for (name, part, delivered) in [
        ("whole", data.clone(), true),
        ("short", data[..4000].to_vec(), false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = DealStore::open(&dir.path().join("db")).unwrap();
        let out = dir.path().join("copy");
        let rec = store
            .create_client_deal_as(
                Some(terms.terms.proposal.deal_id),
                ozkcp::core::deal::ProofMode::Fraud,
                "f01@ws://127.0.0.1:9/peer/v0",
                Some(terms.terms.proposal.payload_root),
            )
            .unwrap()
            .deal;
        store
            .record_client(
                rec.id,
                &ClientEvent::AllChunksReceived,
                &o.client,
                &[ClientAction::DeliverData],
            )
            .unwrap();
        store
            .update_session(rec.id, |s| {
                s.client_terms = Some(terms.clone());
                s.root = Some(fvm_ipld_encoding::RawBytes::new(root.clone()));
                s.out = Some(out.to_string_lossy().into_owned());
            })
            .unwrap();
        let mut part_path = out.clone().into_os_string();
        part_path.push(".part");
        std::fs::write(&part_path, &part).unwrap();

        let deals = Deals::new(store.clone(), memory_config(PeerLimits::default().idle));
        deals.recover().unwrap();
        assert_eq!(out.exists(), delivered, "{name}");
        if delivered {
            assert_eq!(std::fs::read(&out).unwrap(), data, "{name}");
        }
        let after = store.deal(rec.id).unwrap().unwrap();
        assert!(after.pending.is_empty(), "{name}: confirmed either way");
    }
}
