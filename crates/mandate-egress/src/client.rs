//! The outbound client and its URL guard.

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, Response};
use url::{Host, Url};

use crate::exceptions::Exceptions;
use crate::ip_policy::forbidden_reason;
use crate::resolver::{CheckedResolver, ForbiddenAnswer};

/// What the operator opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Reach loopback, private and other non-public addresses (`SSRF_ALLOW_PRIVATE`).
    pub allow_private: bool,
    /// Blocks and host names reachable although private (`SSRF_ALLOWLIST`).
    pub exceptions: Exceptions,
}

impl EgressPolicy {
    /// Everything open: local testing only.
    pub fn open_private() -> EgressPolicy {
        EgressPolicy {
            allow_private: true,
            exceptions: Exceptions::default(),
        }
    }

    /// Why `ip` (reached for `host`, when known) is refused, or None.
    pub fn refusal(&self, ip: IpAddr, host: Option<&str>) -> Option<&'static str> {
        if self.allow_private
            || self.exceptions.covers_ip(ip)
            || host.is_some_and(|h| self.exceptions.covers_host(h))
        {
            return None;
        }
        forbidden_reason(ip)
    }
}

/// Client settings beyond the policy.
#[derive(Clone, Debug, Default)]
pub struct EgressOptions {
    /// PEM root certificates trusted on top of the system's (an internal CA).
    pub extra_roots_pem: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The URL may not be called (scheme, userinfo, forbidden address, not a URL).
    #[error("refused: {0}")]
    Refused(String),
    /// The peer could not be reached or did not answer in time.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The answer's body is larger than allowed.
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the HTTP client could not be built: {0}")]
    Build(String),
}

/// An SSRF-safe HTTP client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Egress {
    client: Client,
    policy: EgressPolicy,
}

impl Egress {
    /// `timeout` bounds a whole exchange (connect, send, read).
    pub fn new(policy: EgressPolicy, timeout: Duration) -> Result<Egress, EgressError> {
        Egress::with_options(policy, timeout, EgressOptions::default())
    }

    pub fn with_options(
        policy: EgressPolicy,
        timeout: Duration,
        options: EgressOptions,
    ) -> Result<Egress, EgressError> {
        let mut builder = Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .dns_resolver(CheckedResolver::new(policy.clone()))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("Mandate/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &options.extra_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| EgressError::Build(format!("extra root certificates: {e}")))?;
            if roots.is_empty() {
                return Err(EgressError::Build(
                    "extra root certificates: the file holds no PEM certificate".into(),
                ));
            }
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let client = builder
            .build()
            .map_err(|e| EgressError::Build(e.to_string()))?;
        Ok(Egress { client, policy })
    }

    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// The URL guard: https (plain http to loopback only, which itself needs `allow_private`),
    /// no userinfo, a host, and an IP literal only when its address may be reached (literals
    /// never go through the resolver). `Url` has already normalised every IPv4 spelling
    /// (decimal, octal, hex, short forms) to dotted quads.
    pub fn check_url(&self, url: &Url) -> Result<(), EgressError> {
        let refuse = |why: String| Err(EgressError::Refused(why));
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("URLs with a user name or password are not allowed".into());
        }
        let ip = match url.host() {
            None => return refuse("the URL has no host".into()),
            Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(Host::Domain(_)) => None,
        };
        match url.scheme() {
            "https" => {}
            "http" if ip.is_some_and(|ip| ip.is_loopback()) => {}
            "http" => return refuse("plain http is allowed to loopback only; use https".into()),
            other => return refuse(format!("scheme `{other}` is not allowed")),
        }
        if let Some(ip) = ip
            && let Some(reason) = self.policy.refusal(ip, None)
        {
            return refuse(format!("{ip} is a forbidden address ({reason})"));
        }
        Ok(())
    }

    /// The address to connect to for a protocol other than HTTP (SMTP): the name resolved and
    /// every answer checked (an IP literal checked as it is). Connect to this address, not to
    /// the name, so the check holds for the connection (no second resolution).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, EgressError> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            if let Some(reason) = self.policy.refusal(ip, None) {
                return Err(EgressError::Refused(format!(
                    "{ip} is a forbidden address ({reason})"
                )));
            }
            return Ok(SocketAddr::new(ip, port));
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| EgressError::Unreachable(format!("{host} does not resolve: {e}")))?
            .collect();
        let checked = CheckedResolver::new(self.policy.clone())
            .check(host, addrs)
            .map_err(|e| EgressError::Refused(e.to_string()))?;
        checked
            .into_iter()
            .next()
            .ok_or_else(|| EgressError::Unreachable(format!("{host} has no address")))
    }

    /// A request to `url`, after the guard.
    pub fn request(&self, method: Method, url: Url) -> Result<RequestBuilder, EgressError> {
        self.check_url(&url)?;
        Ok(self.client.request(method, url))
    }

    /// Send and map transport failures: a name refused by the resolver is `Refused`, anything
    /// else `Unreachable`.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, EgressError> {
        request.send().await.map_err(classify)
    }

    /// The whole body, refused past `max_bytes` (never silently cut).
    pub async fn read_body(response: Response, max_bytes: usize) -> Result<Vec<u8>, EgressError> {
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(EgressError::TooLarge(max_bytes));
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(EgressError::TooLarge(max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn classify(e: reqwest::Error) -> EgressError {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(forbidden) = s.downcast_ref::<ForbiddenAnswer>() {
            return EgressError::Refused(forbidden.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return EgressError::Unreachable("no answer in time".into());
    }
    // reqwest's message names the URL; the caller's messages name the host themselves.
    EgressError::Unreachable(
        e.without_url()
            .source()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "connection failed".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(allow_private: bool) -> Egress {
        let policy = EgressPolicy {
            allow_private,
            ..EgressPolicy::default()
        };
        Egress::new(policy, Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn the_guard_refuses_what_it_should() {
        let e = egress(false);
        for url in [
            "http://example.com/",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://127.0.0.1/",
            "https://0x7f.1/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:8080/",
        ] {
            let parsed = Url::parse(url).unwrap();
            assert!(e.check_url(&parsed).is_err(), "{url} should be refused");
        }
        assert!(
            e.check_url(&Url::parse("https://example.com/x").unwrap())
                .is_ok()
        );
        assert!(
            e.check_url(&Url::parse("https://8.8.8.8/").unwrap())
                .is_ok()
        );
        let open = egress(true);
        assert!(
            open.check_url(&Url::parse("http://127.0.0.1:8080/").unwrap())
                .is_ok()
        );
        assert!(
            open.check_url(&Url::parse("http://10.0.0.1/").unwrap())
                .is_err()
        );
        assert!(
            open.check_url(&Url::parse("https://10.0.0.1/").unwrap())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_at_connect() {
        let e = egress(false);
        let req = e
            .request(Method::GET, Url::parse("https://localhost:9/").unwrap())
            .unwrap();
        match e.send(req).await {
            Err(EgressError::Refused(why)) => assert!(why.contains("loopback"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn other_protocols_resolve_through_the_same_checks() {
        let closed = egress(false);
        for host in [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "10.1.2.3",
            "169.254.169.254",
        ] {
            match closed.resolve(host, 25).await {
                Err(EgressError::Refused(_)) => {}
                other => panic!("{host}: expected a refusal, got {other:?}"),
            }
        }
        assert_eq!(
            closed.resolve("8.8.8.8", 587).await.unwrap(),
            "8.8.8.8:587".parse().unwrap()
        );
        let open = egress(true);
        assert!(
            open.resolve("localhost", 25)
                .await
                .unwrap()
                .ip()
                .is_loopback()
        );
    }
}
