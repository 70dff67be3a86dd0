//! `hub-cli` scripting a staff tablet (R-STAFF-1…3): the same app-core calls the app makes,
//! from a terminal, against the real server.

use std::path::Path;
use std::process::Output;

use domain::wire::entity::{Attendance, CareComment};
use hub_tests::*;
use serde_json::Value;
use uuid::Uuid;

/// Runs `hub-cli --json` on the data folder `dir` (token in a 0600 file there).
async fn cli(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(hub_cli())
        .arg("--data-dir")
        .arg(dir)
        .args(["--token-store", "file", "--json"])
        .args(args)
        .output()
        .await
        .expect("run hub-cli")
}

/// The JSON a successful run printed.
async fn ok(dir: &Path, args: &[&str]) -> Value {
    let out = cli(dir, args).await;
    assert!(
        out.status.success(),
        "hub-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hub-cli {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A run that must fail: its stdout and its error line.
async fn refused(dir: &Path, args: &[&str]) -> (String, String) {
    let out = cli(dir, args).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        !out.status.success(),
        "hub-cli {args:?} should fail: {stdout}"
    );
    assert!(
        !stderr.contains("panicked"),
        "hub-cli {args:?} panicked: {stderr}"
    );
    (stdout, stderr)
}

fn queued(v: &Value) -> Uuid {
    serde_json::from_value(v["queued"].clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn row<'a>(room: &'a Value, first_name: &str) -> &'a Value {
    room["children"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["first_name"] == first_name))
        .unwrap_or_else(|| panic!("no {first_name} in the room: {room}"))
}

fn instant(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    serde_json::from_value(v.clone()).ok()
}

