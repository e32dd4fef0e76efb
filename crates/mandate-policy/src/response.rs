//! Response rules: every rule whose match fits the request applies, in order: first its field
//! filter (keep only `allowFields`, or strip `denyFields`), then its redaction of every string
//! left. Text bodies (and each chunk of a stream) get the redaction only.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::compile::{CompiledPolicy, FieldFilter, ResponseRuleC};
use crate::decide::{Request, matches};
use crate::json_path;

/// One line of the reply's `redactions`: what was replaced where, how often.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RedactionCount {
    #[serde(rename = "type")]
    pub kind: String,
    pub field: String,
    pub count: usize,
}

/// What the response rules did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filtered {
    /// Labels of the rules that applied.
    pub rules: Vec<String>,
    pub redactions: Vec<RedactionCount>,
}

impl Filtered {
    pub fn redacted(&self) -> bool {
        !self.redactions.is_empty()
    }
}

/// Which parts of the response rules to skip (after a person approved seeing more).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bypass {
    pub redaction: bool,
    pub field_filters: bool,
}

impl CompiledPolicy {
    fn response_rules_for<'p>(
        &'p self,
        r: &Request<'_>,
    ) -> impl Iterator<Item = &'p ResponseRuleC> {
        let r = *r;
        self.response_rules
            .iter()
            .filter(move |rule| matches(&rule.matcher, &r))
    }

    /// Filter a JSON response in place.
    pub fn filter_json(&self, r: &Request<'_>, body: &mut Value, bypass: Bypass) -> Filtered {
        let mut out = Filtered::default();
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for rule in self.response_rules_for(r) {
            out.rules.push(rule.label.clone());
            match (&rule.fields, bypass.field_filters) {
                (Some(FieldFilter::Allow(paths)), false) => json_path::keep_only(body, paths),
                (Some(FieldFilter::Deny(paths)), false) => {
                    paths.iter().for_each(|p| p.remove(body))
                }
                _ => {}
            }
            if let (Some(scanner), false) = (&rule.redact, bypass.redaction) {
                json_path::for_each_string(body, &mut |at, s| {
                    let (redacted, found) = scanner.redact(s);
                    if !found.is_empty() {
                        *s = redacted;
                        for (kind, n) in found {
                            *counts.entry((kind, at.to_string())).or_insert(0) += n;
                        }
                    }
                });
            }
        }
        out.redactions = collect(counts);
        out
    }

    /// Redact a text response (or one chunk, line or event of a stream) in place.
    pub fn filter_text(&self, r: &Request<'_>, text: &mut String, bypass: Bypass) -> Filtered {
        let mut out = Filtered::default();
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for rule in self.response_rules_for(r) {
            out.rules.push(rule.label.clone());
            if let (Some(scanner), false) = (&rule.redact, bypass.redaction) {
                let (redacted, found) = scanner.redact(text);
                if !found.is_empty() {
                    *text = redacted;
                    for (kind, n) in found {
                        *counts.entry((kind, "$body".to_string())).or_insert(0) += n;
                    }
                }
            }
        }
        out.redactions = collect(counts);
        out
    }

    /// Whether a response to `r` goes through any rule (streams are then filtered piecewise).
    pub fn filters_response(&self, r: &Request<'_>) -> bool {
        self.response_rules_for(r).next().is_some()
    }
}

fn collect(counts: BTreeMap<(String, String), usize>) -> Vec<RedactionCount> {
    counts
        .into_iter()
        .map(|((kind, field), count)| RedactionCount { kind, field, count })
        .collect()
}
