//! HTTP methods as policies name them: case-insensitive, compared upper-case.

/// Upper-cased; a method is an HTTP token (letters only in practice).
pub fn normalise(method: &str) -> Result<String, (&'static str, String)> {
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(("methods", format!("`{method}` is not an HTTP method")));
    }
    Ok(method.to_ascii_uppercase())
}

/// Reads change nothing at the provider: `risk_based` lets them pass without approval.
pub fn is_read(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}
