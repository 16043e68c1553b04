//! The data path: interval keys and locks, chunking, ChaCha20, statements and Merkle commitments.

use ozkcp_core::bytes::Bytes32;
use ozkcp_core::chunk::{chain_block, ChunkSize};
use ozkcp_core::cipher::apply_chunk_keystream;
use ozkcp_core::encoding::to_cbor;
use ozkcp_core::keys::{IntervalKey, KeyChain};
use ozkcp_core::merkle::{MerkleProof, MerkleTree};
use ozkcp_core::statement::{
    check_ciphertext, ciphertext_digest, IntervalCommitment, SignedIntervalCommitment, Statement,
};
use serde::Serialize;

use crate::abi::{
    bytes, bytes32, call, FfiError, OzkcpBytesResult, OzkcpPairResult, OzkcpStatusResult,
};
use crate::handle::{with_signer, OzkcpHandle};
use crate::json::{b64, decode, invalid, rejected, to_json};

/// Builds the key chain of `intervals` keys ending at `last_key` (32 bytes), or at a fresh
/// random key when `last_key_len` is 0. First value: the keys `K_0 … K_{n-1}` (32 bytes each);
/// second: their locks `SHA256(K_j)`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_key_chain(
    last_key_ptr: *const u8,
    last_key_len: usize,
    intervals: u32,
) -> *mut OzkcpPairResult {
    call(|| {
        if intervals == 0 {
            return Err(FfiError::invalid("a key chain needs at least one interval"));
        }
        let chain = if last_key_len == 0 && last_key_ptr.is_null() {
            KeyChain::random(intervals as usize)
        } else {
            let last = bytes32(last_key_ptr, last_key_len, "last key")?;
            KeyChain::from_last(IntervalKey::from_bytes(last), intervals as usize)
        };
        let mut keys = Vec::with_capacity(32 * chain.len());
        for j in 0..chain.len() {
            keys.extend_from_slice(chain.key(j).map_err(invalid)?.expose());
        }
        let locks: Vec<u8> = chain.locks().iter().flat_map(|l| l.0).collect();
        Ok((keys, locks))
    })
}

/// The lock `SHA256(K)` of a 32-byte key.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_key_lock(
    key_ptr: *const u8,
    key_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
        Ok(key.lock().0.to_vec())
    })
}

/// Given `K_j`, the keys `K_0 … K_j` (32 bytes each, in order).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_key_with_earlier(
    key_ptr: *const u8,
    key_len: usize,
    j: u32,
) -> *mut OzkcpBytesResult {
    call(|| {
        let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
        Ok(key
            .with_earlier(j as usize)
            .iter()
            .flat_map(|k| *k.expose())
            .collect())
    })
}

/// Checks in constant time that the key opens the lock (`OZKCP_ERR_REJECTED` if not).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_key_opens(
    key_ptr: *const u8,
    key_len: usize,
    lock_ptr: *const u8,
    lock_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
        let lock = Bytes32(bytes32(lock_ptr, lock_len, "lock")?);
        key.opens(&lock).map_err(rejected)
    })
}

#[derive(Serialize)]
struct SpanJson {
    offset: u64,
    len: u32,
    is_final: bool,
    #[serde(with = "b64")]
    h_in: Vec<u8>,
    #[serde(with = "b64")]
    h_out: Vec<u8>,
}

/// Cuts a block into chunks of `chunk_size` bytes and chains them: a JSON array of
/// `{"offset", "len", "is_final", "h_in", "h_out"}` (chaining values in base64).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_chain_block(
    block_ptr: *const u8,
    block_len: usize,
    chunk_size: u32,
) -> *mut OzkcpBytesResult {
    call(|| {
        let block = bytes(block_ptr, block_len, "block")?;
        let size = ChunkSize::new(chunk_size).map_err(invalid)?;
        let spans: Vec<SpanJson> = chain_block(block, size)
            .into_iter()
            .map(|(s, c)| SpanJson {
                offset: s.offset,
                len: s.len,
                is_final: s.is_final,
                h_in: c.h_in.0.to_vec(),
                h_out: c.h_out.0.to_vec(),
            })
            .collect();
        to_json(&spans)
    })
}

