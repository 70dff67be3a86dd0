//! Attendance records' ids, remembered by the thread that made them.
//!
//! Performance: a day record's id is a UUID v5 of its child and date, a SHA-1 each
//! ([`domain::attendance::attendance_record`]). A tablet's push of forty marks names twenty
//! records twice (arrival and departure), and PostgreSQL's writer names them once more
//! when it fetches a group's records ahead: in the tablet rush the SHA-1s were about 2 % of
//! the machine, a tenth of the writer thread, which every push waits for. The writer marks
//! the same children day after day, so it keeps the ids it made.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::attendance::attendance_record as made;
use domain::time::Tz;
use uuid::Uuid;

/// Ids kept by a thread at most (about 50 bytes each: a day of 100,000 children); then it
/// starts again.
const KEPT_AT_MOST: usize = 100_000;

thread_local! {
    static KEPT: RefCell<HashMap<(Uuid, NaiveDate), Uuid>> = RefCell::new(HashMap::new());
}

/// [`domain::attendance::attendance_record`]: the day of a mark of `child_id` at `at` in
/// the unit's time zone `tz`, and that day's record id, made once per thread.
pub fn attendance_record(child_id: Uuid, at: DateTime<Utc>, tz: Tz) -> (NaiveDate, Uuid) {
    let date = domain::attendance::attendance_day(at, tz);
    let id = KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        if let Some(id) = kept.get(&(child_id, date)) {
            return *id;
        }
        if kept.len() >= KEPT_AT_MOST {
            kept.clear();
        }
        let (_, id) = made(child_id, at, tz);
        kept.insert((child_id, date), id);
        id
    });
    (date, id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn a_remembered_record_is_the_one_the_domain_makes_on_every_day_and_in_every_zone() {
        // R-STAFF-2: the record of the day the mark happened on, in the unit's zone; around
        // midnight and the DST changes the zone decides the day.
        let zones = [domain::time::DEFAULT_TIME_ZONE, chrono_tz::America::New_York, chrono_tz::Pacific::Auckland];
        let start = Utc.with_ymd_and_hms(2026, 3, 28, 20, 0, 0).unwrap();
        for round in 0..2 {
            for child in 0..20u128 {
                for hour in (0..72).step_by(5) {
                    for tz in zones {
                        let at = start + Duration::hours(hour) + Duration::minutes(child as i64);
                        let child = Uuid::from_u128(child + 1);
                        assert_eq!(attendance_record(child, at, tz), made(child, at, tz), "round {round}, {at} in {tz}");
                    }
                }
            }
        }
    }
}
