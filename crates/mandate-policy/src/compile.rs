//! Validation and compilation in one pass: every check that can fail names the field
//! (`rules.request[2].match.urlPattern`), every regex is compiled once, URL patterns of all request
//! rules go into one `RegexSet` so a decision scans the path once however many rules there are.

use regex::{Regex, RegexSet};
use serde_json::Value;

use crate::allowlist::Allowed;
use crate::document::{
    Action, BodyCondition, BodyOp, Model, PolicyDocument, RateLimits, RedactConfig, RequestMatch,
    StepUp,
};
use crate::json_path::JsonPath;
use crate::pii::Scanner;
use crate::time_window::Window;

/// Approval requests stay open this long unless the policy says otherwise.
pub const DEFAULT_APPROVAL_TTL_SECONDS: u32 = 15 * 60;

/// What is wrong with a policy, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        message: message.into(),
    }
}

/// Parse a JSON policy document; type errors name their field.
pub fn parse_json(text: &str) -> Result<PolicyDocument, PolicyError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        err(
            if field == "." {
                "document".into()
            } else {
                field
            },
            e.into_inner().to_string(),
        )
    })
}

/// Parse a policy document given as a JSON value.
pub fn from_value(value: Value) -> Result<PolicyDocument, PolicyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        err(
            if field == "." {
                "document".into()
            } else {
                field
            },
            e.into_inner().to_string(),
        )
    })
}

#[derive(Clone, Debug)]
pub(crate) enum Selector {
    Path(JsonPath),
    WholeBody,
    PromptText,
}

#[derive(Clone, Debug)]
pub(crate) enum Test {
    Eq(Value),
    Neq(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Contains(Value),
    Matches(Regex),
    Exists(bool),
}

#[derive(Clone, Debug)]
pub(crate) struct Condition {
    pub selector: Selector,
    pub test: Test,
}

#[derive(Clone, Debug)]
pub(crate) struct PiiCondition {
    pub scanner: Scanner,
    pub fields: Option<Vec<JsonPath>>,
}

/// The compiled `match` of a request or response rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct Matcher {
    pub methods: Option<Vec<String>>,
    /// Index into the policy's URL `RegexSet` (request rules) or an own regex (response rules).
    pub url_slot: Option<usize>,
    pub url: Option<Regex>,
    pub query: Option<Regex>,
    pub body: Vec<Condition>,
    pub pii: Option<PiiCondition>,
}

#[derive(Clone, Debug)]
pub(crate) struct RequestRuleC {
    pub label: String,
    pub matcher: Matcher,
    pub action: Action,
    pub redact: Option<Redaction>,
}

/// What `redact` (request) or a response filter's `redact` replaces.
#[derive(Clone, Debug)]
pub(crate) struct Redaction {
    pub scanner: Scanner,
    pub fields: Option<Vec<JsonPath>>,
}

#[derive(Clone, Debug)]
pub(crate) enum FieldFilter {
    Allow(Vec<JsonPath>),
    Deny(Vec<JsonPath>),
}

#[derive(Clone, Debug)]
pub(crate) struct ResponseRuleC {
    pub label: String,
    pub matcher: Matcher,
    pub fields: Option<FieldFilter>,
    pub redact: Option<Scanner>,
}

/// A validated policy, ready to decide.
#[derive(Clone, Debug)]
pub struct CompiledPolicy {
    pub(crate) document: PolicyDocument,
    pub(crate) model_a: bool,
    pub(crate) model_b: bool,
    pub(crate) step_up: StepUp,
    pub(crate) allowlist: Vec<Allowed>,
    pub(crate) windows: Vec<Window>,
    pub(crate) url_set: RegexSet,
    pub(crate) request_rules: Vec<RequestRuleC>,
    pub(crate) response_rules: Vec<ResponseRuleC>,
}

