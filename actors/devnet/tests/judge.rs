//! The judge actor's escrow methods through real signed messages on the devnet.

mod common;

use common::*;
use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::error::ExitCode;
use ozkcp_judge::types::{
    Account, GetAccountParams, GetLockParams, LockFundsParams, LockReturn, WithdrawParams,
};
use ozkcp_judge::{exit, method};

#[test]
fn deposit_lock_withdraw() {
    let (_dir, net) = devnet();
    let judge = install_judge(&net).id_address;
    let acc = net.accounts();
    let (client, p1, p2) = (&acc[0].key, &acc[1].key, &acc[2].key);
    let start = net.balance(&client.address).unwrap();

    // Deposit 100 FIL.
    let r = net
        .call(
            client,
            judge,
            method::ADD_BALANCE,
            RawBytes::default(),
            fil(100),
        )
        .unwrap();
    assert_eq!(r.exit_code, ExitCode::OK, "{:?}", r.error);
    let a: Account = r.return_data.deserialize().unwrap();
    assert_eq!((a.balance, a.locked), (fil(100), fil(0)));
    assert_eq!(net.balance(&judge).unwrap(), fil(100));
    assert_eq!(net.balance(&client.address).unwrap(), &start - fil(100));

    // Lock 60 for provider 1 and 30 for provider 2: one deposit, two providers.
    for (p, deal, amt) in [(p1, 1, 60), (p2, 2, 30)] {
        let r = net
            .call(
                client,
                judge,
                method::LOCK_FUNDS,
                params(&LockFundsParams {
                    provider: p.address,
                    deal_id: deal,
                    amount: fil(amt),
                }),
                fil(0),
            )
            .unwrap();
        assert_eq!(r.exit_code, ExitCode::OK, "{:?}", r.error);
    }
    // No double spending: 10 FIL free, a lock of 11 fails.
    let r = net
        .call(
            client,
            judge,
            method::LOCK_FUNDS,
            params(&LockFundsParams {
                provider: p1.address,
                deal_id: 3,
                amount: fil(11),
            }),
            fil(0),
        )
        .unwrap();
    assert_eq!(r.exit_code, exit::INSUFFICIENT_FUNDS);
    // A deal id stays with its provider.
    let r = net
        .call(
            client,
            judge,
            method::LOCK_FUNDS,
            params(&LockFundsParams {
                provider: p2.address,
                deal_id: 1,
                amount: fil(1),
            }),
            fil(0),
        )
        .unwrap();
    assert_eq!(r.exit_code, exit::ILLEGAL_STATE);
    // The getters.
    let r = net
        .call(
            p1,
            judge,
            method::GET_LOCK,
            params(&GetLockParams {
                client: client.address,
                deal_id: 1,
            }),
            fil(0),
        )
        .unwrap();
    let lock: LockReturn = r.return_data.deserialize().unwrap();
    let lock = lock.unwrap();
    assert_eq!((lock.provider, lock.amount), (acc[1].id, fil(60)));
    let r = net
        .call(
            p1,
            judge,
            method::GET_ACCOUNT,
            params(&GetAccountParams {
                owner: client.address,
            }),
            fil(0),
        )
        .unwrap();
    let a: Account = r.return_data.deserialize().unwrap();
    assert_eq!((a.balance, a.locked), (fil(100), fil(90)));

    // Withdrawing locked funds fails; the free part comes back.
    let r = net
        .call(
            client,
            judge,
            method::WITHDRAW,
            params(&WithdrawParams { amount: fil(11) }),
            fil(0),
        )
        .unwrap();
    assert_eq!(r.exit_code, exit::INSUFFICIENT_FUNDS);
    let before = net.balance(&client.address).unwrap();
    let r = net
        .call(
            client,
            judge,
            method::WITHDRAW,
            params(&WithdrawParams { amount: fil(10) }),
            fil(0),
        )
        .unwrap();
    assert_eq!(r.exit_code, ExitCode::OK, "{:?}", r.error);
    assert_eq!(net.balance(&client.address).unwrap(), before + fil(10));
    assert_eq!(net.balance(&judge).unwrap(), fil(90));
    assert_eq!(judge_sum(&net, &judge), fil(90));
    // Someone with no account withdraws nothing.
    let r = net
        .call(
            p1,
            judge,
            method::WITHDRAW,
            params(&WithdrawParams { amount: atto(1) }),
            fil(0),
        )
        .unwrap();
    assert_eq!(r.exit_code, exit::INSUFFICIENT_FUNDS);
}

