//! Evidence of provider faults: building it from signed pieces, and judging it.

use ozkcp_core::deal::DealTerms;
use ozkcp_core::evidence::{
    decode_evidence, encode_evidence, verify_evidence, Evidence, NoProofVerifier, SignedKeyReveal,
    SignedStatement,
};
use ozkcp_core::keys::IntervalKey;
use ozkcp_core::sig::Secp256k1;
use ozkcp_core::statement::SignedIntervalCommitment;
use serde::Serialize;

use crate::abi::{bytes, bytes32, call, FfiError, OzkcpBytesResult};
use crate::handle::{with_opt_params, OzkcpHandle};
use crate::json::{decode, invalid, rejected, to_json};

/// Evidence kind numbers, as on the wire (`ozkcp_core::evidence`).
pub const OZKCP_EVIDENCE_WRONG_KEY: u8 = 0;
/// A `zk` chunk proof that does not verify.
pub const OZKCP_EVIDENCE_INVALID_PROOF: u8 = 1;
/// A chunk that decrypts to bytes contradicting its statement.
pub const OZKCP_EVIDENCE_BAD_CHUNK: u8 = 2;
/// Two consecutive statements whose chaining values do not meet.
pub const OZKCP_EVIDENCE_BROKEN_CHAIN: u8 = 3;
/// A block's first statement not starting at the SHA-256 IV.
pub const OZKCP_EVIDENCE_BAD_CHAIN_START: u8 = 4;
/// A block's final statement not reaching the manifest's CID.
pub const OZKCP_EVIDENCE_WRONG_FINAL_DIGEST: u8 = 5;
/// A statement contradicting the deal layout.
pub const OZKCP_EVIDENCE_BAD_LAYOUT: u8 = 6;

fn encode(e: &Evidence) -> Result<Vec<u8>, FfiError> {
    encode_evidence(e).map_err(invalid)
}

/// Wrong-key evidence (CBOR) from a signed commitment (CBOR) and a signed key reveal (CBOR).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_evidence_wrong_key(
    commitment_ptr: *const u8,
    commitment_len: usize,
    reveal_ptr: *const u8,
    reveal_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let c: SignedIntervalCommitment = decode(commitment_ptr, commitment_len, "commitment")?;
        let r: SignedKeyReveal = decode(reveal_ptr, reveal_len, "key reveal")?;
        encode(&Evidence::wrong_key(c, r))
    })
}

/// Bad-chunk evidence from a signed statement (CBOR), the chunk's ciphertext and the key
/// (32 bytes) that opens its interval's lock.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_evidence_bad_chunk(
    statement_ptr: *const u8,
    statement_len: usize,
    ciphertext_ptr: *const u8,
    ciphertext_len: usize,
    key_ptr: *const u8,
    key_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let s: SignedStatement = decode(statement_ptr, statement_len, "signed statement")?;
        let ct = bytes(ciphertext_ptr, ciphertext_len, "ciphertext")?.to_vec();
        let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
        encode(&Evidence::bad_chunk(s, ct, key))
    })
}

/// Invalid-proof evidence from a signed statement (CBOR), the ciphertext and the proof bytes.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_evidence_invalid_proof(
    statement_ptr: *const u8,
    statement_len: usize,
    ciphertext_ptr: *const u8,
    ciphertext_len: usize,
    proof_ptr: *const u8,
    proof_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let s: SignedStatement = decode(statement_ptr, statement_len, "signed statement")?;
        let ct = bytes(ciphertext_ptr, ciphertext_len, "ciphertext")?.to_vec();
        let proof = bytes(proof_ptr, proof_len, "proof")?.to_vec();
        encode(&Evidence::invalid_proof(s, ct, proof))
    })
}

/// Broken-chain evidence from two consecutive signed statements (CBOR) of one block.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_evidence_broken_chain(
    first_ptr: *const u8,
    first_len: usize,
    second_ptr: *const u8,
    second_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let a: SignedStatement = decode(first_ptr, first_len, "first signed statement")?;
        let b: SignedStatement = decode(second_ptr, second_len, "second signed statement")?;
        encode(&Evidence::broken_chain(a, b))
    })
}

/// Single-statement evidence of `kind` (`OZKCP_EVIDENCE_BAD_CHAIN_START`,
/// `OZKCP_EVIDENCE_WRONG_FINAL_DIGEST` or `OZKCP_EVIDENCE_BAD_LAYOUT`) from a signed statement.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_evidence_statement(
    kind: u8,
    statement_ptr: *const u8,
    statement_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let s: SignedStatement = decode(statement_ptr, statement_len, "signed statement")?;
        encode(&match kind {
            OZKCP_EVIDENCE_BAD_CHAIN_START => Evidence::bad_chain_start(s),
            OZKCP_EVIDENCE_WRONG_FINAL_DIGEST => Evidence::wrong_final_digest(s),
            OZKCP_EVIDENCE_BAD_LAYOUT => Evidence::bad_layout(s),
            k => {
                return Err(FfiError::invalid(format!(
                    "evidence kind {k} does not rest on one statement"
                )))
            }
        })
    })
}

#[derive(Serialize)]
struct FaultJson {
    kind: u8,
    interval: u32,
    chunk: Option<u64>,
}

/// Judges evidence (CBOR) against deal terms (CBOR) with the judge's own function: the fault
/// it proves as JSON `{"kind", "interval", "chunk"}`, or `OZKCP_ERR_REJECTED` with why it proves
/// none. Invalid-proof evidence is judged with the Groth16 verifying key in `params` (zk
/// parameters of the deal's circuit, without the chain link); with null `params`, or
/// parameters of another circuit, it is rejected as unjudgeable. Other evidence needs no
/// parameters.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_evidence_verify(
    terms_ptr: *const u8,
    terms_len: usize,
    evidence_ptr: *const u8,
    evidence_len: usize,
    params: *const OzkcpHandle,
) -> *mut OzkcpBytesResult {
    call(|| {
        let terms: DealTerms = decode(terms_ptr, terms_len, "deal terms")?;
        let e = decode_evidence(bytes(evidence_ptr, evidence_len, "evidence")?).map_err(invalid)?;
        let fault = with_opt_params(params, |p| match p {
            Some(p) => verify_evidence(&terms, &e, &Secp256k1, p.verifier()?).map_err(rejected),
            None => verify_evidence(&terms, &e, &Secp256k1, &NoProofVerifier).map_err(rejected),
        })?;
        to_json(&FaultJson {
            kind: fault.kind() as u8,
            interval: fault.interval(),
            chunk: fault.chunk(),
        })
    })
}

#[derive(Serialize)]
struct RevealJson {
    deal_id: u64,
    interval: u32,
    #[serde(with = "crate::json::b64")]
    terms: Vec<u8>,
    #[serde(with = "crate::json::b64")]
    key: Vec<u8>,
}

/// Opens a provider's signed key reveal (CBOR) after checking its signature against the
/// provider (address bytes): JSON `{"deal_id", "interval", "terms", "key"}` (bytes in base64).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_key_reveal_open(
    reveal_ptr: *const u8,
    reveal_len: usize,
    provider_ptr: *const u8,
    provider_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let r: SignedKeyReveal = decode(reveal_ptr, reveal_len, "key reveal")?;
        let provider = crate::voucher::address(provider_ptr, provider_len, "provider")?;
        r.verify_signature(&provider, &Secp256k1)
            .map_err(rejected)?;
        to_json(&RevealJson {
            deal_id: r.reveal.deal_id,
            interval: r.reveal.interval,
            terms: r.reveal.terms.0.to_vec(),
            key: r.reveal.key.expose().to_vec(),
        })
    })
}
