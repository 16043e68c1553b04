//! `zk` mode: Groth16 parameters (handles), proving and verifying chunk proofs, bytes in and out.
//!
//! The public statement of a chunk crosses as the JSON of `ozkcp_zk::ChunkPublic`, the proof as
//! its 128-byte compressed encoding, keys as their compressed arkworks encodings: the ABI does
//! not depend on how the circuit packs its public input.
//!
//! Parameters of circuits without the chain link (the ones deals use) also hold the plugin's
//! [`ZkVerifier`] and [`ZkProver`]: provider and client deals and the judge's evidence check
//! take them from the same handle.

use std::sync::Arc;

use ozkcp::zk::{ZkProver, ZkVerifier};
use ozkcp_zk::{
    circuit_id, pk_from_bytes, pk_to_bytes, proof_from_bytes, proof_to_bytes, vk_from_bytes,
    vk_to_bytes, ChunkProver, ChunkPublic, ChunkWitness, CircuitShape, PreparedKey,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::abi::{
    bytes, bytes32, call, FfiError, OzkcpBytesResult, OzkcpHandleResult, OzkcpPairResult,
    OzkcpStatusResult,
};
use crate::handle::{register, with_params, Object, OzkcpHandle};
use crate::json::{decode_json, invalid, rejected};

/// Loaded parameters of one circuit: the prepared verifying key, and the prover when a proving
/// key was given.
pub struct ZkParams {
    key: PreparedKey,
    /// The plugin's verifier (deals, the judge): circuits without the chain link only.
    verifier: Option<ZkVerifier>,
    prover: Option<Prover>,
}

/// One prover per handle, whichever kind the circuit allows.
enum Prover {
    /// Circuits without the chain link: the plugin's prover, shared with provider deals.
    Deal(Arc<ZkProver>),
    /// Circuits with the chain link (no deal uses them yet): the bare chunk prover.
    Linked(Box<ChunkProver>),
}

impl ZkParams {
    fn chunk_prover(&self) -> Result<&ChunkProver, FfiError> {
        match &self.prover {
            Some(Prover::Deal(p)) => Ok(p.chunk_prover()),
            Some(Prover::Linked(p)) => Ok(p),
            None => Err(FfiError::invalid(
                "parameters were loaded without a proving key",
            )),
        }
    }

    /// The verifier a client deal or the judge's check uses.
    pub(crate) fn verifier(&self) -> Result<&ZkVerifier, FfiError> {
        self.verifier.as_ref().ok_or_else(|| {
            FfiError::invalid("deals use circuits without the chain link; these parameters have it")
        })
    }

    /// The prover a provider deal uses.
    pub(crate) fn deal_prover(&self) -> Result<Arc<ZkProver>, FfiError> {
        match &self.prover {
            Some(Prover::Deal(p)) => Ok(p.clone()),
            Some(Prover::Linked(_)) => Err(FfiError::invalid(
                "deals use circuits without the chain link; these parameters have it",
            )),
            None => Err(FfiError::invalid(
                "parameters were loaded without a proving key",
            )),
        }
    }
}

fn shape(chunk_size: u32, link: bool) -> Result<CircuitShape, FfiError> {
    CircuitShape::new(chunk_size as usize, link).map_err(invalid)
}

/// Single-party Groth16 setup for a circuit shape (**devnets and tests only**: whoever runs it
/// can forge proofs). With a 32-byte `seed` it is deterministic. First value: the compressed
/// proving key; second: the compressed verifying key.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_zk_setup(
    chunk_size: u32,
    link: bool,
    seed_ptr: *const u8,
    seed_len: usize,
) -> *mut OzkcpPairResult {
    call(|| {
        let shape = shape(chunk_size, link)?;
        let mut rng = if seed_ptr.is_null() && seed_len == 0 {
            StdRng::from_entropy()
        } else {
            StdRng::from_seed(bytes32(seed_ptr, seed_len, "seed")?)
        };
        let (pk, vk) = ozkcp_zk::setup(shape, &mut rng).map_err(invalid)?;
        Ok((pk_to_bytes(&pk), vk_to_bytes(&vk)))
    })
}

