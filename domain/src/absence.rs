//! Absence reports (R-ABS-1, R-ABS-2, R-ABS-6).

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::error::{RejectCode, RuleError};
use crate::time::{local_date, Tz};

/// R-ABS-1: the dates a guardian may report absence for: (today, tomorrow), unit-local at
/// `now` (server time when enforcing, R-TIME-1).
pub fn absence_window(now: DateTime<Utc>, tz: Tz) -> (NaiveDate, NaiveDate) {
    let today = local_date(now, tz);
    // Only chrono's last representable day has no tomorrow.
    (today, today.checked_add_days(Days::new(1)).unwrap_or(today))
}

/// R-ABS-1: `absence_out_of_window` for any date other than today or tomorrow.
pub fn check_absence_date(date: NaiveDate, now: DateTime<Utc>, tz: Tz) -> Result<(), RuleError> {
    let (today, tomorrow) = absence_window(now, tz);
    if date == today || date == tomorrow {
        Ok(())
    } else {
        Err(RuleError::new(
            RejectCode::AbsenceOutOfWindow,
            format!("absence can be reported for {today} or {tomorrow} only, not {date}"),
        ))
    }
}

/// R-ABS-2: the optional comment of an absence.
pub const ABSENCE_COMMENT_MAX_CHARS: usize = 500;

/// R-ABS-2: at most 500 characters (not bytes).
pub fn check_absence_comment(c: Option<&str>) -> Result<(), RuleError> {
    let n = c.map_or(0, |c| c.chars().count());
    if n > ABSENCE_COMMENT_MAX_CHARS {
        Err(RuleError::invalid(format!(
            "absence comment has {n} characters; at most {ABSENCE_COMMENT_MAX_CHARS} are allowed"
        )))
    } else {
        Ok(())
    }
}

/// R-ABS-6: students cannot report absence, except gymnasium students aged 18 or over.
pub fn student_may_report_absence(is_gymnasium: bool, age: u32) -> bool {
    is_gymnasium && age >= 18
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

    // R-ABS-1: today and tomorrow only.
    #[test]
    fn absence_for_today_and_tomorrow_is_accepted() {
        let now = utc("2026-03-04T09:00:00Z");
        assert_eq!(
            absence_window(now, STHLM),
            (d("2026-03-04"), d("2026-03-05"))
        );
        assert!(check_absence_date(d("2026-03-04"), now, STHLM).is_ok());
        assert!(check_absence_date(d("2026-03-05"), now, STHLM).is_ok());
    }

    // R-ABS-1
    #[test]
    fn absence_for_day_after_tomorrow_is_out_of_window() {
        let now = utc("2026-03-04T09:00:00Z");
        let e = check_absence_date(d("2026-03-06"), now, STHLM).unwrap_err();
        assert_eq!(e.code, RejectCode::AbsenceOutOfWindow);
    }

    // R-ABS-1
    #[test]
    fn absence_for_yesterday_is_out_of_window() {
        let now = utc("2026-03-04T09:00:00Z");
        let e = check_absence_date(d("2026-03-03"), now, STHLM).unwrap_err();
        assert_eq!(e.code, RejectCode::AbsenceOutOfWindow);
    }

    // R-ABS-1 + R-TIME-1: at 23:59:59 local "tomorrow" is the next day; one second after
    // midnight it has moved on, though UTC is still on the earlier date.
    #[test]
    fn tomorrow_at_235959_and_000001_local() {
        // Wed 2026-03-04 23:59:59 in Stockholm (UTC+1).
        let before = utc("2026-03-04T22:59:59Z");
        assert_eq!(
            absence_window(before, STHLM),
            (d("2026-03-04"), d("2026-03-05"))
        );
        assert!(check_absence_date(d("2026-03-04"), before, STHLM).is_ok());
        assert!(check_absence_date(d("2026-03-06"), before, STHLM).is_err());
        // Thu 2026-03-05 00:00:01 local, still 2026-03-04 in UTC.
        let after = utc("2026-03-04T23:00:01Z");
        assert_eq!(
            absence_window(after, STHLM),
            (d("2026-03-05"), d("2026-03-06"))
        );
        assert!(check_absence_date(d("2026-03-06"), after, STHLM).is_ok());
        let e = check_absence_date(d("2026-03-04"), after, STHLM).unwrap_err();
        assert_eq!(e.code, RejectCode::AbsenceOutOfWindow);
    }

    // R-ABS-1 + R-TIME-2: the DST days are ordinary days in the window.
    #[test]
    fn absence_window_on_dst_days_is_today_and_tomorrow() {
        // Sat 28 March 23:30 local (UTC+1) -> tomorrow is the 23-hour DST-start day.
        assert_eq!(
            absence_window(utc("2026-03-28T22:30:00Z"), STHLM),
            (d("2026-03-28"), d("2026-03-29"))
        );
        // Sun 29 March 23:30 local (now UTC+2).
        assert_eq!(
            absence_window(utc("2026-03-29T21:30:00Z"), STHLM),
            (d("2026-03-29"), d("2026-03-30"))
        );
        // Sun 25 October 00:30 local (UTC+2) and 23:30 local (UTC+1), both the same day.
        assert_eq!(
            absence_window(utc("2026-10-24T22:30:00Z"), STHLM).0,
            d("2026-10-25")
        );
        assert_eq!(
            absence_window(utc("2026-10-25T22:30:00Z"), STHLM).0,
            d("2026-10-25")
        );
        assert_eq!(
            absence_window(utc("2026-10-25T23:00:00Z"), STHLM).0,
            d("2026-10-26")
        );
    }

    // R-ABS-1: across the year end.
    #[test]
    fn absence_window_crosses_the_year_end() {
        assert_eq!(
            absence_window(utc("2026-12-31T12:00:00Z"), STHLM),
            (d("2026-12-31"), d("2027-01-01"))
        );
    }

    // R-ABS-2
    #[test]
    fn absence_comment_of_500_characters_is_accepted_and_501_rejected() {
        assert!(check_absence_comment(None).is_ok());
        assert!(check_absence_comment(Some("")).is_ok());
        assert!(check_absence_comment(Some(&"ö".repeat(500))).is_ok());
        let e = check_absence_comment(Some(&"ö".repeat(501))).unwrap_err();
        assert_eq!(e.code, RejectCode::InvalidInput);
    }

    // R-ABS-6
    #[test]
    fn only_gymnasium_students_of_18_or_over_may_report_absence() {
        assert!(student_may_report_absence(true, 18));
        assert!(student_may_report_absence(true, 19));
        assert!(!student_may_report_absence(true, 17));
        assert!(!student_may_report_absence(false, 18));
        assert!(!student_may_report_absence(false, 12));
    }

    proptest! {
        // R-ABS-1: exactly two dates are accepted at any instant: today and the next day.
        #[test]
        fn absence_window_is_exactly_today_and_tomorrow(secs in 0i64..4_000_000_000, offset in -5i64..5) {
            let now = Utc.timestamp_opt(secs, 0).unwrap();
            let today = local_date(now, STHLM);
            let date = today + Duration::days(offset);
            prop_assert_eq!(check_absence_date(date, now, STHLM).is_ok(), offset == 0 || offset == 1);
        }
    }
}
