//! AWS Signature Version 4 verification of DynamoDB requests.
//!
//! Canonical request: method, canonical URI, canonical query string, the signed headers
//! (lower-case names, trimmed values with inner runs of spaces collapsed, sorted), the
//! signed-header list, and the hex SHA-256 of the body. String to sign: `AWS4-HMAC-SHA256`, the
//! request date, the credential scope and the hex SHA-256 of the canonical request. The signing
//! key is the HMAC chain of the secret over date, region, service and `aws4_request`.
//!
//! Verification runs in two stages so that a request without valid credentials is refused
//! before its body is read: [`check_headers`] parses the Authorization header, finds the
//! secret and checks the 15-minute clock-skew window; [`Pending::verify`] then hashes the body
//! and compares signatures in constant time.

use std::collections::HashMap;

use hashlog::api::{ApiError, ErrorCode};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The signing name of DynamoDB (and of DynamoDB Streams).
pub const SERVICE: &str = "dynamodb";
/// How far a request's date may be from the server's clock, either way.
pub const CLOCK_SKEW_MAX_SECS: i64 = 15 * 60;

/// Why a request is refused, as DynamoDB reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Request is missing Authentication Token")]
    Missing,
    /// IncompleteSignatureException: the Authorization header or date cannot be parsed.
    #[error("{0}")]
    Incomplete(String),
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    BadSignature,
    /// InvalidSignatureException with a specific message (expired, wrong scope).
    #[error("{0}")]
    Invalid(String),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Missing => ErrorCode::MissingAuthenticationTokenException,
            AuthError::Incomplete(_) => ErrorCode::IncompleteSignatureException,
            AuthError::UnknownKey => ErrorCode::UnrecognizedClientException,
            AuthError::BadSignature | AuthError::Invalid(_) => ErrorCode::InvalidSignatureException,
        }
    }

    pub fn to_api_error(&self) -> ApiError {
        ApiError::new(self.code(), self.to_string())
    }
}

/// Why a credentials file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} has no profile with both aws_access_key_id and aws_secret_access_key")]
    Empty { path: String },
}

/// Access key id → secret access key, from an AWS shared-credentials INI file.
#[derive(Clone, Default)]
pub struct Credentials {
    keys: HashMap<String, String>,
    /// The region requests must be signed for (`None`: any, as before a server names one).
    region: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Credentials")
            .field("access_key_ids", &ids)
            .finish()
    }
}

impl Credentials {
    /// Every profile's `aws_access_key_id` / `aws_secret_access_key` pair; profiles missing one
    /// of the two are skipped.
    pub fn parse_ini(text: &str) -> Credentials {
        let mut keys = HashMap::new();
        let mut id: Option<String> = None;
        let mut secret: Option<String> = None;
        let mut finish = |id: &mut Option<String>, secret: &mut Option<String>| {
            if let (Some(i), Some(s)) = (id.take(), secret.take()) {
                keys.insert(i, s);
            }
            *id = None;
            *secret = None;
        };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                finish(&mut id, &mut secret);
                continue;
            }
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim();
                if v.is_empty() {
                    continue;
                }
                match k.trim().to_ascii_lowercase().as_str() {
                    "aws_access_key_id" => id = Some(v.to_string()),
                    "aws_secret_access_key" => secret = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        finish(&mut id, &mut secret);
        Credentials { keys, region: None }
    }

    /// Requests must be signed for `region`, as DynamoDB's endpoint for a region refuses a
    /// signature scoped to another one.
    pub fn in_region(mut self, region: &str) -> Credentials {
        self.region = Some(region.to_string());
        self
    }

    /// Reads and parses a shared-credentials file; refuses one with no usable pair.
    pub fn load(path: &std::path::Path) -> Result<Credentials, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let c = Credentials::parse_ini(&text);
        if c.keys.is_empty() {
            return Err(CredentialsError::Empty {
                path: path.display().to_string(),
            });
        }
        Ok(c)
    }

    /// One identity (tests and embedding).
    pub fn single(access_key_id: &str, secret_access_key: &str) -> Credentials {
        let mut keys = HashMap::new();
        keys.insert(access_key_id.to_string(), secret_access_key.to_string());
        Credentials { keys, region: None }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn secret(&self, access_key_id: &str) -> Option<&str> {
        self.keys.get(access_key_id).map(String::as_str)
    }
}

/// The parts of a request the signature covers (the body comes later, in [`Pending::verify`]).
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as received on the request line (still percent-encoded).
    pub path: &'a str,
    /// The query string as received, without `?`.
    pub query: &'a str,
    /// (name, value) of every header; names in any case.
    pub headers: &'a [(String, String)],
}

