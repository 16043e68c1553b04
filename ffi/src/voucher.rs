//! Signing keys (handles), Filecoin signatures, and hash-locked vouchers.

use std::str::FromStr;

use fvm_shared::address::Address;
use fvm_shared::crypto::signature::Signature;
use fvm_shared::econ::TokenAmount;
use ozkcp_core::bytes::Bytes32;
use ozkcp_core::encoding::to_cbor;
use ozkcp_core::sig::{Secp256k1, SecpSigner, SignatureVerifier};
use ozkcp_core::voucher::{check_voucher, SignedVoucher, VoucherExpectation};

use crate::abi::{
    bytes, bytes32, call, text, FfiError, OzkcpBytesResult, OzkcpHandleResult, OzkcpStatusResult,
};
use crate::handle::{register, with_signer, Object, OzkcpHandle};
use crate::json::{decode, invalid, rejected};

/// Reads an address from its byte form (protocol byte + payload).
pub(crate) unsafe fn address(ptr: *const u8, len: usize, what: &str) -> Result<Address, FfiError> {
    Address::from_bytes(bytes(ptr, len, what)?)
        .map_err(|e| FfiError::invalid(format!("{what}: {e}")))
}

/// Reads a non-negative attoFIL amount written in decimal.
pub(crate) unsafe fn amount(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<TokenAmount, FfiError> {
    let s = text(ptr, len, what)?;
    let atto = fvm_shared::bigint::BigInt::from_str(s)
        .map_err(|_| FfiError::invalid(format!("{what}: {s:?} is not a decimal integer")))?;
    if atto.sign() == fvm_shared::bigint::Sign::Minus {
        return Err(FfiError::invalid(format!("{what}: negative amount")));
    }
    Ok(TokenAmount::from_atto(atto))
}

/// Writes a signature in Filecoin's byte form (type byte + signature bytes).
pub(crate) fn signature_bytes(sig: &Signature) -> Vec<u8> {
    let mut out = vec![sig.signature_type() as u8];
    out.extend_from_slice(sig.bytes());
    out
}

/// Reads a signature in Filecoin's byte form (type byte + signature bytes).
unsafe fn signature(ptr: *const u8, len: usize) -> Result<Signature, FfiError> {
    let b = bytes(ptr, len, "signature")?;
    let (&ty, rest) = b
        .split_first()
        .ok_or_else(|| FfiError::invalid("signature: empty"))?;
    match ty {
        1 => Ok(Signature::new_secp256k1(rest.to_vec())),
        2 => Ok(Signature::new_bls(rest.to_vec())),
        t => Err(FfiError::invalid(format!(
            "signature: unknown type byte {t}"
        ))),
    }
}

/// A secp256k1 signing key from its 32 secret bytes, or a fresh random one when `secret_len`
/// is 0. Destroy it with `ozkcp_handle_destroy`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_signer_new(
    secret_ptr: *const u8,
    secret_len: usize,
) -> *mut OzkcpHandleResult {
    call(|| {
        let signer = if secret_ptr.is_null() && secret_len == 0 {
            SecpSigner::random()
        } else {
            SecpSigner::from_bytes(&bytes32(secret_ptr, secret_len, "secret key")?)
                .map_err(invalid)?
        };
        Ok(register(Object::Signer(Box::new(signer))))
    })
}

/// The signer's f1 address in byte form.
///
/// # Safety
/// `signer` is any value (it is looked up, not dereferenced).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_signer_address(signer: *const OzkcpHandle) -> *mut OzkcpBytesResult {
    call(|| with_signer(signer, |s| Ok(s.address().to_bytes())))
}

/// Signs `msg` the Filecoin way (secp256k1 over blake2b-256): the signature in byte form
/// (type byte 1 + 65 bytes).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_signer_sign(
    signer: *const OzkcpHandle,
    msg_ptr: *const u8,
    msg_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let msg = bytes(msg_ptr, msg_len, "message")?;
        with_signer(signer, |s| Ok(signature_bytes(&s.sign(msg))))
    })
}

