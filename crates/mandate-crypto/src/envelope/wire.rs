//! The text form of an envelope. It is JSON, so any JSON reader can inspect it, but Mandate
//! writes exactly one canonical form and reads only that form:
//!
//! ```text
//! {"v":1,"alg":"A256GCM","kid":"<kid>","iv":"<b64url>","ciphertext":"<b64url>","tag":"<b64url>"}
//! ```
//!
//! No whitespace, this field order, no escapes, base64url without padding decoded strictly. So an
//! envelope has one text form, any edit of its framing is refused, and reading it costs little
//! more than the base64 decoding. `v` comes first so that a later version, whatever its layout,
//! is reported as an unsupported version.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{ALG, EnvelopeError, IV_LEN, TAG_LEN, VERSION};

/// A parsed envelope. Its fields are checked for shape; authenticity is checked by `open`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    kid: String,
    iv: [u8; IV_LEN],
    ciphertext: Vec<u8>,
    tag: [u8; TAG_LEN],
}

/// Longest envelope text accepted (a 1 MiB secret, base64 and framing included).
pub const MAX_TEXT_LEN: usize = 1_500_000;

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

    pub(super) fn into_ciphertext(self) -> Vec<u8> {
        self.ciphertext
    }

    /// Parse the canonical text form.
    pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(EnvelopeError::Malformed(format!(
                "longer than {MAX_TEXT_LEN} bytes"
            )));
        }
        let mut r = Reader { text, pos: 0 };
        r.expect(r#"{"v":"#)?;
        let version = r.version()?;
        if version != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        r.expect(r#","alg":""#)?;
        let alg = r.until_quote()?;
        if alg != ALG {
            return Err(EnvelopeError::UnsupportedAlgorithm(printable(alg)));
        }
        r.expect(r#"","kid":""#)?;
        let kid = r.until_quote()?;
        if kid.is_empty()
            || kid.len() > 64
            || !kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(EnvelopeError::Malformed(
                "kid must be 1-64 characters of A-Z, a-z, 0-9, -, _, .".into(),
            ));
        }
        r.expect(r#"","iv":""#)?;
        let iv = fixed::<IV_LEN>(r.until_quote()?, "iv")?;
        r.expect(r#"","ciphertext":""#)?;
        let ciphertext = decode(r.until_quote()?, "ciphertext")?;
        r.expect(r#"","tag":""#)?;
        let tag = fixed::<TAG_LEN>(r.until_quote()?, "tag")?;
        r.expect(r#""}"#)?;
        if r.pos != text.len() {
            return Err(EnvelopeError::Malformed(
                "trailing characters after the envelope".into(),
            ));
        }
        Ok(Envelope {
            kid: kid.to_string(),
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
    /// The canonical text form. A kid that came from `parse` or `DataKey` needs no escaping.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            r#"{{"v":{VERSION},"alg":"{ALG}","kid":"{}","iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
            self.kid,
            URL_SAFE_NO_PAD.encode(self.iv),
            URL_SAFE_NO_PAD.encode(&self.ciphertext),
            URL_SAFE_NO_PAD.encode(self.tag),
        )
    }
}

/// A cursor over the text; running out of input is `Truncated`, anything unexpected `Malformed`.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn expect(&mut self, literal: &str) -> Result<(), EnvelopeError> {
        let rest = self.rest();
        if rest.starts_with(literal) {
            self.pos += literal.len();
            Ok(())
        } else if literal.starts_with(rest) {
            Err(EnvelopeError::Truncated)
        } else {
            Err(EnvelopeError::Malformed(format!(
                "expected `{literal}` at byte {}",
                self.pos
            )))
        }
    }

    /// The characters up to the next `"` (not consumed). Backslashes are refused: the canonical
    /// form has no escapes.
    fn until_quote(&mut self) -> Result<&'a str, EnvelopeError> {
        let rest = self.rest();
        let end = rest.find('"').ok_or(EnvelopeError::Truncated)?;
        let value = &rest[..end];
        if value.contains('\\') {
            return Err(EnvelopeError::Malformed("escapes are not allowed".into()));
        }
        self.pos += end;
        Ok(value)
    }

    /// 1-20 decimal digits without a leading zero.
    fn version(&mut self) -> Result<u64, EnvelopeError> {
        let rest = self.rest();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == rest.len() {
            return Err(EnvelopeError::Truncated);
        }
        if digits == 0 || digits > 20 || (digits > 1 && rest.starts_with('0')) {
            return Err(EnvelopeError::Malformed("v must be a number".into()));
        }
        let version = rest[..digits]
            .parse()
            .map_err(|_| EnvelopeError::Malformed("v must be a number".into()))?;
        self.pos += digits;
        Ok(version)
    }
}

fn decode(text: &str, field: &'static str) -> Result<Vec<u8>, EnvelopeError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| EnvelopeError::Malformed(format!("{field} is not canonical base64url")))
}

fn fixed<const N: usize>(text: &str, field: &'static str) -> Result<[u8; N], EnvelopeError> {
    let mut out = [0u8; N];
    // Exactly N bytes: check the encoded length first so a longer value cannot overflow `out`.
    let expected_len = (N * 4).div_ceil(3);
    if text.len() < expected_len {
        return Err(EnvelopeError::Truncated);
    }
    if text.len() > expected_len {
        return Err(EnvelopeError::Malformed(format!(
            "{field} must be {N} bytes"
        )));
    }
    match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
        Ok(n) if n == N => Ok(out),
        _ => Err(EnvelopeError::Malformed(format!(
            "{field} is not canonical base64url"
        ))),
    }
}

/// At most 32 printable ASCII characters of an unexpected value, for an error message.
fn printable(value: &str) -> String {
    value
        .chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}
