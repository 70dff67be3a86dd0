//! The writer: one thread taking queued write jobs into group commits, each job in a
//! savepoint frame of its own (a real savepoint only when it needs one); a commit's sync is
//! left to the syncer ([`crate::store::commit_sync`]).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use rusqlite::Connection;

use crate::store::commit_sync::{Group, Publisher, Settle};
use crate::store::{Job, StoreError, StoreResult, TouchedScopes, Tx, TxCache};

use super::checkpoint::checkpoint_when_idle;
use super::db::SqliteDb;
use crate::store::scope_heads::ScopeHeads;
use super::tx::SqliteTx;
use super::{exec, JobMsg};

/// Jobs the writer takes into one transaction at most.
const MAX_GROUP: usize = 512;
/// How often an idle writer looks for commits by other connections.
const EXTERNAL_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// SQLite's count of commits by *other* connections as seen by `conn` (`PRAGMA
/// data_version`); `None` if it cannot be read (then every check counts as a change).
fn data_version(conn: &Connection) -> Option<i64> {
    conn.prepare_cached("PRAGMA data_version").and_then(|mut st| st.query_row([], |r| r.get(0))).ok()
}

pub(super) fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<JobMsg>,
    publisher: &Publisher,
    syncer: Option<mpsc::Sender<Settle>>,
    checkpoints: Option<mpsc::SyncSender<()>>,
    heads: &ScopeHeads,
) {
    let counters = &publisher.counters;
    // The roster and units as committed, kept between group commits (see `TxCache`).
    let mut kept = TxCache::default();
    let mut version = data_version(&conn);
    // Whether the WAL may hold commits not yet copied back into the database file (at the
    // start: a seeding, or the last run's).
    let mut wal_behind = true;
    loop {
        let first = match rx.recv_timeout(EXTERNAL_CHECK) {
            Ok(m) => Some(m),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        // The memory of this process (the kept roster, the pull and session caches) assumes
        // it is the database's only writer. A commit by another connection (an operator's
        // `sqlite3`, a second process by mistake) is noticed here, before the next group and
        // at most `EXTERNAL_CHECK` later when idle, and forgets all of it.
        let now_version = data_version(&conn);
        if now_version.is_none() || now_version != version {
            version = now_version;
            kept = TxCache::default();
            counters.generation.fetch_add(1, Ordering::SeqCst);
            counters.sessions.fetch_add(1, Ordering::SeqCst);
        }
        let Some(first) = first else {
            if wal_behind {
                wal_behind = !checkpoint_when_idle(&conn);
            }
            continue;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if publisher.durability.failed() {
            publisher.refuse(batch.into_iter().map(|m| m.reply));
            continue;
        }
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            for m in batch {
                let _ = m.reply.send(Err(StoreError::Database(format!("cannot begin: {e}"))));
            }
            continue;
        }
        let mut tx = SqliteTx::with_cache(&conn, std::mem::take(&mut kept));
        let mut done = Vec::with_capacity(batch.len());
        // Each job collects the scopes it touches on its own; a failed job's are dropped.
        // (Performance: this used to copy the whole batch's set before every job, which
        // grew with the square of the group size.)
        let mut touched = TouchedScopes::new();
        for m in batch {
            let outcome = run_job(&mut tx, m.job);
            let mine = std::mem::take(&mut tx.touched);
            if outcome.is_ok() {
                touched.extend(mine);
            }
            done.push((m.reply, outcome));
        }
        // Numbered before COMMIT: a reader whose snapshot holds this commit finds the number.
        let commit = publisher.durability.begin();
        let deferred = syncer.is_some() && crate::store::wal_batch::defer_commit_sync(&conn);
        let committed = if tx.deferred.poisoned {
            Err(StoreError::Database("a job's writes failed half-way; the whole group is undone".into()))
        } else {
            tx.flush_seq().and_then(|_| {
                // Before COMMIT: a reader that sees these rows finds where they are.
                if let Some((start, end)) = tx.numbered() {
                    heads.record(start, end, &touched);
                }
                Ok(exec(&conn, "COMMIT")?)
            })
        };
        let wal = if deferred { crate::store::wal_batch::take_deferred_sync(&conn) } else { None };
        // After a failed commit nothing is kept: the transaction may have written the roster.
        let cache = std::mem::take(&mut tx.cache);
        let settle = match committed {
            Ok(()) => {
                kept = cache.after_commit();
                wal_behind = true;
                if let Some(c) = &checkpoints {
                    // Full: a poke is already waiting.
                    let _ = c.try_send(());
                }
                let group = Group { done, touched, wrote_sessions: tx.wrote_sessions };
                Settle { commit, wal, group: Some(group) }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                heads.forget();
                let _ = exec(&conn, "ROLLBACK");
                for (reply, _) in done {
                    let _ = reply.send(Err(StoreError::Database(format!("commit failed: {e}"))));
                }
                Settle { commit, wal: None, group: None }
            }
        };
        // Answered once on disk, by the syncer, in commit order (at once without one).
        match &syncer {
            Some(s) => {
                if let Err(mpsc::SendError(settle)) = s.send(settle) {
                    tracing::error!("the syncer thread is gone; the commit cannot be confirmed");
                    publisher.failed(settle);
                }
            }
            None => publisher.settled(settle),
        }
    }
}

/// Runs one job in its own savepoint frame: a failing (or panicking) job is undone alone.
/// A job that writes only entities and mutation outcomes (a push) never opens a savepoint
/// in SQLite: its writes wait until it has finished, then go in as they are (see [`Frame`]).
pub(super) fn run_job(tx: &mut SqliteTx<'_>, job: Job) -> StoreResult<Box<dyn Any + Send>> {
    let depth = tx.deferred.depth();
    tx.savepoint()?;
    let mut outcome = match catch_unwind(AssertUnwindSafe(|| job(tx))) {
        Ok(r) => r,
        Err(_) => Err(StoreError::Database("a job panicked; it was rolled back".into())),
    };
    if let Err(e) = tx.deferred.close_above(depth, &mut SqliteDb(tx.db, &mut tx.cache.rowids)) {
        outcome = outcome.and(Err(e));
    }
    match outcome {
        Ok(v) => tx.release_savepoint().map(|_| v),
        Err(e) => {
            tx.rollback_savepoint()?;
            Err(e)
        }
    }
}
