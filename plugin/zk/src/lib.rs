//! zk mode of ozkcp.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod native;
pub mod packing;
pub mod types;

#[cfg(feature = "prover")]
pub mod circuit;
#[cfg(feature = "prover")]
pub mod gadgets;
