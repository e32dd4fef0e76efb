//! PII and secret detection: a [`Scanner`] built from recognizer ids, groups and custom regexes
//! finds and replaces them in text. Overlapping findings keep the most specific recognizer (a
//! card number is not also reported as a phone number).

pub mod recognizers;

use std::collections::BTreeMap;

use regex::Regex;

pub use recognizers::{GROUPS, IDS};

/// One kind of thing to find, with what replaces it.
#[derive(Clone, Debug)]
struct Recognizer {
    id: String,
    regex: Regex,
    replacement: String,
    /// Built-in checks apply to built-in ids only.
    builtin: bool,
}

/// A compiled set of recognizers.
#[derive(Clone, Debug, Default)]
pub struct Scanner {
    recognizers: Vec<Recognizer>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScannerError {
    #[error("`{0}` is not a PII type (known: {known}, groups: all_pii, financial, identity, contact, secrets, or `custom` with a pattern)", known = IDS.join(", "))]
    UnknownType(String),
    #[error("`custom` needs a `pattern`")]
    CustomWithoutPattern,
    #[error("invalid regex: {0}")]
    Regex(String),
}

/// Expand a type or group into recognizer ids.
pub fn expand(kind: &str) -> Result<Vec<&'static str>, ScannerError> {
    if let Some(id) = IDS.iter().find(|id| **id == kind) {
        return Ok(vec![id]);
    }
    GROUPS
        .iter()
        .find(|(g, _)| *g == kind)
        .map(|(_, members)| members.to_vec())
        .ok_or_else(|| ScannerError::UnknownType(kind.to_string()))
}

pub fn default_replacement(id: &str) -> String {
    format!("[REDACTED:{id}]")
}

impl Scanner {
    /// A scanner for types or groups, each replaced by `[REDACTED:<id>]` or `replacement`.
    pub fn for_types<S: AsRef<str>>(
        types: &[S],
        replacement: Option<&str>,
    ) -> Result<Scanner, ScannerError> {
        let mut scanner = Scanner::default();
        for t in types {
            scanner.add(t.as_ref(), None, replacement)?;
        }
        Ok(scanner)
    }

    /// Add a type, group or `custom` (with `pattern`).
    pub fn add(
        &mut self,
        kind: &str,
        pattern: Option<&str>,
        replacement: Option<&str>,
    ) -> Result<(), ScannerError> {
        if kind == "custom" {
            let pattern = pattern.ok_or(ScannerError::CustomWithoutPattern)?;
            let regex = Regex::new(pattern).map_err(|e| ScannerError::Regex(e.to_string()))?;
            self.recognizers.push(Recognizer {
                id: "custom".into(),
                regex,
                replacement: replacement.map_or_else(|| default_replacement("custom"), Into::into),
                builtin: false,
            });
            return Ok(());
        }
        for id in expand(kind)? {
            if self.recognizers.iter().any(|r| r.builtin && r.id == id) {
                continue;
            }
            let source =
                recognizers::pattern(id).ok_or_else(|| ScannerError::UnknownType(id.into()))?;
            let regex = Regex::new(source).map_err(|e| ScannerError::Regex(e.to_string()))?;
            self.recognizers.push(Recognizer {
                id: id.to_string(),
                regex,
                replacement: replacement.map_or_else(|| default_replacement(id), Into::into),
                builtin: true,
            });
        }
        // Most specific first, custom patterns last, so overlaps resolve the same way always.
        self.recognizers.sort_by_key(|r| {
            IDS.iter()
                .position(|id| r.builtin && *id == r.id)
                .unwrap_or(IDS.len())
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.recognizers.is_empty()
    }

    /// Non-overlapping findings: (start, end, recognizer index), by position.
    fn findings(&self, text: &str) -> Vec<(usize, usize, usize)> {
        // Kept findings never overlap, so the one starting last before a candidate's end is
        // the only one that can overlap it.
        let mut kept: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for (i, r) in self.recognizers.iter().enumerate() {
            for m in r.regex.find_iter(text) {
                if m.is_empty() || (r.builtin && !recognizers::is_valid(&r.id, m.as_str())) {
                    continue;
                }
                let overlaps = kept
                    .range(..m.end())
                    .next_back()
                    .is_some_and(|(_, (end, _))| *end > m.start());
                if !overlaps {
                    kept.insert(m.start(), (m.end(), i));
                }
            }
        }
        kept.into_iter().map(|(s, (e, i))| (s, e, i)).collect()
    }

    /// The ids found in `text` (for request rules' `pii` match).
    pub fn detect(&self, text: &str) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .findings(text)
            .into_iter()
            .map(|(_, _, i)| self.recognizers[i].id.as_str())
            .collect();
        ids.dedup();
        ids
    }

    /// `text` with every finding replaced, and how many of each id were replaced.
    pub fn redact(&self, text: &str) -> (String, BTreeMap<String, usize>) {
        let findings = self.findings(text);
        let mut counts = BTreeMap::new();
        if findings.is_empty() {
            return (text.to_string(), counts);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end, i) in findings {
            let r = &self.recognizers[i];
            out.push_str(&text[at..start]);
            out.push_str(&r.replacement);
            *counts.entry(r.id.clone()).or_insert(0) += 1;
            at = end;
        }
        out.push_str(&text[at..]);
        (out, counts)
    }
}

#[cfg(test)]
mod tests;
