//! `ozkcp serve | auth | deals | deal | provider`: run the sidecar and talk to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use ozkcp::core::sig::SecpSigner;
use ozkcp::node::ProviderFault;
use ozkcp_rpc::api::{CidJson, DealInfo, ImportInfo, OzkcpApiClient, ProviderAddr, RetrieveParams};
use ozkcp_rpc::auth::{JwtAuth, Permission};
use ozkcp_rpc::chain::{JudgeClient, LotusClient};
use ozkcp_rpc::client::{connect_http, connect_ws};
use ozkcp_rpc::deals::{Deals, MemoryJudges, NodeConfig, ProviderPolicy, ZkParams};
use ozkcp_rpc::judges::{ChainJudges, Deadlines};
use ozkcp_rpc::peer::PeerLimits;
use ozkcp_rpc::repo::{ApiInfo, Repo};
use ozkcp_rpc::server::{serve_with, ServeConfig, DEFAULT_LISTEN, DEFAULT_MAX_REQUEST};
use ozkcp_rpc::store::DealStore;

/// `ozkcp auth …`
#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Print a new API token (signed with the repo's secret; no running sidecar needed).
    CreateToken {
        /// Permission: read, write, sign or admin (each includes the lower ones).
        #[arg(long)]
        perm: Permission,
        /// Make the token expire after this many seconds (Lotus tokens never expire).
        #[arg(long)]
        expire_secs: Option<u64>,
    },
    /// Print `OZKCP_API_INFO=<token>:<multiaddr>` for the repo's running sidecar.
    ApiInfo {
        /// Permission of the token.
        #[arg(long)]
        perm: Permission,
    },
}

