//! Filecoin signatures: secp256k1 over blake2b-256 of the message, 65-byte recoverable
//! signatures (`r || s || v`), signers named by their f1 address.
//!
//! Verification recovers the public key and compares its f1 address with the expected signer, as
//! Lotus does. High-`s` signatures are refused so a signature has exactly one valid encoding.
//! Verification goes through the [`SignatureVerifier`] trait: hosts use [`Secp256k1`]; the judge
//! actor plugs in the FVM's `verify_signature` syscall, which is far cheaper than Wasm arithmetic.

use fvm_shared::address::{Address, Protocol};
use fvm_shared::crypto::signature::{Signature, SignatureType};
use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, VerifyingKey};

/// Length of a secp256k1 signature in Filecoin's encoding.
pub const SECP_SIG_LEN: usize = 65;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The signature is not secp256k1 (BLS and others are not supported yet).
    #[error("unsupported signature type {0:?}; only secp256k1 is supported")]
    UnsupportedType(SignatureType),
    /// The signer is not an f1 (secp256k1) address.
    #[error("signer {0} is not an f1 (secp256k1) address")]
    NotSecpAddress(String),
    /// The signature bytes are malformed.
    #[error("malformed secp256k1 signature: {0}")]
    Malformed(&'static str),
    /// The signature is valid but for another key.
    #[error("signature was made by {actual}, expected {expected}")]
    WrongSigner {
        /// Expected signer.
        expected: String,
        /// Address of the key that signed.
        actual: String,
    },
    /// No signature where one is required.
    #[error("missing signature")]
    Missing,
}

/// Checks that `sig` is `signer`'s signature over `msg`.
pub trait SignatureVerifier {
    /// Verifies `sig` over `msg` against `signer`.
    fn verify(&self, sig: &Signature, signer: &Address, msg: &[u8]) -> Result<(), SigError>;
}

