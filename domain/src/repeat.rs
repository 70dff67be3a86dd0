//! Whole-week registration and its repeats (R-CARE-4, R-CARE-5).
//!
//! [`plan_week`] turns a `care.set_week` mutation into the exact list of days to write and
//! the days skipped with a reason, so the server writes what the rule allows and reports the
//! rest in the result's `details`, and the app can preview the same thing offline.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::care::{check_comment, check_week_start, is_day_locked};
use crate::error::{RejectCode, RuleError};
use crate::interval::{canonical, validate_intervals, Interval};
use crate::opening::UnitCalendar;
use crate::time::Tz;

/// R-CARE-5: repeat the week every `every_weeks` weeks (1 = every week, 2 = every other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Repeat {
    pub every_weeks: u32,
    /// Number of weeks written, the first (`week_start`) included.
    #[serde(default)]
    pub count: Option<u32>,
    /// Last date written, inclusive. A week whose Monday is on or before it is written up
    /// to and including this date. Strict `YYYY-MM-DD` like every wire date.
    #[serde(default, with = "crate::wire::opt_date")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub until: Option<NaiveDate>,
}

/// R-CARE-5: repeats never write a week whose Monday is 52 weeks or more after `week_start`.
pub const HORIZON_WEEKS: u32 = 52;

/// The Mondays a week registration writes: `week_start`, then every `every_weeks` weeks,
/// until `count` weeks are written, the next Monday is after `until`, or it reaches the
/// horizon (Mondays strictly before `week_start + 52 weeks`), whichever comes first.
///
/// The spacing is in real weeks from `week_start`, not ISO week-number parity: after a year
/// with an ISO week 53 (2026), "every other week" continues on even week numbers, which is
/// what alternating custody means.
pub fn repeat_weeks(
    week_start: NaiveDate,
    repeat: Option<&Repeat>,
) -> Result<Vec<NaiveDate>, RuleError> {
    if week_start.weekday() != Weekday::Mon {
        return Err(RuleError::invalid(format!(
            "week_start {week_start} is not a Monday"
        )));
    }
    let Some(r) = repeat else {
        return Ok(vec![week_start]);
    };
    if r.every_weeks == 0 {
        return Err(RuleError::invalid("repeat.every_weeks must be at least 1"));
    }
    if r.count == Some(0) {
        return Err(RuleError::invalid(
            "repeat.count must be at least 1 (the first week counts)",
        ));
    }
    if let Some(until) = r.until.filter(|u| *u < week_start) {
        return Err(RuleError::invalid(format!(
            "repeat.until {until} is before week_start {week_start}"
        )));
    }
    let step_days = u64::from(r.every_weeks) * 7;
    let horizon_days = u64::from(HORIZON_WEEKS) * 7;
    let max_weeks = r.count.map_or(usize::MAX, |c| c as usize);
    let mut mondays = Vec::new();
    // offset grows by at most step_days past the horizon before stopping: no overflow.
    let mut offset = 0u64;
    while offset < horizon_days && mondays.len() < max_weeks {
        let Some(monday) = week_start.checked_add_days(Days::new(offset)) else {
            break;
        };
        if r.until.is_some_and(|u| monday > u) {
            break;
        }
        mondays.push(monday);
        offset += step_days;
    }
    Ok(mondays)
}

/// One weekday of the week being registered. Empty `intervals` clears that day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayTemplate {
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    pub intervals: Vec<Interval>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A day to write: set to `intervals` (in chronological order) and `comment`, or cleared
/// when `intervals` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedDay {
    pub date: NaiveDate,
    pub intervals: Vec<Interval>,
    pub comment: Option<String>,
}

/// A day the registration covers but may not write, with the rejection it would have got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedDay {
    pub date: NaiveDate,
    pub reason: RejectCode,
}

/// The outcome of [`plan_week`]; both lists sorted by date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeekPlan {
    pub writes: Vec<PlannedDay>,
    pub skipped: Vec<SkippedDay>,
}

