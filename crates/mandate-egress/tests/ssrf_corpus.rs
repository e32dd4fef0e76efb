//! The SSRF corpus: URLs in every spelling of a forbidden address, forbidden schemes and
//! userinfo, and DNS answers that point at forbidden addresses. Every entry must be refused by
//! the default policy; a few public controls must pass (so the test can fail both ways).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use mandate_egress::resolver::CheckedResolver;
use mandate_egress::{Egress, EgressError, EgressPolicy, Exceptions};
use url::Url;

/// URLs the guard refuses before any connection is tried.
const URLS: &[&str] = &[
    // Schemes and userinfo.
    "http://example.com/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "ws://example.com/",
    "dict://127.0.0.1:11211/",
    "https://user:pw@example.com/",
    "https://user@example.com/",
    "https://:pw@example.com/",
    // Loopback in every IPv4 spelling.
    "https://127.0.0.1/",
    "https://127.1/",
    "https://127.0.1/",
    "https://0177.0.0.1/",
    "https://0x7f000001/",
    "https://0x7f.0.0.1/",
    "https://2130706433/",
    "https://017700000001/",
    "https://127.000.000.001/",
    "https://127.255.255.254/",
    "https://0/",
    "https://0.0.0.0/",
    // Cloud metadata.
    "https://169.254.169.254/latest/meta-data/",
    "https://0xA9FEA9FE/",
    "https://2852039166/",
    "https://0251.0376.0251.0376/",
    "https://[::ffff:169.254.169.254]/",
    "https://[fd00:ec2::254]/",
    // Private, CGNAT, documentation, benchmarking, multicast, reserved.
    "https://10.0.0.1/",
    "https://10.255.255.255/",
    "https://172.16.0.1/",
    "https://172.31.255.254/",
    "https://192.168.1.1/",
    "https://192.168.0.1./",
    "https://0300.0250.0.1/",
    "https://0xc0.0xa8.0x00.0x01/",
    "https://3232235521/",
    "https://100.64.0.1/",
    "https://100.127.255.255/",
    "https://192.0.0.8/",
    "https://192.0.2.10/",
    "https://198.51.100.7/",
    "https://203.0.113.9/",
    "https://198.18.0.1/",
    "https://198.19.255.255/",
    "https://224.0.0.1/",
    "https://239.255.255.250/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    // IPv6 and IPv4 embedded in IPv6.
    "https://[::]/",
    "https://[::1]/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:10.0.0.1]/",
    "https://[::127.0.0.1]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[64:ff9b::7f00:1]/",
    "https://[64:ff9b:1::1]/",
    "https://[2002:7f00:1::]/",
    "https://[2002:a9fe:a9fe::1]/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[fec0::1]/",
    "https://[ff02::1]/",
    "https://[2001:db8::1]/",
    "https://[100::1]/",
    "https://[2001::1]/",
    "https://[4000::1]/",
    // Plain http to loopback needs SSRF_ALLOW_PRIVATE.
    "http://127.0.0.1:8080/",
    "http://[::1]:8080/",
];

/// Names whose DNS answers hold a forbidden address (one is enough to refuse the name).
const ANSWERS: &[(&str, &[&str])] = &[
    ("metadata.google.internal", &["169.254.169.254"]),
    ("localtest.me", &["127.0.0.1"]),
    ("rebind.example", &["93.184.216.34", "10.0.0.1"]),
    ("v6-loopback.example", &["::1"]),
    ("mapped.example", &["::ffff:192.168.1.1"]),
    ("nat64.example", &["64:ff9b::a00:1"]),
    ("ula.example", &["2606:4700::1111", "fd12::1"]),
    ("cgnat.example", &["100.64.1.1"]),
    ("zero.example", &["0.0.0.0"]),
    ("linklocal6.example", &["fe80::1"]),
    ("sixtofour.example", &["2002:c0a8:101::1"]),
    ("bench.example", &["198.18.5.5"]),
    ("docs.example", &["192.0.2.1"]),
    ("multicast.example", &["224.0.0.251"]),
];

fn egress(policy: EgressPolicy) -> Egress {
    Egress::new(policy, Duration::from_secs(5)).unwrap()
}

fn answers(list: &[&str]) -> Vec<SocketAddr> {
    list.iter()
        .map(|a| SocketAddr::new(a.parse().unwrap(), 0))
        .collect()
}

#[test]
fn every_corpus_url_is_refused() {
    assert!(URLS.len() + ANSWERS.len() >= 60, "the corpus shrank");
    let e = egress(EgressPolicy::default());
    for url in URLS {
        // A URL the parser itself rejects never reaches the network either.
        let Ok(parsed) = Url::parse(url) else {
            continue;
        };
        match e.check_url(&parsed) {
            Err(EgressError::Refused(_)) => {}
            other => panic!("{url} was not refused: {other:?}"),
        }
    }
}

#[test]
fn every_corpus_answer_is_refused() {
    let r = CheckedResolver::new(EgressPolicy::default());
    for (name, list) in ANSWERS {
        assert!(r.check(name, answers(list)).is_err(), "{name} -> {list:?}");
    }
}

#[test]
fn public_controls_pass() {
    let e = egress(EgressPolicy::default());
    for url in [
        "https://example.com/",
        "https://8.8.8.8/",
        "https://[2606:4700:4700::1111]/",
    ] {
        assert!(e.check_url(&Url::parse(url).unwrap()).is_ok(), "{url}");
    }
    let r = CheckedResolver::new(EgressPolicy::default());
    assert!(
        r.check(
            "example.com",
            answers(&["93.184.216.34", "2606:2800:220:1::1"])
        )
        .is_ok()
    );
}

#[test]
fn exceptions_open_exactly_what_they_name() {
    let policy = EgressPolicy {
        allow_private: false,
        exceptions: Exceptions::parse("10.20.0.0/16, intranet.example.com, 127.0.0.1/32").unwrap(),
    };
    let e = egress(policy.clone());
    let ok = |u: &str| e.check_url(&Url::parse(u).unwrap()).is_ok();
    assert!(ok("https://10.20.1.2/"));
    assert!(!ok("https://10.21.1.2/"));
    assert!(ok("http://127.0.0.1:8080/"));
    assert!(!ok("https://169.254.169.254/"));
    let r = CheckedResolver::new(policy);
    assert!(
        r.check("intranet.example.com", answers(&["192.168.7.7"]))
            .is_ok()
    );
    assert!(
        r.check("other.example.com", answers(&["192.168.7.7"]))
            .is_err()
    );
    assert!(
        r.check("other.example.com", answers(&["10.20.9.9"]))
            .is_ok()
    );
}

#[tokio::test]
async fn a_real_name_resolving_to_loopback_is_refused_at_connect() {
    let e = egress(EgressPolicy::default());
    let request = e
        .request(
            reqwest::Method::GET,
            Url::parse("https://localhost:9/").unwrap(),
        )
        .unwrap();
    match e.send(request).await {
        Err(EgressError::Refused(why)) => assert!(why.contains("loopback"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
