//! `mandate policy check|apply`: policy documents kept as files, in YAML or JSON (the agent API
//! contract's document; YAML is the same structure, comments allowed). `check` runs the server's
//! own validation offline, so a document that passes is one the server accepts; `apply` checks
//! it, then creates or replaces the policy that binds an agent to a connection through the API,
//! with a personal access token.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::api_client::{endpoint, send};
use crate::cli::PolicyCommand;
use crate::fail;

/// Run a policy command on a runtime of its own (no server configuration is read).
pub fn main(command: PolicyCommand) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(command)),
        Err(e) => fail(1, "cannot start the async runtime", &e),
    }
}

pub async fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Check { files } => check(&files),
        PolicyCommand::Apply(args) => apply(*args).await,
    }
}

/// The document in `path`: JSON when it looks like JSON (`.json`, or a leading `{`), else YAML.
pub fn read_document(path: &Path) -> Result<Value, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let json = path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    let value: Value = if json {
        serde_json::from_str(&text).map_err(|e| format!("{shown}: not valid JSON: {e}"))?
    } else {
        serde_norway::from_str(&text).map_err(|e| format!("{shown}: not valid YAML: {e}"))?
    };
    if !value.is_object() {
        return Err(format!(
            "{shown}: a policy document is a mapping (allowedModels, allowlists, rules...)"
        ));
    }
    Ok(value)
}

/// Validate as the server does; the error names the field (`document.rules.request[1]...`).
pub fn validate(path: &Path, document: &Value) -> Result<(), String> {
    let named = |e: mandate_policy::PolicyError| {
        let field = if e.field == "document" {
            e.field
        } else {
            format!("document.{}", e.field)
        };
        format!("{}: {field}: {}", path.display(), e.message)
    };
    let parsed = mandate_policy::from_value(document.clone()).map_err(named)?;
    mandate_policy::CompiledPolicy::compile(parsed).map_err(named)?;
    Ok(())
}

fn check(files: &[std::path::PathBuf]) -> ExitCode {
    let mut invalid = 0;
    for path in files {
        match read_document(path).and_then(|d| validate(path, &d)) {
            Ok(()) => println!("{}: valid", path.display()),
            Err(message) => {
                invalid += 1;
                eprintln!("mandate: invalid policy: {}", message.replace('\n', " "));
            }
        }
    }
    if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn apply(args: crate::cli::PolicyApplyArgs) -> ExitCode {
    let document = match read_document(&args.file).and_then(|d| {
        validate(&args.file, &d)?;
        Ok(d)
    }) {
        Ok(d) => d,
        Err(message) => return fail(1, "invalid policy", &message),
    };
    let (server, token) = match endpoint(&args.api) {
        Ok(t) => t,
        Err(e) => return fail(2, "invalid arguments", &e),
    };
    match put_or_post(&server, &token, &args.agent, &args.connection, document).await {
        Ok((verb, answer)) => {
            println!(
                "{verb} policy {} (version {}) binding agent {} to connection {}; audit record {}",
                answer["id"].as_str().unwrap_or("?"),
                answer["version"],
                args.agent,
                args.connection,
                answer["auditId"].as_str().unwrap_or("?"),
            );
            ExitCode::SUCCESS
        }
        Err(message) => fail(1, "cannot apply the policy", &message),
    }
}

/// Replace the policy binding agent and connection when there is one (on the version just
/// read, so a concurrent change is refused, not overwritten), else create it.
async fn put_or_post(
    server: &str,
    token: &str,
    agent: &str,
    connection: &str,
    document: Value,
) -> Result<(&'static str, Value), String> {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("agentId", agent)
        .append_pair("connectionId", connection)
        .finish();
    let listed = send(
        reqwest::Method::GET,
        &format!("{server}/v1/policies?{query}"),
        Some(token),
        None,
    )
    .await?;
    let existing = listed["policies"].as_array().and_then(|p| p.first());
    match existing {
        Some(current) => {
            let id = current["id"]
                .as_str()
                .ok_or("the server answered a policy without id")?;
            let body = json!({"version": current["version"], "document": document});
            let answer = send(
                reqwest::Method::PUT,
                &format!("{server}/v1/policies/{id}"),
                Some(token),
                Some(&body),
            )
            .await?;
            Ok(("updated", answer))
        }
        None => {
            let body = json!({"agentId": agent, "connectionId": connection, "document": document});
            let answer = send(
                reqwest::Method::POST,
                &format!("{server}/v1/policies"),
                Some(token),
                Some(&body),
            )
            .await?;
            Ok(("created", answer))
        }
    }
}
