//! `care.set_day`, `care.clear_day`, `care.set_week`, `care.comment`, `care.comment_seen`
//! (R-CARE-1 … R-CARE-7).

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use domain::interval::Interval;
use domain::wire::entity::{self as e};
use domain::wire::{ChangeOp, Role};
use domain::RejectCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{
    assert_applied, assert_rejected, day, ids, of_type, server, set_day_args, upserts, ymd, Client, TestServer,
};

fn iv(a: &str, b: &str) -> Interval {
    Interval::new(a.parse().unwrap(), b.parse().unwrap())
}

async fn set_day(c: &Client, child: Uuid, date: &str, intervals: &[(&str, &str)]) -> domain::wire::MutationResult {
    c.push_one("care.set_day", set_day_args(child, date, intervals)).await
}

/// The care day of `child` on `date` in `c`'s full snapshot.
async fn care_day(c: &Client, child: Uuid, date: &str) -> Option<e::CareDay> {
    let (_, r) = c.snapshot().await;
    r.get(e::CARE_DAY_TYPE, e::care_day_id(child, day(date)))
}

/// Solrosen's closed dates (holidays, planning days) as the demo seeded them.
async fn solrosen_closed(c: &Client) -> Vec<NaiveDate> {
    let (_, r) = c.snapshot().await;
    let unit: e::Unit = r.get(e::UNIT_TYPE, ids::solrosen()).expect("Solrosen in Anna's pull");
    unit.closed_dates
}

/// A Christmas Eve among the unit's closed dates (the demo closes the holidays of the year it
/// was seeded and the next), on a weekday if there is one, so it is closed as a holiday and
/// not merely as a weekend.
fn christmas_eve(closed: &[NaiveDate]) -> NaiveDate {
    let eves: Vec<NaiveDate> = closed.iter().copied().filter(|d| d.month() == 12 && d.day() == 24).collect();
    assert!(!eves.is_empty(), "Christmas Eve among the closed dates: {closed:?}");
    eves.iter().copied().find(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)).unwrap_or(eves[0])
}

fn week_template(intervals: &[(&str, &str)], weekdays: std::ops::RangeInclusive<u8>) -> Vec<Value> {
    let ivs: Vec<Value> = intervals.iter().map(|(s, e)| json!({ "start": s, "end": e })).collect();
    weekdays.map(|w| json!({ "weekday": w, "intervals": ivs })).collect()
}

