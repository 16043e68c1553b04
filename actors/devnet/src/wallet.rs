//! secp256k1 keys, Filecoin f1 addresses and signed messages, as Lotus makes them.
//!
//! The signing bytes of a message are its CID bytes (CIDv1, DAG-CBOR, blake2b-256 of the CBOR
//! tuple); a secp256k1 signature is 65 bytes `r ‖ s ‖ v` over blake2b-256 of those bytes.

use cid::Cid;
use fvm_ipld_encoding::tuple::{Deserialize_tuple, Serialize_tuple};
use fvm_ipld_encoding::DAG_CBOR;
use fvm_shared::address::{Address, Protocol};
use fvm_shared::crypto::signature::{Signature, SignatureType};
use fvm_shared::message::Message;
use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, SigningKey, VerifyingKey};
use multihash_codetable::{Code, MultihashDigest};

use crate::error::DevnetError;

/// blake2b-256 of `data`.
pub fn blake2b_256(data: &[u8]) -> [u8; 32] {
    let h = blake2b_simd::Params::new().hash_length(32).hash(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(h.as_bytes());
    out
}

/// CIDv1 DAG-CBOR blake2b-256 of CBOR bytes (how Lotus names messages and blocks).
pub fn cbor_cid(bytes: &[u8]) -> Cid {
    Cid::new_v1(DAG_CBOR, Code::Blake2b256.digest(bytes))
}

/// The CID of an unsigned message.
pub fn message_cid(msg: &Message) -> Cid {
    cbor_cid(&fvm_ipld_encoding::to_vec(msg).expect("messages always encode"))
}

/// The f1 address of an uncompressed secp256k1 public key.
pub fn secp_address(key: &VerifyingKey) -> Address {
    Address::new_secp256k1(key.to_encoded_point(false).as_bytes())
        .expect("65-byte public keys always make an address")
}

/// A secp256k1 key and its f1 address.
#[derive(Clone)]
pub struct Key {
    secret: SigningKey,
    /// The key's f1 address.
    pub address: Address,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("address", &self.address)
            .finish()
    }
}

impl Key {
    /// A key from 32 secret bytes (Lotus `KeyInfo.PrivateKey`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DevnetError> {
        let secret = SigningKey::from_slice(bytes)
            .map_err(|e| DevnetError::Invalid(format!("secp256k1 key: {e}")))?;
        let address = secp_address(secret.verifying_key());
        Ok(Key { secret, address })
    }

    /// A fresh random key.
    pub fn random() -> Self {
        let secret = SigningKey::random(&mut rand::thread_rng());
        let address = secp_address(secret.verifying_key());
        Key { secret, address }
    }

    /// The 32 secret bytes.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes().into()
    }

    /// Signs `data` as Filecoin does: secp256k1 over blake2b-256(data), 65 bytes with recovery id.
    pub fn sign_bytes(&self, data: &[u8]) -> Signature {
        let digest = blake2b_256(data);
        let (sig, rid) = self
            .secret
            .sign_prehash_recoverable(&digest)
            .expect("signing a 32-byte digest cannot fail");
        let mut bytes = sig.to_bytes().to_vec();
        bytes.push(rid.to_byte());
        Signature::new_secp256k1(bytes)
    }

    /// Signs a message (over its CID bytes, as Lotus does).
    pub fn sign_message(&self, message: Message) -> SignedMessage {
        let signature = self.sign_bytes(&message_cid(&message).to_bytes());
        SignedMessage { message, signature }
    }
}

/// Recovers the f1 address that signed `data` with a 65-byte secp256k1 signature.
pub fn recover_signer(data: &[u8], sig: &Signature) -> Result<Address, DevnetError> {
    if sig.signature_type() != SignatureType::Secp256k1 {
        return Err(DevnetError::InvalidSignature(
            "only secp256k1 signatures are supported".into(),
        ));
    }
    let bytes = sig.bytes();
    if bytes.len() != 65 {
        return Err(DevnetError::InvalidSignature(format!(
            "secp256k1 signature must be 65 bytes, got {}",
            bytes.len()
        )));
    }
    let s = EcdsaSignature::from_slice(&bytes[..64])
        .map_err(|e| DevnetError::InvalidSignature(e.to_string()))?;
    let rid = RecoveryId::from_byte(bytes[64])
        .ok_or_else(|| DevnetError::InvalidSignature("bad recovery id".into()))?;
    let key = VerifyingKey::recover_from_prehash(&blake2b_256(data), &s, rid)
        .map_err(|e| DevnetError::InvalidSignature(e.to_string()))?;
    Ok(secp_address(&key))
}

/// Checks that `sig` over `data` was made by the key of the f1 address `signer`.
pub fn verify(data: &[u8], sig: &Signature, signer: &Address) -> Result<(), DevnetError> {
    if signer.protocol() != Protocol::Secp256k1 {
        return Err(DevnetError::InvalidSignature(format!(
            "signer {signer} is not an f1 address"
        )));
    }
    let got = recover_signer(data, sig)?;
    if got != *signer {
        return Err(DevnetError::InvalidSignature(format!(
            "signed by {}, not by {}",
            crate::json::addr_str(&got),
            crate::json::addr_str(signer)
        )));
    }
    Ok(())
}

/// A message with its signature (Lotus `SignedMessage`, CBOR `[message, signature]`).
#[derive(Clone, Debug, PartialEq, Serialize_tuple, Deserialize_tuple)]
pub struct SignedMessage {
    /// The message.
    pub message: Message,
    /// secp256k1 signature over the message's CID bytes.
    pub signature: Signature,
}

impl SignedMessage {
    /// The CBOR bytes of the signed message.
    pub fn to_bytes(&self) -> Vec<u8> {
        fvm_ipld_encoding::to_vec(self).expect("signed messages always encode")
    }

    /// The signed message's CID: what Lotus returns from `MpoolPush` for secp messages.
    pub fn cid(&self) -> Cid {
        cbor_cid(&self.to_bytes())
    }
}
