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

/// Lower-case hex of bytes (circuit ids in messages and files).
pub fn hex_string(b: &[u8]) -> String {
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

/// File names in a parameter directory ([`write_params_dir`]).
#[cfg(feature = "std")]
pub mod files {
    /// The shape and circuit id (JSON).
    pub const CIRCUIT: &str = "circuit.json";
    /// The compressed proving key.
    pub const PROVING_KEY: &str = "proving_key.bin";
    /// The compressed verifying key.
    pub const VERIFYING_KEY: &str = "verifying_key.bin";
}

/// What `circuit.json` of a parameter directory holds.
#[cfg(feature = "std")]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParamsManifest {
    /// The circuit's shape.
    pub shape: crate::types::CircuitShape,
    /// Hex of the circuit id (SHA-256 of the compressed verifying key).
    pub circuit_id: String,
}

#[cfg(feature = "std")]
fn io_err(path: &std::path::Path, e: impl core::fmt::Display) -> ZkError {
    ZkError::Io(format!("{}: {e}", path.display()))
}

/// Write a parameter directory: `circuit.json`, `proving_key.bin`, `verifying_key.bin`. Returns
/// the circuit id.
#[cfg(feature = "std")]
pub fn write_params_dir(
    dir: &std::path::Path,
    shape: crate::types::CircuitShape,
    pk: &ProvingKey,
) -> Result<CircuitId> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let id = circuit_id(&pk.vk);
    let path = dir.join(files::PROVING_KEY);
    let f = std::fs::File::create(&path).map_err(|e| io_err(&path, e))?;
    let mut w = std::io::BufWriter::new(f);
    pk_write(pk, &mut w)?;
    std::io::Write::flush(&mut w).map_err(|e| io_err(&path, e))?;
    let path = dir.join(files::VERIFYING_KEY);
    std::fs::write(&path, vk_to_bytes(&pk.vk)).map_err(|e| io_err(&path, e))?;
    let manifest = ParamsManifest {
        shape,
        circuit_id: hex_string(&id),
    };
    let path = dir.join(files::CIRCUIT);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| io_err(&path, e))?;
    std::fs::write(&path, json).map_err(|e| io_err(&path, e))?;
    Ok(id)
}

/// Read `circuit.json` of a parameter directory.
#[cfg(feature = "std")]
pub fn read_params_manifest(dir: &std::path::Path) -> Result<(ParamsManifest, CircuitId)> {
    let path = dir.join(files::CIRCUIT);
    let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
    let m: ParamsManifest = serde_json::from_slice(&bytes).map_err(|e| io_err(&path, e))?;
    crate::types::CircuitShape::new(m.shape.chunk_size, m.shape.link)?;
    let mut id = [0u8; 32];
    if m.circuit_id.len() != 64 {
        return Err(io_err(&path, "circuit_id is not 32 bytes of hex"));
    }
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&m.circuit_id[2 * i..2 * i + 2], 16)
            .map_err(|e| io_err(&path, e))?;
    }
    Ok((m, id))
}

/// Read the verifying key of a parameter directory, refusing one whose id differs from
/// `circuit.json`'s.
#[cfg(feature = "std")]
pub fn read_params_vk(dir: &std::path::Path) -> Result<(ParamsManifest, VerifyingKey)> {
    let (m, id) = read_params_manifest(dir)?;
    let path = dir.join(files::VERIFYING_KEY);
    let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
    Ok((m, vk_from_bytes(&bytes, Some(&id))?))
}

/// Read the proving key of a parameter directory (with curve and subgroup checks), refusing one
/// whose id differs from `circuit.json`'s.
#[cfg(feature = "std")]
pub fn read_params_pk(dir: &std::path::Path) -> Result<(ParamsManifest, ProvingKey)> {
    let (m, id) = read_params_manifest(dir)?;
    let path = dir.join(files::PROVING_KEY);
    let f = std::fs::File::open(&path).map_err(|e| io_err(&path, e))?;
    Ok((m, pk_read(std::io::BufReader::new(f), &id)?))
}