impl CompiledPolicy {
    pub fn compile(document: PolicyDocument) -> Result<CompiledPolicy, PolicyError> {
        if document.allowed_models.is_empty() {
            return Err(err(
                "allowedModels",
                "lists no model; use [\"B\"] for the proxy, [\"A\"] for token vending",
            ));
        }
        let allowlist = document
            .allowlists
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Allowed::new(
                    &a.base_url,
                    a.methods.as_deref(),
                    a.path_patterns.as_deref(),
                )
                .map_err(|(f, m)| err(format!("allowlists[{i}].{f}"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(limits) = &document.rate_limits {
            check_limits(limits)?;
        }
        let windows = document
            .time_windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                Window::new(w.day_of_week, w.start_hour, w.end_hour, &w.timezone)
                    .map_err(|(f, m)| err(format!("timeWindows[{i}].{f}"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(ttl) = document.approval_ttl_seconds
            && !(60..=7 * 24 * 3600).contains(&ttl)
        {
            return Err(err(
                "approvalTtlSeconds",
                "must be between 60 seconds and 7 days",
            ));
        }

        let mut url_sources = Vec::new();
        let mut request_rules = Vec::new();
        for (i, rule) in document.rules.request.iter().enumerate() {
            let at = format!("rules.request[{i}]");
            let mut matcher = matcher(&rule.r#match, &format!("{at}.match"))?;
            if let Some(url) = matcher.url.take() {
                matcher.url_slot = Some(url_sources.len());
                url_sources.push(url.as_str().to_string());
            }
            if rule.redact_config.is_some() && rule.action != Action::Redact {
                return Err(err(
                    format!("{at}.redactConfig"),
                    "only a `redact` rule takes a redactConfig",
                ));
            }
            let redact = match rule.action {
                Action::Redact => Some(redaction(
                    rule.redact_config.as_ref(),
                    &format!("{at}.redactConfig"),
                )?),
                _ => None,
            };
            request_rules.push(RequestRuleC {
                label: rule.label.clone().unwrap_or(at),
                matcher,
                action: rule.action,
                redact,
            });
        }
        let url_set = RegexSet::new(&url_sources)
            .map_err(|e| err("rules.request", format!("URL patterns: {e}")))?;

        let mut response_rules = Vec::new();
        for (i, rule) in document.rules.response.iter().enumerate() {
            let at = format!("rules.response[{i}]");
            let m = &rule.r#match;
            if m.body.is_some() || m.pii.is_some() {
                return Err(err(
                    format!("{at}.match"),
                    "response rules match on methods, urlPattern and queryPattern only",
                ));
            }
            let matcher = matcher(m, &format!("{at}.match"))?;
            let f = &rule.filter;
            let fields = match (&f.allow_fields, &f.deny_fields) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        format!("{at}.filter"),
                        "allowFields and denyFields are exclusive: keep a list or strip one",
                    ));
                }
                (Some(a), None) => Some(FieldFilter::Allow(paths(
                    a,
                    &format!("{at}.filter.allowFields"),
                )?)),
                (None, Some(d)) => Some(FieldFilter::Deny(paths(
                    d,
                    &format!("{at}.filter.denyFields"),
                )?)),
                (None, None) => None,
            };
            let redact = match &f.redact {
                None => None,
                Some(entries) => {
                    let mut scanner = Scanner::default();
                    for (j, e) in entries.iter().enumerate() {
                        scanner
                            .add(&e.kind, e.pattern.as_deref(), e.replacement.as_deref())
                            .map_err(|x| err(format!("{at}.filter.redact[{j}]"), x.to_string()))?;
                    }
                    Some(scanner)
                }
            };
            if fields.is_none() && redact.is_none() {
                return Err(err(
                    format!("{at}.filter"),
                    "filters nothing: give allowFields, denyFields or redact",
                ));
            }
            response_rules.push(ResponseRuleC {
                label: rule.label.clone().unwrap_or(at),
                matcher,
                fields,
                redact,
            });
        }

        Ok(CompiledPolicy {
            model_a: document.allowed_models.contains(&Model::A),
            model_b: document.allowed_models.contains(&Model::B),
            step_up: document.step_up_approval,
            allowlist,
            windows,
            url_set,
            request_rules,
            response_rules,
            document,
        })
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    pub fn rate_limits(&self) -> Option<&RateLimits> {
        self.document.rate_limits.as_ref()
    }

    pub fn approval_ttl_seconds(&self) -> u32 {
        self.document
            .approval_ttl_seconds
            .unwrap_or(DEFAULT_APPROVAL_TTL_SECONDS)
    }

    pub fn allows_model(&self, model: Model) -> bool {
        match model {
            Model::A => self.model_a,
            Model::B => self.model_b,
        }
    }

    /// Whether any response rule filters fields or redacts (what `bypassPiiRedaction` and
    /// `requestFullFields` would turn off).
    pub fn has_response_rules(&self) -> bool {
        !self.response_rules.is_empty()
    }
}

fn check_limits(limits: &RateLimits) -> Result<(), PolicyError> {
    if limits.max_requests_per_hour == 0 {
        return Err(err(
            "rateLimits.maxRequestsPerHour",
            "must be at least 1 (remove the allowlist to allow nothing)",
        ));
    }
    if limits.max_payload_size_bytes == Some(0) {
        return Err(err("rateLimits.maxPayloadSizeBytes", "must be at least 1"));
    }
    if limits.max_response_size_bytes == Some(0) {
        return Err(err("rateLimits.maxResponseSizeBytes", "must be at least 1"));
    }
    Ok(())
}

fn regex(source: &str, field: &str) -> Result<Regex, PolicyError> {
    Regex::new(source).map_err(|e| err(field, format!("invalid regex: {e}")))
}

fn paths(list: &[String], field: &str) -> Result<Vec<JsonPath>, PolicyError> {
    if list.is_empty() {
        return Err(err(field, "is empty"));
    }
    list.iter()
        .enumerate()
        .map(|(i, p)| JsonPath::parse(p).map_err(|e| err(format!("{field}[{i}]"), e)))
        .collect()
}

fn matcher(m: &RequestMatch, at: &str) -> Result<Matcher, PolicyError> {
    let methods = m
        .methods
        .as_ref()
        .map(|ms| {
            ms.iter()
                .map(|x| {
                    crate::method::normalise(x).map_err(|(_, e)| err(format!("{at}.methods"), e))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let url = m
        .url_pattern
        .as_deref()
        .map(|p| regex(p, &format!("{at}.urlPattern")))
        .transpose()?;
    let query = m
        .query_pattern
        .as_deref()
        .map(|p| regex(p, &format!("{at}.queryPattern")))
        .transpose()?;
    let body = m
        .body
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| condition(c, &format!("{at}.body[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let pii = m
        .pii
        .as_ref()
        .map(|p| {
            if p.types.is_empty() {
                return Err(err(format!("{at}.pii.types"), "is empty"));
            }
            let scanner = Scanner::for_types(&p.types, None)
                .map_err(|e| err(format!("{at}.pii.types"), e.to_string()))?;
            let fields = p
                .fields
                .as_deref()
                .map(|f| paths(f, &format!("{at}.pii.fields")))
                .transpose()?;
            Ok(PiiCondition { scanner, fields })
        })
        .transpose()?;
    Ok(Matcher {
        methods,
        url_slot: None,
        url,
        query,
        body,
        pii,
    })
}

fn condition(c: &BodyCondition, at: &str) -> Result<Condition, PolicyError> {
    let selector = match c.path.as_str() {
        "$body" => Selector::WholeBody,
        "$prompt_text" => Selector::PromptText,
        p => Selector::Path(JsonPath::parse(p).map_err(|e| err(format!("{at}.path"), e))?),
    };
    let need = |what: &str| err(format!("{at}.value"), format!("`{:?}` needs {what}", c.op));
    let test = match (c.op, c.value.clone()) {
        (BodyOp::Eq, Some(v)) => Test::Eq(v),
        (BodyOp::Neq, Some(v)) => Test::Neq(v),
        (BodyOp::In, Some(Value::Array(a))) => Test::In(a),
        (BodyOp::NotIn, Some(Value::Array(a))) => Test::NotIn(a),
        (BodyOp::In | BodyOp::NotIn, _) => return Err(need("an array value")),
        (BodyOp::Contains, Some(v)) => Test::Contains(v),
        (BodyOp::Matches, Some(Value::String(p))) => {
            Test::Matches(regex(&p, &format!("{at}.value"))?)
        }
        (BodyOp::Matches, _) => return Err(need("a regex string value")),
        (BodyOp::Exists, None) => Test::Exists(true),
        (BodyOp::Exists, Some(Value::Bool(b))) => Test::Exists(b),
        (BodyOp::Exists, Some(_)) => return Err(need("no value, or true / false")),
        (_, None) => return Err(need("a value")),
    };
    Ok(Condition { selector, test })
}

fn redaction(config: Option<&RedactConfig>, at: &str) -> Result<Redaction, PolicyError> {
    let default = RedactConfig::default();
    let config = config.unwrap_or(&default);
    let types = config
        .types
        .clone()
        .unwrap_or_else(|| vec!["all_pii".to_string()]);
    if types.is_empty() {
        return Err(err(format!("{at}.types"), "is empty"));
    }
    let scanner = Scanner::for_types(&types, config.replacement.as_deref())
        .map_err(|e| err(format!("{at}.types"), e.to_string()))?;
    let fields = config
        .fields
        .as_deref()
        .map(|f| paths(f, &format!("{at}.fields")))
        .transpose()?;
    Ok(Redaction { scanner, fields })
}
