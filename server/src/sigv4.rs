//! AWS Signature Version 4 verification of DynamoDB requests.
//!
//! Canonical request: method, canonical URI, canonical query string, the signed headers
//! (lower-case names, trimmed values, sorted), the signed-header list, and the hex SHA-256 of
//! the body. String to sign: `AWS4-HMAC-SHA256`, the request date, the credential scope and the
//! hex SHA-256 of the canonical request. The signing key is the HMAC chain of the secret over
//! date, region, service and `aws4_request`.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Why a request is refused, as DynamoDB reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Incomplete(String),
    UnknownKey,
    BadSignature,
    Expired(String),
}

impl AuthError {
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::Incomplete(_) => "IncompleteSignatureException",
            AuthError::UnknownKey => "UnrecognizedClientException",
            AuthError::BadSignature | AuthError::Expired(_) => "InvalidSignatureException",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "Request is missing Authentication Token".into(),
            AuthError::Incomplete(m) => m.clone(),
            AuthError::UnknownKey => "The security token included in the request is invalid.".into(),
            AuthError::BadSignature => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            AuthError::Expired(m) => m.clone(),
        }
    }
}

/// Access key id → secret, from an AWS shared-credentials INI file.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub keys: HashMap<String, String>,
}

impl Credentials {
    /// Every profile's `aws_access_key_id` / `aws_secret_access_key` pair.
    pub fn parse_ini(text: &str) -> Credentials {
        let mut keys = HashMap::new();
        let mut id: Option<String> = None;
        let mut secret: Option<String> = None;
        let mut flush = |id: &mut Option<String>, secret: &mut Option<String>| {
            if let (Some(i), Some(s)) = (id.take(), secret.take()) {
                keys.insert(i, s);
            }
        };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                flush(&mut id, &mut secret);
                continue;
            }
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "aws_access_key_id" => id = Some(v.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        flush(&mut id, &mut secret);
        Credentials { keys }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn canonical_query(q: &str) -> String {
    if q.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), true),
                uri_encode(&percent_decode(v), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a request the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// (lower-case name, value) of every header.
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

struct AuthHeader {
    key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(h: &str) -> Result<AuthHeader, AuthError> {
    let rest = h.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        AuthError::Incomplete(format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={h}"))
    })?;
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            cred = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let missing = |what: &str| {
        AuthError::Incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={h}"
        ))
    };
    let cred = cred.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let sig = sig.ok_or_else(|| missing("Signature"))?;
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" {
        return Err(AuthError::Incomplete(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            parts.get(2).unwrap_or(&"")
        )));
    }
    Ok(AuthHeader {
        key_id: parts[0].to_string(),
        date: parts[1].to_string(),
        region: parts[2].to_string(),
        service: parts[3].to_string(),
        signed_headers: signed.split(';').map(|s| s.to_ascii_lowercase()).collect(),
        signature: sig.to_string(),
    })
}

/// Parses `20150830T123600Z` into Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 || &s[8..9] != "T" || !s.ends_with('Z') {
        return None;
    }
    let n = |a: usize, b: usize| s.get(a..b).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d, h, mi, se) = (
        n(0, 4)?,
        n(4, 6)?,
        n(6, 8)?,
        n(9, 11)?,
        n(11, 13)?,
        n(13, 15)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se)
}

