//! The sync contract over HTTP (ARCHITECTURE.md, "Sync contract"), with reqwest.

use std::time::Duration;

use domain::wire::{
    CreatePairingRequest, DevicesResponse, ErrorBody, LoginRequest, LoginResponse, MeResponse,
    PairRequest, PairResponse, PairingInfo, PasswordUnlockRequest, PasswordUnlockResponse,
    PullRequest, PullResponse, PushRequest, PushResponse, SetPinRequest,
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

impl NetError {
    /// A failed direct call (pairing, PINs, devices): a 4xx naming a rejection code is that
    /// rule's error (`pairing_invalid` comes with a 401 and is not a sign-in problem,
    /// `pin_trivial` with a 422, `not_permitted`, `not_found`, `invalid_input`, …);
    /// everything else as for sync calls.
    pub fn into_call_error(self) -> CoreError {
        if let NetError::Status {
            status,
            code,
            message,
        } = &self
        {
            if (400..500).contains(status) {
                if let Some(rc) = RejectCode::parse(code) {
                    return CoreError::rule(rc, message.clone());
                }
            }
        }
        self.into()
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

    /// Sends a request and reads the JSON answer.
    async fn call<T: DeserializeOwned>(req: reqwest::RequestBuilder) -> Result<T, NetError> {
        Self::answer(req.send().await.map_err(net)?).await
    }

    /// Sends a request whose success has no body worth reading (204).
    async fn call_empty(req: reqwest::RequestBuilder) -> Result<(), NetError> {
        let res = req.send().await.map_err(net)?;
        if res.status().is_success() {
            return Ok(());
        }
        Self::answer::<serde_json::Value>(res).await.map(|_| ())
    }

    /// `send` for a request that is safe to repeat, once more on a new connection when the
    /// first try got no answer (a pooled connection dropped while idle; see `post_twice`).
    /// Not for pairing or creating a pairing: after a lost answer a repeat would find the
    /// one-time code used, or leave a second pairing open.
    async fn retry_once<T, Fut>(
        req: reqwest::RequestBuilder,
        send: impl Fn(reqwest::RequestBuilder) -> Fut,
    ) -> Result<T, NetError>
    where
        Fut: std::future::Future<Output = Result<T, NetError>>,
    {
        let again = req.try_clone();
        match (send(req).await, again) {
            (Err(NetError::Network(first)), Some(again)) => {
                tracing::debug!(error = %first, "no answer; trying once more on a new connection");
                send(again).await
            }
            (other, _) => other,
        }
    }

    // ------------------------------------------------------------ tablets (R-STAFF-1…3)

    /// `POST /v1/devices/pair` (no token): the code for a device credential.
    pub async fn pair(&self, base: &str, req: &PairRequest) -> Result<PairResponse, NetError> {
        self.post(base, "/v1/devices/pair", None, req).await
    }

    /// `DELETE /v1/device`: the device unpairs itself (best effort, short timeout).
    pub async fn unpair_self(&self, base: &str, token: &str) -> Result<(), NetError> {
        let req = self
            .http
            .delete(url(base, "/v1/device"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5));
        match Self::call_empty(req).await {
            // Already revoked: nothing left to undo.
            Err(e) if e.status() == Some(401) => Ok(()),
            other => other,
        }
    }

    /// `POST /v1/device/password-unlock` (device credential).
    pub async fn password_unlock(
        &self,
        base: &str,
        token: &str,
        req: &PasswordUnlockRequest,
    ) -> Result<PasswordUnlockResponse, NetError> {
        // Repeatable: a second unlock resets the same lockout and names the same user.
        let r = self
            .http
            .post(url(base, "/v1/device/password-unlock"))
            .bearer_auth(token)
            .json(req);
        Self::retry_once(r, Self::call).await
    }

    /// `POST /v1/devices/pairings` (staff user token).
    pub async fn create_pairing(
        &self,
        base: &str,
        token: &str,
        req: &CreatePairingRequest,
    ) -> Result<PairingInfo, NetError> {
        self.post(base, "/v1/devices/pairings", Some(token), req)
            .await
    }

    /// `GET /v1/devices` (staff user token).
    pub async fn devices(&self, base: &str, token: &str) -> Result<DevicesResponse, NetError> {
        let r = self.http.get(url(base, "/v1/devices")).bearer_auth(token);
        Self::retry_once(r, Self::call).await
    }

    /// `DELETE /v1/devices/{id}` (staff user token).
    pub async fn revoke_device(
        &self,
        base: &str,
        token: &str,
        id: uuid::Uuid,
    ) -> Result<(), NetError> {
        let path = format!("/v1/devices/{id}");
        let r = self.http.delete(url(base, &path)).bearer_auth(token);
        Self::retry_once(r, Self::call_empty).await
    }

    /// `PUT /v1/me/pin` (staff user token).
    pub async fn set_pin(
        &self,
        base: &str,
        token: &str,
        req: &SetPinRequest,
    ) -> Result<(), NetError> {
        let r = self
            .http
            .put(url(base, "/v1/me/pin"))
            .bearer_auth(token)
            .json(req);
        Self::retry_once(r, Self::call_empty).await
    }

    /// `DELETE /v1/me/pin` (staff user token).
    pub async fn clear_pin(&self, base: &str, token: &str) -> Result<(), NetError> {
        let r = self.http.delete(url(base, "/v1/me/pin")).bearer_auth(token);
        Self::retry_once(r, Self::call_empty).await
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

/// One server-sent event: its name (`poke`, `ready`) and data (lines joined by `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub name: String,
    pub data: String,
}

/// Reads server-sent events from a byte stream.
#[derive(Default)]
pub(crate) struct SseParser {
    buf: String,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.push_str(&String::from_utf8_lossy(bytes));
        let mut out = Vec::new();
        while let Some(pos) = self.buf.find('\n') {
            let line: String = self.buf.drain(..=pos).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let data = std::mem::take(&mut self.data).join("\n");
                if let Some(name) = self.event.take() {
                    out.push(SseEvent { name, data });
                }
            } else if let Some(name) = line.strip_prefix("event:") {
                self.event = Some(name.trim().to_string());
            } else if let Some(data) = line.strip_prefix("data:") {
                self.data.push(data.strip_prefix(' ').unwrap_or(data).to_string());
                if self.event.is_none() {
                    self.event = Some("message".into());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, data: &str) -> SseEvent {
        SseEvent {
            name: name.into(),
            data: data.into(),
        }
    }

    #[test]
    fn sse_parser_finds_events_and_their_data_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b"event: ready\ndata: {}\n").is_empty());
        assert_eq!(p.feed(b"\nevent: po"), vec![ev("ready", "{}")]);
        assert_eq!(
            p.feed(b"ke\r\ndata: {\"commit\":\r\ndata:41}\r\n\r\n:keep-alive\n\n"),
            vec![ev("poke", "{\"commit\":\n41}")]
        );
        // A keep-alive comment alone completes no event, and leaves no data behind.
        assert_eq!(
            p.feed(b"event: poke\n\n"),
            vec![ev("poke", "")]
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
        // Direct calls: a rejection code in a 4xx is that rule's error, whatever the status.
        assert_eq!(
            s(401, "pairing_invalid").into_call_error().code(),
            "pairing_invalid"
        );
        assert_eq!(
            s(422, "pin_trivial").into_call_error().code(),
            "pin_trivial"
        );
        assert_eq!(
            s(401, "unauthorized").into_call_error().code(),
            "not_signed_in"
        );
        assert_eq!(
            s(401, "invalid_credentials").into_call_error().code(),
            "invalid_credentials"
        );
        assert_eq!(s(503, "not_found").into_call_error().code(), "server");
    }
}
