//! A seeded random simulation: several devices, random operations, network cuts, lost
//! answers, 503s, restarts and the clock moving on; then everyone syncs and every replica
//! must equal the server (issue 3). `HUB_SIM_SEED` and `HUB_SIM_STEPS` change the run.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use domain::repeat::{DayTemplate, Repeat};
use domain::wire::{AbsenceConfirm, Mutation, MutationStatus};
use hub_tests::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::wednesday;

struct Dev {
    d: Device,
    children: Vec<Uuid>,
    /// Every mutation id an API call returned.
    queued: Vec<Uuid>,
}

fn random_intervals(rng: &mut StdRng) -> Vec<domain::interval::Interval> {
    let t = |h: u32, m: u32| format!("{h:02}:{m:02}");
    match rng.gen_range(0..10) {
        // Mostly valid, within 06:30–17:30 (both units' hours).
        0..=6 => {
            let start = rng.gen_range(7..11);
            let end = rng.gen_range(start + 1..17);
            vec![iv(&t(start, 0), &t(end, 30))]
        }
        7 | 8 => vec![
            iv("07:00", "09:00"),
            iv(&t(rng.gen_range(13..15), 0), "16:00"),
        ],
        // Outside the hours: the pre-check refuses it.
        _ => vec![iv("05:00", "12:00")],
    }
}

