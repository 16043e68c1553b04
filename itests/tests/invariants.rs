//! The judge's money invariants over random sequences of signed messages: deposits, deals
//! opened and accepted, vouchers redeemed with right or wrong keys, true and false disputes,
//! settlements, withdrawals and passing epochs, from four accounts in every role.
//!
//! After every message: Σ balances in the actor's state = the actor's FIL balance (and the
//! state's own invariants). At the end: every account holds exactly what it was owed — its
//! FIL plus escrow changed only by the pay of its settled deals and the collateral of its
//! slashed ones — and no provider was paid beyond a voucher it redeemed with the right key.

use std::collections::BTreeMap;

use fvm_ipld_encoding::RawBytes;
use fvm_shared::econ::TokenAmount;
use ozkcp_itests::{atto, params, signer, Fixture, Net};
use ozkcp_judge::method;
use ozkcp_judge::types::{DealStatus, LockCollateralParams, LockFundsParams, WithdrawParams};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn money_is_conserved_and_nobody_gets_more_than_owed() {
    let net = Net::new();
    let n = net.net.accounts().len();
    let start: Vec<TokenAmount> = (0..n)
        .map(|i| net.net.balance(&net.key(i).address).unwrap())
        .collect();
    // Six deals over every kind of pair (a party is client in one, provider in another).
    let pairs = [(0, 1), (1, 2), (2, 0), (3, 1), (0, 3), (2, 3)];
    let fixtures: Vec<Fixture> = pairs
        .iter()
        .enumerate()
        .map(|(d, &(c, p))| {
            // Staggered deadlines: some deals expire early, others late in the sequence.
            Fixture::between(&net, c, p, d as u64 + 1, 100 + 40 * d as i64, 15, 300)
        })
        .collect();
    // The highest voucher amount each deal's provider redeemed with the right key.
    let mut redeemed: BTreeMap<u64, TokenAmount> = BTreeMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = BTreeMap::<&str, u32>::new();
    for _ in 0..260 {
        let fi = rng.below(fixtures.len() as u64) as usize;
        let f = &fixtures[fi];
        let (c, p) = pairs[fi];
        let deal_id = fi as u64 + 1;
        let (client, provider) = (net.key(c), net.key(p));
        let intervals = f.bundles.len() as u32;
        let j = rng.below(u64::from(intervals)) as u32;
        let (name, from, m, prm, value) = match rng.below(10) {
            0 | 9 => {
                let who = net.key(rng.below(n as u64) as usize);
                let v = atto(1 + rng.below(900));
                (
                    "AddBalance",
                    who,
                    method::ADD_BALANCE,
                    RawBytes::default(),
                    v,
                )
            }
            1 => {
                let amount = atto(1 + rng.below(f.amount.atto().try_into().unwrap_or(100) * 2));
                let prm = params(&LockFundsParams {
                    terms: f.terms.clone(),
                    amount,
                });
                ("LockFunds", client, method::LOCK_FUNDS, prm, atto(0))
            }
            2 => {
                let prm = params(&LockCollateralParams {
                    client: client.address,
                    deal_id,
                    terms: f.terms.digest().unwrap(),
                });
                (
                    "LockCollateral",
                    provider,
                    method::LOCK_COLLATERAL,
                    prm,
                    atto(0),
                )
            }
            3 | 4 => {
                // The right key most of the time, another interval's key sometimes.
                let key = if rng.below(4) == 0 {
                    f.key((j + 1) % intervals)
                } else {
                    f.key(j)
                };
                let v = f.voucher(j);
                (
                    "RedeemVoucher",
                    provider,
                    method::REDEEM_VOUCHER,
                    f.redeem(&v, key),
                    atto(0),
                )
            }
            5 => {
                // A true fault (a wrong key the provider signed) or consistent evidence.
                let key = if rng.below(2) == 0 {
                    [0x42; 32]
                } else {
                    f.key(j).0
                };
                let ev = f.wrong_key_evidence(j, key, &signer(&provider));
                ("Dispute", client, method::DISPUTE, f.dispute(ev), atto(0))
            }
            6 => {
                let who = net.key(rng.below(n as u64) as usize);
                ("Settle", who, method::SETTLE, f.deal_ref(), atto(0))
            }
            7 => {
                let who = net.key(rng.below(n as u64) as usize);
                let prm = params(&WithdrawParams {
                    amount: atto(1 + rng.below(500)),
                });
                ("Withdraw", who, method::WITHDRAW, prm, atto(0))
            }
            _ => {
                net.net.advance(1 + rng.below(2)).unwrap();
                continue;
            }
        };
        let r = net.call(&from, m, prm, value);
        if r.exit_code.is_success() {
            *ok.entry(name).or_default() += 1;
            if name == "RedeemVoucher" {
                let v = f.voucher(j);
                let e = redeemed.entry(deal_id).or_default();
                if v.amount > *e {
                    *e = v.amount;
                }
            }
        }
        // After every message: Σ balances = the actor's FIL, and the state's invariants.
        net.state();
    }
    // Every kind of message succeeded at least once, so the sequence exercised them all.
    for name in [
        "AddBalance",
        "LockFunds",
        "LockCollateral",
        "RedeemVoucher",
        "Dispute",
        "Settle",
        "Withdraw",
    ] {
        assert!(
            ok.get(name).copied().unwrap_or(0) > 0,
            "no {name} succeeded: {ok:?}"
        );
    }

    // What each account was owed, from the deals' outcomes.
    let st = net.state();
    let store = net.net.store();
    let ids: Vec<u64> = (0..n).map(|i| net.id(i)).collect();
    let mut gain: BTreeMap<u64, TokenAmount> = BTreeMap::new();
    for d in st.all_deals(store).unwrap() {
        let cap = redeemed.get(&d.deal_id).cloned().unwrap_or_default();
        assert!(
            d.paid <= cap,
            "deal {} paid {} beyond {cap}",
            d.deal_id,
            d.paid
        );
        if d.status == DealStatus::Slashed {
            *gain.entry(d.client).or_default() += &d.collateral;
            *gain.entry(d.provider).or_default() -= &d.collateral;
            continue;
        }
        assert_eq!(d.paid, cap, "deal {}: paid what it redeemed", d.deal_id);
        if d.status == DealStatus::Settled {
            // Pay moves at settlement; until then it stays in the client's reserve.
            *gain.entry(d.client).or_default() -= &d.paid;
            *gain.entry(d.provider).or_default() += &d.paid;
        }
    }
    for (i, id) in ids.iter().enumerate() {
        let fil = net.net.balance(&net.key(i).address).unwrap();
        let escrow = st.account(store, *id).unwrap().balance;
        assert_eq!(
            fil + escrow - &start[i],
            gain.get(id).cloned().unwrap_or_default(),
            "account {i} holds other than it was owed"
        );
    }
}
