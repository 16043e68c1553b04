//! Two sidecars dealing on a chain: a devnet served over a real socket, the judge deployed
//! through its API, a provider and a client sidecar each signing its own judge messages with
//! a genesis account's key ([`ChainJudges`]). Honest deals are redeemed and settled; a cheating
//! provider is slashed; a provider that never locks its collateral costs the client nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fvm_ipld_encoding::RawBytes;
use ozkcp::core::sig::SecpSigner;
use ozkcp::core::TokenAmount;
use ozkcp::node::ProviderFault;
use ozkcp::payload::Payload;
use ozkcp_devnet::GenesisConfig;
use ozkcp_judge::types::{Deal, DealStatus};
use ozkcp_rpc::api::{CidJson, DealInfo, OzkcpApiClient, ProviderAddr, RetrieveParams};
use ozkcp_rpc::chain::JudgeClient;
use ozkcp_rpc::deals::{NodeConfig, ProviderPolicy, ZkParams};
use ozkcp_rpc::judges::{ChainJudges, Deadlines};
use ozkcp_rpc::peer::PeerLimits;

mod common;
use common::{served_chain, sidecar, Node, ServedChain};

const PRICE: u64 = 1_000;
const DEADLINES: Deadlines = Deadlines {
    reveal: 400,
    dispute: 40,
};

struct Chain(ServedChain);

impl std::ops::Deref for Chain {
    type Target = ServedChain;
    fn deref(&self) -> &ServedChain {
        &self.0
    }
}

impl Chain {
    async fn start(genesis: GenesisConfig) -> Self {
        Chain(served_chain(genesis).await)
    }

    fn key(&self, i: usize) -> SecpSigner {
        self.accounts[i].signer.clone()
    }

    /// Wallet + escrow of account `i`.
    async fn holdings(&self, i: usize) -> TokenAmount {
        let a = self.accounts[i].address;
        let wallet = self.judge.node().balance(&a).await.unwrap();
        wallet + self.judge.account(a).await.unwrap().balance
    }

    async fn deal(&self, deal_id: u64) -> Deal {
        self.judge
            .deal(self.accounts[0].address, deal_id)
            .await
            .unwrap()
            .expect("the deal is on chain")
    }

