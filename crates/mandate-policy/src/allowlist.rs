//! Allowlist entries: a base URL (scheme, host, port, path prefix), methods, and path patterns
//! where `*` is exactly one segment and `**` the rest of the path (one segment or more).

use url::Url;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    One,
    Rest,
}

/// A compiled path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    parts: Vec<Part>,
}

impl PathPattern {
    pub fn parse(source: &str) -> Result<PathPattern, String> {
        let Some(rest) = source.strip_prefix('/') else {
            return Err(format!("`{source}` must start with `/`"));
        };
        let pieces: Vec<&str> = rest.split('/').collect();
        let mut parts = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            parts.push(match *piece {
                "**" if i + 1 == pieces.len() => Part::Rest,
                "**" => return Err(format!("`{source}`: `**` may only end a pattern")),
                "*" => Part::One,
                p if p.contains('*') => {
                    return Err(format!(
                        "`{source}`: `*` stands for a whole segment (`/a/*/b`), not part of one"
                    ));
                }
                p => Part::Literal(p.to_string()),
            });
        }
        Ok(PathPattern { parts })
    }

    pub fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut segments = rest.split('/');
        for part in &self.parts {
            match part {
                Part::Rest => return segments.next().is_some_and(|s| !s.is_empty()),
                Part::One => match segments.next() {
                    Some(s) if !s.is_empty() => {}
                    _ => return false,
                },
                Part::Literal(l) => match segments.next() {
                    Some(s) if s == l => {}
                    _ => return false,
                },
            }
        }
        segments.next().is_none()
    }
}

/// A compiled allowlist entry.
#[derive(Clone, Debug)]
pub struct Allowed {
    pub base_url: String,
    scheme: String,
    host: String,
    port: Option<u16>,
    /// Without a trailing `/`; empty for the whole host.
    prefix: String,
    methods: Option<Vec<String>>,
    patterns: Option<Vec<PathPattern>>,
}

impl Allowed {
    pub fn new(
        base_url: &str,
        methods: Option<&[String]>,
        patterns: Option<&[String]>,
    ) -> Result<Allowed, (&'static str, String)> {
        let url = Url::parse(base_url).map_err(|e| ("baseUrl", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(("baseUrl", "must be an https URL".into()));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err((
                "baseUrl",
                "must not carry a query, fragment or user name".into(),
            ));
        }
        let host = url
            .host_str()
            .ok_or(("baseUrl", "has no host".to_string()))?;
        if host.contains('*') {
            return Err(("baseUrl", "host wildcards are not supported".into()));
        }
        let methods = methods
            .map(|m| {
                if m.is_empty() {
                    return Err((
                        "methods",
                        "an empty list allows nothing; leave it out for any method".to_string(),
                    ));
                }
                m.iter().map(|m| crate::method::normalise(m)).collect()
            })
            .transpose()?;
        let patterns = patterns
            .map(|ps| {
                ps.iter()
                    .map(|p| PathPattern::parse(p).map_err(|e| ("pathPatterns", e)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Allowed {
            base_url: base_url.to_string(),
            scheme: url.scheme().to_string(),
            host: host.to_string(),
            port: url.port_or_known_default(),
            prefix: url.path().trim_end_matches('/').to_string(),
            methods,
            patterns,
        })
    }

    pub fn allows(&self, method: &str, url: &Url) -> bool {
        if url.scheme() != self.scheme
            || url.host_str() != Some(self.host.as_str())
            || url.port_or_known_default() != self.port
        {
            return false;
        }
        let path = url.path();
        let under_prefix = self.prefix.is_empty()
            || path == self.prefix
            || path
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|r| r.starts_with('/'));
        if !under_prefix {
            return false;
        }
        if let Some(methods) = &self.methods
            && !methods.iter().any(|m| m == method)
        {
            return false;
        }
        match &self.patterns {
            None => true,
            Some(ps) => ps.iter().any(|p| p.matches(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns() {
        let p = PathPattern::parse("/repos/*/issues/**").unwrap();
        assert!(p.matches("/repos/acme/issues/1"));
        assert!(p.matches("/repos/acme/issues/1/comments"));
        assert!(!p.matches("/repos/acme/issues"));
        assert!(!p.matches("/repos/acme/x/issues/1"));
        assert!(!p.matches("/repos//issues/1"));
        let exact = PathPattern::parse("/user").unwrap();
        assert!(exact.matches("/user") && !exact.matches("/user/x") && !exact.matches("/users"));
        assert!(PathPattern::parse("user").is_err());
        assert!(PathPattern::parse("/a/**/b").is_err());
        assert!(PathPattern::parse("/a/b*").is_err());
    }

    #[test]
    fn entries_check_origin_prefix_method_and_pattern() {
        let a = Allowed::new(
            "https://api.github.com/repos",
            Some(&["get".into()]),
            Some(&["/repos/*/*/issues".into()]),
        )
        .unwrap();
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(a.allows("GET", &u("https://api.github.com/repos/a/b/issues")));
        assert!(!a.allows("POST", &u("https://api.github.com/repos/a/b/issues")));
        assert!(!a.allows("GET", &u("https://api.github.com:8443/repos/a/b/issues")));
        assert!(!a.allows("GET", &u("http://api.github.com/repos/a/b/issues")));
        assert!(!a.allows("GET", &u("https://api.github.com.evil.io/repos/a/b/issues")));
        let prefix = Allowed::new("https://h.io/v1/", None, None).unwrap();
        assert!(prefix.allows("DELETE", &u("https://h.io/v1/x")));
        assert!(prefix.allows("GET", &u("https://h.io/v1")));
        assert!(!prefix.allows("GET", &u("https://h.io/v10/x")));
        // Dot segments are resolved by the URL parser before the check.
        assert!(!prefix.allows("GET", &u("https://h.io/v1/../admin")));
        assert!(Allowed::new("https://h.io", Some(&[]), None).is_err());
        assert!(Allowed::new("ftp://h.io", None, None).is_err());
    }
}
