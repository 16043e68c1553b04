//! `ozkcp devnet …`: run the local devnet (ref-fvm, Lotus-style JSON-RPC) and drive a running
//! one: deploy the judge, list the genesis accounts, advance epochs. The chain itself is the
//! `ozkcp-devnet` library; the node calls go through [`ozkcp_rpc::chain::LotusClient`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use clap::{Args, Subcommand};
use fvm_ipld_encoding::RawBytes;
use fvm_shared::econ::TokenAmount;
use ozkcp_devnet::json::addr_str;
use ozkcp_devnet::{serve, Devnet, GenesisConfig};
use ozkcp_rpc::chain::{JudgeClient, LotusClient, CHAIN_TOKEN_ENV, DEFAULT_CHAIN_API};

/// `ozkcp devnet` subcommands.
#[derive(Subcommand, Debug)]
pub enum DevnetCommand {
    /// Open (or create) a devnet chain in DIR and serve its Lotus-style JSON-RPC API until
    /// Ctrl-C (or SIGTERM). Prints the API URL as `OZKCP_CHAIN_API=…`.
    Run(RunArgs),
    /// Install the judge actor (the bundled one, or --wasm FILE) on a running devnet and print
    /// its addresses.
    Deploy {
        #[command(flatten)]
        api: ApiArgs,
        /// An actor's Wasm instead of the bundled judge.
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the genesis accounts of a running devnet (with their test keys in --json).
    Accounts {
        #[command(flatten)]
        api: ApiArgs,
        /// Print JSON, private keys included (devnet test keys, for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Wallet balance of ADDRESS and, with --judge, its escrow account at the judge.
    Balance {
        /// The address.
        address: String,
        /// The judge actor's address.
        #[arg(long, env = "OZKCP_JUDGE")]
        judge: Option<String>,
        /// Print JSON (amounts in attoFIL).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// A deal as the judge keeps it: status, funds, collateral, deadlines, the key revealed.
    Deal {
        /// The deal's client (its f1 address).
        client: String,
        /// The client's deal id (`ozkcp deal <id>` prints it).
        deal_id: u64,
        /// The judge actor's address.
        #[arg(long, env = "OZKCP_JUDGE")]
        judge: String,
        /// Print JSON (amounts in attoFIL).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Make N empty epochs on a running devnet (deadlines pass); prints the new epoch.
    Advance {
        /// Epochs to make.
        epochs: u64,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// `ozkcp devnet run` options.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Chain directory (created with a genesis if empty).
    #[arg(long, env = "OZKCP_DEVNET_DIR")]
    dir: Option<PathBuf>,
    /// Loopback address to serve on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:1234")]
    listen: SocketAddr,
    /// Funded genesis accounts (new chains only).
    #[arg(long, default_value_t = 4)]
    accounts: usize,
    /// Balance of each genesis account in FIL (new chains only).
    #[arg(long, default_value_t = 1_000_000)]
    balance_fil: u64,
    /// Seed of the genesis keys (new chains only).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Where the chain node is.
#[derive(Args, Debug)]
pub struct ApiArgs {
    /// The node's JSON-RPC URL.
    #[arg(long, env = "OZKCP_CHAIN_API", default_value = DEFAULT_CHAIN_API)]
    api: String,
}

impl ApiArgs {
    fn client(&self) -> Result<LotusClient> {
        let token = std::env::var(CHAIN_TOKEN_ENV).ok();
        Ok(LotusClient::new(&self.api, token.as_deref())?)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn default_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".ozkcp-devnet")
}

/// Runs an `ozkcp devnet` subcommand.
pub fn devnet_cmd(command: DevnetCommand) -> Result<()> {
    match command {
        DevnetCommand::Run(args) => run(args),
        DevnetCommand::Deploy { api, wasm, json } => {
            let code = match &wasm {
                Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
                None => ozkcp_devnet::judge_wasm().to_vec(),
            };
            let node = api.client()?;
            let i = runtime()?.block_on(node.install_actor(&code, RawBytes::default()))?;
            let what = if wasm.is_some() { "actor" } else { "judge" };
            if json {
                let v = serde_json::json!({
                    "IdAddress": addr_str(&i.id_address),
                    "RobustAddress": addr_str(&i.robust_address),
                    "Code": {"/": i.code.to_string()},
                    "Height": i.height,
                });
                println!("{v}");
            } else {
                println!(
                    "{what} installed at {} (robust {}), code {}, epoch {}",
                    addr_str(&i.id_address),
                    addr_str(&i.robust_address),
                    i.code,
                    i.height
                );
            }
            Ok(())
        }
        DevnetCommand::Accounts { api, json } => {
            let node = api.client()?;
            runtime()?.block_on(async {
                let accounts = node.devnet_accounts().await?;
                let mut rows = Vec::new();
                for a in &accounts {
                    rows.push((a, node.balance(&a.address).await?));
                }
                if json {
                    let list: Vec<_> = rows
                        .iter()
                        .map(|(a, bal)| {
                            serde_json::json!({
                                "Address": addr_str(&a.address),
                                "IdAddress": addr_str(&a.id_address),
                                "Balance": bal.atto().to_string(),
                                "Type": "secp256k1",
                                "PrivateKey": base64_key(&a.signer),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    println!("{:<8} {:<44} balance", "id", "address");
                    for (a, bal) in &rows {
                        println!(
                            "{:<8} {:<44} {bal} FIL",
                            addr_str(&a.id_address),
                            addr_str(&a.address)
                        );
                    }
                }
                Ok(())
            })
        }
        DevnetCommand::Balance {
            address,
            judge,
            json,
            api,
        } => {
            let who = parse_addr(&address)?;
            let judge = judge.as_deref().map(parse_addr).transpose()?;
            let node = api.client()?;
            runtime()?.block_on(async {
                let wallet = node.balance(&who).await?;
                let escrow = match judge {
                    Some(j) => Some(JudgeClient::new(node.clone(), j).account(who).await?),
                    None => None,
                };
                if json {
                    let mut v = serde_json::json!({
                        "Address": addr_str(&who),
                        "Wallet": wallet.atto().to_string(),
                    });
                    if let Some(a) = &escrow {
                        v["Escrow"] = serde_json::json!({
                            "Balance": a.balance.atto().to_string(),
                            "Locked": a.locked.atto().to_string(),
                        });
                    }
                    println!("{v}");
                } else {
                    print!("{}  wallet {wallet} FIL", addr_str(&who));
                    if let Some(a) = &escrow {
                        print!("  escrow {} FIL ({} locked)", a.balance, a.locked);
                    }
                    println!();
                }
                Ok(())
            })
        }
        DevnetCommand::Deal {
            client,
            deal_id,
            judge,
            json,
            api,
        } => {
            let client = parse_addr(&client)?;
            let judge = JudgeClient::new(api.client()?, parse_addr(&judge)?);
            let deal = runtime()?
                .block_on(judge.deal(client, deal_id))?
                .with_context(|| format!("the judge has no deal {deal_id} of {client}"))?;
            let status = format!("{:?}", deal.status);
            let fault = deal
                .fault
                .and_then(ozkcp::core::evidence::EvidenceKind::from_u8)
                .map(|k| format!("{k:?}"));
            if json {
                let v = serde_json::json!({
                    "Client": addr_str(&client),
                    "DealId": deal_id,
                    "Status": status,
                    "Locked": deal.locked.atto().to_string(),
                    "Paid": deal.paid.atto().to_string(),
                    "Collateral": deal.collateral.atto().to_string(),
                    "KeyRevealDeadline": deal.key_reveal_deadline,
                    "DisputeDeadline": deal.dispute_deadline,
                    "Nonce": deal.nonce,
                    "KeyRevealed": deal.key.is_some(),
                    "Fault": fault,
                });
                println!("{v}");
            } else {
                println!("deal {deal_id} of {}: {status}", addr_str(&client));
                println!(
                    "  paid       {} FIL (locked {} FIL)",
                    deal.paid, deal.locked
                );
                println!("  collateral {} FIL", deal.collateral);
                println!(
                    "  deadlines  keys by epoch {}, disputes by epoch {}",
                    deal.key_reveal_deadline, deal.dispute_deadline
                );
                if deal.key.is_some() {
                    println!(
                        "  a key was revealed on chain (voucher nonce {:?})",
                        deal.nonce
                    );
                }
                if let Some(f) = fault {
                    println!("  slashed for {f}");
                }
            }
            Ok(())
        }
        DevnetCommand::Advance { epochs, api } => {
            let node = api.client()?;
            let epoch = runtime()?.block_on(node.advance(epochs))?;
            println!("epoch {epoch}");
            Ok(())
        }
    }
}

fn parse_addr(s: &str) -> Result<fvm_shared::address::Address> {
    Ok(ozkcp_devnet::json::parse_addr(s)?)
}

fn base64_key(s: &ozkcp_core::sig::SecpSigner) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(*s.secret_bytes())
}

fn run(args: RunArgs) -> Result<()> {
    ensure!(
        args.listen.ip().is_loopback(),
        "the devnet API has no auth: listen on a loopback address"
    );
    let dir = args.dir.unwrap_or_else(default_dir);
    let genesis = GenesisConfig {
        accounts: args.accounts,
        balance: TokenAmount::from_whole(args.balance_fil),
        seed: args.seed,
    };
    let net = Arc::new(
        Devnet::open(&dir, genesis).with_context(|| format!("opening {}", dir.display()))?,
    );
    runtime()?.block_on(async move {
        let srv = serve(net.clone(), args.listen)
            .await
            .with_context(|| format!("serving on {}", args.listen))?;
        println!(
            "devnet in {} at epoch {}, {} genesis accounts (`ozkcp devnet accounts`)",
            dir.display(),
            net.epoch(),
            net.accounts().len()
        );
        println!("OZKCP_CHAIN_API={}", srv.http_url());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        srv.stop().await;
        eprintln!("devnet stopped at epoch {}", net.epoch());
        Ok(())
    })
}
