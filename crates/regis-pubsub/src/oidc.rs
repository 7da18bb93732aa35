//! The check of a push request's OIDC token: Pub/Sub signs each push with a Google-issued
//! ID token (RS256) for the subscription's service account. A token is accepted when its
//! signature verifies with one of Google's published keys (fetched from `certs_url` and kept
//! for an hour), its issuer is Google's, its audience is the configured one, it has not
//! expired, and (when configured) it names the expected service account.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where Google publishes the keys that sign its ID tokens.
pub const GOOGLE_CERTS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// How long fetched keys are used before they are fetched again.
const KEYS_LIFETIME: Duration = Duration::from_secs(3600);
/// The shortest time between two fetches (a token with an unknown key id asks for one).
const REFETCH_SPACING: Duration = Duration::from_secs(60);

/// What a push token must say.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The audience the push subscription was given (by default its endpoint URL).
    pub audience: String,
    /// The service account the subscription pushes as: a token must name it (any Google
    /// account can get a Google-signed token for any audience, so the audience alone is not
    /// enough).
    pub service_account: String,
    /// Where the signing keys are published ([`GOOGLE_CERTS_URL`]).
    pub certs_url: String,
}

/// Why a push request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// The token does not verify or says the wrong thing.
    #[error("the token is not valid: {0}")]
    Invalid(String),
    /// The keys could not be fetched.
    #[error("cannot fetch Google's signing keys from {url}: {reason}")]
    Keys {
        /// Where from.
        url: String,
        /// Why.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Claims {
    email: Option<String>,
    email_verified: Option<bool>,
}

/// Checks push tokens against Google's keys (or a key set of the caller's, for tests).
pub struct OidcVerifier {
    config: OidcConfig,
    keys: Mutex<Option<(HashMap<String, DecodingKey>, Instant)>>,
    client: crate::rest::Https,
}

impl OidcVerifier {
    /// A verifier that fetches its keys from `config.certs_url`.
    pub fn new(config: OidcConfig) -> OidcVerifier {
        OidcVerifier { config, keys: Mutex::new(None), client: crate::rest::https_client() }
    }

