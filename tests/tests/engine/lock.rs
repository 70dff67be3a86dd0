//! The same-day-change lock passing while a device is offline (R-CARE-3, R-TIME-1).

use domain::RejectCode;
use hub_tests::*;

use crate::day_view;

// R-CARE-3 + R-TIME-1: queued before midnight (the corrected device clock says the day is
// still open), sent after it: the server rejects with `day_locked` on its own clock, the
// mutation moves to the needs-attention journal in the transaction that records the answer,
// the overlay stops showing it, and the rejection does not block the queue behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_day_locked_while_offline_lands_in_needs_attention_with_day_locked() {
    let server = TestServer::start().await;
    server.set_clock(local("2030-09-03 23:50")).await; // Tuesday evening
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let elsa = anna.child("Elsa");
    let (wed, thu) = (d("2030-09-04"), d("2030-09-05"));

    anna.proxy.cut();
    let v = day_view(&anna, elsa, wed);
    assert!(
        !v.locked,
        "Wednesday is still open at Tuesday 23:50 server time: {v:?}"
    );
    let locked_id = anna
        .core
        .set_care_day(
            elsa,
            wed,
            vec![iv("08:00", "16:00")],
            Some("hämtas 16".into()),
        )
        .unwrap();
    let ok_id = anna
        .core
        .set_care_day(elsa, thu, vec![iv("09:00", "15:00")], None)
        .unwrap();
    let v = day_view(&anna, elsa, wed);
    assert!(
        v.pending && v.intervals == vec![iv("08:00", "16:00")],
        "{v:?}"
    );

    server.set_clock(local("2030-09-04 00:01")).await; // past midnight: Wednesday is locked
    anna.proxy.restore();
    let status = anna.core.sync_now().await.unwrap();
    assert_eq!((status.pending, status.needs_attention), (0, 1));

    let attention = anna.core.needs_attention().unwrap();
    assert_eq!(attention.len(), 1);
    let a = &attention[0];
    assert_eq!(
        (a.id, a.name.as_str(), a.code),
        (locked_id, "care.set_day", RejectCode::DayLocked)
    );
    assert_eq!(a.args["date"], "2030-09-04");
    assert!(a.rejected_at >= a.created_at);
    assert!(anna.core.outbox().unwrap().is_empty());

    // The overlay no longer shows it; the day is greyed on the corrected clock; Thursday,
    // queued after it, was applied.
    let v = day_view(&anna, elsa, wed);
    assert!(
        v.intervals.is_empty() && v.comment.is_none() && !v.pending && v.locked,
        "{v:?}"
    );
    let v = day_view(&anna, elsa, thu);
    assert!(
        v.intervals == vec![iv("09:00", "15:00")] && !v.pending && !v.locked,
        "{v:?}"
    );
    assert_eq!(
        server.outcome(ok_id).await.map(|r| r.status),
        Some(domain::wire::MutationStatus::Applied)
    );

    // The pre-check now refuses the locked day at once, with the same code.
    let err = anna
        .core
        .set_care_day(elsa, wed, vec![iv("08:00", "16:00")], None)
        .unwrap_err();
    assert_eq!(err.code(), "day_locked");
    assert_eq!(
        anna.core.outbox().unwrap().len(),
        0,
        "a refused change is not queued"
    );

    // Dismissing empties the journal.
    anna.core.dismiss_attention(locked_id).unwrap();
    assert!(anna.core.needs_attention().unwrap().is_empty());
    assert_eq!(anna.core.sync_status().needs_attention, 0);
}

// R-TIME-1: locks and the absence window are shown with the device clock corrected by the
// offset learned at the last sync, whatever the device clock says.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_prechecks_use_the_corrected_clock_and_the_servers_rules() {
    let server = crate::server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let (elsa, oskar) = (anna.child("Elsa"), anna.child("Oskar"));
    // The device clock is today's real date; the server says 2030-09-04.
    let offset = anna.core.sync_status().server_offset_ms;
    assert!(offset > 86_400_000, "offset learned: {offset}");
    let week = anna.core.care_week(elsa, d("2030-09-02")).unwrap();
    let locked: Vec<bool> = week.days.iter().map(|x| x.locked).collect();
    assert_eq!(locked, vec![true, true, true, false, false, false, false]);
    assert!(!week.week_editable, "R-CARE-4: the week has started");
    assert!(
        anna.core
            .care_week(elsa, d("2030-09-09"))
            .unwrap()
            .week_editable
    );
    let code = |r: Result<uuid::Uuid, app_core::CoreError>| r.unwrap_err().code();
    // R-ABS-1: today and tomorrow only.
    assert_eq!(
        code(anna.core.report_absence(oskar, d("2030-09-06"), None, None)),
        "absence_out_of_window"
    );
    // R-CARE-2: closed days and opening hours.
    assert_eq!(
        code(
            anna.core
                .set_care_day(elsa, d("2030-09-07"), vec![iv("08:00", "12:00")], None)
        ),
        "unit_closed"
    );
    assert_eq!(
        code(
            anna.core
                .set_care_day(elsa, d("2030-09-09"), vec![iv("06:00", "12:00")], None)
        ),
        "outside_opening_hours"
    );
    // R-CARE-1: intervals must not touch.
    assert_eq!(
        code(anna.core.set_care_day(
            elsa,
            d("2030-09-09"),
            vec![iv("08:00", "12:00"), iv("12:00", "16:00")],
            None
        )),
        "invalid_input"
    );
    // R-ACC-7: a child that is not hers.
    assert_eq!(
        code(
            anna.core
                .clear_care_day(uuid::Uuid::new_v4(), d("2030-09-09"))
        ),
        "not_permitted"
    );
    assert!(anna.core.outbox().unwrap().is_empty());
}
