//! Keys and proofs on the wire: compressed arkworks encodings, loaded with curve and subgroup
//! checks, and the circuit id that deals name.

use alloc::{format, string::String, vec::Vec};
use ark_bn254::Bn254;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use sha2::{Digest, Sha256};

use crate::error::{Result, ZkError};

/// Groth16 verifying key over BN254.
pub type VerifyingKey = ark_groth16::VerifyingKey<Bn254>;
/// Groth16 proving key over BN254.
pub type ProvingKey = ark_groth16::ProvingKey<Bn254>;
/// Groth16 proof over BN254.
pub type Proof = ark_groth16::Proof<Bn254>;

/// The circuit id: SHA-256 of the compressed verifying key.
pub type CircuitId = [u8; 32];

/// Size of a compressed proof.
pub const PROOF_BYTES: usize = 128;

fn to_bytes<T: CanonicalSerialize>(x: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.compressed_size());
    // Writing into a Vec cannot fail.
    let _ = x.serialize_compressed(&mut out);
    out
}

fn from_bytes<T: CanonicalDeserialize>(bytes: &[u8], what: &'static str) -> Result<T> {
    let mut reader = bytes;
    let x = T::deserialize_with_mode(&mut reader, Compress::Yes, Validate::Yes)
        .map_err(|_| ZkError::Decode(what))?;
    if !reader.is_empty() {
        return Err(ZkError::Decode(what));
    }
    Ok(x)
}

/// The compressed verifying key.
pub fn vk_to_bytes(vk: &VerifyingKey) -> Vec<u8> {
    to_bytes(vk)
}

/// The circuit id of a verifying key.
pub fn circuit_id(vk: &VerifyingKey) -> CircuitId {
    Sha256::digest(vk_to_bytes(vk)).into()
}

fn check_id(got: CircuitId, expected: Option<&CircuitId>) -> Result<()> {
    match expected {
        Some(e) if *e != got => Err(ZkError::CircuitId {
            expected: hex_string(e),
            got: hex_string(&got),
        }),
        _ => Ok(()),
    }
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Load a compressed verifying key (points checked on the curve and in the subgroup); with
/// `expected`, refuse a key whose circuit id differs.
pub fn vk_from_bytes(bytes: &[u8], expected: Option<&CircuitId>) -> Result<VerifyingKey> {
    let vk: VerifyingKey = from_bytes(bytes, "verifying key")?;
    check_id(circuit_id(&vk), expected)?;
    Ok(vk)
}

/// The compressed proof (128 bytes).
pub fn proof_to_bytes(proof: &Proof) -> Vec<u8> {
    to_bytes(proof)
}

/// Load a compressed proof, rejecting wrong lengths, points off the curve or outside the
/// subgroup.
pub fn proof_from_bytes(bytes: &[u8]) -> Result<Proof> {
    if bytes.len() != PROOF_BYTES {
        return Err(ZkError::Decode("proof"));
    }
    from_bytes(bytes, "proof")
}

/// The compressed proving key.
#[cfg(feature = "std")]
pub fn pk_write<W: std::io::Write>(pk: &ProvingKey, w: W) -> Result<()> {
    pk.serialize_compressed(w)
        .map_err(|_| ZkError::Decode("proving key (write)"))
}

/// The compressed proving key as bytes.
pub fn pk_to_bytes(pk: &ProvingKey) -> Vec<u8> {
    to_bytes(pk)
}

/// Load a compressed proving key with curve and subgroup checks, refusing one whose embedded
/// verifying key has another circuit id than `expected`.
pub fn pk_from_bytes(bytes: &[u8], expected: &CircuitId) -> Result<ProvingKey> {
    let pk: ProvingKey = from_bytes(bytes, "proving key")?;
    check_id(circuit_id(&pk.vk), Some(expected))?;
    Ok(pk)
}

/// Load a compressed proving key from a reader (see [`pk_from_bytes`]).
#[cfg(feature = "std")]
pub fn pk_read<R: std::io::Read>(r: R, expected: &CircuitId) -> Result<ProvingKey> {
    let pk = ProvingKey::deserialize_with_mode(r, Compress::Yes, Validate::Yes)
        .map_err(|_| ZkError::Decode("proving key"))?;
    check_id(circuit_id(&pk.vk), Some(expected))?;
    Ok(pk)
}
