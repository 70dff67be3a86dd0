//! Staff tablets (R-STAFF-1…3): paired to a unit, unlocked by PIN offline, a whole day of
//! marks queued offline and synced with the times they happened.

use std::collections::BTreeMap;

use app_core::CoreError;
use chrono::{DateTime, Duration, Utc};
use domain::view::{RoomView, UnlockOutcome};
use domain::wire::entity::{Absence, AbsenceStatus, Attendance};
use domain::wire::{AttendanceKind, MutationStatus};
use domain::RejectCode;
use hub_tests::*;
use uuid::Uuid;

/// Lisa's demo PIN.
const LISA_PIN: &str = "4826";

/// A server on Thursday 5 September 2030 at `hh:mm` Stockholm, Lisa signed in at a desktop,
/// and Solrosen's id.
async fn setup(hhmm: &str) -> (TestServer, Device, Uuid) {
    let server = TestServer::start().await;
    server.set_clock(local(&format!("2030-09-05 {hhmm}"))).await;
    let lisa = Device::sign_in(&server, "lisa", "lisa").await;
    let solrosen = lisa
        .core
        .staff_units()
        .unwrap()
        .into_iter()
        .find(|u| u.name == "Solrosen förskola")
        .expect("Lisa works at Solrosen")
        .id;
    (server, lisa, solrosen)
}

fn room(t: &Tablet) -> RoomView {
    t.core
        .room_view(None, None)
        .unwrap_or_else(|e| panic!("{}: room view: {e}", t.name))
}

fn child_in(v: &RoomView, first_name: &str) -> Uuid {
    v.children
        .iter()
        .find(|c| c.first_name == first_name)
        .unwrap_or_else(|| panic!("no {first_name} in the room"))
        .child_id
}

/// Moves the tablet's clock; a staff member who left it idle unlocks again with the PIN.
fn at(t: &Tablet, lisa: Uuid, now: DateTime<Utc>) {
    t.clock.set(now);
    if t.core.tablet_state().and_then(|s| s.active).is_none() {
        assert_eq!(
            t.core.unlock_with_pin(lisa, LISA_PIN).unwrap(),
            UnlockOutcome::Unlocked
        );
    }
}

fn attendance_rows(rows: &[(String, Uuid, serde_json::Value)]) -> Vec<Attendance> {
    rows.iter()
        .filter(|(t, _, _)| t == "attendance")
        .map(|(_, _, v)| serde_json::from_value(v.clone()).expect("attendance"))
        .collect()
}

