//! `ozkcp`: the command line of the ozkcp retrieval plugin.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ozkcp::local::{retrieve_local, LocalOptions};

mod devnet_cmd;
mod sidecar_cmd;
mod zk_cmd;

/// Fair-exchange retrieval for Filecoin-style nodes: encrypted chunks, hash-locked vouchers,
/// and a judge for cheaters.
#[derive(Parser, Debug)]
#[command(name = "ozkcp", version, about, long_about = None)]
struct Cli {
    /// Repo directory: API secret, api/token files, deal database.
    #[arg(long, global = true, env = "OZKCP_REPO")]
    repo: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the JSON-RPC sidecar (HTTP and WebSocket at /rpc/v1) until Ctrl-C.
    Serve(sidecar_cmd::ServeArgs),
    /// API tokens: create one, or print OZKCP_API_INFO for the running sidecar.
    Auth {
        #[command(subcommand)]
        command: sidecar_cmd::AuthCommand,
    },
    /// The sidecar's wallet: its address, or import a key (on a devnet: a genesis account's).
    Wallet {
        #[command(subcommand)]
        command: sidecar_cmd::WalletCommand,
    },
    /// List the running sidecar's deals.
    Deals {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show (or cancel) one deal of the running sidecar.
    Deal {
        /// The deal's id (as `ozkcp deals` lists it).
        id: u64,
        /// Cancel it.
        #[arg(long)]
        cancel: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The local devnet (ref-fvm, Lotus-style JSON-RPC): run it, deploy the judge, accounts.
    Devnet {
        #[command(subcommand)]
        command: devnet_cmd::DevnetCommand,
    },
    /// Retrieve a payload from a provider sidecar through the repo's sidecar (fair exchange:
    /// encrypted chunks, hash-locked vouchers, keys), with a progress bar.
    Retrieve(sidecar_cmd::RetrieveArgs),
    /// Provider side: import data to serve.
    Provider {
        #[command(subcommand)]
        command: sidecar_cmd::ProviderCommand,
    },
    /// zk mode: inspect a chunk circuit (constraint counts, public inputs).
    Circuit {
        #[command(subcommand)]
        command: zk_cmd::CircuitCommand,
    },
    /// zk mode: generate Groth16 parameters.
    Params {
        #[command(subcommand)]
        command: zk_cmd::ParamsCommand,
    },
    /// zk mode: export chunk proofs for third-party verifiers (snarkjs).
    Proof {
        #[command(subcommand)]
        command: zk_cmd::ProofCommand,
    },
    /// Inspect the deal state machines.
    Fsm {
        #[command(subcommand)]
        command: FsmCommand,
    },
    /// Print the version of ozkcp and of the protocol it speaks.
    Version {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Retrieve a local file through the whole data path in one process and check the result.
    ///
    /// The provider cuts the file into blocks, encrypts and states every chunk and signs each
    /// interval; the client checks, pays with hash-locked vouchers, opens with the revealed keys
    /// and checks every CID. No network and no chain: the data path alone.
    LocalRetrieve {
        /// File to retrieve. Without it, a random payload of --size bytes is used.
        file: Option<PathBuf>,
        /// Size of the random payload when no file is given (bytes).
        #[arg(long, default_value_t = 8 << 20)]
        size: usize,
        /// Chunk size S in bytes (a multiple of 64, 64 B … 1 MiB).
        #[arg(long, default_value_t = 16 * 1024)]
        chunk_size: u32,
        /// Leaf block size in bytes.
        #[arg(long, default_value_t = 1 << 20)]
        block_size: usize,
        /// Leaf blocks per payment interval.
        #[arg(long, default_value_t = 4)]
        blocks_per_interval: u32,
        /// Write the retrieved bytes here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum FsmCommand {
    /// Print a side's state machine as a mermaid stateDiagram-v2, generated from its table.
    Mermaid {
        /// Which side.
        #[arg(value_enum)]
        side: Side,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Side {
    Client,
    Provider,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("OZKCP_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // A one-shot command whose reader went away (`ozkcp deals | head -1`) ends quietly, as
        // Unix tools do, instead of panicking in `println!`. The sidecar keeps Rust's default
        // (ignored): a peer closing its socket must not kill it.
        #[cfg(unix)]
        // SAFETY: restoring a signal's default disposition at start-up, before any thread is
        // spawned, has no memory-safety preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let repo = cli.repo.unwrap_or_else(ozkcp_rpc::repo::Repo::default_path);
    match cli.command {
        Command::Serve(args) => sidecar_cmd::serve_cmd(&repo, args)?,
        Command::Auth { command } => sidecar_cmd::auth_cmd(&repo, command)?,
        Command::Wallet { command } => sidecar_cmd::wallet_cmd(&repo, command)?,
        Command::Deals { json } => sidecar_cmd::deals_cmd(&repo, json)?,
        Command::Deal { id, cancel, json } => sidecar_cmd::deal_cmd(&repo, id, cancel, json)?,
        Command::Provider { command } => sidecar_cmd::provider_cmd(&repo, command)?,
        Command::Retrieve(args) => sidecar_cmd::retrieve_cmd(&repo, args)?,
        Command::Devnet { command } => devnet_cmd::devnet_cmd(command)?,
        Command::Fsm {
            command: FsmCommand::Mermaid { side },
        } => match side {
            Side::Client => print!("{}", ozkcp::fsm::client_mermaid()),
            Side::Provider => print!("{}", ozkcp::fsm::provider_mermaid()),
        },
        Command::Circuit { command } => zk_cmd::circuit(command)?,
        Command::Params { command } => zk_cmd::params(command)?,
        Command::Proof { command } => zk_cmd::proof(command)?,
        Command::Version { json } => {
            let v = env!("CARGO_PKG_VERSION");
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "version": v, "protocol": "ozkcp/1" })
                );
            } else {
                println!("ozkcp {v} (protocol ozkcp/1)");
            }
        }
        Command::LocalRetrieve {
            file,
            size,
            chunk_size,
            block_size,
            blocks_per_interval,
            out,
            json,
        } => {
            let data = match &file {
                Some(path) => {
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
                }
                None => {
                    let mut d = vec![0u8; size];
                    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut d);
                    d
                }
            };
            if block_size == 0 {
                bail!("--block-size must be positive");
            }
            let opts = LocalOptions {
                chunk_size,
                block_size,
                blocks_per_interval,
                ..LocalOptions::default()
            };
            let report = retrieve_local(&data, &opts).context("local retrieval failed")?;
            if let Some(out) = &out {
                std::fs::write(out, &report.data)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            let secs = report.elapsed.as_secs_f64();
            let mbps = data.len() as f64 / secs.max(1e-9) / 1e6;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "root": report.root.to_string(),
                        "bytes": data.len(),
                        "blocks": report.blocks,
                        "chunks": report.chunks,
                        "intervals": report.intervals,
                        "paid_atto": report.paid.atto().to_string(),
                        "seconds": secs,
                        "mb_per_s": mbps,
                        "verified": true,
                    })
                );
            } else {
                println!("retrieved {} bytes as {}", data.len(), report.root);
                println!(
                    "  {} blocks, {} chunks of up to {} B, {} payment intervals",
                    report.blocks, report.chunks, chunk_size, report.intervals
                );
                println!(
                    "  paid {} FIL ({} attoFIL) in cumulative hash-locked vouchers",
                    report.paid,
                    report.paid.atto()
                );
                println!("  every chunk, chain and CID checked; bytes equal the original");
                println!("  {secs:.3} s ({mbps:.0} MB/s, provider and client in one process)");
            }
        }
    }
    Ok(())
}
