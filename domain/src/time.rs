//! Dates, time zones and clocks (R-TIME-1, R-TIME-2).
//!
//! Every day-based rule works on the unit-local calendar date of an instant `now` that the
//! caller supplies: the server's clock when it receives a mutation, or the app's clock
//! corrected by [`ServerOffset`] when it shows locks in advance. Nothing here reads the
//! system clock, so the same code runs on the server, in tests and in wasm.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::RuleError;

pub use chrono_tz::Tz;

/// The time zone of a unit unless it says otherwise (R-TIME-1).
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Europe::Stockholm;

/// A source of "now". The domain only defines the trait; the server and the app provide
/// real clocks, tests use [`FixedClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock stopped at one instant (tests, the server's dev clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The wall-clock date and time at `now` in `tz`. Goes through the zone's real offset at
/// that instant, so DST changes are handled by the tz database, not by us (R-TIME-2).
pub fn local_datetime(now: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    now.with_timezone(&tz).naive_local()
}

/// The unit-local calendar date at `now` (R-TIME-1).
pub fn local_date(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    local_datetime(now, tz).date()
}

/// The instant at which the wall clock in `tz` shows `time` on `date` (a tablet's edited
/// arrival time, R-STAFF-2). In the autumn hour that happens twice, the earlier; in the
/// spring hour that never happens, the first instant after it.
pub fn instant_at(date: NaiveDate, time: chrono::NaiveTime, tz: Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    let mut local = date.and_time(time);
    // A DST gap is at most an hour; step over it a minute at a time.
    for _ in 0..=120 {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(1);
    }
    // Unreachable with real zones; fall back to reading the wall clock as UTC.
    Utc.from_utc_datetime(&date.and_time(time))
}

/// An IANA zone name such as `Europe/Stockholm`.
pub fn parse_tz(name: &str) -> Result<Tz, RuleError> {
    name.parse::<Tz>()
        .map_err(|_| RuleError::invalid(format!("unknown time zone {name:?}")))
}

/// A strict `YYYY-MM-DD` calendar date: exactly ten characters, zero-padded, and a date that
/// exists. Lenient parsers accept `2026-2-3` or trailing text, and two clients would then
/// disagree about which day a mutation is for.
pub fn parse_date(s: &str) -> Result<NaiveDate, RuleError> {
    let bad_format = || RuleError::invalid(format!("date {s:?} is not of the form YYYY-MM-DD"));
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad_format());
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = &b[range];
        if part.iter().all(u8::is_ascii_digit) {
            Some(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
        } else {
            None
        }
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return Err(bad_format());
    };
    // year <= 9999, so the cast cannot wrap.
    NaiveDate::from_ymd_opt(year as i32, month, day)
        .ok_or_else(|| RuleError::invalid(format!("date {s:?} does not exist in the calendar")))
}

/// `date` written as `YYYY-MM-DD`, exactly as chrono's `%Y-%m-%d` writes it: the form of
/// [`parse_date`], of every date on the wire and of the names day-record ids are hashed
/// from.
///
/// Performance: chrono's `format` parses its pattern on every call; a care week writes
/// some forty dates (its days and its plan) on the server's single writer thread.
pub struct IsoDate(pub NaiveDate);

impl std::fmt::Display for IsoDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = (self.0.year(), self.0.month(), self.0.day());
        // Years outside 0–9999 (which `%Y` writes with a sign) through chrono.
        let Ok(y @ 0..=9999) = u32::try_from(y) else {
            return write!(f, "{}", self.0.format("%Y-%m-%d"));
        };
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let b = [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ];
        // Only ASCII digits and dashes.
        f.write_str(std::str::from_utf8(&b).map_err(|_| std::fmt::Error)?)
    }
}

/// The ISO weekday of `date`: 1 = Monday … 7 = Sunday (the numbering of the wire contract).
pub fn iso_weekday(date: NaiveDate) -> u8 {
    // number_from_monday() is 1..=7.
    date.weekday().number_from_monday() as u8
}

/// The Monday of the ISO week containing `date`.
pub fn monday_of(date: NaiveDate) -> NaiveDate {
    let back = u64::from(date.weekday().num_days_from_monday());
    // Only the first days of chrono's representable range have no Monday before them.
    date.checked_sub_days(Days::new(back))
        .unwrap_or(NaiveDate::MIN)
}

/// The offset between the server's clock and the device's clock, learned at each sync from
/// the `server_time` of a response (R-TIME-1). The app shows locks with its own clock
/// corrected by it; the server enforces with its own clock regardless.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerOffset {
    /// Server time minus device time, in milliseconds (positive: the device is behind).
    pub millis: i64,
}