unsafe fn keystream_copy(
    key_ptr: *const u8,
    key_len: usize,
    index: u64,
    in_ptr: *const u8,
    in_len: usize,
) -> Result<Vec<u8>, FfiError> {
    let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
    let mut buf = bytes(in_ptr, in_len, "chunk")?.to_vec();
    apply_chunk_keystream(&key, index, &mut buf);
    Ok(buf)
}

/// Encrypts chunk `index` under `key`: `ChaCha20(K, nonce = index, plaintext)`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_encrypt_chunk(
    key_ptr: *const u8,
    key_len: usize,
    index: u64,
    plaintext_ptr: *const u8,
    plaintext_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| keystream_copy(key_ptr, key_len, index, plaintext_ptr, plaintext_len))
}

/// Decrypts chunk `index` under `key`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_decrypt_chunk(
    key_ptr: *const u8,
    key_len: usize,
    index: u64,
    ciphertext_ptr: *const u8,
    ciphertext_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| keystream_copy(key_ptr, key_len, index, ciphertext_ptr, ciphertext_len))
}

/// Encrypts or decrypts chunk `index` in the caller's buffer (ChaCha20 is its own inverse): no
/// copy crosses the boundary.
///
/// # Safety
/// `buf_ptr`/`buf_len` describe writable memory that no other thread touches during the call.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_chunk_keystream_in_place(
    key_ptr: *const u8,
    key_len: usize,
    index: u64,
    buf_ptr: *mut u8,
    buf_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
        if buf_ptr.is_null() {
            if buf_len == 0 {
                return Ok(());
            }
            return Err(FfiError::invalid("buffer: null pointer with a length"));
        }
        if buf_len > isize::MAX as usize {
            return Err(FfiError::invalid("buffer: length too large"));
        }
        let buf = std::slice::from_raw_parts_mut(buf_ptr, buf_len);
        apply_chunk_keystream(&key, index, buf);
        Ok(())
    })
}

/// The statement digest of a ciphertext (BLAKE3-256, 32 bytes).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_ciphertext_digest(
    ciphertext_ptr: *const u8,
    ciphertext_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let ct = bytes(ciphertext_ptr, ciphertext_len, "ciphertext")?;
        Ok(ciphertext_digest(ct).0.to_vec())
    })
}

/// The Merkle leaf hash of a statement (CBOR), 32 bytes.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_statement_leaf(
    statement_ptr: *const u8,
    statement_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let s: Statement = decode(statement_ptr, statement_len, "statement")?;
        Ok(s.leaf().map_err(invalid)?.0.to_vec())
    })
}

unsafe fn tree(leaves_ptr: *const u8, leaves_len: usize) -> Result<MerkleTree, FfiError> {
    let leaves = bytes(leaves_ptr, leaves_len, "leaves")?;
    if leaves.is_empty() || leaves.len() % 32 != 0 || leaves.len() / 32 > u32::MAX as usize {
        return Err(FfiError::invalid(format!(
            "leaves: {} bytes is not a positive multiple of 32",
            leaves.len()
        )));
    }
    Ok(MerkleTree::new(
        leaves
            .chunks_exact(32)
            .map(|c| Bytes32(c.try_into().expect("32-byte chunks")))
            .collect(),
    ))
}

/// The Merkle root over leaf hashes (concatenated, 32 bytes each).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_merkle_root(
    leaves_ptr: *const u8,
    leaves_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| Ok(tree(leaves_ptr, leaves_len)?.root().0.to_vec()))
}