// R-STAFF-1, R-STAFF-2, R-STAFF-3, issue "Staff on tablets in preschool rooms": a tablet
// offline from 07:00 to 17:00 marks 10 arrivals and 10 departures (some with an edited
// earlier time) and confirms 3 absences, unlocking with the PIN whenever it was left idle;
// the room shows everything at once; one sync at the end applies every mark once, with the
// time it happened, recorded as done by Lisa; nothing needs attention; a second sync
// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tablet_offline_for_a_day_syncs_every_mark_once_with_its_original_time() {
    let (server, lisa, solrosen) = setup("06:30").await;
    let lisa_id = server.user_id("lisa").await;
    let blabar = lisa
        .core
        .room_view(None, None)
        .unwrap()
        .groups
        .into_iter()
        .find(|g| g.name == "Blåbär")
        .expect("Blåbär")
        .id;
    // Solrosen has Elsa and Noah in the demo; ten more children come to Blåbär today.
    let mut arriving = Vec::new();
    for i in 0..10 {
        arriving.push(
            server
                .add_child(&format!("Barn{i:02}"), solrosen, vec![blabar])
                .await,
        );
    }
    // Absences reported by guardians beforehand (R-ABS-1: today or tomorrow).
    let (today, tomorrow) = (d("2030-09-05"), d("2030-09-06"));
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let maria = Device::sign_in(&server, "maria", "maria").await;
    let (elsa, noah) = (anna.child("Elsa"), maria.child("Noah"));
    anna.core
        .report_absence(elsa, today, None, Some("feber".into()))
        .unwrap();
    anna.core
        .report_absence(elsa, tomorrow, None, None)
        .unwrap();
    maria.core.report_absence(noah, today, None, None).unwrap();
    anna.core.sync_now().await.unwrap();
    maria.core.sync_now().await.unwrap();

    server.set_clock(local("2030-09-05 06:45")).await;
    let tablet = Tablet::pair(
        &server,
        &lisa,
        solrosen,
        "Blåbär iPad",
        local("2030-09-05 06:45"),
    )
    .await;
    let state = tablet.core.tablet_state().expect("paired");
    assert!(
        tablet.core.session().is_none(),
        "a tablet is nobody's session"
    );
    assert_eq!(state.device.unit.id, solrosen);
    assert!(state.active.is_none(), "a new pairing starts locked");
    let lisa_row = state
        .staff
        .iter()
        .find(|s| s.user_id == lisa_id)
        .expect("Lisa listed");
    assert!(lisa_row.has_pin && !lisa_row.locked && lisa_row.attempts_left == 5);
    assert_eq!(
        tablet.core.room_view(None, None).unwrap_err().code(),
        "tablet_locked",
        "a locked tablet shows no children"
    );
    at(&tablet, lisa_id, local("2030-09-05 06:50"));
    let v = room(&tablet);
    assert_eq!((v.date, v.children.len()), (today, 12));

    tablet.proxy.cut();
    let mut ids = Vec::new();
    let mut expected: BTreeMap<Uuid, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    // Arrivals 07:00…08:48, every 12 minutes; every third one entered 5 minutes late with
    // the time it happened.
    for (i, child) in arriving.iter().enumerate() {
        let happened = local("2030-09-05 07:00") + Duration::minutes(12 * i as i64);
        let edited = i % 3 == 0;
        at(
            &tablet,
            lisa_id,
            happened + Duration::minutes(if edited { 5 } else { 0 }),
        );
        let when = edited.then_some(happened);
        ids.push(
            tablet
                .core
                .mark_attendance(*child, AttendanceKind::Arrived, when)
                .unwrap(),
        );
        expected.insert(*child, (happened, happened));
    }
    // 09:00: the reported absences of the day are confirmed (R-ABS-5).
    at(&tablet, lisa_id, local("2030-09-05 09:00"));
    let v = room(&tablet);
    assert_eq!(
        (v.totals.present, v.totals.absent, v.totals.expected),
        (10, 2, 0),
        "{:?}",
        v.totals
    );
    for first in ["Elsa", "Noah"] {
        let row = v.children.iter().find(|c| c.first_name == first).unwrap();
        let absence: &Absence = row.absence.as_ref().expect("reported");
        assert_eq!(absence.status, AbsenceStatus::Reported);
        ids.push(tablet.core.confirm_absence(absence.id).unwrap());
    }
    // A comment on a child's day, as Lisa.
    at(&tablet, lisa_id, local("2030-09-05 11:30"));
    let comment_id = tablet
        .core
        .comment_care_day(arriving[0], today, "Åt bra och sov en timme".into())
        .unwrap();
    ids.push(comment_id);
    // Departures 15:00…16:48; every fourth entered 10 minutes late.
    for (i, child) in arriving.iter().enumerate() {
        let happened = local("2030-09-05 15:00") + Duration::minutes(12 * i as i64);
        let edited = i % 4 == 1;
        at(
            &tablet,
            lisa_id,
            happened + Duration::minutes(if edited { 10 } else { 0 }),
        );
        ids.push(
            tablet
                .core
                .mark_attendance(*child, AttendanceKind::Departed, edited.then_some(happened))
                .unwrap(),
        );
        expected.get_mut(child).expect("arrived").1 = happened;
    }
    // 17:00: tomorrow's absence is confirmed too.
    at(&tablet, lisa_id, local("2030-09-05 17:00"));
    let v = tablet.core.room_view(Some(tomorrow), None).unwrap();
    let elsa_tomorrow = v
        .children
        .iter()
        .find(|c| c.child_id == elsa)
        .and_then(|c| c.absence.clone())
        .expect("Elsa's absence tomorrow");
    ids.push(tablet.core.confirm_absence(elsa_tomorrow.id).unwrap());
    assert_eq!(ids.len(), 24, "20 marks, 3 confirmations, 1 comment");

    // Offline, everything shows at once, marked pending.
    let v = room(&tablet);
    assert_eq!(
        (v.totals.departed, v.totals.absent, v.totals.present),
        (10, 2, 0),
        "{:?}",
        v.totals
    );
    for row in &v.children {
        assert!(row.pending, "{} pending", row.first_name);
        if let Some((arr, dep)) = expected.get(&row.child_id) {
            assert_eq!((row.arrived_at, row.departed_at), (Some(*arr), Some(*dep)));
        } else {
            assert_eq!(
                row.absence.as_ref().map(|a| a.status),
                Some(AbsenceStatus::Confirmed)
            );
        }
    }
    let detail = tablet.core.room_child(arriving[0], today).unwrap();
    assert_eq!(detail.comments.len(), 1);
    assert_eq!(
        detail.comments[0].author_id, lisa_id,
        "the actor, not the device"
    );
    let err = tablet.core.sync_now().await.unwrap_err();
    assert_eq!(err.code(), "network");
    let st = tablet.core.sync_status();
    assert!(st.pending >= 24 && !st.online, "{st:?}");

    // Back online at 17:05.
    server.set_clock(local("2030-09-05 17:05")).await;
    tablet.clock.set(local("2030-09-05 17:05"));
    tablet.proxy.restore();
    let st = tablet.core.sync_now().await.unwrap();
    assert_eq!(
        (st.pending, st.needs_attention, st.online),
        (0, 0, true),
        "{st:?}"
    );
    assert!(tablet.core.needs_attention().unwrap().is_empty());
    server.assert_all_applied(&ids).await;

    // Read back through a staff pull: one record per child and day, with the original times,
    // marked by Lisa.
    lisa.core.sync_now().await.unwrap();
    let staff_rows = server.snapshot("lisa").await;
    let marks = attendance_rows(&staff_rows);
    assert_eq!(marks.len(), 10, "{marks:?}");
    for m in &marks {
        let (arr, dep) = expected[&m.child_id];
        assert_eq!(m.date, today);
        assert_eq!(
            (m.arrived_at, m.departed_at),
            (Some(arr), Some(dep)),
            "{m:?}"
        );
        assert_eq!(m.updated_by, lisa_id);
    }
    for (child, date) in [(elsa, today), (elsa, tomorrow), (noah, today)] {
        let abs: Vec<Absence> = server
            .entities_in_scope("absence", &format!("child:{child}"))
            .await
            .into_iter()
            .map(|v| serde_json::from_value(v).expect("absence"))
            .filter(|a: &Absence| a.date == date)
            .collect();
        assert_eq!(abs.len(), 1);
        assert_eq!(abs[0].status, AbsenceStatus::Confirmed, "{abs:?}");
    }
    let comments = server
        .entities_in_scope("care_comment", &format!("care:{}", arriving[0]))
        .await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0]["author_id"], lisa_id.to_string());
    // The tablet's replica agrees with the staff pull, and shows nothing pending.
    let tablet_rows = tablet.core.replica_entities().unwrap();
    assert_eq!(attendance_rows(&tablet_rows), marks);
    let v = room(&tablet);
    assert!(v.children.iter().all(|c| !c.pending), "{v:?}");
    // The desktop sees the same room.
    let desk = lisa.core.room_view(Some(today), Some(blabar)).unwrap();
    assert_eq!(desk.totals, v.totals);

    // Syncing again changes nothing, on either side.
    let st = tablet.core.sync_now().await.unwrap();
    assert_eq!((st.pending, st.needs_attention), (0, 0));
    assert_eq!(tablet.core.replica_entities().unwrap(), tablet_rows);
    assert_eq!(server.snapshot("lisa").await, staff_rows);
}