fn dates_of(v: &Value, list: &str) -> Vec<NaiveDate> {
    v[list].as_array().unwrap_or_else(|| panic!("no {list} in {v}")).iter().map(|d| day(d["date"].as_str().unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_1_set_day_within_opening_hours_is_applied_and_recorded() {
    // R-CARE-1: one or two intervals and an optional comment; R-CARE-2: within the hours.
    let s = server().await;
    let now = s.set_local("2026-11-25", "10:00:00").await; // Wednesday
    let anna = s.login("anna").await;
    let mut args = set_day_args(ids::elsa(), "2026-11-26", &[("07:30", "16:00")]);
    args["comment"] = json!("morfar hämtar");
    assert_applied(&anna.push_one("care.set_day", args).await);
    let d = care_day(&anna, ids::elsa(), "2026-11-26").await.expect("the day is registered");
    assert_eq!(d.child_id, ids::elsa());
    assert_eq!(d.date, day("2026-11-26"));
    assert_eq!(d.intervals, vec![iv("07:30", "16:00")]);
    assert_eq!(d.comment.as_deref(), Some("morfar hämtar"));
    assert_eq!(d.updated_by, anna.id());
    assert_eq!(d.updated_by_name, "Anna Lind");
    assert_eq!(d.updated_at, now);

    // Two intervals, sent out of order, stored in order; the whole opening time is allowed.
    assert_applied(&set_day(&anna, ids::elsa(), "2026-11-26", &[("13:00", "18:00"), ("06:30", "09:00")]).await);
    let d = care_day(&anna, ids::elsa(), "2026-11-26").await.unwrap();
    assert_eq!(d.intervals, vec![iv("06:30", "09:00"), iv("13:00", "18:00")]);
    assert_eq!(d.comment, None, "a set_day without a comment has none");
    // Oskar's fritids (06:30–17:30), for the school child in care.
    assert_applied(&set_day(&anna, ids::oskar(), "2026-11-26", &[("13:30", "17:30")]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_2_outside_opening_hours_is_rejected() {
    // R-CARE-2: intervals lie within the unit's opening hours (Solrosen 06:30–18:00).
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let before = care_day(&anna, ids::elsa(), "2026-11-26").await;
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-26", &[("06:00", "16:00")]).await, RejectCode::OutsideOpeningHours);
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-26", &[("07:00", "18:01")]).await, RejectCode::OutsideOpeningHours);
    // Fritids closes at 17:30.
    assert_rejected(&set_day(&anna, ids::oskar(), "2026-11-26", &[("13:30", "17:45")]).await, RejectCode::OutsideOpeningHours);
    assert_eq!(care_day(&anna, ids::elsa(), "2026-11-26").await, before, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_2_weekends_are_closed() {
    // R-CARE-2: days the unit is closed cannot be registered, by guardians or staff.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let lisa = s.login("lisa").await;
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-28", &[("08:00", "16:00")]).await, RejectCode::UnitClosed);
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-29", &[("08:00", "16:00")]).await, RejectCode::UnitClosed);
    assert_rejected(&set_day(&lisa, ids::elsa(), "2026-11-28", &[("08:00", "16:00")]).await, RejectCode::UnitClosed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_2_christmas_eve_is_closed() {
    // R-CARE-2: holiday days are closed. The demo closes Swedish holidays of the year it was
    // seeded and the next; pick the first Christmas Eve on a weekday among them.
    let s = server().await;
    let anna = s.login("anna").await;
    let closed = solrosen_closed(&anna).await;
    let eve = christmas_eve(&closed);
    s.set_clock_at(crate::support::sthlm(&ymd(eve - Duration::days(8)), "10:00:00")).await;
    let anna = s.login("anna").await;
    let lisa = s.login("lisa").await;
    assert_rejected(&set_day(&anna, ids::elsa(), &ymd(eve), &[("08:00", "16:00")]).await, RejectCode::UnitClosed);
    assert_rejected(&set_day(&lisa, ids::elsa(), &ymd(eve), &[("08:00", "16:00")]).await, RejectCode::UnitClosed);
    // The last weekday before it is an ordinary day.
    let before = (1..7)
        .map(|i| eve - Duration::days(i))
        .find(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !closed.contains(d))
        .unwrap();
    assert_applied(&set_day(&anna, ids::elsa(), &ymd(before), &[("08:00", "16:00")]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_3_today_is_locked_tomorrow_is_not() {
    // R-CARE-3: day D is locked for guardians once the unit-local date is ≥ D.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-25", &[("08:00", "16:00")]).await, RejectCode::DayLocked);
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-24", &[("08:00", "16:00")]).await, RejectCode::DayLocked);
    assert_rejected(
        &anna.push_one("care.clear_day", json!({ "child_id": ids::elsa(), "date": "2026-11-25" })).await,
        RejectCode::DayLocked,
    );
    assert_rejected(
        &anna.push_one("care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "text": "hämtas tidigt" })).await,
        RejectCode::DayLocked,
    );
    assert_applied(&set_day(&anna, ids::elsa(), "2026-11-26", &[("08:00", "16:00")]).await);

    // One second before midnight tomorrow is still open; one second after it is locked.
    s.set_local("2026-11-25", "23:59:59").await;
    assert_applied(&set_day(&anna, ids::elsa(), "2026-11-26", &[("08:15", "16:00")]).await);
    s.set_local("2026-11-26", "00:00:01").await;
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-26", &[("08:30", "16:00")]).await, RejectCode::DayLocked);
    let d = care_day(&anna, ids::elsa(), "2026-11-26").await.unwrap();
    assert_eq!(d.intervals, vec![iv("08:15", "16:00")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_3_monday_0030_in_stockholm_is_locked_while_utc_is_still_sunday() {
    // R-CARE-3 with R-TIME-1: Monday 00:30 in Stockholm is Sunday 23:30 UTC; Monday is locked.
    let s = server().await;
    s.set_clock("2026-11-29T23:30:00Z").await;
    let anna = s.login("anna").await;
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-30", &[("08:00", "16:00")]).await, RejectCode::DayLocked);
    assert_rejected(
        &anna.push_one("care.clear_day", json!({ "child_id": ids::elsa(), "date": "2026-11-30" })).await,
        RejectCode::DayLocked,
    );
    assert_applied(&set_day(&anna, ids::elsa(), "2026-12-01", &[("08:00", "16:00")]).await);
    // R-CARE-4: the week of that Monday has started.
    let r = anna
        .push_one(
            "care.set_week",
            json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": week_template(&[("08:00", "16:00")], 1..=5) }),
        )
        .await;
    assert_rejected(&r, RejectCode::DayLocked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_3_lock_on_dst_days() {
    // R-TIME-2: the nights DST starts (29 March 2026) and ends (25 October 2026) are ordinary.
    let s = server().await;
    s.set_local("2026-03-29", "23:59:59").await; // 21:59:59 UTC
    let anna = s.login("anna").await;
    assert_applied(&set_day(&anna, ids::elsa(), "2026-03-30", &[("08:00", "16:00")]).await);
    s.set_clock("2026-03-29T22:00:01Z").await; // Monday 00:00:01 CEST
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-03-30", &[("08:00", "16:00")]).await, RejectCode::DayLocked);
    assert_applied(&set_day(&anna, ids::elsa(), "2026-03-31", &[("08:00", "16:00")]).await);

    s.set_clock("2026-10-25T22:59:59Z").await; // Sunday 23:59:59 CET
    let anna = s.login("anna").await;
    assert_applied(&set_day(&anna, ids::elsa(), "2026-10-26", &[("08:00", "16:00")]).await);
    s.set_clock("2026-10-25T23:00:01Z").await; // Monday 00:00:01 CET
    assert_rejected(&set_day(&anna, ids::elsa(), "2026-10-26", &[("08:00", "16:00")]).await, RejectCode::DayLocked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_can_register_today_and_the_past() {
    // R-CARE-1: staff can always register; the same-day lock binds guardians only.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let lisa = s.login("lisa").await;
    assert_applied(&set_day(&lisa, ids::elsa(), "2026-11-25", &[("08:00", "15:00")]).await);
    assert_applied(&set_day(&lisa, ids::elsa(), "2026-11-24", &[("08:00", "15:00")]).await);
    assert_applied(&lisa.push_one("care.clear_day", json!({ "child_id": ids::elsa(), "date": "2026-11-24" })).await);
    let anna = s.login("anna").await;
    let d = care_day(&anna, ids::elsa(), "2026-11-25").await.unwrap();
    assert_eq!(d.intervals, vec![iv("08:00", "15:00")]);
    assert_eq!(d.updated_by_name, "Lisa Ek");
    assert_eq!(care_day(&anna, ids::elsa(), "2026-11-24").await, None);
    // Not for a child of another unit.
    assert_rejected(&set_day(&lisa, ids::oskar(), "2026-11-26", &[("13:00", "16:00")]).await, RejectCode::NotPermitted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_day_deletes_the_registration() {
    // R-CARE-3: a guardian may delete a day's registration before that day.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    assert_applied(&set_day(&anna, ids::elsa(), "2026-11-26", &[("08:00", "16:00")]).await);
    let (cursor, _) = anna.pull_all().await;
    assert_applied(&anna.push_one("care.clear_day", json!({ "child_id": ids::elsa(), "date": "2026-11-26" })).await);
    let (_, delta) = anna.delta(&cursor).await;
    let id = e::care_day_id(ids::elsa(), day("2026-11-26"));
    let changes: Vec<_> = of_type(&delta, e::CARE_DAY_TYPE).collect();
    assert_eq!(changes.len(), 1, "{delta:?}");
    assert_eq!((changes[0].id, changes[0].op), (id, ChangeOp::Delete));
    assert_eq!(care_day(&anna, ids::elsa(), "2026-11-26").await, None);
    // Clearing a day with nothing registered is fine too.
    assert_applied(&anna.push_one("care.clear_day", json!({ "child_id": ids::elsa(), "date": "2026-12-02" })).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_1_malformed_intervals_are_invalid_input() {
    // R-CARE-1: one or two intervals, each start < end, not overlapping.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let cases: [&[(&str, &str)]; 6] = [
        &[("16:00", "08:00")],
        &[("08:00", "08:00")],
        &[("07:00", "09:00"), ("10:00", "12:00"), ("13:00", "16:00")],
        &[("08:00", "12:00"), ("11:00", "16:00")],
        &[("08:00", "12:00"), ("12:00", "16:00")],
        &[],
    ];
    for ivs in cases {
        assert_rejected(&set_day(&anna, ids::elsa(), "2026-11-26", ivs).await, RejectCode::InvalidInput);
    }
    for bad in ["7:30", "24:00", "07:30:00", "noon"] {
        let args = json!({ "child_id": ids::elsa(), "date": "2026-11-26", "intervals": [{ "start": bad, "end": "16:00" }] });
        assert_rejected(&anna.push_one("care.set_day", args).await, RejectCode::InvalidInput);
    }
    let mut args = set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "16:00")]);
    args["comment"] = json!("x".repeat(501));
    assert_rejected(&anna.push_one("care.set_day", args).await, RejectCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_5_repeat_every_two_weeks_writes_only_the_matching_weeks() {
    // R-CARE-5: shared custody: Erik fills every other week, then Anna the weeks between,
    // repeating every 2 weeks for a count of 4; only Anna's weeks are written.
    let s = server().await;
    s.set_local("2027-01-27", "10:00:00").await; // a Wednesday
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let closed = solrosen_closed(&anna).await;

    let r = erik
        .push_one(
            "care.set_week",
            json!({ "child_id": ids::elsa(), "week_start": "2027-02-08",
                    "days": week_template(&[("08:00", "15:00")], 1..=5),
                    "repeat": { "every_weeks": 2, "count": 2 } }),
        )
        .await;
    assert_applied(&r);

    let (cursor, _) = anna.pull_all().await;
    let r = anna
        .push_one(
            "care.set_week",
            json!({ "child_id": ids::elsa(), "week_start": "2027-02-01",
                    "days": week_template(&[("07:30", "16:30")], 1..=5),
                    "repeat": { "every_weeks": 2, "count": 4 } }),
        )
        .await;
    assert_applied(&r);
    let details = r.details.expect("set_week lists what it wrote and skipped").value();
    let covered: Vec<NaiveDate> = ["2027-02-01", "2027-02-15", "2027-03-01", "2027-03-15"]
        .into_iter()
        .flat_map(|m| (0..5).map(move |i| day(m) + Duration::days(i)))
        .collect();
    let want_written: Vec<NaiveDate> = covered.iter().copied().filter(|d| !closed.contains(d)).collect();
    let want_skipped: Vec<NaiveDate> = covered.iter().copied().filter(|d| closed.contains(d)).collect();
    assert!(want_written.len() >= 19, "at most a planning day in these weeks");
    assert_eq!(dates_of(&details, "writes"), want_written);
    assert_eq!(dates_of(&details, "skipped"), want_skipped);
    for s in details["skipped"].as_array().unwrap() {
        assert_eq!(s["reason"], "unit_closed");
    }

    // The pull after it carries exactly the written days: the weeks between are untouched.
    let (_, delta) = anna.delta(&cursor).await;
    let mut changed: Vec<NaiveDate> =
        upserts::<e::CareDay>(&delta, e::CARE_DAY_TYPE).into_iter().map(|d| d.date).collect();
    changed.sort();
    assert_eq!(changed, want_written);
    assert!(of_type(&delta, e::CARE_DAY_TYPE).all(|c| c.op == ChangeOp::Upsert));

    let (_, r) = anna.snapshot().await;
    for d in &want_written {
        let cd: e::CareDay = r.get(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), *d)).unwrap();
        assert_eq!((cd.intervals.clone(), cd.updated_by), (vec![iv("07:30", "16:30")], anna.id()), "{d}");
    }
    for m in ["2027-02-08", "2027-02-22"] {
        for i in 0..5 {
            let d = day(m) + Duration::days(i);
            if closed.contains(&d) {
                continue;
            }
            let cd: e::CareDay = r.get(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), d)).expect("Erik's week kept");
            assert_eq!((cd.intervals.clone(), cd.updated_by_name.as_str()), (vec![iv("08:00", "15:00")], "Erik Lind"), "{d}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_5_set_week_across_christmas_skips_the_holidays() {
    // R-CARE-2 and R-CARE-5: a week registration never writes closed days; it lists them as
    // skipped with `unit_closed`. The template also clears the weekend, which the unit never
    // opens, so 24, 25 and 26 December are listed whatever their weekdays.
    let s = server().await;
    let anna = s.login("anna").await;
    let closed = solrosen_closed(&anna).await;
    let eve = christmas_eve(&closed);
    let monday = domain::time::monday_of(eve);
    s.set_clock_at(crate::support::sthlm(&ymd(monday - Duration::days(5)), "10:00:00")).await;
    let anna = s.login("anna").await;

    // Two weeks from the Monday of Christmas Eve's week, so 24–26 December are covered
    // whatever their weekdays.
    let mut days = week_template(&[("08:00", "16:00")], 1..=5);
    days.extend(week_template(&[], 6..=7));
    let r = anna
        .push_one(
            "care.set_week",
            json!({ "child_id": ids::elsa(), "week_start": ymd(monday), "days": days, "repeat": { "every_weeks": 1, "count": 2 } }),
        )
        .await;
    assert_applied(&r);
    let details = r.details.unwrap().value();
    let week: Vec<NaiveDate> = (0..14).map(|i| monday + Duration::days(i)).collect();
    let is_closed = |d: &NaiveDate| closed.contains(d) || d.weekday().number_from_monday() > 5;
    assert_eq!(dates_of(&details, "writes"), week.iter().copied().filter(|d| !is_closed(d)).collect::<Vec<_>>());
    let skipped = dates_of(&details, "skipped");
    assert_eq!(skipped, week.iter().copied().filter(is_closed).collect::<Vec<_>>());
    for d in [eve, eve + Duration::days(1), eve + Duration::days(2)] {
        assert!(skipped.contains(&d), "{d} skipped: {details}");
    }
    for s in details["skipped"].as_array().unwrap() {
        assert_eq!(s["reason"], "unit_closed", "{s}");
    }
    let (_, r) = anna.snapshot().await;
    assert!(r.get::<e::CareDay>(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), eve)).is_none());
    assert!(r.get::<e::CareDay>(e::CARE_DAY_TYPE, e::care_day_id(ids::elsa(), monday)).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_4_week_start_must_be_an_unlocked_monday() {
    // R-CARE-4: a week registration names its Monday, and that Monday is not locked.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let days = week_template(&[("08:00", "16:00")], 1..=5);
    let r = anna.push_one("care.set_week", json!({ "child_id": ids::elsa(), "week_start": "2026-12-01", "days": days })).await;
    assert_rejected(&r, RejectCode::InvalidInput);
    let r = anna.push_one("care.set_week", json!({ "child_id": ids::elsa(), "week_start": "2026-11-23", "days": days })).await;
    assert_rejected(&r, RejectCode::DayLocked);
    // Bad templates and repeats are invalid input.
    let r = anna
        .push_one("care.set_week", json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": days, "repeat": { "every_weeks": 0, "count": 2 } }))
        .await;
    assert_rejected(&r, RejectCode::InvalidInput);
    let r = anna.push_one("care.set_week", json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": [] })).await;
    assert_rejected(&r, RejectCode::InvalidInput);
    // A template outside the hours rejects the whole registration.
    let r = anna
        .push_one("care.set_week", json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": week_template(&[("06:00", "16:00")], 1..=5) }))
        .await;
    assert_rejected(&r, RejectCode::OutsideOpeningHours);
    // Next week is fine, and `until` is inclusive.
    let r = anna
        .push_one("care.set_week", json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": days, "repeat": { "every_weeks": 1, "until": "2026-12-08" } }))
        .await;
    assert_applied(&r);
    let written = dates_of(&r.details.as_ref().unwrap().value(), "writes");
    let want: Vec<NaiveDate> =
        ["2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-07", "2026-12-08"].map(day).to_vec();
    let closed = solrosen_closed(&anna).await;
    assert_eq!(written, want.into_iter().filter(|d| !closed.contains(d)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_7_last_writer_wins_and_the_day_records_who() {
    // R-CARE-7: applied in arrival order, the last one wins, the day records who changed it.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    assert_applied(&set_day(&anna, ids::elsa(), "2026-11-26", &[("07:30", "16:00")]).await);
    s.set_local("2026-11-25", "10:05:00").await;
    assert_applied(&set_day(&erik, ids::elsa(), "2026-11-26", &[("08:00", "15:00")]).await);
    let d = care_day(&anna, ids::elsa(), "2026-11-26").await.unwrap();
    assert_eq!(d.intervals, vec![iv("08:00", "15:00")]);
    assert_eq!(d.updated_by, erik.id());
    assert_eq!(d.updated_by_name, "Erik Lind");
    assert_eq!(d.updated_at, crate::support::sthlm("2026-11-25", "10:05:00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_6_a_guardians_comment_is_new_for_staff_until_one_opens_it() {
    // R-CARE-6: staff see a "new comment" marker until one of them opens it; staff reply.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let lisa = s.login("lisa").await;
    let r = anna.push_one("care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-26", "text": "Morfar hämtar" })).await;
    assert_applied(&r);
    let comment_id: Uuid = serde_json::from_value(r.details.unwrap().value()["comment_id"].clone()).unwrap();

    let (cursor, r) = lisa.snapshot().await;
    let c: e::CareComment = r.get(e::CARE_COMMENT_TYPE, comment_id).expect("Lisa sees the comment");
    assert_eq!((c.text.as_str(), c.author_name.as_str(), c.author_role), ("Morfar hämtar", "Anna Lind", Role::Guardian));
    assert_eq!((c.child_id, c.date), (ids::elsa(), day("2026-11-26")));
    assert!(c.new_for_staff);

    // Guardians cannot clear the marker; staff of another unit cannot either.
    assert_rejected(&anna.push_one("care.comment_seen", json!({ "child_id": ids::elsa(), "date": "2026-11-26" })).await, RejectCode::NotPermitted);
    let johan = s.login("johan").await;
    assert_rejected(&johan.push_one("care.comment_seen", json!({ "child_id": ids::elsa(), "date": "2026-11-26" })).await, RejectCode::NotPermitted);

    assert_applied(&lisa.push_one("care.comment_seen", json!({ "child_id": ids::elsa(), "date": "2026-11-26" })).await);
    let (_, delta) = lisa.delta(&cursor).await;
    let seen = upserts::<e::CareComment>(&delta, e::CARE_COMMENT_TYPE);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, comment_id);
    assert!(!seen[0].new_for_staff);

    // Lisa comments back (on any day: staff are not locked); never new for staff, and no
    // notification: guardians see it when they open the day.
    let (anna_cursor, _) = anna.pull_all().await;
    let r = lisa.push_one("care.comment", json!({ "child_id": ids::elsa(), "date": "2026-11-25", "text": "Tack, noterat" })).await;
    assert_applied(&r);
    let (_, r2) = anna.snapshot().await;
    let comments: Vec<e::CareComment> = r2.all(e::CARE_COMMENT_TYPE);
    assert_eq!(comments.len(), 2);
    let reply = comments.iter().find(|c| c.author_role == Role::Staff).unwrap();
    assert_eq!((reply.text.as_str(), reply.new_for_staff), ("Tack, noterat", false));
    let (_, delta) = anna.delta(&anna_cursor).await;
    assert_eq!(delta.iter().map(|c| c.entity_type.as_str()).collect::<Vec<_>>(), vec![e::CARE_COMMENT_TYPE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_neither_register_nor_see_care() {
    // PRODUCT.md box table: the care schedule is hidden from students; R-ACC-7.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let oskar = s.login("oskar").await;
    let anna = s.login("anna").await;
    assert_rejected(&set_day(&oskar, ids::oskar(), "2026-11-26", &[("13:00", "16:00")]).await, RejectCode::NotPermitted);
    assert_rejected(
        &oskar.push_one("care.comment", json!({ "child_id": ids::oskar(), "date": "2026-11-26", "text": "hej" })).await,
        RejectCode::NotPermitted,
    );
    assert_applied(&set_day(&anna, ids::oskar(), "2026-11-26", &[("13:00", "16:00")]).await);
    let (_, changes) = oskar.pull_all().await;
    assert_eq!(of_type(&changes, e::CARE_DAY_TYPE).count(), 0);
    assert_eq!(of_type(&changes, e::CARE_COMMENT_TYPE).count(), 0);
}

/// Sanity for the harness: the server the care tests talk to has Solrosen's demo hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_units_have_the_contract_opening_hours() {
    let s: TestServer = server().await;
    let anna = s.login("anna").await;
    let (_, r) = anna.snapshot().await;
    for (unit, open, close) in [(ids::solrosen(), "06:30", "18:00"), (ids::ekdal(), "06:30", "17:30")] {
        let u: e::Unit = r.get(e::UNIT_TYPE, unit).unwrap();
        let hours: Vec<_> = u.opening_hours.days.iter().map(|h| (h.weekday, h.open.to_string(), h.close.to_string())).collect();
        assert_eq!(hours, (1..=5).map(|w| (w, open.to_string(), close.to_string())).collect::<Vec<_>>());
        assert_eq!(u.time_zone, "Europe/Stockholm");
        assert!(u.guardians_register_care);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_5_repeats_stop_at_the_52_week_horizon_and_until_is_inclusive() {
    // R-CARE-5: repeats never write past a horizon of 52 weeks; `until` is an inclusive date.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let days = week_template(&[("08:00", "16:00")], 1..=1); // Mondays only
    let r = anna
        .push_one(
            "care.set_week",
            json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": days, "repeat": { "every_weeks": 1, "until": "2029-01-01" } }),
        )
        .await;
    assert_applied(&r);
    let d = r.details.unwrap().value();
    let mut all = dates_of(&d, "writes");
    all.extend(dates_of(&d, "skipped"));
    all.sort();
    assert_eq!(all.len(), 52, "52 Mondays, the first included");
    assert_eq!(all.first(), Some(&day("2026-11-30")));
    assert_eq!(all.last(), Some(&(day("2026-11-30") + Duration::weeks(51))));

    let r = anna
        .push_one(
            "care.set_week",
            json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": week_template(&[("08:00", "16:00")], 1..=5),
                    "repeat": { "every_weeks": 3, "until": "2026-12-21" } }),
        )
        .await;
    assert_applied(&r);
    let d = r.details.unwrap().value();
    let mut all = dates_of(&d, "writes");
    all.extend(dates_of(&d, "skipped"));
    all.sort();
    let want: Vec<NaiveDate> = (0..5).map(|i| day("2026-11-30") + Duration::days(i)).chain([day("2026-12-21")]).collect();
    assert_eq!(all, want, "weeks of 30 November and 21 December, the latter up to and including the 21st");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_care_5_repeat_until_is_a_strict_date() {
    // Wire dates are strict YYYY-MM-DD everywhere (domain::wire::date), `until` included.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    for until in ["2026-12-7", "2026-12-07T00:00:00", "2026-02-30"] {
        let r = anna
            .push_one(
                "care.set_week",
                json!({ "child_id": ids::elsa(), "week_start": "2026-11-30", "days": week_template(&[("08:00", "16:00")], 1..=5),
                        "repeat": { "every_weeks": 1, "until": until } }),
            )
            .await;
        assert_rejected(&r, RejectCode::InvalidInput);
    }
}
