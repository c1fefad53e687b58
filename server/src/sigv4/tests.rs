//! SigV4 against AWS's published test suite, a botocore-signed DynamoDB request, and the
//! refusal paths.

use super::*;

const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_DATE: &str = "20150830T123600Z";

fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn suite_auth(signed: &str) -> AuthorizationHeader {
    parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature=00"
    ))
    .expect("parse")
}

/// Signs a suite request ("service" in us-east-1 on 2015-08-30) and returns the signature.
fn suite_signature(
    method: &str,
    path: &str,
    query: &str,
    hdrs: &[(&str, &str)],
    body: &[u8],
) -> String {
    let h = headers(hdrs);
    let parts = RequestParts {
        method,
        path,
        query,
        headers: &h,
    };
    let mut names: Vec<String> = h.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let auth = suite_auth(&names.join(";"));
    let canonical = canonical_request(&parts, &auth.signed_headers, &sha256_hex(body));
    signature(SUITE_SECRET, &auth, SUITE_DATE, &canonical)
}

const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
const DATE: (&str, &str) = ("X-Amz-Date", SUITE_DATE);

#[test]
fn get_vanilla_canonical_request_string_to_sign_and_signature() {
    let h = headers(&[HOST, DATE]);
    let parts = RequestParts {
        method: "GET",
        path: "/",
        query: "",
        headers: &h,
    };
    let auth = suite_auth("host;x-amz-date");
    let canonical = canonical_request(&parts, &auth.signed_headers, &sha256_hex(b""));
    assert_eq!(
        canonical,
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        string_to_sign(SUITE_DATE, &auth.scope(), &canonical),
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
         bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    );
    assert_eq!(
        signature(SUITE_SECRET, &auth, SUITE_DATE, &canonical),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

/// (name, method, path, query, headers, body, expected signature)
type SuiteCase<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a [u8],
    &'a str,
);

#[test]
fn aws_suite_vectors() {
    let cases: &[SuiteCase<'_>] = &[
        ("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", vec![HOST, DATE], b"",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        ("get-vanilla-query-unreserved", "GET", "/",
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         vec![HOST, DATE], b"", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
        ("get-vanilla-utf8-query", "GET", "/", "\u{1234}=bar", vec![HOST, DATE], b"",
         "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        ("get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "",
         vec![HOST, DATE], b"", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        ("get-utf8", "GET", "/\u{1234}", "", vec![HOST, DATE], b"",
         "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        ("get-header-value-trim", "GET", "/", "",
         vec![HOST, ("My-Header1", " value1"), ("My-Header2", " \"a   b   c\""), DATE], b"",
         "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        ("post-vanilla", "POST", "/", "", vec![HOST, DATE], b"",
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("post-header-key-sort", "POST", "/", "", vec![HOST, ("My-Header1", "value1"), DATE], b"",
         "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
        ("post-header-value-case", "POST", "/", "", vec![HOST, ("My-Header1", "VALUE1"), DATE], b"",
         "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
        ("post-vanilla-query", "POST", "/", "Param1=value1", vec![HOST, DATE], b"",
         "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
        ("post-x-www-form-urlencoded", "POST", "/", "",
         vec![("Content-Type", "application/x-www-form-urlencoded"), HOST, DATE], b"Param1=value1",
         "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
        ("post-x-www-form-urlencoded-parameters", "POST", "/", "",
         vec![("Content-Type", "application/x-www-form-urlencoded; charset=utf8"), HOST, DATE], b"Param1=value1",
         "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
    ];
    for (name, method, path, query, hdrs, body, want) in cases {
        assert_eq!(
            &suite_signature(method, path, query, hdrs, body),
            want,
            "{name}"
        );
    }
}

const BOTO_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BOTO_BODY: &[u8] = br#"{"TableName":"t"}"#;
const BOTO_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=9936d3936e5e323a216ac34965e45f63cc42e2822b409851b8dcee8f8efc14d7";

/// A DescribeTable request exactly as botocore 1.44 signed it (date patched to
/// 2026-11-25T08:30:00Z).
fn boto_headers(auth: &str) -> Vec<(String, String)> {
    headers(&[
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "DynamoDB_20120810.DescribeTable"),
        ("x-amz-date", "20261125T083000Z"),
        ("authorization", auth),
        ("host", "127.0.0.1:8000"),
        ("content-length", "17"),
        ("user-agent", "Boto3/1.44.8 unsigned-so-ignored"),
    ])
}

fn boto_parts(h: &[(String, String)]) -> RequestParts<'_> {
    RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: h,
    }
}

fn boto_now() -> i64 {
    parse_amz_date("20261125T083000Z").expect("date")
}

fn boto_creds() -> Credentials {
    Credentials::parse_ini(&format!(
        "# shared credentials\n[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = {BOTO_SECRET}\n\n[profile other]\naws_access_key_id=OTHER\naws_secret_access_key=othersecret\n[incomplete]\naws_access_key_id=HALF\n"
    ))
}

#[test]
fn botocore_signed_request_is_accepted() {
    let h = boto_headers(BOTO_AUTH);
    let creds = boto_creds();
    assert_eq!(creds.len(), 2, "{creds:?}");
    assert_eq!(
        verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()),
        Ok("AKIDEXAMPLE".to_string())
    );
    // Within the skew window either way.
    for skew in [-CLOCK_SKEW_MAX_SECS, CLOCK_SKEW_MAX_SECS] {
        assert!(verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now() + skew).is_ok());
    }
}

#[test]
fn tampered_body_or_header_fails_signature() {
    let h = boto_headers(BOTO_AUTH);
    let creds = boto_creds();
    assert_eq!(
        verify(&boto_parts(&h), br#"{"TableName":"u"}"#, &creds, boto_now()),
        Err(AuthError::BadSignature)
    );
    let mut h2 = h.clone();
    for (k, v) in h2.iter_mut() {
        if k == "x-amz-target" {
            *v = "DynamoDB_20120810.DeleteTable".into();
        }
    }
    assert_eq!(
        verify(&boto_parts(&h2), BOTO_BODY, &creds, boto_now()),
        Err(AuthError::BadSignature)
    );
    // A declared payload hash that is not the body's is refused even if it was signed.
    let mut h3 = h.clone();
    h3.push(("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
    assert_eq!(
        verify(&boto_parts(&h3), BOTO_BODY, &creds, boto_now()),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn wrong_secret_is_invalid_signature() {
    let h = boto_headers(BOTO_AUTH);
    let creds = Credentials::single("AKIDEXAMPLE", "not-the-secret");
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("refused");
    assert_eq!(e, AuthError::BadSignature);
    assert_eq!(e.code(), ErrorCode::InvalidSignatureException);
    assert!(e
        .to_string()
        .starts_with("The request signature we calculated does not match"));
}

#[test]
fn unknown_key_is_unrecognized_client() {
    let h = boto_headers(&BOTO_AUTH.replace("Credential=AKIDEXAMPLE", "Credential=AKIDNOPE"));
    let e = verify(&boto_parts(&h), BOTO_BODY, &boto_creds(), boto_now()).expect_err("refused");
    assert_eq!(e, AuthError::UnknownKey);
    assert_eq!(e.code(), ErrorCode::UnrecognizedClientException);
    assert_eq!(
        e.to_string(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn missing_authorization_is_missing_token() {
    let mut h = boto_headers(BOTO_AUTH);
    h.retain(|(k, _)| k != "authorization");
    let e = verify(&boto_parts(&h), BOTO_BODY, &boto_creds(), boto_now()).expect_err("refused");
    assert_eq!(e.code(), ErrorCode::MissingAuthenticationTokenException);
    assert_eq!(e.to_string(), "Request is missing Authentication Token");
}

#[test]
fn stale_and_future_dates_are_refused_with_dynamodb_wording() {
    let h = boto_headers(BOTO_AUTH);
    let late = boto_now() + CLOCK_SKEW_MAX_SECS + 1;
    let e = verify(&boto_parts(&h), BOTO_BODY, &boto_creds(), late).expect_err("expired");
    assert_eq!(e.code(), ErrorCode::InvalidSignatureException);
    assert_eq!(
        e.to_string(),
        "Signature expired: 20261125T083000Z is now earlier than 20261125T083001Z (20261125T084501Z - 15 min.)"
    );
    let early = boto_now() - CLOCK_SKEW_MAX_SECS - 60;
    let e = verify(&boto_parts(&h), BOTO_BODY, &boto_creds(), early).expect_err("future");
    assert_eq!(
        e.to_string(),
        "Signature not yet current: 20261125T083000Z is still later than 20261125T082900Z (20261125T081400Z + 15 min.)"
    );
}

#[test]
fn malformed_authorization_is_incomplete_signature() {
    let creds = boto_creds();
    for bad in [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/dynamodb/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/dynamodb, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/dynamodb/aws4_request, SignedHeaders=, Signature=ab",
        "AWS4-",
    ] {
        let h = boto_headers(bad);
        let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err(bad);
        assert_eq!(e.code(), ErrorCode::IncompleteSignatureException, "{bad:?}: {e}");
    }
    // Not Signature Version 4 at all: no token, as DynamoDB says.
    for bad in ["AWS AKIDEXAMPLE:abc", "Basic abc", "AWS4", "garbage", ""] {
        let h = boto_headers(bad);
        let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err(bad);
        assert_eq!(
            e.code(),
            ErrorCode::MissingAuthenticationTokenException,
            "{bad:?}: {e}"
        );
    }
    // DynamoDB's words for a bad algorithm, a credential of the wrong shape, a bad terminator.
    let h = boto_headers(&BOTO_AUTH.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA25"));
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("algorithm");
    assert_eq!(
        e.to_string(),
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for now). "
    );
    let h =
        boto_headers(&BOTO_AUTH.replace("/us-east-1/dynamodb/aws4_request", "/us-east-1/dynamodb"));
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("four parts");
    assert_eq!(e.code(), ErrorCode::IncompleteSignatureException);
    assert!(
        e.to_string()
            .starts_with("Credential must have exactly 5 slash-delimited elements"),
        "{e}"
    );
    let h = boto_headers(&BOTO_AUTH.replace("aws4_request", "aws5_request"));
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("terminator");
    assert_eq!(e.code(), ErrorCode::InvalidSignatureException);
    assert_eq!(
        e.to_string(),
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
    );
    // `AWS4-` alone, without a date: everything missing, in one message, as DynamoDB words it.
    let h: Vec<(String, String)> = boto_headers("AWS4-")
        .into_iter()
        .filter(|(k, _)| k != "x-amz-date")
        .collect();
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("bare");
    assert_eq!(
        e.to_string(),
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-"
    );
    // An unknown key with a stale date is told about the date first.
    let h = boto_headers(&BOTO_AUTH.replace("AKIDEXAMPLE", "AKIDNOBODY"));
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now() + 3600).expect_err("stale");
    assert!(e.to_string().starts_with("Signature expired:"), "{e}");
    // Host must be signed.
    let h = boto_headers(&BOTO_AUTH.replace("content-type;host;", "content-type;"));
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("no host");
    assert_eq!(e.code(), ErrorCode::IncompleteSignatureException);
    // An unparsable X-Amz-Date.
    let mut h = boto_headers(BOTO_AUTH);
    for (k, v) in h.iter_mut() {
        if k == "x-amz-date" {
            *v = "yesterday".into();
        }
    }
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("bad date");
    assert_eq!(e.code(), ErrorCode::IncompleteSignatureException);
}

#[test]
fn scope_must_match_date_and_service() {
    let creds = boto_creds();
    let h = boto_headers(&BOTO_AUTH.replace("/20261125/", "/20261124/"));
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("scope date");
    assert_eq!(e.code(), ErrorCode::InvalidSignatureException);
    assert!(e.to_string().contains("'20261124' != '20261125'"), "{e}");
    let h = boto_headers(&BOTO_AUTH.replace("/dynamodb/", "/s3/"));
    let e = verify(&boto_parts(&h), BOTO_BODY, &creds, boto_now()).expect_err("service");
    assert_eq!(e.code(), ErrorCode::InvalidSignatureException);
}

#[test]
fn a_server_in_a_region_refuses_signatures_for_another() {
    let h = boto_headers(BOTO_AUTH);
    let home = boto_creds().in_region("us-east-1");
    assert!(verify(&boto_parts(&h), BOTO_BODY, &home, boto_now()).is_ok());
    let away = boto_creds().in_region("eu-west-1");
    let e = verify(&boto_parts(&h), BOTO_BODY, &away, boto_now()).expect_err("region");
    assert_eq!(e.code(), ErrorCode::InvalidSignatureException);
    assert_eq!(
        e.to_string(),
        "Credential should be scoped to a valid region, not 'us-east-1'. "
    );
}

#[test]
fn signatures_we_compute_verify_for_any_region_and_key() {
    let creds = Credentials::single("AKID2", "s3cr3t/+=");
    let body = br#"{"TableName":"x","Item":{"k":{"S":"v"}}}"#;
    let date = "20300101T000000Z";
    let mut h = headers(&[
        ("Host", "localhost:8000"),
        ("X-Amz-Date", date),
        ("X-Amz-Target", "DynamoDB_20120810.PutItem"),
        ("Content-Type", "application/x-amz-json-1.0"),
    ]);
    let auth = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKID2/20300101/eu-west-3/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00",
    )
    .expect("parse");
    let parts = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &h,
    };
    let sig = signature(
        "s3cr3t/+=",
        &auth,
        date,
        &canonical_request(&parts, &auth.signed_headers, &sha256_hex(body)),
    );
    h.push((
        "Authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID2/20300101/eu-west-3/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}"
        ),
    ));
    let parts = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &h,
    };
    let now = parse_amz_date(date).expect("date");
    assert_eq!(verify(&parts, body, &creds, now), Ok("AKID2".into()));
    // Upper-case hex in the header is the same signature.
    let upper: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| {
            if k == "Authorization" {
                (k.clone(), v.replace(&sig, &sig.to_ascii_uppercase()))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let parts = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &upper,
    };
    assert_eq!(verify(&parts, body, &creds, now), Ok("AKID2".into()));
}

#[test]
fn http_date_header_stands_in_for_x_amz_date() {
    assert_eq!(
        parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
        parse_amz_date("20150830T123600Z")
    );
    assert_eq!(parse_http_date("30 Aug 2015 12:36:00 GMT"), None);
    assert_eq!(parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT"), None);
}

#[test]
fn dates_round_trip_and_reject_garbage() {
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
    for bad in [
        "",
        "2015-08-30T12:36:00Z",
        "20151330T123600Z",
        "20150830T123600",
        "2015083012360000",
        "20150830T12360+Z",
        "２０１５0830T123600Z",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}

#[test]
fn credentials_debug_never_shows_secrets() {
    let c = boto_creds();
    let shown = format!("{c:?}");
    assert!(shown.contains("AKIDEXAMPLE") && !shown.contains(BOTO_SECRET));
}

#[test]
fn canonical_query_decodes_then_encodes_and_sorts() {
    assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(canonical_query("x%20y=a+b&flag"), "flag=&x%20y=a%2Bb");
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("bad=%zz%"), "bad=%25zz%25");
}
