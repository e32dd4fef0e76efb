//! A channel's settings as the API takes them, checked, split into what may be shown
//! (`settings`, stored as JSON) and what may not ([`Secrets`], sealed by the vault).

use mandate_egress::Egress;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::signature;
use crate::error::ApiError;

/// The secret part of a channel. Never serialized except to be sealed.
#[derive(Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Secrets {
    /// Webhooks: signing secrets, newest first. An older one stays valid until `valid_until`
    /// (Unix seconds), so receivers can switch without losing messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing: Vec<SigningSecret>,
    /// Slack: the incoming-webhook URL (whoever has it can post to the channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_webhook_url: Option<String>,
    /// Telegram: the bot token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token: Option<String>,
    /// Email: the SMTP password, when the server asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<String>,
}

#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SigningSecret {
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
}

impl Secrets {
    /// Empty secrets with `set` applied.
    fn with(set: impl FnOnce(&mut Secrets)) -> Secrets {
        let mut s = Secrets::default();
        set(&mut s);
        s
    }

    /// The signing secrets in force at `now_unix`, newest first.
    pub fn signing_at(&self, now_unix: i64) -> Vec<&str> {
        self.signing
            .iter()
            .filter(|s| s.valid_until.is_none_or(|until| now_unix < until))
            .map(|s| s.secret.as_str())
            .collect()
    }
}

/// The API's input for a new channel (camelCase; fields of other kinds are refused).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChannelInput {
    pub url: Option<String>,
    pub webhook_url: Option<String>,
    pub bot_token: Option<String>,
    pub chat_id: Option<String>,
    pub api_base_url: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<String>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
}

/// What a new channel stores: shown settings, sealed secrets, and the signing secret to show
/// once (webhooks).
pub struct Checked {
    pub settings: Value,
    pub secrets: Secrets,
    pub show_once: Option<zeroize::Zeroizing<String>>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// An https URL the SSRF guard lets through (it checks the resolved address again at every
/// send; here it refuses what can be refused already, e.g. a private IP literal).
fn https_url(egress: &Egress, field: &str, raw: &str) -> Result<Url, ApiError> {
    let url = Url::parse(raw.trim()).map_err(|_| bad(format!("`{field}` is not a URL")))?;
    if url.scheme() != "https" {
        return Err(bad(format!("`{field}` must be an https URL")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(format!(
            "`{field}` may not carry a user name or password"
        )));
    }
    if url.host_str().is_none() {
        return Err(bad(format!("`{field}` has no host")));
    }
    egress
        .check_url(&url)
        .map_err(|e| bad(format!("`{field}`: {e}")))?;
    Ok(url)
}

fn required<'a>(kind: &str, field: &str, v: &'a Option<String>) -> Result<&'a str, ApiError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(bad(format!("a {kind} channel needs `{field}`"))),
    }
}

/// Refuse the fields that belong to other kinds, so a typo does not pass silently.
fn only(kind: &str, input: &ChannelInput, allowed: &[&str]) -> Result<(), ApiError> {
    let given = [
        ("url", input.url.is_some()),
        ("webhookUrl", input.webhook_url.is_some()),
        ("botToken", input.bot_token.is_some()),
        ("chatId", input.chat_id.is_some()),
        ("apiBaseUrl", input.api_base_url.is_some()),
        ("smtpHost", input.smtp_host.is_some()),
        ("smtpPort", input.smtp_port.is_some()),
        ("smtpTls", input.smtp_tls.is_some()),
        ("smtpUsername", input.smtp_username.is_some()),
        ("smtpPassword", input.smtp_password.is_some()),
        ("from", input.from.is_some()),
        ("to", input.to.is_some()),
    ];
    match given.iter().find(|(f, set)| *set && !allowed.contains(f)) {
        Some((f, _)) => Err(bad(format!("`{f}` does not apply to a {kind} channel"))),
        None => Ok(()),
    }
}

/// A mail address: one `@`, no spaces or header-breaking characters.
fn mail_address(field: &str, raw: &str) -> Result<String, ApiError> {
    let a = raw.trim();
    let ok = a.len() <= 254
        && a.matches('@').count() == 1
        && !a.starts_with('@')
        && !a.ends_with('@')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    if ok {
        Ok(a.to_string())
    } else {
        Err(bad(format!("`{field}` is not a mail address: {a}")))
    }
}

