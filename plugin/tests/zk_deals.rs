//! Whole deals in zk mode: real Groth16 proofs (S = 64 B) checked before every payment.

use std::sync::OnceLock;

use ozkcp::driver::{run_deal, ClientFault, DealConfig, ProviderFault};
use ozkcp::fsm::client::ClientStatus as C;
use ozkcp::fsm::provider::ProviderStatus as P;
use ozkcp::zk::{dev_setup, ZkKeys};

fn keys() -> ZkKeys {
    static K: OnceLock<ZkKeys> = OnceLock::new();
    K.get_or_init(|| dev_setup(64).expect("setup")).clone()
}

fn cfg() -> DealConfig {
    DealConfig {
        chunk_size: 64,
        block_size: 128,
        blocks_per_interval: 1,
        zk: Some(keys()),
        ..DealConfig::default()
    }
}

fn data() -> Vec<u8> {
    (0..200u32).map(|i| (i * 7 + 1) as u8).collect()
}

#[test]
fn honest_zk_deal_verifies_every_proof_and_delivers() {
    let o = run_deal(&data(), &cfg(), ProviderFault::None, ClientFault::None);
    assert_eq!(o.client.status, C::Completed, "{}", o.client.message);
    assert_eq!(o.provider.status, P::Completed);
    assert_eq!(o.data.as_deref(), Some(o.original.as_slice()));
    assert_eq!(o.escrow.paid_to_provider, o.escrow.locked);
}

#[test]
fn an_invalid_proof_is_refused_before_paying() {
    let o = run_deal(
        &data(),
        &cfg(),
        ProviderFault::InvalidProof(1),
        ClientFault::None,
    );
    assert_eq!(o.client.status, C::Errored);
    assert!(o.client.message.contains("proof"), "{}", o.client.message);
    // Interval 0 (the root) was paid; interval 1's proof failed: nothing more was paid.
    assert_eq!(o.client.paid, 1);
    assert_eq!(o.keys_revealed, 1);
    assert!(o.data.is_none());
    // The provider redeemed interval 0's voucher; everything else went back to the client.
    assert!(o.escrow.paid_to_provider > ozkcp::core::TokenAmount::from_atto(0));
    assert_eq!(
        o.escrow.paid_to_provider.clone() + o.escrow.returned_to_client.clone(),
        o.escrow.deposit
    );
}
