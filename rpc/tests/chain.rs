//! Chain access over a real socket: a devnet served in process (`ozkcp_devnet::serve`), the
//! judge deployed through `Devnet.InstallActor`, whole deals through the driver with
//! [`LotusJudge`], typed errors; and `ozkcp devnet …` against an `ozkcp devnet run` child.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Instant;

use fvm_ipld_encoding::RawBytes;
use fvm_shared::econ::TokenAmount;
use fvm_shared::message::Message;
use fvm_shared::METHOD_SEND;
use ozkcp::core::evidence::Fault;
use ozkcp::driver::{run_deal_with, ClientFault, DealConfig, Outcome, Parties, ProviderFault};
use ozkcp::fsm::client::ClientStatus as C;
use ozkcp::fsm::provider::ProviderStatus as P;
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::sig::SecpSigner;
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_devnet::GenesisConfig;
use ozkcp_judge::exit;
use ozkcp_judge::types::{Account, DealStatus};
use ozkcp_rpc::chain::{sign_message, ChainError, LotusClient, LotusJudge};

const COLLATERAL: u64 = 1_000_000;

fn atto(n: u64) -> TokenAmount {
    TokenAmount::from_atto(n)
}

/// Root + 6 leaves of 256 B at 2 leaves per interval: 4 intervals.
fn data() -> Vec<u8> {
    (0..1500u32).map(|i| (i * 29 + 3) as u8).collect()
}

mod common;
use common::{served_chain, ServedChain};

/// A devnet served on a loopback port, the judge deployed over RPC.
struct Chain(ServedChain);

impl std::ops::Deref for Chain {
    type Target = ServedChain;
    fn deref(&self) -> &ServedChain {
        &self.0
    }
}

impl Chain {
    async fn start() -> Self {
        Chain(served_chain(GenesisConfig::default()).await)
    }

    fn node(&self) -> &LotusClient {
        self.judge.node()
    }

    fn signer(&self, i: usize) -> SecpSigner {
        self.accounts[i].signer.clone()
    }

    async fn parties(&self, deal_id: u64, reveal: i64, window: i64) -> Parties {
        Parties {
            client: self.signer(0),
            provider: self.signer(1),
            judge: self.judge.address(),
            deal_id,
            key_reveal_deadline: self.node().epoch().await.unwrap() + reveal,
            dispute_window: window,
        }
    }

    /// Runs a whole deal between accounts 0 (client) and 1 (provider) through the driver, every
    /// chain operation a signed message over RPC.
    async fn deal(&self, deal_id: u64, pf: ProviderFault) -> Outcome<LotusJudge> {
        let cfg = DealConfig {
            parties: Some(self.parties(deal_id, 200, 50).await),
            collateral: COLLATERAL,
            ..DealConfig::default()
        };
        let judge = LotusJudge::new(
            self.judge.clone(),
            tokio::runtime::Handle::current(),
            self.signer(0),
            self.signer(1),
            true,
        );
        tokio::task::spawn_blocking(move || {
            run_deal_with(&data(), &cfg, pf, ClientFault::None, judge)
        })
        .await
        .unwrap()
    }

    async fn account(&self, i: usize) -> (TokenAmount, TokenAmount) {
        let Account { balance, locked } =
            self.judge.account(self.accounts[i].address).await.unwrap();
        (balance, locked)
    }
}