// R-STAFF-3, R-ACC-3: five wrong PINs in a row, offline, lock the PIN on the tablet at once;
// once synced the server and a second tablet of the unit know it; only a password unlock
// (online) clears it, on every tablet.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_wrong_pins_offline_lock_the_pin_everywhere_until_a_password_unlock() {
    let (server, lisa, solrosen) = setup("08:00").await;
    let lisa_id = server.user_id("lisa").await;
    let now = local("2030-09-05 08:00");
    let a = Tablet::pair(&server, &lisa, solrosen, "Blåbär 1", now).await;
    let b = Tablet::pair(&server, &lisa, solrosen, "Blåbär 2", now).await;

    a.proxy.cut();
    assert_eq!(
        a.core.unlock_with_pin(lisa_id, "48").unwrap_err().code(),
        "invalid_input",
        "not a PIN: not an attempt"
    );
    for left in (1..=4).rev() {
        assert_eq!(
            a.core.unlock_with_pin(lisa_id, "1357").unwrap(),
            UnlockOutcome::WrongPin {
                attempts_left: left
            }
        );
    }
    assert_eq!(
        a.core.unlock_with_pin(lisa_id, "1357").unwrap(),
        UnlockOutcome::Locked
    );
    assert_eq!(
        a.core.unlock_with_pin(lisa_id, LISA_PIN).unwrap(),
        UnlockOutcome::Locked,
        "locked: even the right PIN does not open"
    );
    let st = a.core.tablet_state().unwrap();
    let row = st.staff.iter().find(|s| s.user_id == lisa_id).unwrap();
    assert!(
        row.locked && row.attempts_left == 0 && st.active.is_none(),
        "{st:?}"
    );
    assert_eq!(
        a.core.outbox().unwrap().len(),
        5,
        "five attempts queued, the sixth not counted"
    );
    assert_eq!(
        a.core
            .mark_attendance(Uuid::new_v4(), AttendanceKind::Arrived, None)
            .unwrap_err()
            .code(),
        "tablet_locked"
    );
    // Password unlock needs the network.
    assert_eq!(
        a.core
            .unlock_with_password("lisa", PASSWORD)
            .await
            .unwrap_err()
            .code(),
        "network"
    );

    a.proxy.restore();
    a.core.sync_now().await.unwrap();
    let ts = server
        .tablet_staff(solrosen, lisa_id)
        .await
        .expect("tablet_staff");
    assert!(ts.pin_state.locked, "{ts:?}");
    b.core.sync_now().await.unwrap();
    let row = b
        .core
        .tablet_state()
        .unwrap()
        .staff
        .into_iter()
        .find(|s| s.user_id == lisa_id)
        .unwrap();
    assert!(row.locked, "the second tablet sees the lock");
    assert_eq!(
        b.core.unlock_with_pin(lisa_id, LISA_PIN).unwrap(),
        UnlockOutcome::Locked
    );

    // R-ACC-2 on the tablet too.
    let err = b
        .core
        .unlock_with_password("lisa", "hub-demo-1 ")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_credentials");
    assert!(err.message().contains("white space"), "{err}");
    let st = b.core.unlock_with_password("lisa", PASSWORD).await.unwrap();
    assert_eq!(st.active.as_ref().map(|s| s.user_id), Some(lisa_id));
    let row = st.staff.iter().find(|s| s.user_id == lisa_id).unwrap();
    assert!(!row.locked && row.attempts_left == 5, "{row:?}");
    let ts = server.tablet_staff(solrosen, lisa_id).await.unwrap();
    assert!(!ts.pin_state.locked && ts.pin_state.failures == 0, "{ts:?}");
    // The first tablet learns it at its next sync and opens with the PIN again.
    a.core.sync_now().await.unwrap();
    assert_eq!(
        a.core.unlock_with_pin(lisa_id, LISA_PIN).unwrap(),
        UnlockOutcome::Unlocked
    );
}

