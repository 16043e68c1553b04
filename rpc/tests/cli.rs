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
