//! `mandate audit verify`: walk the whole chain in position order, in pages (memory stays flat),
//! recompute every link, and check every signed checkpoint against the chain and the trusted
//! signing keys. The first problem found is reported with its position and what it looks like:
//!
//! - a gap in positions: records removed;
//! - a row whose link does not fit, while the next row fits after it: that row was modified;
//! - the next row fits at this position instead: a row was inserted here (or two swapped);
//! - a row further on fits here: rows were reordered;
//! - the next row fits only at a higher position: rows were removed and the rest renumbered;
//! - a checkpoint whose position holds another link, or that lies beyond the last row: history
//!   was rewritten or its end cut off.

use std::collections::VecDeque;

use mandate_crypto::jwt_verify::{JwtError, verify_jwt};
use mandate_store::Db;
use mandate_store::audit::{self, AuditFilter, AuditRow, CheckpointRow};
use serde_json::Value;

use super::{AuditError, ChainKeys};

const PAGE: i64 = 1_000;
/// How far past a broken row the classification looks.
const LOOKAHEAD: usize = 64;

/// What was wrong, at the first position where something was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    Modified { position: i64 },
    Removed { from: i64, to: i64 },
    RemovedAndRenumbered { position: i64, count: i64 },
    Inserted { position: i64 },
    Reordered { position: i64, found_at: i64 },
    UnknownKey { position: i64, key_id: String },
    CheckpointForged { seq: i64 },
    CheckpointMismatch { seq: i64 },
    Truncated { checkpoint_seq: i64, last_seq: i64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Modified { position } => write!(
                f,
                "the record at position {position} was modified (or forged)"
            ),
            Finding::Removed { from, to } if from == to => {
                write!(f, "the record at position {from} was removed")
            }
            Finding::Removed { from, to } => {
                write!(f, "the records at positions {from}-{to} were removed")
            }
            Finding::RemovedAndRenumbered { position, count } => write!(
                f,
                "{count} record(s) were removed before position {position} and the later ones renumbered"
            ),
            Finding::Inserted { position } => {
                write!(f, "a record was inserted at position {position}")
            }
            Finding::Reordered { position, found_at } => write!(
                f,
                "records were reordered: the record stored at position {found_at} belongs at position {position}"
            ),
            Finding::UnknownKey { position, key_id } => write!(
                f,
                "the record at position {position} names audit key `{key_id}`, which this database does not hold"
            ),
            Finding::CheckpointForged { seq } => write!(
                f,
                "the checkpoint at position {seq} does not carry a valid signature over its own contents"
            ),
            Finding::CheckpointMismatch { seq } => write!(
                f,
                "the signed checkpoint at position {seq} vouches for another record there: history was rewritten"
            ),
            Finding::Truncated {
                checkpoint_seq,
                last_seq,
            } => write!(
                f,
                "a signed checkpoint covers position {checkpoint_seq} but the log ends at {last_seq}: records at the end were removed"
            ),
        }
    }
}

/// The verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records whose link checked out.
    pub records: i64,
    pub checkpoints_verified: u64,
    /// Checkpoints signed by a key not among the trusted ones (a development key that was never
    /// stored, or a key only an external JWKS copy holds). Their link is still compared.
    pub checkpoints_unknown_key: u64,
    pub finding: Option<Finding>,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.finding.is_none()
    }
}

/// Verify the whole log. `trusted` is a JWKS (`{"keys": [...]}`) of keys whose checkpoint
/// signatures count.
pub async fn verify(
    db: &Db,
    keys: &ChainKeys,
    trusted: &Value,
) -> Result<VerifyReport, AuditError> {
    let mut report = VerifyReport::default();
    let mut chain = ChainCheck::new(keys);
    let mut checkpoints = Checkpoints::new(db);
    let mut buffer: VecDeque<AuditRow> = VecDeque::new();
    let mut after = 0i64;
    let mut exhausted = false;
    loop {
        if !exhausted && buffer.len() <= LOOKAHEAD {
            let page = audit::oldest_first(db, &AuditFilter::default(), after, PAGE).await?;
            exhausted = (page.len() as i64) < PAGE;
            if let Some(last) = page.last() {
                after = last.seq;
            }
            buffer.extend(page);
        }
        let Some((seq, link)) = buffer.front().map(|r| (r.seq, r.link.clone())) else {
            break;
        };
        if let Err(finding) = chain.check(buffer.make_contiguous()) {
            report.finding = Some(finding);
            return Ok(report);
        }
        report.records += 1;
        while let Some(checkpoint) = checkpoints.next_at_or_before(seq).await? {
            match check_checkpoint(
                &checkpoint,
                (checkpoint.seq == seq).then_some(&link),
                trusted,
            ) {
                CheckpointVerdict::Verified => report.checkpoints_verified += 1,
                CheckpointVerdict::UnknownKey => report.checkpoints_unknown_key += 1,
                CheckpointVerdict::Bad(finding) => {
                    report.finding = Some(finding);
                    return Ok(report);
                }
            }
        }
        buffer.pop_front();
    }
    let last_seq = chain.expected - 1;
    if let Some(checkpoint) = checkpoints.next_at_or_before(i64::MAX).await? {
        report.finding = Some(Finding::Truncated {
            checkpoint_seq: checkpoint.seq,
            last_seq,
        });
    }
    Ok(report)
}

