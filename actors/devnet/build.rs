//! Builds the judge actor (`actors/judge`) for `wasm32-unknown-unknown` with the workspace's
//! `wasm` profile and the `fil-actor` feature, and puts it at `$OUT_DIR/ozkcp_judge.wasm` for
//! `ozkcp_devnet::judge_wasm()`.
//!
//! Needs the target: `rustup target add wasm32-unknown-unknown`. Set `OZKCP_JUDGE_WASM=<file>`
//! to use a prebuilt wasm instead. The nested build uses `<target dir>/judge-wasm` so it never
//! contends for the outer build's lock.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("ozkcp_judge.wasm");
    println!("cargo:rerun-if-env-changed=OZKCP_JUDGE_WASM");
    if let Ok(prebuilt) = env::var("OZKCP_JUDGE_WASM") {
        println!("cargo:rerun-if-changed={prebuilt}");
        std::fs::copy(&prebuilt, &out).expect("copy OZKCP_JUDGE_WASM");
        return;
    }
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.join("../..");
    for p in [
        "../judge/src",
        "../judge/Cargo.toml",
        "../../plugin/core",
        "../../plugin/zk/src",
        "../../plugin/zk/Cargo.toml",
        "../../Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    // OUT_DIR = <target>/<profile>/build/<pkg>-<hash>/out (or one more level with --target).
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir.ancestors().nth(4).unwrap().to_path_buf())
        .join("judge-wasm");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "-p",
            "ozkcp-judge",
            "--features",
            "fil-actor",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        // Host-build settings of the outer cargo must not leak into the wasm build.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_LLVM_COV")
        .env_remove("CARGO_LLVM_COV_TARGET_DIR");
    let status = cmd.status().expect("run cargo for the judge wasm");
    assert!(
        status.success(),
        "building the judge actor for wasm32-unknown-unknown failed \
         (is the target installed? `rustup target add wasm32-unknown-unknown`)"
    );
    let wasm = target_dir.join("wasm32-unknown-unknown/wasm/ozkcp_judge.wasm");
    std::fs::copy(&wasm, &out).expect("copy the judge wasm");
}
