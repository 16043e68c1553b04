//! zk mode of ozkcp.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "prover")]
pub mod gadgets;
