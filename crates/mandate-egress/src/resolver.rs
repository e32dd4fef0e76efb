//! The client's DNS resolver: the system resolver, then every answer checked. A name with any
//! forbidden answer is refused whole (an attacker's name answering one public and one private
//! address must not get a chance at the private one). The client connects to exactly the
//! addresses returned here, so what was checked is what is reached.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::client::EgressPolicy;

#[derive(Clone, Debug)]
pub struct CheckedResolver {
    policy: EgressPolicy,
}

/// The error a refused name fails with (the client wraps it; [`crate::Egress`] finds it again).
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to a forbidden address ({reason})")]
pub struct ForbiddenAnswer {
    pub host: String,
    pub reason: &'static str,
}

impl CheckedResolver {
    pub fn new(policy: EgressPolicy) -> Arc<CheckedResolver> {
        Arc::new(CheckedResolver { policy })
    }

    /// Check resolved addresses: all of them, or the reason for the first forbidden one.
    pub fn check(
        &self,
        host: &str,
        addrs: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, ForbiddenAnswer> {
        if let Some(reason) = addrs
            .iter()
            .find_map(|a| self.policy.refusal(a.ip(), Some(host)))
        {
            return Err(ForbiddenAnswer {
                host: host.to_string(),
                reason,
            });
        }
        Ok(addrs)
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            // Port 0: the connector puts the URL's port in.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let checked = this.check(&host, addrs)?;
            let addrs: Addrs = Box::new(checked.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_forbidden_answer_refuses_the_name() {
        let r = CheckedResolver::new(EgressPolicy::default());
        let addrs: Vec<SocketAddr> =
            vec!["8.8.8.8:0".parse().unwrap(), "10.0.0.1:0".parse().unwrap()];
        let e = r.check("mixed.example", addrs.clone()).unwrap_err();
        assert_eq!(e.reason, "private (10.0.0.0/8)");
        assert_eq!(
            CheckedResolver::new(EgressPolicy::open_private())
                .check("mixed.example", addrs.clone())
                .unwrap(),
            addrs
        );
        assert!(
            r.check("public.example", vec!["8.8.8.8:0".parse().unwrap()])
                .is_ok()
        );
    }
}