impl ServerOffset {
    pub fn learn(server_time: DateTime<Utc>, device_time: DateTime<Utc>) -> ServerOffset {
        ServerOffset {
            millis: (server_time - device_time).num_milliseconds(),
        }
    }

    /// The device's `now` moved onto the server's clock. An offset that would leave chrono's
    /// range (only a corrupt stored value can) is ignored rather than panicking.
    pub fn corrected(&self, device_now: DateTime<Utc>) -> DateTime<Utc> {
        TimeDelta::try_milliseconds(self.millis)
            .and_then(|d| device_now.checked_add_signed(d))
            .unwrap_or(device_now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Weekday};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    proptest! {
        /// Dates on the wire and the names of day-record ids must not change: an
        /// `IsoDate` is exactly what chrono's `%Y-%m-%d` writes, and reads back.
        #[test]
        fn an_iso_date_is_written_as_chrono_writes_it(days in -800_000i32..4_000_000) {
            let date = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            let written = IsoDate(date).to_string();
            prop_assert_eq!(&written, &date.format("%Y-%m-%d").to_string());
            if (0..=9999).contains(&date.year()) {
                prop_assert_eq!(parse_date(&written).unwrap(), date);
            }
        }
    }

    // R-TIME-1: the unit-local date, not the UTC date, decides.
    #[test]
    fn local_date_uses_the_unit_zone_not_utc() {
        let tz = DEFAULT_TIME_ZONE;
        // Winter (UTC+1): 23:30 UTC Sunday is already Monday 00:30 in Stockholm.
        assert_eq!(local_date(utc("2026-01-11T23:30:00Z"), tz), d("2026-01-12"));
        assert_eq!(local_date(utc("2026-01-11T22:59:59Z"), tz), d("2026-01-11"));
        // Summer (UTC+2): 22:30 UTC is already tomorrow.
        assert_eq!(local_date(utc("2026-06-14T22:30:00Z"), tz), d("2026-06-15"));
        assert_eq!(local_date(utc("2026-06-14T21:59:59Z"), tz), d("2026-06-14"));
        assert_eq!(
            local_datetime(utc("2026-06-14T22:30:00Z"), tz),
            d("2026-06-15").and_hms_opt(0, 30, 0).unwrap()
        );
    }

    // R-TIME-2: on the DST days the local date still flips at local midnight.
    #[test]
    fn dst_days_start_and_end_at_local_midnight() {
        let tz = DEFAULT_TIME_ZONE;
        // 2026-03-29: clocks go 02:00 -> 03:00. Midnight is still UTC+1.
        assert_eq!(local_date(utc("2026-03-28T22:59:59Z"), tz), d("2026-03-28"));
        assert_eq!(local_date(utc("2026-03-28T23:00:00Z"), tz), d("2026-03-29"));
        // ... and the day ends at 22:00 UTC (UTC+2).
        assert_eq!(local_date(utc("2026-03-29T21:59:59Z"), tz), d("2026-03-29"));
        assert_eq!(local_date(utc("2026-03-29T22:00:00Z"), tz), d("2026-03-30"));
        // 2026-10-25: clocks go 03:00 -> 02:00. Midnight is UTC+2, the end UTC+1.
        assert_eq!(local_date(utc("2026-10-24T21:59:59Z"), tz), d("2026-10-24"));
        assert_eq!(local_date(utc("2026-10-24T22:00:00Z"), tz), d("2026-10-25"));
        assert_eq!(local_date(utc("2026-10-25T22:59:59Z"), tz), d("2026-10-25"));
        assert_eq!(local_date(utc("2026-10-25T23:00:00Z"), tz), d("2026-10-26"));
    }

    #[test]
    fn parse_tz_accepts_iana_names_and_rejects_others() {
        assert_eq!(parse_tz("Europe/Stockholm").unwrap(), DEFAULT_TIME_ZONE);
        assert_eq!(parse_tz("UTC").unwrap(), chrono_tz::UTC);
        for bad in ["", "Europe/Gothenburg", "europe/stockholm ", "+01:00"] {
            let e = parse_tz(bad).unwrap_err();
            assert_eq!(e.code, crate::RejectCode::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn parse_date_is_strict_yyyy_mm_dd() {
        assert_eq!(
            d("2026-02-28"),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        assert_eq!(
            d("2028-02-29"),
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()
        );
        for bad in [
            "2026-02-30",
            "2026-02-29",
            "2026-2-3",
            "2026-02-03 ",
            " 2026-02-03",
            "2026-02-03T00:00",
            "2026/02/03",
            "20260203",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "+026-01-01",
            "2026-0a-01",
            "",
            "२०२६-०२-०३",
        ] {
            let e = parse_date(bad).unwrap_err();
            assert_eq!(e.code, crate::RejectCode::InvalidInput, "{bad:?}");
            assert!(
                e.message.contains(bad),
                "message names the input: {}",
                e.message
            );
        }
    }

    #[test]
    fn monday_of_finds_the_iso_week_monday() {
        assert_eq!(monday_of(d("2026-01-01")), d("2025-12-29")); // Thursday, ISO week 1 of 2026
        assert_eq!(monday_of(d("2026-01-04")), d("2025-12-29")); // Sunday
        assert_eq!(monday_of(d("2026-01-05")), d("2026-01-05")); // Monday itself
        assert_eq!(monday_of(d("2027-01-03")), d("2026-12-28")); // ISO week 53 of 2026
        assert_eq!(iso_weekday(d("2026-01-05")), 1);
        assert_eq!(iso_weekday(d("2026-01-11")), 7);
    }

    // R-TIME-1: the app corrects its clock by the offset learned at its last sync.
    #[test]
    fn server_offset_corrects_the_device_clock() {
        let server = utc("2026-03-02T10:00:00Z");
        let device = utc("2026-03-02T09:58:30.250Z"); // 89.75 s behind
        let off = ServerOffset::learn(server, device);
        assert_eq!(off.millis, 89_750);
        assert_eq!(off.corrected(device), server);
        assert_eq!(ServerOffset::default().corrected(device), device);
        let json = serde_json::to_string(&off).unwrap();
        assert_eq!(json, r#"{"millis":89750}"#);
        assert_eq!(serde_json::from_str::<ServerOffset>(&json).unwrap(), off);
        // A corrupt offset never panics.
        assert_eq!(ServerOffset { millis: i64::MAX }.corrected(device), device);
    }

    #[test]
    fn instant_at_handles_both_dst_changes() {
        use chrono::{NaiveTime, TimeZone};
        let tz = DEFAULT_TIME_ZONE;
        let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let d = |y, mo, day| NaiveDate::from_ymd_opt(y, mo, day).unwrap();
        // An ordinary winter morning: UTC+1.
        assert_eq!(instant_at(d(2026, 11, 24), hm(7, 30), tz), Utc.with_ymd_and_hms(2026, 11, 24, 6, 30, 0).unwrap());
        // 29 March 2026, 02:30 does not exist in Stockholm: the first instant after the gap.
        assert_eq!(instant_at(d(2026, 3, 29), hm(2, 30), tz), Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
        // 25 October 2026, 02:30 happens twice: the earlier (still UTC+2).
        assert_eq!(instant_at(d(2026, 10, 25), hm(2, 30), tz), Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap());
    }

    #[test]
    fn fixed_clock_returns_its_instant() {
        let t = utc("2026-03-02T10:00:00Z");
        let clock: &dyn Clock = &FixedClock(t);
        assert_eq!(clock.now(), t);
    }

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 1970 .. 2100
        (0i64..4_102_444_800).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
    }

    proptest! {
        // R-TIME-1: whatever the zone, the local date is the UTC date or a neighbour.
        #[test]
        fn local_date_is_within_one_day_of_the_utc_date(now in any_instant(), zi in 0usize..chrono_tz::TZ_VARIANTS.len()) {
            let tz = chrono_tz::TZ_VARIANTS[zi];
            let diff = (local_date(now, tz) - now.date_naive()).num_days();
            prop_assert!((-1..=1).contains(&diff), "{tz}: {diff}");
        }

        #[test]
        fn parse_date_round_trips_every_formatted_date(days in 0i64..3_000_000) {
            let date = NaiveDate::from_ymd_opt(1, 1, 1).unwrap() + chrono::Duration::days(days);
            prop_assume!(date.year() <= 9999);
            prop_assert_eq!(parse_date(&date.format("%Y-%m-%d").to_string()).unwrap(), date);
        }

        #[test]
        fn monday_of_is_a_monday_at_most_six_days_back(days in 0i64..100_000) {
            let date = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            let m = monday_of(date);
            prop_assert_eq!(m.weekday(), Weekday::Mon);
            prop_assert!((0..=6).contains(&(date - m).num_days()));
        }

        #[test]
        fn server_offset_learned_then_applied_gives_server_time(s in any_instant(), skew_ms in -86_400_000i64..86_400_000) {
            let device = s + chrono::Duration::milliseconds(skew_ms);
            prop_assert_eq!(ServerOffset::learn(s, device).corrected(device), s);
        }
    }
}
