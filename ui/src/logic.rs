//! View logic that needs no window: formatting, form parsing and validation, and turning
//! queued or rejected mutations into something a person can read. Pure functions over the
//! `domain` types, unit-tested on the host.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::interval::{validate_intervals, Interval, LocalTime};
use domain::repeat::{DayTemplate, Repeat};
use domain::time::{local_datetime, DEFAULT_TIME_ZONE};
use domain::view::{AbsenceItem, CareDayView};
use domain::wire::{ChildInfo, Locale};
use serde_json::Value;
use uuid::Uuid;

use crate::i18n::{month_short, t, tf, weekday_long, weekday_short, K};

// ---------------------------------------------------------------- dates and times

/// "tor 26 nov" / "Thu 26 Nov".
pub fn fmt_date(l: Locale, d: NaiveDate) -> String {
    let wd = weekday_short(l, d.weekday().number_from_monday() as u8);
    format!("{wd} {} {}", d.day(), month_short(l, d.month()))
}

/// "torsdag 26 nov" / "Thursday 26 Nov".
pub fn fmt_date_long(l: Locale, d: NaiveDate) -> String {
    let wd = weekday_long(l, d.weekday().number_from_monday() as u8);
    format!("{wd} {} {}", d.day(), month_short(l, d.month()))
}

/// ISO week number (Swedish calendars count weeks the ISO way).
pub fn week_number(d: NaiveDate) -> u32 {
    d.iso_week().week()
}

/// "Vecka 48 · 23–29 nov" / "Week 48 · 23–29 Nov" (months shown at both ends if they differ).
pub fn fmt_week(l: Locale, monday: NaiveDate) -> String {
    let sunday = monday + chrono::Duration::days(6);
    let range = if monday.month() == sunday.month() {
        format!("{}–{} {}", monday.day(), sunday.day(), month_short(l, sunday.month()))
    } else {
        format!(
            "{} {} – {} {}",
            monday.day(),
            month_short(l, monday.month()),
            sunday.day(),
            month_short(l, sunday.month())
        )
    };
    format!("{} · {range}", tf(l, K::WeekNumber, &[("n", &week_number(monday).to_string())]))
}

/// An instant as unit-local wall-clock time, "14:05".
pub fn fmt_clock(at: DateTime<Utc>) -> String {
    local_datetime(at, DEFAULT_TIME_ZONE).format("%H:%M").to_string()
}

/// An instant as "tor 26 nov 14:05" in unit-local time.
pub fn fmt_datetime(l: Locale, at: DateTime<Utc>) -> String {
    let local = local_datetime(at, DEFAULT_TIME_ZONE);
    format!("{} {}", fmt_date(l, local.date()), local.format("%H:%M"))
}

/// "07:30–16:00, 17:00–17:30".
pub fn fmt_intervals(intervals: &[Interval]) -> String {
    intervals.iter().map(|iv| iv.to_string()).collect::<Vec<_>>().join(", ")
}

/// A time typed by a person: "7:30", "07:30", "0730", "730", "7.30", "7" → 07:30 / 07:00.
/// Strict `HH:MM` goes on the wire; this only reads the form.
pub fn parse_time(input: &str) -> Option<LocalTime> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    let (h, m) = if let Some((h, m)) = s.split_once([':', '.']) {
        if m.len() != 2 {
            return None;
        }
        (h, m)
    } else if s.len() <= 2 {
        (s, "00")
    } else if s.len() <= 4 {
        s.split_at(s.len() - 2)
    } else {
        return None;
    };
    if h.is_empty() || h.len() > 2 || !h.bytes().all(|b| b.is_ascii_digit()) || !m.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    LocalTime::new(h.parse().ok()?, m.parse().ok()?)
}

// ---------------------------------------------------------------- forms

/// The day editor's fields (R-CARE-1: one or two intervals and a comment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayForm {
    pub from1: String,
    pub to1: String,
    pub two: bool,
    pub from2: String,
    pub to2: String,
    pub comment: String,
}

impl DayForm {
    pub fn from_day(day: &CareDayView) -> DayForm {
        let iv = |i: usize| day.intervals.get(i);
        DayForm {
            from1: iv(0).map(|i| i.start.to_string()).unwrap_or_default(),
            to1: iv(0).map(|i| i.end.to_string()).unwrap_or_default(),
            two: day.intervals.len() > 1,
            from2: iv(1).map(|i| i.start.to_string()).unwrap_or_default(),
            to2: iv(1).map(|i| i.end.to_string()).unwrap_or_default(),
            comment: day.comment.clone().unwrap_or_default(),
        }
    }