// R-STAFF-1, R-STAFF-2, R-STAFF-3 through hub-cli: Lisa at a desk creates a pairing code; a
// second data folder pairs with it as a tablet, starts locked, refuses a wrong PIN with the
// attempts left and unlocks with hers; the room lists today's children; the domain rule
// refuses a departure without arrival and a time more than 30 minutes ahead; an arrival at
// 07:45 and a departure at 09:30 entered later, and a comment, sync; the server and a
// guardian's pull have them with those times, done by Lisa.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tablet_scripted_with_hub_cli_pairs_unlocks_by_pin_and_syncs_marks_with_their_times() {
    let server = TestServer::start().await;
    // Thursday 5 September 2030, 10:00 in Stockholm.
    server.set_clock(local("2030-09-05 10:00")).await;
    let url = server.url();
    let lisa_id = server.user_id("lisa").await;
    let elsa = server.child_id("Elsa").await;
    let today = "2030-09-05";

    let desk = tempfile::tempdir().unwrap();
    let sign_in = [
        "sign-in",
        "--server",
        &url,
        "--username",
        "lisa",
        "--password",
        PASSWORD,
    ];
    let session = ok(desk.path(), &sign_in).await;
    assert_eq!(session["user"]["username"], "lisa", "{session}");
    let pairing = ok(desk.path(), &["create-pairing", "--unit", "Solrosen"]).await;
    assert_eq!(pairing["unit"]["name"], "Solrosen förskola", "{pairing}");
    let code = pairing["code"].as_str().expect("the code").to_string();

    let tab = tempfile::tempdir().unwrap();
    let t = tab.path();
    let pair = [
        "pair",
        "--server",
        &url,
        "--code",
        &code,
        "--name",
        "Blåbär iPad",
    ];
    let state = ok(t, &pair).await;
    assert_eq!(state["device"]["name"], "Blåbär iPad", "{state}");
    assert_eq!(state["device"]["unit"]["name"], "Solrosen förskola");
    assert!(state["active"].is_null(), "a new pairing starts locked");
    let devices = ok(desk.path(), &["devices"]).await;
    assert_eq!(devices["devices"][0]["name"], "Blåbär iPad", "{devices}");

    let (_, err) = refused(t, &["room"]).await;
    assert!(err.contains("(tablet_locked)"), "{err}");
    let (out, err) = refused(t, &["unlock", "--staff", "Lisa", "--pin", "1357"]).await;
    assert!(
        err.contains("4 attempt(s) left") && err.contains("(wrong_pin)"),
        "{err}"
    );
    let outcome: Value = serde_json::from_str(&out).expect("the outcome as JSON");
    assert_eq!(
        outcome,
        serde_json::json!({"outcome": "wrong_pin", "attempts_left": 4})
    );
    let (_, err) = refused(t, &["unlock", "--staff", "Lisa", "--pin", "48"]).await;
    assert!(err.contains("(invalid_input)"), "not a PIN: {err}");
    let outcome = ok(t, &["unlock", "--staff", "Lisa", "--pin", "4826"]).await;
    assert_eq!(outcome["outcome"], "unlocked");
    let state = ok(t, &["tablet"]).await;
    assert_eq!(state["active"]["user_id"], lisa_id.to_string(), "{state}");

    let room = ok(t, &["room"]).await;
    assert_eq!(
        (room["date"].as_str(), room["today"].as_str()),
        (Some(today), Some(today))
    );
    let e = row(&room, "Elsa");
    assert_eq!(e["child_id"], elsa.to_string());
    assert!(
        e["arrived_at"].is_null() && e["departed_at"].is_null(),
        "{e}"
    );
    row(&room, "Noah");

    // The shared domain rule (R-STAFF-2), as in the app: nothing is queued.
    let (_, err) = refused(t, &["mark-departed", "--child", "Noah", "--at", "09:00"]).await;
    assert!(err.contains("(no_arrival)"), "{err}");
    let (_, err) = refused(t, &["mark-arrived", "--child", "Elsa", "--at", "10:45"]).await;
    assert!(err.contains("(time_in_future)"), "{err}");
    let (_, err) = refused(t, &["mark-arrived", "--child", "Elsa", "--at", "7:45"]).await;
    assert!(err.contains("(invalid_input)"), "{err}");
    let (_, err) = refused(t, &["mark-arrived", "--child", "Nobody"]).await;
    assert!(err.contains("no child named"), "{err}");
    let outbox = ok(t, &["outbox"]).await;
    assert!(
        outbox
            .as_array()
            .expect("a list")
            .iter()
            .all(|o| o["name"] == "staff.pin_attempt"),
        "only the two PIN attempts: {outbox}"
    );

    // Entered later, with the times they happened.
    let mut ids = vec![
        queued(&ok(t, &["mark-arrived", "--child", "Elsa", "--at", "07:45"]).await),
        queued(&ok(t, &["mark-departed", "--child", "elsa", "--at", "09:30"]).await),
    ];
    let text = "Åt bra och sov en timme";
    let comment = [
        "comment", "--child", "Elsa", "--date", today, "--text", text,
    ];
    ids.push(queued(&ok(t, &comment).await));
    let (arrived, departed) = (local("2030-09-05 07:45"), local("2030-09-05 09:30"));
    let room = ok(t, &["room"]).await;
    let e = row(&room, "Elsa");
    assert_eq!(
        (instant(&e["arrived_at"]), instant(&e["departed_at"])),
        (Some(arrived), Some(departed)),
        "{e}"
    );
    assert_eq!(
        (e["pending"].as_bool(), e["comments"].as_u64()),
        (Some(true), Some(1))
    );

    let st = ok(t, &["sync"]).await;
    assert_eq!(
        (st["pending"].as_u64(), st["needs_attention"].as_u64()),
        (Some(0), Some(0)),
        "{st}"
    );
    assert_eq!(ok(t, &["attention"]).await, serde_json::json!([]));
    assert_eq!(ok(t, &["outbox"]).await, serde_json::json!([]));
    let st = ok(t, &["status"]).await;
    assert_eq!(
        (st["signed_in"].as_bool(), st["pending"].as_u64()),
        (Some(true), Some(0))
    );
    server.assert_all_applied(&ids).await;

    // A guardian's pull has the marks with their times, done by Lisa, and her comment.
    let anna = server.snapshot("anna").await;
    let marks: Vec<Attendance> = anna
        .iter()
        .filter(|(ty, _, _)| ty == "attendance")
        .map(|(_, _, v)| serde_json::from_value(v.clone()).expect("attendance"))
        .filter(|a: &Attendance| a.child_id == elsa)
        .collect();
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(marks[0].date, d(today));
    assert_eq!(
        (marks[0].arrived_at, marks[0].departed_at),
        (Some(arrived), Some(departed))
    );
    assert_eq!(marks[0].updated_by, lisa_id);
    let comments: Vec<CareComment> = anna
        .iter()
        .filter(|(ty, _, _)| ty == "care_comment")
        .map(|(_, _, v)| serde_json::from_value(v.clone()).expect("care comment"))
        .filter(|c: &CareComment| c.child_id == elsa && c.text == text)
        .collect();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(
        comments[0].author_id, lisa_id,
        "the staff member, not the device"
    );
    // The tablet reads back the server's state: nothing pending.
    let room = ok(t, &["room"]).await;
    let e = row(&room, "Elsa");
    assert_eq!(e["pending"], false, "{e}");
    assert_eq!(instant(&e["departed_at"]), Some(departed));
}