/// Checks a signature (byte form) by `signer` (address bytes) over `msg`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_verify_signature(
    sig_ptr: *const u8,
    sig_len: usize,
    signer_ptr: *const u8,
    signer_len: usize,
    msg_ptr: *const u8,
    msg_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let sig = signature(sig_ptr, sig_len)?;
        let signer = address(signer_ptr, signer_len, "signer")?;
        let msg = bytes(msg_ptr, msg_len, "message")?;
        Secp256k1.verify(&sig, &signer, msg).map_err(rejected)
    })
}

/// An unsigned hash-locked voucher (CBOR, paych `SignedVoucher` layout) on `lane` of the judge
/// `channel` (address bytes) for the cumulative `amount` (decimal attoFIL), locked by `lock`.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_voucher_create(
    channel_ptr: *const u8,
    channel_len: usize,
    lane: u64,
    nonce: u64,
    amount_ptr: *const u8,
    amount_len: usize,
    lock_ptr: *const u8,
    lock_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let channel = address(channel_ptr, channel_len, "channel")?;
        let amount = amount(amount_ptr, amount_len, "amount")?;
        let lock = Bytes32(bytes32(lock_ptr, lock_len, "lock")?);
        to_cbor(&SignedVoucher::new(channel, lane, nonce, amount, &lock)).map_err(invalid)
    })
}

/// The bytes a voucher's signature covers (its CBOR with `signature` = null).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_voucher_signing_bytes(
    voucher_ptr: *const u8,
    voucher_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let v: SignedVoucher = decode(voucher_ptr, voucher_len, "voucher")?;
        v.signing_bytes().map_err(invalid)
    })
}

/// Signs a voucher (CBOR) as the client: the signed voucher's CBOR.
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_voucher_sign(
    signer: *const OzkcpHandle,
    voucher_ptr: *const u8,
    voucher_len: usize,
) -> *mut OzkcpBytesResult {
    call(|| {
        let mut v: SignedVoucher = decode(voucher_ptr, voucher_len, "voucher")?;
        with_signer(signer, |s| v.sign(s).map_err(invalid))?;
        to_cbor(&v).map_err(invalid)
    })
}

/// Checks a voucher's (CBOR) signature against the client's address (bytes).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_voucher_verify(
    voucher_ptr: *const u8,
    voucher_len: usize,
    client_ptr: *const u8,
    client_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let v: SignedVoucher = decode(voucher_ptr, voucher_len, "voucher")?;
        let client = address(client_ptr, client_len, "client")?;
        v.verify_signature(&client, &Secp256k1).map_err(rejected)
    })
}

/// The provider's check of a voucher (CBOR) before revealing a key: signed by `client`, for
/// `channel` and `lane`, nonce above `last_nonce` (when `has_last_nonce`), locked by `lock`,
/// paying at least `owed` and at most `funds` (decimal attoFIL; `funds_len` 0 = unknown).
///
/// # Safety
/// Pointer/length pairs describe readable memory (see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn ozkcp_voucher_check(
    voucher_ptr: *const u8,
    voucher_len: usize,
    channel_ptr: *const u8,
    channel_len: usize,
    lane: u64,
    client_ptr: *const u8,
    client_len: usize,
    has_last_nonce: bool,
    last_nonce: u64,
    owed_ptr: *const u8,
    owed_len: usize,
    lock_ptr: *const u8,
    lock_len: usize,
    funds_ptr: *const u8,
    funds_len: usize,
) -> *mut OzkcpStatusResult {
    call(|| {
        let v: SignedVoucher = decode(voucher_ptr, voucher_len, "voucher")?;
        let expect = VoucherExpectation {
            channel: address(channel_ptr, channel_len, "channel")?,
            lane,
            client: address(client_ptr, client_len, "client")?,
            last_nonce: has_last_nonce.then_some(last_nonce),
            owed: amount(owed_ptr, owed_len, "owed")?,
            lock: Bytes32(bytes32(lock_ptr, lock_len, "lock")?),
            funds: if funds_len == 0 {
                None
            } else {
                Some(amount(funds_ptr, funds_len, "funds")?)
            },
        };
        check_voucher(&v, &expect, &Secp256k1).map_err(rejected)
    })
}
