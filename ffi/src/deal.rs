//! Deals: payloads, terms and layouts, and the provider's and client's deal objects (handles).

use ozkcp::client::{ClientDeal, ClientError};
use ozkcp::payload::Payload;
use ozkcp::provider::ProviderDeal;
use ozkcp::IntervalBundle;
use ozkcp_core::block::BlockRef;
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::deal::{DealProposal, DealTerms, Manifest, ProofMode, SignedDealTerms};
use ozkcp_core::encoding::to_cbor;
use ozkcp_core::keys::{IntervalKey, KeyChain};
use ozkcp_core::sig::Secp256k1;
use ozkcp_core::voucher::SignedVoucher;
use ozkcp_core::Cid;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::abi::{
    bytes, bytes32, call, FfiError, OzkcpBytesResult, OzkcpHandleResult, OzkcpPairResult,
    OzkcpStatusResult, OZKCP_ERR_BAD_CHUNK, OZKCP_ERR_WRONG_KEY,
};
use crate::handle::{
    register, with_client, with_opt_params, with_provider, with_signer, Object, OzkcpHandle,
};
use crate::json::{b64, decode, decode_json, invalid, rejected, to_json};
use crate::voucher::amount;

#[derive(Serialize, Deserialize)]
struct BlockJson {
    cid: String,
    len: u64,
}

#[derive(Serialize)]
struct PayloadJson {
    root: String,
    blocks: Vec<BlockJson>,
    #[serde(with = "b64")]
    root_block: Vec<u8>,
}

/// Cuts `data` into raw leaves of `leaf_size` bytes under a DAG-CBOR root listing them. JSON:
/// `{"root": cid, "blocks": [{"cid", "len"}…] (root first), "root_block": base64}`; leaf `k`'s
/// bytes are `data[k*leaf_size ..]`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_payload_from_bytes(
    data_ptr: *const u8,
    data_len: usize,
    leaf_size: u64,
) -> *mut OzkcpBytesResult {
    call(|| {
        let data = bytes(data_ptr, data_len, "data")?;
        if leaf_size == 0 {
            return Err(FfiError::invalid("leaf size must be positive"));
        }
        let p = Payload::from_bytes(data, leaf_size as usize).map_err(invalid)?;
        to_json(&PayloadJson {
            root: p.root.to_string(),
            blocks: p
                .blocks
                .iter()
                .map(|(r, _)| BlockJson {
                    cid: r.cid.to_string(),
                    len: r.len,
                })
                .collect(),
            root_block: p.blocks[0].1.clone(),
        })
    })
}

/// Deal terms as JSON: addresses as base64 of their byte form, CIDs as strings, amounts as
/// decimal attoFIL strings, `mode` "fraud" or "zk".
#[derive(Deserialize)]
struct TermsJson {
    deal_id: u64,
    #[serde(with = "b64")]
    client: Vec<u8>,
    #[serde(with = "b64")]
    provider: Vec<u8>,
    payload_root: String,
    chunk_size: u32,
    price_per_chunk: String,
    mode: String,
    #[serde(default, with = "opt_b64")]
    circuit_id: Option<Vec<u8>>,
    #[serde(with = "b64")]
    judge: Vec<u8>,
    lane: u64,
    collateral: String,
    key_reveal_deadline: i64,
    dispute_window: i64,
    blocks: Vec<BlockJson>,
    interval_ends: Vec<u32>,
}

