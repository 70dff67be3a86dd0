//! Kill mid-sync: `hub-cli sync` SIGKILLed while pushing, 50 times over (issue 3).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use app_core::TokenStoreKind;
use domain::wire::MutationStatus;
use hub_tests::*;
use rand::{Rng, SeedableRng};

use crate::server;

// ARCHITECTURE.md: "The outbox survives crashes: a mutation is in SQLite before the UI
// reports it queued, and is sent until the server has answered it (same id on every retry)."
// Pushes are idempotent by id, and an answer leaves the outbox in the transaction recording
// it, so wherever the kill lands the server ends with each mutation exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_killed_mid_sync_50_times_leaves_each_mutation_applied_exactly_once() {
    let server = server().await;
    let proxy = Proxy::start(server.addr).await;
    // A slow link (each request chunk waits) widens the window in which a push is in flight.
    proxy.set_latency(10);
    let dir = tempfile::tempdir().unwrap();
    let core = open_core(dir.path(), TokenStoreKind::File);
    core.sign_in(&proxy.url(), "anna", PASSWORD).await.unwrap();
    let elsa = core
        .session()
        .unwrap()
        .children
        .iter()
        .find(|c| c.first_name == "Elsa")
        .unwrap()
        .id;
    let cli = hub_cli();
    let seed: u64 = std::env::var("HUB_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x4b11);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut ids = Vec::new();
    let (mut interrupted, mut applied_not_recorded, mut finished) = (0, 0, 0);
    for round in 0..50 {
        for j in 0..3 {
            ids.push(
                core.comment_care_day(elsa, d("2030-09-10"), format!("kill {round}.{j}"))
                    .unwrap(),
            );
        }
        let mut child = tokio::process::Command::new(&cli)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--token-store", "file", "sync"])
            .env("HUB_PUSH_BATCH", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn hub-cli");
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..160))).await;
        if child.try_wait().expect("try_wait").is_some() {
            finished += 1;
        }
        child.start_kill().ok(); // SIGKILL
        child.wait().await.expect("wait for hub-cli");
        let left = core.outbox().unwrap();
        if !left.is_empty() {
            interrupted += 1;
        }
        for o in &left {
            if server.outcome(o.id).await.is_some() {
                applied_not_recorded += 1;
            }
        }
    }
    eprintln!(
        "kill mid-sync (seed {seed:#x}): {interrupted}/50 kills left mutations queued, {finished} syncs finished first, \
         {applied_not_recorded} times the server had applied what the killed client had not recorded"
    );
    assert!(
        interrupted > 0,
        "no kill landed mid-sync: the test proves nothing"
    );

    // A last sync, not killed.
    let out = tokio::process::Command::new(&cli)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--token-store", "file", "sync"])
        .output()
        .await
        .expect("run hub-cli");
    assert!(
        out.status.success(),
        "final sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        core.outbox().unwrap().is_empty(),
        "the outbox is empty after a final sync"
    );
    assert!(core.needs_attention().unwrap().is_empty());

    for id in &ids {
        assert_eq!(
            server.outcome(*id).await.map(|r| r.status),
            Some(MutationStatus::Applied),
            "{id}"
        );
    }
    // Exactly once: each comment is a new entity on the server every time it is applied.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in server
        .entities_in_scope("care_comment", &format!("care:{elsa}"))
        .await
    {
        if let Some(t) = c["text"].as_str().filter(|t| t.starts_with("kill ")) {
            *counts.entry(t.to_string()).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), ids.len(), "every mutation applied");
    assert!(
        counts.values().all(|n| *n == 1),
        "each exactly once: {counts:?}"
    );
    core.sync_now().await.unwrap();
    assert_eq!(
        core.replica_entities().unwrap(),
        server.snapshot("anna").await
    );
}
