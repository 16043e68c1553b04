//! Measures the gas of every judge method on the devnet (real signed messages, the judge's
//! Wasm) and prints the table kept in `actors/judge/README.md`: every method, every dispute kind
//! at chunk sizes 64 B, 1 KiB, 8 KiB and 16 KiB, and the Groth16 dispute with the registered key.
//!
//! `cargo run --release -p ozkcp-itests --bin judge-gas`

use fvm_ipld_encoding::RawBytes;
use ozkcp_core::evidence::{encode_evidence, proof_digest, Evidence};
use ozkcp_core::statement::ciphertext_digest;
use ozkcp_devnet::Lookup;
use ozkcp_itests::{atto, params, Fixture, Net, Shape};
use ozkcp_judge::method;
use ozkcp_judge::types::{
    DealRef, GetAccountParams, LockCollateralParams, LockFundsParams, RegisterVerifyingKeyParams,
    WithdrawParams,
};

struct Table(Vec<(String, u64, Option<usize>)>);

impl Table {
    fn add(&mut self, name: impl Into<String>, r: &Lookup, bytes: Option<usize>) {
        assert!(r.exit_code.is_success(), "{:?}", r.error);
        self.0.push((name.into(), r.gas_used, bytes));
    }
}

fn shape(chunk: u32) -> Shape {
    // Blocks of four chunks, two blocks per interval, six leaf blocks.
    Shape {
        len: 24 * chunk,
        block: 4 * chunk as usize,
        per_interval: 2,
        chunk,
    }
}

/// The six native dispute kinds on fresh deals of chunk size `chunk`.
fn disputes(net: &Net, t: &mut Table, chunk: u32, first_id: u64) {
    let dispute = |t: &mut Table, f: &Fixture, name: &str, ev: Evidence| {
        let bytes = encode_evidence(&ev).expect("evidence encodes");
        let len = bytes.len();
        f.open_on_chain();
        let r = net.ok(&net.key(0), method::DISPUTE, f.dispute(bytes), atto(0));
        t.add(format!("Dispute ({name}), S = {chunk} B"), &r, Some(len));
    };
    let mut id = first_id;
    let mut fresh = || {
        id += 1;
        Fixture::shaped(net, id, shape(chunk))
    };

    let f = fresh();
    let ev = f.wrong_key_evidence(1, [0x42; 32], &ozkcp_itests::signer(&net.key(1)));
    let ev = ozkcp_core::evidence::decode_evidence(&ev).expect("decodes");
    dispute(t, &f, "wrong key", ev);

    // A chunk that decrypts to other bytes than stated (ciphertext changed, digest restated).
    let mut f = fresh();
    let c = &mut f.bundles[1].chunks[0];
    c.ciphertext[0] ^= 1;
    c.statement.ct_digest = ciphertext_digest(&c.ciphertext);
    f.recommit(1);
    let ct = f.bundles[1].chunks[0].ciphertext.clone();
    let key = ozkcp_core::keys::IntervalKey::from_bytes(f.key(1).0);
    let ev = Evidence::bad_chunk(f.signed_statement(1, 0), ct, key);
    dispute(t, &f, "bad chunk", ev);

    // Consecutive chunks whose chaining values do not meet.
    let mut f = fresh();
    f.bundles[1].chunks[1].statement.h_in.0[0] ^= 1;
    f.recommit(1);
    let ev = Evidence::broken_chain(f.signed_statement(1, 0), f.signed_statement(1, 1));
    dispute(t, &f, "broken chain", ev);

    // A block that does not start at the SHA-256 IV.
    let mut f = fresh();
    f.bundles[1].chunks[0].statement.h_in.0[0] ^= 1;
    f.recommit(1);
    let ev = Evidence::bad_chain_start(f.signed_statement(1, 0));
    dispute(t, &f, "bad chain start", ev);

    // A block whose last chunk does not end at its CID's digest.
    let mut f = fresh();
    let last = f.bundles[1]
        .chunks
        .iter()
        .position(|c| c.statement.is_final())
        .expect("a final chunk");
    f.bundles[1].chunks[last].statement.h_out.0[0] ^= 1;
    f.recommit(1);
    let ev = Evidence::wrong_final_digest(f.signed_statement(1, last));
    dispute(t, &f, "wrong final digest", ev);

    // A statement placed where the layout says another chunk is.
    let mut f = fresh();
    f.bundles[1].chunks[1].statement.offset += u64::from(chunk);
    f.recommit(1);
    let ev = Evidence::bad_layout(f.signed_statement(1, 1));
    dispute(t, &f, "bad layout", ev);
}

