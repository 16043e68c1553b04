//! The repo directory (`--repo`, `$OZKCP_REPO`, default `~/.ozkcp`), laid out like a Lotus repo:
//!
//! ```text
//! jwt-secret    32 random bytes, 0600, created on first use; signs the API tokens
//! api           the running sidecar's multiaddr, e.g. /ip4/127.0.0.1/tcp/3120/http
//! token         an admin token for that sidecar, 0600
//! ozkcp.redb    deals, imports and blocks (see crate::store)
//! ```
//!
//! CLIs find a sidecar through `OZKCP_API_INFO=<token>:<multiaddr>` or, without it, the repo's
//! `api` and `token` files ([`ApiInfo`]).

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use zeroize::Zeroizing;

use crate::auth::SECRET_LEN;

/// Environment variable naming the repo directory.
pub const REPO_ENV: &str = "OZKCP_REPO";
/// Environment variable with `<token>:<multiaddr>` of a sidecar.
pub const API_INFO_ENV: &str = "OZKCP_API_INFO";

/// Errors of the repo directory and API info.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A file or directory could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The secret file is readable by others, or has the wrong size.
    #[error("{path}: {reason}")]
    BadSecret {
        /// The secret file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No sidecar address is known.
    #[error(
        "no running sidecar found: set {API_INFO_ENV}=<token>:<multiaddr> or start `ozkcp serve` \
         with this repo ({0} has no api file)"
    )]
    NoApi(PathBuf),
    /// `OZKCP_API_INFO` or the api file does not parse.
    #[error("bad API info: {0}")]
    BadApiInfo(String),
}

/// A repo directory.
#[derive(Debug, Clone)]
pub struct Repo {
    path: PathBuf,
}

