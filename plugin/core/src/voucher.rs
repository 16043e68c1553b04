//! Hash-locked vouchers, shaped like the builtin payment-channel actor's `SignedVoucher`.
//!
//! The voucher is the same 11-field DAG-CBOR tuple as Filecoin's paych voucher, with the same
//! field names and encodings, so Lotus-side Go code reads it as `paych.SignedVoucher`. Signing
//! bytes are the tuple with `signature` = null; the client signs them with secp256k1 over
//! blake2b-256. The one difference in meaning: `secret_pre_image` (Go: `SecretHash`) holds
//! `SHA256(K_j)`, the lock of interval `j`, and the judge actor pays the voucher only to whoever
//! reveals `K_j` — the builtin actor's blake2b lock cannot serve (see the project docs).
//!
//! Vouchers are cumulative: each carries the total owed so far on its lane, with a strictly
//! increasing nonce. `channel_addr` is the judge actor that escrows the client's funds and `lane`
//! identifies the deal.

use fvm_ipld_encoding::tuple::*;
use fvm_ipld_encoding::{strict_bytes, RawBytes};
use fvm_shared::address::Address;
use fvm_shared::clock::ChainEpoch;
use fvm_shared::crypto::signature::Signature;
use fvm_shared::econ::TokenAmount;
use fvm_shared::MethodNum;

use crate::encoding::{to_cbor, EncodingError};
use crate::keys::Lock;
use crate::sig::{SigError, SignatureVerifier};

/// Call that a paych voucher may require on redemption (unused by ozkcp; refused when set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ModVerifyParams {
    /// Actor to call.
    pub actor: Address,
    /// Method to call.
    pub method: MethodNum,
    /// Parameters.
    pub data: RawBytes,
}

/// A lane merge of the paych voucher (unused by ozkcp; refused when set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Merge {
    /// Lane merged.
    pub lane: u64,
    /// Its nonce.
    pub nonce: u64,
}

/// A hash-locked, cumulative payment voucher (paych `SignedVoucher` layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SignedVoucher {
    /// The escrow: the judge actor's address.
    pub channel_addr: Address,
    /// Earliest epoch of redemption (0 = none).
    pub time_lock_min: ChainEpoch,
    /// Latest epoch of redemption (0 = none).
    pub time_lock_max: ChainEpoch,
    /// The lock `SHA256(K_j)` (Go: `SecretHash`); empty for an unlocked voucher.
    #[serde(with = "strict_bytes")]
    pub secret_pre_image: Vec<u8>,
    /// Extra call on redemption (must be empty for ozkcp).
    pub extra: Option<ModVerifyParams>,
    /// The deal's lane.
    pub lane: u64,
    /// Strictly increasing per lane.
    pub nonce: u64,
    /// Cumulative amount owed on the lane.
    pub amount: TokenAmount,
    /// Minimum settle height (0 for ozkcp).
    pub min_settle_height: ChainEpoch,
    /// Lane merges (empty for ozkcp).
    pub merges: Vec<Merge>,
    /// The client's signature over [`SignedVoucher::signing_bytes`].
    pub signature: Option<Signature>,
}

impl SignedVoucher {
    /// An unsigned voucher for `amount` on `lane` of `channel`, locked by `lock`.
    pub fn new(channel: Address, lane: u64, nonce: u64, amount: TokenAmount, lock: &Lock) -> Self {
        SignedVoucher {
            channel_addr: channel,
            time_lock_min: 0,
            time_lock_max: 0,
            secret_pre_image: lock.0.to_vec(),
            extra: None,
            lane,
            nonce,
            amount,
            min_settle_height: 0,
            merges: Vec::new(),
            signature: None,
        }
    }

