//! `ozkcp-rpc-bench`: requests per second of a cheap read method (`Ozkcp.Version`) over
//! loopback HTTP, with the bearer-token check on every request.
//!
//! By default it starts a sidecar in this process (temporary repo, port 0) and calls it from
//! `--concurrency` keep-alive HTTP clients for `--seconds`; server and clients share the
//! machine's cores. With `--api-info <token>:<multiaddr>` it calls a running `ozkcp serve`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use ozkcp_rpc::api::OzkcpApiClient;
use ozkcp_rpc::auth::{JwtAuth, Permission};
use ozkcp_rpc::client::connect_http;
use ozkcp_rpc::repo::{ApiInfo, Repo};
use ozkcp_rpc::server::{serve, ServeConfig};
use ozkcp_rpc::store::DealStore;

#[derive(Parser, Debug)]
#[command(about = "RPC requests/s of Ozkcp.Version over loopback HTTP")]
struct Args {
    /// Concurrent keep-alive HTTP clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds (after one warm-up second).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Async worker threads (shared by server and clients in-process).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Call a running sidecar instead of an in-process one.
    #[arg(long)]
    api_info: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (info, _server) = match &args.api_info {
        Some(s) => (ApiInfo::parse(s)?, None),
        None => {
            let repo = Repo::open(dir.path())?;
            let auth = Arc::new(JwtAuth::new(&repo.jwt_secret()?));
            let store = DealStore::open(&repo.db_path())?;
            let config = ServeConfig {
                listen: "127.0.0.1:0".parse()?,
                ..ServeConfig::default()
            };
            let server = serve(store, auth.clone(), &config).await?;
            let token = auth.create_token(Permission::Read, None)?;
            (
                ApiInfo {
                    token: token.into(),
                    addr: server.local_addr,
                },
                Some(server),
            )
        }
    };
    let count = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let warmup = Duration::from_secs(1);
    let total = warmup + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let client = connect_http(&info)?;
        let count = count.clone();
        let measuring = measuring.clone();
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < total {
                client.version().await.context("Ozkcp.Version failed")?;
                if measuring.load(Ordering::Relaxed) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    for t in tasks {
        t.await??;
    }
    let secs = t0.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    let rps = n as f64 / secs;
    let mode = if args.api_info.is_some() {
        "external sidecar"
    } else {
        "in-process sidecar"
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "method": "Ozkcp.Version", "transport": "http", "mode": mode,
                "concurrency": args.concurrency, "threads": args.threads,
                "requests": n, "seconds": secs, "requests_per_s": rps,
                "mean_latency_us": 1e6 * secs * args.concurrency as f64 / n.max(1) as f64,
            })
        );
    } else {
        println!(
            "Ozkcp.Version over loopback HTTP ({mode}, {} clients, {} threads): {n} requests in \
             {secs:.2} s = {rps:.0} requests/s",
            args.concurrency, args.threads
        );
    }
    Ok(())
}
