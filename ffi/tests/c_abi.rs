//! Compiles `tests/c/abi_test.c` against the committed header and the static library, and runs
//! it: the header is exercised from C exactly as a C or cgo host would.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`: the test binary lives in `target/<profile>/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf()
}

#[test]
fn c_program_exercises_the_header() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // `cargo test` builds the library as an rlib only: build the staticlib into the same
    // target directory (the debug profile, which the test profile shares).
    let target_dir = profile_dir().parent().expect("target dir").to_path_buf();
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "ozkcp-ffi",
            "--lib",
            "--target-dir",
        ])
        .arg(&target_dir)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build of the staticlib failed");
    let lib = profile_dir().join("libozkcp_ffi.a");
    assert!(
        lib.exists(),
        "static library not built at {}",
        lib.display()
    );
    let exe = profile_dir().join("ozkcp_abi_test");
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-o"])
        .arg(&exe)
        .arg(manifest.join("tests/c/abi_test.c"))
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(&lib)
        .args([
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ])
        .status()
        .expect("gcc runs");
    assert!(status.success(), "gcc failed");
    let out = Command::new(&exe).output().expect("test program runs");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "C test program failed");
}
