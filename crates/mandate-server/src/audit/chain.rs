//! The keyed hash chain. Each row's link is
//!
//! ```text
//! link(n) = HMAC-SHA256(audit key, canonical(n, row) || link(n-1))     (link(0) = empty)
//! ```
//!
//! written as lower-case hex; `link(n-1)` enters as its 64 hex characters. `canonical` is a
//! domain tag, then every field in a fixed order: an absent field is the byte 0x00, a present
//! one 0x01 followed by its length (u32, big endian) and its bytes. Numbers are big endian, the
//! time is microseconds since the Unix epoch, ids are their 16 bytes, `details` is the stored
//! text byte for byte. Lengths make the encoding unambiguous: no two rows encode alike. The
//! position and the key id are inside the encoding, so a row moved to another position, or
//! relabelled with another key, no longer matches its link.

use std::collections::HashMap;

use mandate_crypto::Key256;
use mandate_crypto::mac::hmac_sha256;
use mandate_store::audit::{AuditEntry, AuditRow};

const DOMAIN: &[u8] = b"mandate.audit.v1";

/// The chain's keys: the current one links new rows; all of them check old rows.
pub struct ChainKeys {
    current: String,
    keys: HashMap<String, Key256>,
}

impl std::fmt::Debug for ChainKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ChainKeys {
    /// `keys` oldest first; the last is current. None when empty.
    pub fn new(keys: Vec<(String, Key256)>) -> Option<ChainKeys> {
        let current = keys.last()?.0.clone();
        Some(ChainKeys {
            current,
            keys: keys.into_iter().collect(),
        })
    }

    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// (key id, link) for a new row at `seq` after `previous`.
    pub fn link_new(
        &self,
        seq: i64,
        entry: &AuditEntry,
        previous: Option<&str>,
    ) -> (String, String) {
        let link = self
            .link_with(&self.current, seq, entry, previous)
            .unwrap_or_default();
        (self.current.clone(), link)
    }

    /// The link `entry` would have at `seq` after `previous` under key `key_id`; None when that
    /// key is not known here.
    pub fn link_with(
        &self,
        key_id: &str,
        seq: i64,
        entry: &AuditEntry,
        previous: Option<&str>,
    ) -> Option<String> {
        let key = self.keys.get(key_id)?;
        let encoded = canonical(seq, key_id, entry);
        let mac = hmac_sha256(key, &[&encoded, previous.unwrap_or("").as_bytes()]);
        Some(hex(&mac))
    }

    /// Does `row`, read at position `seq` after `previous`, carry the link it should? None when
    /// its key is not known here.
    pub fn fits(&self, row: &AuditRow, seq: i64, previous: Option<&str>) -> Option<bool> {
        let expected = self.link_with(&row.key_id, seq, &row.entry, previous)?;
        // Links are not secret (they are exported), so a plain comparison leaks nothing.
        Some(expected == row.link)
    }

    pub fn knows(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }
}

/// The canonical encoding of a row at `seq` under key `key_id`.
pub fn canonical(seq: i64, key_id: &str, e: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut field = |value: Option<&[u8]>| match value {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
        }
    };
    let text = |v: &Option<String>| v.as_deref().map(str::as_bytes).map(<[u8]>::to_vec);
    let micros = (e.occurred_at.unix_timestamp_nanos() / 1_000) as i64;
    let fields: [Option<Vec<u8>>; 24] = [
        Some(DOMAIN.to_vec()),
        Some(seq.to_be_bytes().to_vec()),
        Some(key_id.as_bytes().to_vec()),
        Some(e.id.as_bytes().to_vec()),
        Some(micros.to_be_bytes().to_vec()),
        e.workspace_id.map(|w| w.as_bytes().to_vec()),
        Some(e.actor_kind.as_bytes().to_vec()),
        text(&e.actor_id),
        Some(e.action.as_bytes().to_vec()),
        text(&e.target_kind),
        text(&e.target_id),
        text(&e.agent_id),
        text(&e.connection_id),
        text(&e.decision),
        text(&e.rule),
        text(&e.outcome),
        text(&e.method),
        text(&e.host),
        text(&e.path),
        e.status.map(|s| s.to_be_bytes().to_vec()),
        e.duration_ms.map(|d| d.to_be_bytes().to_vec()),
        text(&e.source_ip),
        text(&e.correlation_id),
        text(&e.details),
    ];
    for value in &fields {
        field(value.as_deref());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::OffsetDateTime;
    use uuid::Uuid;

    fn keys() -> ChainKeys {
        ChainKeys::new(vec![("ak1".into(), Key256::from_bytes([9; 32]))]).unwrap()
    }

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            id: Uuid::from_u128(1),
            occurred_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            actor_kind: "system".into(),
            actor_id: Some("cli".into()),
            action: action.into(),
            ..AuditEntry::default()
        }
    }

    #[test]
    fn a_link_depends_on_position_previous_link_key_and_every_field() {
        let k = keys();
        let (_, base) = k.link_new(1, &entry("a"), None);
        assert_eq!(base.len(), 64);
        assert_ne!(k.link_new(2, &entry("a"), None).1, base);
        assert_ne!(k.link_new(1, &entry("a"), Some(&base)).1, base);
        assert_ne!(k.link_new(1, &entry("b"), None).1, base);
        let other = ChainKeys::new(vec![("ak1".into(), Key256::from_bytes([8; 32]))]).unwrap();
        assert_ne!(other.link_new(1, &entry("a"), None).1, base);
    }

    #[test]
    fn moving_bytes_between_adjacent_fields_changes_the_encoding() {
        // Without length prefixes, ("ab", "c") and ("a", "bc") would encode alike.
        let mut one = entry("x");
        one.target_kind = Some("ab".into());
        one.target_id = Some("c".into());
        let mut two = entry("x");
        two.target_kind = Some("a".into());
        two.target_id = Some("bc".into());
        assert_ne!(canonical(1, "k", &one), canonical(1, "k", &two));
        // Absent and empty differ too.
        let mut empty = entry("x");
        empty.rule = Some(String::new());
        assert_ne!(canonical(1, "k", &empty), canonical(1, "k", &entry("x")));
    }

    proptest! {
        /// Any change to any text field changes the link.
        #[test]
        fn any_edit_breaks_the_link(field in 0usize..8, value in "[ -~]{0,20}") {
            let k = keys();
            let original = {
                let mut e = entry("keys.kek.rotated");
                e.target_id = Some("t".into());
                e.path = Some("/p".into());
                e.details = Some("{}".into());
                e
            };
            let mut edited = original.clone();
            let slot = match field {
                0 => &mut edited.actor_kind,
                1 => &mut edited.action,
                2 => edited.target_id.get_or_insert_default(),
                3 => edited.path.get_or_insert_default(),
                4 => edited.details.get_or_insert_default(),
                5 => edited.host.get_or_insert_default(),
                6 => edited.source_ip.get_or_insert_default(),
                _ => edited.rule.get_or_insert_default(),
            };
            *slot = value;
            prop_assume!(edited != original);
            prop_assert_ne!(k.link_new(5, &edited, Some("prev")).1, k.link_new(5, &original, Some("prev")).1);
        }
    }
}
