//! A small browser-like client: keeps the session cookie, sends the page's Origin, or a bearer
//! token instead.

use mandate_crypto::totp::Totp;
use reqwest::Method;
use serde_json::Value;
use zeroize::Zeroizing;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub bearer: Option<String>,
    /// Sent as `Origin` on every request; None sends none.
    pub origin: Option<String>,
    /// The base32 TOTP secret, once enrolled.
    pub totp_secret: Option<String>,
    pub backup_codes: Vec<String>,
    /// The last TOTP step used, so each code is fresh.
    last_step: u64,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_string(),
            cookie: None,
            bearer: None,
            origin: Some(base.to_string()),
            totp_secret: None,
            backup_codes: Vec::new(),
            last_step: 0,
        }
    }

    pub fn with_bearer(&self, token: &str) -> Client {
        let mut c = Client::new(&self.base);
        c.bearer = Some(token.to_string());
        c.origin = None;
        c
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(token) = &self.bearer {
            req = req.bearer_auth(token);
        }
        if let Some(origin) = &self.origin {
            req = req.header("origin", origin);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap().trim().to_string();
            if set.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.cookie = Some(pair);
            }
        }
        // A live event stream does not end; its status and headers are the answer.
        let streams = headers
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
        let text = if streams {
            String::new()
        } else {
            response.text().await.unwrap()
        };
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value, headers)
    }

    pub async fn get(&mut self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.send(Method::GET, path, None).await;
        (s, v)
    }

    pub async fn post(&mut self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self.send(Method::POST, path, Some(body)).await;
        (s, v)
    }

    pub async fn login(&mut self, email: &str, password: &str) -> (u16, Value) {
        self.post(
            "/api/auth/login",
            serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Enrol an authenticator and keep its secret and backup codes.
    pub async fn enrol_totp(&mut self) {
        let (s, v) = self.post("/api/auth/totp/setup", Value::Null).await;
        assert_eq!(s, 200, "{v}");
        self.totp_secret = Some(v["secret"].as_str().unwrap().to_string());
        let code = self.next_code();
        let (s, v) = self
            .post(
                "/api/auth/totp/confirm",
                serde_json::json!({ "code": code }),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        self.backup_codes = v["backupCodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(self.backup_codes.len(), 10);
    }

    /// A code for a step not used yet (the server accepts the next step too).
    pub fn next_code(&mut self) -> String {
        let secret = decode_base32(self.totp_secret.as_deref().unwrap());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let step = Totp::step_at(now).max(self.last_step + 1);
        assert!(
            step <= Totp::step_at(now) + 1,
            "the test used more than two TOTP codes in one 30 s step"
        );
        self.last_step = step;
        Totp::new(Zeroizing::new(secret)).code_for_step(step)
    }

    /// Give a fresh second factor (step-up), with a backup code so TOTP steps are not used up.
    pub async fn step_up(&mut self) {
        let code = self.backup_codes.pop().expect("a backup code left");
        let (s, v) = self
            .post("/api/auth/mfa", serde_json::json!({ "code": code }))
            .await;
        assert_eq!(s, 200, "{v}");
    }
}

fn decode_base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}
