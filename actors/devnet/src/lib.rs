//! # ozkcp-devnet
//!
//! A local Filecoin devnet on the real ref-fvm engine (DESIGN §3), for running the ozkcp judge
//! actor without a Lotus node:
//!
//! - genesis from the FVM's dummy builtin-actor manifest (`Manifest::DUMMY_CODES`) with funded
//!   secp256k1 accounts; user actors are installed from Wasm ([`Devnet::install_actor`]); no
//!   builtin actor is ever invoked, gas is free (base fee, fee cap and premium 0);
//! - a mempool's checks on every message: size ≤ 64 KiB, secp256k1 signature over the message's
//!   CID bytes (as Lotus), the sender's exact next nonce, gas limit, balance;
//! - one epoch per push (or batch), executed at once; receipts kept by message CID;
//! - chain state on disk in a directory (`chain.redb`: IPLD blocks, head, tipsets, receipts):
//!   reopening continues from the head;
//! - a Lotus-style JSON-RPC 2.0 subset over HTTP and WebSocket at `/rpc/v1` ([`rpc`]), with a
//!   typed client ([`rpc::FilecoinApiClient`], [`rpc::DevnetApiClient`]);
//! - the judge actor's Wasm, built by this crate's build script ([`judge_wasm`]).
//!
//! ```no_run
//! use ozkcp_devnet::{Devnet, GenesisConfig};
//! let net = Devnet::open("/tmp/devnet", GenesisConfig::default())?;
//! let judge = net.install_actor(ozkcp_devnet::judge_wasm(), Default::default())?;
//! let alice = &net.accounts()[0];
//! # Ok::<(), ozkcp_devnet::DevnetError>(())
//! ```

#![warn(missing_docs)]

mod chain;
mod error;
pub mod json;
pub mod rpc;
mod store;
mod wallet;

pub use chain::{
    ActorInfo, CallResult, Devnet, GenesisAccount, GenesisConfig, InstalledActor, Lookup, Tipset,
    BLOCK_GAS_LIMIT, EPOCH_DURATION_SECONDS, MAX_MESSAGE_SIZE, NETWORK_VERSION,
};
pub use error::DevnetError;
pub use rpc::{serve, RpcServer};
pub use store::ChainStore;
pub use wallet::{
    blake2b_256, message_cid, recover_signer, secp_address, verify, Key, SignedMessage,
};

/// The judge actor (`actors/judge`) built for `wasm32-unknown-unknown` with the `wasm` profile
/// by this crate's build script (or the file named by `OZKCP_JUDGE_WASM` at build time).
pub fn judge_wasm() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/ozkcp_judge.wasm"))
}