    /// The bytes that are signed: the voucher's CBOR with `signature` = null.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, EncodingError> {
        let mut unsigned = self.clone();
        unsigned.signature = None;
        to_cbor(&unsigned)
    }

    /// Signs the voucher as the client.
    #[cfg(feature = "std")]
    pub fn sign(&mut self, signer: &crate::sig::SecpSigner) -> Result<(), EncodingError> {
        self.signature = Some(signer.sign(&self.signing_bytes()?));
        Ok(())
    }

    /// Checks the signature against `signer`.
    pub fn verify_signature(
        &self,
        signer: &Address,
        verifier: &impl SignatureVerifier,
    ) -> Result<(), VoucherError> {
        let sig = self
            .signature
            .as_ref()
            .ok_or(VoucherError::Signature(SigError::Missing))?;
        verifier.verify(sig, signer, &self.signing_bytes()?)?;
        Ok(())
    }
}

/// What the provider expects of the next voucher on a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherExpectation {
    /// The judge actor (escrow).
    pub channel: Address,
    /// The deal's lane.
    pub lane: u64,
    /// The client, who must have signed.
    pub client: Address,
    /// Nonce of the last voucher accepted on the lane, if any.
    pub last_nonce: Option<u64>,
    /// Cumulative amount owed once this interval is paid.
    pub owed: TokenAmount,
    /// Lock of the interval being paid.
    pub lock: Lock,
    /// Funds the client has locked for this provider, when known (from chain state).
    pub funds: Option<TokenAmount>,
}

