//! AWS Signature Version 4 for the few JSON calls Mandate makes to KMS (no SDK: the whole KMS
//! client is four calls). Checked against AWS's published SigV4 test suite.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;

pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: zeroize::Zeroizing<String>,
    pub session_token: Option<zeroize::Zeroizing<String>>,
}

pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// Already in canonical form (sorted, encoded).
    pub query: &'a str,
    /// Extra headers to sign (name, value); `host` and `x-amz-date` are added here.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

/// The headers to send: `x-amz-date`, `x-amz-security-token` when there is a session token, and
/// `authorization`. `amz_date` is `YYYYMMDDTHHMMSSZ`.
pub fn sign(
    req: &Request<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
) -> Vec<(String, String)> {
    let date = &amz_date[..8.min(amz_date.len())];
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .chain([
            ("host".to_string(), req.host.to_string()),
            ("x-amz-date".to_string(), amz_date.to_string()),
        ])
        .collect();
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), token.to_string()));
    }
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        req.query,
        canonical_headers,
        signed_headers,
        hex(digest(&SHA256, req.payload).as_ref())
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest(&SHA256, canonical_request.as_bytes()).as_ref())
    );
    let secret = zeroize::Zeroizing::new(format!("AWS4{}", creds.secret_access_key.as_str()));
    let key = [date, region, service, "aws4_request"]
        .iter()
        .fold(secret.as_bytes().to_vec(), |key, part| hmac(&key, part));
    let signature = hex(&hmac(&key, &string_to_sign));
    let mut out = vec![("x-amz-date".to_string(), amz_date.to_string())];
    if let Some(token) = &creds.session_token {
        out.push(("x-amz-security-token".into(), token.to_string()));
    }
    out.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: zeroize::Zeroizing::new(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            ),
            session_token: None,
        }
    }

    fn authorization(query: &str) -> String {
        let req = Request {
            method: "GET",
            host: "example.amazonaws.com",
            path: "/",
            query,
            headers: &[],
            payload: b"",
        };
        sign(&req, &example(), "us-east-1", "service", "20150830T123600Z")
            .into_iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1
    }

    /// AWS SigV4 test suite, `get-vanilla` and `get-vanilla-query-order-key-case`.
    #[test]
    fn matches_the_aws_test_suite() {
        assert_eq!(
            authorization(""),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert!(authorization("Param1=value1&Param2=value2").ends_with(
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        ));
    }

    #[test]
    fn session_tokens_are_signed_and_sent() {
        let mut creds = example();
        creds.session_token = Some(zeroize::Zeroizing::new("token".into()));
        let req = Request {
            method: "POST",
            host: "kms.eu-west-1.amazonaws.com",
            path: "/",
            query: "",
            headers: &[],
            payload: b"{}",
        };
        let headers = sign(&req, &creds, "eu-west-1", "kms", "20261123T000000Z");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "x-amz-security-token" && v == "token")
        );
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            "{auth}"
        );
    }
}