pub fn check(egress: &Egress, kind: &str, input: &ChannelInput) -> Result<Checked, ApiError> {
    match kind {
        "webhook" => {
            only(kind, input, &["url"])?;
            let url = https_url(egress, "url", required(kind, "url", &input.url)?)?;
            let secret = signature::new_secret().map_err(|e| ApiError::internal(&e))?;
            let mut secrets = Secrets::default();
            secrets.signing.push(SigningSecret {
                secret: secret.to_string(),
                valid_until: None,
            });
            Ok(Checked {
                settings: json!({ "url": url.as_str() }),
                secrets,
                show_once: Some(secret),
            })
        }
        "slack" => {
            only(kind, input, &["webhookUrl"])?;
            let url = https_url(
                egress,
                "webhookUrl",
                required(kind, "webhookUrl", &input.webhook_url)?,
            )?;
            Ok(Checked {
                // The URL is the secret; its host is what people may see.
                settings: json!({ "host": url.host_str() }),
                secrets: Secrets::with(|s| s.slack_webhook_url = Some(url.to_string())),
                show_once: None,
            })
        }
        "telegram" => {
            only(kind, input, &["botToken", "chatId", "apiBaseUrl"])?;
            let token = required(kind, "botToken", &input.bot_token)?;
            if !token.contains(':') || token.chars().any(|c| c.is_whitespace() || c == '/') {
                return Err(bad("`botToken` is not a Telegram bot token (id:secret)"));
            }
            let chat = required(kind, "chatId", &input.chat_id)?;
            let base = match input.api_base_url.as_deref() {
                None => "https://api.telegram.org".to_string(),
                Some(raw) => https_url(egress, "apiBaseUrl", raw)?
                    .as_str()
                    .trim_end_matches('/')
                    .to_string(),
            };
            Ok(Checked {
                settings: json!({ "chatId": chat, "apiBaseUrl": base }),
                secrets: Secrets::with(|s| s.telegram_bot_token = Some(token.to_string())),
                show_once: None,
            })
        }
        "email" => {
            only(
                kind,
                input,
                &[
                    "smtpHost",
                    "smtpPort",
                    "smtpTls",
                    "smtpUsername",
                    "smtpPassword",
                    "from",
                    "to",
                ],
            )?;
            let host = required(kind, "smtpHost", &input.smtp_host)?;
            if host.contains(['/', ':', '@', ' ']) {
                return Err(bad(
                    "`smtpHost` is a host name or address, without port or scheme",
                ));
            }
            let tls = input.smtp_tls.as_deref().unwrap_or("starttls");
            let default_port = match tls {
                "starttls" => 587,
                "tls" => 465,
                "none" => 25,
                _ => return Err(bad("`smtpTls` is starttls, tls or none")),
            };
            let password = input.smtp_password.as_deref().filter(|p| !p.is_empty());
            if tls == "none" && password.is_some() {
                return Err(bad(
                    "an SMTP password is never sent without TLS: use smtpTls starttls or tls",
                ));
            }
            if password.is_some() != input.smtp_username.is_some() {
                return Err(bad("`smtpUsername` and `smtpPassword` go together"));
            }
            let from = mail_address("from", required(kind, "from", &input.from)?)?;
            let to = input
                .to
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad("an email channel needs `to` (one or more addresses)"))?;
            if to.len() > 20 {
                return Err(bad("`to` holds at most 20 addresses"));
            }
            let to = to
                .iter()
                .map(|a| mail_address("to", a))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Checked {
                settings: json!({
                    "smtpHost": host,
                    "smtpPort": input.smtp_port.unwrap_or(default_port),
                    "smtpTls": tls,
                    "smtpUsername": input.smtp_username,
                    "from": from,
                    "to": to,
                }),
                secrets: Secrets::with(|s| s.smtp_password = password.map(str::to_string)),
                show_once: None,
            })
        }
        _ => Err(bad("`kind` is webhook, slack, telegram or email")),
    }
}
