//! Discord's request signatures: Ed25519 over `X-Signature-Timestamp` + the raw body, checked
//! with the application's public key, plus a timestamp window against replays.

use ed25519_dalek::{Signature, VerifyingKey};
use std::time::Duration;

/// Why a request's signature was refused (each answered with 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Signature-Ed25519` header.
    #[error("missing X-Signature-Ed25519 header")]
    MissingSignature,
    /// No `X-Signature-Timestamp` header.
    #[error("missing X-Signature-Timestamp header")]
    MissingTimestamp,
    /// The signature is not 64 bytes of hex.
    #[error("X-Signature-Ed25519 is not 128 hex digits")]
    MalformedSignature,
    /// The timestamp is not a Unix time in seconds.
    #[error("X-Signature-Timestamp is not a Unix time")]
    MalformedTimestamp,
    /// The timestamp lies outside the accepted window (a replay, or a wrong clock).
    #[error("timestamp is {skew_secs}s away from now; the window is {window_secs}s")]
    Stale {
        /// Distance from now in seconds.
        skew_secs: u64,
        /// The accepted window in seconds.
        window_secs: u64,
    },
    /// The signature does not match.
    #[error("invalid request signature")]
    Invalid,
}

/// A public key that is not 32 bytes of hex, or not a valid Ed25519 point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DISCORD_PUBLIC_KEY must be the application's public key, 64 hex digits: {0}")]
pub struct KeyError(pub String);

/// Checks request signatures with one application's public key.
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    key: VerifyingKey,
    window: Duration,
}

impl SignatureVerifier {
    /// A verifier for the hex public key shown in Discord's developer portal, accepting
    /// timestamps within `window` of now.
    pub fn from_hex(public_key: &str, window: Duration) -> Result<Self, KeyError> {
        let bytes = hex::decode(public_key.trim()).map_err(|e| KeyError(e.to_string()))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| KeyError(format!("{} bytes instead of 32", b.len())))?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| KeyError(e.to_string()))?;
        Ok(SignatureVerifier { key, window })
    }

    /// Checks what the headers alone can tell: both present, well-formed, and the timestamp
    /// within the window. Run it before reading the body, so that an unsigned or stale
    /// request costs nothing more than its headers.
    pub fn check_headers(
        &self,
        signature: Option<&[u8]>,
        timestamp: Option<&[u8]>,
        now: u64,
    ) -> Result<SignedHeaders, SignatureError> {
        let signature = signature.ok_or(SignatureError::MissingSignature)?;
        let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
        let mut raw = [0u8; 64];
        hex::decode_to_slice(signature, &mut raw).map_err(|_| SignatureError::MalformedSignature)?;
        let sent: u64 = std::str::from_utf8(timestamp)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or(SignatureError::MalformedTimestamp)?;
        let skew = now.abs_diff(sent);
        if skew > self.window.as_secs() {
            return Err(SignatureError::Stale { skew_secs: skew, window_secs: self.window.as_secs() });
        }
        Ok(SignedHeaders { signature: Signature::from_bytes(&raw), timestamp: timestamp.to_vec() })
    }

    /// Checks the signature of `headers` over the body.
    pub fn check_body(&self, headers: &SignedHeaders, body: &[u8]) -> Result<(), SignatureError> {
        let mut message = Vec::with_capacity(headers.timestamp.len() + body.len());
        message.extend_from_slice(&headers.timestamp);
        message.extend_from_slice(body);
        self.key.verify_strict(&message, &headers.signature).map_err(|_| SignatureError::Invalid)
    }

    /// Checks one request, headers then body; `now` is the current Unix time in seconds.
    pub fn verify(
        &self,
        signature: Option<&[u8]>,
        timestamp: Option<&[u8]>,
        body: &[u8],
        now: u64,
    ) -> Result<(), SignatureError> {
        let headers = self.check_headers(signature, timestamp, now)?;
        self.check_body(&headers, body)
    }
}

/// Signature headers that passed [`SignatureVerifier::check_headers`]; the body is still to
/// be checked.
#[derive(Clone, Debug)]
pub struct SignedHeaders {
    signature: Signature,
    timestamp: Vec<u8>,
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const WINDOW: Duration = Duration::from_secs(300);

