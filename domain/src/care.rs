//! Care schedule rules for one day or week (R-CARE-1 … R-CARE-4).
//!
//! Shape and opening hours live in [`crate::interval`] and [`crate::opening`]; repeats in
//! [`crate::repeat`]. This module holds the same-day-change lock and the comment limit.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};

use crate::error::{RejectCode, RuleError};
use crate::time::{local_date, Tz};

/// R-CARE-3: day `day` is locked for guardians once the unit-local date at `now` is on or
/// after it. `now` is the server's clock when enforcing, the corrected device clock when
/// only showing (R-TIME-1).
pub fn is_day_locked(day: NaiveDate, now: DateTime<Utc>, tz: Tz) -> bool {
    local_date(now, tz) >= day
}

/// R-CARE-3: a guardian may create, change or delete a day's registration or comment only
/// before that day.
pub fn check_guardian_edit(day: NaiveDate, now: DateTime<Utc>, tz: Tz) -> Result<(), RuleError> {
    if is_day_locked(day, now, tz) {
        Err(RuleError::new(
            RejectCode::DayLocked,
            format!(
                "{day} can no longer be changed by guardians (same-day-change lock); \
                 send a message or call the unit instead"
            ),
        ))
    } else {
        Ok(())
    }
}

/// R-CARE-1: the optional comment of a day ("morfar hämtar").
pub const COMMENT_MAX_CHARS: usize = 500;

/// Counts characters (Unicode scalar values), not bytes: "å" is one character, as the user
/// sees it in the form's counter.
pub fn check_comment(text: &str) -> Result<(), RuleError> {
    let n = text.chars().count();
    if n > COMMENT_MAX_CHARS {
        Err(RuleError::invalid(format!(
            "comment has {n} characters; at most {COMMENT_MAX_CHARS} are allowed"
        )))
    } else {
        Ok(())
    }
}