mod opt_b64 {
    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        use base64::Engine;
        Option::<String>::deserialize(d)?
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

fn addr(b: &[u8], what: &str) -> Result<ozkcp_core::Address, FfiError> {
    ozkcp_core::Address::from_bytes(b).map_err(|e| FfiError::invalid(format!("{what}: {e}")))
}

fn cid(s: &str, what: &str) -> Result<Cid, FfiError> {
    Cid::try_from(s).map_err(|e| FfiError::invalid(format!("{what}: {e}")))
}

fn atto(s: &str, what: &str) -> Result<ozkcp_core::TokenAmount, FfiError> {
    // SAFETY: a pointer and length from a live &str.
    unsafe { amount(s.as_ptr(), s.len(), what) }
}

/// Encodes deal terms given as JSON (see the Go bindings' `DealTerms`) into their CBOR.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_deal_terms_encode(
    json_ptr: *const u8,
    json_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let t: TermsJson = decode_json(json_ptr, json_len, "deal terms")?;
        let mode = match t.mode.as_str() {
            "fraud" => ProofMode::Fraud,
            "zk" => ProofMode::Zk,
            m => return Err(FfiError::invalid(format!("mode {m:?} is not fraud or zk"))),
        };
        let circuit_id = t
            .circuit_id
            .map(|b| {
                <[u8; 32]>::try_from(b.as_slice())
                    .map(Bytes32)
                    .map_err(|_| FfiError::invalid("circuit_id: not 32 bytes"))
            })
            .transpose()?;
        let terms = DealTerms {
            proposal: DealProposal {
                deal_id: t.deal_id,
                client: addr(&t.client, "client")?,
                provider: addr(&t.provider, "provider")?,
                payload_root: cid(&t.payload_root, "payload_root")?,
                chunk_size: t.chunk_size,
                price_per_chunk: atto(&t.price_per_chunk, "price_per_chunk")?,
                mode,
                circuit_id,
                judge: addr(&t.judge, "judge")?,
                lane: t.lane,
                collateral: atto(&t.collateral, "collateral")?,
                key_reveal_deadline: t.key_reveal_deadline,
                dispute_window: t.dispute_window,
            },
            manifest: Manifest {
                blocks: t
                    .blocks
                    .iter()
                    .map(|b| {
                        Ok(BlockRef {
                            cid: cid(&b.cid, "block cid")?,
                            len: b.len,
                        })
                    })
                    .collect::<Result<_, FfiError>>()?,
                interval_ends: t.interval_ends,
            },
        };
        terms.layout().map_err(invalid)?;
        to_cbor(&terms).map_err(invalid)
    })
}

/// The digest of deal terms (CBOR) that commitments and key reveals name (32 bytes).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_deal_terms_digest(
    terms_ptr: *const u8,
    terms_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let terms: DealTerms = decode(terms_ptr, terms_len, "deal terms")?;
        Ok(terms.digest().map_err(invalid)?.0.to_vec())
    })
}

/// Signs deal terms (CBOR) as the provider: the `SignedDealTerms` CBOR.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_deal_terms_sign(
    signer: *const OzkcpHandle,
    terms_ptr: *const u8,
    terms_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let terms: DealTerms = decode(terms_ptr, terms_len, "deal terms")?;
        let msg = terms.signing_bytes().map_err(invalid)?;
        let signature = with_signer(signer, |s| Ok(s.sign(&msg)))?;
        to_cbor(&SignedDealTerms { terms, signature }).map_err(invalid)
    })
}

/// Checks signed deal terms (CBOR): the provider's signature.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_deal_terms_verify(
    signed_ptr: *const u8,
    signed_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let t: SignedDealTerms = decode(signed_ptr, signed_len, "signed deal terms")?;
        t.verify(&Secp256k1).map_err(rejected)
    })
}

#[derive(Serialize)]
struct IntervalJson {
    first_block: u32,
    end_block: u32,
    first_chunk: u64,
    chunks: u64,
    owed: String,
}

#[derive(Serialize)]
struct LayoutJson {
    chunk_size: u32,
    total_chunks: u64,
    intervals: Vec<IntervalJson>,
}

