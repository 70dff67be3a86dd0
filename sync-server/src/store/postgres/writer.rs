//! The writer: one thread taking queued write jobs into group commits under the write
//! lock, each job in a savepoint frame of its own, results sent only after COMMIT.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use crate::store::scope_heads::ScopeHeads;
use crate::store::{Job, ReadHint, StoreError, StoreResult, TouchedScopes, TxCache};

use super::commits::{notify_commit, Announced, KnownCommit};
use super::db::PgDb;
use super::split::{split_off_lower_half, LowerWriter, FIRST_PART_LOCK};
use super::tx::PgTx;
use super::{begin, Conn, Msg, Reply, WriteCounters};

/// Jobs the writer takes into one transaction at most. Smaller than SQLite's 512: every
/// statement here is a round trip, and the transaction holds the write lock of all
/// instances until it commits; 64 jobs already share one WAL flush (~2 ms) among them.
const MAX_GROUP: usize = 64;
/// Taken by every write transaction (transaction-scoped): serializes writers across
/// instances. An arbitrary constant, "hub:wr".
pub(super) const WRITE_LOCK: i64 = 0x6875_623a_7772;

pub(super) fn writer_loop(
    config: postgres::Config,
    conn: Conn,
    rx: mpsc::Receiver<Msg>,
    counters: &WriteCounters,
    known: &KnownCommit,
    heads: &ScopeHeads,
) {
    let mut conn = Some(conn);
    let lower = LowerWriter::start(&config);
    // The roster, units and entities as committed by this writer's last commit, and the
    // generation of that commit (see "Kept between commits" below).
    let mut kept = TxCache::default();
    let mut kept_at: Option<u64> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let locked_at = std::cell::Cell::new(None);
        let began = begin(&config, &mut conn, |c| {
            locked_at.set(begin_write(c)?);
            Ok(())
        });
        // Kept between commits: what this writer read and committed stays the committed
        // state while no other commit came after its own, which the generation read under
        // the write lock tells (every commit of every instance moves it, under that lock).
        //
        // Performance: the tablet rush read each child's roster row, unit and day record again
        // in every group, about a third of the writer's time (A/B 2026-12-06: tablet pushes
        // up by a quarter on one instance).
        if kept_at.is_none() || locked_at.get() != kept_at {
            kept = TxCache::default();
        }
        let c = match began {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a write transaction");
                for m in batch {
                    let _ = m.reply.send(Err(StoreError::Database(format!("cannot begin: {e}"))));
                }
                continue;
            }
        };
        let outcome = run_batch(c, batch, std::mem::take(&mut kept), lower.as_ref(), &counters.split_groups);
        if c.client.is_closed() {
            conn = None;
        }
        kept_at = None;
        match outcome {
            Ok((done, commits, cache)) => {
                let generation = commits.last().map_or(0, |(a, _)| a.generation);
                kept = cache.after_commit();
                kept_at = Some(generation);
                // Before any reply: the answer of a push names a commit this instance knows,
                // and the phone's next pull finds what it wrote where.
                for (a, touched) in &commits {
                    heads.record_next(a.seqs.0, a.seqs.1, touched);
                }
                known.note(generation);
                let group = done.len() as u64;
                counters.commits.fetch_add(1, Ordering::Relaxed);
                counters.jobs.fetch_add(group, Ordering::Relaxed);
                counters.largest_group.fetch_max(group, Ordering::Relaxed);
                for (reply, outcome) in done {
                    let _ = reply.send(outcome);
                }
            }
            Err(Failed { error: e, committed, replies }) => {
                tracing::error!(error = %e, "group commit failed");
                if let Some(((a, touched), done)) = committed {
                    // The group's first half committed on its own (see `split_off_lower_half`).
                    heads.record_next(a.seqs.0, a.seqs.1, &touched);
                    known.note(a.generation);
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                    counters.jobs.fetch_add(done.len() as u64, Ordering::Relaxed);
                    for (reply, outcome) in done {
                        let _ = reply.send(outcome);
                    }
                }
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Database(format!("commit failed: {e}"))));
                }
            }
        }
    }
}

type Done = Vec<(Reply, StoreResult<Box<dyn Any + Send>>)>;

/// A commit of this writer: as it was announced, and the scopes it wrote in.
pub(super) type OwnCommit = (Announced, TouchedScopes);

/// A group commit that failed: the error, the jobs of a first half that committed on its
/// own with its generation (see [`split_off_lower_half`]), and the replies to fail.
struct Failed {
    error: String,
    committed: Option<(OwnCommit, Done)>,
    replies: Vec<Reply>,
}