// R-STAFF-2: a departure marked offline on one tablet passes its own check, but another
// tablet moved the arrival later meanwhile: the server refuses it (no_arrival), it lands in
// needs-attention and no longer shows, and nothing else is held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_departure_before_the_servers_arrival_needs_attention_with_no_arrival() {
    let (server, lisa, solrosen) = setup("09:05").await;
    let lisa_id = server.user_id("lisa").await;
    let now = local("2030-09-05 09:05");
    let a = Tablet::pair(&server, &lisa, solrosen, "Blåbär 1", now).await;
    let b = Tablet::pair(&server, &lisa, solrosen, "Blåbär 2", now).await;
    at(&a, lisa_id, now);
    at(&b, lisa_id, now);
    let elsa = child_in(&room(&a), "Elsa");

    a.core
        .mark_attendance(
            elsa,
            AttendanceKind::Arrived,
            Some(local("2030-09-05 07:30")),
        )
        .unwrap();
    a.core.sync_now().await.unwrap();
    b.core.sync_now().await.unwrap();
    b.proxy.cut();
    // The local check: no departure without an earlier arrival, refused at once.
    let err = b
        .core
        .mark_attendance(
            elsa,
            AttendanceKind::Departed,
            Some(local("2030-09-05 07:00")),
        )
        .unwrap_err();
    assert_eq!(err.code(), "no_arrival");
    let dep = b
        .core
        .mark_attendance(
            elsa,
            AttendanceKind::Departed,
            Some(local("2030-09-05 08:30")),
        )
        .unwrap();
    let noah = child_in(&room(&b), "Noah");
    let ok = b
        .core
        .mark_attendance(noah, AttendanceKind::Arrived, None)
        .unwrap();
    // Meanwhile the other tablet corrects Elsa's arrival to 09:00.
    a.core
        .mark_attendance(
            elsa,
            AttendanceKind::Arrived,
            Some(local("2030-09-05 09:00")),
        )
        .unwrap();
    a.core.sync_now().await.unwrap();

    b.proxy.restore();
    let st = b.core.sync_now().await.unwrap();
    assert_eq!((st.pending, st.needs_attention), (0, 1), "{st:?}");
    let att = b.core.needs_attention().unwrap();
    assert_eq!(
        (att[0].id, att[0].name.as_str(), att[0].code),
        (dep, "attendance.mark", RejectCode::NoArrival)
    );
    assert_eq!(att[0].args["kind"], "departed");
    assert_eq!(
        server.outcome(ok).await.map(|r| r.status),
        Some(MutationStatus::Applied)
    );
    let row = room(&b)
        .children
        .into_iter()
        .find(|c| c.child_id == elsa)
        .unwrap();
    assert_eq!(
        (row.arrived_at, row.departed_at, row.pending),
        (Some(local("2030-09-05 09:00")), None, false)
    );
}

