//! Policy decision time for a 50-rule policy (target: median at most 2 µs).
//!
//! `cargo bench -p mandate-policy --bench decision`. The policy has an allowlist of five entries
//! and 50 request rules (methods, a URL regex each, a query regex or body conditions on some);
//! three requests: one decided by the last rule, one by no rule (step-up fallback, every rule
//! tried), one with a JSON body checked by body conditions. Each sample times a batch of 1,000
//! decisions; the median and p99 of 2,000 samples are printed per request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark

use std::hint::black_box;
use std::time::Instant;

use mandate_policy::{Body, CompiledPolicy, Model, Request, from_value};
use serde_json::json;
use url::Url;

fn policy() -> CompiledPolicy {
    let mut rules = Vec::new();
    for i in 0..49 {
        let mut rule = json!({
            "label": format!("rule {i}"),
            "match": {"methods": ["POST", "PUT"], "urlPattern": format!("^/v1/resource{i}/[a-z]+/items$")},
            "action": if i % 2 == 0 { "allow" } else { "require_approval" }
        });
        if i % 5 == 0 {
            rule["match"]["queryPattern"] = json!(format!("(^|&)mode=m{i}(&|$)"));
        }
        if i % 7 == 0 {
            rule["match"]["body"] =
                json!([{"path": "items[*].kind", "op": "eq", "value": format!("k{i}")}]);
        }
        rules.push(rule);
    }
    rules.push(
        json!({"label": "last", "match": {"methods": ["GET"], "urlPattern": "^/v1/final/[0-9]+$",
        "body": [{"path": "$body", "op": "exists"}]}, "action": "deny"}),
    );
    let doc = json!({
        "allowedModels": ["B"],
        "stepUpApproval": "risk_based",
        "allowlists": (0..5).map(|i| json!({"baseUrl": format!("https://api{i}.example.com"),
            "methods": ["GET", "POST", "PUT"], "pathPatterns": ["/v1/**"]})).collect::<Vec<_>>(),
        "rateLimits": {"maxRequestsPerHour": 1000},
        "rules": {"request": rules}
    });
    CompiledPolicy::compile(from_value(doc).unwrap()).unwrap()
}

fn measure(name: &str, policy: &CompiledPolicy, method: &str, url: &str, body: Option<Body>) {
    let url = Url::parse(url).unwrap();
    let request = Request {
        model: Model::B,
        method,
        url: &url,
        body: body.as_ref(),
        body_bytes: 64,
        unix_seconds: 1_796_464_800,
    };
    let decision = policy.decide(&request);
    const BATCH: u32 = 1_000;
    for _ in 0..200 {
        black_box(policy.decide(black_box(&request)));
    }
    let mut samples: Vec<f64> = (0..2_000)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..BATCH {
                black_box(policy.decide(black_box(&request)));
            }
            start.elapsed().as_nanos() as f64 / f64::from(BATCH)
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name:<34} median {:>7.0} ns   p99 {:>7.0} ns   ({:?} by {})",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        decision.outcome,
        decision.rule_name()
    );
}

fn main() {
    let p = policy();
    measure(
        "last rule decides",
        &p,
        "GET",
        "https://api4.example.com/v1/final/42",
        Some(Body::Json(json!({"a": 1}))),
    );
    measure(
        "no rule matches (fallback)",
        &p,
        "GET",
        "https://api2.example.com/v1/other/thing?x=1",
        None,
    );
    measure(
        "body conditions checked",
        &p,
        "POST",
        "https://api0.example.com/v1/resource35/abc/items?mode=m35",
        Some(Body::Json(
            json!({"items": [{"kind": "a"}, {"kind": "b"}, {"kind": "k35"}]}),
        )),
    );
}