pub fn format_amz_date(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The signature of a request, as a client computes it.
pub fn signature(
    req: &SignedRequest<'_>,
    secret: &str,
    amz_date: &str,
    region: &str,
    service: &str,
    signed: &[String],
) -> String {
    let header = |name: &str| -> String {
        let vals: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        vals.join(",")
    };
    let canonical_headers: String = signed
        .iter()
        .map(|h| format!("{h}:{}\n", header(h)))
        .collect();
    let payload_hash = {
        let given = header("x-amz-content-sha256");
        if given.is_empty() {
            sha256_hex(req.body)
        } else {
            given
        }
    };
    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        uri_encode(&percent_decode(path), false),
        canonical_query(req.query),
        canonical_headers,
        signed.join(";"),
        payload_hash
    );
    let date = &amz_date[..amz_date.len().min(8)];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, to_sign.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies a request; returns the access key id on success. `now` is Unix seconds.
pub fn verify(req: &SignedRequest<'_>, creds: &Credentials, now: i64) -> Result<String, AuthError> {
    let get = |n: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let auth = get("authorization").ok_or(AuthError::Missing)?;
    let a = parse_authorization(auth)?;
    let amz_date = get("x-amz-date").ok_or_else(|| {
        AuthError::Incomplete(format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}"))
    })?;
    let when = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'"
        ))
    })?;
    let secret = creds.keys.get(&a.key_id).ok_or(AuthError::UnknownKey)?;
    const SKEW: i64 = 15 * 60;
    if when < now - SKEW {
        return Err(AuthError::Expired(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now - SKEW),
            format_amz_date(now)
        )));
    }
    if when > now + SKEW {
        return Err(AuthError::Expired(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(now + SKEW),
            format_amz_date(now)
        )));
    }
    if !amz_date.starts_with(&a.date) {
        return Err(AuthError::BadSignature);
    }
    let expected = signature(
        req,
        secret,
        amz_date,
        &a.region,
        &a.service,
        &a.signed_headers,
    );
    if !constant_time_eq(expected.as_bytes(), a.signature.as_bytes()) {
        return Err(AuthError::BadSignature);
    }
    Ok(a.key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published SigV4 test suite, "get-vanilla": secret
    /// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service "service".
    #[test]
    fn aws_test_suite_get_vanilla() {
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: vec![
                ("host".into(), "example.amazonaws.com".into()),
                ("x-amz-date".into(), "20150830T123600Z".into()),
            ],
            body: b"",
        };
        let sig = signature(
            &req,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            "us-east-1",
            "service",
            &["host".to_string(), "x-amz-date".to_string()],
        );
        assert_eq!(
            sig,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    fn signed(secret: &str, date: &str) -> SignedRequest<'static> {
        let body: &'static [u8] = b"{}";
        let mut req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: vec![
                ("host".into(), "127.0.0.1:8000".into()),
                ("x-amz-date".into(), date.into()),
                ("x-amz-target".into(), "DynamoDB_20120810.ListTables".into()),
            ],
            body,
        };
        let sh = vec![
            "host".to_string(),
            "x-amz-date".to_string(),
            "x-amz-target".to_string(),
        ];
        let sig = signature(&req, secret, date, "us-east-1", "dynamodb", &sh);
        req.headers.push((
            "authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential=AKID/{}/us-east-1/dynamodb/aws4_request, SignedHeaders={}, Signature={sig}", &date[..8], sh.join(";")),
        ));
        req
    }

    #[test]
    fn verification_outcomes() {
        let creds = Credentials::parse_ini("[default]\naws_access_key_id = AKID\naws_secret_access_key = s3cret\n[other]\naws_access_key_id=X\naws_secret_access_key=Y\n");
        assert_eq!(creds.keys.len(), 2);
        let now = parse_amz_date("20260101T000000Z").expect("date");
        assert_eq!(
            verify(&signed("s3cret", "20260101T000000Z"), &creds, now),
            Ok("AKID".into())
        );
        assert_eq!(
            verify(&signed("wrong", "20260101T000000Z"), &creds, now),
            Err(AuthError::BadSignature)
        );
        let stale = verify(&signed("s3cret", "20251231T234000Z"), &creds, now);
        assert!(
            matches!(stale, Err(AuthError::Expired(ref m)) if m.starts_with("Signature expired: 20251231T234000Z is now earlier than 20251231T234500Z")),
            "{stale:?}"
        );
        let mut unknown = signed("s3cret", "20260101T000000Z");
        for h in unknown.headers.iter_mut() {
            if h.0 == "authorization" {
                h.1 = h.1.replace("Credential=AKID", "Credential=NOPE");
            }
        }
        assert_eq!(verify(&unknown, &creds, now), Err(AuthError::UnknownKey));
        let mut none = signed("s3cret", "20260101T000000Z");
        none.headers.retain(|h| h.0 != "authorization");
        assert_eq!(verify(&none, &creds, now), Err(AuthError::Missing));
    }

    #[test]
    fn dates_round_trip() {
        for s in [
            "20150830T123600Z",
            "20000229T000000Z",
            "19700101T000000Z",
            "20261125T235959Z",
        ] {
            let t = parse_amz_date(s).expect("parse");
            assert_eq!(format_amz_date(t), s);
        }
        assert_eq!(parse_amz_date("19700101T000001Z"), Some(1));
    }
}
