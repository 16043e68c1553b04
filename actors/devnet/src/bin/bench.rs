//! Measures the devnet's throughput: signed messages per second, one epoch per message and in
//! batches, for plain transfers and for judge `AddBalance` calls.
//!
//! `cargo run --release -p ozkcp-devnet --bin devnet-bench -- [messages]`

use std::time::Instant;

use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::econ::TokenAmount;
use fvm_shared::METHOD_SEND;
use ozkcp_devnet::{Devnet, GenesisConfig, Key, SignedMessage};

use ozkcp_judge::method::{self, ADD_BALANCE};
use ozkcp_judge::types::{GetAccountParams, WithdrawParams};

fn signed(
    net: &Devnet,
    from: &Key,
    to: Address,
    method: u64,
    value: u64,
    nonce: u64,
) -> SignedMessage {
    let mut m = net
        .message(
            from,
            to,
            method,
            RawBytes::default(),
            TokenAmount::from_atto(value),
        )
        .expect("message");
    m.sequence = nonce;
    from.sign_message(m)
}

fn run(label: &str, net: &Devnet, to: Address, method: u64, n: u64, batch: u64) {
    let acc = net.accounts();
    let from = &acc[0].key;
    let mut nonce = net.nonce(&from.address).unwrap();
    // Signing is the client's cost, not the chain's: sign first.
    let msgs: Vec<SignedMessage> = (0..n)
        .map(|i| signed(net, from, to, method, 1, nonce + i))
        .collect();
    nonce += n;
    let t = Instant::now();
    let mut gas = 0u64;
    for chunk in msgs.chunks(batch as usize) {
        for r in net.push_batch(chunk.to_vec()).unwrap() {
            let cid = r.expect("accepted");
            let l = net.wait(&cid).unwrap();
            assert!(l.exit_code.is_success(), "{:?}", l.error);
            gas += l.gas_used;
        }
    }
    let dt = t.elapsed();
    assert_eq!(net.nonce(&from.address).unwrap(), nonce);
    println!(
        "{label:<32} {n:>6} msgs  batch {batch:>4}  {:>8.1} msgs/s  {:>8.1} µs/msg  {:>9} gas/msg",
        n as f64 / dt.as_secs_f64(),
        dt.as_secs_f64() * 1e6 / n as f64,
        gas / n
    );
}

/// Gas of the judge's escrow methods, measured once each on a warm devnet (the deal methods are
/// measured by `cargo run --release -p ozkcp-itests --bin judge-gas`).
fn gas_table(net: &Devnet, judge: Address) {
    let acc = net.accounts();
    let client = &acc[2].key;
    let fil = TokenAmount::from_whole;
    let calls: Vec<(&str, u64, RawBytes, TokenAmount)> = vec![
        (
            "AddBalance (new account)",
            ADD_BALANCE,
            RawBytes::default(),
            fil(10),
        ),
        (
            "AddBalance (existing)",
            ADD_BALANCE,
            RawBytes::default(),
            fil(10),
        ),
        (
            "Withdraw",
            method::WITHDRAW,
            cbor(&WithdrawParams { amount: fil(1) }),
            TokenAmount::from_atto(0),
        ),
        (
            "GetAccount",
            method::GET_ACCOUNT,
            cbor(&GetAccountParams {
                owner: client.address,
            }),
            TokenAmount::from_atto(0),
        ),
    ];
    println!("| judge method | gas used |\n|---|---|");
    for (name, m, params, value) in calls {
        let l = net.call(client, judge, m, params, value).unwrap();
        assert!(l.exit_code.is_success(), "{name}: {:?}", l.error);
        println!("| {name} | {} |", l.gas_used);
    }
    let l = net
        .call(
            client,
            acc[0].key.address,
            METHOD_SEND,
            RawBytes::default(),
            fil(1),
        )
        .unwrap();
    println!("| (plain transfer, for scale) | {} |", l.gas_used);
    // Where the gas of one AddBalance goes.
    let m = net
        .message(client, judge, ADD_BALANCE, RawBytes::default(), fil(1))
        .unwrap();
    let r = net.simulate_traced(m).unwrap();
    println!("\nAddBalance gas by charge (total {}):", r.gas_used);
    for (name, gas) in r.gas_by_charge.iter().take(8) {
        println!("  {name:<24} {gas:>10}");
    }
}

/// CBOR params.
fn cbor<T: serde::Serialize>(v: &T) -> RawBytes {
    RawBytes::serialize(v).expect("params encode")
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("messages"))
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("ozkcp-devnet-bench-{}", std::process::id()));
    let net = Devnet::open(&dir, GenesisConfig::default()).unwrap();
    let t = Instant::now();
    let judge = net
        .install_actor(ozkcp_devnet::judge_wasm(), RawBytes::default())
        .unwrap();
    println!("install judge (compile + constructor): {:?}", t.elapsed());
    gas_table(&net, judge.id_address);
    let to = net.accounts()[1].key.address;
    run("transfer, 1 per epoch", &net, to, METHOD_SEND, n, 1);
    run("transfer, batched", &net, to, METHOD_SEND, n * 4, 100);
    run(
        "judge AddBalance, 1 per epoch",
        &net,
        judge.id_address,
        ADD_BALANCE,
        n,
        1,
    );
    run(
        "judge AddBalance, batched",
        &net,
        judge.id_address,
        ADD_BALANCE,
        n * 4,
        100,
    );
    let size = std::fs::metadata(dir.join("chain.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("chain.redb after the run: {} KiB", size / 1024);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}
