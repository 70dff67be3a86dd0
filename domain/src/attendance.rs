//! Arrivals and departures marked by staff (R-STAFF-2).
//!
//! Tablets work offline for a whole day and sync later with the times at which things
//! happened, so `at` is in the past as a rule; only a clock far ahead is suspicious.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::error::{RejectCode, RuleError};
use crate::time::{local_date, Tz};
use uuid::Uuid;

/// R-STAFF-2: tolerance for a tablet clock running ahead of the server.
pub const MAX_FUTURE_MINUTES: i64 = 30;

/// R-STAFF-2: `time_in_future` when `at` is more than 30 minutes after `now` (server time);
/// exactly 30 minutes is still accepted.
pub fn check_attendance_time(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), RuleError> {
    let limit = TimeDelta::try_minutes(MAX_FUTURE_MINUTES)
        .and_then(|d| now.checked_add_signed(d))
        // Only at the end of chrono's range; nothing can be later than that anyway.
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if at > limit {
        Err(RuleError::new(
            RejectCode::TimeInFuture,
            format!(
                "{} is more than {MAX_FUTURE_MINUTES} minutes after the server time {}",
                at.to_rfc3339(),
                now.to_rfc3339()
            ),
        ))
    } else {
        Ok(())
    }
}

/// R-STAFF-2: a departure needs an arrival earlier the same day. `arrival` is the child's
/// arrival on the unit-local day of `departure` (see [`attendance_day`]), if any.
pub fn check_departure(
    arrival: Option<DateTime<Utc>>,
    departure: DateTime<Utc>,
) -> Result<(), RuleError> {
    match arrival {
        Some(a) if a < departure => Ok(()),
        Some(a) => Err(RuleError::new(
            RejectCode::NoArrival,
            format!(
                "departure at {} is not after the arrival at {}",
                departure.to_rfc3339(),
                a.to_rfc3339()
            ),
        )),
        None => Err(RuleError::new(
            RejectCode::NoArrival,
            format!(
                "no arrival before the departure at {}",
                departure.to_rfc3339()
            ),
        )),
    }
}

/// R-STAFF-2: an arrival marked (or corrected) after that day's departure is already recorded
/// must be before it; otherwise `invalid_input`. `departure` is the child's departure on the
/// unit-local day of `arrival`, if any.
pub fn check_arrival(
    departure: Option<DateTime<Utc>>,
    arrival: DateTime<Utc>,
) -> Result<(), RuleError> {
    match departure {
        Some(d) if arrival >= d => Err(RuleError::invalid(
            "an arrival must be before that day's departure",
        )),
        _ => Ok(()),
    }
}

/// The unit-local day an arrival or departure belongs to ("that day" of R-STAFF-2).
pub fn attendance_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    local_date(at, tz)
}

/// The day of a mark at `at` and the id of that day's attendance record of the child: one
/// record a child and day, whichever tablet marks it.
pub fn attendance_record(child_id: Uuid, at: DateTime<Utc>, tz: Tz) -> (NaiveDate, Uuid) {
    let date = attendance_day(at, tz);
    (date, crate::wire::entity::attendance_id(child_id, date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::DEFAULT_TIME_ZONE as STHLM;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    // R-STAFF-2: exactly 30 minutes ahead is fine, one second more is not.
    #[test]
    fn time_30_minutes_ahead_is_accepted_and_beyond_is_in_future() {
        let now = utc("2026-03-04T08:00:00Z");
        assert!(check_attendance_time(now, now).is_ok());
        assert!(check_attendance_time(utc("2026-03-04T08:30:00Z"), now).is_ok());
        let e = check_attendance_time(utc("2026-03-04T08:30:01Z"), now).unwrap_err();
        assert_eq!(e.code, RejectCode::TimeInFuture);
    }

    // R-STAFF-2: offline tablets sync hours later; past times are accepted.
    #[test]
    fn time_from_earlier_in_the_day_is_accepted() {
        let now = utc("2026-03-04T16:00:00Z");
        assert!(check_attendance_time(utc("2026-03-04T06:35:00Z"), now).is_ok());
        assert!(check_attendance_time(utc("2026-03-03T06:35:00Z"), now).is_ok());
    }

    #[test]
    fn check_attendance_time_never_panics_at_range_end() {
        assert!(check_attendance_time(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MAX_UTC).is_ok());
    }

    // R-STAFF-2: departure needs an earlier arrival.
    #[test]
    fn departure_without_earlier_arrival_is_no_arrival() {
        let dep = utc("2026-03-04T15:00:00Z");
        assert!(check_departure(Some(utc("2026-03-04T07:00:00Z")), dep).is_ok());
        assert_eq!(
            check_departure(None, dep).unwrap_err().code,
            RejectCode::NoArrival
        );
        assert_eq!(
            check_departure(Some(dep), dep).unwrap_err().code,
            RejectCode::NoArrival
        );
        let later = utc("2026-03-04T16:00:00Z");
        assert_eq!(
            check_departure(Some(later), dep).unwrap_err().code,
            RejectCode::NoArrival
        );
    }

    #[test]
    fn an_arrival_after_that_days_departure_is_invalid_input() {
        let dep = utc("2026-03-04T15:00:00Z");
        assert!(check_arrival(None, dep).is_ok());
        assert!(check_arrival(Some(dep), utc("2026-03-04T07:00:00Z")).is_ok());
        assert_eq!(
            check_arrival(Some(dep), dep).unwrap_err().code,
            RejectCode::InvalidInput
        );
    }

    // R-STAFF-2 + R-TIME-2: "that day" is the unit-local day, also on DST days.
    #[test]
    fn attendance_day_is_the_unit_local_day() {
        assert_eq!(
            attendance_day(utc("2026-03-04T23:30:00Z"), STHLM).to_string(),
            "2026-03-05"
        );
        assert_eq!(
            attendance_day(utc("2026-10-25T22:30:00Z"), STHLM).to_string(),
            "2026-10-25"
        );
    }

    proptest! {
        // R-STAFF-2: rejected exactly when more than 30 minutes ahead.
        #[test]
        fn attendance_time_rejected_iff_more_than_30_minutes_ahead(secs in 0i64..4_000_000_000, ahead in -100_000i64..100_000) {
            let now = Utc.timestamp_opt(secs, 0).unwrap();
            let at = now + Duration::seconds(ahead);
            prop_assert_eq!(check_attendance_time(at, now).is_err(), ahead > MAX_FUTURE_MINUTES * 60);
        }
    }
}
