//! The committed header `ffi/include/ozkcp.h` must be what cbindgen generates from the source.
//! Regenerate it with `OZKCP_BLESS=1 cargo test -p ozkcp-ffi --test header`.

use std::path::PathBuf;

#[test]
fn committed_header_is_fresh() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = dir.join("include/ozkcp.h");
    if std::env::var_os("OZKCP_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write header");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "ffi/include/ozkcp.h is stale: run `OZKCP_BLESS=1 cargo test -p ozkcp-ffi --test header` and commit it"
    );
}
