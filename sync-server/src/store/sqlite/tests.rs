//! The SQLite store's unit tests. First the deferred savepoints ([`Frame`]): whatever the
//! order of savepoints, writes, releases and rollbacks, the database ends as it would
//! with a real savepoint each.

use std::any::Any;
use std::sync::Arc;

use chrono::Utc;
use domain::wire::MutationResult;
use rusqlite::{Connection, OptionalExtension};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::store::{ChildRow, StoreError, Tx};

use super::tx::{MERGE_SLOTS, OUTCOMES_PER_STATEMENT, SqliteTx};
use super::writer::run_job;
use super::{exec, migrate};

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    migrate(&conn).unwrap();
    exec(&conn, "BEGIN IMMEDIATE").unwrap();
    conn
}

fn json(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_string()).unwrap()
}

/// (seq, deleted, data) of an entity as the database holds it, bypassing the frames.
fn stored(conn: &Connection, id: Uuid) -> Option<(i64, bool, Option<String>)> {
    conn.query_row(
        "SELECT seq, deleted, data FROM entities WHERE type = 'news' AND id = ?1",
        [id.to_string()],
        |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?)),
    )
    .optional()
    .unwrap()
}

const A: Uuid = Uuid::from_u128(1);
const B: Uuid = Uuid::from_u128(2);
const C: Uuid = Uuid::from_u128(3);

