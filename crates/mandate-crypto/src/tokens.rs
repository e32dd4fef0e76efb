//! Tokens Mandate issues: `<prefix><body><checksum>`.
//!
//! - prefix: names the kind (`mandate_bs_` bootstrap secret, `mandate_at_` agent access token,
//!   `mandate_pat_` personal access token, `mandate_sess_` browser session, `mandate_inv_`
//!   invitation link, `mandate_setup_` first-run setup token), so a leaked token says what it is;
//! - body: 256 random bits in base62 (43 characters: no `-` or `_`, so a double-click selects
//!   the whole token);
//! - checksum: 6 base62 characters of SHA-256(prefix + body), so secret scanners can tell a real
//!   token from look-alikes offline, and typos are refused before any database lookup.
//!
//! Only [`TokenHash`] (SHA-256 of the whole token) is stored. With 256 bits of entropy a fast hash
//! is enough; lookups go by hash, and [`TokenHash::matches`] compares in constant time.

use aws_lc_rs::digest::{SHA256, digest};
use zeroize::Zeroizing;

const BODY_BYTES: usize = 32;
const BODY_CHARS: usize = 43; // 62^43 > 2^256
const CHECKSUM_CHARS: usize = 6;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    BootstrapSecret,
    AgentAccess,
    PersonalAccess,
    /// The value of a browser session cookie.
    Session,
    /// The secret in an invitation link.
    Invite,
    /// The one-time token that creates the first owner.
    Setup,
}

impl TokenKind {
    pub const ALL: [TokenKind; 6] = [
        TokenKind::BootstrapSecret,
        TokenKind::AgentAccess,
        TokenKind::PersonalAccess,
        TokenKind::Session,
        TokenKind::Invite,
        TokenKind::Setup,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::BootstrapSecret => "mandate_bs_",
            TokenKind::AgentAccess => "mandate_at_",
            TokenKind::PersonalAccess => "mandate_pat_",
            TokenKind::Session => "mandate_sess_",
            TokenKind::Invite => "mandate_inv_",
            TokenKind::Setup => "mandate_setup_",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a Mandate token (unknown prefix)")]
    UnknownPrefix,
    #[error("malformed token")]
    Malformed,
    #[error("token checksum mismatch (mistyped or truncated token)")]
    BadChecksum,
    #[error("the system random generator failed")]
    Random,
}

/// SHA-256 of a token: what the database stores and looks up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        TokenHash(out)
    }

    /// Constant-time comparison with the hash of `presented`.
    pub fn matches(&self, presented: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &TokenHash::of(presented).0)
            .is_ok()
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// A token just issued: show `secret` once, store `hash`.
pub struct IssuedToken {
    pub kind: TokenKind,
    pub secret: Zeroizing<String>,
    pub hash: TokenHash,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

pub fn issue(kind: TokenKind) -> Result<IssuedToken, TokenError> {
    let mut random = Zeroizing::new([0u8; BODY_BYTES]);
    aws_lc_rs::rand::fill(random.as_mut()).map_err(|_| TokenError::Random)?;
    let mut secret = Zeroizing::new(String::with_capacity(
        kind.prefix().len() + BODY_CHARS + CHECKSUM_CHARS,
    ));
    secret.push_str(kind.prefix());
    secret.push_str(&base62(random.as_ref(), BODY_CHARS));
    let checksum = checksum(&secret);
    secret.push_str(&checksum);
    let hash = TokenHash::of(&secret);
    Ok(IssuedToken { kind, secret, hash })
}

/// Check the shape and checksum of a presented token, and say what kind it claims to be. Does not
/// say whether it is valid: that needs the stored hash.
pub fn inspect(token: &str) -> Result<TokenKind, TokenError> {
    let kind = TokenKind::ALL
        .into_iter()
        .find(|k| token.starts_with(k.prefix()))
        .ok_or(TokenError::UnknownPrefix)?;
    let rest = &token[kind.prefix().len()..];
    if rest.len() != BODY_CHARS + CHECKSUM_CHARS || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(TokenError::Malformed);
    }
    let (signed, given) = token.split_at(token.len() - CHECKSUM_CHARS);
    let expected = checksum(signed);
    if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), given.as_bytes())
        .is_err()
    {
        return Err(TokenError::BadChecksum);
    }
    Ok(kind)
}

fn checksum(signed: &str) -> String {
    let d = digest(&SHA256, signed.as_bytes());
    base62(&d.as_ref()[..4], CHECKSUM_CHARS)
}

/// Big-endian base62 of `bytes`, left-padded with `0` to exactly `width` characters.
fn base62(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while digits.len() < width {
        // Divide the big-endian number by 62, keeping the remainder.
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_carry_kind_and_valid_checksum() {
        for kind in TokenKind::ALL {
            let t = issue(kind).unwrap();
            assert!(t.secret.starts_with(kind.prefix()));
            assert_eq!(t.secret.len(), kind.prefix().len() + 49);
            assert_eq!(inspect(&t.secret), Ok(kind));
            assert!(t.hash.matches(&t.secret));
            assert_eq!(t.hash, TokenHash::of(&t.secret));
            assert!(!format!("{t:?}").contains(t.secret.as_str()));
        }
        assert_ne!(
            issue(TokenKind::AgentAccess).unwrap().secret,
            issue(TokenKind::AgentAccess).unwrap().secret
        );
    }

    #[test]
    fn typos_and_foreign_tokens_are_refused_before_lookup() {
        let t = issue(TokenKind::PersonalAccess).unwrap();
        let secret = t.secret.as_str();
        assert_eq!(inspect("ghp_abc"), Err(TokenError::UnknownPrefix));
        assert_eq!(
            inspect(&secret[..secret.len() - 1]),
            Err(TokenError::Malformed)
        );
        assert_eq!(inspect(&format!("{secret}-")), Err(TokenError::Malformed));
        // Change one body character: the checksum catches it.
        let mut typo = secret.to_string().into_bytes();
        let i = TokenKind::PersonalAccess.prefix().len() + 5;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(inspect(&typo), Err(TokenError::BadChecksum));
        assert!(!t.hash.matches(&typo));
        // Same body, other kind: the prefix is covered by the checksum.
        let relabeled = secret.replacen("mandate_pat_", "mandate_at_", 1);
        assert_eq!(inspect(&relabeled), Err(TokenError::BadChecksum));
    }

    #[test]
    fn base62_is_fixed_width_big_endian() {
        assert_eq!(base62(&[0], 3), "000");
        assert_eq!(base62(&[61], 2), "0z");
        assert_eq!(base62(&[1, 0], 3), "048"); // 256 = 4*62 + 8
        assert_eq!(base62(&[0xff; 32], 43).len(), 43);
        assert_ne!(base62(&[0xff; 32], 43).as_bytes()[0], b'0');
    }
}