/// The Filecoin signing digest: blake2b-256 of the message.
pub fn signing_digest(msg: &[u8]) -> [u8; 32] {
    let h = blake2b_simd::Params::new().hash_length(32).hash(msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(h.as_bytes());
    out
}

/// The f1 address of an uncompressed secp256k1 public key.
pub fn secp_address(key: &VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    Address::new_secp256k1(point.as_bytes()).expect("an uncompressed point is 65 bytes")
}

/// Checks the form of a secp256k1 signature without recovering its key: type, 65 bytes, `r`
/// and `s` in range, low `s` (no malleable twin), recovery id 0..3. Hosts that verify through
/// another implementation (the judge actor, through the FVM syscall) call it first, so every
/// verifier accepts exactly the same signatures.
pub fn check_secp_form(sig: &Signature) -> Result<(EcdsaSignature, RecoveryId), SigError> {
    if sig.signature_type() != SignatureType::Secp256k1 {
        return Err(SigError::UnsupportedType(sig.signature_type()));
    }
    let bytes = sig.bytes();
    if bytes.len() != SECP_SIG_LEN {
        return Err(SigError::Malformed("length is not 65 bytes"));
    }
    let ecdsa = EcdsaSignature::from_slice(&bytes[..64])
        .map_err(|_| SigError::Malformed("r or s out of range"))?;
    if ecdsa.normalize_s().is_some() {
        return Err(SigError::Malformed("high s value"));
    }
    let rec =
        RecoveryId::from_byte(bytes[64]).ok_or(SigError::Malformed("recovery id is not 0..3"))?;
    Ok((ecdsa, rec))
}

/// Recovers the f1 address that made `sig` over `msg`.
pub fn recover_signer(sig: &Signature, msg: &[u8]) -> Result<Address, SigError> {
    let (ecdsa, rec) = check_secp_form(sig)?;
    let key = VerifyingKey::recover_from_prehash(&signing_digest(msg), &ecdsa, rec)
        .map_err(|_| SigError::Malformed("no public key recovers from it"))?;
    Ok(secp_address(&key))
}

/// Host-side verifier in pure Rust (k256).
#[derive(Debug, Clone, Copy, Default)]
pub struct Secp256k1;

impl SignatureVerifier for Secp256k1 {
    fn verify(&self, sig: &Signature, signer: &Address, msg: &[u8]) -> Result<(), SigError> {
        if signer.protocol() != Protocol::Secp256k1 {
            return Err(SigError::NotSecpAddress(signer.to_string()));
        }
        let actual = recover_signer(sig, msg)?;
        if actual != *signer {
            return Err(SigError::WrongSigner {
                expected: signer.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
pub use signer::SecpSigner;

#[cfg(feature = "std")]
mod signer {
    use super::*;
    use k256::ecdsa::SigningKey;
    use zeroize::Zeroizing;

    /// A secp256k1 private key that signs the Filecoin way. Zeroized on drop (by `k256`).
    #[derive(Clone)]
    pub struct SecpSigner {
        key: SigningKey,
        address: Address,
    }

    impl SecpSigner {
        /// A fresh key from the operating system's random generator.
        pub fn random() -> Self {
            Self::from_signing_key(SigningKey::random(&mut rand_core::OsRng))
        }

        /// A key from its 32 secret bytes (as Lotus exports them).
        pub fn from_bytes(secret: &[u8; 32]) -> Result<Self, SigError> {
            let key = SigningKey::from_slice(secret)
                .map_err(|_| SigError::Malformed("secret key out of range"))?;
            Ok(Self::from_signing_key(key))
        }

        fn from_signing_key(key: SigningKey) -> Self {
            let address = secp_address(key.verifying_key());
            SecpSigner { key, address }
        }

        /// The 32 secret bytes, in a buffer zeroized on drop.
        pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
            Zeroizing::new(self.key.to_bytes().into())
        }

        /// The f1 address of this key.
        pub fn address(&self) -> Address {
            self.address
        }

        /// Signs `msg`: secp256k1 over blake2b-256, `r || s || v`, low `s`.
        pub fn sign(&self, msg: &[u8]) -> Signature {
            let (sig, rec) = self
                .key
                .sign_prehash_recoverable(&signing_digest(msg))
                .expect("signing a 32-byte prehash cannot fail");
            let mut bytes = Vec::with_capacity(SECP_SIG_LEN);
            bytes.extend_from_slice(&sig.to_bytes());
            bytes.push(rec.to_byte());
            Signature::new_secp256k1(bytes)
        }
    }

    impl core::fmt::Debug for SecpSigner {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "SecpSigner({}, <redacted>)", self.address)
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let s = SecpSigner::random();
        let sig = s.sign(b"interval root");
        assert_eq!(sig.bytes().len(), 65);
        Secp256k1
            .verify(&sig, &s.address(), b"interval root")
            .unwrap();
        assert_eq!(recover_signer(&sig, b"interval root").unwrap(), s.address());
    }

    #[test]
    fn other_key_message_or_bytes_are_refused() {
        let s = SecpSigner::random();
        let other = SecpSigner::random();
        let sig = s.sign(b"m");
        assert!(matches!(
            Secp256k1.verify(&sig, &other.address(), b"m"),
            Err(SigError::WrongSigner { .. })
        ));
        assert!(Secp256k1.verify(&sig, &s.address(), b"n").is_err());
        let mut bytes = sig.bytes().to_vec();
        bytes[64] = 7;
        assert!(matches!(
            Secp256k1.verify(&Signature::new_secp256k1(bytes), &s.address(), b"m"),
            Err(SigError::Malformed(_))
        ));
        let short = Signature::new_secp256k1(sig.bytes()[..64].to_vec());
        assert!(matches!(
            Secp256k1.verify(&short, &s.address(), b"m"),
            Err(SigError::Malformed(_))
        ));
        let bls = Signature::new_bls(vec![0; 96]);
        assert!(matches!(
            Secp256k1.verify(&bls, &s.address(), b"m"),
            Err(SigError::UnsupportedType(SignatureType::BLS))
        ));
        assert!(matches!(
            Secp256k1.verify(&sig, &Address::new_id(5), b"m"),
            Err(SigError::NotSecpAddress(_))
        ));
    }

    #[test]
    fn high_s_twin_is_refused() {
        let s = SecpSigner::random();
        let sig = s.sign(b"m");
        let ecdsa = EcdsaSignature::from_slice(&sig.bytes()[..64]).unwrap();
        let (r, low_s) = ecdsa.split_scalars();
        let high = EcdsaSignature::from_scalars(r, -*low_s).unwrap();
        let mut bytes = high.to_bytes().to_vec();
        bytes.push(sig.bytes()[64] ^ 1);
        let err = Secp256k1
            .verify(&Signature::new_secp256k1(bytes), &s.address(), b"m")
            .unwrap_err();
        assert_eq!(err, SigError::Malformed("high s value"));
    }

    #[test]
    fn known_secret_gives_stable_address() {
        let s1 = SecpSigner::from_bytes(&[7; 32]).unwrap();
        let s2 = SecpSigner::from_bytes(&s1.secret_bytes()).unwrap();
        assert_eq!(s1.address(), s2.address());
        assert!(SecpSigner::from_bytes(&[0; 32]).is_err());
        assert!(!format!("{s1:?}").contains("0707"));
    }
}
