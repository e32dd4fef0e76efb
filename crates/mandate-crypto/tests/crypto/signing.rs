//! Signing keys checked by an independent verifier: PyJWT (with `cryptography`) verifies our
//! tokens against our JWKS, for RS256, ES256 and EdDSA, and refuses altered ones. Keys made by
//! the `openssl` command (PKCS#8, PKCS#1, SEC1 PEM) import. scripts/test installs PyJWT.

use std::process::Command;

use mandate_crypto::signing::{SigningAlg, SigningKey, jwks};
use mandate_testkit::TempDir;
use serde_json::json;

const VERIFY: &str = r#"
import json, sys, jwt
jwks = jwt.PyJWKSet.from_dict(json.load(open(sys.argv[1])))
for line in open(sys.argv[2]):
    token = line.strip()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    try:
        claims = jwt.decode(token, key=key, algorithms=[key.algorithm_name], audience="https://mandate.test")
        print("ok", kid, claims["sub"])
    except jwt.InvalidTokenError as e:
        print("rejected", kid, type(e).__name__)
"#;

fn openssl(args: &[&str], out: &std::path::Path) -> String {
    // `-out` right after the command: genrsa wants its bit count last.
    let status = Command::new("openssl")
        .arg(args[0])
        .arg("-out")
        .arg(out)
        .args(&args[1..])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl {args:?}");
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn pyjwt_verifies_our_tokens_against_our_jwks() {
    let dir = TempDir::new("jwks");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |sub: &str| json!({"iss": "https://mandate.test", "aud": "https://mandate.test", "sub": sub, "iat": now, "exp": now + 300});

    let mut keys = Vec::new();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
        keys.push(SigningKey::generate(alg, format!("gen-{}", alg.as_str())).unwrap());
    }
    let pems = [
        (
            "pkcs8-rsa",
            openssl(
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ],
                &dir.path().join("a.pem"),
            ),
        ),
        (
            "pkcs1-rsa",
            openssl(
                &["genrsa", "-traditional", "2048"],
                &dir.path().join("b.pem"),
            ),
        ),
        (
            "sec1-ec",
            openssl(
                &["ecparam", "-name", "prime256v1", "-genkey", "-noout"],
                &dir.path().join("c.pem"),
            ),
        ),
        (
            "pkcs8-ec",
            openssl(
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                ],
                &dir.path().join("d.pem"),
            ),
        ),
        (
            "pkcs8-ed25519",
            openssl(
                &["genpkey", "-algorithm", "ed25519"],
                &dir.path().join("e.pem"),
            ),
        ),
    ];
    assert!(pems[1].1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(pems[2].1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    for (kid, pem) in &pems {
        keys.push(SigningKey::from_pem(*kid, pem).unwrap_or_else(|e| panic!("{kid}: {e}")));
    }

    let mut tokens: Vec<String> = keys
        .iter()
        .map(|k| k.sign_jwt(&claims(k.kid())).unwrap())
        .collect();
    // One altered payload: the signature no longer matches.
    let forged = {
        let token = keys[0].sign_jwt(&claims("victim")).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let payload = base64_url(&claims("attacker").to_string());
        format!("{}.{}.{}", parts[0], payload, parts[2])
    };
    tokens.push(forged);
    std::fs::write(dir.path().join("jwks.json"), jwks(&keys).to_string()).unwrap();
    std::fs::write(dir.path().join("tokens"), tokens.join("\n")).unwrap();

    let out = Command::new("python3")
        .args(["-c", VERIFY])
        .arg(dir.path().join("jwks.json"))
        .arg(dir.path().join("tokens"))
        .output()
        .expect("run python3 (PyJWT)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), keys.len() + 1, "{stdout}");
    for (line, key) in lines.iter().zip(&keys) {
        assert_eq!(*line, format!("ok {} {}", key.kid(), key.kid()), "{stdout}");
    }
    assert_eq!(
        lines[keys.len()],
        "rejected gen-RS256 InvalidSignatureError",
        "{stdout}"
    );
}

#[test]
fn short_rsa_keys_are_refused() {
    let dir = TempDir::new("jwks");
    let pem = openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
        ],
        &dir.path().join("weak.pem"),
    );
    let err = SigningKey::from_pem("weak", &pem).unwrap_err();
    // aws-lc refuses short RSA keys while parsing; the message names the minimum.
    assert!(err.to_string().contains("RSA (2048 bits or more)"), "{err}");
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
