//! Gadgets: plain functions over a constraint system, each with a native twin.

pub mod bits;
pub mod chacha20;
pub mod poseidon;
pub mod sha256;
