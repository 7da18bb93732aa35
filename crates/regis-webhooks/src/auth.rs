//! How a webhook's sender proves who it is: GitHub's HMAC-SHA256 of the body, a bearer token,
//! or HTTP basic auth (what Alertmanager can send). Every comparison is in constant time.

use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A hook's authentication scheme and its secret.
#[derive(Clone)]
pub enum HookAuth {
    /// `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body with the secret
    /// (GitHub, Gitea, and many others).
    Hmac(String),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic <base64(user:password)>`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for HookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log line.
        f.write_str(match self {
            HookAuth::Hmac(_) => "Hmac(<redacted>)",
            HookAuth::Bearer(_) => "Bearer(<redacted>)",
            HookAuth::Basic { .. } => "Basic(<redacted>)",
        })
    }
}

/// The headers that carry credentials, left out of what handlers see.
pub(crate) const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-hub-signature-256", "x-hub-signature"];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl HookAuth {
    /// Whether the body is needed to decide (HMAC), so the headers alone cannot.
    pub(crate) fn needs_body(&self) -> bool {
        matches!(self, HookAuth::Hmac(_))
    }

    /// Whether the request proves it knows the secret.
    pub(crate) fn accepts(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        match self {
            HookAuth::Hmac(secret) => {
                let Some(hex_sig) = header(headers, "x-hub-signature-256").and_then(|v| v.strip_prefix("sha256="))
                else {
                    return false;
                };
                let Ok(signature) = hex::decode(hex_sig) else { return false };
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
                mac.update(body);
                mac.verify_slice(&signature).is_ok()
            }
            HookAuth::Bearer(token) => match header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer ")) {
                Some(given) => equal(given.trim().as_bytes(), token.as_bytes()),
                None => false,
            },
            HookAuth::Basic { user, password } => {
                let Some(encoded) = header(headers, "authorization").and_then(|v| v.strip_prefix("Basic ")) else {
                    return false;
                };
                let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
                    return false;
                };
                let expected = format!("{user}:{password}");
                equal(&decoded, expected.as_bytes())
            }
        }
    }
}

/// The `X-Hub-Signature-256` value of `body` under `secret`, as a sender computes it (for
/// tests and for clients of hooks).
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    // An HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn githubs_documented_example_signature() {
        // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        let sig = hub_signature("It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(sig, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
        let auth = HookAuth::Hmac("It's a Secret to Everybody".into());
        assert!(auth.accepts(&with("x-hub-signature-256", &sig), b"Hello, World!"));
        assert!(!auth.accepts(&with("x-hub-signature-256", &sig), b"Hello, World?"), "another body");
        assert!(!auth.accepts(&with("x-hub-signature-256", "sha256=zz"), b"Hello, World!"));
        assert!(!auth.accepts(&HeaderMap::new(), b"Hello, World!"));
        assert!(!HookAuth::Hmac("other".into()).accepts(&with("x-hub-signature-256", &sig), b"Hello, World!"));
    }

    #[test]
    fn bearer_and_basic() {
        let bearer = HookAuth::Bearer("t0ken".into());
        assert!(bearer.accepts(&with("authorization", "Bearer t0ken"), b""));
        assert!(!bearer.accepts(&with("authorization", "Bearer t0ke"), b""));
        assert!(!bearer.accepts(&with("authorization", "Basic t0ken"), b""));
        let basic = HookAuth::Basic { user: "am".into(), password: "pw".into() };
        assert!(basic.accepts(&with("authorization", "Basic YW06cHc="), b""));
        assert!(!basic.accepts(&with("authorization", "Basic YW06cHg="), b""));
        assert!(!basic.accepts(&with("authorization", "Basic !!"), b""));
        assert_eq!(format!("{basic:?}"), "Basic(<redacted>)");
    }
}
