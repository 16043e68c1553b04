//! `ozkcp-devnet`: run the devnet as a node, or deploy an actor to a running one.
//!
//! ```sh
//! ozkcp-devnet run --dir ~/.ozkcp-devnet --listen 127.0.0.1:1234 --install-judge
//! ozkcp-devnet deploy --api http://127.0.0.1:1234/rpc/v1 --wasm actor.wasm
//! ozkcp-devnet accounts --api http://127.0.0.1:1234/rpc/v1
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use clap::{Parser, Subcommand};
use fvm_ipld_encoding::RawBytes;
use fvm_shared::econ::TokenAmount;
use ozkcp_devnet::json::addr_str;
use ozkcp_devnet::rpc::{connect_http, DevnetApiClient, FilecoinApiClient};
use ozkcp_devnet::{serve, Devnet, GenesisConfig};

#[derive(Parser)]
#[command(name = "ozkcp-devnet", about = "A local Filecoin devnet on ref-fvm")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open (or create) the chain in DIR and serve the JSON-RPC API until Ctrl-C.
    Run {
        /// Chain directory (created with a genesis if empty).
        #[arg(long, env = "OZKCP_DEVNET_DIR")]
        dir: PathBuf,
        /// Loopback address to serve on.
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
        /// Install the bundled judge actor at startup and print its address.
        #[arg(long)]
        install_judge: bool,
    },
    /// Install an actor on a running devnet through `Devnet.InstallActor`.
    Deploy {
        /// The devnet's API URL.
        #[arg(long, default_value = "http://127.0.0.1:1234/rpc/v1")]
        api: String,
        /// The actor's Wasm file (default: the bundled judge actor).
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// Constructor params, hex CBOR.
        #[arg(long)]
        params_hex: Option<String>,
    },
    /// List the genesis accounts (with private keys) and the head of a running devnet.
    Accounts {
        /// The devnet's API URL.
        #[arg(long, default_value = "http://127.0.0.1:1234/rpc/v1")]
        api: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Run {
            dir,
            listen,
            accounts,
            balance_fil,
            seed,
            install_judge,
        } => {
            anyhow::ensure!(
                listen.ip().is_loopback(),
                "the devnet API has no auth: listen on a loopback address"
            );
            let genesis = GenesisConfig {
                accounts,
                balance: TokenAmount::from_whole(balance_fil),
                seed,
            };
            let net = Arc::new(tokio::task::block_in_place(|| Devnet::open(&dir, genesis))?);
            if install_judge {
                let j = tokio::task::block_in_place(|| {
                    net.install_actor(ozkcp_devnet::judge_wasm(), RawBytes::default())
                })?;
                println!(
                    "judge actor: {} ({}) code {}",
                    addr_str(&j.id_address),
                    addr_str(&j.robust_address),
                    j.code
                );
            }
            for a in net.accounts() {
                println!(
                    "account {} {} balance {}",
                    addr_str(&fvm_shared::address::Address::new_id(a.id)),
                    addr_str(&a.key.address),
                    net.balance(&a.key.address)?
                );
            }
            let srv = serve(net.clone(), listen).await?;
            println!("epoch {} in {}", net.epoch(), dir.display());
            println!("API: {}  (ws: {})", srv.http_url(), srv.ws_url());
            println!(
                "FULLNODE_API_INFO=:/ip4/{}/tcp/{}/http",
                srv.local_addr.ip(),
                srv.local_addr.port()
            );
            tokio::signal::ctrl_c().await?;
            srv.stop().await;
        }
        Cmd::Deploy {
            api,
            wasm,
            params_hex,
        } => {
            let code = match wasm {
                Some(p) => std::fs::read(p)?,
                None => ozkcp_devnet::judge_wasm().to_vec(),
            };
            let params = params_hex
                .map(|h| hex::decode(h).map(|b| B64.encode(b)))
                .transpose()?;
            let c = connect_http(&api)?;
            let r = c.install_actor(B64.encode(code), params).await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
        Cmd::Accounts { api } => {
            let c = connect_http(&api)?;
            let head = c.chain_head().await?;
            println!("height {}", head.height);
            println!("{}", serde_json::to_string_pretty(&c.accounts().await?)?);
        }
    }
    Ok(())
}