#[test]
fn bad_input_is_rejected_with_exit_codes() {
    let (_dir, net) = devnet();
    let judge = install_judge(&net).id_address;
    let acc = net.accounts();
    let c = &acc[0].key;
    let call = |m, p: RawBytes, v| net.call(c, judge, m, p, v).unwrap().exit_code;
    // Malformed CBOR, wrong shape, missing params.
    assert_eq!(
        call(method::LOCK_FUNDS, RawBytes::new(vec![0xff, 0x00]), fil(0)),
        exit::SERIALIZATION
    );
    assert_eq!(
        call(method::WITHDRAW, params(&(1u64, 2u64)), fil(0)),
        exit::SERIALIZATION
    );
    assert_eq!(
        call(method::WITHDRAW, RawBytes::default(), fil(0)),
        exit::SERIALIZATION
    );
    // Zero deposit, negative or zero amounts, value where none is expected.
    assert_eq!(
        call(method::ADD_BALANCE, RawBytes::default(), fil(0)),
        exit::ILLEGAL_ARGUMENT
    );
    assert_eq!(
        call(
            method::WITHDRAW,
            params(&WithdrawParams { amount: fil(0) }),
            fil(0)
        ),
        exit::ILLEGAL_ARGUMENT
    );
    assert_eq!(
        call(
            method::WITHDRAW,
            params(&WithdrawParams { amount: fil(1) }),
            fil(1)
        ),
        exit::ILLEGAL_ARGUMENT
    );
    // Unknown provider, unknown method, constructor from a user.
    let lock = LockFundsParams {
        provider: Address::new_id(9999),
        deal_id: 1,
        amount: atto(1),
    };
    assert_eq!(
        call(method::LOCK_FUNDS, params(&lock), fil(0)),
        exit::NOT_FOUND
    );
    assert_eq!(
        call(12345, RawBytes::default(), fil(0)),
        exit::UNHANDLED_MESSAGE
    );
    assert_eq!(
        call(method::CONSTRUCTOR, RawBytes::default(), fil(0)),
        exit::FORBIDDEN
    );
    // Every failed call left the escrow untouched.
    assert_eq!(judge_sum(&net, &judge), fil(0));
    assert_eq!(net.balance(&judge).unwrap(), fil(0));
}

#[test]
fn balance_invariant_over_random_messages() {
    let (_dir, net) = devnet();
    let judge = install_judge(&net).id_address;
    let acc = net.accounts();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut ok = 0;
    for _ in 0..60 {
        let who = &acc[rnd(4) as usize];
        let amount = atto(1 + rnd(1_000));
        let (m, p, v) = match rnd(3) {
            0 => (method::ADD_BALANCE, RawBytes::default(), amount),
            1 => {
                let prov = &acc[rnd(4) as usize];
                let lp = LockFundsParams {
                    provider: prov.key.address,
                    deal_id: rnd(3),
                    amount,
                };
                (method::LOCK_FUNDS, params(&lp), fil(0))
            }
            _ => (method::WITHDRAW, params(&WithdrawParams { amount }), fil(0)),
        };
        let r = net.call(&who.key, judge, m, p, v).unwrap();
        if r.exit_code.is_success() {
            ok += 1;
        }
        // Σ balances in state == the actor's FIL balance, after every message.
        assert_eq!(judge_sum(&net, &judge), net.balance(&judge).unwrap());
    }
    assert!(ok > 10, "only {ok} calls succeeded");
    // Nobody holds more FIL than it started with minus what is in escrow for it.
    let st: ozkcp_judge::State = net.read_state(&judge).unwrap();
    let accounts = st.all_accounts(net.store()).unwrap();
    for a in &acc {
        let escrow = accounts
            .get(&a.id)
            .map(|x| x.balance.clone())
            .unwrap_or_default();
        assert_eq!(
            net.balance(&a.key.address).unwrap() + escrow,
            fil(1_000_000)
        );
    }
}