// R-STAFF-3: a revoked device credential asks to be paired again and keeps the outbox;
// pairing again (same unit) sends it; unpairing refuses while changes are unsent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_tablet_needs_pairing_again_and_keeps_its_outbox() {
    let (server, lisa, solrosen) = setup("08:00").await;
    let lisa_id = server.user_id("lisa").await;
    let now = local("2030-09-05 08:00");
    let tablet = Tablet::pair(&server, &lisa, solrosen, "Blåbär iPad", now).await;
    at(&tablet, lisa_id, now);
    tablet.core.sync_now().await.unwrap();
    let elsa = child_in(&room(&tablet), "Elsa");
    let mark = tablet
        .core
        .mark_attendance(elsa, AttendanceKind::Arrived, None)
        .unwrap();
    let device_id = tablet.core.tablet_state().unwrap().device.id;

    let listed = lisa.core.devices().await.unwrap();
    assert!(listed
        .devices
        .iter()
        .any(|d| d.id == device_id && d.revoked_at.is_none()));
    lisa.core.revoke_device(device_id).await.unwrap();
    let err = tablet.core.sync_now().await.unwrap_err();
    assert_eq!(err.code(), "not_signed_in", "{err}");
    let st = tablet.core.sync_status();
    assert!(
        st.needs_sign_in && st.signed_in && st.pending == 1,
        "{st:?}"
    );
    assert_eq!(tablet.core.outbox().unwrap()[0].id, mark);
    let row = room(&tablet)
        .children
        .into_iter()
        .find(|c| c.child_id == elsa)
        .unwrap();
    assert!(
        row.arrived_at.is_some() && row.pending,
        "still shown: {row:?}"
    );
    let listed = lisa.core.devices().await.unwrap();
    assert!(listed
        .devices
        .iter()
        .any(|d| d.id == device_id && d.revoked_at.is_some()));
    let err = tablet.core.unpair_tablet(false).await.unwrap_err();
    assert_eq!(err.code(), "outbox_not_empty");

    // Paired again with a new code: the same replica, the outbox goes with the new credential.
    let code = lisa
        .core
        .create_pairing(solrosen)
        .await
        .unwrap()
        .code
        .unwrap();
    let wrong = if code.starts_with('A') {
        "BBBB-BBBB"
    } else {
        "AAAA-AAAA"
    };
    assert_eq!(
        tablet
            .core
            .pair_tablet(&tablet.proxy.url(), wrong, None)
            .await
            .unwrap_err()
            .code(),
        "pairing_invalid"
    );
    assert_eq!(
        tablet
            .core
            .pair_tablet(&tablet.proxy.url(), "0000-0000", None)
            .await
            .unwrap_err()
            .code(),
        "pairing_invalid",
        "refused before asking the server"
    );
    let st = tablet
        .core
        .pair_tablet(&tablet.proxy.url(), &code.to_lowercase(), None)
        .await
        .unwrap();
    assert_ne!(st.device.id, device_id);
    assert!(st.active.is_none(), "a new pairing starts locked");
    let status = tablet.core.sync_status();
    assert!(!status.needs_sign_in && status.pending == 0, "{status:?}");
    assert_eq!(
        server.outcome(mark).await.map(|r| r.status),
        Some(MutationStatus::Applied)
    );
    // A code is used once.
    assert_eq!(
        tablet
            .core
            .pair_tablet(&tablet.proxy.url(), &code, None)
            .await
            .unwrap_err()
            .code(),
        "pairing_invalid"
    );
}

