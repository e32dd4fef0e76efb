//! The decision for one request, in the contract's order: model, time window, allowlist (empty
//! denies all), payload size, then request rules (first match wins), then the step-up fallback
//! when no rule matched. Every decision says which stage and rule decided and why, for the audit
//! record and for `POST /v1/policies/{id}/test`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::compile::{CompiledPolicy, Condition, Matcher, Selector, Test};
use crate::document::{Action, Model, StepUp};
use crate::json_path::{self, JsonPath};
use crate::prompt;

/// A request body as the gateway holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Json(Value),
    Text(String),
}

impl Body {
    /// The whole body as text (`$body`).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Body::Json(v) => std::borrow::Cow::Owned(v.to_string()),
            Body::Text(t) => std::borrow::Cow::Borrowed(t),
        }
    }
}

/// The request being decided.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub model: Model,
    /// Upper-case.
    pub method: &'a str,
    pub url: &'a Url,
    pub body: Option<&'a Body>,
    /// The size of the body as it would be sent.
    pub body_bytes: u64,
    pub unix_seconds: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    Deny,
    RequireApproval,
    /// Allow after replacing PII in the body ([`CompiledPolicy::redact_request`]).
    Redact,
}

/// Which part of the policy decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    AllowedModels,
    TimeWindows,
    Allowlists,
    PayloadSize,
    RequestRule,
    StepUpApproval,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub outcome: Outcome,
    pub stage: Stage,
    /// The request rule that decided: its index and label (or `rules.request[i]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_label: Option<String>,
    pub reason: String,
}

impl Decision {
    fn at(outcome: Outcome, stage: Stage, reason: impl Into<String>) -> Decision {
        Decision {
            outcome,
            stage,
            rule_index: None,
            rule_label: None,
            reason: reason.into(),
        }
    }

    /// The rule for the audit record: the rule's label or the stage's name.
    pub fn rule_name(&self) -> String {
        match &self.rule_label {
            Some(l) => l.clone(),
            None => match self.stage {
                Stage::AllowedModels => "allowedModels",
                Stage::TimeWindows => "timeWindows",
                Stage::Allowlists => "allowlists",
                Stage::PayloadSize => "rateLimits.maxPayloadSizeBytes",
                Stage::RequestRule => "rules.request",
                Stage::StepUpApproval => "stepUpApproval",
            }
            .to_string(),
        }
    }
}

impl CompiledPolicy {
    pub fn decide(&self, r: &Request<'_>) -> Decision {
        if !self.allows_model(r.model) {
            return Decision::at(
                Outcome::Deny,
                Stage::AllowedModels,
                format!("model {:?} is not in allowedModels", r.model),
            );
        }
        if !self.windows.is_empty() && !self.windows.iter().any(|w| w.contains(r.unix_seconds)) {
            return Decision::at(
                Outcome::Deny,
                Stage::TimeWindows,
                "outside the policy's time windows",
            );
        }
        if r.model == Model::A {
            return Decision::at(Outcome::Allow, Stage::AllowedModels, "model A is allowed");
        }
        if !self.allowlist.iter().any(|a| a.allows(r.method, r.url)) {
            let reason = if self.allowlist.is_empty() {
                "the policy's allowlist is empty, so every request is denied".to_string()
            } else {
                format!("{} {} matches no allowlist entry", r.method, r.url.path())
            };
            return Decision::at(Outcome::Deny, Stage::Allowlists, reason);
        }
        if let Some(max) = self.rate_limits().and_then(|l| l.max_payload_size_bytes)
            && r.body_bytes > max
        {
            return Decision::at(
                Outcome::Deny,
                Stage::PayloadSize,
                format!(
                    "the body has {} bytes; the policy allows {max}",
                    r.body_bytes
                ),
            );
        }
        let url_hits = if self.url_set.is_empty() {
            None
        } else {
            Some(self.url_set.matches(r.url.path()))
        };
        for (i, rule) in self.request_rules.iter().enumerate() {
            let url_ok = match (rule.matcher.url_slot, &url_hits) {
                (Some(slot), Some(hits)) => hits.matched(slot),
                _ => true,
            };
            if url_ok && matches(&rule.matcher, r) {
                return Decision {
                    outcome: match rule.action {
                        Action::Allow => Outcome::Allow,
                        Action::Deny => Outcome::Deny,
                        Action::RequireApproval => Outcome::RequireApproval,
                        Action::Redact => Outcome::Redact,
                    },
                    stage: Stage::RequestRule,
                    rule_index: Some(i),
                    rule_label: Some(rule.label.clone()),
                    reason: format!("request rule `{}` matched", rule.label),
                };
            }
        }
        let (outcome, reason) = match self.step_up {
            StepUp::Never => (Outcome::Allow, "no rule matched; stepUpApproval is never"),
            StepUp::Always => (
                Outcome::RequireApproval,
                "no rule matched; stepUpApproval is always",
            ),
            StepUp::RiskBased if crate::method::is_read(r.method) => (
                Outcome::Allow,
                "no rule matched; a read passes under risk_based",
            ),
            StepUp::RiskBased => (
                Outcome::RequireApproval,
                "no rule matched; a write needs approval under risk_based",
            ),
        };
        Decision::at(outcome, Stage::StepUpApproval, reason)
    }

