//! Envelope encryption of stored secrets: AES-256-GCM under a per-workspace data key (DEK).
//!
//! An envelope is a small JSON object in one canonical form (see [`wire`]), stored as text:
//!
//! ```text
//! {"v":1,"alg":"A256GCM","kid":"<data key id>","iv":"<12 bytes>","ciphertext":"<n bytes>","tag":"<16 bytes>"}
//! ```
//!
//! Binary fields are base64url without padding, decoded strictly (no padding, no stray bits), so
//! every envelope has exactly one text form. The associated data binds the ciphertext to its header
//! (`v`, `alg`, `kid`) and to its record (kind, row id, workspace): a ciphertext copied to another
//! row, another kind of record or another workspace fails to open, and so does one whose header
//! was edited. Every failure is a distinct [`EnvelopeError`]; none yields wrong plaintext.

mod data_key;
mod wire;

use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
use zeroize::Zeroizing;

pub use data_key::DataKey;
pub use wire::Envelope;

/// The only version this code writes and reads.
pub const VERSION: u64 = 1;
/// The only algorithm: AES-256-GCM with a 96-bit random IV and a 128-bit tag.
pub const ALG: &str = "A256GCM";
pub const IV_LEN: usize = NONCE_LEN;
pub const TAG_LEN: usize = 16;

/// The record a ciphertext belongs to. All three parts go into the associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordBinding<'a> {
    /// What kind of record, e.g. `connection.credentials` or `user.totp_seed`.
    pub kind: &'a str,
    /// The record's primary key.
    pub row_id: &'a str,
    /// The workspace the record belongs to.
    pub workspace_id: &'a str,
}

/// Why an envelope did not open (or could not be made). Never carries plaintext or key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not an envelope: {0}")]
    Malformed(String),
    #[error("the envelope is truncated")]
    Truncated,
    #[error("unsupported envelope version {0} (this release reads version 1)")]
    UnsupportedVersion(u64),
    #[error("unsupported envelope algorithm `{0}` (this release reads A256GCM)")]
    UnsupportedAlgorithm(String),
    #[error("the envelope was sealed with data key `{envelope_kid}`, not `{key_kid}`")]
    WrongKey {
        envelope_kid: String,
        key_kid: String,
    },
    #[error("authentication failed: the ciphertext, its header or its record binding was altered")]
    Tampered,
    #[error("invalid key id: {0}")]
    InvalidKeyId(&'static str),
    #[error("encryption failed: {0}")]
    Crypto(&'static str),
}

/// Encrypt `plaintext` for the record `binding` under `key`, with a fresh random IV.
pub fn seal(
    key: &DataKey,
    binding: RecordBinding<'_>,
    plaintext: &[u8],
) -> Result<Envelope, EnvelopeError> {
    let mut iv = [0u8; IV_LEN];
    aws_lc_rs::rand::fill(&mut iv)
        .map_err(|_| EnvelopeError::Crypto("the random generator failed"))?;
    let aad = associated_data(key.kid(), binding);
    let mut ciphertext = plaintext.to_vec();
    let tag = key
        .aead()
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(&aad),
            &mut ciphertext,
        )
        .map_err(|_| EnvelopeError::Crypto("AES-GCM sealing failed"))?;
    let mut tag_bytes = [0u8; TAG_LEN];
    tag_bytes.copy_from_slice(tag.as_ref());
    Ok(Envelope::from_parts(
        key.kid().to_string(),
        iv,
        ciphertext,
        tag_bytes,
    ))
}

impl Envelope {
    /// Decrypt with `key`, which must be the data key named in the envelope.
    pub fn open(
        &self,
        key: &DataKey,
        binding: RecordBinding<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        check_key(self, key)?;
        let aad = associated_data(self.kid(), binding);
        let mut buffer = Zeroizing::new(self.ciphertext().to_vec());
        decrypt_in_place(key, *self.iv(), &aad, self.tag(), &mut buffer)?;
        Ok(buffer)
    }
}

/// Parse and open in one step, decrypting in place (no copy of the ciphertext).
pub fn open(
    key: &DataKey,
    binding: RecordBinding<'_>,
    envelope: &str,
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let envelope = Envelope::parse(envelope)?;
    check_key(&envelope, key)?;
    let aad = associated_data(envelope.kid(), binding);
    let (iv, tag) = (*envelope.iv(), *envelope.tag());
    let mut buffer = Zeroizing::new(envelope.into_ciphertext());
    decrypt_in_place(key, iv, &aad, &tag, &mut buffer)?;
    Ok(buffer)
}

fn check_key(envelope: &Envelope, key: &DataKey) -> Result<(), EnvelopeError> {
    if envelope.kid() == key.kid() {
        return Ok(());
    }
    Err(EnvelopeError::WrongKey {
        envelope_kid: envelope.kid().to_string(),
        key_kid: key.kid().to_string(),
    })
}

/// On success `buffer` holds the plaintext; on failure it is cleared.
fn decrypt_in_place(
    key: &DataKey,
    iv: [u8; IV_LEN],
    aad: &[u8],
    tag: &[u8; TAG_LEN],
    buffer: &mut Vec<u8>,
) -> Result<(), EnvelopeError> {
    let opened = key
        .aead()
        .open_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad),
            tag,
            buffer,
        )
        .map(|plain| plain.len());
    match opened {
        Ok(len) => {
            buffer.truncate(len);
            Ok(())
        }
        Err(_) => {
            buffer.clear();
            Err(EnvelopeError::Tampered)
        }
    }
}

/// Canonical, length-prefixed encoding of everything the tag must cover, so no two different
/// (header, record) tuples share an encoding.
fn associated_data(kid: &str, binding: RecordBinding<'_>) -> Vec<u8> {
    let parts: [&[u8]; 6] = [
        b"mandate.envelope",
        ALG.as_bytes(),
        kid.as_bytes(),
        binding.kind.as_bytes(),
        binding.row_id.as_bytes(),
        binding.workspace_id.as_bytes(),
    ];
    let mut out = Vec::with_capacity(8 + parts.iter().map(|p| p.len() + 4).sum::<usize>());
    out.extend_from_slice(&VERSION.to_be_bytes());
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests;