/// `ozkcp wallet …`
#[derive(Subcommand, Debug)]
pub enum WalletCommand {
    /// Print the wallet's address (a new repo gets a new random key).
    Address {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Use a secp256k1 key as the wallet: a Lotus key export (`lotus wallet export`: hex of
    /// the KeyInfo JSON) or the KeyInfo JSON itself (`{"Type":"secp256k1","PrivateKey":
    /// "<base64>"}`, as `ozkcp devnet accounts --json` prints it), from FILE or stdin.
    Import {
        /// The key file (`-` or nothing: stdin).
        file: Option<PathBuf>,
        /// Replace the repo's current key (its deals' funds stay with the old address).
        #[arg(long)]
        force: bool,
    },
}

/// `ozkcp provider …`
#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    /// Import a file into the running sidecar, ready to serve; prints its root CID.
    Import {
        /// The file (read by the sidecar, which runs on this machine).
        file: PathBuf,
        /// Leaf block size in bytes.
        #[arg(long)]
        leaf_size: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the imports.
    Imports {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// This sidecar as a provider: address, peer address (what `retrieve --provider` takes),
    /// modes and price.
    Info {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `ozkcp serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; the API has no TLS).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_REQUEST)]
    max_request_size: u32,
    /// Serve retrievals to clients here (WebSocket at /peer/v0), e.g. 127.0.0.1:3121. Without
    /// it the sidecar only retrieves.
    #[arg(long)]
    peer_listen: Option<SocketAddr>,
    /// Groth16 parameters (`ozkcp params generate`) for zk deals.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Lowest price per chunk our provider accepts (attoFIL).
    #[arg(long, default_value_t = 0)]
    min_price: u128,
    /// Leaf blocks per payment interval in the deals we serve.
    #[arg(long, default_value_t = 4)]
    blocks_per_interval: u32,
    /// Modes our provider serves.
    #[arg(long, value_delimiter = ',', default_value = "fraud,zk")]
    modes: Vec<String>,
    /// Seconds a peer may stay silent before its deal times out.
    #[arg(long, default_value_t = 60)]
    peer_idle_secs: u64,
    /// Largest peer frame in bytes.
    #[arg(long, default_value_t = ozkcp_rpc::peer::DEFAULT_MAX_FRAME)]
    max_frame: usize,
    /// The chain node's Lotus-style JSON-RPC URL (a devnet's `OZKCP_CHAIN_API`, or a Lotus
    /// node with `OZKCP_CHAIN_TOKEN`).
    #[arg(long, env = "OZKCP_CHAIN_API", default_value = ozkcp_rpc::chain::DEFAULT_CHAIN_API)]
    chain_api: String,
    /// The judge actor's address (`ozkcp devnet deploy` prints it). Without it deals are
    /// judged in memory, with no chain: for trying the sidecar out only.
    #[arg(long, env = "OZKCP_JUDGE")]
    judge: Option<String>,
    /// Epochs from a proposal until keys must be revealed on chain (deals we propose).
    #[arg(long, default_value_t = 2880)]
    reveal_epochs: i64,
    /// Epochs after the key-reveal deadline during which we may dispute (deals we propose).
    #[arg(long, default_value_t = 2880)]
    dispute_epochs: i64,
    /// How often the chain head is polled while a deadline is awaited, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    chain_poll_ms: u64,
    /// TEST ONLY: our provider cheats (wrong-key:J, bad-chunk:J, broken-chain:J,
    /// never-reveal:J), to demonstrate disputes.
    #[arg(long, hide = true)]
    provider_fault: Option<String>,
}

fn parse_fault(s: &str) -> Result<ProviderFault> {
    let (kind, j) = s
        .split_once(':')
        .context("--provider-fault is KIND:INTERVAL")?;
    let j: u32 = j.parse().context("--provider-fault interval")?;
    Ok(match kind {
        "wrong-key" => ProviderFault::WrongKey(j),
        "bad-chunk" => ProviderFault::BadChunk(j),
        "broken-chain" => ProviderFault::BrokenChain(j),
        "never-reveal" => ProviderFault::NeverReveal(j),
        "invalid-proof" => ProviderFault::InvalidProof(j),
        other => bail!("unknown --provider-fault kind {other:?}"),
    })
}

/// Options of `ozkcp retrieve`.
#[derive(clap::Args, Debug)]
pub struct RetrieveArgs {
    /// The payload's root CID.
    cid: String,
    /// The provider: `<f-address>@<peer address>` (`ozkcp provider info` prints it).
    #[arg(long)]
    provider: String,
    /// Proof mode.
    #[arg(long, default_value = "fraud", value_parser = ["fraud", "zk"])]
    mode: String,
    /// Write the payload here (default: ./<cid>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Price per chunk (attoFIL).
    #[arg(long, default_value_t = 0)]
    price: u128,
    /// Chunk size in bytes (default 16 KiB in fraud mode; the parameters' in zk mode).
    #[arg(long)]
    chunk_size: Option<u32>,
    /// Collateral asked of the provider (attoFIL).
    #[arg(long, default_value_t = 0)]
    collateral: u128,
    /// Print JSON (the final deal and figures) instead of a progress bar.
    #[arg(long)]
    json: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn auth_of(repo: &Repo) -> Result<JwtAuth> {
    let secret = repo.jwt_secret()?;
    Ok(JwtAuth::new(&secret))
}

/// `ozkcp serve`: runs until Ctrl-C or SIGTERM.
pub fn serve_cmd(repo_path: &Path, args: ServeArgs) -> Result<()> {
    let repo = Repo::open(repo_path)?;
    let auth = Arc::new(auth_of(&repo)?);
    let store = DealStore::open(&repo.db_path())
        .with_context(|| format!("opening {}", repo.db_path().display()))?;
    if !args.listen.ip().is_loopback() {
        tracing::warn!(
            "listening on {} (not loopback): the API is plain HTTP, anyone on the network \
             can see its tokens",
            args.listen
        );
    }
    let config = ServeConfig {
        listen: args.listen,
        max_request_body: args.max_request_size,
        ..ServeConfig::default()
    };
    let zk = match &args.params {
        Some(dir) => Some(
            ZkParams::load(dir)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("loading zk parameters from {}", dir.display()))?,
        ),
        None => None,
    };
    for m in &args.modes {
        if m != "fraud" && m != "zk" {
            bail!("--modes takes fraud and/or zk, not {m:?}");
        }
    }
    let fault = match &args.provider_fault {
        Some(f) => {
            let f = parse_fault(f)?;
            tracing::warn!("TEST ONLY: this provider cheats ({f:?})");
            f
        }
        None => ProviderFault::None,
    };
    if args.reveal_epochs < 1 || args.dispute_epochs < 1 {
        bail!("--reveal-epochs and --dispute-epochs must be at least 1");
    }
    let key = repo.node_key()?;
    let rt = runtime()?;
    let (judges, chain): (Arc<dyn ozkcp_rpc::deals::JudgeFactory>, _) = match &args.judge {
        Some(judge) => {
            let judge = ozkcp_devnet::json::parse_addr(judge).context("--judge")?;
            let token = std::env::var(ozkcp_rpc::chain::CHAIN_TOKEN_ENV).ok();
            let node = LotusClient::new(&args.chain_api, token.as_deref())?;
            let judges = ChainJudges::new(
                JudgeClient::new(node, judge),
                rt.handle().clone(),
                key.clone(),
                Deadlines {
                    reveal: args.reveal_epochs,
                    dispute: args.dispute_epochs,
                },
                std::time::Duration::from_millis(args.chain_poll_ms.max(10)),
            );
            (Arc::new(judges.clone()) as _, Some(judges))
        }
        None => {
            tracing::warn!("no --judge: deals are judged in memory, nothing is paid on a chain");
            (Arc::new(MemoryJudges::default()) as _, None)
        }
    };
    if let Some(chain) = &chain {
        rt.block_on(check_chain(chain, &key, zk.as_ref()))?;
    }
    let node = NodeConfig {
        key,
        policy: ProviderPolicy {
            min_price_per_chunk: ozkcp::core::TokenAmount::from_atto(args.min_price),
            fraud: args.modes.iter().any(|m| m == "fraud"),
            zk: args.modes.iter().any(|m| m == "zk"),
            blocks_per_interval: args.blocks_per_interval.max(1),
            ..ProviderPolicy::default()
        },
        judges,
        zk,
        limits: PeerLimits {
            max_frame: args.max_frame,
            idle: std::time::Duration::from_secs(args.peer_idle_secs.max(1)),
        },
        fault,
    };
    rt.block_on(async move {
        let deals = Deals::new(store.clone(), node);
        let recovered = deals.recover()?;
        if !recovered.resumed.is_empty() {
            eprintln!(
                "resuming retrievals interrupted by the last stop: {:?}",
                recovered.resumed
            );
        }
        if !recovered.waiting.is_empty() {
            eprintln!(
                "deals interrupted by the last stop wait for their clients to resume: {:?}",
                recovered.waiting
            );
        }
        if !recovered.ended.is_empty() {
            eprintln!(
                "{} deals were interrupted by the last stop and ended: {:?}",
                recovered.ended.len(),
                recovered.ended
            );
        }
        let peer = match args.peer_listen {
            Some(addr) => Some(deals.listen_peers(addr).await?),
            None => None,
        };
        let sidecar = serve_with(store, auth.clone(), &config, Some(deals.clone())).await?;
        let token = auth.create_token(Permission::Admin, None)?;
        repo.write_api(sidecar.local_addr, &token)?;
        eprintln!(
            "ozkcp sidecar on {} (repo {}); OZKCP_API_INFO: `ozkcp auth api-info --perm …`",
            sidecar.http_url(),
            repo.path().display()
        );
        match peer {
            Some(peer) => eprintln!(
                "provider {} serves retrievals at ws://{peer}{}",
                deals.address(),
                ozkcp_rpc::peer::PEER_PATH
            ),
            None => eprintln!(
                "client {} (no --peer-listen: serving no retrievals)",
                deals.address()
            ),
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = sidecar.stopped() => {}
        }
        repo.remove_api();
        sidecar.stop().await;
        eprintln!("ozkcp sidecar stopped");
        Ok(())
    })
}

/// Before serving on a chain: the node answers, our wallet exists there, and our zk circuit's
/// verifying key is registered with the judge (idempotent; zk deals need it).
async fn check_chain(chain: &ChainJudges, key: &SecpSigner, zk: Option<&ZkParams>) -> Result<()> {
    let judge = chain.client();
    let node = judge.node();
    let epoch = node
        .epoch()
        .await
        .with_context(|| format!("the chain node at {}", node.url()))?;
    let me = key.address();
    let balance = node.balance(&me).await?;
    if !balance.is_positive() {
        bail!(
            "our wallet {me} has no funds on the chain at {} (on a devnet: `ozkcp wallet import` a \
             genesis account's key from `ozkcp devnet accounts --json`)",
            node.url()
        );
    }
    let escrow = judge
        .account(me)
        .await
        .with_context(|| format!("reading our escrow at the judge {}", judge.address()))?;
    eprintln!(
        "chain at {} (epoch {epoch}), judge {}: wallet {me} holds {balance} FIL, escrow {} FIL ({} locked)",
        node.url(),
        judge.address(),
        escrow.balance,
        escrow.locked
    );
    if let Some(zk) = zk {
        let vk = zk.keys.verifier.verifying_key_bytes();
        let id = judge
            .register_verifying_key(key, vk)
            .await
            .context("registering our zk circuit with the judge")?;
        eprintln!(
            "zk circuit {} registered with the judge",
            hex::encode(id.value.0)
        );
    }
    Ok(())
}

/// `ozkcp wallet …`
pub fn wallet_cmd(repo_path: &Path, command: WalletCommand) -> Result<()> {
    let repo = Repo::open(repo_path)?;
    match command {
        WalletCommand::Address { json } => {
            let addr = repo.node_key()?.address();
            if json {
                println!("{}", serde_json::json!({ "Address": addr.to_string() }));
            } else {
                println!("{addr}");
            }
        }
        WalletCommand::Import { file, force } => {
            let text = zeroize::Zeroizing::new(match file.as_deref() {
                None => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
                Some(p) if p == Path::new("-") => {
                    std::io::read_to_string(std::io::stdin()).context("reading stdin")?
                }
                Some(p) => std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?,
            });
            let key = parse_key_info(&text)?;
            repo.import_node_key(&key, force)?;
            println!("wallet {}", key.address());
        }
    }
    Ok(())
}

/// A secp256k1 key from Lotus's KeyInfo JSON, or its hex export.
fn parse_key_info(text: &str) -> Result<SecpSigner> {
    use base64::Engine;
    #[derive(serde::Deserialize)]
    struct KeyInfo<'a> {
        #[serde(rename = "Type")]
        kind: String,
        // Borrowed from the zeroized input: no copy of the key is left behind.
        #[serde(rename = "PrivateKey", borrow)]
        private_key: &'a str,
    }
    let text = text.trim();
    let json = if text.starts_with('{') {
        zeroize::Zeroizing::new(text.as_bytes().to_vec())
    } else {
        zeroize::Zeroizing::new(hex::decode(text).map_err(|_| {
            anyhow::anyhow!("the key is neither KeyInfo JSON nor a hex Lotus key export")
        })?)
    };
    let info: KeyInfo = serde_json::from_slice(&json)
        .map_err(|e| anyhow::anyhow!("the key is not Lotus KeyInfo JSON: {e}"))?;
    if info.kind != "secp256k1" {
        bail!(
            "a {:?} key: the wallet signs vouchers with secp256k1 keys only",
            info.kind
        );
    }
    let bytes = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(info.private_key.as_bytes())
            .map_err(|_| anyhow::anyhow!("PrivateKey is not base64"))?,
    );
    let secret: &[u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("PrivateKey has {} bytes, expected 32", bytes.len()))?;
    Ok(SecpSigner::from_bytes(secret)?)
}

/// `ozkcp auth …`
pub fn auth_cmd(repo_path: &Path, command: AuthCommand) -> Result<()> {
    let repo = Repo::open(repo_path)?;
    let auth = auth_of(&repo)?;
    match command {
        AuthCommand::CreateToken { perm, expire_secs } => {
            println!("{}", auth.create_token(perm, expire_secs)?);
        }
        AuthCommand::ApiInfo { perm } => {
            let running = repo.api_info()?;
            let info = ApiInfo {
                token: auth.create_token(perm, None)?.into(),
                addr: running.addr,
            };
            println!("{}", info.env_line());
        }
    }
    Ok(())
}

fn client(repo_path: &Path) -> Result<jsonrpsee::http_client::HttpClient> {
    let info = ApiInfo::discover(repo_path)?;
    Ok(connect_http(&info)?)
}

fn rpc_err(e: jsonrpsee::core::client::Error) -> anyhow::Error {
    match e {
        jsonrpsee::core::client::Error::Call(obj) => anyhow::anyhow!("{}", obj.message()),
        jsonrpsee::core::client::Error::Transport(t) if t.to_string().contains("401") => {
            anyhow::anyhow!(
                "the sidecar refused the token (401): check OZKCP_API_INFO or the repo's token file"
            )
        }
        other => anyhow::anyhow!("{other}"),
    }
}

/// `ozkcp deals`
pub fn deals_cmd(repo_path: &Path, json: bool) -> Result<()> {
    let c = client(repo_path)?;
    let deals = runtime()?.block_on(c.deals()).map_err(rpc_err)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&deals)?);
        return Ok(());
    }
    if deals.is_empty() {
        println!("no deals");
        return Ok(());
    }
    println!(
        "{:>5}  {:<8}  {:<28}  {:<5}  {:>9}  PEER",
        "ID", "SIDE", "STATUS", "MODE", "PAID"
    );
    for d in &deals {
        println!(
            "{:>5}  {:<8}  {:<28}  {:<5}  {:>9}  {}",
            d.id,
            d.side.to_string(),
            d.status,
            d.mode,
            format!("{}/{}", d.paid, d.intervals),
            d.peer
        );
    }
    Ok(())
}

/// `ozkcp deal <id> [--cancel]`
pub fn deal_cmd(repo_path: &Path, id: u64, cancel: bool, json: bool) -> Result<()> {
    let c = client(repo_path)?;
    let rt = runtime()?;
    let d: DealInfo = if cancel {
        rt.block_on(c.deal_cancel(id))
    } else {
        rt.block_on(c.deal(id))
    }
    .map_err(rpc_err)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    println!(
        "deal {} ({} side, {} mode, deal id {})",
        d.id, d.side, d.mode, d.deal_id
    );
    println!(
        "  status    {}{}",
        d.status,
        if d.terminal { " (over)" } else { "" }
    );
    println!("  peer      {}", d.peer);
    if let Some(root) = &d.payload_root {
        println!("  payload   {}", root.cid);
    }
    println!("  paid      {} of {} intervals", d.paid, d.intervals);
    if let (Some(r), Some(v), Some(o)) = (d.received, d.verified, d.opened) {
        println!("  received  {r}, verified {v}, opened {o}");
    }
    if let Some(s) = d.sent {
        println!("  sent      {s}");
    }
    if !d.message.is_empty() {
        println!("  message   {}", d.message);
    }
    if d.pending_actions > 0 {
        println!(
            "  pending   {} actions of step {}",
            d.pending_actions, d.step
        );
    }
    Ok(())
}

/// `ozkcp provider …`
pub fn provider_cmd(repo_path: &Path, command: ProviderCommand) -> Result<()> {
    let c = client(repo_path)?;
    let rt = runtime()?;
    let print = |i: &ImportInfo| {
        println!(
            "{}  {} bytes in {} blocks  {}",
            i.root.cid, i.size, i.blocks, i.source
        )
    };
    match command {
        ProviderCommand::Import {
            file,
            leaf_size,
            json,
        } => {
            let path = std::fs::canonicalize(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let Some(path) = path.to_str() else {
                bail!("{} is not valid UTF-8", path.display());
            };
            let info = rt
                .block_on(c.provider_import(path.to_string(), leaf_size))
                .map_err(rpc_err)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("imported {} as {}", info.source, info.root.cid);
                println!(
                    "  {} bytes in {} blocks of up to {} B",
                    info.size, info.blocks, info.leaf_size
                );
            }
        }
        ProviderCommand::Info { json } => {
            let info = rt.block_on(c.provider_info()).map_err(rpc_err)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("address   {}", info.address);
                if let Some(spec) = &info.spec {
                    println!("provider  {spec}");
                }
                println!("modes     {}", info.modes.join(", "));
                println!("min price {} attoFIL per chunk", info.min_price_per_chunk);
                if let Some(s) = info.zk_chunk_size {
                    println!("zk chunks {s} B");
                }
            }
        }
        ProviderCommand::Imports { json } => {
            let list = rt.block_on(c.provider_imports()).map_err(rpc_err)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no imports");
            } else {
                list.iter().for_each(print);
            }
        }
    }
    Ok(())
}

/// `ozkcp retrieve <cid> --provider <addr>`: starts the retrieval on the repo's sidecar and
/// follows its deal events until it ends.
pub fn retrieve_cmd(repo_path: &Path, args: RetrieveArgs) -> Result<()> {
    let Some(provider) = ProviderAddr::parse(&args.provider) else {
        bail!(
            "--provider is <f-address>@<peer address>, e.g. f1…@ws://127.0.0.1:3121/peer/v0 \
             (`ozkcp provider info` on the provider prints it)"
        );
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(&args.cid));
    let out = if out.is_absolute() {
        out
    } else {
        std::env::current_dir()?.join(out)
    };
    let info = ApiInfo::discover(repo_path)?;
    runtime()?.block_on(async move {
        let ws = connect_ws(&info).await?;
        // Subscribe first: no step of the new deal is missed.
        let mut events = ws.deal_events().await.map_err(rpc_err)?;
        let started = std::time::Instant::now();
        let deal = ws
            .client_retrieve(RetrieveParams {
                root: CidJson {
                    cid: args.cid.clone(),
                },
                provider,
                mode: args.mode.clone(),
                price_per_chunk: Some(args.price.to_string()),
                chunk_size: args.chunk_size,
                collateral: Some(args.collateral.to_string()),
                out: out.to_string_lossy().into_owned(),
            })
            .await
            .map_err(rpc_err)?;
        let id = deal.id;
        let bar = if args.json {
            indicatif::ProgressBar::hidden()
        } else {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} deal {prefix} [{bar:30}] {pos}/{len} intervals {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(id.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        };
        let mut last = deal;
        while !(last.terminal && last.pending_actions == 0) {
            // Once over, its last actions (writing the file) are finishing: `ActionsDone` says
            // when; a slow poll covers a missed event.
            let wait = if last.terminal { 250 } else { 5000 };
            let ev =
                tokio::time::timeout(std::time::Duration::from_millis(wait), events.next()).await;
            match ev {
                Ok(Some(Ok(ev))) if ev.deal.id == id => {
                    last = ev.deal;
                    bar.set_length(u64::from(last.intervals));
                    bar.set_position(u64::from(last.opened.unwrap_or(0)));
                    bar.set_message(format!(
                        "{} (received {}, verified {}, paid {})",
                        last.status.trim_start_matches("DealStatus"),
                        last.received.unwrap_or(0),
                        last.verified.unwrap_or(0),
                        last.paid
                    ));
                }
                Ok(Some(Ok(_))) => {}
                // A lag or a quiet spell: read the deal itself.
                _ => last = ws.deal(id).await.map_err(rpc_err)?,
            }
        }
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        let ok = last.status == "DealStatusCompleted" && last.message.is_empty();
        let bytes = if ok {
            std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        let mbps = bytes as f64 / secs.max(1e-9) / 1e6;
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "deal": last,
                    "out": out.display().to_string(),
                    "bytes": bytes,
                    "seconds": secs,
                    "mb_per_s": mbps,
                    "ok": ok,
                })
            );
        } else if ok {
            println!("retrieved {} bytes into {}", bytes, out.display());
            println!(
                "  deal {id}: {} intervals paid and opened, every chunk and CID checked",
                last.paid
            );
            println!("  {secs:.3} s ({mbps:.0} MB/s)");
        }
        if !ok && last.status == "DealStatusCompleted" {
            // The seed's only way to complete with a reason: a dispute won on chain.
            bail!(
                "deal {id}: the provider cheated ({}); the dispute was won on chain: what you paid \
                 comes back and the provider's collateral is yours. No payload was written.",
                last.message
            );
        }
        if !ok {
            bail!(
                "deal {id} ended in {}{}",
                last.status,
                if last.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", last.message)
                }
            );
        }
        Ok(())
    })
}