    pub fn from_parts(intervals: &[Interval], comment: Option<&str>) -> DayForm {
        let iv = |i: usize| intervals.get(i);
        DayForm {
            from1: iv(0).map(|i| i.start.to_string()).unwrap_or_default(),
            to1: iv(0).map(|i| i.end.to_string()).unwrap_or_default(),
            two: intervals.len() > 1,
            from2: iv(1).map(|i| i.start.to_string()).unwrap_or_default(),
            to2: iv(1).map(|i| i.end.to_string()).unwrap_or_default(),
            comment: comment.unwrap_or_default().to_string(),
        }
    }

    /// The intervals and comment to send, pre-checked with the very rules the server
    /// enforces (`domain`), or the key of the message to show.
    pub fn build(
        &self,
        opens: Option<LocalTime>,
        closes: Option<LocalTime>,
    ) -> Result<(Vec<Interval>, Option<String>), K> {
        let mut intervals = vec![interval(&self.from1, &self.to1)?];
        if self.two {
            intervals.push(interval(&self.from2, &self.to2)?);
        }
        validate_intervals(&intervals).map_err(|_| K::ErrIntervals)?;
        check_hours(&intervals, opens, closes)?;
        let comment = comment(&self.comment)?;
        Ok((intervals, comment))
    }
}

fn interval(from: &str, to: &str) -> Result<Interval, K> {
    let start = parse_time(from).ok_or(K::ErrTimeFormat)?;
    let end = parse_time(to).ok_or(K::ErrTimeFormat)?;
    Ok(Interval::new(start, end))
}

fn check_hours(intervals: &[Interval], opens: Option<LocalTime>, closes: Option<LocalTime>) -> Result<(), K> {
    if let (Some(o), Some(c)) = (opens, closes) {
        if intervals.iter().any(|iv| iv.start < o || iv.end > c) {
            return Err(K::ErrOutsideHours);
        }
    }
    Ok(())
}

fn comment(text: &str) -> Result<Option<String>, K> {
    let text = text.trim();
    domain::care::check_comment(text).map_err(|_| K::ErrCommentTooLong)?;
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// One weekday row of the week editor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeekRow {
    pub weekday: u8,
    pub on: bool,
    pub from: String,
    pub to: String,
    pub opens: Option<LocalTime>,
    pub closes: Option<LocalTime>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RepeatMode {
    #[default]
    None,
    Count,
    Until,
}

/// The week editor (R-CARE-4, R-CARE-5).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeekForm {
    pub rows: Vec<WeekRow>,
    pub mode: RepeatMode,
    pub every: String,
    pub count: String,
    pub until: String,
}

impl WeekForm {
    /// Open weekdays of the viewed week, prefilled with its registered times.
    pub fn from_week(days: &[CareDayView]) -> WeekForm {
        let rows = days
            .iter()
            // Open weekdays; a weekday closed only this week (a holiday) is still offered,
            // since the template also writes the weeks it repeats into.
            .filter(|d| d.opens.is_some() || d.weekday <= 5)
            .map(|d| WeekRow {
                weekday: d.weekday,
                on: !d.intervals.is_empty(),
                from: d.intervals.first().map(|i| i.start.to_string()).unwrap_or_default(),
                to: d.intervals.first().map(|i| i.end.to_string()).unwrap_or_default(),
                opens: d.opens,
                closes: d.closes,
            })
            .collect();
        WeekForm { rows, mode: RepeatMode::None, every: "1".into(), count: "4".into(), until: String::new() }
    }

    pub fn build(&self, week_start: NaiveDate) -> Result<(Vec<DayTemplate>, Option<Repeat>), K> {
        let mut days = Vec::new();
        for row in self.rows.iter().filter(|r| r.on) {
            let iv = interval(&row.from, &row.to)?;
            validate_intervals(&[iv]).map_err(|_| K::ErrIntervals)?;
            check_hours(&[iv], row.opens, row.closes)?;
            days.push(DayTemplate { weekday: row.weekday, intervals: vec![iv], comment: None });
        }
        if days.is_empty() {
            return Err(K::ErrNoDayInWeek);
        }
        let repeat = match self.mode {
            RepeatMode::None => None,
            RepeatMode::Count | RepeatMode::Until => {
                let every: u32 = self.every.trim().parse().ok().filter(|n| (1..=52).contains(n)).ok_or(K::ErrRepeatEvery)?;
                if self.mode == RepeatMode::Count {
                    let count: u32 = self.count.trim().parse().ok().filter(|n| (1..=52).contains(n)).ok_or(K::ErrRepeatCount)?;
                    Some(Repeat { every_weeks: every, count: Some(count), until: None })
                } else {
                    let until = domain::time::parse_date(self.until.trim()).map_err(|_| K::ErrRepeatUntil)?;
                    if until < week_start {
                        return Err(K::ErrRepeatUntil);
                    }
                    Some(Repeat { every_weeks: every, count: None, until: Some(until) })
                }
            }
        };
        Ok((days, repeat))
    }
}