// R-STAFF-3: a PIN session ends after 10 minutes without an action; actions extend it; it
// survives an app restart within the idle time; unpairing forgets the tablet for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pin_session_ends_after_ten_idle_minutes() {
    let (server, lisa, solrosen) = setup("08:00").await;
    let lisa_id = server.user_id("lisa").await;
    let t0 = local("2030-09-05 08:00");
    let min = |m: i64| t0 + Duration::minutes(m);
    let mut tablet = Tablet::pair(&server, &lisa, solrosen, "Blåbär iPad", t0).await;
    assert_eq!(
        tablet.core.unlock_with_pin(lisa_id, LISA_PIN).unwrap(),
        UnlockOutcome::Unlocked
    );
    let elsa = child_in(&room(&tablet), "Elsa");
    let noah = child_in(&room(&tablet), "Noah");

    tablet.clock.set(min(9));
    let active = tablet
        .core
        .tablet_state()
        .unwrap()
        .active
        .expect("still unlocked");
    assert_eq!((active.user_id, active.idle_until), (lisa_id, min(10)));
    room(&tablet); // reading does not extend the session
    tablet
        .core
        .mark_attendance(elsa, AttendanceKind::Arrived, None)
        .unwrap();
    tablet.clock.set(min(18));
    assert!(
        tablet.core.tablet_state().unwrap().active.is_some(),
        "the mark at 9 extended it"
    );
    tablet.core.touch();
    tablet.clock.set(min(27));
    assert!(
        tablet.core.tablet_state().unwrap().active.is_some(),
        "touched at 18"
    );
    tablet.clock.set(min(28));
    assert!(
        tablet.core.tablet_state().unwrap().active.is_none(),
        "10 idle minutes"
    );
    let before = tablet.core.outbox().unwrap().len();
    let err: CoreError = tablet
        .core
        .mark_attendance(noah, AttendanceKind::Arrived, None)
        .unwrap_err();
    assert_eq!(err.code(), "tablet_locked");
    assert_eq!(
        tablet.core.room_view(None, None).unwrap_err().code(),
        "tablet_locked"
    );
    assert_eq!(
        tablet.core.outbox().unwrap().len(),
        before,
        "nothing queued"
    );

    // Unlocked again, the app restarts 5 minutes later: still unlocked; 11 minutes: not.
    assert_eq!(
        tablet.core.unlock_with_pin(lisa_id, LISA_PIN).unwrap(),
        UnlockOutcome::Unlocked
    );
    tablet.clock.set(min(33));
    tablet.restart();
    assert!(tablet.core.session().is_none());
    let st = tablet
        .core
        .tablet_state()
        .expect("still paired after a restart");
    assert_eq!(st.active.map(|a| a.user_id), Some(lisa_id));
    tablet.clock.set(min(39));
    tablet.restart();
    assert!(tablet.core.tablet_state().unwrap().active.is_none());
    // Quick switch: lock by hand.
    assert_eq!(
        tablet.core.unlock_with_pin(lisa_id, LISA_PIN).unwrap(),
        UnlockOutcome::Unlocked
    );
    tablet.core.lock_tablet().unwrap();
    assert!(tablet.core.tablet_state().unwrap().active.is_none());

    // Unpairing: refused with unsent changes, unless forced; then nothing is left.
    tablet.proxy.cut();
    assert_eq!(
        tablet.core.unpair_tablet(false).await.unwrap_err().code(),
        "outbox_not_empty"
    );
    tablet.core.unpair_tablet(true).await.unwrap();
    assert!(tablet.core.tablet_state().is_none());
    assert_eq!(tablet.core.sync_status().pending, 0);
    tablet.restart();
    assert!(
        tablet.core.tablet_state().is_none(),
        "unpaired stays unpaired"
    );
    let replicas: Vec<_> = std::fs::read_dir(tablet.dir.path().join("replicas"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(replicas.is_empty(), "no children's data left: {replicas:?}");
}

// R-STAFF-3: staff set their PIN at a desktop (trivial ones refused at once, without asking
// the server); tablets use it after their next sync; without a PIN the tablet asks for the
// password. Only staff manage tablets, and only with their own sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pin_set_at_a_desktop_unlocks_the_tablets_after_a_sync() {
    let (server, lisa, solrosen) = setup("08:00").await;
    let lisa_id = server.user_id("lisa").await;
    let tablet = Tablet::pair(
        &server,
        &lisa,
        solrosen,
        "Blåbär iPad",
        local("2030-09-05 08:00"),
    )
    .await;
    lisa.proxy.cut();
    assert_eq!(
        lisa.core.set_pin("1234").await.unwrap_err().code(),
        "pin_trivial"
    );
    assert_eq!(
        lisa.core.set_pin("48a6").await.unwrap_err().code(),
        "invalid_input"
    );
    lisa.proxy.restore();
    lisa.core.set_pin("5093").await.unwrap();
    tablet.core.sync_now().await.unwrap();
    assert_eq!(
        tablet.core.unlock_with_pin(lisa_id, LISA_PIN).unwrap(),
        UnlockOutcome::WrongPin { attempts_left: 4 }
    );
    assert_eq!(
        tablet.core.unlock_with_pin(lisa_id, "5093").unwrap(),
        UnlockOutcome::Unlocked
    );

    lisa.core.clear_pin().await.unwrap();
    tablet.core.sync_now().await.unwrap();
    let st = tablet.core.tablet_state().unwrap();
    assert!(
        !st.staff
            .iter()
            .find(|s| s.user_id == lisa_id)
            .unwrap()
            .has_pin
    );
    assert_eq!(
        tablet.core.unlock_with_pin(lisa_id, "5093").unwrap(),
        UnlockOutcome::NoPin
    );
    let st = tablet
        .core
        .unlock_with_password("lisa", PASSWORD)
        .await
        .unwrap();
    assert_eq!(st.active.map(|a| a.user_id), Some(lisa_id));

    assert_eq!(
        tablet
            .core
            .create_pairing(solrosen)
            .await
            .unwrap_err()
            .code(),
        "not_signed_in",
        "a tablet's credential does not manage tablets"
    );
    let anna = Device::sign_in(&server, "anna", "anna").await;
    assert_eq!(anna.core.staff_units().unwrap_err().code(), "not_permitted");
    assert_eq!(
        anna.core.create_pairing(solrosen).await.unwrap_err().code(),
        "not_permitted"
    );
    assert_eq!(
        anna.core.room_view(None, None).unwrap_err().code(),
        "not_permitted"
    );
}