impl Repo {
    /// The repo at `path`, created (0700) if missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, RepoError> {
        let path = path.into();
        if !path.exists() {
            fs::create_dir_all(&path).map_err(|e| io("creating", &path, e))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
                .map_err(|e| io("chmod", &path, e))?;
        }
        Ok(Repo { path })
    }

    /// The default repo: `$OZKCP_REPO`, else `~/.ozkcp`.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os(REPO_ENV) {
            return PathBuf::from(p);
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
        PathBuf::from(home).join(".ozkcp")
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The deal database's path.
    pub fn db_path(&self) -> PathBuf {
        self.path.join("ozkcp.redb")
    }

    /// The API token secret, created on first use (0600). A secret file that others can read
    /// is refused, as ssh does with keys.
    pub fn jwt_secret(&self) -> Result<Zeroizing<Vec<u8>>, RepoError> {
        self.secret_file("jwt-secret")
    }

    /// The node's secp256k1 key (`node-key`, 32 random bytes, 0600, created on first use): its
    /// f1 address is the sidecar's wallet as client and provider. Checked like the API secret.
    pub fn node_key(&self) -> Result<ozkcp::core::sig::SecpSigner, RepoError> {
        let bytes = self.secret_file("node-key")?;
        let path = self.path.join("node-key");
        let mut key = Zeroizing::new([0u8; SECRET_LEN]);
        key.copy_from_slice(&bytes);
        ozkcp::core::sig::SecpSigner::from_bytes(&key).map_err(|e| RepoError::BadSecret {
            path,
            reason: e.to_string(),
        })
    }

    /// Imports a wallet key as the repo's `node-key` (`ozkcp wallet import`). Refuses to replace
    /// an existing key (its deals and funds would be orphaned) unless `force`.
    pub fn import_node_key(
        &self,
        key: &ozkcp::core::sig::SecpSigner,
        force: bool,
    ) -> Result<(), RepoError> {
        let path = self.path.join("node-key");
        if path.exists() && !force {
            let current = self.node_key()?;
            if current.address() == key.address() {
                return Ok(());
            }
            return Err(RepoError::BadSecret {
                path,
                reason: format!(
                    "the repo already has wallet {}; importing another key would orphan its \
                     deals (pass --force to replace it)",
                    current.address()
                ),
            });
        }
        write_private(&path, &key.secret_bytes()[..])
    }

    fn secret_file(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, RepoError> {
        let path = self.path.join(name);
        let mut secret = Zeroizing::new(vec![0u8; SECRET_LEN]);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                rand::rngs::OsRng.fill_bytes(&mut secret);
                f.write_all(&secret)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| io("writing", &path, e))?;
                Ok(secret)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut f = fs::File::open(&path).map_err(|e| io("opening", &path, e))?;
                let mode = f
                    .metadata()
                    .map_err(|e| io("reading", &path, e))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(RepoError::BadSecret {
                        path,
                        reason: format!(
                            "mode {:o} lets others read it; chmod 600 it",
                            mode & 0o777
                        ),
                    });
                }
                let mut buf = Zeroizing::new(Vec::with_capacity(SECRET_LEN + 1));
                f.read_to_end(&mut buf)
                    .map_err(|e| io("reading", &path, e))?;
                if buf.len() != SECRET_LEN {
                    return Err(RepoError::BadSecret {
                        path,
                        reason: format!("{} bytes, expected {SECRET_LEN}", buf.len()),
                    });
                }
                secret.copy_from_slice(&buf);
                Ok(secret)
            }
            Err(e) => Err(io("creating", &path, e)),
        }
    }

    /// Writes the `api` (multiaddr) and `token` (0600) files of a running sidecar.
    pub fn write_api(&self, addr: SocketAddr, admin_token: &str) -> Result<(), RepoError> {
        let token = self.path.join("token");
        write_private(&token, admin_token.as_bytes())?;
        // Written aside and renamed: whoever waits for `api` to appear reads it whole.
        let api = self.path.join("api");
        let tmp = self.path.join("api.tmp");
        fs::write(&tmp, multiaddr(addr)).map_err(|e| io("writing", &tmp, e))?;
        fs::rename(&tmp, &api).map_err(|e| io("renaming", &api, e))
    }

    /// Removes the `api` file (the sidecar stopped); the token stays valid for the next run.
    pub fn remove_api(&self) {
        let _ = fs::remove_file(self.path.join("api"));
    }

    /// The running sidecar's address and admin token from the `api` and `token` files.
    pub fn api_info(&self) -> Result<ApiInfo, RepoError> {
        let api = self.path.join("api");
        let maddr = match fs::read_to_string(&api) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RepoError::NoApi(self.path.clone()))
            }
            Err(e) => return Err(io("reading", &api, e)),
        };
        let token_path = self.path.join("token");
        let token = fs::read_to_string(&token_path).map_err(|e| io("reading", &token_path, e))?;
        Ok(ApiInfo {
            token: Zeroizing::new(token.trim().to_string()),
            addr: parse_multiaddr(maddr.trim())?,
        })
    }
}

/// Where a sidecar listens and the token to call it with (`<token>:<multiaddr>`).
#[derive(Clone)]
pub struct ApiInfo {
    /// The bearer token (may be empty: calls then go without one and get 401).
    pub token: Zeroizing<String>,
    /// The sidecar's address.
    pub addr: SocketAddr,
}

impl std::fmt::Debug for ApiInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiInfo {{ token: <redacted>, addr: {} }}", self.addr)
    }
}

impl ApiInfo {
    /// Parses `<token>:<multiaddr>` (a JWT has no `:`).
    pub fn parse(s: &str) -> Result<Self, RepoError> {
        let (token, maddr) = s
            .split_once(':')
            .ok_or_else(|| RepoError::BadApiInfo("expected <token>:<multiaddr>".into()))?;
        Ok(ApiInfo {
            token: Zeroizing::new(token.to_string()),
            addr: parse_multiaddr(maddr)?,
        })
    }

