//! `GET /v1/sync/events`: a `poke` whenever something in the caller's scope changed.

use std::time::{Duration, Instant};

use crate::support::{assert_applied, ids, server, set_day_args};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_scope_pokes_within_a_second_and_others_are_not_poked() {
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let erik = s.login("erik").await;
    let maria = s.login("maria").await;
    let mut anna_events = anna.events().await;
    let mut maria_events = maria.events().await;
    for (who, st) in [("anna", &mut anna_events), ("maria", &mut maria_events)] {
        let first = st.next_within(Duration::from_secs(2)).await.unwrap_or_else(|| panic!("{who}: no first event"));
        assert_eq!(first.event, "ready", "{who}: the stream starts with `ready`");
    }

    let pushed = Instant::now();
    assert_applied(&erik.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "15:00")])).await);
    let poke = anna_events.next_within(Duration::from_secs(1)).await.expect("Anna is poked within a second");
    assert_eq!(poke.event, "poke");
    assert!(pushed.elapsed() < Duration::from_secs(1));
    // Maria's scope was not touched.
    assert_eq!(maria_events.next_within(Duration::from_millis(500)).await, None, "Maria is not poked");

    // A change in Maria's scope pokes her (and Anna, whose children share the group).
    let lisa = s.login("lisa").await;
    assert_applied(&lisa.push_one("care.set_day", set_day_args(ids::noah(), "2026-11-26", &[("08:00", "15:00")])).await);
    let poke = maria_events.next_within(Duration::from_secs(1)).await.expect("Maria is poked");
    assert_eq!(poke.event, "poke");
    assert_eq!(anna_events.next_within(Duration::from_millis(300)).await, None, "Noah's care day is not Anna's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_growth_pokes_the_user_and_the_stream_follows_the_new_scope() {
    // ARCHITECTURE.md: SSE pokes every session whose scope changed.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let anna = s.login("anna").await;
    let maria = s.login("maria").await;
    let mut events = maria.events().await;
    assert_eq!(events.next_within(Duration::from_secs(2)).await.expect("ready").event, "ready");
    let (maria_id, elsa) = (maria.id(), ids::elsa());
    s.state.store.write(move |tx| tx.add_guardian(maria_id, elsa)).await.unwrap();
    assert_eq!(events.next_within(Duration::from_secs(1)).await.expect("poke on scope growth").event, "poke");
    // From now on, Elsa's changes reach Maria's open stream.
    assert_applied(&anna.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "15:00")])).await);
    assert_eq!(events.next_within(Duration::from_secs(1)).await.expect("poke for Elsa").event, "poke");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_needs_a_session() {
    let s = server().await;
    s.get("/v1/sync/events", None).await.assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_open_stream_of_a_changed_scope_is_poked_and_no_stream_of_another() {
    // Many phones of one family: each open stream is registered by the scopes it watches
    // (poke_fanout), and a closed one is taken out.
    let s = server().await;
    s.set_local("2026-11-25", "10:00:00").await;
    let (anna, erik, maria) = (s.login("anna").await, s.login("erik").await, s.login("maria").await);
    let (mut annas, mut marias) = (Vec::new(), Vec::new());
    for _ in 0..12 {
        annas.push(anna.events().await);
        marias.push(maria.events().await);
    }
    for st in annas.iter_mut().chain(marias.iter_mut()) {
        assert_eq!(st.next_within(Duration::from_secs(2)).await.expect("ready").event, "ready");
    }
    assert_eq!(s.state.streams.len(), 24);

    // Half of Anna's streams close; the server lets go of them.
    annas.truncate(6);
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.state.streams.len() > 18 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.state.streams.len(), 18, "the closed streams are no longer registered");

    assert_applied(&erik.push_one("care.set_day", set_day_args(ids::elsa(), "2026-11-26", &[("08:00", "15:00")])).await);
    for (i, st) in annas.iter_mut().enumerate() {
        let poke = st.next_within(Duration::from_secs(1)).await.unwrap_or_else(|| panic!("Anna's stream {i} is poked"));
        assert_eq!(poke.event, "poke");
    }
    // Maria's streams had as long as Anna's to hear of it.
    for (i, st) in marias.iter_mut().enumerate() {
        assert_eq!(st.next_within(Duration::from_millis(50)).await, None, "Maria's stream {i} is not poked");
    }
}