/// R-CARE-4 and R-CARE-5: expand a week registration (with its optional repeat) into days.
///
/// The whole plan is rejected (`Err`) when the request itself is wrong: `week_start` not a
/// Monday or (for guardians, `lock_applies`) already locked; no days, a weekday outside
/// 1..=7 or listed twice; intervals that break R-CARE-1; a template with intervals on a
/// weekday the unit never opens (`unit_closed`) or outside that weekday's hours
/// (`outside_opening_hours`); a comment too long; a bad repeat. Otherwise every covered day
/// is either written or skipped: locked days (guardians only) as `day_locked`, days the
/// unit is closed (closure and holiday dates, and clearing a weekday it never opens) as
/// `unit_closed`. Weeks between repeats and days after `until` are neither: they are not
/// touched, which is how one custodial parent leaves the other parent's weeks alone.
pub fn plan_week(
    week_start: NaiveDate,
    days: &[DayTemplate],
    repeat: Option<&Repeat>,
    cal: &UnitCalendar,
    now: DateTime<Utc>,
    tz: Tz,
    lock_applies: bool,
) -> Result<WeekPlan, RuleError> {
    check_week_start(week_start, now, tz, lock_applies)?;
    if days.is_empty() {
        return Err(RuleError::invalid("days must list at least one weekday"));
    }
    let mut seen = [false; 8];
    for t in days {
        if !(1..=7).contains(&t.weekday) {
            return Err(RuleError::invalid(format!(
                "weekday {} is not in 1 (Monday) ..= 7 (Sunday)",
                t.weekday
            )));
        }
        if std::mem::replace(&mut seen[usize::from(t.weekday)], true) {
            return Err(RuleError::invalid(format!(
                "weekday {} is listed twice",
                t.weekday
            )));
        }
    }
    for t in days {
        if !t.intervals.is_empty() {
            validate_intervals(&t.intervals)?;
            let hours = cal.hours.hours_for(t.weekday).ok_or_else(|| {
                RuleError::new(
                    RejectCode::UnitClosed,
                    format!("the unit is never open on weekday {}", t.weekday),
                )
            })?;
            hours.check_intervals(&t.intervals)?;
        }
        if let Some(c) = &t.comment {
            check_comment(c)?;
        }
    }
    let mondays = repeat_weeks(week_start, repeat)?;
    let until = repeat.and_then(|r| r.until);

    let mut plan = WeekPlan::default();
    for monday in mondays {
        for t in days {
            // weekday is 1..=7 (checked above); None only at the end of chrono's range.
            let Some(date) = monday.checked_add_days(Days::new(u64::from(t.weekday) - 1)) else {
                continue;
            };
            if until.is_some_and(|u| date > u) {
                continue;
            }
            // With check_week_start passed, no covered day can be locked for a guardian
            // today; the check stays so the rule holds on its own.
            let reason = if lock_applies && is_day_locked(date, now, tz) {
                Some(RejectCode::DayLocked)
            } else if !cal.is_open_on(date) {
                Some(RejectCode::UnitClosed)
            } else {
                None
            };
            match reason {
                Some(reason) => plan.skipped.push(SkippedDay { date, reason }),
                None => plan.writes.push(PlannedDay {
                    date,
                    intervals: canonical(&t.intervals),
                    comment: t.comment.clone(),
                }),
            }
        }
    }
    plan.writes.sort_by_key(|w| w.date);
    plan.skipped.sort_by_key(|s| s.date);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interval::LocalTime;
    use crate::opening::{DayHours, OpeningHours};
    use crate::time::{parse_date, DEFAULT_TIME_ZONE as STHLM};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }
    fn t(s: &str) -> LocalTime {
        s.parse().unwrap()
    }
    fn iv(a: &str, b: &str) -> Interval {
        Interval::new(t(a), t(b))
    }
    fn every(n: u32) -> Repeat {
        Repeat {
            every_weeks: n,
            count: None,
            until: None,
        }
    }
    fn solrosen() -> UnitCalendar {
        UnitCalendar {
            hours: OpeningHours::weekdays(t("06:30"), t("18:00")),
            closed_dates: Default::default(),
        }
    }
    fn mon_to_fri() -> Vec<DayTemplate> {
        (1..=5)
            .map(|weekday| DayTemplate {
                weekday,
                intervals: vec![iv("08:00", "16:00")],
                comment: None,
            })
            .collect()
    }
    fn dates(ds: &[&str]) -> Vec<NaiveDate> {
        ds.iter().map(|s| d(s)).collect()
    }
    /// A Wednesday noon in Stockholm, before every week used below.
    fn now() -> DateTime<Utc> {
        utc("2026-01-07T11:00:00Z")
    }

    // R-CARE-5: no repeat writes just the one week.
    #[test]
    fn no_repeat_is_just_the_first_week() {
        assert_eq!(
            repeat_weeks(d("2026-03-02"), None).unwrap(),
            dates(&["2026-03-02"])
        );
    }

    // R-CARE-5: count is the number of weeks written, the first included.
    #[test]
    fn count_counts_weeks_written_including_the_first() {
        let r = Repeat {
            every_weeks: 2,
            count: Some(3),
            until: None,
        };
        assert_eq!(
            repeat_weeks(d("2026-03-02"), Some(&r)).unwrap(),
            dates(&["2026-03-02", "2026-03-16", "2026-03-30"])
        );
        let one = Repeat {
            every_weeks: 1,
            count: Some(1),
            until: None,
        };
        assert_eq!(
            repeat_weeks(d("2026-03-02"), Some(&one)).unwrap(),
            dates(&["2026-03-02"])
        );
    }

    // R-CARE-5: until is inclusive; a week whose Monday is on or before it is included.
    #[test]
    fn until_is_an_inclusive_date() {
        let on_monday = Repeat {
            every_weeks: 1,
            count: None,
            until: Some(d("2026-03-16")),
        };
        assert_eq!(
            repeat_weeks(d("2026-03-02"), Some(&on_monday)).unwrap(),
            dates(&["2026-03-02", "2026-03-09", "2026-03-16"])
        );
        let on_sunday_before = Repeat {
            until: Some(d("2026-03-15")),
            ..on_monday
        };
        assert_eq!(
            repeat_weeks(d("2026-03-02"), Some(&on_sunday_before))
                .unwrap()
                .len(),
            2
        );
        let same_day = Repeat {
            until: Some(d("2026-03-02")),
            ..on_monday
        };
        assert_eq!(
            repeat_weeks(d("2026-03-02"), Some(&same_day)).unwrap(),
            dates(&["2026-03-02"])
        );
    }

    // R-CARE-5: with both, whichever stops first wins.
    #[test]
    fn count_and_until_stop_at_whichever_comes_first() {
        let count_first = Repeat {
            every_weeks: 1,
            count: Some(2),
            until: Some(d("2026-06-01")),
        };
        assert_eq!(
            repeat_weeks(d("2026-03-02"), Some(&count_first))
                .unwrap()
                .len(),
            2
        );
        let until_first = Repeat {
            every_weeks: 1,
            count: Some(20),
            until: Some(d("2026-03-10")),
        };
        assert_eq!(
            repeat_weeks(d("2026-03-02"), Some(&until_first))
                .unwrap()
                .len(),
            2
        );
    }

    // R-CARE-5: never past 52 weeks.
    #[test]
    fn repeats_stop_at_the_52_week_horizon() {
        let start = d("2026-03-02");
        let weekly = repeat_weeks(start, Some(&every(1))).unwrap();
        assert_eq!(weekly.len(), 52);
        assert_eq!(weekly.last().copied(), Some(start + Duration::weeks(51)));
        assert_eq!(repeat_weeks(start, Some(&every(2))).unwrap().len(), 26);
        assert_eq!(repeat_weeks(start, Some(&every(3))).unwrap().len(), 18);
        assert_eq!(repeat_weeks(start, Some(&every(52))).unwrap(), vec![start]);
        assert_eq!(
            repeat_weeks(start, Some(&every(u32::MAX))).unwrap(),
            vec![start]
        );
        let big_count = Repeat {
            every_weeks: 1,
            count: Some(u32::MAX),
            until: None,
        };
        assert_eq!(repeat_weeks(start, Some(&big_count)).unwrap().len(), 52);
        let far_until = Repeat {
            every_weeks: 1,
            count: None,
            until: Some(d("2030-01-01")),
        };
        assert_eq!(repeat_weeks(start, Some(&far_until)).unwrap().len(), 52);
    }

    // R-CARE-5: every other week across a year end whose year has an ISO week 53
    // (2026-12-28 is in week 53): spacing is 14 days, so the ISO week parity flips.
    #[test]
    fn alternate_weeks_continue_across_iso_week_53_year_end() {
        let start = d("2026-12-14"); // ISO week 51 of 2026
        let r = Repeat {
            every_weeks: 2,
            count: Some(4),
            until: None,
        };
        let weeks = repeat_weeks(start, Some(&r)).unwrap();
        assert_eq!(
            weeks,
            dates(&["2026-12-14", "2026-12-28", "2027-01-11", "2027-01-25"])
        );
        let iso: Vec<(i32, u32)> = weeks
            .iter()
            .map(|m| (m.iso_week().year(), m.iso_week().week()))
            .collect();
        assert_eq!(iso, vec![(2026, 51), (2026, 53), (2027, 2), (2027, 4)]);

        // And through plan_week, the other parent's weeks are untouched.
        let plan = plan_week(
            start,
            &mon_to_fri(),
            Some(&r),
            &solrosen(),
            utc("2026-12-01T12:00:00Z"),
            STHLM,
            true,
        )
        .unwrap();
        assert_eq!(plan.writes.len(), 20);
        assert!(plan.skipped.is_empty());
        for w in &plan.writes {
            let wk = w.date.iso_week();
            assert!(
                matches!(
                    (wk.year(), wk.week()),
                    (2026, 51) | (2026, 53) | (2027, 2) | (2027, 4)
                ),
                "{}",
                w.date
            );
        }
    }

    // R-CARE-5: alternate weeks across an ordinary (52-week) year end.
    #[test]
    fn alternate_weeks_across_an_ordinary_year_end() {
        let r = Repeat {
            every_weeks: 2,
            count: Some(3),
            until: None,
        };
        let weeks = repeat_weeks(d("2025-12-15"), Some(&r)).unwrap(); // 2025 has 52 ISO weeks
        assert_eq!(weeks, dates(&["2025-12-15", "2025-12-29", "2026-01-12"]));
    }

    #[test]
    fn bad_repeats_are_invalid_input() {
        let mon = d("2026-03-02");
        for r in [
            Repeat {
                every_weeks: 0,
                count: None,
                until: None,
            },
            Repeat {
                every_weeks: 1,
                count: Some(0),
                until: None,
            },
            Repeat {
                every_weeks: 1,
                count: None,
                until: Some(d("2026-03-01")),
            },
        ] {
            assert_eq!(
                repeat_weeks(mon, Some(&r)).unwrap_err().code,
                RejectCode::InvalidInput,
                "{r:?}"
            );
        }
        assert_eq!(
            repeat_weeks(d("2026-03-03"), None).unwrap_err().code,
            RejectCode::InvalidInput
        );
    }

    #[test]
    fn repeat_serde_allows_omitting_count_and_until() {
        let r: Repeat = serde_json::from_str(r#"{"every_weeks":2}"#).unwrap();
        assert_eq!(r, every(2));
        let r: Repeat =
            serde_json::from_str(r#"{"every_weeks":1,"count":3,"until":"2026-06-30"}"#).unwrap();
        assert_eq!(r.until, Some(d("2026-06-30")));
        let t: DayTemplate =
            serde_json::from_str(r#"{"weekday":1,"intervals":[{"start":"07:30","end":"16:00"}]}"#)
                .unwrap();
        assert_eq!(t.comment, None);
    }

    // R-CARE-4: an ordinary guardian week is written Monday to Friday.
    #[test]
    fn guardian_week_writes_each_template_day() {
        let mut days = mon_to_fri();
        days[2].comment = Some("morfar hämtar".into());
        days[4].intervals = vec![iv("13:00", "16:00"), iv("07:00", "10:00")];
        let plan = plan_week(
            d("2026-01-12"),
            &days,
            None,
            &solrosen(),
            now(),
            STHLM,
            true,
        )
        .unwrap();
        let written: Vec<NaiveDate> = plan.writes.iter().map(|w| w.date).collect();
        assert_eq!(
            written,
            dates(&[
                "2026-01-12",
                "2026-01-13",
                "2026-01-14",
                "2026-01-15",
                "2026-01-16"
            ])
        );
        assert_eq!(plan.writes[2].comment.as_deref(), Some("morfar hämtar"));
        // Intervals are stored in chronological order.
        assert_eq!(
            plan.writes[4].intervals,
            vec![iv("07:00", "10:00"), iv("13:00", "16:00")]
        );
        assert!(plan.skipped.is_empty());
    }

    // R-CARE-2 + R-CARE-5: closure days in a repeat are skipped and listed.
    #[test]
    fn closed_dates_are_skipped_and_listed() {
        let mut cal = solrosen();
        cal.closed_dates.insert(d("2026-01-14")); // planning day
        cal.closed_dates.insert(d("2026-01-23")); // a Friday in a week not written (every 2)
        cal.closed_dates.insert(d("2026-02-09")); // Monday of the third written week
        let r = Repeat {
            every_weeks: 2,
            count: Some(3),
            until: None,
        };
        let plan = plan_week(
            d("2026-01-12"),
            &mon_to_fri(),
            Some(&r),
            &cal,
            now(),
            STHLM,
            true,
        )
        .unwrap();
        assert_eq!(plan.writes.len(), 13);
        assert_eq!(
            plan.skipped,
            vec![
                SkippedDay {
                    date: d("2026-01-14"),
                    reason: RejectCode::UnitClosed
                },
                SkippedDay {
                    date: d("2026-02-09"),
                    reason: RejectCode::UnitClosed
                },
            ]
        );
        let json = serde_json::to_value(plan.skipped[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"date": "2026-01-14", "reason": "unit_closed"})
        );
    }

    // R-CARE-5: shared custody, every other week; the weeks in between are untouched.
    #[test]
    fn every_other_week_leaves_the_weeks_in_between_untouched() {
        let r = every(2);
        let plan = plan_week(
            d("2026-01-12"),
            &mon_to_fri(),
            Some(&r),
            &solrosen(),
            now(),
            STHLM,
            true,
        )
        .unwrap();
        assert_eq!(plan.writes.len(), 26 * 5);
        let start = d("2026-01-12");
        for w in &plan.writes {
            let weeks_after = (w.date - start).num_days() / 7;
            assert_eq!(
                weeks_after % 2,
                0,
                "{} is in the other parent's week",
                w.date
            );
        }
        assert!(plan.skipped.is_empty());
    }

    // R-CARE-5: until cuts the last week mid-week; later days are neither written nor listed.
    #[test]
    fn days_after_until_are_neither_written_nor_listed() {
        let r = Repeat {
            every_weeks: 1,
            count: None,
            until: Some(d("2026-01-21")),
        }; // a Wednesday
        let plan = plan_week(
            d("2026-01-12"),
            &mon_to_fri(),
            Some(&r),
            &solrosen(),
            now(),
            STHLM,
            true,
        )
        .unwrap();
        assert_eq!(plan.writes.len(), 5 + 3);
        assert_eq!(plan.writes.last().map(|w| w.date), Some(d("2026-01-21")));
        assert!(plan.skipped.is_empty());
    }

    // R-CARE-5: never past the 52-week horizon.
    #[test]
    fn plan_never_writes_past_the_horizon() {
        let start = d("2026-01-12");
        let plan = plan_week(
            start,
            &mon_to_fri(),
            Some(&every(1)),
            &solrosen(),
            now(),
            STHLM,
            true,
        )
        .unwrap();
        assert_eq!(plan.writes.len(), 52 * 5);
        assert!(plan
            .writes
            .iter()
            .all(|w| w.date < start + Duration::weeks(52)));
    }

    // R-CARE-3/4: staff are not bound by the lock and may write the current week, locked
    // days included; guardians get day_locked for the whole plan.
    #[test]
    fn current_week_is_rejected_for_guardians_and_written_for_staff() {
        let wednesday = now();
        let mon = d("2026-01-05");
        let e = plan_week(
            mon,
            &mon_to_fri(),
            None,
            &solrosen(),
            wednesday,
            STHLM,
            true,
        )
        .unwrap_err();
        assert_eq!(e.code, RejectCode::DayLocked);
        let plan = plan_week(
            mon,
            &mon_to_fri(),
            None,
            &solrosen(),
            wednesday,
            STHLM,
            false,
        )
        .unwrap();
        assert_eq!(plan.writes.len(), 5);
    }

    // R-CARE-2: the whole plan is rejected when a template cannot fit the weekly hours.
    #[test]
    fn template_outside_weekly_hours_rejects_the_plan() {
        let cal = solrosen();
        let mon = d("2026-01-12");
        let mut saturday = mon_to_fri();
        saturday.push(DayTemplate {
            weekday: 6,
            intervals: vec![iv("09:00", "12:00")],
            comment: None,
        });
        assert_eq!(
            plan_week(mon, &saturday, None, &cal, now(), STHLM, true)
                .unwrap_err()
                .code,
            RejectCode::UnitClosed
        );
        let mut early = mon_to_fri();
        early[0].intervals = vec![iv("06:00", "16:00")];
        assert_eq!(
            plan_week(mon, &early, None, &cal, now(), STHLM, true)
                .unwrap_err()
                .code,
            RejectCode::OutsideOpeningHours
        );
    }

    // R-CARE-2: clearing a weekday the unit never opens is a listed skip, not an error.
    #[test]
    fn clearing_a_closed_weekday_is_skipped_as_unit_closed() {
        let mut days = mon_to_fri();
        days.push(DayTemplate {
            weekday: 7,
            intervals: vec![],
            comment: None,
        });
        days[0].intervals.clear(); // clear Monday
        let plan = plan_week(
            d("2026-01-12"),
            &days,
            None,
            &solrosen(),
            now(),
            STHLM,
            true,
        )
        .unwrap();
        assert_eq!(plan.writes.len(), 5);
        assert!(plan.writes[0].intervals.is_empty());
        assert_eq!(
            plan.skipped,
            vec![SkippedDay {
                date: d("2026-01-18"),
                reason: RejectCode::UnitClosed
            }]
        );
    }

    #[test]
    fn malformed_templates_are_invalid_input() {
        let mon = d("2026-01-12");
        let cal = solrosen();
        let tpl = |weekday: u8, intervals: Vec<Interval>, comment: Option<String>| DayTemplate {
            weekday,
            intervals,
            comment,
        };
        let cases: Vec<Vec<DayTemplate>> = vec![
            vec![],
            vec![tpl(0, vec![iv("08:00", "16:00")], None)],
            vec![tpl(8, vec![], None)],
            vec![
                tpl(1, vec![iv("08:00", "16:00")], None),
                tpl(1, vec![], None),
            ],
            vec![tpl(
                1,
                vec![iv("08:00", "12:00"), iv("11:00", "16:00")],
                None,
            )],
            vec![tpl(1, vec![iv("16:00", "08:00")], None)],
            vec![tpl(2, vec![iv("08:00", "16:00")], Some("x".repeat(501)))],
        ];
        for days in cases {
            let e = plan_week(mon, &days, None, &cal, now(), STHLM, true).unwrap_err();
            assert_eq!(e.code, RejectCode::InvalidInput, "{days:?}");
        }
        let e = plan_week(
            d("2026-01-13"),
            &mon_to_fri(),
            None,
            &cal,
            now(),
            STHLM,
            false,
        )
        .unwrap_err();
        assert_eq!(e.code, RejectCode::InvalidInput);
        let bad_repeat = every(0);
        let e = plan_week(
            mon,
            &mon_to_fri(),
            Some(&bad_repeat),
            &cal,
            now(),
            STHLM,
            true,
        )
        .unwrap_err();
        assert_eq!(e.code, RejectCode::InvalidInput);
    }

    // R-TIME-2: the weeks holding the DST changes (both on Sundays in 2026) are written
    // like any other week, with the same wall-clock intervals.
    #[test]
    fn dst_weeks_are_planned_like_any_other_week() {
        let cal = UnitCalendar {
            hours: OpeningHours {
                days: (1..=7)
                    .map(|weekday| DayHours {
                        weekday,
                        open: t("00:00"),
                        close: t("23:59"),
                    })
                    .collect(),
            },
            closed_dates: Default::default(),
        };
        let days: Vec<DayTemplate> = (1..=7)
            .map(|weekday| DayTemplate {
                weekday,
                intervals: vec![iv("01:30", "03:30")],
                comment: None,
            })
            .collect();
        for (mon, sunday) in [("2026-03-23", "2026-03-29"), ("2026-10-19", "2026-10-25")] {
            let guardian_now = utc("2026-03-01T12:00:00Z");
            let plan = plan_week(d(mon), &days, None, &cal, guardian_now, STHLM, true).unwrap();
            assert_eq!(plan.writes.len(), 7);
            assert_eq!(plan.writes[6].date, d(sunday));
            assert_eq!(plan.writes[6].intervals, vec![iv("01:30", "03:30")]);
        }
        // The week that starts the day after DST ends: its Monday locks at its own midnight.
        let mon = d("2026-10-26");
        assert!(plan_week(
            mon,
            &days,
            None,
            &cal,
            utc("2026-10-25T22:59:59Z"),
            STHLM,
            true
        )
        .is_ok());
        assert_eq!(
            plan_week(
                mon,
                &days,
                None,
                &cal,
                utc("2026-10-25T23:00:00Z"),
                STHLM,
                true
            )
            .unwrap_err()
            .code,
            RejectCode::DayLocked
        );
    }

    fn any_monday() -> impl Strategy<Value = NaiveDate> {
        // Mondays 2000-01-03 .. about 2190.
        (0u64..10_000).prop_map(|w| d("2000-01-03") + Days::new(w * 7))
    }

    fn any_repeat() -> impl Strategy<Value = Repeat> {
        (
            1u32..60,
            proptest::option::of(1u32..80),
            proptest::option::of(0u64..500),
        )
            .prop_map(|(every_weeks, count, until_days)| Repeat {
                every_weeks,
                count,
                // Filled in relative to week_start by the test.
                until: until_days.map(|n| NaiveDate::MIN + Days::new(n)),
            })
    }

    /// `until` generated as an offset from week_start (stored in NaiveDate::MIN + n).
    fn anchor(r: Repeat, week_start: NaiveDate) -> Repeat {
        Repeat {
            until: r
                .until
                .map(|u| week_start + Days::new((u - NaiveDate::MIN).num_days() as u64)),
            ..r
        }
    }

    proptest! {
        // R-CARE-5: Mondays, strictly increasing, every N weeks, within horizon, count and
        // until respected, starting at week_start.
        #[test]
        fn repeat_weeks_are_mondays_spaced_every_n_weeks_within_horizon(start in any_monday(), r in any_repeat()) {
            let r = anchor(r, start);
            let weeks = repeat_weeks(start, Some(&r)).unwrap();
            prop_assert_eq!(weeks.first().copied(), Some(start));
            for m in &weeks {
                prop_assert_eq!(m.weekday(), Weekday::Mon);
                prop_assert!(*m < start + Duration::weeks(i64::from(HORIZON_WEEKS)));
                if let Some(u) = r.until { prop_assert!(*m <= u); }
            }
            for pair in weeks.windows(2) {
                prop_assert_eq!((pair[1] - pair[0]).num_days(), i64::from(r.every_weeks) * 7);
            }
            if let Some(c) = r.count { prop_assert!(weeks.len() <= c as usize); }
            // Maximal: the next Monday would break one of the limits.
            let next = *weeks.last().unwrap() + Duration::weeks(i64::from(r.every_weeks));
            let stopped = next >= start + Duration::weeks(52)
                || r.count.is_some_and(|c| weeks.len() == c as usize)
                || r.until.is_some_and(|u| next > u);
            prop_assert!(stopped);
        }

        // R-CARE-5: without until, count weeks are written unless the horizon comes first.
        #[test]
        fn repeat_count_is_respected_up_to_the_horizon(start in any_monday(), n in 1u32..60, c in 1u32..80) {
            let r = Repeat { every_weeks: n, count: Some(c), until: None };
            let fit = (HORIZON_WEEKS - 1) / n + 1; // weeks that fit before the horizon
            prop_assert_eq!(repeat_weeks(start, Some(&r)).unwrap().len(), c.min(fit) as usize);
        }

        // R-CARE-5: repeats never write locked days, closed days, or past the horizon; every
        // covered day is written or skipped exactly once, both lists sorted.
        #[test]
        fn plan_never_writes_locked_or_closed_days(
            start in any_monday(),
            r in any_repeat(),
            closed in proptest::collection::btree_set(0u64..400, 0..30),
            now_days_before in -20i64..20,
            staff in any::<bool>(),
        ) {
            let r = anchor(r, start);
            let cal = UnitCalendar {
                hours: OpeningHours::weekdays(t("06:30"), t("18:00")),
                closed_dates: closed.iter().map(|n| start + Days::new(*n)).collect(),
            };
            let now = STHLM
                .from_local_datetime(&(start - Duration::days(now_days_before)).and_hms_opt(12, 0, 0).unwrap())
                .unwrap()
                .with_timezone(&Utc);
            let lock_applies = !staff;
            let result = plan_week(start, &mon_to_fri(), Some(&r), &cal, now, STHLM, lock_applies);
            if lock_applies && now_days_before <= 0 {
                prop_assert_eq!(result.unwrap_err().code, RejectCode::DayLocked);
                return Ok(());
            }
            let plan = result.unwrap();
            let weeks = repeat_weeks(start, Some(&r)).unwrap();
            for w in &plan.writes {
                prop_assert!(cal.is_open_on(w.date));
                prop_assert!(!lock_applies || !is_day_locked(w.date, now, STHLM));
                prop_assert!(w.date < start + Duration::weeks(52));
                prop_assert!(weeks.contains(&crate::time::monday_of(w.date)));
                if let Some(u) = r.until { prop_assert!(w.date <= u); }
            }
            for s in &plan.skipped {
                prop_assert!(weeks.contains(&crate::time::monday_of(s.date)));
            }
            prop_assert!(plan.writes.windows(2).all(|p| p[0].date < p[1].date));
            prop_assert!(plan.skipped.windows(2).all(|p| p[0].date < p[1].date));
            let covered: usize = weeks
                .iter()
                .flat_map(|m| (0..5).map(move |i| *m + Days::new(i)))
                .filter(|day| r.until.is_none_or(|u| *day <= u))
                .count();
            prop_assert_eq!(plan.writes.len() + plan.skipped.len(), covered);
        }
    }
}