/// The inclusion proof (CBOR `MerkleProof`) of leaf `position` among the leaf hashes.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_merkle_proof(
    leaves_ptr: *const u8,
    leaves_len: usize,
    position: u32,
) -> *mut OzkcpBytesResult {
    call(|| {
        let proof = tree(leaves_ptr, leaves_len)?
            .proof(position)
            .map_err(invalid)?;
        to_cbor(&proof).map_err(invalid)
    })
}

/// Checks a Merkle proof (CBOR) from a leaf hash to a root (`OZKCP_ERR_REJECTED` if it fails).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_merkle_verify(
    proof_ptr: *const u8,
    proof_len: usize,
    leaf_ptr: *const u8,
    leaf_len: usize,
    root_ptr: *const u8,
    root_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let proof: MerkleProof = decode(proof_ptr, proof_len, "merkle proof")?;
        let leaf = Bytes32(bytes32(leaf_ptr, leaf_len, "leaf")?);
        let root = Bytes32(bytes32(root_ptr, root_len, "root")?);
        proof.verify(&leaf, &root).map_err(rejected)
    })
}

/// Builds and signs an interval commitment of the deal (its id and terms digest, see
/// `ozkcp_deal_terms_digest`) over the statements' leaf hashes (concatenated):
/// the CBOR `SignedIntervalCommitment`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_commitment_sign(
    signer: *const OzkcpHandle,
    deal_id: u64,
    terms_digest_ptr: *const u8,
    terms_digest_len: usize,
    interval: u32,
    first_chunk: u64,
    lock_ptr: *const u8,
    lock_len: usize,
    leaves_ptr: *const u8,
    leaves_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let lock = Bytes32(bytes32(lock_ptr, lock_len, "lock")?);
        let tree = tree(leaves_ptr, leaves_len)?;
        let terms = Bytes32(bytes32(terms_digest_ptr, terms_digest_len, "terms digest")?);
        let commitment = IntervalCommitment {
            deal_id,
            terms,
            interval,
            first_chunk,
            chunk_count: tree.len(),
            lock,
            root: tree.root(),
        };
        let msg = commitment.signing_bytes().map_err(invalid)?;
        let signature = with_signer(signer, |s| Ok(s.sign(&msg)))?;
        to_cbor(&SignedIntervalCommitment {
            commitment,
            signature,
        })
        .map_err(invalid)
    })
}

/// Checks a signed interval commitment (CBOR) against the provider's address (bytes).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_commitment_verify(
    commitment_ptr: *const u8,
    commitment_len: usize,
    provider_ptr: *const u8,
    provider_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let c: SignedIntervalCommitment = decode(commitment_ptr, commitment_len, "commitment")?;
        let provider = crate::voucher::address(provider_ptr, provider_len, "provider")?;
        c.verify_signature(&provider, &ozkcp_core::sig::Secp256k1)
            .map_err(rejected)
    })
}

/// Checks that a statement (CBOR) sits under a (signature-checked) commitment (CBOR) by its
/// Merkle proof (CBOR), and agrees with it on deal, interval, lock and index.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_commitment_check_statement(
    commitment_ptr: *const u8,
    commitment_len: usize,
    statement_ptr: *const u8,
    statement_len: usize,
    proof_ptr: *const u8,
    proof_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let c: SignedIntervalCommitment = decode(commitment_ptr, commitment_len, "commitment")?;
        let s: Statement = decode(statement_ptr, statement_len, "statement")?;
        let p: MerkleProof = decode(proof_ptr, proof_len, "merkle proof")?;
        c.check_statement(&s, &p).map_err(rejected)
    })
}

/// Checks a received ciphertext against its statement (CBOR): length and digest.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_statement_check_ciphertext(
    statement_ptr: *const u8,
    statement_len: usize,
    ciphertext_ptr: *const u8,
    ciphertext_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let s: Statement = decode(statement_ptr, statement_len, "statement")?;
        let ct = bytes(ciphertext_ptr, ciphertext_len, "ciphertext")?;
        check_ciphertext(&s, ct).map_err(rejected)
    })
}