    /// Checks the `Authorization` header's value.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<(), OidcError> {
        let token = authorization.and_then(|a| a.strip_prefix("Bearer ")).ok_or(OidcError::Missing)?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| OidcError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(OidcError::Invalid(format!("signed with {:?}, not RS256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| OidcError::Invalid("no key id".into()))?;
        let key = match self.key(&kid, false).await? {
            Some(key) => key,
            // Google rotates its keys: an unknown id is looked up once more, fresh.
            None => self.key(&kid, true).await?.ok_or_else(|| OidcError::Invalid(format!("unknown key {kid}")))?,
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&["accounts.google.com", "https://accounts.google.com"]);
        validation.set_audience(&[self.config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| OidcError::Invalid(e.to_string()))?;
        let expected = &self.config.service_account;
        let claims = data.claims;
        if claims.email.as_deref() != Some(expected.as_str()) || claims.email_verified != Some(true) {
            return Err(OidcError::Invalid(format!("not from the service account {expected}")));
        }
        Ok(())
    }

    /// The key `kid`: from the kept set while it is young, otherwise (or, with `fresh`, for a
    /// key id it lacks) from a new fetch, at most one a minute whoever asks; when a fetch
    /// fails, the kept set serves on.
    async fn key(&self, kid: &str, fresh: bool) -> Result<Option<DecodingKey>, OidcError> {
        let kept = lock(&self.keys).as_ref().map(|(keys, fetched)| (keys.get(kid).cloned(), fetched.elapsed()));
        match kept {
            Some((key, age)) if age < KEYS_LIFETIME && !fresh => return Ok(key),
            Some((key, age)) if age < REFETCH_SPACING => return Ok(key),
            _ => {}
        }
        match self.fetch().await {
            Ok(keys) => {
                let found = keys.get(kid).cloned();
                *lock(&self.keys) = Some((keys, Instant::now()));
                Ok(found)
            }
            Err(e) => match kept {
                Some((key, _)) => {
                    tracing::warn!(error = %e, "Google's signing keys not renewed; the kept ones serve on");
                    Ok(key)
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, OidcError> {
        let url = &self.config.certs_url;
        let failed = |reason: String| OidcError::Keys { url: url.clone(), reason };
        let request =
            hyper::Request::get(url.as_str()).body(Full::new(Bytes::new())).map_err(|e| failed(e.to_string()))?;
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .map_err(|_| failed("no answer within 10 s".into()))?
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        let bytes = Limited::new(response.into_body(), 1024 * 1024)
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_bytes();
        let set: JwkSet = serde_json::from_slice(&bytes).map_err(|e| failed(format!("not a key set: {e}")))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const AUDIENCE: &str = "https://worker.example/pubsub/push";
    const ACCOUNT: &str = "push@regis-test.iam.gserviceaccount.com";

    /// A new RSA key made by openssl: its private key (PEM) and the JWK of its public half.
    fn key_pair(kid: &str) -> (Vec<u8>, serde_json::Value) {
        let pem = std::process::Command::new("openssl")
            .args(["genrsa", "2048"])
            .output()
            .expect("openssl (scripts/test installs it)")
            .stdout;
        let mut modulus = std::process::Command::new("openssl")
            .args(["rsa", "-noout", "-modulus"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        modulus.stdin.take().unwrap().write_all(&pem).unwrap();
        let hex = String::from_utf8(modulus.wait_with_output().unwrap().stdout).unwrap();
        let hex = hex.trim().trim_start_matches("Modulus=");
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        (pem, json!({ "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": n, "e": "AQAB" }))
    }

    fn sign(pem: &[u8], kid: &str, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
    }

    fn claims() -> serde_json::Value {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        json!({
            "iss": "https://accounts.google.com", "aud": AUDIENCE, "iat": now, "exp": now + 600,
            "sub": "1234567890", "email": ACCOUNT, "email_verified": true,
        })
    }

    /// Google's key set as served at `certs_url`, here on loopback; counts the fetches.
    async fn certs(keys: Vec<serde_json::Value>) -> (String, Arc<AtomicUsize>) {
        let fetched = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&fetched);
        let body = json!({ "keys": keys }).to_string();
        let app = axum::Router::new().route(
            "/oauth2/v3/certs",
            axum::routing::get(move || {
                count.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { body }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, fetched)
    }

    #[tokio::test]
    async fn only_a_token_google_signed_for_this_endpoint_and_account_passes() {
        let (pem, jwk) = key_pair("k1");
        let (stranger, _) = key_pair("k1");
        let (certs_url, fetched) = certs(vec![jwk]).await;
        let verifier =
            OidcVerifier::new(OidcConfig { audience: AUDIENCE.into(), service_account: ACCOUNT.into(), certs_url });
        let bearer = |token: String| format!("Bearer {token}");
        assert_eq!(verifier.verify(Some(&bearer(sign(&pem, "k1", &claims())))).await, Ok(()));
        assert_eq!(verifier.verify(Some(&bearer(sign(&pem, "k1", &claims())))).await, Ok(()));
        assert_eq!(fetched.load(Ordering::SeqCst), 1, "the keys are kept");

        assert_eq!(verifier.verify(None).await, Err(OidcError::Missing));
        assert_eq!(verifier.verify(Some("Basic dXNlcjpwYXNz")).await, Err(OidcError::Missing));
        let refused = |changes: serde_json::Value| {
            let mut claims = claims();
            for (key, value) in changes.as_object().unwrap() {
                claims[key] = value.clone();
            }
            bearer(sign(&pem, "k1", &claims))
        };
        for (what, token) in [
            ("another audience", refused(json!({ "aud": "https://other.example/pubsub/push" }))),
            ("another issuer", refused(json!({ "iss": "https://evil.example" }))),
            ("expired", refused(json!({ "exp": 1_000_000_000 }))),
            ("another account", refused(json!({ "email": "someone@example.com" }))),
            ("an unverified account", refused(json!({ "email_verified": false }))),
            ("a stranger's key", bearer(sign(&stranger, "k1", &claims()))),
            ("garbage", "Bearer not.a.token".to_string()),
        ] {
            let result = verifier.verify(Some(&token)).await;
            assert!(matches!(result, Err(OidcError::Invalid(_))), "{what}: {result:?}");
        }
        // HMAC with a key anyone could guess is not Google's RS256.
        let hs =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &EncodingKey::from_secret(b"k").unwrap())
                .unwrap();
        assert!(matches!(verifier.verify(Some(&bearer(hs))).await, Err(OidcError::Invalid(_))));
        // A key id not in the set is refused; it is looked up again (Google rotates its keys),
        // but at most once a minute, however many such tokens come.
        let unknown_kid = bearer(sign(&pem, "k2", &claims()));
        for _ in 0..3 {
            let unknown = verifier.verify(Some(&unknown_kid)).await;
            assert!(matches!(unknown, Err(OidcError::Invalid(ref why)) if why.contains("unknown key")), "{unknown:?}");
        }
        assert_eq!(fetched.load(Ordering::SeqCst), 1, "no fetch within a minute of the last");
        let age = |verifier: &OidcVerifier, by: Duration| {
            if let Some((_, fetched)) = lock(&verifier.keys).as_mut() {
                *fetched -= by;
            }
        };
        age(&verifier, REFETCH_SPACING + Duration::from_secs(1));
        assert!(verifier.verify(Some(&unknown_kid)).await.is_err());
        assert_eq!(fetched.load(Ordering::SeqCst), 2, "looked up again after a minute");

        // Keys past their hour whose renewal fails serve on; without any, the failure shows.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let offline = OidcVerifier::new(OidcConfig {
            audience: AUDIENCE.into(),
            service_account: ACCOUNT.into(),
            certs_url: format!("http://127.0.0.1:{port}/oauth2/v3/certs"),
        });
        let good = bearer(sign(&pem, "k1", &claims()));
        assert!(matches!(offline.verify(Some(&good)).await, Err(OidcError::Keys { .. })));
        let kept = lock(&verifier.keys).as_ref().map(|(keys, _)| keys.clone()).unwrap();
        *lock(&offline.keys) = Some((kept, Instant::now()));
        age(&offline, KEYS_LIFETIME + Duration::from_secs(1));
        assert_eq!(offline.verify(Some(&good)).await, Ok(()));
    }
}
