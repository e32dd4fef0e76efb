//! Reading age files (age-encryption.org/v1) sealed to X25519 recipients: the `age` provider
//! keeps the key encryption key in such a file, opened with an identity file at start.
//!
//! Only decryption, only the X25519 recipient type (what `age-keygen` makes), binary or armored.
//! Everything runs on aws-lc-rs: X25519, HKDF-SHA256, HMAC-SHA256, ChaCha20-Poly1305. Checked
//! against files written by the real `age` command (tests/age.rs).

mod bech32;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use zeroize::Zeroizing;

const VERSION_LINE: &str = "age-encryption.org/v1";
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgeError {
    #[error("not an age identity file: {0}")]
    Identity(String),
    #[error("not an age file: {0}")]
    Format(String),
    #[error("no identity in the identity file can open this age file")]
    NoMatchingIdentity,
    #[error("the age header's MAC does not match: the file was altered")]
    HeaderMac,
    #[error("the age payload does not authenticate: the file was altered or truncated")]
    Payload,
}

/// An X25519 identity (`AGE-SECRET-KEY-1...`).
pub struct Identity {
    private: PrivateKey,
    public: [u8; 32],
}

/// Every identity in an identity file (lines starting with `#` and blank lines are skipped).
pub fn parse_identities(text: &str) -> Result<Vec<Identity>, AgeError> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (hrp, data) = bech32::decode(line)
            .ok_or_else(|| AgeError::Identity("a line is not Bech32".into()))?;
        let data = Zeroizing::new(data);
        if hrp != "age-secret-key-" || data.len() != 32 {
            return Err(AgeError::Identity(
                "only X25519 identities (AGE-SECRET-KEY-1...) are supported".into(),
            ));
        }
        let private = PrivateKey::from_private_key(&X25519, &data)
            .map_err(|_| AgeError::Identity("invalid X25519 key".into()))?;
        let public_key = private
            .compute_public_key()
            .map_err(|_| AgeError::Identity("invalid X25519 key".into()))?;
        let public: [u8; 32] = public_key
            .as_ref()
            .try_into()
            .map_err(|_| AgeError::Identity("invalid X25519 key".into()))?;
        out.push(Identity { private, public });
    }
    if out.is_empty() {
        return Err(AgeError::Identity("no identity in the file".into()));
    }
    Ok(out)
}

/// Decrypt an age file (binary or ASCII-armored) with one of `identities`.
pub fn decrypt(file: &[u8], identities: &[Identity]) -> Result<Zeroizing<Vec<u8>>, AgeError> {
    let dearmored;
    let file = if file.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        dearmored = dearmor(file)?;
        &dearmored[..]
    } else {
        file
    };
    let header = Header::parse(file)?;
    let file_key = identities
        .iter()
        .find_map(|id| header.stanzas.iter().find_map(|s| unwrap_file_key(id, s)))
        .ok_or(AgeError::NoMatchingIdentity)?;
    let mac_key = hkdf_32(file_key.as_ref(), b"", b"header");
    let tag = hmac::Key::new(hmac::HMAC_SHA256, mac_key.as_ref());
    hmac::verify(&tag, header.mac_input, &header.mac).map_err(|_| AgeError::HeaderMac)?;
    decrypt_payload(&file_key, header.payload)
}

struct Stanza {
    kind: String,
    args: Vec<String>,
    body: Vec<u8>,
}

struct Header<'a> {
    stanzas: Vec<Stanza>,
    /// The header up to and including `---`.
    mac_input: &'a [u8],
    mac: Vec<u8>,
    payload: &'a [u8],
}