/// Loads parameters for a circuit shape: the compressed verifying key, optionally the proving
/// key (`pk_len` 0: verify only) and the expected circuit id (32 bytes; `id_len` 0: any).
/// Points are checked on the curve and in the subgroup. Thread-safe: one handle serves
/// concurrent proofs and verifications, and any number of deals. Parameters without the chain
/// link (`link` false) also serve provider deals (with a proving key), client deals and
/// `ozkcp_evidence_verify`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_zk_params_load(
    chunk_size: u32,
    link: bool,
    vk_ptr: *const u8,
    vk_len: usize,
    pk_ptr: *const u8,
    pk_len: usize,
    id_ptr: *const u8,
    id_len: usize,
) -> *mut OzkcpHandleResult {
    call(|| {
        let shape = shape(chunk_size, link)?;
        let expected = if id_len == 0 && id_ptr.is_null() {
            None
        } else {
            Some(bytes32(id_ptr, id_len, "circuit id")?)
        };
        let vk = vk_from_bytes(bytes(vk_ptr, vk_len, "verifying key")?, expected.as_ref())
            .map_err(invalid)?;
        let key = PreparedKey::new(shape, &vk).map_err(invalid)?;
        let verifier = if link {
            None
        } else {
            Some(ZkVerifier::new(chunk_size, &vk).map_err(invalid)?)
        };
        let pk_bytes = bytes(pk_ptr, pk_len, "proving key")?;
        let prover = if pk_bytes.is_empty() {
            None
        } else {
            let pk = pk_from_bytes(pk_bytes, &circuit_id(&vk)).map_err(invalid)?;
            Some(if link {
                Prover::Linked(Box::new(ChunkProver::new(shape, pk).map_err(invalid)?))
            } else {
                Prover::Deal(Arc::new(ZkProver::new(chunk_size, pk).map_err(invalid)?))
            })
        };
        Ok(register(Object::Params(Box::new(ZkParams {
            key,
            verifier,
            prover,
        }))))
    })
}

/// The circuit id (SHA-256 of the compressed verifying key) of loaded parameters.
///
/// # Safety
/// `params` is looked up, not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_zk_circuit_id(params: *const OzkcpHandle) -> *mut OzkcpBytesResult {
    call(|| with_params(params, |p| Ok(p.key.circuit_id().to_vec())))
}

/// Proves one chunk: its public statement (JSON), the interval key (32 bytes) and the
/// plaintext. Returns the 128-byte proof. Needs parameters loaded with a proving key.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_zk_prove(
    params: *const OzkcpHandle,
    public_ptr: *const u8,
    public_len: usize,
    key_ptr: *const u8,
    key_len: usize,
    plaintext_ptr: *const u8,
    plaintext_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let public: ChunkPublic = decode_json(public_ptr, public_len, "chunk public")?;
        let witness = ChunkWitness {
            key: bytes32(key_ptr, key_len, "key")?,
            plaintext: bytes(plaintext_ptr, plaintext_len, "plaintext")?.to_vec(),
        };
        with_params(params, |p| {
            let proof = ozkcp_zk::prove_chunk(
                p.chunk_prover()?,
                &public,
                &witness,
                &mut StdRng::from_entropy(),
            )
            .map_err(rejected)?;
            Ok(proof_to_bytes(&proof))
        })
    })
}

/// Verifies one chunk proof (128 bytes) for its public statement (JSON).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_zk_verify(
    params: *const OzkcpHandle,
    public_ptr: *const u8,
    public_len: usize,
    proof_ptr: *const u8,
    proof_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let public: ChunkPublic = decode_json(public_ptr, public_len, "chunk public")?;
        let proof = proof_from_bytes(bytes(proof_ptr, proof_len, "proof")?).map_err(invalid)?;
        with_params(params, |p| {
            ozkcp_zk::verify_chunk(&p.key, &public, &proof).map_err(|e| match e {
                ozkcp_zk::ZkError::InvalidProof => rejected(e),
                e => invalid(e),
            })
        })
    })
}

/// Verifies many chunk proofs of one circuit at once: a JSON array of public statements and
/// the proofs concatenated (128 bytes each, same order). Fails if any proof is invalid.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_zk_verify_batch(
    params: *const OzkcpHandle,
    publics_ptr: *const u8,
    publics_len: usize,
    proofs_ptr: *const u8,
    proofs_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let publics: Vec<ChunkPublic> = decode_json(publics_ptr, publics_len, "chunk publics")?;
        let proofs = bytes(proofs_ptr, proofs_len, "proofs")?;
        let n = ozkcp_zk::params::PROOF_BYTES;
        if publics.is_empty() || proofs.len() != publics.len() * n {
            return Err(FfiError::invalid(format!(
                "{} statements need {} proof bytes, got {}",
                publics.len(),
                publics.len() * n,
                proofs.len()
            )));
        }
        let items = publics
            .into_iter()
            .zip(proofs.chunks_exact(n))
            .map(|(p, b)| Ok((p, proof_from_bytes(b).map_err(invalid)?)))
            .collect::<Result<Vec<_>, FfiError>>()?;
        with_params(params, |p| {
            ozkcp_zk::verify_batch(&p.key, &items).map_err(|e| match e {
                ozkcp_zk::ZkError::InvalidProof => rejected(e),
                e => invalid(e),
            })
        })
    })
}
