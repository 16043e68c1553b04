//! Lotus-style API tokens: HS256 JWTs whose `Allow` claim lists permissions.
//!
//! Four permissions, each including the ones below it, as in Lotus: `read` < `write` < `sign` <
//! `admin`. A token for `write` carries `{"Allow":["read","write"]}`. Tokens may carry an `exp`
//! (seconds since the epoch); Lotus tokens do not, and neither do ours unless asked for.
//!
//! The HMAC secret is 32 random bytes in the repo (see [`crate::repo`]). It is held in a
//! zeroizing buffer, never printed (no `Debug` of its bytes), and signatures are checked by
//! `ring`'s constant-time HMAC verification.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Length of the HMAC secret in bytes.
pub const SECRET_LEN: usize = 32;

/// What a token allows. Ordered: a higher permission includes every lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read deals, imports, versions.
    Read,
    /// Start and cancel deals, import data.
    Write,
    /// Sign with the node's keys (vouchers, deal terms).
    Sign,
    /// Manage the sidecar: tokens, server-side file access.
    Admin,
}

impl Permission {
    /// Every permission, lowest first.
    pub const ALL: [Permission; 4] = [
        Permission::Read,
        Permission::Write,
        Permission::Sign,
        Permission::Admin,
    ];

    /// The name used in tokens and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Sign => "sign",
            Permission::Admin => "admin",
        }
    }

    /// The `Allow` list of a token for this permission: it and every lower one (Lotus'
    /// `AllPermissions[:i+1]`).
    pub fn with_lower(self) -> Vec<Permission> {
        Permission::ALL.into_iter().filter(|p| *p <= self).collect()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| AuthError::UnknownPermission(s.to_string()))
    }
}

/// The permissions a verified token grants (put in each request's extensions by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted(pub Vec<Permission>);

impl Granted {
    /// Whether the token grants `perm`. Lotus checks membership in the list, not the order: a
    /// hand-made `{"Allow":["admin"]}` token grants admin only.
    pub fn allows(&self, perm: Permission) -> bool {
        self.0.contains(&perm)
    }
}

/// Why a token or permission was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// A permission name that is none of read/write/sign/admin.
    #[error("unknown permission {0:?} (expected read, write, sign or admin)")]
    UnknownPermission(String),
    /// The token is past its `exp`.
    #[error("token expired")]
    Expired,
    /// Bad signature, wrong algorithm, or not a JWT at all.
    #[error("invalid token")]
    Invalid,
    /// The secret could not be used.
    #[error("cannot sign token: {0}")]
    Sign(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(rename = "Allow")]
    allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
}

/// Signs and verifies tokens with the repo's secret.
pub struct JwtAuth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtAuth { secret: <redacted> }")
    }
}

impl JwtAuth {
    /// Keys for `secret`. The caller's buffer is zeroized when it drops; `jsonwebtoken` keeps
    /// its own copy for the life of this value.
    pub fn new(secret: &Zeroizing<Vec<u8>>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Lotus tokens carry no exp/sub/aud: require nothing, check exp when present.
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = true;
        validation.leeway = 0;
        JwtAuth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token granting `perm` and every lower permission; with `ttl_secs`, it expires.
    pub fn create_token(
        &self,
        perm: Permission,
        ttl_secs: Option<u64>,
    ) -> Result<String, AuthError> {
        let allow = perm.with_lower();
        self.create_token_for(&allow, ttl_secs.map(|t| now_secs() + t))
    }

    /// A token with exactly `allow` in its claim and an optional absolute `exp`.
    pub fn create_token_for(
        &self,
        allow: &[Permission],
        exp: Option<u64>,
    ) -> Result<String, AuthError> {
        let claims = Claims {
            allow: allow.iter().map(|p| p.as_str().to_string()).collect(),
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }

    /// Checks the signature (HS256 only), the expiry, and returns the granted permissions.
    /// Unknown permission names in the claim are ignored.
    pub fn verify(&self, token: &str) -> Result<Granted, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        let mut perms: Vec<Permission> = data
            .claims
            .allow
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        perms.sort();
        perms.dedup();
        Ok(Granted(perms))
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    fn auth(byte: u8) -> JwtAuth {
        JwtAuth::new(&Zeroizing::new(vec![byte; SECRET_LEN]))
    }

    #[test]
    fn tokens_carry_lotus_allow_lists() {
        let a = auth(7);
        let t = a.create_token(Permission::Sign, None).unwrap();
        let g = a.verify(&t).unwrap();
        assert_eq!(
            g.0,
            vec![Permission::Read, Permission::Write, Permission::Sign]
        );
        assert!(g.allows(Permission::Write) && !g.allows(Permission::Admin));
        // The claim is Lotus' shape.
        let payload = t.split('.').nth(1).unwrap();
        let json = base64_url_decode(payload);
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v, serde_json::json!({"Allow": ["read", "write", "sign"]}));
    }

    #[test]
    fn forged_expired_and_garbage_tokens_fail() {
        let t = auth(1).create_token(Permission::Admin, None).unwrap();
        assert_eq!(auth(2).verify(&t), Err(AuthError::Invalid));
        let old = auth(1)
            .create_token_for(&[Permission::Read], Some(now_secs() - 10))
            .unwrap();
        assert_eq!(auth(1).verify(&old), Err(AuthError::Expired));
        assert_eq!(auth(1).verify("not.a.jwt"), Err(AuthError::Invalid));
        // alg "none" with the same claims is refused.
        let none = format!(
            "{}.{}.",
            base64_url_encode(br#"{"alg":"none","typ":"JWT"}"#),
            base64_url_encode(br#"{"Allow":["read","write","sign","admin"]}"#)
        );
        assert_eq!(auth(1).verify(&none), Err(AuthError::Invalid));
    }

    #[test]
    fn permissions_parse_and_order() {
        assert_eq!("admin".parse::<Permission>().unwrap(), Permission::Admin);
        assert!("root".parse::<Permission>().is_err());
        assert_eq!(Permission::Read.with_lower(), vec![Permission::Read]);
        assert_eq!(Permission::Admin.with_lower().len(), 4);
        assert!(!format!("{:?}", auth(9)).contains('9'));
    }

    fn base64_url_encode(data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(data)
    }

    fn base64_url_decode(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }
}
