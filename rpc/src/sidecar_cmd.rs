//! `ozkcp serve | auth | deals | deal | provider`: run the sidecar and talk to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use ozkcp_rpc::api::{DealInfo, ImportInfo, OzkcpApiClient};
use ozkcp_rpc::auth::{JwtAuth, Permission};
use ozkcp_rpc::client::connect_http;
use ozkcp_rpc::repo::{ApiInfo, Repo};
use ozkcp_rpc::server::{serve, ServeConfig, DEFAULT_LISTEN, DEFAULT_MAX_REQUEST};
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
    runtime()?.block_on(async move {
        let sidecar = serve(store, auth.clone(), &config).await?;
        let token = auth.create_token(Permission::Admin, None)?;
        repo.write_api(sidecar.local_addr, &token)?;
        eprintln!(
            "ozkcp sidecar on {} (repo {}); OZKCP_API_INFO: `ozkcp auth api-info --perm …`",
            sidecar.http_url(),
            repo.path().display()
        );
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
