//! Any string: if the URL parser accepts it and the guard lets it through under the default
//! policy, then it is https, carries no userinfo, has a host, and an IP-literal host is a public
//! address. The guard must never panic.
#![no_main]

use std::net::IpAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mandate_egress::ip_policy::forbidden_reason;
use mandate_egress::{Egress, EgressPolicy};
use url::{Host, Url};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(url) = Url::parse(text) else { return };
    thread_local! {
        static EGRESS: Egress = Egress::new(EgressPolicy::default(), Duration::from_secs(1))
            .expect("client");
    }
    let accepted = EGRESS.with(|e| e.check_url(&url).is_ok());
    if !accepted {
        return;
    }
    assert_eq!(url.scheme(), "https", "{text}");
    assert!(url.username().is_empty() && url.password().is_none(), "{text}");
    match url.host() {
        None => panic!("accepted without a host: {text}"),
        Some(Host::Ipv4(v4)) => assert!(forbidden_reason(IpAddr::V4(v4)).is_none(), "{text}"),
        Some(Host::Ipv6(v6)) => assert!(forbidden_reason(IpAddr::V6(v6)).is_none(), "{text}"),
        Some(Host::Domain(_)) => {}
    }
});
