//! Rejection codes of the sync contract (ARCHITECTURE.md, "Rejection codes include").
//! Every rule failure maps to exactly one of these, so the server, the app and the
//! needs-attention journal speak the same language.

use serde::{Deserialize, Serialize};

/// A contract rejection code. Serialised as its snake_case name (`"day_locked"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// R-ABS-1: absence only for today or tomorrow.
    AbsenceOutOfWindow,
    /// R-CARE-3: the same-day-change lock.
    DayLocked,
    /// R-CARE-2: an interval outside the unit's opening hours.
    OutsideOpeningHours,
    /// R-CARE-2: weekends, closure and holiday days.
    UnitClosed,
    /// R-TALK-2: the slot was booked by someone else first.
    SlotTaken,
    /// R-TALK-2: one slot per child per round of talks.
    AlreadyBooked,
    /// R-STAFF-2: a departure needs an earlier arrival that day.
    NoArrival,
    /// R-STAFF-2: a time more than 30 minutes in the future.
    TimeInFuture,
    /// The caller may not do this (role, scope, unit settings).
    NotPermitted,
    /// The thing named does not exist (or is not visible to the caller).
    NotFound,
    /// Malformed or out-of-range arguments.
    InvalidInput,
    /// The pull cursor is unknown or too old: pull again with a null cursor.
    CursorExpired,
    /// R-STAFF-3: a PIN such as 0000 or 1234 is refused.
    PinTrivial,
    /// R-STAFF-3: five wrong PINs in a row lock the PIN until a sign-in with password.
    PinLocked,
    /// R-STAFF-3: the pairing code is unknown, used, expired or out of attempts (one code
    /// for all four, so a guesser learns nothing).
    PairingInvalid,
}

impl RejectCode {
    pub const ALL: [RejectCode; 15] = [
        RejectCode::AbsenceOutOfWindow,
        RejectCode::DayLocked,
        RejectCode::OutsideOpeningHours,
        RejectCode::UnitClosed,
        RejectCode::SlotTaken,
        RejectCode::AlreadyBooked,
        RejectCode::NoArrival,
        RejectCode::TimeInFuture,
        RejectCode::NotPermitted,
        RejectCode::NotFound,
        RejectCode::InvalidInput,
        RejectCode::CursorExpired,
        RejectCode::PinTrivial,
        RejectCode::PinLocked,
        RejectCode::PairingInvalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::AbsenceOutOfWindow => "absence_out_of_window",
            RejectCode::DayLocked => "day_locked",
            RejectCode::OutsideOpeningHours => "outside_opening_hours",
            RejectCode::UnitClosed => "unit_closed",
            RejectCode::SlotTaken => "slot_taken",
            RejectCode::AlreadyBooked => "already_booked",
            RejectCode::NoArrival => "no_arrival",
            RejectCode::TimeInFuture => "time_in_future",
            RejectCode::NotPermitted => "not_permitted",
            RejectCode::NotFound => "not_found",
            RejectCode::InvalidInput => "invalid_input",
            RejectCode::CursorExpired => "cursor_expired",
            RejectCode::PinTrivial => "pin_trivial",
            RejectCode::PinLocked => "pin_locked",
            RejectCode::PairingInvalid => "pairing_invalid",
        }
    }

    pub fn parse(s: &str) -> Option<RejectCode> {
        RejectCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broken rule: the code for machines, a message (English) for logs and developers.
/// The UI translates by `code`, never by `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RuleError {
    pub code: RejectCode,
    pub message: String,
}

impl RuleError {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        RuleError { code, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        RuleError::new(RejectCode::InvalidInput, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_contract_name() {
        for code in RejectCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(RejectCode::parse(code.as_str()), Some(code));
        }
    }
}