/// R-CARE-4: a whole-week registration names its week by the Monday, and a guardian's
/// (`lock_applies`) must start on a week whose Monday is not locked yet. Staff are not
/// bound by the lock.
pub fn check_week_start(
    week_start: NaiveDate,
    now: DateTime<Utc>,
    tz: Tz,
    lock_applies: bool,
) -> Result<(), RuleError> {
    if week_start.weekday() != Weekday::Mon {
        return Err(RuleError::invalid(format!(
            "week_start {week_start} is a {:?}, not a Monday",
            week_start.weekday()
        )));
    }
    if lock_applies && is_day_locked(week_start, now, tz) {
        return Err(RuleError::new(
            RejectCode::DayLocked,
            format!(
                "the week of {week_start} has already started; register the remaining days \
                 one by one, or send a message or call the unit"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{parse_date, DEFAULT_TIME_ZONE as STHLM};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    // R-CARE-3 + R-TIME-1: Monday 00:30 in Stockholm is still Sunday in UTC
    // (23:30 UTC in winter, 22:30 UTC in summer), yet Monday is already locked.
    #[test]
    fn monday_0030_in_stockholm_is_locked_while_utc_is_still_sunday() {
        let winter = utc("2026-01-11T23:30:00Z"); // Sun in UTC, Mon 00:30 local
        assert!(is_day_locked(d("2026-01-12"), winter, STHLM));
        assert_eq!(
            check_guardian_edit(d("2026-01-12"), winter, STHLM)
                .unwrap_err()
                .code,
            RejectCode::DayLocked
        );
        let summer = utc("2026-06-14T22:30:00Z");
        assert!(is_day_locked(d("2026-06-15"), summer, STHLM));
        // A UTC-based lock would have said "not yet": the zone is what decides.
        assert!(!is_day_locked(d("2026-06-15"), summer, chrono_tz::UTC));
    }

    // R-CARE-3: tomorrow is open until local midnight, today and the past are locked.
    #[test]
    fn day_is_open_until_local_midnight_before_it() {
        let tue = d("2026-03-03");
        assert!(check_guardian_edit(tue, utc("2026-03-02T22:59:59Z"), STHLM).is_ok()); // Mon 23:59:59
        assert!(is_day_locked(tue, utc("2026-03-02T23:00:00Z"), STHLM)); // Tue 00:00
        assert!(is_day_locked(
            d("2026-03-02"),
            utc("2026-03-02T23:00:00Z"),
            STHLM
        ));
        let e = check_guardian_edit(tue, utc("2026-03-03T10:00:00Z"), STHLM).unwrap_err();
        assert_eq!(e.code, RejectCode::DayLocked);
        assert!(
            e.message.contains("send a message or call"),
            "{}",
            e.message
        );
    }

    // R-CARE-3 + R-TIME-2: DST start (2026-03-29, 23 hours) and end (2026-10-25, 25 hours)
    // lock at their own local midnight like any other day.
    #[test]
    fn dst_days_lock_at_local_midnight_like_any_other_day() {
        // Start: midnight is at UTC+1.
        assert!(!is_day_locked(
            d("2026-03-29"),
            utc("2026-03-28T22:59:59Z"),
            STHLM
        ));
        assert!(is_day_locked(
            d("2026-03-29"),
            utc("2026-03-28T23:00:00Z"),
            STHLM
        ));
        // The day after it locks at its midnight, now UTC+2.
        assert!(!is_day_locked(
            d("2026-03-30"),
            utc("2026-03-29T21:59:59Z"),
            STHLM
        ));
        assert!(is_day_locked(
            d("2026-03-30"),
            utc("2026-03-29T22:00:00Z"),
            STHLM
        ));
        // End: midnight is at UTC+2, the next at UTC+1.
        assert!(!is_day_locked(
            d("2026-10-25"),
            utc("2026-10-24T21:59:59Z"),
            STHLM
        ));
        assert!(is_day_locked(
            d("2026-10-25"),
            utc("2026-10-24T22:00:00Z"),
            STHLM
        ));
        assert!(!is_day_locked(
            d("2026-10-26"),
            utc("2026-10-25T22:59:59Z"),
            STHLM
        ));
        assert!(is_day_locked(
            d("2026-10-26"),
            utc("2026-10-25T23:00:00Z"),
            STHLM
        ));
    }

    // R-CARE-1: 500 characters, counted as characters.
    #[test]
    fn comment_of_500_characters_is_accepted_and_501_rejected() {
        assert!(check_comment("").is_ok());
        assert!(check_comment("morfar hämtar").is_ok());
        let max = "å".repeat(COMMENT_MAX_CHARS); // 1000 bytes
        assert!(check_comment(&max).is_ok());
        let over = "a".repeat(COMMENT_MAX_CHARS + 1);
        assert_eq!(
            check_comment(&over).unwrap_err().code,
            RejectCode::InvalidInput
        );
    }

    // R-CARE-4: a week starts on a Monday.
    #[test]
    fn week_start_must_be_a_monday() {
        let now = utc("2026-03-01T12:00:00Z");
        assert!(check_week_start(d("2026-03-02"), now, STHLM, true).is_ok());
        for not_monday in ["2026-03-03", "2026-03-08", "2026-03-07"] {
            let e = check_week_start(d(not_monday), now, STHLM, false).unwrap_err();
            assert_eq!(e.code, RejectCode::InvalidInput, "{not_monday}");
        }
    }

    // R-CARE-4: a guardian cannot start a week whose Monday is locked; staff can.
    #[test]
    fn week_whose_monday_is_locked_is_rejected_for_guardians_only() {
        let mon = d("2026-03-02");
        let sunday_evening = utc("2026-03-01T22:59:59Z");
        let monday_midnight = utc("2026-03-01T23:00:00Z");
        assert!(check_week_start(mon, sunday_evening, STHLM, true).is_ok());
        let e = check_week_start(mon, monday_midnight, STHLM, true).unwrap_err();
        assert_eq!(e.code, RejectCode::DayLocked);
        assert!(check_week_start(mon, utc("2026-03-04T12:00:00Z"), STHLM, false).is_ok());
    }

    proptest! {
        // R-CARE-3: once locked, a day stays locked as time goes on.
        #[test]
        fn lock_is_monotonic_in_now(
            secs in 1_600_000_000i64..2_000_000_000,
            later in 0i64..10_000_000,
            day_offset in -400i64..400,
        ) {
            let now = Utc.timestamp_opt(secs, 0).unwrap();
            let day = local_date(now, STHLM) + Duration::days(day_offset);
            if is_day_locked(day, now, STHLM) {
                prop_assert!(is_day_locked(day, now + Duration::seconds(later), STHLM));
            }
            // ... and an earlier day is locked whenever a later one is.
            if is_day_locked(day, now, STHLM) {
                prop_assert!(is_day_locked(day - Duration::days(1), now, STHLM));
            }
        }

        // R-CARE-3: exactly the days up to the local today are locked.
        #[test]
        fn today_is_locked_and_tomorrow_is_not(secs in 0i64..4_000_000_000) {
            let now = Utc.timestamp_opt(secs, 0).unwrap();
            let today = local_date(now, STHLM);
            prop_assert!(is_day_locked(today, now, STHLM));
            prop_assert!(!is_day_locked(today + Duration::days(1), now, STHLM));
        }
    }
}
