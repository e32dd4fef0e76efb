//! `stream: true` and `download: true`: the provider's body passes through as it arrives, with
//! memory bounded by one line, the credential scrubbed ([`super::scrub`]). When response rules apply, each complete line is filtered on its
//! own: an SSE `data:` line or an NDJSON line holding JSON goes through the JSON rules, any other
//! line through redaction (plain-text streams are redacted too). Past the size cap the stream
//! ends with an error (an SSE `error` event, else an aborted body), never a silent cut.

use mandate_egress::reqwest;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use mandate_policy::{Bypass, Model, Request};
use serde_json::Value;
use url::Url;

use super::scrub::Scrubber;
use crate::policies::cache::Loaded;

/// A line longer than this is filtered as it stands (a stream is not held back forever).
const MAX_LINE: usize = 64 * 1024;

/// What the stream did, reported when it ends.
#[derive(Debug, Default)]
pub struct StreamEnd {
    pub bytes: usize,
    pub redactions: usize,
    pub too_large: bool,
    pub failed: Option<String>,
}

pub struct Filter {
    pub policy: Arc<Loaded>,
    pub method: String,
    pub url: Url,
    pub bypass: Bypass,
    pub sse: bool,
}

impl Filter {
    fn line(&self, line: &str, redactions: &mut usize) -> String {
        let request = Request {
            model: Model::B,
            method: &self.method,
            url: &self.url,
            body: None,
            body_bytes: 0,
            unix_seconds: 0,
        };
        let policy = &self.policy.compiled;
        let (prefix, payload) = match line.strip_prefix("data:") {
            Some(rest) if self.sse => ("data: ", rest.strip_prefix(' ').unwrap_or(rest)),
            _ => ("", line),
        };
        let trimmed = payload.trim_end_matches('\r');
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && let Ok(mut value) = serde_json::from_str::<Value>(trimmed)
        {
            let f = policy.filter_json(&request, &mut value, self.bypass);
            *redactions += f.redactions.iter().map(|r| r.count).sum::<usize>();
            return format!("{prefix}{value}");
        }
        let mut text = payload.to_string();
        let f = policy.filter_text(&request, &mut text, self.bypass);
        *redactions += f.redactions.iter().map(|r| r.count).sum::<usize>();
        format!("{prefix}{text}")
    }
}

struct State {
    response: reqwest::Response,
    filter: Option<Filter>,
    scrubber: Scrubber,
    pending: Vec<u8>,
    cap: usize,
    end: StreamEnd,
    done: bool,
    on_end: Option<Box<dyn FnOnce(StreamEnd) + Send>>,
}

impl State {
    fn finish(&mut self) {
        if let Some(f) = self.on_end.take() {
            f(std::mem::take(&mut self.end));
        }
    }

    /// What can be sent of `pending` now (all of it when `flush`): with response rules, the
    /// complete lines, each scrubbed and filtered; without, everything scrubbed but a tail short
    /// enough to be the start of a secret that the next chunk completes.
    fn drain(&mut self, flush: bool) -> Bytes {
        let Some(filter) = &self.filter else {
            let (scrubbed, n) = self.scrubber.scrub(&self.pending);
            self.end.redactions += n;
            let hold = if flush {
                0
            } else {
                self.scrubber
                    .longest()
                    .saturating_sub(1)
                    .min(scrubbed.len())
            };
            let cut = scrubbed.len() - hold;
            self.pending = scrubbed[cut..].to_vec();
            return Bytes::from(scrubbed[..cut].to_vec());
        };
        let cut = match self.pending.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if flush || self.pending.len() > MAX_LINE => self.pending.len(),
            None => return Bytes::new(),
        };
        let rest = self.pending.split_off(cut);
        let ready = std::mem::replace(&mut self.pending, rest);
        let (ready, n) = self.scrubber.scrub(&ready);
        self.end.redactions += n;
        let text = String::from_utf8_lossy(&ready);
        let mut out = String::with_capacity(text.len());
        for piece in text.split_inclusive('\n') {
            let (line, newline) = match piece.strip_suffix('\n') {
                Some(l) => (l, "\n"),
                None => (piece, ""),
            };
            out.push_str(&filter.line(line, &mut self.end.redactions));
            out.push_str(newline);
        }
        Bytes::from(out)
    }
}

/// The streamed body. `filter` is None when no response rule applies (bytes pass untouched).
pub fn body(
    response: reqwest::Response,
    filter: Option<Filter>,
    scrubber: Scrubber,
    cap: usize,
    on_end: Box<dyn FnOnce(StreamEnd) + Send>,
) -> Body {
    let sse = filter.as_ref().is_some_and(|f| f.sse);
    let state = State {
        response,
        filter,
        scrubber,
        pending: Vec::new(),
        cap,
        end: StreamEnd::default(),
        done: false,
        on_end: Some(on_end),
    };
    let stream = futures_util::stream::unfold(state, move |mut s| async move {
        loop {
            if s.done {
                return None;
            }
            match s.response.chunk().await {
                Ok(Some(chunk)) => {
                    s.end.bytes += chunk.len();
                    if s.end.bytes > s.cap {
                        s.end.too_large = true;
                        s.done = true;
                        let message =
                            format!("the provider's answer is larger than {} bytes", s.cap);
                        s.finish();
                        if sse {
                            let event = format!(
                                "\n\nevent: error\ndata: {}\n\n",
                                serde_json::json!({"error": message})
                            );
                            return Some((Ok(Bytes::from(event)), s));
                        }
                        return Some((Err(std::io::Error::other(message)), s));
                    }
                    s.pending.extend_from_slice(&chunk);
                    let out = s.drain(false);
                    if !out.is_empty() {
                        return Some((Ok(out), s));
                    }
                }
                Ok(None) => {
                    s.done = true;
                    let out = s.drain(true);
                    s.finish();
                    if out.is_empty() {
                        return None;
                    }
                    return Some((Ok(out), s));
                }
                Err(e) => {
                    s.done = true;
                    s.end.failed = Some(e.without_url().to_string());
                    s.finish();
                    return Some((
                        Err(std::io::Error::other("the provider's stream broke off")),
                        s,
                    ));
                }
            }
        }
    });
    Body::from_stream(stream)
}