fn random_day(rng: &mut StdRng, today: NaiveDate) -> NaiveDate {
    today + Duration::days(rng.gen_range(-1..14))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_devices_ops_and_network_cuts_converge_to_the_server() {
    let seed: u64 = std::env::var("HUB_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20300904);
    let steps: usize = std::env::var("HUB_SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut rng = StdRng::seed_from_u64(seed);
    let server = crate::server().await;
    let mut now = wednesday();

    let mut devs = Vec::new();
    for (name, user) in [
        ("anna-phone", "anna"),
        ("anna-tablet", "anna"),
        ("erik", "erik"),
        ("maria", "maria"),
        ("lisa", "lisa"),
    ] {
        let d = Device::sign_in(&server, name, user).await;
        // Small pages exercise paging and multi-page bootstraps.
        d.core
            .set_batch_sizes(rng.gen_range(1..20), Some(rng.gen_range(5..50)));
        let children: Vec<Uuid> = d
            .core
            .replica_entities()
            .unwrap()
            .into_iter()
            .filter(|(t, _, _)| t == "child")
            .map(|(_, id, _)| id)
            .collect();
        assert!(!children.is_empty(), "{name} sees children");
        devs.push(Dev {
            d,
            children,
            queued: Vec::new(),
        });
    }

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..steps {
        let i = rng.gen_range(0..devs.len());
        let today =
            domain::time::local_date(devs[i].d.core.server_now(), domain::time::DEFAULT_TIME_ZONE);
        let dev = &mut devs[i];
        let core = dev.d.core.clone();
        let child = *dev.children.choose(&mut rng).unwrap();
        let roll = rng.gen_range(0..100);
        let (op, r): (&str, Option<Result<Uuid, app_core::CoreError>>) = match roll {
            0..=24 => {
                let comment = rng
                    .gen_bool(0.3)
                    .then(|| format!("kommentar {}", rng.gen::<u16>()));
                (
                    "set_day",
                    Some(core.set_care_day(
                        child,
                        random_day(&mut rng, today),
                        random_intervals(&mut rng),
                        comment,
                    )),
                )
            }
            25..=32 => (
                "clear_day",
                Some(core.clear_care_day(child, random_day(&mut rng, today))),
            ),
            33..=39 => {
                let monday = domain::time::monday_of(today) + Duration::weeks(rng.gen_range(0..3));
                let mut days: Vec<DayTemplate> = Vec::new();
                for weekday in 1..=5u8 {
                    if rng.gen_bool(0.7) {
                        let intervals = if rng.gen_bool(0.8) {
                            random_intervals(&mut rng)
                        } else {
                            vec![]
                        };
                        days.push(DayTemplate {
                            weekday,
                            intervals,
                            comment: None,
                        });
                    }
                }
                let repeat = rng.gen_bool(0.4).then(|| Repeat {
                    every_weeks: rng.gen_range(1..3),
                    count: Some(rng.gen_range(1..4)),
                    until: None,
                });
                (
                    "set_week",
                    Some(core.set_care_week(child, monday, days, repeat)),
                )
            }
            40..=47 => (
                "comment",
                Some(core.comment_care_day(
                    child,
                    random_day(&mut rng, today),
                    format!("hej {}", rng.gen::<u16>()),
                )),
            ),
            48..=55 => {
                let date = today + Duration::days(rng.gen_range(-1..3));
                let comment = rng.gen_bool(0.5).then(|| "sjuk".to_string());
                (
                    "absence",
                    Some(core.report_absence(child, date, None, comment)),
                )
            }
            56..=58 => {
                // Staff confirm a reported absence (the one of a random recent day).
                let date = today + Duration::days(rng.gen_range(-1..2));
                let absence_id = domain::wire::entity::absence_id(child, date);
                (
                    "confirm",
                    Some(core.submit(Mutation::AbsenceConfirm(AbsenceConfirm { absence_id }))),
                )
            }
            59..=64 => match core.talks(child) {
                Ok(t) if !t.bookings.is_empty() && rng.gen_bool(0.5) => (
                    "cancel_talk",
                    Some(core.cancel_talk(t.bookings.choose(&mut rng).unwrap().booking.id)),
                ),
                Ok(t) if !t.slots.is_empty() => (
                    "book_talk",
                    Some(core.book_talk(
                        t.slots.choose(&mut rng).unwrap().id,
                        child,
                        Some("hej".into()),
                    )),
                ),
                _ => ("talks_none", None),
            },
            65..=68 => {
                let unread: Vec<Uuid> = core
                    .notifications(None)
                    .unwrap()
                    .into_iter()
                    .filter(|n| !n.read)
                    .map(|n| n.id)
                    .take(3)
                    .collect();
                if unread.is_empty() {
                    ("read_none", None)
                } else {
                    ("read", Some(core.mark_notifications_read(unread)))
                }
            }
            69..=82 => {
                let _ = core.sync_now().await;
                ("sync", None)
            }
            83..=91 => {
                let net = *[
                    Net::Up,
                    Net::Up,
                    Net::Down,
                    Net::Down,
                    Net::Fail503,
                    Net::LoseAnswers,
                ]
                .choose(&mut rng)
                .unwrap();
                dev.d.proxy.set(net);
                ("network", None)
            }
            92..=94 => {
                // The server's clock moves on (locks pass while devices are offline).
                now += Duration::minutes(rng.gen_range(60..600));
                server.set_clock(now).await;
                ("clock", None)
            }
            _ => {
                dev.d.restart();
                ("restart", None)
            }
        };
        *counts.entry(op).or_default() += 1;
        match r {
            Some(Ok(id)) => dev.queued.push(id),
            Some(Err(e)) => {
                *counts.entry("refused_locally").or_default() += 1;
                assert!(
                    e.reject_code().is_some() || e.code() == "storage",
                    "{op}: unexpected {e}"
                );
            }
            None => {}
        }
    }

    // Everyone back online; sync until nothing is left, then once more so every device has
    // pulled what the others pushed last.
    for dev in &devs {
        dev.d.proxy.restore();
    }
    for round in 0..2 {
        for dev in &devs {
            dev.d
                .core
                .sync_now()
                .await
                .unwrap_or_else(|e| panic!("{} round {round}: {e}", dev.d.name));
        }
    }
    let mut applied = 0;
    let mut rejected = 0;
    for dev in &devs {
        let name = &dev.d.name;
        assert!(
            dev.d.core.outbox().unwrap().is_empty(),
            "{name}: outbox empty"
        );
        let attention: BTreeMap<Uuid, domain::RejectCode> = dev
            .d
            .core
            .needs_attention()
            .unwrap()
            .into_iter()
            .map(|a| (a.id, a.code))
            .collect();
        // Nothing dropped silently: every queued mutation was applied, or rejected and in
        // the journal with the server's code.
        for id in &dev.queued {
            let r = server
                .outcome(*id)
                .await
                .unwrap_or_else(|| panic!("{name}: {id} never reached the server"));
            match r.status {
                MutationStatus::Applied => {
                    applied += 1;
                    assert!(
                        !attention.contains_key(id),
                        "{name}: applied {id} in the journal"
                    );
                }
                MutationStatus::Rejected => {
                    rejected += 1;
                    assert_eq!(
                        attention.get(id).copied(),
                        r.code,
                        "{name}: rejected {id} journaled with its code"
                    );
                }
            }
        }
        assert_eq!(
            attention.len(),
            dev.queued
                .iter()
                .filter(|id| attention.contains_key(id))
                .count()
        );
        // Every replica equals what the server says its user may see.
        let replica = dev.d.core.replica_entities().unwrap();
        let snapshot = server.snapshot(&dev.d.username).await;
        if replica != snapshot {
            let only_in = |x: &[(String, Uuid, serde_json::Value)],
                           y: &[(String, Uuid, serde_json::Value)]| {
                x.iter()
                    .filter(|r| !y.contains(r))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            panic!(
                "{name}: replica differs from the server\nonly in replica: {:#?}\nonly on server: {:#?}",
                only_in(&replica, &snapshot),
                only_in(&snapshot, &replica)
            );
        }
        // And the views show no pending change.
        for &child in &dev.children {
            let w = dev
                .d
                .core
                .care_week(
                    child,
                    domain::time::local_date(now, domain::time::DEFAULT_TIME_ZONE),
                )
                .unwrap();
            assert!(w.days.iter().all(|x| !x.pending), "{name}: nothing pending");
        }
    }
    assert_eq!(
        devs[0].d.core.replica_entities().unwrap(),
        devs[1].d.core.replica_entities().unwrap()
    );
    eprintln!(
        "simulation seed {seed}, {steps} steps: {counts:?}; {applied} applied, {rejected} rejected"
    );
    assert!(applied > 0);
}