// ---------------------------------------------------------------- absence

/// The absence of `date` in the history, if any (R-ABS-5).
pub fn absence_on(history: &[AbsenceItem], date: NaiveDate) -> Option<&AbsenceItem> {
    history.iter().find(|a| a.absence.date == date)
}

/// Comment counter: characters left of `max`.
pub fn chars_left(text: &str, max: u32) -> i64 {
    i64::from(max) - text.chars().count() as i64
}

// ---------------------------------------------------------------- counts

/// "1 ändring väntar" / "3 ändringar väntar".
pub fn count_text(l: Locale, n: u32, one: K, many: K) -> String {
    if n == 1 {
        t(l, one).to_string()
    } else {
        tf(l, many, &[("n", &n.to_string())])
    }
}

/// A badge shows 1…99, then "99+".
pub fn badge(n: u32) -> String {
    if n > 99 {
        "99+".into()
    } else {
        n.to_string()
    }
}

// ---------------------------------------------------------------- queued and rejected changes

/// What a user can resend after a rejection: the form to open, prefilled.
#[derive(Debug, Clone, PartialEq)]
pub enum Resend {
    CareDay { child_id: Uuid, date: NaiveDate, intervals: Vec<Interval>, comment: Option<String> },
    CareWeek { child_id: Uuid, week_start: NaiveDate },
    Absence { child_id: Uuid, date: NaiveDate, comment: Option<String> },
}

fn arg_uuid(args: &Value, key: &str) -> Option<Uuid> {
    args.get(key)?.as_str()?.parse().ok()
}

fn arg_date(args: &Value, key: &str) -> Option<NaiveDate> {
    domain::time::parse_date(args.get(key)?.as_str()?).ok()
}

/// The form that edits this mutation again, if there is one.
pub fn resend_of(name: &str, args: &Value) -> Option<Resend> {
    use domain::wire::mutation_names as n;
    let child_id = arg_uuid(args, "child_id")?;
    match name {
        n::CARE_SET_DAY | n::CARE_CLEAR_DAY | n::CARE_COMMENT => {
            let date = arg_date(args, "date")?;
            let intervals: Vec<Interval> = args
                .get("intervals")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let comment = args
                .get("comment")
                .or_else(|| args.get("text"))
                .and_then(Value::as_str)
                .map(str::to_string);
            Some(Resend::CareDay { child_id, date, intervals, comment })
        }
        n::CARE_SET_WEEK => Some(Resend::CareWeek { child_id, week_start: arg_date(args, "week_start")? }),
        n::ABSENCE_REPORT => Some(Resend::Absence {
            child_id,
            date: arg_date(args, "date")?,
            comment: args.get("comment").and_then(Value::as_str).map(str::to_string),
        }),
        _ => None,
    }
}

/// "Tider tor 26 nov · Elsa": what a queued or rejected change was, in words.
pub fn describe_mutation(l: Locale, name: &str, args: &Value, children: &[ChildInfo]) -> String {
    use domain::wire::mutation_names as n;
    let date = |key: &str| arg_date(args, key).map(|d| fmt_date(l, d)).unwrap_or_default();
    let what = match name {
        n::ABSENCE_REPORT => tf(l, K::WhatAbsence, &[("date", &date("date"))]),
        n::CARE_SET_DAY => tf(l, K::WhatCareDay, &[("date", &date("date"))]),
        n::CARE_CLEAR_DAY => tf(l, K::WhatCareClear, &[("date", &date("date"))]),
        n::CARE_SET_WEEK => tf(l, K::WhatCareWeek, &[("date", &date("week_start"))]),
        n::CARE_COMMENT => tf(l, K::WhatCareComment, &[("date", &date("date"))]),
        n::TALK_BOOK => t(l, K::WhatTalkBook).to_string(),
        n::TALK_CANCEL => t(l, K::WhatTalkCancel).to_string(),
        n::NOTIFICATION_READ => t(l, K::WhatNotificationRead).to_string(),
        n::ATTENDANCE_MARK => t(l, K::WhatAttendance).to_string(),
        n::ABSENCE_CONFIRM => t(l, K::WhatAbsenceConfirm).to_string(),
        n::CARE_COMMENT_SEEN => t(l, K::WhatCommentSeen).to_string(),
        n::STAFF_PIN_ATTEMPT => t(l, K::WhatPinAttempt).to_string(),
        _ => t(l, K::WhatOther).to_string(),
    };
    let child = arg_uuid(args, "child_id").and_then(|id| children.iter().find(|c| c.id == id));
    match child {
        Some(c) => format!("{what} · {}", c.first_name),
        None => what,
    }
}