/// The layout of deal terms (CBOR) as JSON: `{"chunk_size", "total_chunks", "intervals":
/// [{"first_block", "end_block", "first_chunk", "chunks", "owed"}…]}` (owed: cumulative,
/// decimal attoFIL).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_deal_layout(
    terms_ptr: *const u8,
    terms_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let terms: DealTerms = decode(terms_ptr, terms_len, "deal terms")?;
        let l = terms.layout().map_err(invalid)?;
        to_json(&LayoutJson {
            chunk_size: l.chunk_size.get(),
            total_chunks: l.total_chunks,
            intervals: l
                .intervals
                .iter()
                .map(|i| IntervalJson {
                    first_block: i.first_block,
                    end_block: i.end_block,
                    first_chunk: i.first_chunk,
                    chunks: i.chunks,
                    owed: i.owed.atto().to_string(),
                })
                .collect(),
        })
    })
}

/// The provider's side of a deal over `terms` (CBOR), signing with `signer`; its key chain ends
/// at `last_key` (32 bytes) or at a fresh random key when `last_key_len` is 0. A `zk` deal
/// proves its chunks with `params` (zk parameters loaded with a proving key, circuit without
/// the chain link); pass null for a `fraud` deal. The signer is copied and the prover shared:
/// both handles may be destroyed afterwards.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_provider_new(
    terms_ptr: *const u8,
    terms_len: usize,
    signer: *const OzkcpHandle,
    params: *const OzkcpHandle,
    last_key_ptr: *const u8,
    last_key_len: usize,
) -> *mut OzkcpHandleResult {
    call(|| {
        let terms: DealTerms = decode(terms_ptr, terms_len, "deal terms")?;
        let signer = with_signer(signer, |s| Ok(s.clone()))?;
        let prover = with_opt_params(params, |p| p.map(|p| p.deal_prover()).transpose())?;
        let intervals = terms.manifest.interval_ends.len();
        let deal = if last_key_ptr.is_null() && last_key_len == 0 {
            ProviderDeal::new(terms, signer)
        } else {
            let last = IntervalKey::from_bytes(bytes32(last_key_ptr, last_key_len, "last key")?);
            ProviderDeal::with_keys(terms, signer, KeyChain::from_last(last, intervals))
        }
        .map_err(invalid)?;
        let deal = match prover {
            Some(p) => deal.with_prover(p),
            None => deal,
        };
        Ok(register(Object::Provider(Box::new(Mutex::new(deal)))))
    })
}

/// The lock of interval `j` (32 bytes).
///
/// # Safety
/// `provider` is looked up, not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_provider_lock(
    provider: *const OzkcpHandle,
    j: u32,
) -> *mut OzkcpBytesResult {
    call(|| with_provider(provider, |d| Ok(d.lock(j).map_err(invalid)?.0.to_vec())))
}

/// Encrypts and states interval `j`: its blocks' bytes concatenated in `data`, their lengths in
/// `lens` (`n` of them). Returns the `IntervalBundle` CBOR (signed commitment + chunks).
///
/// # Safety
/// Pointer/length pairs describe readable memory; `lens` points to `n` u64 values.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_provider_encrypt_interval(
    provider: *const OzkcpHandle,
    j: u32,
    data_ptr: *const u8,
    data_len: usize,
    lens_ptr: *const u64,
    n: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let data = bytes(data_ptr, data_len, "data")?;
        if lens_ptr.is_null() && n > 0 {
            return Err(FfiError::invalid("lens: null pointer with a count"));
        }
        let lens: &[u64] = if n == 0 {
            &[]
        } else {
            if n > isize::MAX as usize / 8 {
                return Err(FfiError::invalid("lens: count too large"));
            }
            std::slice::from_raw_parts(lens_ptr, n)
        };
        let mut blocks = Vec::with_capacity(n);
        let mut at = 0usize;
        for &len in lens {
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| at.checked_add(l))
                .filter(|&e| e <= data.len())
                .ok_or_else(|| FfiError::invalid("lens: blocks run past the data"))?;
            blocks.push(&data[at..end]);
            at = end;
        }
        if at != data.len() {
            return Err(FfiError::invalid("lens: blocks do not cover the data"));
        }
        with_provider(provider, |d| {
            let bundle = d.encrypt_interval(j, &blocks).map_err(invalid)?;
            to_cbor(&bundle).map_err(invalid)
        })
    })
}

