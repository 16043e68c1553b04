//! Retrievals between two sidecars over real sockets: a provider sidecar serving an import at
//! `/peer/v0`, a client sidecar driven through `Ozkcp.ClientRetrieve`; garbage from peers; load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ozkcp::core::deal::{DealProposal, ProofMode};
use ozkcp::core::encoding::to_cbor;
use ozkcp::core::sig::SecpSigner;
use ozkcp::core::{Address, TokenAmount};
use ozkcp::messages::{Message, Notice, Resume};
use ozkcp::node::ProviderFault;
use ozkcp::payload::Payload;
use ozkcp_rpc::api::{CidJson, DealInfo, OzkcpApiClient, ProviderAddr, RetrieveParams};
use ozkcp_rpc::deals::{MemoryJudges, NodeConfig, ProviderPolicy};
use ozkcp_rpc::peer::PeerLimits;
use tokio_tungstenite::tungstenite::Message as Ws;

mod common;
use common::{sidecar, Node};

async fn node(fault: ProviderFault, idle: Duration, max_frame: usize) -> Node {
    sidecar(NodeConfig {
        key: SecpSigner::random(),
        policy: ProviderPolicy {
            blocks_per_interval: 2,
            ..ProviderPolicy::default()
        },
        judges: Arc::new(MemoryJudges::default()),
        zk: None,
        limits: PeerLimits { max_frame, idle },
        fault,
    })
    .await
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn import(p: &Node, bytes: &[u8], leaf: usize) -> Payload {
    let payload = Payload::from_bytes(bytes, leaf).unwrap();
    p.store
        .put_import(&payload, bytes.len() as u64, leaf as u64, "test")
        .unwrap();
    payload
}

fn params(p: &Node, payload: &Payload, out: &std::path::Path, chunk: u32) -> RetrieveParams {
    RetrieveParams {
        root: CidJson {
            cid: payload.root.to_string(),
        },
        provider: ProviderAddr {
            address: p.deals.address().to_string(),
            peer: p.deals.peer_url().unwrap(),
        },
        mode: "fraud".into(),
        price_per_chunk: Some("7".into()),
        chunk_size: Some(chunk),
        collateral: Some("1000".into()),
        out: out.to_string_lossy().into_owned(),
    }
}

async fn wait(c: &Node, id: u64, limit: Duration) -> DealInfo {
    let start = Instant::now();
    loop {
        let d = c.rpc.deal(id).await.unwrap();
        if d.terminal && d.pending_actions == 0 {
            return d;
        }
        assert!(start.elapsed() < limit, "deal {id} stuck: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fraud_retrieval_between_two_sidecars() {
    let p = node(ProviderFault::None, Duration::from_secs(20), 4 << 20).await;
    let c = node(ProviderFault::None, Duration::from_secs(20), 4 << 20).await;
    let bytes = data(300_000, 1);
    let payload = import(&p, &bytes, 65_536);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy");
    let deal = c
        .rpc
        .client_retrieve(params(&p, &payload, &out, 4096))
        .await
        .unwrap();
    let done = wait(&c, deal.id, Duration::from_secs(60)).await;
    assert_eq!(done.status, "DealStatusCompleted", "{done:?}");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    assert_eq!(done.paid, done.intervals);
    // One voucher per interval on record, on both sides.
    let client_vouchers = c.store.vouchers(deal.id).unwrap();
    assert_eq!(client_vouchers.len() as u32, done.intervals);
    let pd = p.rpc.deals().await.unwrap();
    assert_eq!(pd.len(), 1);
    let pd = wait(&p, pd[0].id, Duration::from_secs(10)).await;
    assert_eq!(pd.status, "DealStatusCompleted");
    assert_eq!(pd.deal_id, deal.deal_id);
    assert_ne!(
        deal.deal_id, deal.id,
        "the protocol's deal id is random, not the record id"
    );
    let provider_vouchers = p.store.vouchers(pd.id).unwrap();
    assert_eq!(provider_vouchers, client_vouchers);
    // Unknown payloads are refused by the provider's policy.
    let mut unknown = params(&p, &payload, &dir.path().join("x"), 4096);
    unknown.root.cid = Payload::from_bytes(b"never imported", 64)
        .unwrap()
        .root
        .to_string();
    let d = c.rpc.client_retrieve(unknown).await.unwrap();
    let d = wait(&c, d.id, Duration::from_secs(20)).await;
    assert_eq!(d.status, "DealStatusRejected");
    assert!(d.message.contains("not imported"), "{}", d.message);
    // A cheating provider (wrong key) is caught and the dispute won.
    let cheat = node(ProviderFault::WrongKey(1), Duration::from_secs(20), 4 << 20).await;
    let payload = import(&cheat, &bytes, 65_536);
    let d = c
        .rpc
        .client_retrieve(params(&cheat, &payload, &dir.path().join("y"), 4096))
        .await
        .unwrap();
    let d = wait(&c, d.id, Duration::from_secs(30)).await;
    assert_eq!(d.status, "DealStatusCompleted");
    assert!(!dir.path().join("y").exists(), "no data from a cheat");
    let _ = (p.sidecar, c.sidecar, cheat.sidecar);
}

/// A raw peer: a WebSocket to the provider's `/peer/v0`.
async fn raw_peer(
    p: &Node,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(p.deals.peer_url().unwrap())
        .await
        .unwrap()
        .0
}

fn proposal(p: &Node, payload: &Payload, deal_id: u64) -> DealProposal {
    DealProposal {
        deal_id,
        client: SecpSigner::random().address(),
        provider: p.deals.address(),
        payload_root: payload.root,
        chunk_size: 1024,
        price_per_chunk: TokenAmount::from_atto(1),
        mode: ProofMode::Fraud,
        circuit_id: None,
        judge: Address::new_id(1000),
        lane: deal_id,
        collateral: TokenAmount::from_atto(0),
        key_reveal_deadline: 1000,
        dispute_window: 100,
    }
}

/// Reads frames until the provider closes; returns the decoded messages' kinds.
async fn drain(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Vec<String> {
    let mut kinds = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match m {
            Ws::Binary(b) => match ozkcp::core::encoding::from_cbor::<Message>(&b) {
                Ok(Message::Abort(n)) => kinds.push(format!("Abort: {}", n.reason)),
                Ok(m) => kinds.push(format!("{m:?}").chars().take(12).collect()),
                Err(_) => kinds.push("garbage".into()),
            },
            Ws::Close(_) => break,
            _ => {}
        }
    }
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_from_peers_ends_only_that_deal() {
    let p = node(ProviderFault::None, Duration::from_secs(3), 256 << 10).await;
    let c = node(ProviderFault::None, Duration::from_secs(20), 4 << 20).await;
    let bytes = data(200_000, 2);
    let payload = import(&p, &bytes, 16_384);
    // An honest retrieval runs alongside the garbage.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("honest");
    let honest = c
        .rpc
        .client_retrieve(params(&p, &payload, &out, 1024))
        .await
        .unwrap();

    // 1. Not CBOR as the first frame: closed, no deal recorded.
    let mut ws = raw_peer(&p).await;
    ws.send(Ws::Binary(vec![0xff, 0x00, 0x13].into()))
        .await
        .unwrap();
    drain(&mut ws).await;
    // 2. A text frame first: closed too.
    let mut ws = raw_peer(&p).await;
    ws.send(Ws::Text("hello".into())).await.unwrap();
    drain(&mut ws).await;

    type Garbage = Box<dyn Fn(u64) -> Ws + Send + Sync>;
    let cases: Vec<(&str, Garbage)> = vec![
        (
            "bad cbor",
            Box::new(|_| Ws::Binary(vec![0x82, 0x06, 0xff].into())),
        ),
        (
            "oversize",
            Box::new(|_| Ws::Binary(vec![0u8; 300 << 10].into())),
        ),
        (
            "wrong deal",
            Box::new(|id| {
                Ws::Binary(
                    to_cbor(&Message::StartTransfer(Notice {
                        deal_id: id + 1,
                        reason: String::new(),
                    }))
                    .unwrap()
                    .into(),
                )
            }),
        ),
        (
            "out of order",
            Box::new(|id| {
                Ws::Binary(
                    to_cbor(&Message::Proposal(DealProposal {
                        deal_id: id,
                        ..proposal_template()
                    }))
                    .unwrap()
                    .into(),
                )
            }),
        ),
        ("text", Box::new(|_| Ws::Text("{}".into()))),
    ];
    for (k, (name, garbage)) in cases.iter().enumerate() {
        let id = 1000 + k as u64;
        let mut ws = raw_peer(&p).await;
        let prop = proposal(&p, &payload, id);
        ws.send(Ws::Binary(
            to_cbor(&Message::Proposal(prop)).unwrap().into(),
        ))
        .await
        .unwrap();
        // The acceptance arrives; then the garbage.
        let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Ws::Binary(b) = first else {
            panic!("{name}: {first:?}")
        };
        assert!(matches!(
            ozkcp::core::encoding::from_cbor::<Message>(&b),
            Ok(Message::Accept(_))
        ));
        let _ = ws.send(garbage(id)).await;
        let seen = drain(&mut ws).await;
        let deal = p
            .rpc
            .deals()
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.deal_id == id)
            .unwrap_or_else(|| panic!("{name}: no deal"));
        let deal = wait(&p, deal.id, Duration::from_secs(10)).await;
        assert_eq!(deal.status, "DealStatusErrored", "{name}: {deal:?}");
        assert!(!deal.message.is_empty(), "{name}");
        if *name != "oversize" && *name != "text" {
            assert!(
                seen.iter().any(|s| s.starts_with("Abort")),
                "{name}: {seen:?}"
            );
        }
    }
    // 3. A client that goes silent while payment is due: PaymentTimeout, the deal aborts.
    let mut ws = raw_peer(&p).await;
    let prop = proposal(&p, &payload, 2000);
    ws.send(Ws::Binary(
        to_cbor(&Message::Proposal(prop)).unwrap().into(),
    ))
    .await
    .unwrap();
    ws.send(Ws::Binary(
        to_cbor(&Message::StartTransfer(Notice {
            deal_id: 2000,
            reason: String::new(),
        }))
        .unwrap()
        .into(),
    ))
    .await
    .unwrap();
    let seen = drain(&mut ws).await;
    assert!(seen.iter().any(|s| s.starts_with("Abort")), "{seen:?}");
    let silent = p
        .rpc
        .deals()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.deal_id == 2000)
        .unwrap();
    let silent = wait(&p, silent.id, Duration::from_secs(10)).await;
    assert_eq!(silent.status, "DealStatusCompleted"); // Abort → Completed, as the seed has it
    assert!(silent.message.contains("stopped paying"), "{silent:?}");

    // 4. A Resume of the honest deal not signed by its client, and one of no deal: each
    //    refused with an Abort; the honest deal goes on untouched.
    let honest_p = loop {
        let found = p.store.deals().unwrap().into_iter().find(|d| {
            d.deal_id() == honest.deal_id
                && p.store
                    .session(d.id)
                    .unwrap()
                    .is_some_and(|s| s.provider_terms.is_some())
        });
        if let Some(d) = found {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let terms = p
        .store
        .session(honest_p.id)
        .unwrap()
        .unwrap()
        .provider_terms
        .unwrap();
    for (deal_id, signer) in [
        (honest.deal_id, SecpSigner::random()),
        (honest.deal_id + 1, SecpSigner::random()),
    ] {
        let forged = Resume {
            deal_id,
            terms: terms.digest().unwrap(),
            from: 0,
        }
        .sign(&signer)
        .unwrap();
        let mut ws = raw_peer(&p).await;
        ws.send(Ws::Binary(
            to_cbor(&Message::Resume(forged)).unwrap().into(),
        ))
        .await
        .unwrap();
        let seen = drain(&mut ws).await;
        assert_eq!(seen, vec!["Abort: no such deal to resume".to_string()]);
    }

    let done = wait(&c, honest.id, Duration::from_secs(60)).await;
    assert_eq!(done.status, "DealStatusCompleted", "{done:?}");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

fn proposal_template() -> DealProposal {
    DealProposal {
        deal_id: 0,
        client: SecpSigner::random().address(),
        provider: SecpSigner::random().address(),
        payload_root: Payload::from_bytes(b"x", 64).unwrap().root,
        chunk_size: 64,
        price_per_chunk: TokenAmount::from_atto(0),
        mode: ProofMode::Fraud,
        circuit_id: None,
        judge: Address::new_id(1000),
        lane: 0,
        collateral: TokenAmount::from_atto(0),
        key_reveal_deadline: 1,
        dispute_window: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_from_a_provider_ends_the_client_deal() {
    // A fake provider: accepts the connection, answers the proposal with garbage.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // (the proposal's deal id, the deal id of the client's Abort)
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let seen_tx = seen_tx.clone();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
                let proposed = match ws.next().await {
                    Some(Ok(Ws::Binary(b))) => match ozkcp::core::encoding::from_cbor(&b) {
                        Ok(Message::Proposal(p)) => p.deal_id,
                        _ => return,
                    },
                    _ => return,
                };
                let _ = ws.send(Ws::Binary(vec![0x9f, 0x01].into())).await;
                while let Some(Ok(f)) = ws.next().await {
                    if let Ws::Binary(b) = f {
                        if let Ok(Message::Abort(n)) = ozkcp::core::encoding::from_cbor(&b) {
                            let _ = seen_tx.send((proposed, n.deal_id));
                        }
                    }
                }
            });
        }
    });
    let c = node(ProviderFault::None, Duration::from_secs(5), 1 << 20).await;
    let dir = tempfile::tempdir().unwrap();
    let payload = Payload::from_bytes(b"anything", 64).unwrap();
    let d = c
        .rpc
        .client_retrieve(RetrieveParams {
            root: CidJson {
                cid: payload.root.to_string(),
            },
            provider: ProviderAddr {
                address: SecpSigner::random().address().to_string(),
                peer: addr.to_string(),
            },
            mode: "fraud".into(),
            price_per_chunk: None,
            chunk_size: None,
            collateral: None,
            out: dir.path().join("o").to_string_lossy().into_owned(),
        })
        .await
        .unwrap();
    let d = wait(&c, d.id, Duration::from_secs(20)).await;
    assert_eq!(d.status, "DealStatusErrored");
    assert!(d.message.contains("undecodable"), "{}", d.message);
    // The client told the provider why, naming the deal by the id it proposed.
    let (proposed, aborted) = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
        .await
        .expect("an Abort reached the provider")
        .unwrap();
    assert_eq!(aborted, proposed);
    assert_eq!(proposed, d.deal_id);
    // Nobody listening: the deal errors with the reason.
    let mut p = params(&c, &payload, &dir.path().join("p"), 1024);
    p.provider.peer = "127.0.0.1:1".into();
    let d = c.rpc.client_retrieve(p).await.unwrap();
    let d = wait(&c, d.id, Duration::from_secs(20)).await;
    assert_eq!(d.status, "DealStatusErrored");
    assert!(d.message.contains("cannot reach"), "{}", d.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_fraud_retrievals() {
    let p = node(ProviderFault::None, Duration::from_secs(30), 4 << 20).await;
    let c = node(ProviderFault::None, Duration::from_secs(30), 4 << 20).await;
    let dir = tempfile::tempdir().unwrap();
    let mut wanted = Vec::new();
    for k in 0..20u32 {
        let bytes = data(40_000 + 1000 * k as usize, k);
        let payload = import(&p, &bytes, 8192);
        let out = dir.path().join(format!("out{k}"));
        wanted.push((bytes, out.clone(), params(&p, &payload, &out, 1024)));
    }
    let start = Instant::now();
    let mut ids = Vec::new();
    for (_, _, prm) in &wanted {
        ids.push(c.rpc.client_retrieve(prm.clone()).await.unwrap().id);
    }
    for (id, (bytes, out, _)) in ids.iter().zip(&wanted) {
        let d = wait(&c, *id, Duration::from_secs(120)).await;
        assert_eq!(d.status, "DealStatusCompleted", "{d:?}");
        assert_eq!(&std::fs::read(out).unwrap(), bytes);
    }
    eprintln!("20 concurrent retrievals in {:?}", start.elapsed());
    let served = p.rpc.deals().await.unwrap();
    assert_eq!(served.len(), 20);
    for d in served {
        let d = wait(&p, d.id, Duration::from_secs(10)).await;
        assert_eq!(d.status, "DealStatusCompleted");
    }
}