    /// `$OZKCP_API_INFO` if set, else the repo's `api` and `token` files.
    pub fn discover(repo: &Path) -> Result<Self, RepoError> {
        match std::env::var(API_INFO_ENV) {
            Ok(s) if !s.is_empty() => ApiInfo::parse(&s),
            _ => Repo {
                path: repo.to_path_buf(),
            }
            .api_info(),
        }
    }

    /// The environment line for CLIs: `OZKCP_API_INFO=<token>:<multiaddr>`.
    pub fn env_line(&self) -> String {
        format!("{API_INFO_ENV}={}:{}", &*self.token, multiaddr(self.addr))
    }

    /// `http://<addr>/rpc/v1`.
    pub fn http_url(&self) -> String {
        format!("http://{}/rpc/v1", self.addr)
    }

    /// `ws://<addr>/rpc/v1`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/rpc/v1", self.addr)
    }
}

/// `/ip4/127.0.0.1/tcp/3120/http` (or `/ip6/…`).
pub fn multiaddr(addr: SocketAddr) -> String {
    let proto = if addr.is_ipv4() { "ip4" } else { "ip6" };
    format!("/{proto}/{}/tcp/{}/http", addr.ip(), addr.port())
}

/// Parses `/ip4/<ip>/tcp/<port>[/http|/ws]` or `/ip6/…` into a socket address.
pub fn parse_multiaddr(s: &str) -> Result<SocketAddr, RepoError> {
    let bad = || RepoError::BadApiInfo(format!("unsupported multiaddr {s:?}"));
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        ["", "ip4" | "ip6", ip, "tcp", port, rest @ ..]
            if rest.is_empty() || rest == ["http"] || rest == ["ws"] =>
        {
            let ip: IpAddr = ip.parse().map_err(|_| bad())?;
            let port: u16 = port.parse().map_err(|_| bad())?;
            Ok(SocketAddr::new(ip, port))
        }
        _ => Err(bad()),
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), RepoError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("writing", path, e))?;
    // `mode` applies only when the file is created: tighten an older, looser one too.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io("chmod", path, e))?;
    f.write_all(data).map_err(|e| io("writing", path, e))
}

fn io(what: &'static str, path: &Path, source: std::io::Error) -> RepoError {
    RepoError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::open(dir.path().join("r")).unwrap();
        let a = repo.jwt_secret().unwrap();
        let mode = fs::metadata(repo.path().join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(*a, *repo.jwt_secret().unwrap());
        fs::set_permissions(
            repo.path().join("jwt-secret"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(matches!(
            repo.jwt_secret(),
            Err(RepoError::BadSecret { .. })
        ));
    }

    #[test]
    fn api_info_round_trips() {
        let addr: SocketAddr = "127.0.0.1:3120".parse().unwrap();
        assert_eq!(multiaddr(addr), "/ip4/127.0.0.1/tcp/3120/http");
        let info = ApiInfo::parse("abc.def.ghi:/ip4/127.0.0.1/tcp/3120/http").unwrap();
        assert_eq!(info.addr, addr);
        assert_eq!(
            info.env_line(),
            "OZKCP_API_INFO=abc.def.ghi:/ip4/127.0.0.1/tcp/3120/http"
        );
        assert!(!format!("{info:?}").contains("abc"));
        assert!(ApiInfo::parse("/ip4/1.2.3.4/udp/1").is_err());
        assert!(parse_multiaddr("/dns/example/tcp/1/http").is_err());
        assert_eq!(
            parse_multiaddr("/ip6/::1/tcp/9/ws").unwrap(),
            "[::1]:9".parse::<SocketAddr>().unwrap()
        );

        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        assert!(matches!(repo.api_info(), Err(RepoError::NoApi(_))));
        fs::write(repo.path().join("token"), "old").unwrap(); // 0644
        repo.write_api(addr, "tok").unwrap();
        let mode = fs::metadata(repo.path().join("token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = repo.api_info().unwrap();
        assert_eq!((back.addr, back.token.as_str()), (addr, "tok"));
        repo.remove_api();
        assert!(repo.api_info().is_err());
    }
}
