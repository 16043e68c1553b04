//! The `ozkcp` binary as a user runs it.

use assert_cmd::Command;

fn ozkcp() -> Command {
    Command::cargo_bin("ozkcp").unwrap()
}

#[test]
fn help_and_version() {
    let out = ozkcp()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    assert!(help.contains("local-retrieve") && help.contains("version"));
    let out = ozkcp()
        .args(["version", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn local_retrieve_writes_back_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let output = dir.path().join("out.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let out = ozkcp()
        .args([
            "local-retrieve",
            "--json",
            "--chunk-size",
            "4096",
            "--block-size",
            "65536",
        ])
        .arg(&input)
        .arg("--out")
        .arg(&output)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["bytes"], 300_000);
    assert_eq!(std::fs::read(&output).unwrap(), data);
}

#[test]
fn bad_options_fail_with_a_clear_message() {
    let out = ozkcp()
        .args(["local-retrieve", "--size", "1000", "--chunk-size", "100"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("chunk size 100 B is invalid"), "{err}");
    ozkcp()
        .args(["local-retrieve", "/no/such/file"])
        .assert()
        .failure();
    ozkcp().arg("no-such-command").assert().failure();
}

#[test]
fn fsm_mermaid_prints_the_tables() {
    let out = ozkcp()
        .args(["fsm", "mermaid", "client"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("stateDiagram-v2\n"));
    assert!(text.contains("DealStatusCheckFunds --> DealStatusStartDispute: WrongKey"));
    let out = ozkcp()
        .args(["fsm", "mermaid", "provider"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("DealStatusRevealKey --> DealStatusAbort: WrongVoucher"));
    ozkcp().args(["fsm", "mermaid", "judge"]).assert().failure();
}

#[test]
fn wallet_import_takes_lotus_key_info_and_never_silently_replaces_a_key() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let wallet = |args: &[&str], stdin: &str| {
        let mut c = ozkcp();
        c.arg("--repo").arg(&repo).arg("wallet").args(args);
        c.write_stdin(stdin.to_string()).assert()
    };
    let secret = [0x11u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let json = format!(r#"{{"Type":"secp256k1","PrivateKey":"{b64}"}}"#);
    let expected = ozkcp::core::sig::SecpSigner::from_bytes(&secret)
        .unwrap()
        .address()
        .to_string();

    // A new repo has its own random wallet.
    let first = wallet(&["address"], "")
        .success()
        .get_output()
        .stdout
        .clone();
    let first = String::from_utf8(first).unwrap().trim().to_string();
    assert!(first.starts_with("f1"), "{first}");
    assert_ne!(first, expected);

    // Replacing it needs --force; the refusal names the wallet in place and changes nothing.
    let out = wallet(&["import"], &json)
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains(&first) && err.contains("--force"), "{err}");
    let still = wallet(&["address"], "")
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(still).unwrap().trim(), first);

    // The KeyInfo JSON, then the same key as a Lotus hex export (idempotent).
    wallet(&["import", "--force"], &json).success();
    wallet(&["import"], &hex::encode(&json)).success();
    let now = wallet(&["address", "--json"], "")
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&now).unwrap();
    assert_eq!(v["Address"], expected);
    let mode = std::fs::metadata(repo.join("node-key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // Bad keys: each refused with a reason, and the wallet stays.
    for (bad, why) in [
        (
            r#"{"Type":"bls","PrivateKey":"AAAA"}"#.to_string(),
            "secp256k1",
        ),
        ("zz-not-hex".to_string(), "neither KeyInfo JSON"),
        (r#"{"Type":"secp256k1"}"#.to_string(), "KeyInfo"),
        (
            r#"{"Type":"secp256k1","PrivateKey":"%%%"}"#.to_string(),
            "base64",
        ),
        (
            format!(
                r#"{{"Type":"secp256k1","PrivateKey":"{}"}}"#,
                base64::engine::general_purpose::STANDARD.encode([1u8; 31])
            ),
            "31 bytes",
        ),
        (
            format!(
                r#"{{"Type":"secp256k1","PrivateKey":"{}"}}"#,
                base64::engine::general_purpose::STANDARD.encode([0u8; 32])
            ),
            "",
        ),
    ] {
        let out = wallet(&["import", "--force"], &bad)
            .failure()
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8(out).unwrap();
        assert!(err.contains(why), "{bad}: {err}");
        assert!(!err.contains(&b64), "a key never reaches the output");
    }
    let now = wallet(&["address"], "")
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(now).unwrap().trim(), expected);
}

/// A reader that goes away (`ozkcp … | head -1`) ends a one-shot command quietly, by SIGPIPE as
/// Unix tools do, not with a panic about a broken pipe.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_a_command_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    // The reader is gone before the command starts.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ozkcp"))
        .args(["fsm", "mermaid", "client"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc_sigpipe()),
        "{:?}",
        out.status
    );
}

fn libc_sigpipe() -> i32 {
    13 // SIGPIPE on Linux and the BSDs
}
