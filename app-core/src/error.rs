//! The engine's error: one stable `code()` per kind, for the UI to translate.

use domain::{RejectCode, RuleError};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// Everything an [`crate::AppCore`] call can fail with. The UI translates by [`code`](Self::code)
/// (never by the message, which is English for logs and developers).
///
/// Serialises as `{"code": "...", "message": "..."}` (what the Tauri shell hands the UI).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    /// A local pre-check of a `domain` rule failed (the same rule the server enforces):
    /// the code is the contract's rejection code (`day_locked`, `absence_out_of_window`,
    /// `outside_opening_hours`, `unit_closed`, `invalid_input`, `not_permitted`, …).
    #[error("{0}")]
    Rule(RuleError),
    /// No signed-in account, or the server answered 401: sign in (again). The outbox is kept.
    #[error("not signed in: {0}")]
    NotSignedIn(String),
    /// Wrong username or password (R-ACC-1, R-ACC-2).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(String),
    /// The server could not be reached (offline, DNS, timeout). Retried with the same ids.
    #[error("network: {0}")]
    Network(String),
    /// The server answered with an error (5xx or an unexpected answer). Retried.
    #[error("server: {0}")]
    Server(String),
    /// The local replica (SQLite) or the data folder failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The OS keyring (or the token file) failed.
    #[error("keyring: {0}")]
    Keyring(String),
    /// Tablet mode: no PIN session is running (locked, or 10 minutes idle, R-STAFF-3).
    /// Unlock with a PIN or a password, then try again.
    #[error("tablet locked: {0}")]
    TabletLocked(String),
    /// Unpairing now would lose changes the server has not received: sync first, or unpair
    /// with `force`.
    #[error("outbox not empty: {0}")]
    OutboxNotEmpty(String),
}

impl CoreError {
    /// A stable code for UI translation: the rejection code for rule failures, otherwise one
    /// of `not_signed_in`, `invalid_credentials`, `network`, `server`, `storage`, `keyring`,
    /// `tablet_locked`, `outbox_not_empty`.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Rule(e) => e.code.as_str(),
            CoreError::NotSignedIn(_) => "not_signed_in",
            CoreError::InvalidCredentials(_) => "invalid_credentials",
            CoreError::Network(_) => "network",
            CoreError::Server(_) => "server",
            CoreError::Storage(_) => "storage",
            CoreError::Keyring(_) => "keyring",
            CoreError::TabletLocked(_) => "tablet_locked",
            CoreError::OutboxNotEmpty(_) => "outbox_not_empty",
        }
    }

    /// The rejection code, for rule failures.
    pub fn reject_code(&self) -> Option<RejectCode> {
        match self {
            CoreError::Rule(e) => Some(e.code),
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            CoreError::Rule(e) => e.message.clone(),
            CoreError::NotSignedIn(m)
            | CoreError::InvalidCredentials(m)
            | CoreError::Network(m)
            | CoreError::Server(m)
            | CoreError::Storage(m)
            | CoreError::Keyring(m)
            | CoreError::TabletLocked(m)
            | CoreError::OutboxNotEmpty(m) => m.clone(),
        }
    }

    /// Worth retrying later with the same mutation ids (network trouble, 5xx).
    pub fn is_transient(&self) -> bool {
        matches!(self, CoreError::Network(_) | CoreError::Server(_))
    }

    pub(crate) fn rule(code: RejectCode, message: impl Into<String>) -> CoreError {
        CoreError::Rule(RuleError::new(code, message))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> CoreError {
        CoreError::Rule(RuleError::invalid(message))
    }

    pub(crate) fn storage(e: impl std::fmt::Display) -> CoreError {
        CoreError::Storage(e.to_string())
    }
}

impl From<RuleError> for CoreError {
    fn from(e: RuleError) -> Self {
        CoreError::Rule(e)
    }
}

impl From<rusqlite::Error> for CoreError {
    fn from(e: rusqlite::Error) -> Self {
        CoreError::Storage(e.to_string())
    }
}

impl From<std::io::Error> for CoreError {
    fn from(e: std::io::Error) -> Self {
        CoreError::Storage(e.to_string())
    }
}

impl Serialize for CoreError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CoreError", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.message())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_serialise_as_code_and_message() {
        let e = CoreError::rule(RejectCode::DayLocked, "too late");
        assert_eq!(e.code(), "day_locked");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "day_locked", "message": "too late"})
        );
        let cases = [
            (CoreError::NotSignedIn("x".into()), "not_signed_in"),
            (
                CoreError::InvalidCredentials("x".into()),
                "invalid_credentials",
            ),
            (CoreError::Network("x".into()), "network"),
            (CoreError::Server("x".into()), "server"),
            (CoreError::Storage("x".into()), "storage"),
            (CoreError::Keyring("x".into()), "keyring"),
            (CoreError::TabletLocked("x".into()), "tablet_locked"),
            (CoreError::OutboxNotEmpty("x".into()), "outbox_not_empty"),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code);
            assert_eq!(serde_json::to_value(&e).unwrap()["code"], code);
        }
        assert!(CoreError::Network("x".into()).is_transient());
        assert!(!CoreError::invalid("x").is_transient());
    }
}
