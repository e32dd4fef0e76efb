//! The text form of an envelope: strict JSON, strict base64url.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::{ALG, EnvelopeError, IV_LEN, TAG_LEN, VERSION};

/// A parsed envelope. Its fields are checked for shape; authenticity is checked by `open`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    kid: String,
    iv: [u8; IV_LEN],
    ciphertext: Vec<u8>,
    tag: [u8; TAG_LEN],
}

/// Longest envelope text accepted (a 1 MiB secret, base64 and JSON overhead included).
pub const MAX_TEXT_LEN: usize = 1_500_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    v: u64,
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    kid: Cow<'a, str>,
    #[serde(borrow)]
    iv: Cow<'a, str>,
    #[serde(borrow)]
    ciphertext: Cow<'a, str>,
    #[serde(borrow)]
    tag: Cow<'a, str>,
}

impl Envelope {
    pub(super) fn from_parts(
        kid: String,
        iv: [u8; IV_LEN],
        ciphertext: Vec<u8>,
        tag: [u8; TAG_LEN],
    ) -> Envelope {
        Envelope {
            kid,
            iv,
            ciphertext,
            tag,
        }
    }

    /// Parse the text form. Unknown or duplicate fields, padding, non-canonical base64 and wrong
    /// IV or tag lengths are all refused.
    pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(EnvelopeError::Malformed(format!(
                "longer than {MAX_TEXT_LEN} bytes"
            )));
        }
        let wire: Wire<'_> = serde_json::from_str(text).map_err(|e| {
            if e.is_eof() {
                EnvelopeError::Truncated
            } else {
                let what = match e.classify() {
                    serde_json::error::Category::Data => "unexpected, missing or duplicate field",
                    _ => "invalid JSON",
                };
                EnvelopeError::Malformed(format!("{what} at column {}", e.column()))
            }
        })?;
        if wire.v != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(wire.v));
        }
        if wire.alg != ALG {
            return Err(EnvelopeError::UnsupportedAlgorithm(printable(&wire.alg)));
        }
        if wire.kid.is_empty() || wire.kid.len() > 64 {
            return Err(EnvelopeError::Malformed(
                "kid must be 1-64 characters".into(),
            ));
        }
        let iv = fixed::<IV_LEN>(&wire.iv, "iv")?;
        let tag = fixed::<TAG_LEN>(&wire.tag, "tag")?;
        let ciphertext = decode(&wire.ciphertext, "ciphertext")?;
        Ok(Envelope {
            kid: wire.kid.into_owned(),
            iv,
            ciphertext,
            tag,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    pub fn tag(&self) -> &[u8; TAG_LEN] {
        &self.tag
    }
}

impl std::fmt::Display for Envelope {
    /// The one canonical text form (field order fixed).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The kid is restricted to [A-Za-z0-9._-] when sealing, so it needs no JSON escaping;
        // a parsed kid may hold anything, so it goes through the JSON encoder.
        let kid = serde_json::to_string(&self.kid).map_err(|_| std::fmt::Error)?;
        write!(
            f,
            r#"{{"v":{VERSION},"alg":"{ALG}","kid":{kid},"iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(self.iv),
            URL_SAFE_NO_PAD.encode(&self.ciphertext),
            URL_SAFE_NO_PAD.encode(self.tag),
        )
    }
}

fn decode(text: &str, field: &'static str) -> Result<Vec<u8>, EnvelopeError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| EnvelopeError::Malformed(format!("{field} is not canonical base64url")))
}

fn fixed<const N: usize>(text: &str, field: &'static str) -> Result<[u8; N], EnvelopeError> {
    let bytes = decode(text, field)?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        if b.len() < N {
            EnvelopeError::Truncated
        } else {
            EnvelopeError::Malformed(format!("{field} must be {N} bytes"))
        }
    })
}

/// At most 32 printable ASCII characters of an unexpected value, for an error message.
fn printable(value: &str) -> String {
    value
        .chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}
