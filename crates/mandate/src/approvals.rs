//! `mandate approvals ls|approve|deny`: the approval requests of the token's workspace, through
//! the API (`/v1/approvals`) with a personal access token, for people who decide from a shell.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::api_client::{endpoint, send};
use crate::cli::{ApiArgs, ApprovalsCommand};
use crate::fail;

/// Run an approvals command on a runtime of its own (no server configuration is read).
pub fn main(command: ApprovalsCommand) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(command)),
        Err(e) => fail(1, "cannot start the async runtime", &e),
    }
}

pub async fn run(command: ApprovalsCommand) -> ExitCode {
    match command {
        ApprovalsCommand::Ls { api, state, json } => ls(&api, &state, json).await,
        ApprovalsCommand::Approve { id, api, reason } => decide(&api, &id, true, reason).await,
        ApprovalsCommand::Deny { id, api, reason } => decide(&api, &id, false, reason).await,
    }
}

/// The server's base URL and the token, or the exit for bad arguments.
fn target(api: &ApiArgs) -> Result<(String, String), ExitCode> {
    endpoint(api).map_err(|e| fail(2, "invalid arguments", &e))
}

/// One line for a person scanning a list.
fn line(a: &Value) -> String {
    let text = |k: &str| a[k].as_str().unwrap_or("-").to_string();
    format!(
        "{}  {:<8}  {} {}{}  agent {}  rule {}  expires {}",
        text("id"),
        text("state"),
        text("method"),
        text("host"),
        text("path"),
        text("agentId"),
        text("rule"),
        text("expiresAt"),
    )
}

async fn ls(api: &ApiArgs, state: &str, as_json: bool) -> ExitCode {
    let (server, token) = match target(api) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let query = match state {
        "all" => String::new(),
        s => format!(
            "?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("state", s)
                .finish()
        ),
    };
    let url = format!("{server}/v1/approvals{query}");
    match send(reqwest::Method::GET, &url, Some(&token), None).await {
        Ok(answer) if as_json => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Ok(answer) => {
            let rows = answer["approvals"].as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!("no approval requests ({state})");
            }
            for a in &rows {
                println!("{}", line(a));
            }
            ExitCode::SUCCESS
        }
        Err(message) => fail(1, "cannot list approval requests", &message),
    }
}

async fn decide(api: &ApiArgs, id: &str, approve: bool, reason: Option<String>) -> ExitCode {
    let (server, token) = match target(api) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let id: String = url::form_urlencoded::byte_serialize(id.trim().as_bytes()).collect();
    let verb = if approve { "approve" } else { "deny" };
    let url = format!("{server}/v1/approvals/{id}/{verb}");
    let body = match reason {
        Some(r) => json!({ "reason": r }),
        None => json!({}),
    };
    match send(reqwest::Method::POST, &url, Some(&token), Some(&body)).await {
        Ok(answer) => {
            println!(
                "{}: {}; audit record {}",
                answer["id"].as_str().unwrap_or(&id),
                answer["state"].as_str().unwrap_or("?"),
                answer["auditId"].as_str().unwrap_or("?"),
            );
            ExitCode::SUCCESS
        }
        Err(message) => fail(1, &format!("cannot {verb} the request"), &message),
    }
}