/// The chain walk: position expected next and the link before it.
struct ChainCheck<'a> {
    keys: &'a ChainKeys,
    expected: i64,
    previous: Option<String>,
}

impl<'a> ChainCheck<'a> {
    fn new(keys: &'a ChainKeys) -> ChainCheck<'a> {
        ChainCheck {
            keys,
            expected: 1,
            previous: None,
        }
    }

    /// Check `rows[0]` (the rest is lookahead); on success move past it.
    fn check(&mut self, rows: &[AuditRow]) -> Result<(), Finding> {
        let Some(row) = rows.first() else {
            return Ok(());
        };
        let p = self.expected;
        if row.seq > p {
            return Err(Finding::Removed {
                from: p,
                to: row.seq - 1,
            });
        }
        match self.keys.fits(row, p, self.previous.as_deref()) {
            None => Err(Finding::UnknownKey {
                position: p,
                key_id: row.key_id.clone(),
            }),
            Some(true) => {
                self.previous = Some(row.link.clone());
                self.expected += 1;
                Ok(())
            }
            Some(false) => Err(self.classify(&rows[..rows.len().min(LOOKAHEAD + 1)])),
        }
    }

    /// `rows[0]` sits at the expected position but does not fit there. Why?
    fn classify(&self, rows: &[AuditRow]) -> Finding {
        let p = self.expected;
        let previous = self.previous.as_deref();
        let fits = |row: &AuditRow, seq: i64, prev: Option<&str>| {
            self.keys.fits(row, seq, prev) == Some(true)
        };
        if let Some(next) = rows.get(1) {
            if fits(next, p, previous) {
                // The next row belongs here. If this one belongs right after it, the two were
                // swapped; otherwise this one was slipped in.
                return if fits(&rows[0], p + 1, Some(&next.link)) {
                    Finding::Reordered {
                        position: p,
                        found_at: next.seq,
                    }
                } else {
                    Finding::Inserted { position: p }
                };
            }
            if let Some(moved) = rows[2..].iter().find(|r| fits(r, p, previous)) {
                return Finding::Reordered {
                    position: p,
                    found_at: moved.seq,
                };
            }
            if fits(next, next.seq, Some(&rows[0].link)) {
                return Finding::Modified { position: p };
            }
            let shift =
                (1..=LOOKAHEAD as i64).find(|k| fits(next, next.seq + k, Some(&rows[0].link)));
            if let Some(count) = shift {
                return Finding::RemovedAndRenumbered { position: p, count };
            }
        }
        Finding::Modified { position: p }
    }
}

enum CheckpointVerdict {
    Verified,
    UnknownKey,
    Bad(Finding),
}

/// `row_link` is the link of the record at the checkpoint's position (None: no such record).
fn check_checkpoint(
    cp: &CheckpointRow,
    row_link: Option<&String>,
    trusted: &Value,
) -> CheckpointVerdict {
    let Some(row_link) = row_link else {
        // The walk passed this position without stopping at it: the record is gone.
        return CheckpointVerdict::Bad(Finding::CheckpointMismatch { seq: cp.seq });
    };
    let signed = match verify_jwt(&cp.token, trusted) {
        Ok(verified) => Some(verified.claims),
        Err(JwtError::UnknownKid) => None,
        Err(_) => return CheckpointVerdict::Bad(Finding::CheckpointForged { seq: cp.seq }),
    };
    if let Some(claims) = &signed
        && (claims["seq"].as_i64() != Some(cp.seq) || claims["link"].as_str() != Some(&cp.link))
    {
        return CheckpointVerdict::Bad(Finding::CheckpointForged { seq: cp.seq });
    }
    if &cp.link != row_link {
        return CheckpointVerdict::Bad(Finding::CheckpointMismatch { seq: cp.seq });
    }
    if signed.is_some() {
        CheckpointVerdict::Verified
    } else {
        CheckpointVerdict::UnknownKey
    }
}

/// Checkpoints in position order, read a page at a time.
struct Checkpoints<'a> {
    db: &'a Db,
    page: VecDeque<CheckpointRow>,
    after: i64,
    exhausted: bool,
}

