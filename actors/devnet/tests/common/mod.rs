//! Shared helpers of the devnet tests.
#![allow(dead_code)]

use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::econ::TokenAmount;
use ozkcp_devnet::{Devnet, GenesisConfig, InstalledActor};

/// A fresh devnet in a temporary directory (kept alive by the returned guard).
pub fn devnet() -> (tempfile::TempDir, Devnet) {
    let dir = tempfile::tempdir().unwrap();
    let net = Devnet::open(dir.path(), GenesisConfig::default()).unwrap();
    (dir, net)
}

/// Installs the judge actor.
pub fn install_judge(net: &Devnet) -> InstalledActor {
    net.install_actor(ozkcp_devnet::judge_wasm(), RawBytes::default())
        .unwrap()
}

/// CBOR params.
pub fn params<T: serde::Serialize>(v: &T) -> RawBytes {
    RawBytes::serialize(v).unwrap()
}

/// attoFIL.
pub fn atto(n: u64) -> TokenAmount {
    TokenAmount::from_atto(n)
}

/// Whole FIL.
pub fn fil(n: u64) -> TokenAmount {
    TokenAmount::from_whole(n)
}

/// The judge's escrow state with its invariants checked, and the sum of its balances.
pub fn judge_sum(net: &Devnet, judge: &Address) -> TokenAmount {
    let st: ozkcp_judge::State = net.read_state(judge).unwrap();
    st.check_invariants(net.store()).unwrap();
    let accounts = st.all_accounts(net.store()).unwrap();
    let sum: TokenAmount = accounts.values().map(|a| a.balance.clone()).sum();
    assert_eq!(sum, st.total);
    sum
}