fn main() {
    let net = Net::new();
    let mut t = Table(Vec::new());
    let (client, provider) = (net.key(0), net.key(1));

    // The deal lifecycle, one message each.
    let f = Fixture::shaped(&net, 1, shape(64));
    let r = net.ok(
        &client,
        method::ADD_BALANCE,
        RawBytes::default(),
        f.amount.clone(),
    );
    t.add("AddBalance (new account)", &r, None);
    let lock = params(&LockFundsParams {
        terms: f.terms.clone(),
        amount: f.amount.clone(),
    });
    let len = lock.len();
    let r = net.ok(&client, method::LOCK_FUNDS, lock, atto(0));
    t.add("LockFunds (opens the deal; 7 blocks)", &r, Some(len));
    let r = net.ok(
        &provider,
        method::ADD_BALANCE,
        RawBytes::default(),
        atto(1_000),
    );
    t.add("AddBalance (provider collateral)", &r, None);
    let coll = params(&LockCollateralParams {
        client: client.address,
        deal_id: 1,
        terms: f.terms.digest().expect("digest"),
    });
    let r = net.ok(&provider, method::LOCK_COLLATERAL, coll, atto(0));
    t.add("LockCollateral", &r, None);
    let r = net.ok(
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&f.voucher(0), f.key(0)),
        atto(0),
    );
    t.add("RedeemVoucher (first)", &r, None);
    let last = f.bundles.len() as u32 - 1;
    let redeem = f.redeem(&f.voucher(last), f.key(last));
    let traced = net
        .net
        .simulate_traced(
            net.net
                .message(
                    &provider,
                    net.judge,
                    method::REDEEM_VOUCHER,
                    redeem,
                    atto(0),
                )
                .expect("message"),
        )
        .expect("simulates");
    eprintln!("RedeemVoucher gas by charge (total {}):", traced.gas_used);
    for (name, gas) in traced.gas_by_charge.iter().take(10) {
        eprintln!("  {name:<28} {gas:>10}");
    }
    let r = net.ok(
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&f.voucher(last), f.key(last)),
        atto(0),
    );
    t.add("RedeemVoucher (final)", &r, None);
    let deal_ref = params(&DealRef {
        client: client.address,
        deal_id: 1,
    });
    let r = net.ok(&client, method::GET_DEAL, deal_ref.clone(), atto(0));
    t.add("GetDeal", &r, None);
    let deal = net.deal(net.id(0), 1).expect("deal");
    net.net
        .advance((deal.dispute_deadline + 1 - net.net.epoch() as i64) as u64)
        .expect("epochs pass");
    let r = net.ok(&provider, method::SETTLE, deal_ref, atto(0));
    t.add("Settle", &r, None);
    let r = net.ok(
        &provider,
        method::WITHDRAW,
        params(&WithdrawParams { amount: atto(100) }),
        atto(0),
    );
    t.add("Withdraw", &r, None);
    let r = net.ok(
        &provider,
        method::GET_ACCOUNT,
        params(&GetAccountParams {
            owner: provider.address,
        }),
        atto(0),
    );
    t.add("GetAccount", &r, None);

    // Every native dispute kind, at three chunk sizes.
    for (i, chunk) in [64u32, 1024, 8192, 16384].into_iter().enumerate() {
        disputes(&net, &mut t, chunk, 100 * (i as u64 + 1));
    }

    // Redeem again with many deals in state: the cost must not grow with the accounts.
    let deals = net.state().all_deals(net.net.store()).expect("deals").len();
    let f = Fixture::shaped(&net, 50, shape(64));
    f.open_on_chain();
    let r = net.ok(
        &provider,
        method::REDEEM_VOUCHER,
        f.redeem(&f.voucher(0), f.key(0)),
        atto(0),
    );
    t.add(
        format!("RedeemVoucher ({} deals in state)", deals + 1),
        &r,
        None,
    );

    // zk: register the key, then an invalid proof verified inside the actor.
    let keys = ozkcp::zk::dev_setup(64).expect("setup");
    let r = net.ok(
        &net.key(2),
        method::REGISTER_VERIFYING_KEY,
        params(&RegisterVerifyingKeyParams {
            vk: keys.verifier.verifying_key_bytes(),
        }),
        atto(0),
    );
    t.add("RegisterVerifyingKey", &r, None);
    let mut f = Fixture::zk(&net, 900, &keys);
    let b = &mut f.bundles[1];
    let other = b.chunks[1].proof.clone();
    b.chunks[0].statement.proof_digest = other.as_ref().map(|p| proof_digest(p));
    b.chunks[0].proof = other;
    f.recommit(1);
    let c = &f.bundles[1].chunks[0];
    let ev = Evidence::invalid_proof(
        f.signed_statement(1, 0),
        c.ciphertext.clone(),
        c.proof.clone().expect("proof").to_vec(),
    );
    let bytes = encode_evidence(&ev).expect("encodes");
    let len = bytes.len();
    f.open_on_chain();
    let r = net.ok(&client, method::DISPUTE, f.dispute(bytes), atto(0));
    t.add("Dispute (invalid Groth16 proof), S = 64 B", &r, Some(len));

    println!("| method | gas used | params / evidence bytes |\n|---|---:|---:|");
    for (name, gas, bytes) in &t.0 {
        let b = bytes.map_or(String::new(), |b| b.to_string());
        println!("| {name} | {gas} | {b} |");
    }
}