/// The details line of a queued care change: "07:30–16:00 · ”Morfar hämtar”".
pub fn mutation_detail(args: &Value) -> Option<String> {
    let intervals: Vec<Interval> = args
        .get("intervals")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let comment = args.get("comment").or_else(|| args.get("text")).and_then(Value::as_str);
    let mut parts = Vec::new();
    if !intervals.is_empty() {
        parts.push(fmt_intervals(&intervals));
    }
    if let Some(c) = comment.filter(|c| !c.is_empty()) {
        parts.push(format!("”{c}”"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    fn lt(h: u32, m: u32) -> LocalTime {
        LocalTime::new(h, m).unwrap()
    }

    #[test]
    fn dates_read_naturally_in_both_languages() {
        assert_eq!(fmt_date(Locale::Sv, d(2026, 11, 26)), "tor 26 nov");
        assert_eq!(fmt_date(Locale::En, d(2026, 11, 26)), "Thu 26 Nov");
        assert_eq!(fmt_date_long(Locale::Sv, d(2026, 5, 4)), "måndag 4 maj");
        assert_eq!(fmt_week(Locale::Sv, d(2026, 11, 23)), "Vecka 48 · 23–29 nov");
        assert_eq!(fmt_week(Locale::En, d(2026, 11, 30)), "Week 49 · 30 Nov – 6 Dec");
        // ISO week 53 exists in 2026.
        assert_eq!(week_number(d(2026, 12, 28)), 53);
    }

    #[test]
    fn clock_times_are_stockholm_local_across_dst() {
        let winter = "2026-01-15T12:00:00Z".parse().unwrap();
        let summer = "2026-07-15T12:00:00Z".parse().unwrap();
        assert_eq!(fmt_clock(winter), "13:00");
        assert_eq!(fmt_clock(summer), "14:00");
        assert_eq!(fmt_datetime(Locale::Sv, winter), "tor 15 jan 13:00");
    }

    #[test]
    fn typed_times_are_read_leniently() {
        assert_eq!(parse_time("07:30"), Some(lt(7, 30)));
        assert_eq!(parse_time("7:30"), Some(lt(7, 30)));
        assert_eq!(parse_time(" 0730 "), Some(lt(7, 30)));
        assert_eq!(parse_time("730"), Some(lt(7, 30)));
        assert_eq!(parse_time("7.30"), Some(lt(7, 30)));
        assert_eq!(parse_time("16"), Some(lt(16, 0)));
        for bad in ["", "24:00", "7:3", "12:60", "abc", "123456", ":30", "7:3a"] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn day_form_checks_the_domain_rules() {
        let mut f = DayForm { from1: "7:30".into(), to1: "16".into(), comment: " morfar hämtar ".into(), ..Default::default() };
        let (iv, c) = f.build(Some(lt(6, 30)), Some(lt(18, 0))).unwrap();
        assert_eq!(fmt_intervals(&iv), "07:30–16:00");
        assert_eq!(c.as_deref(), Some("morfar hämtar"));
        assert_eq!(f.build(Some(lt(8, 0)), Some(lt(18, 0))), Err(K::ErrOutsideHours));
        f.two = true;
        f.from2 = "15:00".into();
        f.to2 = "17:00".into();
        assert_eq!(f.build(None, None), Err(K::ErrIntervals));
        f.from2 = "16:30".into();
        let (iv, _) = f.build(None, None).unwrap();
        assert_eq!(iv.len(), 2);
        f.to2 = "x".into();
        assert_eq!(f.build(None, None), Err(K::ErrTimeFormat));
        let long = DayForm { from1: "08:00".into(), to1: "09:00".into(), comment: "å".repeat(501), ..Default::default() };
        assert_eq!(long.build(None, None), Err(K::ErrCommentTooLong));
        let empty_comment = DayForm { from1: "08:00".into(), to1: "09:00".into(), ..Default::default() };
        assert_eq!(empty_comment.build(None, None).unwrap().1, None);
    }

    fn day(date: NaiveDate, intervals: Vec<Interval>) -> CareDayView {
        let weekday = date.weekday().number_from_monday() as u8;
        let open = weekday <= 5;
        CareDayView {
            date,
            weekday,
            opens: open.then(|| lt(6, 30)),
            closes: open.then(|| lt(18, 0)),
            closed: !open,
            locked: false,
            intervals,
            comment: None,
            updated_by_name: None,
            updated_by_other: false,
            pending: false,
            comments: vec![],
        }
    }

    #[test]
    fn week_form_builds_templates_and_repeats() {
        let monday = d(2026, 11, 30);
        let days: Vec<CareDayView> = (0..7)
            .map(|i| {
                let date = monday + chrono::Duration::days(i);
                let iv = if i == 0 { vec![Interval::new(lt(8, 0), lt(15, 0))] } else { vec![] };
                day(date, iv)
            })
            .collect();
        let mut f = WeekForm::from_week(&days);
        assert_eq!(f.rows.len(), 5, "weekends are closed and not offered");
        assert!(f.rows[0].on && !f.rows[1].on);
        assert_eq!(f.rows[0].from, "08:00");
        let (t, r) = f.build(monday).unwrap();
        assert_eq!((t.len(), r), (1, None));

        f.mode = RepeatMode::Count;
        f.every = "2".into();
        f.count = "6".into();
        let (_, r) = f.build(monday).unwrap();
        assert_eq!(r, Some(Repeat { every_weeks: 2, count: Some(6), until: None }));

        f.mode = RepeatMode::Until;
        f.until = "2027-03-01".into();
        let (_, r) = f.build(monday).unwrap();
        assert_eq!(r, Some(Repeat { every_weeks: 2, count: None, until: Some(d(2027, 3, 1)) }));
        f.until = "2026-11-01".into();
        assert_eq!(f.build(monday), Err(K::ErrRepeatUntil));
        f.every = "0".into();
        assert_eq!(f.build(monday), Err(K::ErrRepeatEvery));

        for r in f.rows.iter_mut() {
            r.on = false;
        }
        assert_eq!(f.build(monday), Err(K::ErrNoDayInWeek));
    }

    #[test]
    fn counts_and_badges() {
        assert_eq!(count_text(Locale::Sv, 1, K::PendingOne, K::PendingCount), "1 ändring väntar");
        assert_eq!(count_text(Locale::Sv, 2, K::PendingOne, K::PendingCount), "2 ändringar väntar");
        assert_eq!(count_text(Locale::En, 0, K::PendingOne, K::PendingCount), "0 changes waiting");
        assert_eq!(badge(7), "7");
        assert_eq!(badge(120), "99+");
        assert_eq!(chars_left("åäö", 500), 497);
    }

    #[test]
    fn rejected_changes_are_described_and_resendable() {
        let child = Uuid::from_u128(1);
        let kids = vec![ChildInfo {
            id: child,
            first_name: "Elsa".into(),
            last_name: "Lind".into(),
            unit: domain::wire::UnitRef { id: Uuid::nil(), name: "Solrosen".into(), kind: domain::wire::UnitKind::Preschool },
        }];
        let args = json!({"child_id": child, "date": "2026-11-26",
            "intervals": [{"start": "07:30", "end": "16:00"}], "comment": "morfar hämtar"});
        assert_eq!(describe_mutation(Locale::Sv, "care.set_day", &args, &kids), "Tider tor 26 nov · Elsa");
        assert_eq!(describe_mutation(Locale::En, "care.set_day", &args, &kids), "Times Thu 26 Nov · Elsa");
        assert_eq!(mutation_detail(&args).as_deref(), Some("07:30–16:00 · ”morfar hämtar”"));
        assert_eq!(
            resend_of("care.set_day", &args),
            Some(Resend::CareDay {
                child_id: child,
                date: d(2026, 11, 26),
                intervals: vec![Interval::new(lt(7, 30), lt(16, 0))],
                comment: Some("morfar hämtar".into())
            })
        );
        let abs = json!({"child_id": child, "date": "2026-11-24"});
        assert_eq!(describe_mutation(Locale::Sv, "absence.report", &abs, &kids), "Frånvaroanmälan tis 24 nov · Elsa");
        assert!(matches!(resend_of("absence.report", &abs), Some(Resend::Absence { .. })));
        assert_eq!(resend_of("talk.cancel", &json!({"booking_id": child})), None);
        assert_eq!(describe_mutation(Locale::En, "something.new", &json!({}), &kids), "Change");
    }
}