    /// Waits until deal `deal_id` of the client (account 0) has `status`.
    async fn wait_status(&self, deal_id: u64, status: DealStatus) -> Deal {
        let start = Instant::now();
        loop {
            let d = self.deal(deal_id).await;
            if d.status == status {
                return d;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "deal {deal_id} stays {:?}, expected {status:?}",
                d.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn node(chain: &Chain, account: usize, fault: ProviderFault) -> Node {
    node_with(chain.judge.clone(), chain.key(account), fault, None).await
}

async fn node_with(
    judge: JudgeClient,
    key: SecpSigner,
    fault: ProviderFault,
    zk: Option<ZkParams>,
) -> Node {
    let judges = ChainJudges::new(
        judge,
        tokio::runtime::Handle::current(),
        key.clone(),
        DEADLINES,
        Duration::from_millis(20),
    );
    sidecar(NodeConfig {
        key,
        policy: ProviderPolicy {
            blocks_per_interval: 2,
            max_collateral: TokenAmount::from_whole(10),
            ..ProviderPolicy::default()
        },
        judges: Arc::new(judges),
        zk,
        limits: PeerLimits {
            max_frame: 4 << 20,
            // The sidecar's default: zk proving on a loaded CI machine can take 20 s an interval.
            idle: Duration::from_secs(60),
        },
        fault,
    })
    .await
}

fn data(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

/// The provider imports `bytes`; the client retrieves them (4 KiB chunks, collateral
/// `collateral` attoFIL) and the test waits for the client's side to end.
async fn retrieve(p: &Node, c: &Node, bytes: &[u8], collateral: u128) -> (DealInfo, Payload) {
    retrieve_as(p, c, bytes, collateral, "fraud", 4096).await
}

async fn retrieve_as(
    p: &Node,
    c: &Node,
    bytes: &[u8],
    collateral: u128,
    mode: &str,
    chunk: u32,
) -> (DealInfo, Payload) {
    let payload = Payload::from_bytes(bytes, 16_384).unwrap();
    p.store
        .put_import(&payload, bytes.len() as u64, 16_384, "test")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy");
    let deal = c
        .rpc
        .client_retrieve(RetrieveParams {
            root: CidJson {
                cid: payload.root.to_string(),
            },
            provider: ProviderAddr {
                address: p.deals.address().to_string(),
                peer: p.deals.peer_url().unwrap(),
            },
            mode: mode.into(),
            price_per_chunk: Some(PRICE.to_string()),
            chunk_size: Some(chunk),
            collateral: Some(collateral.to_string()),
            out: out.to_string_lossy().into_owned(),
        })
        .await
        .unwrap();
    let start = Instant::now();
    let done = loop {
        let d = c.rpc.deal(deal.id).await.unwrap();
        if d.terminal && d.pending_actions == 0 {
            break d;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "stuck: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if done.status == "DealStatusCompleted" && done.message.is_empty() {
        assert_eq!(std::fs::read(&out).unwrap(), bytes, "the bytes retrieved");
    } else {
        assert!(!out.exists(), "no payload from a failed deal");
    }
    (done, payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_honest_retrieval_is_redeemed_on_chain_and_settled_by_the_provider() {
    let chain = Chain::start(GenesisConfig::default()).await;
    let p = node(&chain, 1, ProviderFault::None).await;
    let c = node(&chain, 0, ProviderFault::None).await;
    let (client_before, provider_before) = (chain.holdings(0).await, chain.holdings(1).await);
    let bytes = data(100_000);
    let (done, _) = retrieve(&p, &c, &bytes, 5_000).await;
    assert_eq!(done.status, "DealStatusCompleted", "{done:?}");
    assert_eq!(done.paid, done.intervals);

    // The provider redeemed the last voucher: the key is public, the pay still reserved.
    let start = Instant::now();
    let deal = loop {
        let d = chain.deal(done.deal_id).await;
        if d.key.is_some() {
            break d;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never redeemed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(deal.status, DealStatus::Active);
    assert_eq!(deal.collateral, TokenAmount::from_atto(5_000));
    let chunks = 100_000u64.div_ceil(4096) + 1; // the leaves' chunks and the root block's
    assert!(deal.paid >= TokenAmount::from_atto(PRICE * (chunks - 1)));
    assert_eq!(deal.locked, TokenAmount::from_atto(0), "fully paid");
    let paid = deal.paid.clone();

    // The dispute window passes; the provider's sidecar settles on its own.
    let epoch = chain.judge.node().epoch().await.unwrap();
    let passing = (deal.dispute_deadline - epoch + 1) as u64;
    chain.judge.node().advance(passing).await.unwrap();
    chain.wait_status(done.deal_id, DealStatus::Settled).await;
    let provider_escrow = chain
        .judge
        .account(chain.accounts[1].address)
        .await
        .unwrap();
    assert_eq!(provider_escrow.locked, TokenAmount::from_atto(0));
    // The books: what the client lost is exactly what the provider gained (gas is free).
    assert_eq!(chain.holdings(1).await - provider_before, paid.clone());
    assert_eq!(client_before - chain.holdings(0).await, paid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_key_is_disputed_and_slashed_on_chain() {
    let chain = Chain::start(GenesisConfig::default()).await;
    let p = node(&chain, 1, ProviderFault::WrongKey(1)).await;
    let c = node(&chain, 0, ProviderFault::None).await;
    let client_before = chain.holdings(0).await;
    let (done, _) = retrieve(&p, &c, &data(100_000), 7_000).await;
    assert_ne!(done.message, "", "the client saw the fault: {done:?}");
    let deal = chain.wait_status(done.deal_id, DealStatus::Slashed).await;
    assert_eq!(
        deal.fault,
        Some(ozkcp::core::evidence::EvidenceKind::WrongKey as u8)
    );
    // Refunded in full and paid the collateral.
    assert_eq!(
        chain.holdings(0).await - client_before,
        TokenAmount::from_atto(7_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_that_cannot_lock_collateral_costs_the_client_nothing() {
    // Every account holds 1 FIL; the client asks 2 FIL of collateral, which the provider's
    // policy allows but its wallet cannot pay.
    let chain = Chain::start(GenesisConfig {
        accounts: 3,
        balance: TokenAmount::from_whole(1),
        seed: 5,
    })
    .await;
    let p = node(&chain, 1, ProviderFault::None).await;
    let c = node(&chain, 0, ProviderFault::None).await;
    let client_before = chain.holdings(0).await;
    let collateral = 2_000_000_000_000_000_000u128;
    let bytes = data(50_000);
    let retrieval = retrieve(&p, &c, &bytes, collateral);
    // The client waits for the key-reveal deadline before it may take its funds back: pass it.
    let advance = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = chain.judge.node().advance(50).await;
        }
    };
    let (done, _) = tokio::select! {
        r = retrieval => r,
        _ = advance => unreachable!(),
    };
    assert_eq!(done.status, "DealStatusErrored", "{done:?}");
    assert!(done.message.contains("collateral"), "{}", done.message);
    let deal = chain.deal(done.deal_id).await;
    assert_eq!(deal.status, DealStatus::Settled, "the client settled");
    let provider = chain
        .judge
        .account(chain.accounts[1].address)
        .await
        .unwrap();
    assert_eq!(
        provider.locked,
        TokenAmount::from_atto(0),
        "no collateral held"
    );
    assert_eq!(chain.holdings(0).await, client_before, "nothing lost");
    let escrow = chain
        .judge
        .account(chain.accounts[0].address)
        .await
        .unwrap();
    assert_eq!(
        escrow.locked,
        TokenAmount::from_atto(0),
        "nothing stays locked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_refuses_a_deal_that_names_another_judge() {
    let chain = Chain::start(GenesisConfig::default()).await;
    // The provider trusts a second judge actor on the same chain.
    let node_api = chain.judge.node().clone();
    let other = node_api
        .install_actor(ozkcp_devnet::judge_wasm(), RawBytes::default())
        .await
        .unwrap();
    assert_ne!(chain.judge.address(), other.id_address);
    let p = node_with(
        JudgeClient::new(node_api, other.id_address),
        chain.key(1),
        ProviderFault::None,
        None,
    )
    .await;
    let c = node(&chain, 0, ProviderFault::None).await;
    let (done, _) = retrieve(&p, &c, &data(20_000), 0).await;
    assert_ne!(done.status, "DealStatusCompleted", "{done:?}");
    assert!(
        chain
            .judge
            .deal(chain.accounts[0].address, done.deal_id)
            .await
            .unwrap()
            .is_none(),
        "nothing was locked on chain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_retrievals_each_lock_redeem_and_settle_on_chain() {
    let chain = Chain::start(GenesisConfig::default()).await;
    let p = node(&chain, 1, ProviderFault::None).await;
    let c = node(&chain, 0, ProviderFault::None).await;
    let (client_before, provider_before) = (chain.holdings(0).await, chain.holdings(1).await);
    let files: Vec<Vec<u8>> = (0..20)
        .map(|k| {
            let mut d = data(20_000 + 1_000 * k);
            d[0] = k as u8; // twenty different payloads
            d
        })
        .collect();
    let runs = files.iter().map(|f| retrieve(&p, &c, f, 100));
    let done = futures_util::future::join_all(runs).await;
    let mut paid = TokenAmount::from_atto(0);
    for (d, _) in &done {
        assert_eq!(d.status, "DealStatusCompleted", "{d:?}");
        assert_eq!(d.paid, d.intervals);
    }
    // Every deal's last voucher is redeemed on chain with its key.
    for (d, _) in &done {
        let start = Instant::now();
        let deal = loop {
            let deal = chain.deal(d.deal_id).await;
            if deal.key.is_some() {
                break deal;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "deal {} unredeemed",
                d.deal_id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        paid += &deal.paid;
    }
    // Past every deal's window (deal ids are random: the largest is not the last opened).
    let mut deadline = 0;
    for (d, _) in &done {
        deadline = deadline.max(chain.deal(d.deal_id).await.dispute_deadline);
    }
    let epoch = chain.judge.node().epoch().await.unwrap();
    chain
        .judge
        .node()
        .advance((deadline - epoch + 1) as u64)
        .await
        .unwrap();
    for (d, _) in &done {
        chain.wait_status(d.deal_id, DealStatus::Settled).await;
    }
    assert_eq!(chain.holdings(1).await - provider_before, paid.clone());
    assert_eq!(client_before - chain.holdings(0).await, paid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zk_retrievals_on_chain_an_honest_one_and_an_invalid_proof_refused_before_paying() {
    let chain = Chain::start(GenesisConfig::default()).await;
    let keys = tokio::task::spawn_blocking(|| ozkcp::zk::dev_setup(64))
        .await
        .unwrap()
        .unwrap();
    let zk = ZkParams {
        chunk_size: 64,
        keys,
    };
    // zk deals need the circuit registered with the judge (what `ozkcp serve` does at start).
    let vk = zk.keys.verifier.verifying_key_bytes();
    let id = chain
        .judge
        .register_verifying_key(&chain.key(1), vk)
        .await
        .unwrap();
    assert_eq!(id.value, zk.keys.verifier.circuit_id());
    let c = node_with(
        chain.judge.clone(),
        chain.key(0),
        ProviderFault::None,
        Some(zk.clone()),
    )
    .await;

    let honest = node_with(
        chain.judge.clone(),
        chain.key(1),
        ProviderFault::None,
        Some(zk.clone()),
    )
    .await;
    let bytes = data(300);
    let (done, _) = retrieve_as(&honest, &c, &bytes, 100, "zk", 64).await;
    assert_eq!(done.status, "DealStatusCompleted", "{done:?}");
    assert_eq!(done.mode, "zk");
    let honest_id = done.deal_id;

    // A provider that sends one chunk another chunk's (valid) proof: the client refuses to pay
    // for that interval and takes its unspent funds back once the key-reveal deadline passes.
    let cheat = node_with(
        chain.judge.clone(),
        chain.key(2),
        ProviderFault::InvalidProof(1),
        Some(zk),
    )
    .await;
    let client_before = chain.holdings(0).await;
    let bytes = data(700);
    let retrieval = retrieve_as(&cheat, &c, &bytes, 100, "zk", 64);
    // Once the client has refused the proof (and the provider has redeemed interval 0's
    // voucher), let the deadlines pass.
    let advance = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let deals = c.rpc.deals().await.unwrap();
            if deals
                .last()
                .is_some_and(|d| d.status == "DealStatusFailing")
            {
                let _ = chain.judge.node().advance(50).await;
            }
        }
    };
    let (done, _) = tokio::select! {
        r = retrieval => r,
        _ = advance => unreachable!(),
    };
    assert_eq!(done.status, "DealStatusErrored", "{done:?}");
    assert!(done.message.contains("proof"), "{}", done.message);
    assert_eq!(done.paid, 1, "interval 1 was never paid");
    let deal = chain.deal(done.deal_id).await;
    assert_eq!(deal.status, DealStatus::Settled);
    assert!(deal.paid.is_positive(), "interval 0 was paid");
    // The client lost exactly what it paid for interval 0 (whose key it got), besides the
    // honest deal's pay, which moves to its provider as that deal settles in the meantime.
    let honest_deal = chain.wait_status(honest_id, DealStatus::Settled).await;
    assert_eq!(
        client_before - chain.holdings(0).await,
        &deal.paid + &honest_deal.paid
    );
}