/// Why a voucher was refused. The provider aborts and reveals nothing on any of these.
#[derive(Debug, thiserror::Error)]
pub enum VoucherError {
    /// Missing or wrong signature.
    #[error("voucher signature: {0}")]
    Signature(#[from] SigError),
    /// Encoding failed.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// Voucher for another escrow.
    #[error("voucher is for channel {got}, the deal's judge is {expected}")]
    WrongChannel {
        /// Channel in the voucher.
        got: String,
        /// The deal's judge.
        expected: String,
    },
    /// Voucher for another lane.
    #[error("voucher is for lane {got}, the deal's lane is {expected}")]
    WrongLane {
        /// Lane in the voucher.
        got: u64,
        /// The deal's lane.
        expected: u64,
    },
    /// Nonce not above the last accepted one (replay or reorder).
    #[error("voucher nonce {got} is not above the last accepted nonce {last}")]
    StaleNonce {
        /// Nonce in the voucher.
        got: u64,
        /// Last accepted nonce.
        last: u64,
    },
    /// Amount below what is owed.
    #[error("voucher pays {got} but {owed} is owed")]
    AmountTooLow {
        /// Amount in the voucher.
        got: TokenAmount,
        /// Amount owed.
        owed: TokenAmount,
    },
    /// Amount beyond the client's locked funds.
    #[error("voucher pays {got} but the client has only {funds} locked")]
    InsufficientFunds {
        /// Amount in the voucher.
        got: TokenAmount,
        /// Funds locked.
        funds: TokenAmount,
    },
    /// Lock is not the interval's.
    #[error("voucher is locked by another secret hash than the interval's lock")]
    WrongLock,
    /// Uses a paych feature ozkcp does not honour.
    #[error("voucher uses {0}, which ozkcp vouchers must leave empty")]
    Unsupported(&'static str),
}

/// The provider's check of a voucher before revealing a key: signer, channel, lane, strictly
/// increasing nonce, lock, cumulative amount and funds.
pub fn check_voucher(
    voucher: &SignedVoucher,
    expect: &VoucherExpectation,
    verifier: &impl SignatureVerifier,
) -> Result<(), VoucherError> {
    voucher.verify_signature(&expect.client, verifier)?;
    if voucher.channel_addr != expect.channel {
        return Err(VoucherError::WrongChannel {
            got: voucher.channel_addr.to_string(),
            expected: expect.channel.to_string(),
        });
    }
    if voucher.lane != expect.lane {
        return Err(VoucherError::WrongLane {
            got: voucher.lane,
            expected: expect.lane,
        });
    }
    if let Some(last) = expect.last_nonce {
        if voucher.nonce <= last {
            return Err(VoucherError::StaleNonce {
                got: voucher.nonce,
                last,
            });
        }
    }
    if voucher.extra.is_some() {
        return Err(VoucherError::Unsupported("extra"));
    }
    if !voucher.merges.is_empty() {
        return Err(VoucherError::Unsupported("merges"));
    }
    if voucher.time_lock_min != 0 || voucher.time_lock_max != 0 || voucher.min_settle_height != 0 {
        return Err(VoucherError::Unsupported("time locks"));
    }
    if voucher.secret_pre_image.as_slice() != expect.lock.0.as_slice() {
        return Err(VoucherError::WrongLock);
    }
    if voucher.amount < expect.owed {
        return Err(VoucherError::AmountTooLow {
            got: voucher.amount.clone(),
            owed: expect.owed.clone(),
        });
    }
    if let Some(funds) = &expect.funds {
        if voucher.amount > *funds {
            return Err(VoucherError::InsufficientFunds {
                got: voucher.amount.clone(),
                funds: funds.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes32;
    use crate::encoding::from_cbor;

    /// The CBOR of a voucher with known fields, written out by hand from the paych encoding.
    #[test]
    fn golden_voucher_bytes() {
        let v = SignedVoucher::new(
            Address::new_id(101),
            7,
            3,
            TokenAmount::from_atto(1000),
            &Bytes32([0xaa; 32]),
        );
        let mut expected = vec![
            0x8b, // array(11)
            0x42, 0x00, 0x65, // channel_addr: bytes(2) = protocol 0 (ID), leb128(101)
            0x00, // time_lock_min 0
            0x00, // time_lock_max 0
            0x58, 0x20, // secret_pre_image: bytes(32)
        ];
        expected.extend_from_slice(&[0xaa; 32]);
        expected.extend_from_slice(&[
            0xf6, // extra: null
            0x07, // lane 7
            0x03, // nonce 3
            0x43, 0x00, 0x03, 0xe8, // amount: bytes(3) = sign 0x00 + big-endian 1000
            0x00, // min_settle_height 0
            0x80, // merges: []
            0xf6, // signature: null
        ]);
        assert_eq!(to_cbor(&v).unwrap(), expected);
        assert_eq!(v.signing_bytes().unwrap(), expected);
        let back: SignedVoucher = from_cbor(&expected).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn zero_amount_encodes_as_empty_bytes_and_signature_as_typed_bytes() {
        let mut v = SignedVoucher::new(
            Address::new_id(1),
            0,
            0,
            TokenAmount::from_atto(0),
            &Bytes32([0; 32]),
        );
        let b = to_cbor(&v).unwrap();
        // amount is the 9th field: ... 0x00 (nonce) 0x40 (empty bytes) ...
        assert!(b.windows(3).any(|w| w == [0x00, 0x40, 0x00]));
        v.signature = Some(Signature::new_secp256k1(vec![0x11; 65]));
        let b = to_cbor(&v).unwrap();
        assert_eq!(&b[b.len() - 68..b.len() - 65], &[0x58, 0x42, 0x01]);
    }

    #[test]
    fn truncated_or_malformed_cbor_is_an_error() {
        let v = SignedVoucher::new(
            Address::new_id(101),
            7,
            3,
            TokenAmount::from_atto(1000),
            &Bytes32([0xaa; 32]),
        );
        let b = to_cbor(&v).unwrap();
        for cut in 0..b.len() {
            assert!(
                from_cbor::<SignedVoucher>(&b[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = b.clone();
        extra.push(0x00);
        assert!(from_cbor::<SignedVoucher>(&extra).is_err());
        let mut ten = b.clone();
        ten[0] = 0x8a;
        assert!(from_cbor::<SignedVoucher>(&ten).is_err());
    }
}
