//! `ozkcp serve` and the commands that talk to it, as a user runs them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// A running `ozkcp serve`, killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(repo: &Path) -> Serve {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ozkcp"))
        .args(["serve", "--listen", "127.0.0.1:0", "--repo"])
        .arg(repo)
        .env_remove("OZKCP_API_INFO")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !repo.join("api").exists() {
        assert!(Instant::now() < deadline, "the sidecar did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    serve
}

fn ozkcp(repo: &Path) -> Command {
    let mut c = Command::cargo_bin("ozkcp").unwrap();
    c.arg("--repo").arg(repo).env_remove("OZKCP_API_INFO");
    c
}

fn stdout(c: &mut Command) -> String {
    String::from_utf8(c.assert().success().get_output().stdout.clone()).unwrap()
}

fn stderr_of_failure(c: &mut Command) -> String {
    String::from_utf8(c.assert().failure().get_output().stderr.clone()).unwrap()
}

#[test]
fn serve_writes_api_files_and_clis_use_them() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    // Without a running sidecar: a helpful error.
    let err = stderr_of_failure(ozkcp(&repo).arg("deals"));
    assert!(err.contains("no running sidecar found"), "{err}");

    let server = start(&repo);
    let api = std::fs::read_to_string(repo.join("api")).unwrap();
    assert!(
        api.starts_with("/ip4/127.0.0.1/tcp/") && api.ends_with("/http"),
        "{api}"
    );
    for f in ["token", "jwt-secret"] {
        let mode = std::fs::metadata(repo.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }

    // The repo's admin token: list (empty), import, list imports.
    assert_eq!(stdout(ozkcp(&repo).arg("deals")), "no deals\n");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(ozkcp(&repo).args(["deals", "--json"]))).unwrap();
    assert_eq!(v, serde_json::json!([]));
    let file = dir.path().join("movie.bin");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    let out = stdout(
        ozkcp(&repo)
            .args(["provider", "import", "--json", "--leaf-size", "65536"])
            .arg(&file),
    );
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["Size"], 100_000);
    assert_eq!(info["Blocks"], 3);
    let root = info["Root"]["/"].as_str().unwrap().to_string();
    let human = stdout(ozkcp(&repo).args(["provider", "imports"]));
    assert!(human.contains(&root), "{human}");
    let err = stderr_of_failure(ozkcp(&repo).args(["deal", "5"]));
    assert!(err.contains("no deal 5"), "{err}");

    // OZKCP_API_INFO with a read token: reads work, the import is refused with the reason.
    let line = stdout(ozkcp(&repo).args(["auth", "api-info", "--perm", "read"]));
    let value = line
        .trim()
        .strip_prefix("OZKCP_API_INFO=")
        .expect("the env line")
        .to_string();
    assert!(value.ends_with(api.trim()), "{value}");
    let elsewhere = dir.path().join("empty-repo");
    let mut deals = ozkcp(&elsewhere);
    deals.arg("deals").env("OZKCP_API_INFO", &value);
    assert_eq!(stdout(&mut deals), "no deals\n");
    let mut import = ozkcp(&elsewhere);
    import
        .args(["provider", "import"])
        .arg(&file)
        .env("OZKCP_API_INFO", &value);
    let err = stderr_of_failure(&mut import);
    assert!(err.contains("need 'admin'"), "{err}");

    // A forged token: the 401 is explained.
    let mut forged = ozkcp(&elsewhere);
    forged.arg("deals").env(
        "OZKCP_API_INFO",
        format!("eyJhbGciOiJIUzI1NiJ9.e30.AAAA:{}", api.trim()),
    );
    let err = stderr_of_failure(&mut forged);
    assert!(err.contains("401"), "{err}");

    // create-token makes a working token without the server's help.
    let token = stdout(ozkcp(&repo).args(["auth", "create-token", "--perm", "write"]));
    assert_eq!(token.trim().split('.').count(), 3);
    drop(server);
}