impl RequestParts<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A signed header's canonical value: every value of that name, trimmed, inner runs of
    /// spaces collapsed, joined by commas.
    fn canonical_header_value(&self, name: &str) -> String {
        let mut out = String::new();
        let mut seen = false;
        for (k, v) in self.headers {
            if k.eq_ignore_ascii_case(name) {
                if seen {
                    out.push(',');
                }
                seen = true;
                for (i, word) in v.split_whitespace().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(word);
                }
            }
        }
        out
    }
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    pub access_key_id: String,
    pub scope_date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl AuthorizationHeader {
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

/// Parses an Authorization header value.
pub fn parse_authorization(h: &str) -> Result<AuthorizationHeader, AuthError> {
    parse_authorization_dated(h, true)
}

/// [`parse_authorization`], told whether the request has a date header: missing parameters
/// and a missing date are reported together, in DynamoDB's order.
fn parse_authorization_dated(h: &str, dated: bool) -> Result<AuthorizationHeader, AuthError> {
    let h = h.trim();
    let (algorithm, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v.trim());
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v.trim());
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v.trim());
        }
    }
    let (credential, signed, signature) = match (
        credential.filter(|s| !s.is_empty()),
        signed.filter(|s| !s.is_empty()),
        signature.filter(|s| !s.is_empty()),
    ) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        (c, sh, s) => {
            let mut missing = Vec::new();
            for (present, name) in [
                (c.is_some(), "Credential"),
                (s.is_some(), "Signature"),
                (sh.is_some(), "SignedHeaders"),
            ] {
                if !present {
                    missing.push(format!("Authorization header requires '{name}' parameter."));
                }
            }
            if !dated {
                missing.push(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                        .into(),
                );
            }
            return Err(AuthError::Incomplete(format!(
                "{} Authorization={h}",
                missing.join(" ")
            )));
        }
    };
    // The parameters are looked for first (an `AWS4-` with none is told what is missing),
    // then the algorithm.
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). "
        )));
    }
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 {
        return Err(AuthError::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{credential}'"
        )));
    }
    if parts[4] != "aws4_request" {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            parts[4]
        )));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(AuthError::Incomplete(format!(
            "Credential should be scoped to a valid region, service and date: \
             'AKID/YYYYMMDD/region/service/aws4_request', not '{credential}'."
        )));
    }
    let signed_headers: Vec<String> = signed
        .split(';')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(AuthError::Incomplete(format!(
            "Authorization header has an empty name in SignedHeaders. Authorization={h}"
        )));
    }
    Ok(AuthorizationHeader {
        access_key_id: parts[0].to_string(),
        scope_date: parts[1].to_string(),
        region: parts[2].to_string(),
        service: parts[3].to_string(),
        signed_headers,
        signature: signature.to_string(),
    })
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail; an all-zero MAC (which never
    // matches a real signature) stands in rather than a panic.
    match HmacSha256::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// RFC 3986 encoding as SigV4 does it: unreserved characters stay, everything else is `%XX`.
fn uri_encode(s: &str, encode_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
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

/// The canonical URI: the path as received, encoded once more (as the SDKs do for every
/// service but S3); an empty path is `/`.
pub fn canonical_uri(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let mut out = String::with_capacity(path.len());
    uri_encode(path, false, &mut out);
    out
}

/// The canonical query string: parameters decoded, re-encoded, sorted by name then value.
pub fn canonical_query(q: &str) -> String {
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut ek = String::new();
            let mut ev = String::new();
            uri_encode(&percent_decode(k), true, &mut ek);
            uri_encode(&percent_decode(v), true, &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The canonical request over `signed` headers and a payload hash.
pub fn canonical_request(
    parts: &RequestParts<'_>,
    signed: &[String],
    payload_hash: &str,
) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(parts.method);
    s.push('\n');
    s.push_str(&canonical_uri(parts.path));
    s.push('\n');
    s.push_str(&canonical_query(parts.query));
    s.push('\n');
    for h in signed {
        s.push_str(h);
        s.push(':');
        s.push_str(&parts.canonical_header_value(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(&signed.join(";"));
    s.push('\n');
    s.push_str(payload_hash);
    s
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The hex signature a client computes for a request.
pub fn signature(
    secret: &str,
    auth: &AuthorizationHeader,
    amz_date: &str,
    canonical_request: &str,
) -> String {
    let key = signing_key(secret, &auth.scope_date, &auth.region, &auth.service);
    hex::encode(hmac(
        &key,
        string_to_sign(amz_date, &auth.scope(), canonical_request).as_bytes(),
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `20150830T123600Z` into Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 || s.as_bytes()[8] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let n = |a: usize, b: usize| {
        s.get(a..b)
            .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|x| x.parse::<i64>().ok())
    };
    civil_to_unix(
        n(0, 4)?,
        n(4, 6)?,
        n(6, 8)?,
        n(9, 11)?,
        n(11, 13)?,
        n(13, 15)?,
    )
}

/// Parses an RFC 1123 `Date` header (`Sun, 30 Aug 2015 12:36:00 GMT`) into Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rest = s.trim().split_once(", ")?.1;
    let f: Vec<&str> = rest.split(' ').collect();
    if f.len() != 5 || f[4] != "GMT" {
        return None;
    }
    let mo = MONTHS.iter().position(|m| *m == f[1])? as i64 + 1;
    let t: Vec<&str> = f[3].split(':').collect();
    if t.len() != 3 {
        return None;
    }
    civil_to_unix(
        f[2].parse().ok()?,
        mo,
        f[0].parse().ok()?,
        t[0].parse().ok()?,
        t[1].parse().ok()?,
        t[2].parse().ok()?,
    )
}

fn civil_to_unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, se: i64) -> Option<i64> {
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=60).contains(&se)
    {
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

/// Formats Unix seconds as `20150830T123600Z`.
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

/// A request whose headers passed; the body is still to be checked.
#[derive(Debug)]
pub struct Pending {
    auth: AuthorizationHeader,
    secret: String,
    amz_date: String,
}

impl Pending {
    pub fn access_key_id(&self) -> &str {
        &self.auth.access_key_id
    }

    /// Hashes the body, rebuilds the signature and compares it in constant time; returns the
    /// access key id.
    pub fn verify(&self, parts: &RequestParts<'_>, body: &[u8]) -> Result<String, AuthError> {
        let body_hash = sha256_hex(body);
        // A client may send the payload hash it signed; it must be the body's.
        if let Some(given) = parts.header("x-amz-content-sha256") {
            if !constant_time_eq(given.trim().as_bytes(), body_hash.as_bytes()) {
                return Err(AuthError::BadSignature);
            }
        }
        let canonical = canonical_request(parts, &self.auth.signed_headers, &body_hash);
        let expected = signature(&self.secret, &self.auth, &self.amz_date, &canonical);
        if !constant_time_eq(
            expected.as_bytes(),
            self.auth.signature.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(AuthError::BadSignature);
        }
        Ok(self.auth.access_key_id.clone())
    }
}

/// The header stage: Authorization present and well formed, key known, date within
/// [`CLOCK_SKEW_MAX_SECS`] of `now` (Unix seconds), scope consistent.
pub fn check_headers(
    parts: &RequestParts<'_>,
    creds: &Credentials,
    now: i64,
) -> Result<Pending, AuthError> {
    let raw = parts.header("authorization").ok_or(AuthError::Missing)?;
    // A scheme that is not AWS Signature Version 4 at all (`Basic …`, a bare `AWS4`) is no
    // token, as DynamoDB answers it.
    if !raw.trim_start().starts_with("AWS4-") {
        return Err(AuthError::Missing);
    }
    let dated = parts.header("x-amz-date").is_some() || parts.header("date").is_some();
    let auth = parse_authorization_dated(raw, dated)?;
    let (amz_date, when) = match parts.header("x-amz-date") {
        Some(d) => {
            let d = d.trim();
            let t = parse_amz_date(d).ok_or_else(|| {
                AuthError::Incomplete(format!(
                    "Date must be in ISO-8601 'basic format'. Got '{d}'. See http://en.wikipedia.org/wiki/ISO_8601"
                ))
            })?;
            (d.to_string(), t)
        }
        None => match parts.header("date").and_then(parse_http_date) {
            Some(t) => (format_amz_date(t), t),
            None => {
                return Err(AuthError::Incomplete(format!(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={raw}"
                )))
            }
        },
    };
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if when < now - CLOCK_SKEW_MAX_SECS {
        return Err(AuthError::Invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now - CLOCK_SKEW_MAX_SECS),
            format_amz_date(now)
        )));
    }
    if when > now + CLOCK_SKEW_MAX_SECS {
        return Err(AuthError::Invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(now + CLOCK_SKEW_MAX_SECS),
            format_amz_date(now)
        )));
    }
    let day = amz_date.get(..8).unwrap_or("");
    if auth.scope_date != day {
        return Err(AuthError::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from '{amz_date}'.",
            auth.scope_date
        )));
    }
    if creds.region.as_ref().is_some_and(|r| *r != auth.region) {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.region
        )));
    }
    if auth.service != SERVICE {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped to correct service: '{SERVICE}'. "
        )));
    }
    // The key is looked up last, as DynamoDB does: a request with an unknown key and a stale
    // date is told about the date.
    let secret = creds
        .secret(&auth.access_key_id)
        .ok_or(AuthError::UnknownKey)?
        .to_string();
    Ok(Pending {
        auth,
        secret,
        amz_date,
    })
}

/// Both stages at once (tests, and callers that already hold the body).
pub fn verify(
    parts: &RequestParts<'_>,
    body: &[u8],
    creds: &Credentials,
    now: i64,
) -> Result<String, AuthError> {
    check_headers(parts, creds, now)?.verify(parts, body)
}

#[cfg(test)]
mod tests;
