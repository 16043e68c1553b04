//! `ozkcp circuit|params|proof` as a user runs them, at S = 64 (one parameter set shared).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;

fn ozkcp() -> Command {
    Command::cargo_bin("ozkcp").unwrap()
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let out = ozkcp().args(args).assert().success().get_output().clone();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One `params generate --chunk-size 64 --link` for all tests: (dir, printed circuit id, stderr).
fn params() -> &'static (tempfile::TempDir, String, String) {
    static P: OnceLock<(tempfile::TempDir, String, String)> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = ozkcp()
            .args([
                "params",
                "generate",
                "--chunk-size",
                "64",
                "--link",
                "--out",
            ])
            .arg(dir.path())
            .assert()
            .success()
            .get_output()
            .clone();
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let err = String::from_utf8(out.stderr).unwrap();
        (dir, id, err)
    })
}

#[test]
fn circuit_info_json() {
    let v = json_of(&["circuit", "info", "--chunk-size", "64", "--link", "--json"]);
    assert_eq!(v["shape"]["chunk_size"], 64);
    assert_eq!(v["shape"]["link"], true);
    assert_eq!(v["public_inputs"], 1);
    let total = v["constraints"].as_u64().unwrap();
    let parts: u64 = ["sha", "chacha", "lock", "link", "commitment", "other"]
        .iter()
        .map(|k| v["parts"][*k].as_u64().unwrap())
        .sum();
    assert_eq!(total, parts);
    assert!(v["parts"]["link"].as_u64().unwrap() > 0);
    let nolink = json_of(&["circuit", "info", "--chunk-size", "64", "--json"]);
    assert_eq!(nolink["parts"]["link"], 0);
    // Human output names the parts.
    let out = ozkcp()
        .args(["circuit", "info", "--chunk-size", "64"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("constraints") && text.contains("public inputs 1"));
}

#[test]
fn bad_chunk_size_fails_clearly() {
    for n in ["100", "0", "8192"] {
        let out = ozkcp()
            .args(["circuit", "info", "--chunk-size", n])
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8(out).unwrap();
        assert!(
            err.contains("invalid --chunk-size") && err.contains("multiple of 64"),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = ozkcp()
        .args(["params", "generate", "--chunk-size", "65", "--out"])
        .arg(dir.path())
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(out).unwrap().contains("multiple of 64"));
}

#[test]
fn params_generate_writes_loadable_keys_with_matching_id() {
    let (dir, id, err) = params();
    assert_eq!(id.len(), 64, "{id}");
    assert!(err.contains("single-party") && err.contains("devnets and tests only"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("circuit.json")).unwrap()).unwrap();
    assert_eq!(manifest["circuit_id"], id.as_str());
    let (m, vk) = ozkcp_zk::read_params_vk(dir.path()).unwrap();
    assert_eq!(m.shape, ozkcp_zk::CircuitShape::new(64, true).unwrap());
    assert_eq!(
        ozkcp_zk::params::hex_string(&ozkcp_zk::circuit_id(&vk)),
        *id
    );
    let (_, pk) = ozkcp_zk::read_params_pk(dir.path()).unwrap();
    assert_eq!(pk.vk, vk);
}

fn read_json(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

fn export(args: &[&str], out: &Path) -> serde_json::Value {
    let (dir, _, _) = params();
    let o = ozkcp()
        .args(["proof", "export", "--json", "--params"])
        .arg(dir.path())
        .arg("--out")
        .arg(out)
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn proof_export_writes_snarkjs_json() {
    let (_, id, _) = params();
    let out = tempfile::tempdir().unwrap();
    let file: PathBuf = out.path().join("block.bin");
    std::fs::write(&file, (0..150u8).collect::<Vec<u8>>()).unwrap();
    let dest = out.path().join("export");
    let v = export(
        &[
            "--file",
            file.to_str().unwrap(),
            "--chunk",
            "2",
            "--index",
            "40",
            "--key",
            &"ab".repeat(32),
        ],
        &dest,
    );
    assert_eq!(v["circuit_id"], id.as_str());
    assert_eq!(v["index"], 42);
    assert_eq!(v["len"], 22);
    assert_eq!(v["final_chunk"], true);
    let vk = read_json(&dest, "verification_key.json");
    assert_eq!(vk["protocol"], "groth16");
    assert_eq!(vk["curve"], "bn128");
    assert_eq!(vk["nPublic"], 1);
    assert_eq!(vk["IC"].as_array().unwrap().len(), 2);
    let proof = read_json(&dest, "proof.json");
    assert_eq!(proof["pi_a"].as_array().unwrap().len(), 3);
    assert_eq!(proof["pi_b"].as_array().unwrap().len(), 3);
    let public = read_json(&dest, "public.json");
    assert_eq!(public, serde_json::json!(v["public"]));
    assert_eq!(public.as_array().unwrap().len(), 1);

    // Re-export the written proof and statement: same public input.
    let again = out.path().join("again");
    let v2 = export(
        &[
            "--proof",
            dest.join("proof.bin").to_str().unwrap(),
            "--statement",
            dest.join("statement.json").to_str().unwrap(),
        ],
        &again,
    );
    assert_eq!(v2["public"], v["public"]);

    // A tampered statement does not verify, and nothing is exported.
    let mut st = read_json(&dest, "statement.json");
    st["index"] = serde_json::json!(43);
    let bad = out.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&st).unwrap()).unwrap();
    let (dir, _, _) = params();
    let err = ozkcp()
        .args(["proof", "export", "--params"])
        .arg(dir.path())
        .arg("--out")
        .arg(out.path().join("bad"))
        .arg("--proof")
        .arg(dest.join("proof.bin"))
        .arg("--statement")
        .arg(&bad)
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(err).unwrap().contains("does not verify"));
    assert!(!out.path().join("bad").exists());

    // Out-of-range chunk.
    let (dir, _, _) = params();
    ozkcp()
        .args(["proof", "export", "--params"])
        .arg(dir.path())
        .arg("--out")
        .arg(out.path().join("x"))
        .arg("--file")
        .arg(&file)
        .args(["--chunk", "9"])
        .assert()
        .failure();
}