/// Re-signs a bundle's (CBOR) commitment over its chunks as they are now (hosts that edit a
/// bundle, e.g. fault-injection tests). Returns the bundle CBOR.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_provider_commit(
    provider: *const OzkcpHandle,
    j: u32,
    bundle_ptr: *const u8,
    bundle_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let mut bundle: IntervalBundle = decode(bundle_ptr, bundle_len, "bundle")?;
        with_provider(provider, |d| {
            bundle.commitment = d.commit(j, &bundle.chunks).map_err(invalid)?;
            to_cbor(&bundle).map_err(invalid)
        })
    })
}

/// Checks the voucher (CBOR) for interval `j` (signer, channel, lane, fresh nonce, lock,
/// cumulative amount, and `funds` in decimal attoFIL when `funds_len > 0`) and returns `K_j`
/// (32 bytes). On a refused voucher: `OZKCP_ERR_REJECTED`, nothing revealed.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_provider_reveal_key(
    provider: *const OzkcpHandle,
    j: u32,
    voucher_ptr: *const u8,
    voucher_len: usize,
    funds_ptr: *const u8,
    funds_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let v: SignedVoucher = decode(voucher_ptr, voucher_len, "voucher")?;
        let funds = if funds_len == 0 {
            None
        } else {
            Some(amount(funds_ptr, funds_len, "funds")?)
        };
        with_provider(provider, |d| {
            let key = d.reveal_key(j, &v, funds).map_err(rejected)?;
            Ok(key.expose().to_vec())
        })
    })
}

/// Signs the reveal of `key` (32 bytes) as interval `j`'s key: the `SignedKeyReveal` CBOR.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_provider_sign_reveal(
    provider: *const OzkcpHandle,
    j: u32,
    key_ptr: *const u8,
    key_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
        with_provider(provider, |d| {
            to_cbor(&d.sign_reveal(j, key).map_err(invalid)?).map_err(invalid)
        })
    })
}

/// The client's side of a deal from provider-signed terms (CBOR); the signature is checked. A
/// `zk` deal verifies proofs with `params` (zk parameters of the deal's circuit, without the
/// chain link; refused otherwise); pass null for a `fraud` deal. `params` may be destroyed
/// afterwards.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_new(
    signed_terms_ptr: *const u8,
    signed_terms_len: usize,
    params: *const OzkcpHandle,
) -> *mut OzkcpHandleResult {
    call(|| {
        let t: SignedDealTerms = decode(signed_terms_ptr, signed_terms_len, "signed deal terms")?;
        let verifier = with_opt_params(params, |p| p.map(|p| p.verifier().cloned()).transpose())?;
        let deal = ClientDeal::new(t).map_err(rejected)?;
        let deal = match verifier {
            Some(v) => deal.with_verifier(v).map_err(rejected)?,
            None => deal,
        };
        Ok(register(Object::Client(Box::new(Mutex::new(deal)))))
    })
}

/// Checks everything about an interval bundle (CBOR) that can be checked before paying and
/// keeps it. `OZKCP_ERR_REJECTED` with the reason when a check fails (nothing kept).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_accept_interval(
    client: *const OzkcpHandle,
    bundle_ptr: *const u8,
    bundle_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let bundle: IntervalBundle = decode(bundle_ptr, bundle_len, "bundle")?;
        with_client(client, |d| {
            d.accept_interval(bundle).map(|_| ()).map_err(rejected)
        })
    })
}

/// The signed, hash-locked voucher (CBOR) for interval `j`, if the payment rule allows it.
///
/// # Safety
/// Handles are looked up, not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_voucher_for(
    client: *const OzkcpHandle,
    j: u32,
    signer: *const OzkcpHandle,
) -> *mut OzkcpBytesResult {
    call(|| {
        let signer = with_signer(signer, |s| Ok(s.clone()))?;
        with_client(client, |d| {
            to_cbor(&d.voucher_for(j, &signer).map_err(rejected)?).map_err(invalid)
        })
    })
}

