//! The credential never reaches the agent, even when a provider reflects it (an echo endpoint,
//! an error message quoting the request's `Authorization`): every spelling of it that was sent
//! (the token, its URL-encoded form, a basic pair's password and base64 form) is replaced in the
//! reply's headers and body before anything else looks at them.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::connections::credential::Credential;

pub const REPLACEMENT: &str = "[REDACTED:credential]";

/// Shorter values are not searched for (they would match by chance).
const MIN_SECRET: usize = 8;

/// Built per request from the credential just opened: a literal multi-pattern search (no regex
/// compilation on the hot path).
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    pattern: Option<AhoCorasick>,
    count: usize,
    longest: usize,
}

impl Scrubber {
    pub fn for_credential(c: &Credential) -> Scrubber {
        let mut secrets: Vec<String> = Vec::new();
        match c {
            Credential::Basic { username, password } => {
                secrets.push(password.clone());
                secrets.push(STANDARD.encode(format!("{username}:{password}")));
            }
            other => {
                if let Some(token) = other.api_token() {
                    secrets.push(token.to_string());
                    secrets.push(url::form_urlencoded::byte_serialize(token.as_bytes()).collect());
                }
            }
        }
        if let Some(refresh) = c.refresh_token() {
            secrets.push(refresh.to_string());
        }
        secrets.retain(|s| s.len() >= MIN_SECRET);
        secrets.sort();
        secrets.dedup();
        let longest = secrets.iter().map(String::len).max().unwrap_or(0);
        // Leftmost-longest: a secret that contains another is replaced whole.
        let pattern = (!secrets.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    // A handful of patterns searched in one reply: building a DFA costs more
                    // than it saves.
                    .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                    .build(&secrets)
                    .ok()
            })
            .flatten();
        Scrubber {
            pattern,
            count: secrets.len(),
            longest,
        }
    }

    /// The length of the longest secret (a stream holds back one byte less between chunks).
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// `bytes` with every secret replaced, and how many were.
    pub fn scrub(&self, bytes: &[u8]) -> (Vec<u8>, usize) {
        let Some(pattern) = &self.pattern else {
            return (bytes.to_vec(), 0);
        };
        let count = pattern.find_iter(bytes).count();
        if count == 0 {
            return (bytes.to_vec(), 0);
        }
        let replacements = vec![REPLACEMENT.as_bytes(); self.count];
        (pattern.replace_all_bytes(bytes, &replacements), count)
    }

    pub fn scrub_str(&self, text: &str) -> String {
        let (out, _) = self.scrub(text.as_bytes());
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_credential_goes() {
        let s = Scrubber::for_credential(&Credential::Secret {
            secret: "tok/en+secret=1".into(),
        });
        let (out, n) = s.scrub(b"a tok/en+secret=1 b tok%2Fen%2Bsecret%3D1 c");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("a {REPLACEMENT} b {REPLACEMENT} c")
        );
        assert_eq!(n, 2);
        let basic = Scrubber::for_credential(&Credential::Basic {
            username: "u".into(),
            password: "pa55word!".into(),
        });
        let encoded = STANDARD.encode("u:pa55word!");
        assert_eq!(
            basic.scrub_str(&format!("Basic {encoded} / pa55word!")),
            format!("Basic {REPLACEMENT} / {REPLACEMENT}")
        );
        assert_eq!(Scrubber::default().scrub(b"x").1, 0);
    }
}
