//! AWS Signature Version 4 for S3 requests (path-style, payload hash signed), as
//! specified in "Signature Version 4 signing process" of the S3 API reference. A test
//! checks it against the worked example of that reference.

use reqwest::{Method, Url};
use sha2::{Digest, Sha256};

use super::error::{StoreError, StoreResult};

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Signer {
    pub credentials: Credentials,
    pub region: String,
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` in a
/// path, unless `encode_slash`), as SigV4 wants it.
pub fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (byte == b'/' && !encode_slash);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

impl Signer {
    /// The headers that sign a request of `method` to `url` whose body hashes to
    /// `payload_hash` (lowercase hex SHA-256), made at `at`.
    pub fn sign(
        &self,
        method: &Method,
        url: &Url,
        payload_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<(&'static str, String)>> {
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(StoreError::Config(format!("S3 URL {url} has no host"))),
        };
        let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
        let day = at.format("%Y%m%d").to_string();
        let mut headers: Vec<(&'static str, String)> = vec![
            ("host", host),
            ("x-amz-content-sha256", payload_hash.to_owned()),
            ("x-amz-date", amz_date.clone()),
        ];
        if let Some(token) = &self.credentials.session_token {
            headers.push(("x-amz-security-token", token.clone()));
        }
        let mut query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (uri_encode(&k, true), uri_encode(&v, true)))
            .collect();
        query.sort();
        let canonical_query = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        // The URL's path is already encoded once, which is what S3 signs.
        let canonical_headers: String = headers
            .iter()
            .map(|(name, value)| format!("{name}:{}\n", value.trim()))
            .collect();
        let signed_headers = headers
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(";");
        let canonical_request = format!(
            "{method}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
            url.path()
        );
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let secret = format!("AWS4{}", self.credentials.secret_access_key);
        let key = [day.as_str(), &self.region, "s3", "aws4_request"]
            .iter()
            .fold(secret.into_bytes(), |key, part| {
                hmac_sha256(&key, part.as_bytes()).to_vec()
            });
        let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        headers.retain(|(name, _)| *name != "host");
        headers.push((
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, \
                 Signature={signature}",
                self.credentials.access_key_id
            ),
        ));
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_documented_list_objects_example_signs_to_its_published_signature() {
        // "Example: GET Bucket (List Objects)" with max-keys=2&prefix=J, from the S3 API
        // reference's SigV4 header examples.
        let signer = Signer {
            credentials: Credentials {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            },
            region: "us-east-1".into(),
        };
        let url =
            Url::parse("https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J").unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2013-05-24T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let empty = hex::encode(Sha256::digest(b""));
        let headers = signer.sign(&Method::GET, &url, &empty, at).unwrap();
        let authorization = &headers
            .iter()
            .find(|(n, _)| *n == "authorization")
            .unwrap()
            .1;
        assert!(
            authorization.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{authorization}"
        );
    }
}