    /// Replace PII in an outgoing body as the `redact` rule at `rule_index` says; the counts
    /// per recognizer.
    pub fn redact_request(&self, rule_index: usize, body: &mut Body) -> BTreeMap<String, usize> {
        let Some(redaction) = self
            .request_rules
            .get(rule_index)
            .and_then(|r| r.redact.as_ref())
        else {
            return BTreeMap::new();
        };
        let mut total = BTreeMap::new();
        match body {
            Body::Text(t) => {
                let (out, counts) = redaction.scanner.redact(t);
                *t = out;
                merge(&mut total, counts);
            }
            Body::Json(v) => json_path::for_each_string(v, &mut |at, s| {
                if redaction
                    .fields
                    .as_deref()
                    .is_none_or(|f| json_path::location_under(at, f))
                {
                    let (out, counts) = redaction.scanner.redact(s);
                    *s = out;
                    merge(&mut total, counts);
                }
            }),
        }
        total
    }
}

fn merge(total: &mut BTreeMap<String, usize>, counts: BTreeMap<String, usize>) {
    for (k, n) in counts {
        *total.entry(k).or_insert(0) += n;
    }
}

/// Everything but the URL pattern (checked through the policy's `RegexSet`).
pub(crate) fn matches(m: &Matcher, r: &Request<'_>) -> bool {
    if let Some(methods) = &m.methods
        && !methods.iter().any(|x| x == r.method)
    {
        return false;
    }
    if let Some(url) = &m.url
        && !url.is_match(r.url.path())
    {
        return false;
    }
    if let Some(q) = &m.query
        && !q.is_match(r.url.query().unwrap_or(""))
    {
        return false;
    }
    if !m.body.iter().all(|c| holds(c, r.body)) {
        return false;
    }
    if let Some(pii) = &m.pii {
        let Some(body) = r.body else { return false };
        let found = match (&pii.fields, body) {
            (None, b) => !pii.scanner.detect(&b.text()).is_empty(),
            (Some(_), Body::Text(_)) => false,
            (Some(fields), Body::Json(v)) => fields.iter().any(|f| {
                f.select(v)
                    .into_iter()
                    .any(|x| !pii.scanner.detect(&scalar_text(x)).is_empty())
            }),
        };
        if !found {
            return false;
        }
    }
    true
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn holds(c: &Condition, body: Option<&Body>) -> bool {
    let owned: Vec<Value>;
    let selected: Vec<&Value> = match (&c.selector, body) {
        (_, None) => Vec::new(),
        (Selector::WholeBody, Some(b)) => {
            owned = vec![Value::String(b.text().into_owned())];
            owned.iter().collect()
        }
        (Selector::PromptText, Some(b)) => {
            owned = prompt::text(b).map(Value::String).into_iter().collect();
            owned.iter().collect()
        }
        (Selector::Path(p), Some(Body::Json(v))) => select(p, v),
        (Selector::Path(_), Some(Body::Text(_))) => Vec::new(),
    };
    match &c.test {
        Test::Exists(want) => selected.is_empty() != *want,
        Test::Eq(v) => selected.contains(&v),
        Test::Neq(v) => !selected.contains(&v),
        Test::In(list) => selected.iter().any(|s| list.contains(s)),
        Test::NotIn(list) => !selected.iter().any(|s| list.contains(s)),
        Test::Contains(v) => selected.iter().any(|s| match (s, v) {
            (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
            (Value::Array(a), v) => a.contains(v),
            _ => false,
        }),
        Test::Matches(re) => selected
            .iter()
            .any(|s| s.as_str().is_some_and(|t| re.is_match(t))),
    }
}

fn select<'a>(p: &JsonPath, v: &'a Value) -> Vec<&'a Value> {
    p.select(v)
}
