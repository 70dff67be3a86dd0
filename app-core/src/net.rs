//! The sync contract over HTTP (ARCHITECTURE.md, "Sync contract"), with reqwest.

use std::time::Duration;

use domain::wire::{
    ErrorBody, LoginRequest, LoginResponse, MeResponse, PullRequest, PullResponse, PushRequest,
    PushResponse,
};
use domain::RejectCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::CoreError;

/// A failed call, before it becomes a [`CoreError`].
#[derive(Debug, Clone)]
pub(crate) enum NetError {
    /// No answer: connection refused or reset, DNS, timeout.
    Network(String),
    /// An answer with an error status and the contract's error body (when it had one).
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer we could not read.
    Decode(String),
}

impl NetError {
    pub fn status(&self) -> Option<u16> {
        match self {
            NetError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<NetError> for CoreError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Network(m) => CoreError::Network(m),
            NetError::Decode(m) => CoreError::Server(format!("unreadable answer: {m}")),
            NetError::Status {
                status,
                code,
                message,
            } => match (status, code.as_str()) {
                (401, "invalid_credentials") => CoreError::InvalidCredentials(message),
                (401, _) => CoreError::NotSignedIn(message),
                (410, "cursor_expired") => CoreError::rule(RejectCode::CursorExpired, message),
                _ => CoreError::Server(format!("HTTP {status} {code}: {message}")),
            },
        }
    }
}

#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    /// For the event stream: no overall timeout, but a read timeout well above the server's
    /// 15 s keep-alive so a dead connection is noticed.
    sse: reqwest::Client,
}

fn url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

fn net(e: reqwest::Error) -> NetError {
    if e.is_decode() {
        NetError::Decode(e.to_string())
    } else {
        NetError::Network(e.to_string())
    }
}

impl Api {
    pub fn new() -> Result<Api, CoreError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("hub-app-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CoreError::Network(format!("HTTP client: {e}")))?;
        let sse = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(45))
            .user_agent(concat!("hub-app-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CoreError::Network(format!("HTTP client: {e}")))?;
        Ok(Api { http, sse })
    }

    async fn answer<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, NetError> {
        let status = res.status();
        if status.is_success() {
            return res.json::<T>().await.map_err(net);
        }
        let text = res.text().await.unwrap_or_default();
        let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => (String::from("http"), text.chars().take(200).collect()),
        };
        Err(NetError::Status {
            status: status.as_u16(),
            code,
            message,
        })
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<T, NetError> {
        let mut req = self.http.post(url(base, path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::answer(req.send().await.map_err(net)?).await
    }

    pub async fn login(&self, base: &str, req: &LoginRequest) -> Result<LoginResponse, NetError> {
        self.post(base, "/v1/auth/login", None, req).await
    }

    pub async fn logout(&self, base: &str, token: &str) -> Result<(), NetError> {
        let res = self
            .http
            .post(url(base, "/v1/auth/logout"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(net)?;
        if res.status().is_success() || res.status().as_u16() == 401 {
            Ok(())
        } else {
            Err(NetError::Status {
                status: res.status().as_u16(),
                code: "http".into(),
                message: "logout failed".into(),
            })
        }
    }

    pub async fn me(&self, base: &str, token: &str) -> Result<MeResponse, NetError> {
        let res = self
            .http
            .get(url(base, "/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(net)?;
        Self::answer(res).await
    }

    /// A call that is safe to repeat (a pull, or a push: idempotent by mutation id), tried a
    /// second time at once when the first failed without an answer. A pooled keep-alive
    /// connection that a NAT, proxy or server dropped while idle fails the first request sent
    /// on it; the retry goes on a new connection instead of waiting for the backoff.
    async fn post_twice<B: Serialize, T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        token: &str,
        body: &B,
    ) -> Result<T, NetError> {
        match self.post(base, path, Some(token), body).await {
            Err(NetError::Network(first)) => {
                tracing::debug!(path, error = %first, "no answer; trying once more on a new connection");
                self.post(base, path, Some(token), body).await
            }
            other => other,
        }
    }

    pub async fn push(
        &self,
        base: &str,
        token: &str,
        req: &PushRequest,
    ) -> Result<PushResponse, NetError> {
        self.post_twice(base, "/v1/sync/push", token, req).await
    }

    pub async fn pull(
        &self,
        base: &str,
        token: &str,
        req: &PullRequest,
    ) -> Result<PullResponse, NetError> {
        self.post_twice(base, "/v1/sync/pull", token, req).await
    }

    /// Opens the event stream (`GET /v1/sync/events`); the caller reads its body.
    pub async fn events(&self, base: &str, token: &str) -> Result<reqwest::Response, NetError> {
        let res = self
            .sse
            .get(url(base, "/v1/sync/events"))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(net)?;
        if res.status().is_success() {
            Ok(res)
        } else {
            Err(Self::answer::<serde_json::Value>(res)
                .await
                .err()
                .unwrap_or(NetError::Decode("event stream".into())))
        }
    }
}

/// Reads server-sent events from a byte stream: yields each event's name (`poke`, `ready`).
#[derive(Default)]
pub(crate) struct SseParser {
    buf: String,
    event: Option<String>,
}

impl SseParser {
    /// Feeds bytes; returns the names of the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.push_str(&String::from_utf8_lossy(bytes));
        let mut out = Vec::new();
        while let Some(pos) = self.buf.find('\n') {
            let line: String = self.buf.drain(..=pos).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if let Some(ev) = self.event.take() {
                    out.push(ev);
                }
            } else if let Some(name) = line.strip_prefix("event:") {
                self.event = Some(name.trim().to_string());
            } else if line.starts_with("data:") && self.event.is_none() {
                self.event = Some("message".into());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_finds_events_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b"event: ready\ndata: {}\n").is_empty());
        assert_eq!(p.feed(b"\nevent: po"), vec!["ready".to_string()]);
        assert_eq!(
            p.feed(b"ke\r\ndata: {}\r\n\r\n:keep-alive\n\n"),
            vec!["poke".to_string()]
        );
    }

    #[test]
    fn statuses_map_to_core_errors() {
        let s = |status, code: &str| NetError::Status {
            status,
            code: code.into(),
            message: "m".into(),
        };
        assert_eq!(
            CoreError::from(s(401, "invalid_credentials")).code(),
            "invalid_credentials"
        );
        assert_eq!(
            CoreError::from(s(401, "unauthorized")).code(),
            "not_signed_in"
        );
        assert_eq!(
            CoreError::from(s(410, "cursor_expired")).code(),
            "cursor_expired"
        );
        assert_eq!(CoreError::from(s(503, "unavailable")).code(), "server");
        assert_eq!(
            CoreError::from(NetError::Network("refused".into())).code(),
            "network"
        );
    }
}
