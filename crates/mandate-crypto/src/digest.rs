//! SHA-256 over length-prefixed parts (so `["ab", "c"]` and `["a", "bc"]` differ), hex-encoded:
//! policy document hashes in audit records, request fingerprints of approvals.

use aws_lc_rs::digest::{Context, SHA256};

/// Lower-case hex SHA-256 of the parts, each preceded by its length (8 bytes, big-endian).
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut ctx = Context::new(&SHA256);
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_length_prefixed() {
        assert_ne!(sha256_hex(&[b"ab", b"c"]), sha256_hex(&[b"a", b"bc"]));
        assert_eq!(sha256_hex(&[b"x"]).len(), 64);
        assert_eq!(sha256_hex(&[b"x"]), sha256_hex(&[b"x"]));
    }
}
