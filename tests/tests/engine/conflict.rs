//! Two guardians, one child, both offline (R-CARE-7, R-ABS-8).

use hub_tests::*;

use crate::{day_view, server};

// R-CARE-7: the server applies in arrival order, the last writer wins, the day records who
// set it, and the device whose edit was overwritten shows the current value and who set it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_guardians_editing_the_same_day_offline_converge_to_the_last_writer() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let erik = Device::sign_in(&server, "erik", "erik").await;
    let elsa = anna.child("Elsa");
    let day = d("2030-09-10");

    anna.proxy.cut();
    erik.proxy.cut();
    anna.core
        .set_care_day(elsa, day, vec![iv("08:00", "16:00")], None)
        .unwrap();
    erik.core
        .set_care_day(
            elsa,
            day,
            vec![iv("07:00", "15:00")],
            Some("morfar hämtar".into()),
        )
        .unwrap();
    // Each sees their own change at once (offline).
    assert_eq!(
        day_view(&anna, elsa, day).intervals,
        vec![iv("08:00", "16:00")]
    );
    assert_eq!(
        day_view(&erik, elsa, day).intervals,
        vec![iv("07:00", "15:00")]
    );

    // Anna's arrives first, Erik's last.
    anna.proxy.restore();
    anna.core.sync_now().await.unwrap();
    erik.proxy.restore();
    erik.core.sync_now().await.unwrap();
    anna.core.sync_now().await.unwrap();

    let a = day_view(&anna, elsa, day);
    let e = day_view(&erik, elsa, day);
    for v in [&a, &e] {
        assert_eq!(v.intervals, vec![iv("07:00", "15:00")]);
        assert_eq!(v.comment.as_deref(), Some("morfar hämtar"));
        assert_eq!(v.updated_by_name.as_deref(), Some("Erik Lind"));
        assert!(!v.pending);
    }
    assert!(
        a.updated_by_other,
        "Anna's edit was overwritten: her device says who set the day"
    );
    assert!(!e.updated_by_other);
    for dev in [&anna, &erik] {
        assert!(
            dev.core.needs_attention().unwrap().is_empty(),
            "last writer wins: no rejection"
        );
    }
    let care_day = domain::wire::entity::care_day_id(elsa, day);
    let pick = |rows: Vec<(String, uuid::Uuid, serde_json::Value)>| {
        rows.into_iter().find(|(_, id, _)| *id == care_day)
    };
    let on_server = pick(server.snapshot("anna").await).expect("the day on the server");
    assert_eq!(
        pick(anna.core.replica_entities().unwrap()).as_ref(),
        Some(&on_server)
    );
    assert_eq!(
        pick(erik.core.replica_entities().unwrap()).as_ref(),
        Some(&on_server)
    );
    assert_eq!(
        anna.core.replica_entities().unwrap(),
        server.snapshot("anna").await
    );
    assert_eq!(
        erik.core.replica_entities().unwrap(),
        server.snapshot("erik").await
    );
}

// R-ABS-8: two reports of the same whole day (both guardians, offline) yield one absence and
// neither guardian sees an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_guardians_reporting_the_same_day_offline_yield_one_absence() {
    let server = server().await;
    let anna = Device::sign_in(&server, "anna", "anna").await;
    let erik = Device::sign_in(&server, "erik", "erik").await;
    let oskar = anna.child("Oskar");
    let tomorrow = d("2030-09-05");
    anna.proxy.cut();
    erik.proxy.cut();
    anna.core
        .report_absence(oskar, tomorrow, None, Some("feber".into()))
        .unwrap();
    erik.core
        .report_absence(oskar, tomorrow, None, None)
        .unwrap();
    let view = anna.core.absences(oskar).unwrap();
    assert_eq!(
        (view.today, view.tomorrow),
        (d("2030-09-04"), tomorrow),
        "R-ABS-1 on the corrected clock"
    );
    assert!(view
        .history
        .iter()
        .any(|h| h.absence.date == tomorrow && h.pending));
    for dev in [&anna, &erik] {
        dev.proxy.restore();
        dev.core.sync_now().await.unwrap();
    }
    anna.core.sync_now().await.unwrap();
    for dev in [&anna, &erik] {
        assert!(dev.core.needs_attention().unwrap().is_empty());
        let h: Vec<_> = dev
            .core
            .absences(oskar)
            .unwrap()
            .history
            .into_iter()
            .filter(|h| h.absence.date == tomorrow)
            .collect();
        assert_eq!(h.len(), 1, "{}: one absence", dev.name);
        assert!(!h[0].pending);
        assert_eq!(h[0].absence.comment.as_deref(), Some("feber"));
    }
    assert_eq!(
        server
            .entities_in_scope("absence", &format!("child:{oskar}"))
            .await
            .len(),
        1
    );
}
