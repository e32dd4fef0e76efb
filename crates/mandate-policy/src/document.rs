//! The policy document as the agent API contract fixes it (`../shared/AGENT_API.md`), so policies
//! written for the reference system import unchanged. Unknown fields are refused: a misspelt
//! `rules` key would otherwise drop a deny rule without a word. `providerConstraints` is the one
//! open object (its fields depend on the provider).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDocument {
    /// Which execution models the agent may use: `A` (token vending), `B` (brokered proxy).
    #[serde(default = "default_models")]
    pub allowed_models: Vec<Model>,
    #[serde(default)]
    pub step_up_approval: StepUp,
    /// Empty denies every request (default deny).
    #[serde(default)]
    pub allowlists: Vec<AllowlistEntry>,
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
    /// Empty means at any time.
    #[serde(default)]
    pub time_windows: Vec<TimeWindow>,
    #[serde(default)]
    pub rules: Rules,
    #[serde(default)]
    pub provider_constraints: Option<ProviderConstraints>,
    /// How long an approval request of this policy stays open (default 15 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_ttl_seconds: Option<u32>,
}

fn default_models() -> Vec<Model> {
    vec![Model::B]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Model {
    A,
    B,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUp {
    /// Every request that no rule decided needs a person's approval.
    Always,
    /// Reads (GET, HEAD, OPTIONS) pass; writes need approval.
    #[default]
    RiskBased,
    /// Requests that no rule decided pass.
    Never,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowlistEntry {
    /// `https://host[:port][/prefix]`.
    pub base_url: String,
    /// Absent: any method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Absent: any path under the base URL. `*` is one segment, `**` the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_patterns: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimits {
    pub max_requests_per_hour: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_size_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeWindow {
    /// 0 = Sunday ... 6 = Saturday.
    pub day_of_week: u8,
    /// 0-23, inclusive.
    pub start_hour: u8,
    /// 1-24, exclusive (24 = midnight at the end of the day).
    pub end_hour: u8,
    /// An IANA zone (`Europe/Paris`).
    pub timezone: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub request: Vec<RequestRule>,
    #[serde(default)]
    pub response: Vec<ResponseRule>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default)]
    pub r#match: RequestMatch,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact_config: Option<RedactConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Deny,
    RequireApproval,
    /// Replace PII in the outgoing body, then send.
    Redact,
}

/// Every condition given must hold; an empty match matches every request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// A regex searched in the URL path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_pattern: Option<String>,
    /// A regex searched in the raw query string (without `?`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Vec<BodyCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<PiiMatch>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyCondition {
    /// `a.b[*].c`, `$body` (the whole body as text) or `$prompt_text` (the text of an LLM prompt).
    pub path: String,
    pub op: BodyOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyOp {
    Eq,
    Neq,
    In,
    NotIn,
    Contains,
    Matches,
    Exists,
}

/// Matches when the body holds PII of one of `types` (in `fields`, when given).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiMatch {
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// What `redact` replaces in the outgoing body. Absent: every recognizer, everywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedactConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Which requests' responses it applies to (methods, urlPattern, queryPattern).
    #[serde(default)]
    pub r#match: RequestMatch,
    pub filter: ResponseFilter,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseFilter {
    /// Keep only these JSON paths (exclusive with `denyFields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_fields: Option<Vec<String>>,
    /// Remove these JSON paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<Vec<RedactEntry>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactEntry {
    /// A recognizer id, a group (`all_pii`, `financial`, `identity`, `contact`, `secrets`) or
    /// `custom` with `pattern`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// Provider-specific limits (allowed chat ids, channels, tenants); kept as given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderConstraints {
    pub provider: String,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}