impl<'a> Header<'a> {
    fn parse(file: &'a [u8]) -> Result<Header<'a>, AgeError> {
        let bad = |why: &str| AgeError::Format(why.to_string());
        let mut pos = 0;
        let next_line = |pos: &mut usize| -> Result<&'a str, AgeError> {
            let rest = file.get(*pos..).ok_or_else(|| bad("truncated header"))?;
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| bad("truncated header"))?;
            let line = std::str::from_utf8(&rest[..end]).map_err(|_| bad("header is not text"))?;
            *pos += end + 1;
            Ok(line)
        };
        if next_line(&mut pos)? != VERSION_LINE {
            return Err(bad("unknown version line"));
        }
        let mut stanzas = Vec::new();
        loop {
            let line_start = pos;
            let line = next_line(&mut pos)?;
            if let Some(mac) = line.strip_prefix("--- ") {
                let mac = STANDARD_NO_PAD
                    .decode(mac)
                    .map_err(|_| bad("header MAC is not base64"))?;
                let mac_input = &file[..line_start + 3];
                return Ok(Header {
                    stanzas,
                    mac_input,
                    mac,
                    payload: &file[pos..],
                });
            }
            let mut words = line
                .strip_prefix("-> ")
                .ok_or_else(|| bad("expected a stanza"))?
                .split(' ');
            let kind = words.next().unwrap_or_default().to_string();
            let args = words.map(str::to_string).collect();
            let mut body = Vec::new();
            loop {
                let line = next_line(&mut pos)?;
                if line.len() > 64 {
                    return Err(bad("stanza body line longer than 64 columns"));
                }
                body.extend(
                    STANDARD_NO_PAD
                        .decode(line)
                        .map_err(|_| bad("stanza body is not base64"))?,
                );
                if line.len() < 64 {
                    break;
                }
            }
            stanzas.push(Stanza { kind, args, body });
        }
    }
}

/// The file key from an X25519 stanza, if it was made for `identity`.
fn unwrap_file_key(identity: &Identity, stanza: &Stanza) -> Option<Zeroizing<[u8; 16]>> {
    if stanza.kind != "X25519" || stanza.args.len() != 1 || stanza.body.len() != 32 {
        return None;
    }
    let share = STANDARD_NO_PAD
        .decode(&stanza.args[0])
        .ok()
        .filter(|s| s.len() == 32)?;
    let shared = agreement::agree(
        &identity.private,
        UnparsedPublicKey::new(&X25519, &share),
        (),
        |secret| Ok(Zeroizing::new(secret.to_vec())),
    )
    .ok()?;
    if shared.iter().all(|b| *b == 0) {
        return None;
    }
    let mut salt = share.clone();
    salt.extend_from_slice(&identity.public);
    let wrap_key = hkdf_32(&shared, &salt, b"age-encryption.org/v1/X25519");
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, wrap_key.as_ref()).ok()?);
    let mut body = Zeroizing::new(stanza.body.clone());
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut body,
        )
        .ok()?;
    let file_key: [u8; 16] = (&*plain).try_into().ok()?;
    Some(Zeroizing::new(file_key))
}

fn decrypt_payload(file_key: &[u8; 16], payload: &[u8]) -> Result<Zeroizing<Vec<u8>>, AgeError> {
    if payload.len() < 16 + TAG {
        return Err(AgeError::Payload);
    }
    let (nonce, mut rest) = payload.split_at(16);
    let key = hkdf_32(file_key, nonce, b"payload");
    let key = LessSafeKey::new(
        UnboundKey::new(&CHACHA20_POLY1305, key.as_ref()).map_err(|_| AgeError::Payload)?,
    );
    let mut out = Zeroizing::new(Vec::with_capacity(rest.len()));
    let mut counter: u64 = 0;
    loop {
        let last = rest.len() <= CHUNK + TAG;
        let (chunk, tail) = rest.split_at(rest.len().min(CHUNK + TAG));
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&counter.to_be_bytes());
        nonce[11] = u8::from(last);
        let mut buffer = Zeroizing::new(chunk.to_vec());
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut buffer,
            )
            .map_err(|_| AgeError::Payload)?;
        // Only a file whose whole plaintext is empty may end with an empty chunk.
        if last && plain.is_empty() && counter > 0 {
            return Err(AgeError::Payload);
        }
        out.extend_from_slice(plain);
        if last {
            return Ok(out);
        }
        rest = tail;
        counter = counter.checked_add(1).ok_or(AgeError::Payload)?;
    }
}

fn hkdf_32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    // Expanding 32 bytes of SHA-256 HKDF cannot fail; a failure leaves zeros, which then fail
    // authentication downstream rather than panicking.
    if let Ok(okm) = prk.expand(&info, hkdf::HKDF_SHA256) {
        let _ = okm.fill(out.as_mut());
    }
    out
}

fn dearmor(file: &[u8]) -> Result<Vec<u8>, AgeError> {
    let text =
        std::str::from_utf8(file).map_err(|_| AgeError::Format("armor is not text".into()))?;
    let body: String = text
        .trim()
        .strip_prefix("-----BEGIN AGE ENCRYPTED FILE-----")
        .and_then(|t| t.strip_suffix("-----END AGE ENCRYPTED FILE-----"))
        .ok_or_else(|| AgeError::Format("unterminated armor".into()))?
        .split_whitespace()
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| AgeError::Format("armor is not base64".into()))
}
