//! A unit's opening hours and closed days (R-CARE-2).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{RejectCode, RuleError};
use crate::interval::{Interval, LocalTime};
use crate::time::iso_weekday;

/// Opening hours of one weekday (1 = Monday … 7 = Sunday), local wall-clock times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayHours {
    pub weekday: u8,
    pub open: LocalTime,
    pub close: LocalTime,
}

impl DayHours {
    /// R-CARE-2 for one day: every interval within `open..=close` (both ends inclusive, so a
    /// child may be in care for the whole opening time).
    pub fn check_intervals(&self, intervals: &[Interval]) -> Result<(), RuleError> {
        match intervals
            .iter()
            .find(|iv| iv.start < self.open || iv.end > self.close)
        {
            None => Ok(()),
            Some(iv) => Err(RuleError::new(
                RejectCode::OutsideOpeningHours,
                format!(
                    "interval {iv} is outside the opening hours {}–{} of weekday {}",
                    self.open, self.close, self.weekday
                ),
            )),
        }
    }
}

/// The weekly opening hours. A weekday not listed is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpeningHours {
    pub days: Vec<DayHours>,
}

impl OpeningHours {
    /// Monday to Friday with the same hours, weekends closed: the usual preschool week.
    pub fn weekdays(open: LocalTime, close: LocalTime) -> OpeningHours {
        OpeningHours {
            days: (1..=5)
                .map(|weekday| DayHours {
                    weekday,
                    open,
                    close,
                })
                .collect(),
        }
    }

    /// The hours of `weekday` (1 = Monday … 7 = Sunday), `None` if the unit never opens then.
    pub fn hours_for(&self, weekday: u8) -> Option<&DayHours> {
        self.days.iter().find(|h| h.weekday == weekday)
    }

    /// For admin input: weekdays 1..=7, each at most once, `open < close`.
    pub fn validate(&self) -> Result<(), RuleError> {
        let mut seen = [false; 8];
        for h in &self.days {
            if !(1..=7).contains(&h.weekday) {
                return Err(RuleError::invalid(format!(
                    "weekday {} is not in 1 (Monday) ..= 7 (Sunday)",
                    h.weekday
                )));
            }
            if std::mem::replace(&mut seen[usize::from(h.weekday)], true) {
                return Err(RuleError::invalid(format!(
                    "weekday {} listed twice",
                    h.weekday
                )));
            }
            if h.open >= h.close {
                return Err(RuleError::invalid(format!(
                    "weekday {}: opening {} must be before closing {}",
                    h.weekday, h.open, h.close
                )));
            }
        }
        Ok(())
    }
}

/// Everything R-CARE-2 needs about a unit: weekly hours plus closure and holiday dates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitCalendar {
    pub hours: OpeningHours,
    #[serde(default)]
    pub closed_dates: BTreeSet<NaiveDate>,
}

impl UnitCalendar {
    /// The hours on `date`, `None` when the unit is closed (weekday never open, or a
    /// closure / holiday date).
    pub fn hours_on(&self, date: NaiveDate) -> Option<&DayHours> {
        if self.closed_dates.contains(&date) {
            return None;
        }
        self.hours.hours_for(iso_weekday(date))
    }

    pub fn is_open_on(&self, date: NaiveDate) -> bool {
        self.hours_on(date).is_some()
    }

    /// R-CARE-2: `unit_closed` on a closed day, `outside_opening_hours` when an interval
    /// starts before opening or ends after closing. Does not check the intervals' own shape
    /// (R-CARE-1); see [`crate::interval::validate_intervals`].
    pub fn check_day(&self, date: NaiveDate, intervals: &[Interval]) -> Result<(), RuleError> {
        match self.hours_on(date) {
            Some(hours) => hours.check_intervals(intervals),
            None => {
                let why = if self.closed_dates.contains(&date) {
                    "a closure or holiday day"
                } else {
                    "a weekday the unit is closed"
                };
                Err(RuleError::new(
                    RejectCode::UnitClosed,
                    format!("the unit is closed on {date} ({why})"),
                ))
            }
        }
    }
}