    fn signed(key: &SigningKey, ts: &str, body: &[u8]) -> String {
        let mut msg = ts.as_bytes().to_vec();
        msg.extend_from_slice(body);
        hex::encode(key.sign(&msg).to_bytes())
    }

    #[test]
    fn accepts_good_and_rejects_tampered_requests() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let v = SignatureVerifier::from_hex(&hex::encode(key.verifying_key().to_bytes()), WINDOW).unwrap();
        let body = br#"{"type":1}"#;
        let sig = signed(&key, "1000", body);
        assert_eq!(v.verify(Some(sig.as_bytes()), Some(b"1000"), body, 1000), Ok(()));
        assert_eq!(v.verify(Some(sig.as_bytes()), Some(b"1000"), br#"{"type":2}"#, 1000), Err(SignatureError::Invalid));
        assert_eq!(v.verify(Some(sig.as_bytes()), Some(b"1001"), body, 1000), Err(SignatureError::Invalid));
        assert_eq!(v.verify(None, Some(b"1000"), body, 1000), Err(SignatureError::MissingSignature));
        assert_eq!(v.verify(Some(sig.as_bytes()), None, body, 1000), Err(SignatureError::MissingTimestamp));
        assert_eq!(v.verify(Some(b"zz"), Some(b"1000"), body, 1000), Err(SignatureError::MalformedSignature));
        assert_eq!(v.verify(Some(sig.as_bytes()), Some(b"soon"), body, 1000), Err(SignatureError::MalformedTimestamp));
        assert_eq!(
            v.verify(Some(sig.as_bytes()), Some(b"1000"), body, 1000 + 301),
            Err(SignatureError::Stale { skew_secs: 301, window_secs: 300 })
        );
    }

    /// A request signed by another implementation (OpenSSL 3.0, `openssl pkeyutl -sign
    /// -rawin`) with RFC 8032 TEST 1's secret key, checked through the request path.
    #[test]
    fn a_request_signed_by_openssl_with_rfc8032_test1s_key_passes_verify() {
        const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        const SIGNATURE: &[u8] = b"1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228\
                                   ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f";
        let v = SignatureVerifier::from_hex(PUBLIC, WINDOW).unwrap();
        let body = br#"{"type":1}"#;
        assert_eq!(v.verify(Some(SIGNATURE), Some(b"1700000000"), body, 1_700_000_100), Ok(()));
        assert_eq!(v.verify(Some(SIGNATURE), Some(b"1700000001"), body, 1_700_000_100), Err(SignatureError::Invalid));
        assert_eq!(
            v.verify(Some(SIGNATURE), Some(b"1700000000"), br#"{"type":2}"#, 1_700_000_100),
            Err(SignatureError::Invalid)
        );
        let mut flipped = SIGNATURE.to_vec();
        flipped[0] = b'0';
        assert_eq!(v.verify(Some(&flipped), Some(b"1700000000"), body, 1_700_000_100), Err(SignatureError::Invalid));
    }

    /// RFC 8032, section 7.1, TEST 1 to TEST 3 (the message is split as timestamp + body).
    #[test]
    fn rfc8032_test_vectors() {
        let vectors = [
            (
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
            (
                "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
                "af82",
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
            ),
        ];
        // The messages are not "timestamp + body" (a timestamp must be digits), so these check
        // the key handling and curve arithmetic of the verifier directly; the request path is
        // covered above with a key made in the test.
        for (public, message, signature) in vectors {
            let message = hex::decode(message).unwrap();
            let v = SignatureVerifier::from_hex(public, WINDOW).unwrap();
            let mut raw = [0u8; 64];
            hex::decode_to_slice(signature, &mut raw).unwrap();
            let signature = Signature::from_bytes(&raw);
            assert!(v.key.verify_strict(&message, &signature).is_ok());
            let mut tampered = message.clone();
            tampered.push(0);
            assert!(v.key.verify_strict(&tampered, &signature).is_err());
        }
        assert!(SignatureVerifier::from_hex("abcd", WINDOW).is_err());
        assert!(SignatureVerifier::from_hex(&"zz".repeat(32), WINDOW).is_err());
    }
}