fn concat(blocks: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
    let data = blocks.concat();
    let lens = blocks
        .iter()
        .flat_map(|b| (b.len() as u64).to_le_bytes())
        .collect();
    (data, lens)
}

/// Opens every interval up to `j` with the revealed `K_j` (32 bytes) and checks each chunk.
/// First value: interval `j`'s blocks concatenated; second: their lengths (u64 little-endian).
/// Errors: `OZKCP_ERR_WRONG_KEY`, `OZKCP_ERR_BAD_CHUNK` (the chunk index as 8 bytes
/// little-endian in `first_ptr`), `OZKCP_ERR_REJECTED`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_open_interval(
    client: *const OzkcpHandle,
    j: u32,
    key_ptr: *const u8,
    key_len: usize,
) -> *mut OzkcpPairResult {
    call(|| {
        let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
        with_client(client, |d| match d.open_interval(j, &key) {
            Ok(blocks) => Ok(concat(blocks)),
            Err(e @ ClientError::WrongKey(_)) => {
                Err(FfiError::new(OZKCP_ERR_WRONG_KEY, e.to_string()))
            }
            Err(e @ ClientError::BadChunk { index }) => {
                let mut err = FfiError::new(OZKCP_ERR_BAD_CHUNK, e.to_string());
                err.value = index.to_le_bytes().to_vec();
                Err(err)
            }
            Err(e) => Err(rejected(e)),
        })
    })
}

/// Every opened block in manifest order: blocks concatenated, then their lengths (u64 LE).
///
/// # Safety
/// `client` is looked up, not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_blocks(client: *const OzkcpHandle) -> *mut OzkcpPairResult {
    call(|| with_client(client, |d| Ok(concat(&d.blocks()))))
}

/// The signed commitment (CBOR) of accepted interval `j`.
///
/// # Safety
/// `client` is looked up, not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_commitment(
    client: *const OzkcpHandle,
    j: u32,
) -> *mut OzkcpBytesResult {
    call(|| {
        with_client(client, |d| {
            let c = d
                .commitment(j)
                .ok_or_else(|| FfiError::invalid(format!("interval {j} is not accepted")))?;
            to_cbor(c).map_err(invalid)
        })
    })
}

/// Chunk `index`'s statement with its path to the provider-signed root (`SignedStatement`
/// CBOR), for evidence.
///
/// # Safety
/// `client` is looked up, not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_signed_statement(
    client: *const OzkcpHandle,
    index: u64,
) -> *mut OzkcpBytesResult {
    call(|| {
        with_client(client, |d| {
            to_cbor(&d.signed_statement(index).map_err(invalid)?).map_err(invalid)
        })
    })
}

/// Evidence (CBOR) that chunk `index` decrypts under its interval's `key` to bytes that
/// contradict its statement.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_bad_chunk_evidence(
    client: *const OzkcpHandle,
    index: u64,
    key_ptr: *const u8,
    key_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let key = IntervalKey::from_bytes(bytes32(key_ptr, key_len, "key")?);
        with_client(client, |d| {
            let e = d.bad_chunk_evidence(index, &key).map_err(invalid)?;
            ozkcp_core::evidence::encode_evidence(&e).map_err(invalid)
        })
    })
}

/// Whether every interval of the deal has been opened (`OZKCP_ERR_REJECTED` if not).
///
/// # Safety
/// `client` is looked up, not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_client_is_complete(
    client: *const OzkcpHandle,
) -> *mut OzkcpStatusResult {
    call(|| {
        with_client(client, |d| {
            if d.is_complete() {
                Ok(())
            } else {
                Err(FfiError::rejected("not every interval is opened"))
            }
        })
    })
}