/// Begins a write transaction, takes the write lock, waits for the first part of a split
/// group still committing (of a writer whose session ended, see [`split_off_lower_half`]),
/// and reads the commit generation, in one round trip. Each statement of the batch reads
/// its own snapshot (READ COMMITTED), so the generation's is taken once the lock is held
/// and that part is done: every commit before is in it.
fn begin_write(c: &mut Conn) -> StoreResult<Option<u64>> {
    let messages = c.client.simple_query(&format!(
        "BEGIN READ WRITE; SELECT pg_advisory_xact_lock({WRITE_LOCK}); \
         SELECT pg_advisory_lock({FIRST_PART_LOCK}); SELECT pg_advisory_unlock({FIRST_PART_LOCK}); \
         SELECT value FROM meta WHERE key = 'generation'"
    ))?;
    let generation = messages.iter().rev().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse::<u64>().ok()),
        _ => None,
    });
    Ok(generation)
}

/// Waiting writes of a group's jobs at which they go in (see `run_batch`): an absence
/// report waits with two (its record and its outcome), a tablet's push with sixty, a care
/// week with up to forty-one; so a group of [`MAX_GROUP`] pushes goes in at its end, in a
/// few statements. (It was 64, a statement per tablet push or per two care weeks, while
/// reads walked the waiting writes; A/B 2026-12-06: 4,096 and no walk took care weeks
/// from about 2,300 to 3,900/s.)
const GROUP_WRITES_AT_MOST: usize = 4096;

/// Runs the jobs of one group commit inside the open transaction, sends the pokes, commits.
/// Returns the replies and the group's commits (a split group's first part first); on a
/// failed commit, hands back the
/// replies to fail.
fn run_batch(
    conn: &mut Conn,
    mut batch: Vec<Msg>,
    kept: TxCache,
    lower: Option<&LowerWriter>,
    split_groups: &AtomicU64,
) -> Result<(Done, Vec<OwnCommit>, TxCache), Failed> {
    let mut tx = PgTx::new(conn, true);
    tx.cache = kept;
    let mut done: Done = Vec::with_capacity(batch.len());
    let mut poisoned = None;
    // Performance: what the group's jobs said they will look up, fetched in a few queries
    // (see `ReadHint`): a push of one absence report looked up its id, child, guardians,
    // unit and day record in a round trip each, under the write lock.
    let mut hint = ReadHint::default();
    for m in &mut batch {
        if let Some(h) = m.hint.take() {
            hint.extend(h);
        }
    }
    hint.dedup();
    if !hint.is_empty() {
        if let Err(e) = tx.prefetch_group(&hint) {
            // The transaction is aborted: every job of the group fails (and is retried).
            poisoned = Some(e.to_string());
        }
    }
    // Performance: the jobs' writes wait in a frame of the group's own and go in together,
    // a statement for up to `GROUP_WRITES_AT_MOST` of them instead of one per job (a
    // round trip per absence report under the write lock). A failed statement fails the
    // whole group, as a job's own failed statement already did (see `run_job`).
    tx.deferred.begin(tx.seq);
    let writes_at_start = tx.db.writes;
    // Where each job's waiting writes end.
    let mut bounds: Vec<usize> = Vec::with_capacity(batch.len());
    // Each job collects the scopes it touches on its own; a failed job's are dropped, as in
    // the SQLite store. (Performance: the group's set was copied before every job, which
    // grew with the square of the group: 3 % of the writer thread in a profile of the
    // tablet rush, 2026-12-06 23:16.)
    let mut touched = std::mem::take(&mut tx.touched);
    for m in batch {
        if poisoned.is_some() {
            done.push((m.reply, Err(StoreError::Database("transaction aborted".into()))));
            continue;
        }
        let (outcome, healthy) = run_job(&mut tx, m.job);
        let mine = std::mem::take(&mut tx.touched);
        if outcome.is_ok() {
            touched.extend(mine);
        }
        if let Err(e) = healthy {
            poisoned = Some(e.to_string());
        }
        done.push((m.reply, outcome));
        bounds.push(tx.deferred.waiting());
        // A bound on one statement's rows and on what waits in memory.
        if poisoned.is_none() && tx.deferred.waiting() >= GROUP_WRITES_AT_MOST {
            if let Err(e) = tx.deferred.release(&mut PgDb(tx.db, &mut tx.cache)) {
                poisoned = Some(e.to_string());
            }
            tx.deferred.begin(tx.seq);
        }
    }
    tx.touched = touched;
    let mut lower_half = None;
    if poisoned.is_none() {
        if let Some(lower) = lower.filter(|_| tx.db.writes == writes_at_start) {
            lower_half = split_off_lower_half(&mut tx, &bounds, lower);
            if lower_half.is_some() {
                split_groups.fetch_add(1, Ordering::Relaxed);
                // PostgreSQL lets go of an aborted transaction's locks at the error, not at
                // its ROLLBACK: a refused write of the rest would free the write lock before
                // the first part checked that it is held, and a first part that could have
                // committed would fail with the rest (CI, 2026-12-07). Under a savepoint the
                // error undoes the savepoint only; the lock stays until the first part answers.
                if let Err(e) = tx.db.batch("SAVEPOINT rest_of_group") {
                    poisoned = Some(e.to_string());
                }
            }
        }
        if poisoned.is_none() {
            if let Err(e) = tx.deferred.release(&mut PgDb(tx.db, &mut tx.cache)) {
                poisoned = Some(e.to_string());
            }
        }
    }
    // The lower half commits first, or this transaction must not (its jobs may build on it).
    let mut lower_committed = None;
    if let Some((rx, jobs)) = lower_half {
        match rx.recv() {
            Ok(Ok((commit, written))) => {
                tx.cache.absorb_written(written);
                lower_committed = Some((commit, jobs));
            }
            Ok(Err(e)) => {
                poisoned.get_or_insert(format!("the group's first half failed: {e}"));
            }
            Err(_) => {
                poisoned.get_or_insert("the group's first half got no answer".into());
            }
        }
    }
    if poisoned.is_none() && tx.deferred.poisoned {
        poisoned = Some("a job's writes failed half-way; the whole group is undone".into());
    }
    let touched = std::mem::take(&mut tx.touched);
    let finish = match poisoned {
        Some(e) => Err(e),
        None => tx
            .flush_seq()
            // The generation moves with every commit (see "The commit generation") and is
            // announced with the pokes. The statement also guards the COMMIT: in a
            // transaction a failed statement left aborted it fails, where a bare COMMIT
            // would quietly roll back (see `run_job`).
            .and_then(|()| notify_commit(tx.db, &touched, tx.seq_base))
            .and_then(|a| tx.db.batch("COMMIT").map(|()| a))
            .map_err(|e| e.to_string()),
    };
    match finish {
        // What the transaction read and wrote, now committed (see `writer_loop`).
        Ok(announced) => {
            let commits = lower_committed.map(|(c, _)| c).into_iter().chain([(announced, touched)]).collect();
            Ok((done, commits, std::mem::take(&mut tx.cache)))
        }
        Err(e) => {
            // After a failed COMMIT the transaction is already gone; ROLLBACK then only warns.
            let _ = tx.db.batch("ROLLBACK");
            let committed = lower_committed.map(|(commit, jobs)| (commit, done.drain(..jobs.min(done.len())).collect()));
            Err(Failed { error: e, committed, replies: done.into_iter().map(|(reply, _)| reply).collect() })
        }
    }
}

