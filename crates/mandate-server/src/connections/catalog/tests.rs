use super::*;

fn with_override(text: &str) -> Result<Catalog, CatalogError> {
    let dir = mandate_testkit::TempDir::new("catalog");
    let path = dir.path().join("providers.toml");
    std::fs::write(&path, text).unwrap();
    Catalog::load(Some(&path))
}

/// The embedded catalog with one field of one provider replaced.
fn embedded_with(provider: &str, line: &str) -> Result<Catalog, CatalogError> {
    let original = EMBEDDED
        .split("[[provider]]")
        .find(|block| block.contains(&format!("id = \"{provider}\"")))
        .unwrap();
    let key = line.split('=').next().unwrap().trim();
    let mut changed: Vec<String> = original
        .lines()
        .filter(|l| !l.starts_with(&format!("{key} ")))
        .map(str::to_string)
        .collect();
    changed.insert(2, line.to_string());
    with_override(&format!("[[provider]]{}", changed.join("\n")))
}

fn refused(result: Result<Catalog, CatalogError>, provider: &str, field: &str) {
    match result {
        Err(CatalogError::Invalid {
            provider: p,
            field: f,
            reason,
        }) => {
            assert_eq!((p.as_str(), f.as_str()), (provider, field), "{reason}");
        }
        other => panic!("expected {provider}.{field} refused, got {other:?}"),
    }
}

#[test]
fn the_embedded_catalog_is_valid_and_has_the_required_providers() {
    let catalog = Catalog::load(None).unwrap();
    for id in [
        "google",
        "microsoft",
        "slack",
        "notion",
        "github",
        "jira",
        "trello",
        "telegram",
        "openai",
        "anthropic",
        "gemini",
        "openrouter",
        "generic_oauth2",
        "generic_api_key",
        "generic_bearer",
        "generic_basic",
    ] {
        assert!(catalog.get(id).is_some(), "{id}");
    }
    let google = catalog.get("google").unwrap();
    let services: Vec<&str> = google.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        services,
        ["gmail", "calendar", "drive", "docs", "sheets", "contacts"]
    );
    let microsoft = catalog.get("microsoft").unwrap();
    let services: Vec<&str> = microsoft.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        services,
        [
            "outlook_mail",
            "outlook_calendar",
            "outlook_contacts",
            "onedrive",
            "teams"
        ]
    );
    assert_eq!(
        catalog.get("telegram").unwrap().inject,
        Injection::Path {
            placeholder: "{token}".into()
        }
    );
    assert!(catalog.get("openai").unwrap().validate.is_some());
}

#[test]
fn an_override_replaces_by_id_and_adds_new_ones() {
    let catalog = with_override(
        r#"
[[provider]]
id = "openai"
name = "OpenAI (EU)"
auth = "api_key"
api_hosts = ["eu.api.openai.com"]
inject = { kind = "bearer" }

[[provider]]
id = "local_idp"
name = "Test IdP"
auth = "oauth2"
authorize_url = "http://127.0.0.1:9000/authorize"
token_url = "http://127.0.0.1:9000/token"
api_hosts = ["api.internal.example"]
inject = { kind = "bearer" }
refresh = "refresh_token"
"#,
    )
    .unwrap();
    assert_eq!(
        catalog.get("openai").unwrap().api_hosts,
        ["eu.api.openai.com"]
    );
    assert!(catalog.get("local_idp").is_some());
    assert!(catalog.get("google").is_some());
}

#[test]
fn every_bad_field_is_named_with_its_provider() {
    refused(
        embedded_with(
            "google",
            r#"token_url = "http://oauth2.googleapis.com/token""#,
        ),
        "google",
        "token_url",
    );
    refused(
        embedded_with("google", r#"token_url = "not a url""#),
        "google",
        "token_url",
    );
    refused(
        embedded_with("google", r#"api_hosts = ["https://gmail.googleapis.com"]"#),
        "google",
        "api_hosts",
    );
    refused(
        embedded_with("google", r#"api_hosts = ["*.googleapis.com"]"#),
        "google",
        "api_hosts",
    );
    refused(
        embedded_with("google", r#"api_hosts = []"#),
        "google",
        "api_hosts",
    );
    refused(
        embedded_with(
            "openai",
            r#"inject = { kind = "header", name = "bad header" }"#,
        ),
        "openai",
        "inject.name",
    );
    refused(
        embedded_with("openai", r#"inject = { kind = "basic" }"#),
        "openai",
        "inject",
    );
    refused(
        embedded_with(
            "openai",
            r#"validate = { method = "GET", url = "https://evil.example/v1/models" }"#,
        ),
        "openai",
        "validate.url",
    );
    refused(
        embedded_with("openai", r#"refresh = "refresh_token""#),
        "openai",
        "refresh",
    );
    refused(
        embedded_with(
            "openai",
            r#"authorize_url = "https://example.com/authorize""#,
        ),
        "openai",
        "authorize_url",
    );
    refused(
        embedded_with(
            "telegram",
            r#"inject = { kind = "path", placeholder = "token" }"#,
        ),
        "telegram",
        "inject.placeholder",
    );
    refused(
        embedded_with(
            "github",
            r#"inject = { kind = "path", placeholder = "{token}" }"#,
        ),
        "github",
        "inject",
    );
    refused(
        embedded_with("notion", r#"headers = { "Authorization" = "x" }"#),
        "notion",
        "headers.Authorization",
    );
    refused(
        embedded_with("jira", r#"authorize_params = { state = "fixed" }"#),
        "jira",
        "authorize_params.state",
    );
    refused(
        embedded_with("slack", r#"default_scopes = ["two words"]"#),
        "slack",
        "default_scopes",
    );
    refused(embedded_with("slack", r#"id = "Slack""#), "Slack", "id");
    refused(
        embedded_with("generic_basic", r#"api_hosts = ["api.example.com"]"#),
        "generic_basic",
        "api_hosts",
    );
    refused(
        embedded_with("notion", r#"refresh_token_required = true"#),
        "notion",
        "refresh_token_required",
    );
    refused(
        with_override(
            r#"
[[provider]]
id = "twice"
name = "A"
auth = "api_key"
api_hosts = ["a.example.com"]
inject = { kind = "bearer" }
[[provider]]
id = "twice"
name = "B"
auth = "api_key"
api_hosts = ["b.example.com"]
inject = { kind = "bearer" }
"#,
        ),
        "twice",
        "id",
    );
    refused(
        with_override(
            r#"
[[provider]]
id = "svc"
name = "Services"
auth = "api_key"
api_hosts = ["a.example.com"]
inject = { kind = "bearer" }
[[provider.service]]
id = "one"
name = "One"
api_hosts = ["b.example.com"]
"#,
        ),
        "svc",
        "service.one.api_hosts",
    );
}

#[test]
fn unreadable_or_malformed_files_name_the_file_and_line() {
    let err = Catalog::load(Some(Path::new("/nonexistent/providers.toml"))).unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/providers.toml: "),
        "{err}"
    );
    let err = with_override("[[provider]]\nid = \"x\"\nname = \"X\"\nauth = \"carrier_pigeon\"\n")
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("providers.toml: line 4"), "{text}");
    let err = with_override("[[provider]]\nid = \"x\"\nunknown = 1\n").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}