fn price(o: &Outcome<LotusJudge>) -> TokenAmount {
    atto(10) * o.chunks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_deal_runs_over_rpc_and_settles() {
    let chain = Chain::start().await;
    let client_fil = chain
        .node()
        .balance(&chain.accounts[0].address)
        .await
        .unwrap();
    let t = Instant::now();
    let mut o = chain.deal(1, ProviderFault::None).await;
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(o.client.status, C::Completed, "{}", o.client.message);
    assert_eq!(o.provider.status, P::Completed);
    assert_eq!(o.data.as_deref(), Some(o.original.as_slice()));
    let names: Vec<&str> = o.escrow.log.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "AddBalance",
            "LockFunds",
            "AddBalance",
            "LockCollateral",
            "RedeemVoucher"
        ]
    );
    eprintln!(
        "honest deal over RPC: {secs:.2} s, {} chain messages ({:.1} messages/s), {} chunks",
        names.len(),
        names.len() as f64 / secs,
        o.chunks
    );
    // Paid, but the pay stays in the client's reserve until the dispute window closes.
    let deal = o.escrow.deal().unwrap().unwrap();
    assert_eq!(deal.status, DealStatus::Active);
    assert_eq!(deal.paid, price(&o));
    assert_eq!(chain.account(0).await, (price(&o), price(&o)));
    assert_eq!(chain.account(1).await, (atto(COLLATERAL), atto(COLLATERAL)));
    let held = price(&o) + atto(COLLATERAL);

    // Settling early is refused before anything is sent, with the exit code named.
    let early = chain
        .judge
        .settle(&chain.signer(1), chain.accounts[0].address, 1)
        .await
        .unwrap_err();
    assert_eq!(early.exit_code(), Some(exit::TOO_EARLY), "{early}");
    assert!(early.to_string().contains("TOO_EARLY"), "{early}");

    let t = Instant::now();
    let settled = o.escrow.settle_deal().unwrap();
    eprintln!(
        "settle (advance + Settle): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(settled.to_provider, held);
    assert_eq!(settled.to_client, atto(0));
    let deal = o.escrow.deal().unwrap().unwrap();
    assert_eq!(deal.status, DealStatus::Settled);
    assert_eq!(deal.nonce, Some(u64::from(o.intervals)));
    // The last key is on chain: the client derives every earlier one from it.
    let last = IntervalKey::from_bytes(deal.key.unwrap().0);
    assert_eq!(last.with_earlier(o.intervals as usize - 1).len(), 4);
    assert_eq!(chain.account(0).await, (atto(0), atto(0)));
    assert_eq!(chain.account(1).await, (held.clone(), atto(0)));
    // Gas is free on the devnet: the client's wallet lost exactly the price.
    assert_eq!(
        chain
            .node()
            .balance(&chain.accounts[0].address)
            .await
            .unwrap(),
        client_fil - price(&o)
    );
    // The provider takes its money out.
    let before = chain
        .node()
        .balance(&chain.accounts[1].address)
        .await
        .unwrap();
    let w = chain
        .judge
        .withdraw(&chain.signer(1), held.clone())
        .await
        .unwrap();
    assert_eq!(w.value, Account::default());
    assert!(w.receipt.gas_used > 0);
    assert_eq!(
        chain
            .node()
            .balance(&chain.accounts[1].address)
            .await
            .unwrap(),
        before + held
    );

    // Throughput, and nonces kept in order: 4 tasks sending 10 deposits each from one key.
    let sender = chain.signer(2);
    let nonce = chain.node().nonce(&sender.address()).await.unwrap();
    let t = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (judge, sender) = (chain.judge.clone(), sender.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    judge.add_balance(&sender, atto(1)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "40 AddBalance from one key, 4 tasks, over RPC: {secs:.2} s ({:.0} messages/s)",
        40.0 / secs
    );
    assert_eq!(
        chain.node().nonce(&sender.address()).await.unwrap(),
        nonce + 40
    );
    assert_eq!(chain.account(2).await, (atto(40), atto(0)));
    chain.0.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_chunk_is_disputed_and_won_over_rpc() {
    let chain = Chain::start().await;
    let o = chain.deal(1, ProviderFault::BadChunk(2)).await;
    assert_eq!(o.client.status, C::Completed, "{}", o.client.message);
    assert!(o.data.is_none());
    assert!(
        matches!(o.fault, Some(Fault::BadChunk { interval: 2, .. })),
        "{:?}",
        o.fault
    );
    let deal = o.escrow.deal().unwrap().unwrap();
    assert_eq!(deal.status, DealStatus::Slashed);
    // The client got its money back and the provider's collateral.
    assert_eq!(
        chain.account(0).await,
        (price(&o) + atto(COLLATERAL), atto(0))
    );
    assert_eq!(chain.account(1).await, (atto(0), atto(0)));
    let gas = o.escrow.gas("Dispute (bad chunk)");
    assert_eq!(gas.len(), 1);
    eprintln!("Dispute (bad chunk) over RPC: {} gas", gas[0]);
    chain.0.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_typed_and_clear() {
    let chain = Chain::start().await;
    let o = chain.deal(1, ProviderFault::None).await;
    assert_eq!(o.client.status, C::Completed, "{}", o.client.message);
    let client = chain.signer(0);

    // The client redeeming a voucher of its own deal: FORBIDDEN, named, refused before sending.
    let key = IntervalKey::from_bytes([7; 32]);
    let mut v = SignedVoucher::new(chain.judge.address(), 1, 9, atto(10), &key.lock());
    v.sign(&client).unwrap();
    let nonce = chain.node().nonce(&client.address()).await.unwrap();
    let e = chain
        .judge
        .redeem_voucher(&client, client.address(), 1, &v, &key)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), Some(exit::FORBIDDEN), "{e}");
    match &e {
        ChainError::Exit {
            method,
            name,
            message,
            cid,
            ..
        } => {
            assert_eq!((method.as_str(), *name), ("RedeemVoucher", "FORBIDDEN"));
            assert!(message.contains("only the deal's provider"), "{message}");
            assert_eq!(*cid, None);
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("exit code 18 (FORBIDDEN)") && text.contains("not sent"),
        "{text}"
    );
    // Nothing was sent.
    assert_eq!(chain.node().nonce(&client.address()).await.unwrap(), nonce);

    // Reads: an unknown deal is None, a deal of a client that does not exist is a refusal.
    assert_eq!(chain.judge.deal(client.address(), 99).await.unwrap(), None);
    let stranger = SecpSigner::random();
    let e = chain.judge.deal(stranger.address(), 1).await.unwrap_err();
    assert!(matches!(e, ChainError::Refused { .. }), "{e:?}");

    // The node refuses a wrong nonce and a bad signature, and says so.
    let to = chain.accounts[2].address;
    let msg = Message {
        version: 0,
        from: client.address(),
        to,
        sequence: nonce + 5,
        value: atto(1),
        method_num: METHOD_SEND,
        params: RawBytes::default(),
        gas_limit: 10_000_000,
        gas_fee_cap: atto(0),
        gas_premium: atto(0),
    };
    let e = chain
        .node()
        .push(&sign_message(&client, msg.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, ChainError::Refused { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("Filecoin.MpoolPush") && text.contains("wrong nonce"),
        "{text}"
    );
    let forged = sign_message(
        &chain.signer(3),
        Message {
            sequence: nonce,
            ..msg
        },
    );
    let e = chain.node().push(&forged).await.unwrap_err();
    assert!(e.to_string().contains("invalid signature"), "{e}");
    // A good transfer goes through `send`.
    let r = chain
        .node()
        .send(&client, to, METHOD_SEND, RawBytes::default(), atto(1))
        .await
        .unwrap();
    assert!(r.exit_code.is_success() && r.gas_used > 0);

    // A node that is not there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/rpc/v1");
    let gone = LotusClient::new(&url, None).unwrap();
    let e = gone.epoch().await.unwrap_err();
    assert!(matches!(e, ChainError::Unreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("cannot reach the chain node") && text.contains(&url),
        "{text}"
    );
    eprintln!("unreachable: {text}");
    // A URL that is not one.
    assert!(matches!(
        LotusClient::new("not a url", None),
        Err(ChainError::Invalid(_))
    ));
    chain.0.srv.stop().await;
}

/// A running `ozkcp devnet run`, stopped when dropped.
struct DevnetChild(Child);

impl Drop for DevnetChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ozkcp(api: &str) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("ozkcp").unwrap();
    c.env("OZKCP_CHAIN_API", api);
    c
}

fn stdout(c: &mut assert_cmd::Command) -> String {
    String::from_utf8(c.assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn devnet_cli_runs_deploys_and_lists_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ozkcp"))
        .args(["devnet", "run", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path().join("chain"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut child = DevnetChild(child);
    let mut api = None;
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("OZKCP_CHAIN_API=") {
            api = Some(url.to_string());
            break;
        }
    }
    let api = api.expect("`ozkcp devnet run` prints OZKCP_CHAIN_API=");
    assert!(api.starts_with("http://127.0.0.1:") && api.ends_with("/rpc/v1"));

    let v: serde_json::Value =
        serde_json::from_str(&stdout(ozkcp(&api).args(["devnet", "deploy", "--json"]))).unwrap();
    let judge = v["IdAddress"].as_str().unwrap().to_string();
    assert!(judge.starts_with("t0"), "{v}");
    assert!(
        v["RobustAddress"].as_str().unwrap().starts_with("t2"),
        "{v}"
    );
    assert!(v["Code"]["/"].is_string(), "{v}");
    let human = stdout(ozkcp(&api).args(["devnet", "deploy"]));
    assert!(human.starts_with("judge installed at t0"), "{human}");

    let v: serde_json::Value =
        serde_json::from_str(&stdout(ozkcp(&api).args(["devnet", "accounts", "--json"]))).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert!(list[0]["Address"].as_str().unwrap().starts_with("t1"));
    assert_eq!(list[0]["PrivateKey"].as_str().unwrap().len(), 44);
    // The human listing has no keys.
    let human = stdout(ozkcp(&api).args(["devnet", "accounts"]));
    assert!(
        human.contains(list[0]["Address"].as_str().unwrap()),
        "{human}"
    );
    assert!(!human.contains(list[0]["PrivateKey"].as_str().unwrap()));

    let before = stdout(ozkcp(&api).args(["devnet", "advance", "0"]));
    let epoch: i64 = before
        .trim()
        .strip_prefix("epoch ")
        .unwrap()
        .parse()
        .unwrap();
    let after = stdout(ozkcp(&api).args(["devnet", "advance", "5"]));
    assert_eq!(after.trim(), format!("epoch {}", epoch + 5));

    // --api wins over the environment; a node that is not there is a clear error.
    let err = ozkcp(&api)
        .args(["devnet", "accounts", "--api", "http://127.0.0.1:1/rpc/v1"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("cannot reach the chain node at http://127.0.0.1:1/rpc/v1"),
        "{err}"
    );

    // SIGTERM stops it cleanly.
    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("devnet stopped"), "{err}");
}
