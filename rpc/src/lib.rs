//! The ozkcp sidecar: a Lotus-style JSON-RPC server (HTTP and WebSocket at `/rpc/v1`, HS256
//! bearer tokens with read/write/sign/admin permissions) over a persistent deal store, and the
//! clients the `ozkcp` command line uses to call it.
//!
//! - [`repo`]: the repo directory (`jwt-secret`, `api`, `token`, database) and
//!   `OZKCP_API_INFO`.
//! - [`auth`]: permissions and tokens.
//! - [`store`]: deals (FSM states persisted before their actions run), imports, blocks.
//! - [`api`]: the `Ozkcp.*` methods, their permissions, JSON types and OpenRPC document.
//! - [`server`]: the server and its auth middleware.
//! - [`client`]: typed clients for a running sidecar.
//! - [`deals`]: retrievals made and served, each a node of `ozkcp::node` persisted step by step.
//! - [`peer`]: the WebSocket transport between a client and a provider sidecar.
//! - [`chain`]: a Lotus-style node's API (devnet or Lotus) and the judge actor through it.
//! - [`judges`]: each deal's chain operations, signed with the sidecar's key.
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod chain;
pub mod client;
pub mod deals;
pub mod judges;
pub mod peer;
pub mod repo;
pub mod server;
pub mod store;