impl<'a> Checkpoints<'a> {
    fn new(db: &'a Db) -> Checkpoints<'a> {
        Checkpoints {
            db,
            page: VecDeque::new(),
            after: 0,
            exhausted: false,
        }
    }

    /// The next checkpoint if its position is at most `seq`.
    async fn next_at_or_before(&mut self, seq: i64) -> Result<Option<CheckpointRow>, AuditError> {
        if self.page.is_empty() && !self.exhausted {
            let rows = audit::checkpoints(self.db, self.after, PAGE).await?;
            self.exhausted = (rows.len() as i64) < PAGE;
            if let Some(last) = rows.last() {
                self.after = last.seq;
            }
            self.page.extend(rows);
        }
        match self.page.front() {
            Some(cp) if cp.seq <= seq => Ok(self.page.pop_front()),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mandate_crypto::Key256;
    use mandate_store::audit::AuditEntry;
    use time::OffsetDateTime;
    use uuid::Uuid;

    fn keys() -> ChainKeys {
        ChainKeys::new(vec![("ak1".into(), Key256::from_bytes([3; 32]))]).unwrap()
    }

    /// A well-formed chain of `n` rows.
    fn chain(keys: &ChainKeys, n: i64) -> Vec<AuditRow> {
        let mut rows: Vec<AuditRow> = Vec::new();
        for seq in 1..=n {
            let entry = AuditEntry {
                id: Uuid::from_u128(seq as u128),
                occurred_at: OffsetDateTime::from_unix_timestamp(1_700_000_000 + seq).unwrap(),
                actor_kind: "system".into(),
                action: format!("test.{seq}"),
                ..AuditEntry::default()
            };
            let (key_id, link) = keys.link_new(seq, &entry, rows.last().map(|r| r.link.as_str()));
            rows.push(AuditRow {
                seq,
                entry,
                key_id,
                link,
            });
        }
        rows
    }

    fn first_finding(keys: &ChainKeys, rows: &[AuditRow]) -> Option<Finding> {
        let mut check = ChainCheck::new(keys);
        for i in 0..rows.len() {
            if let Err(f) = check.check(&rows[i..]) {
                return Some(f);
            }
        }
        None
    }

    fn renumber(rows: &mut [AuditRow]) {
        for (i, row) in rows.iter_mut().enumerate() {
            row.seq = i as i64 + 1;
        }
    }

    #[test]
    fn an_untouched_chain_is_intact() {
        let k = keys();
        assert_eq!(first_finding(&k, &chain(&k, 20)), None);
    }

    #[test]
    fn each_kind_of_tampering_is_named_at_its_position() {
        let k = keys();
        let base = chain(&k, 20);

        let mut modified = base.clone();
        modified[6].entry.action = "test.edited".into();
        assert_eq!(
            first_finding(&k, &modified),
            Some(Finding::Modified { position: 7 })
        );

        let mut removed = base.clone();
        removed.remove(6);
        assert_eq!(
            first_finding(&k, &removed),
            Some(Finding::Removed { from: 7, to: 7 })
        );

        let mut renumbered = base.clone();
        renumbered.drain(6..8);
        renumber(&mut renumbered);
        assert_eq!(
            first_finding(&k, &renumbered),
            Some(Finding::RemovedAndRenumbered {
                position: 7,
                count: 2
            })
        );

        let mut inserted = base.clone();
        let mut forged = base[3].clone();
        forged.entry.id = Uuid::from_u128(999);
        inserted.insert(6, forged);
        renumber(&mut inserted);
        assert_eq!(
            first_finding(&k, &inserted),
            Some(Finding::Inserted { position: 7 })
        );

        let mut swapped = base.clone();
        swapped.swap(6, 7);
        renumber(&mut swapped);
        assert_eq!(
            first_finding(&k, &swapped),
            Some(Finding::Reordered {
                position: 7,
                found_at: 8
            })
        );

        let mut moved = base.clone();
        let row = moved.remove(6);
        moved.insert(12, row);
        renumber(&mut moved);
        assert_eq!(
            first_finding(&k, &moved),
            Some(Finding::Reordered {
                position: 7,
                found_at: 13
            })
        );

        let mut relinked = base.clone();
        relinked[19].link = "0".repeat(64);
        assert_eq!(
            first_finding(&k, &relinked),
            Some(Finding::Modified { position: 20 })
        );

        let mut rekeyed = base;
        rekeyed[2].key_id = "ak9".into();
        assert_eq!(
            first_finding(&k, &rekeyed),
            Some(Finding::UnknownKey {
                position: 3,
                key_id: "ak9".into()
            })
        );
    }
}