#[test]
fn a_rolled_back_mutation_writes_nothing_and_gives_its_seq_back() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    let start = tx.max_seq().unwrap();
    tx.savepoint().unwrap();
    assert_eq!(
        tx.put_entity("news", A, "unit:x", &json(r#"{"a":1}"#))
            .unwrap(),
        start + 1
    );
    assert_eq!(
        tx.get_entity("news", A)
            .unwrap()
            .unwrap()
            .data
            .as_deref(),
        Some(r#"{"a":1}"#)
    );
    assert_eq!(stored(&conn, A), None, "waits for the release");
    tx.rollback_savepoint().unwrap();
    assert!(tx.get_entity("news", A).unwrap().is_none());
    assert_eq!(tx.next_seq().unwrap(), start + 1);
    assert_eq!(stored(&conn, A), None);
}

#[test]
fn a_released_mutation_is_written_with_the_seq_it_was_given() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.savepoint().unwrap();
    let seq = tx
        .put_entity("news", A, "unit:x", &json(r#"{"a":1}"#))
        .unwrap();
    tx.put_entity("news", A, "unit:x", &json(r#"{"a":2}"#))
        .unwrap();
    let last = tx
        .put_entity("news", B, "unit:x", &json(r#"{"b":1}"#))
        .unwrap();
    tx.release_savepoint().unwrap();
    assert_eq!(
        stored(&conn, A),
        Some((seq + 1, false, Some(r#"{"a":2}"#.into())))
    );
    assert_eq!(
        stored(&conn, B),
        Some((last, false, Some(r#"{"b":1}"#.into())))
    );
    assert!(tx.deferred.is_idle());
}

#[test]
fn an_entity_created_and_deleted_in_one_job_ends_as_a_tombstone_and_put_again_as_the_last_put() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.savepoint().unwrap();
    tx.put_entity("news", A, "unit:x", &json(r#"{"a":1}"#)).unwrap();
    assert!(tx.delete_entity("news", A).unwrap());
    let b1 = tx.put_entity("news", B, "unit:x", &json(r#"{"b":1}"#)).unwrap();
    assert!(tx.delete_entity("news", B).unwrap());
    let b3 = tx.put_entity("news", B, "unit:y", &json(r#"{"b":3}"#)).unwrap();
    tx.release_savepoint().unwrap();
    assert_eq!(stored(&conn, A).map(|r| (r.1, r.2)), Some((true, None)), "the delete marks the new row");
    assert_eq!(stored(&conn, B), Some((b3, false, Some(r#"{"b":3}"#.into()))));
    assert_eq!(b3, b1 + 2);
    let scope: String =
        conn.query_row("SELECT scope FROM entities WHERE id = ?1", [B.to_string()], |r| r.get(0)).unwrap();
    assert_eq!(scope, "unit:y");
}

#[test]
fn a_delete_waits_with_the_writes_and_reads_as_a_tombstone() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.put_entity("news", A, "unit:x", &json("{}")).unwrap();
    tx.savepoint().unwrap();
    assert!(tx.delete_entity("news", A).unwrap());
    let row = tx.get_entity("news", A).unwrap().unwrap();
    assert!(row.deleted && row.data.is_none());
    assert!(!tx.delete_entity("news", A).unwrap(), "already deleted");
    assert_eq!(stored(&conn, A).map(|r| r.1), Some(false));
    tx.release_savepoint().unwrap();
    assert_eq!(stored(&conn, A).map(|r| (r.1, r.2)), Some((true, None)));
}

#[test]
fn another_write_opens_the_savepoint_and_a_rollback_undoes_both() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.savepoint().unwrap();
    tx.put_entity("news", A, "unit:x", &json("{}")).unwrap();
    tx.put_scope_set("h1", &["unit:x".to_string()]).unwrap();
    assert!(tx.deferred.opened_at(0));
    assert!(stored(&conn, A).is_some(), "written inside the savepoint");
    tx.put_entity("news", B, "unit:x", &json("{}")).unwrap();
    tx.rollback_savepoint().unwrap();
    assert_eq!((stored(&conn, A), stored(&conn, B)), (None, None));
    assert!(!tx.has_scope_set("h1").unwrap());
}

#[test]
fn a_query_over_entities_sees_the_pending_writes() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.savepoint().unwrap();
    tx.put_entity("news", A, "unit:x", &json("{}")).unwrap();
    assert_eq!(tx.entities_in_scope("news", "unit:x").unwrap().len(), 1);
    let mut seen = Vec::new();
    tx.changes(&["unit:x".into()], 0, None, None, true, &mut |r| {
        seen.push(r.id);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, [A]);
    tx.release_savepoint().unwrap();
    assert!(stored(&conn, A).is_some());
}

#[test]
fn changes_are_visited_in_seq_order_across_scopes_up_to_the_limit() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    // Seven entities over three scopes, interleaved; the fourth becomes a tombstone.
    let scopes = ["unit:a", "unit:b", "unit:c", "unit:a", "unit:c", "unit:b", "unit:a"];
    let ids: Vec<Uuid> = (10..17).map(Uuid::from_u128).collect();
    for (id, scope) in ids.iter().zip(scopes) {
        tx.put_entity("news", *id, scope, &json("{\"n\":1}")).unwrap();
    }
    tx.delete_entity("news", ids[3]).unwrap();
    let visit = |tx: &mut SqliteTx<'_>, scopes: &[&str], after: i64, limit: Option<u32>, live_only: bool| {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let mut seen = Vec::new();
        tx.changes(&scopes, after, None, limit, live_only, &mut |r| {
            assert_eq!((r.entity_type, r.deleted, r.data.is_some()), ("news", r.id == ids[3], r.id != ids[3]));
            seen.push((r.seq, r.id));
            Ok(())
        })
        .unwrap();
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "in seq order: {seen:?}");
        seen.into_iter().map(|(_, id)| ids.iter().position(|i| *i == id).unwrap()).collect::<Vec<_>>()
    };
    // A scope named twice gives its rows once; the tombstone (moved to the end) is a change.
    assert_eq!(visit(&mut tx, &["unit:a", "unit:b", "unit:c", "unit:a"], 0, None, false), [0, 1, 2, 4, 5, 6, 3]);
    assert_eq!(visit(&mut tx, &["unit:c", "unit:a"], 0, Some(3), false), [0, 2, 4]);
    assert_eq!(visit(&mut tx, &["unit:a", "unit:b", "unit:c"], 0, None, true), [0, 1, 2, 4, 5, 6]);
    let after = tx.get_entity("news", ids[2]).unwrap().unwrap().seq;
    assert_eq!(visit(&mut tx, &["unit:b", "unit:a"], after, Some(2), false), [5, 6]);
    assert_eq!(visit(&mut tx, &["unit:b"], 0, Some(0), false), Vec::<usize>::new());
    assert_eq!(visit(&mut tx, &[], 0, None, false), Vec::<usize>::new());
}

#[test]
fn a_caller_with_more_scopes_than_merge_slots_gets_the_same_changes_in_the_same_order() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    let scopes: Vec<String> = (0..MERGE_SLOTS + 8).map(|i| format!("child:{i}")).collect();
    // Three entities per scope, written round-robin so that every scope's rows interleave.
    let mut written = Vec::new();
    for round in 0..3u128 {
        for (i, scope) in scopes.iter().enumerate() {
            let id = Uuid::from_u128(10_000 + round * 1000 + i as u128);
            tx.put_entity("news", id, scope, &json("{}")).unwrap();
            written.push(id);
        }
    }
    tx.delete_entity("news", written[5]).unwrap();
    let tombstone = written.remove(5);
    written.push(tombstone);
    let visit = |tx: &mut SqliteTx<'_>, scopes: &[String], limit: Option<u32>, live_only: bool| {
        let mut seen = Vec::new();
        tx.changes(scopes, 0, None, limit, live_only, &mut |r| {
            seen.push(r.id);
            Ok(())
        })
        .unwrap();
        seen
    };
    // Read in turn (more scopes than slots) and merged (as many as the slots) alike.
    assert_eq!(visit(&mut tx, &scopes, None, false), written);
    assert_eq!(visit(&mut tx, &scopes, Some(50), false), written[..50]);
    assert_eq!(visit(&mut tx, &scopes, None, true), written[..written.len() - 1]);
    let few = &scopes[..MERGE_SLOTS];
    let in_few: Vec<Uuid> =
        written.iter().copied().filter(|id| (id.as_u128() % 1000) < MERGE_SLOTS as u128).collect();
    assert_eq!(visit(&mut tx, few, None, false), in_few);
    assert_eq!(visit(&mut tx, few, Some(40), false), in_few[..40]);
}

/// A first sync of 2,100 changes: a full page of the default size, then the rest, every
/// change exactly once and in seq order (R-ACC-7 paging; `DEFAULT_LIMIT`).
#[test]
fn a_first_sync_comes_in_pages_of_the_default_size_each_change_once() {
    use crate::rules::pull::{pull, PullOutcome, PullPage, DEFAULT_LIMIT};
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    let scopes = vec!["unit:x".to_string(), "unit:y".to_string()];
    tx.put_scope_set(&crate::rules::scope::hash(&scopes), &scopes).unwrap();
    let ids: Vec<Uuid> = (0..2100u128).map(|i| Uuid::from_u128(1000 + i)).collect();
    for (i, id) in ids.iter().enumerate() {
        tx.put_entity("news", *id, &scopes[i % 3 / 2], &json(&format!("{{\"n\":{i}}}"))).unwrap();
    }
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let PullOutcome::Page { cursor: next, has_more, changes } =
            pull(&mut tx, scopes.clone(), cursor.as_deref(), DEFAULT_LIMIT).unwrap()
        else {
            panic!("the scope set is stored and the cursor is fresh");
        };
        let page = PullPage { cursor: next.clone(), has_more, server_time: chrono::Utc::now(), changes, commit: None };
        let wire: domain::wire::PullResponse = serde_json::from_slice(&page.to_json().unwrap()).unwrap();
        pages.push(wire.changes.len());
        seen.extend(wire.changes.into_iter().map(|c| c.id));
        cursor = Some(next);
        if !has_more {
            break;
        }
    }
    assert_eq!(pages, [DEFAULT_LIMIT as usize, 2100 - DEFAULT_LIMIT as usize]);
    assert_eq!(seen, ids, "every change once, in the order written");
}

#[test]
fn nested_frames_keep_their_own_writes() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.savepoint().unwrap();
    tx.put_entity("news", A, "unit:x", &json(r#"{"outer":1}"#))
        .unwrap();
    tx.savepoint().unwrap();
    tx.put_entity("news", B, "unit:x", &json(r#"{"inner":1}"#))
        .unwrap();
    tx.put_entity("news", A, "unit:x", &json(r#"{"inner":2}"#))
        .unwrap();
    tx.rollback_savepoint().unwrap();
    assert_eq!(
        tx.get_entity("news", A)
            .unwrap()
            .unwrap()
            .data
            .as_deref(),
        Some(r#"{"outer":1}"#)
    );
    assert!(tx.get_entity("news", B).unwrap().is_none());
    tx.savepoint().unwrap();
    tx.put_entity("news", B, "unit:x", &json(r#"{"inner":3}"#))
        .unwrap();
    tx.release_savepoint().unwrap();
    assert_eq!(stored(&conn, B), None, "still the outer frame's");
    tx.release_savepoint().unwrap();
    assert_eq!(
        stored(&conn, A).and_then(|r| r.2).as_deref(),
        Some(r#"{"outer":1}"#)
    );
    assert_eq!(
        stored(&conn, B).and_then(|r| r.2).as_deref(),
        Some(r#"{"inner":3}"#)
    );
}

#[test]
fn opening_nested_frames_writes_each_inside_its_own_savepoint() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.savepoint().unwrap();
    tx.put_entity("news", A, "unit:x", &json("{}")).unwrap();
    tx.savepoint().unwrap();
    tx.put_entity("news", B, "unit:x", &json("{}")).unwrap();
    tx.put_scope_set("h1", &["unit:x".to_string()]).unwrap();
    assert!(tx.deferred.opened_at(0) && tx.deferred.opened_at(1) && tx.deferred.waiting() == 0);
    tx.rollback_savepoint().unwrap();
    assert!(stored(&conn, A).is_some(), "the outer frame's write stays");
    assert_eq!(stored(&conn, B), None);
    tx.rollback_savepoint().unwrap();
    assert_eq!(stored(&conn, A), None);
}

fn outcome(id: Uuid) -> MutationResult {
    MutationResult::applied(id, None)
}

#[test]
fn a_push_waits_whole_and_its_outcomes_are_seen_before_they_are_written() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    let (m1, owner) = (Uuid::from_u128(10), Uuid::from_u128(20));
    tx.savepoint().unwrap(); // the job
    tx.savepoint().unwrap(); // its first mutation
    tx.put_entity("news", A, "unit:x", &json("{}")).unwrap();
    tx.release_savepoint().unwrap();
    tx.store_mutation_outcome(m1, owner, owner, "news.post", &outcome(m1), Utc::now()).unwrap();
    // A replay of the same id in the same push gets the first result.
    assert_eq!(tx.mutation_outcome(m1).unwrap(), Some((owner, outcome(m1))));
    assert!(!tx.deferred.opened_at(0), "no savepoint in SQLite");
    assert_eq!(stored(&conn, A), None);
    tx.release_savepoint().unwrap();
    assert!(stored(&conn, A).is_some());
    let n: i64 = conn.query_row("SELECT count(*) FROM mutations WHERE id = ?1", [m1.to_string()], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
    assert_eq!(tx.mutation_outcome(m1).unwrap(), Some((owner, outcome(m1))));
}

#[test]
fn outcomes_read_ahead_for_a_push_answer_as_the_table_would() {
    let conn = db();
    let (known, fresh, owner) = (Uuid::from_u128(10), Uuid::from_u128(11), Uuid::from_u128(20));
    let mut tx = SqliteTx::new(&conn);
    tx.store_mutation_outcome(known, owner, owner, "news.post", &outcome(known), Utc::now()).unwrap();
    drop(tx);
    let mut tx = SqliteTx::new(&conn);
    // More ids than one statement takes.
    let mut ids: Vec<Uuid> = (1000..1000 + OUTCOMES_PER_STATEMENT as u128).map(Uuid::from_u128).collect();
    ids.extend([fresh, known]);
    tx.prefetch_outcomes(&ids).unwrap();
    assert_eq!(tx.outcomes.len(), ids.len());
    assert_eq!(tx.mutation_outcome(known).unwrap(), Some((owner, outcome(known))));
    assert_eq!(tx.mutation_outcome(fresh).unwrap(), None);

    // Stored in a mutation that is then rolled back: none again.
    tx.savepoint().unwrap();
    tx.store_mutation_outcome(fresh, owner, owner, "news.post", &outcome(fresh), Utc::now()).unwrap();
    assert_eq!(tx.mutation_outcome(fresh).unwrap(), Some((owner, outcome(fresh))));
    tx.rollback_savepoint().unwrap();
    assert_eq!(tx.mutation_outcome(fresh).unwrap(), None);
    // Stored for good (outside any mutation: written at once).
    tx.store_mutation_outcome(fresh, owner, owner, "news.post", &outcome(fresh), Utc::now()).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM mutations", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2);
    assert_eq!(tx.mutation_outcome(fresh).unwrap(), Some((owner, outcome(fresh))));
}

#[test]
fn writes_failing_half_way_with_no_savepoint_poison_the_whole_group() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    let (m1, owner) = (Uuid::from_u128(10), Uuid::from_u128(20));
    tx.store_mutation_outcome(m1, owner, owner, "news.post", &outcome(m1), Utc::now()).unwrap();
    // A second outcome for the same id cannot be inserted: the entity before it is
    // already written when that fails, with no savepoint to undo it alone.
    let failed = run_job(
        &mut tx,
        Box::new(move |tx: &mut dyn Tx| {
            tx.put_entity("news", A, "unit:x", &json("{}"))?;
            tx.store_mutation_outcome(m1, owner, owner, "news.post", &outcome(m1), Utc::now())?;
            Ok(Box::new(()) as Box<dyn Any + Send>)
        }),
    );
    assert!(failed.is_err());
    assert!(tx.deferred.poisoned, "the writer rolls the whole transaction back");
}

#[test]
fn a_forgotten_release_inside_an_opened_job_keeps_its_waiting_writes() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    let kept = run_job(
        &mut tx,
        Box::new(|tx: &mut dyn Tx| {
            tx.put_scope_set("h1", &["unit:x".to_string()])?; // opens the job's savepoint
            tx.savepoint()?;
            tx.put_entity("news", A, "unit:x", &json("{}"))?; // waits in the inner frame
            Ok(Box::new(()) as Box<dyn Any + Send>)
        }),
    );
    assert!(kept.is_ok());
    assert!(stored(&conn, A).is_some());
    assert!(tx.deferred.is_idle());
}

#[test]
fn a_failed_job_leaves_nothing_and_a_job_that_forgot_its_release_keeps_its_writes() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    let failed = run_job(
        &mut tx,
        Box::new(|tx: &mut dyn Tx| {
            tx.savepoint()?;
            tx.put_entity("news", A, "unit:x", &json("{}"))?;
            Err(StoreError::Database("boom".into()))
        }),
    );
    assert!(failed.is_err());
    assert_eq!(stored(&conn, A), None);
    assert!(tx.deferred.is_idle());
    let kept = run_job(
        &mut tx,
        Box::new(|tx: &mut dyn Tx| {
            tx.savepoint()?;
            tx.put_entity("news", B, "unit:x", &json("{}"))?;
            Ok(Box::new(()) as Box<dyn Any + Send>)
        }),
    );
    assert!(kept.is_ok());
    assert!(stored(&conn, B).is_some());
}

// The roster cache the writer keeps between commits (`TxCache::after_commit`).

const UNIT: Uuid = Uuid::from_u128(10);
const CHILD: Uuid = Uuid::from_u128(11);
const OTHER: Uuid = Uuid::from_u128(12);

fn child_row(id: Uuid) -> ChildRow {
    ChildRow {
        id,
        unit_id: UNIT,
        class_id: None,
        student_user_id: None,
        personnummer: format!("20200101-{:04}", id.as_u128()),
        group_ids: Vec::new(),
    }
}

#[test]
fn a_roster_row_written_in_a_rolled_back_mutation_is_not_remembered() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.insert_unit(UNIT, "Solrosen").unwrap();
    tx.savepoint().unwrap();
    tx.insert_child(&child_row(CHILD)).unwrap();
    assert!(tx.child(CHILD).unwrap().is_some(), "seen inside its mutation");
    tx.rollback_savepoint().unwrap();
    assert_eq!(tx.child(CHILD).unwrap(), None, "gone with the rollback");
}

#[test]
fn the_writer_keeps_committed_roster_rows_units_and_entities() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.insert_unit(UNIT, "Solrosen").unwrap();
    tx.insert_child(&child_row(CHILD)).unwrap();
    tx.put_entity("news", A, "unit:x", &json("{}")).unwrap();
    exec(&conn, "COMMIT").unwrap();
    let cache = std::mem::take(&mut tx.cache).after_commit();
    drop(tx);

    exec(&conn, "BEGIN IMMEDIATE").unwrap();
    let mut tx = SqliteTx::with_cache(&conn, cache);
    assert!(tx.child(CHILD).unwrap().is_some());
    assert!(tx.get_entity("news", A).unwrap().is_some());
    exec(&conn, "COMMIT").unwrap();
    let cache = std::mem::take(&mut tx.cache).after_commit();
    assert!(cache.children.contains_key(&CHILD), "the committed child is kept");
    assert!(cache.entities.contains_key(&("news".to_string(), A)), "the committed entity is kept");
    drop(tx);

    // A rolled-back entity write leaves the roster cached; a rolled-back roster write
    // drops it.
    exec(&conn, "BEGIN IMMEDIATE").unwrap();
    let mut tx = SqliteTx::with_cache(&conn, cache);
    tx.savepoint().unwrap();
    tx.put_entity("news", B, "unit:x", &json("{}")).unwrap();
    tx.rollback_savepoint().unwrap();
    assert!(tx.cache.children.contains_key(&CHILD));
    tx.savepoint().unwrap();
    tx.insert_child(&child_row(OTHER)).unwrap();
    assert!(tx.child(CHILD).unwrap().is_some());
    tx.rollback_savepoint().unwrap();
    assert!(tx.cache.children.is_empty(), "a roster write was rolled back: nothing kept");
    assert_eq!(tx.child(OTHER).unwrap(), None);
}

/// A typed entity as the rules save one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Mark {
    n: u32,
}

fn typed(tx: &SqliteTx<'_>, id: Uuid) -> Option<Mark> {
    tx.typed_value("news", id).and_then(|v| v.as_any().downcast_ref::<Mark>().cloned())
}

#[test]
fn a_typed_entity_is_stored_as_its_json_and_the_next_group_reads_the_value_back() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.savepoint().unwrap();
    tx.put_entity_value("news", A, "unit:x", Arc::new(Mark { n: 1 })).unwrap();
    assert_eq!(typed(&tx, A), Some(Mark { n: 1 }), "read back without a parse");
    let row = tx.get_entity("news", A).unwrap().unwrap();
    assert_eq!(row.data.as_deref(), Some(r#"{"n":1}"#), "a read as a row sees its JSON");
    tx.put_entity_value("news", A, "unit:x", Arc::new(Mark { n: 2 })).unwrap();
    tx.release_savepoint().unwrap();
    assert_eq!(stored(&conn, A).map(|r| r.2), Some(Some(r#"{"n":2}"#.to_string())));
    exec(&conn, "COMMIT").unwrap();
    let cache = std::mem::take(&mut tx.cache).after_commit();
    drop(tx);

    exec(&conn, "BEGIN IMMEDIATE").unwrap();
    let tx = SqliteTx::with_cache(&conn, cache);
    assert_eq!(typed(&tx, A), Some(Mark { n: 2 }), "the writer keeps the committed value");
}

#[test]
fn a_rolled_back_or_overwritten_typed_entity_is_not_read_back() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.put_entity_value("news", A, "unit:x", Arc::new(Mark { n: 1 })).unwrap();
    tx.savepoint().unwrap();
    tx.put_entity_value("news", A, "unit:x", Arc::new(Mark { n: 2 })).unwrap();
    tx.rollback_savepoint().unwrap();
    assert_eq!(typed(&tx, A), None, "a rollback forgets every value");
    let row = tx.get_entity("news", A).unwrap().unwrap();
    assert_eq!(row.data.as_deref(), Some(r#"{"n":1}"#));

    tx.put_entity_value("news", B, "unit:x", Arc::new(Mark { n: 3 })).unwrap();
    tx.put_entity("news", B, "unit:x", &json(r#"{"n":4}"#)).unwrap();
    assert_eq!(typed(&tx, B), None, "a later write as JSON replaces the value");
    tx.put_entity_value("news", B, "unit:x", Arc::new(Mark { n: 5 })).unwrap();
    tx.delete_entity("news", B).unwrap();
    assert_eq!(typed(&tx, B), None, "so does a delete");
    assert!(tx.get_entity("news", B).unwrap().unwrap().deleted);
}

#[test]
fn a_put_of_a_known_entity_updates_its_row_and_a_stale_or_unknown_rowid_is_looked_up() {
    let conn = db();
    let mut tx = SqliteTx::new(&conn);
    tx.put_entity("news", A, "unit:x", &json(r#"{"a":1}"#)).unwrap();
    tx.put_entity("news", B, "unit:x", &json(r#"{"b":1}"#)).unwrap();
    let key = |id| ("news".to_string(), id);
    let (row_a, row_b) = (tx.cache.rowids[&key(A)], tx.cache.rowids[&key(B)]);
    assert_ne!(row_a, row_b);

    // Known: updated in place.
    tx.put_entity("news", A, "unit:y", &json(r#"{"a":2}"#)).unwrap();
    assert_eq!(stored(&conn, A).map(|r| r.2), Some(Some(r#"{"a":2}"#.to_string())));
    assert_eq!(tx.cache.rowids[&key(A)], row_a);

    // A rowid that holds another entity, or no row at all, changes nothing: the entity
    // is written by an insert, or by its rowid looked up.
    tx.cache.rowids.insert(key(A), row_b);
    tx.put_entity("news", A, "unit:y", &json(r#"{"a":3}"#)).unwrap();
    assert_eq!(stored(&conn, A).map(|r| r.2), Some(Some(r#"{"a":3}"#.to_string())));
    assert_eq!(stored(&conn, B).map(|r| r.2), Some(Some(r#"{"b":1}"#.to_string())), "B untouched");
    assert_eq!(tx.cache.rowids[&key(A)], row_a, "the right rowid learnt again");
    tx.cache.rowids.insert(key(C), 999_999);
    tx.put_entity("news", C, "unit:x", &json(r#"{"c":1}"#)).unwrap();
    assert_eq!(stored(&conn, C).map(|r| r.2), Some(Some(r#"{"c":1}"#.to_string())));
    let rows: i64 = conn.query_row("SELECT count(*) FROM entities", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 3);

    // An entity in the database whose rowid was never learnt: updated, not doubled.
    tx.cache.rowids.clear();
    tx.put_entity("news", B, "unit:y", &json(r#"{"b":2}"#)).unwrap();
    assert_eq!(stored(&conn, B).map(|r| r.2), Some(Some(r#"{"b":2}"#.to_string())));
    assert_eq!(tx.cache.rowids[&key(B)], row_b);
    let rows: i64 = conn.query_row("SELECT count(*) FROM entities", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 3);

    // A read learns the rowid too.
    tx.cache.rowids.clear();
    tx.cache.entities.clear();
    assert!(tx.get_entity("news", B).unwrap().is_some());
    assert_eq!(tx.cache.rowids[&key(B)], row_b);
}