/// Runs one job in its own savepoint frame (see `store/deferred.rs`): a failing (or
/// panicking) job is undone alone. Returns the job's outcome and whether the transaction is
/// still usable.
///
/// In PostgreSQL a failed statement aborts the whole transaction unless a savepoint around
/// it is rolled back. A job that only wrote entities and outcomes (a push) never had its
/// savepoint opened in the database, so after a failed job the transaction is checked
/// (one round trip, only then); if it is aborted, the group is undone and every job of it
/// answered with the error. A job that swallowed a database error and returned Ok is
/// caught the same way at the latest by the `SELECT 1` before COMMIT, which never meets an
/// aborted transaction (PostgreSQL would turn that COMMIT into a silent ROLLBACK).
fn run_job(tx: &mut PgTx<'_>, job: Job) -> (StoreResult<Box<dyn Any + Send>>, StoreResult<()>) {
    let depth = tx.deferred.depth();
    let saved = tx.seq;
    tx.deferred.begin(saved);
    let mut outcome = match catch_unwind(AssertUnwindSafe(|| job(tx))) {
        Ok(r) => r,
        Err(_) => Err(StoreError::Database("a job panicked; it was rolled back".into())),
    };
    if let Err(e) = tx.deferred.close_above(depth, &mut PgDb(tx.db, &mut tx.cache)) {
        outcome = outcome.and(Err(e));
    }
    if outcome.is_ok() {
        match tx.deferred.release(&mut PgDb(tx.db, &mut tx.cache)) {
            Ok(()) => return (outcome, Ok(())),
            Err(e) => outcome = Err(StoreError::Database(format!("job left its transaction failed: {e}"))),
        }
        // A failed release: the frame is gone; the transaction is checked below.
        tx.cache.rolled_back();
        tx.seq = saved;
        return (outcome, tx.db.batch("SELECT 1"));
    }
    tx.cache.rolled_back();
    let opened = tx.deferred.opened_at(depth);
    let healthy = tx.deferred.rollback(&mut PgDb(tx.db, &mut tx.cache)).map(|seq| tx.seq = seq);
    let healthy = if opened { healthy } else { healthy.and_then(|()| tx.db.batch("SELECT 1")) };
    (outcome, healthy)
}
