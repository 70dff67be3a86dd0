//! Local times of day and care intervals (R-CARE-1, R-TIME-2).

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveTime, Timelike};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::RuleError;

/// A wall-clock time of day in the unit's zone, minute precision, written `HH:MM`.
///
/// Deliberately not tied to a date or an offset: a care interval 07:30–16:00 means the same
/// wall-clock times on a DST day as on any other day (R-TIME-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(pub NaiveTime);

impl LocalTime {
    /// `None` unless `h < 24` and `m < 60`.
    pub fn new(h: u32, m: u32) -> Option<LocalTime> {
        NaiveTime::from_hms_opt(h, m, 0).map(LocalTime)
    }

    /// Minutes since midnight (seconds, if someone built one with them, are ignored).
    pub fn minutes(&self) -> u32 {
        self.0.hour() * 60 + self.0.minute()
    }

    pub fn hour(&self) -> u32 {
        self.0.hour()
    }

    pub fn minute(&self) -> u32 {
        self.0.minute()
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

impl FromStr for LocalTime {
    type Err = RuleError;

    /// Strictly `HH:MM`, two digits each: `7:00`, `24:00`, `12:60` and `12:00:00` are
    /// rejected so every client writes the same string for the same time.
    fn from_str(s: &str) -> Result<LocalTime, RuleError> {
        let b = s.as_bytes();
        let digit = |i: usize| {
            b.get(i)
                .filter(|c| c.is_ascii_digit())
                .map(|c| u32::from(c - b'0'))
        };
        let parsed = match (b.len(), b.get(2), digit(0), digit(1), digit(3), digit(4)) {
            (5, Some(b':'), Some(h1), Some(h0), Some(m1), Some(m0)) => {
                LocalTime::new(h1 * 10 + h0, m1 * 10 + m0)
            }
            _ => None,
        };
        parsed.ok_or_else(|| {
            RuleError::invalid(format!("time {s:?} is not a time of day of the form HH:MM"))
        })
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<LocalTime, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = LocalTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time of day \"HH:MM\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LocalTime, E> {
                v.parse().map_err(|e: RuleError| E::custom(e.message))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// On the wire a local time is its `HH:MM` string.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for LocalTime {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))
            .examples(["07:30"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for LocalTime {}

/// One stretch of care on one day, `start` inclusive to `end`, local wall-clock times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interval {
    pub start: LocalTime,
    pub end: LocalTime,
}

impl Interval {
    pub fn new(start: LocalTime, end: LocalTime) -> Interval {
        Interval { start, end }
    }

    /// Length in minutes; 0 for an inverted interval (which validation rejects anyway).
    pub fn minutes(&self) -> u32 {
        self.end.minutes().saturating_sub(self.start.minutes())
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.start, self.end)
    }
}

/// R-CARE-1: at most two intervals per day.
pub const MAX_INTERVALS: usize = 2;

/// R-CARE-1: one or two intervals, each with `start < end`, not overlapping.
///
/// Order in the slice does not matter. Two intervals must leave a **gap**: `08:00–12:00`
/// with `12:00–16:00` is rejected, because it is one stretch of care written as two and
/// would show staff a pick-up and drop-off that never happen; write `08:00–16:00` instead.
pub fn validate_intervals(intervals: &[Interval]) -> Result<(), RuleError> {
    if intervals.is_empty() {
        return Err(RuleError::invalid(
            "a registered day needs at least one interval",
        ));
    }
    if intervals.len() > MAX_INTERVALS {
        return Err(RuleError::invalid(format!(
            "at most {MAX_INTERVALS} intervals per day, got {}",
            intervals.len()
        )));
    }
    for iv in intervals {
        if iv.start >= iv.end {
            return Err(RuleError::invalid(format!(
                "interval {iv} must start before it ends"
            )));
        }
    }
    let sorted = canonical(intervals);
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.end >= b.start {
            return Err(RuleError::invalid(format!(
                "intervals {a} and {b} overlap or touch; leave a gap between them or merge them"
            )));
        }
    }
    Ok(())
}

/// The intervals in chronological order, the order in which they are stored and shown.
pub fn canonical(intervals: &[Interval]) -> Vec<Interval> {
    let mut v = intervals.to_vec();
    v.sort_by_key(|iv| (iv.start, iv.end));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectCode;
    use proptest::prelude::*;

    fn t(s: &str) -> LocalTime {
        s.parse().unwrap()
    }
    fn iv(a: &str, b: &str) -> Interval {
        Interval::new(t(a), t(b))
    }

    #[test]
    fn local_time_parses_strict_hh_mm() {
        assert_eq!(t("00:00"), LocalTime::new(0, 0).unwrap());
        assert_eq!(t("07:05").minutes(), 7 * 60 + 5);
        assert_eq!(t("23:59").minutes(), 23 * 60 + 59);
        for bad in [
            "7:00",
            "07:0",
            "25:00",
            "24:00",
            "12:60",
            "12:00:00",
            "",
            "12-00",
            " 12:00",
            "12:00 ",
            "1a:00",
            "+1:00",
            "１２:００",
        ] {
            let e = bad.parse::<LocalTime>().unwrap_err();
            assert_eq!(e.code, RejectCode::InvalidInput, "{bad:?}");
        }
        assert_eq!(LocalTime::new(24, 0), None);
        assert_eq!(LocalTime::new(12, 60), None);
    }

    #[test]
    fn local_time_serialises_as_hh_mm_string() {
        assert_eq!(serde_json::to_string(&t("07:30")).unwrap(), r#""07:30""#);
        assert_eq!(
            serde_json::from_str::<LocalTime>(r#""06:05""#).unwrap(),
            t("06:05")
        );
        assert!(serde_json::from_str::<LocalTime>(r#""6:05""#).is_err());
        assert!(serde_json::from_str::<LocalTime>("605").is_err());
        let i: Interval = serde_json::from_str(r#"{"start":"07:30","end":"16:00"}"#).unwrap();
        assert_eq!(i, iv("07:30", "16:00"));
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            r#"{"start":"07:30","end":"16:00"}"#
        );
    }

    // R-CARE-1: one or two intervals.
    #[test]
    fn one_or_two_intervals_are_accepted() {
        assert!(validate_intervals(&[iv("07:30", "16:00")]).is_ok());
        assert!(validate_intervals(&[iv("07:30", "11:00"), iv("13:00", "16:00")]).is_ok());
        // Order in the request does not matter.
        assert!(validate_intervals(&[iv("13:00", "16:00"), iv("07:30", "11:00")]).is_ok());
        assert!(validate_intervals(&[iv("00:00", "23:59")]).is_ok());
    }

    // R-CARE-1
    #[test]
    fn zero_or_three_intervals_are_rejected() {
        assert_eq!(
            validate_intervals(&[]).unwrap_err().code,
            RejectCode::InvalidInput
        );
        let three = [
            iv("07:00", "08:00"),
            iv("09:00", "10:00"),
            iv("11:00", "12:00"),
        ];
        assert_eq!(
            validate_intervals(&three).unwrap_err().code,
            RejectCode::InvalidInput
        );
    }

    // R-CARE-1
    #[test]
    fn interval_must_start_before_it_ends() {
        for bad in [iv("16:00", "07:30"), iv("08:00", "08:00")] {
            assert_eq!(
                validate_intervals(&[bad]).unwrap_err().code,
                RejectCode::InvalidInput
            );
        }
    }

    // R-CARE-1: overlapping and touching intervals are rejected (a gap is required).
    #[test]
    fn overlapping_or_touching_intervals_are_rejected() {
        for pair in [
            [iv("07:00", "12:00"), iv("11:00", "16:00")],
            [iv("07:00", "12:00"), iv("12:00", "16:00")],
            [iv("12:00", "16:00"), iv("07:00", "12:00")],
            [iv("07:00", "16:00"), iv("09:00", "10:00")],
            [iv("07:00", "12:00"), iv("07:00", "12:00")],
        ] {
            let e = validate_intervals(&pair).unwrap_err();
            assert_eq!(e.code, RejectCode::InvalidInput, "{pair:?}");
        }
        assert!(validate_intervals(&[iv("07:00", "12:00"), iv("12:01", "16:00")]).is_ok());
    }

    #[test]
    fn canonical_sorts_chronologically() {
        let v = canonical(&[iv("13:00", "16:00"), iv("07:30", "11:00")]);
        assert_eq!(v, vec![iv("07:30", "11:00"), iv("13:00", "16:00")]);
    }

    fn any_time() -> impl Strategy<Value = LocalTime> {
        (0u32..24, 0u32..60).prop_map(|(h, m)| LocalTime::new(h, m).unwrap())
    }

    proptest! {
        #[test]
        fn local_time_round_trips_through_display(lt in any_time()) {
            let s = lt.to_string();
            prop_assert_eq!(s.len(), 5);
            prop_assert_eq!(s.parse::<LocalTime>().unwrap(), lt);
            let json = serde_json::to_string(&lt).unwrap();
            prop_assert_eq!(serde_json::from_str::<LocalTime>(&json).unwrap(), lt);
        }

        #[test]
        fn local_time_order_is_minutes_order(a in any_time(), b in any_time()) {
            prop_assert_eq!(a.cmp(&b), a.minutes().cmp(&b.minutes()));
        }

        // R-CARE-1: accepted exactly when each is proper and a gap separates them.
        #[test]
        fn two_intervals_valid_iff_proper_and_separated(a in any_time(), b in any_time(), c in any_time(), d in any_time()) {
            let (x, y) = (Interval::new(a, b), Interval::new(c, d));
            let (first, second) = if x.start <= y.start { (x, y) } else { (y, x) };
            let expected = a < b && c < d && first.end < second.start;
            prop_assert_eq!(validate_intervals(&[x, y]).is_ok(), expected);
        }
    }
}