/// The fixed-date days of `year` that Swedish preschools and schools are closed on: New
/// Year's Day, Epiphany, May Day, the National Day, Christmas Eve, Christmas Day, Boxing Day
/// and New Year's Eve. Easter and Midsummer move from year to year; a unit lists those, and
/// its own closure days, in its [`UnitCalendar::closed_dates`].
pub fn fixed_closed_days(year: i32) -> Vec<NaiveDate> {
    [(1, 1), (1, 6), (5, 1), (6, 6), (12, 24), (12, 25), (12, 26), (12, 31)]
        .into_iter()
        .filter_map(|(m, d)| NaiveDate::from_ymd_opt(year, m, d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_years_eve_and_christmas_are_fixed_closed_days() {
        let days = fixed_closed_days(2026);
        assert_eq!(days.len(), 8);
        assert!(days.contains(&d("2026-12-31")) && days.contains(&d("2026-12-24")) && days.contains(&d("2026-06-06")));
        assert!(!days.contains(&d("2026-12-23")));
    }

    fn t(s: &str) -> LocalTime {
        s.parse().unwrap()
    }
    fn iv(a: &str, b: &str) -> Interval {
        Interval::new(t(a), t(b))
    }
    fn d(s: &str) -> NaiveDate {
        crate::time::parse_date(s).unwrap()
    }
    /// Solrosen: Mon–Fri 06:30–18:00, closed on a planning day.
    fn solrosen() -> UnitCalendar {
        UnitCalendar {
            hours: OpeningHours::weekdays(t("06:30"), t("18:00")),
            closed_dates: [d("2026-03-13")].into_iter().collect(),
        }
    }

    // R-CARE-2: opening and closing times are inclusive bounds.
    #[test]
    fn interval_spanning_exact_opening_hours_is_accepted() {
        let cal = solrosen();
        assert!(cal
            .check_day(d("2026-03-12"), &[iv("06:30", "18:00")])
            .is_ok());
        assert!(cal
            .check_day(
                d("2026-03-12"),
                &[iv("06:30", "08:00"), iv("17:00", "18:00")]
            )
            .is_ok());
    }

    // R-CARE-2
    #[test]
    fn interval_before_opening_or_after_closing_is_outside_opening_hours() {
        let cal = solrosen();
        for bad in [
            iv("06:29", "12:00"),
            iv("12:00", "18:01"),
            iv("05:00", "19:00"),
        ] {
            let e = cal.check_day(d("2026-03-12"), &[bad]).unwrap_err();
            assert_eq!(e.code, RejectCode::OutsideOpeningHours, "{bad}");
        }
        let e = cal.check_day(
            d("2026-03-12"),
            &[iv("07:00", "08:00"), iv("17:00", "18:30")],
        );
        assert_eq!(e.unwrap_err().code, RejectCode::OutsideOpeningHours);
    }

    // R-CARE-2: weekends and closure days are closed.
    #[test]
    fn weekends_and_closed_dates_are_unit_closed() {
        let cal = solrosen();
        for date in ["2026-03-14", "2026-03-15", "2026-03-13"] {
            assert!(!cal.is_open_on(d(date)));
            let e = cal.check_day(d(date), &[iv("08:00", "16:00")]).unwrap_err();
            assert_eq!(e.code, RejectCode::UnitClosed, "{date}");
            assert!(e.message.contains(date));
        }
        assert!(cal.is_open_on(d("2026-03-16")));
        assert_eq!(cal.hours_on(d("2026-03-16")).map(|h| h.weekday), Some(1));
    }

    // R-TIME-2: DST days are ordinary days (both 2026 DST days are Sundays, so use a unit
    // open all week to see it).
    #[test]
    fn dst_days_have_their_ordinary_opening_hours() {
        let mut cal = solrosen();
        cal.hours.days.push(DayHours {
            weekday: 7,
            open: t("00:00"),
            close: t("23:59"),
        });
        for date in ["2026-03-29", "2026-10-25"] {
            // 02:30 does not exist on 29 March and happens twice on 25 October; as a
            // wall-clock time it is still a valid interval bound.
            assert!(cal
                .check_day(d(date), &[iv("02:00", "03:00"), iv("08:00", "23:59")])
                .is_ok());
        }
    }

    #[test]
    fn hours_for_finds_listed_weekdays_only() {
        let h = OpeningHours::weekdays(t("06:30"), t("17:30"));
        assert_eq!(h.days.len(), 5);
        assert_eq!(h.hours_for(5).map(|d| d.close), Some(t("17:30")));
        assert_eq!(h.hours_for(6), None);
        assert_eq!(h.hours_for(0), None);
        assert!(h.validate().is_ok());
    }

    #[test]
    fn opening_hours_validation_rejects_bad_admin_input() {
        let o = t("08:00");
        let c = t("16:00");
        for days in [
            vec![DayHours {
                weekday: 0,
                open: o,
                close: c,
            }],
            vec![DayHours {
                weekday: 8,
                open: o,
                close: c,
            }],
            vec![
                DayHours {
                    weekday: 1,
                    open: o,
                    close: c,
                },
                DayHours {
                    weekday: 1,
                    open: o,
                    close: c,
                },
            ],
            vec![DayHours {
                weekday: 1,
                open: c,
                close: o,
            }],
        ] {
            assert_eq!(
                OpeningHours { days }.validate().unwrap_err().code,
                RejectCode::InvalidInput
            );
        }
    }

    #[test]
    fn calendar_serialises_with_hh_mm_and_iso_dates() {
        let cal = solrosen();
        let json = serde_json::to_value(&cal).unwrap();
        assert_eq!(
            json["hours"]["days"][0],
            serde_json::json!({"weekday":1,"open":"06:30","close":"18:00"})
        );
        assert_eq!(json["closed_dates"], serde_json::json!(["2026-03-13"]));
        assert_eq!(serde_json::from_value::<UnitCalendar>(json).unwrap(), cal);
        // closed_dates may be omitted.
        let bare: UnitCalendar = serde_json::from_str(r#"{"hours":{"days":[]}}"#).unwrap();
        assert!(bare.closed_dates.is_empty());
    }
}
