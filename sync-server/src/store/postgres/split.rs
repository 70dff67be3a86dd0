//! A large group written on two connections at once: its first part, with the lower
//! sequence numbers, commits on a second connection while the writer writes the rest.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;

use uuid::Uuid;

use crate::store::deferred::{coalesced, split_point, PendingWrite, SavepointDb};
use crate::store::priority::raise_priority;
use crate::store::{StoreError, StoreResult, TouchedScopes, TxCache};

use super::commits::notify_commit;
use super::writer::OwnCommit;
use super::db::PgDb;
use super::tx::PgTx;
use super::writer::WRITE_LOCK;
use super::{begin, spawn, Conn};

/// Held (shared, transaction-scoped) by the first part of a split group while it commits,
/// and waited for (taken and let go at once) by every writer after it takes the write lock:
/// see [`split_off_lower_half`]. "hub:lw".
pub(super) const FIRST_PART_LOCK: i64 = 0x6875_623a_6c77;

/// Waiting writes a group must have for its first part to go in on a second connection.
const SPLIT_AT_LEAST: usize = 256;

/// The share of a group's waiting writes, in thousandths, that go in on the second
/// connection: about a third, so that its own BEGIN and COMMIT end before the writer's
/// part is written (A/B 2026-12-06: at 45 % the writer waited 2.5 ms a group for it, at
/// 35 % 0.6 ms; docs/benchmarks.md).
const SPLIT_PERMILLE: usize = 350;

/// The first part of a group, written and committed on a connection of its own.
struct LowerHalf {
    writes: Vec<PendingWrite>,
    /// The row addresses the writer knows of the entities in `writes`.
    rowids: HashMap<(String, Uuid), i64>,
    touched: TouchedScopes,
    /// The counter as the group found it, and the last number of this part.
    start: Option<i64>,
    seq: Option<i64>,
    /// The writer's session, which holds the write lock.
    writer: i32,
    reply: mpsc::SyncSender<LowerResult>,
}

/// A first half's commit (as announced, with its scopes) and what it wrote, or why it failed.
type LowerResult = Result<(OwnCommit, TxCache), String>;

/// The thread and connection that write the first part of a large group (see
/// [`split_off_lower_half`]).
pub(super) struct LowerWriter {
    to: mpsc::Sender<LowerHalf>,
}

impl LowerWriter {
    /// Starts the thread; without it every group goes in on the writer's connection alone.
    pub(super) fn start(config: &postgres::Config) -> Option<LowerWriter> {
        let (to, rx) = mpsc::channel::<LowerHalf>();
        let config = config.clone();
        let started = spawn("pg-writer-2", move || {
            raise_priority("pg-writer-2");
            let mut conn = None;
            while let Ok(mut half) = rx.recv() {
                let rowids = std::mem::take(&mut half.rowids);
                let result = commit_lower_half(&config, &mut conn, &half, rowids);
                let _ = half.reply.send(result);
            }
        });
        match started {
            Ok(()) => Some(LowerWriter { to }),
            Err(e) => {
                tracing::warn!(error = %e, "no second writer connection; groups go in on one");
                None
            }
        }
    }
}

/// Writes and commits `half` on its own transaction: its rows, the sequence counter up to
/// them, and a generation of its own with its pokes, as a group of its own would.
fn commit_lower_half(
    config: &postgres::Config,
    conn: &mut Option<Conn>,
    half: &LowerHalf,
    rowids: HashMap<(String, Uuid), i64>,
) -> LowerResult {
    let c = begin(config, conn, |c| begin_first_part(c, half.writer)).map_err(|e| e.to_string())?;
    let mut written = TxCache::with_rowids(rowids);
    let result = PgDb(c, &mut written)
        .write(&coalesced(&half.writes))
        .and_then(|()| match half.seq {
            Some(s) => c.execute("UPDATE meta SET value = $1 WHERE key = 'seq' AND value < $1", &[&s]).map(|_| ()),
            None => Ok(()),
        })
        .and_then(|()| notify_commit(c, &half.touched, half.start))
        .and_then(|announced| c.batch("COMMIT").map(|()| announced));
    match result {
        Ok(announced) => Ok(((announced, half.touched.clone()), written)),
        Err(e) => {
            let _ = c.batch("ROLLBACK");
            Err(e.to_string())
        }
    }
}

/// Performance: a large group's waiting writes (a tablet rush's 30 pushes, about 600 day
/// records and 1,200 outcomes) went in on the writer's one connection, and PostgreSQL wrote
/// them on one backend, one core, while the other waited (two thirds of a group's time).
/// Cut in two, the first part goes in on a second connection at the same time and commits
/// as a transaction of its own; the writer's own transaction, which holds the write lock,
/// commits only after it. So sequence numbers still become visible in order (the first
/// part has the lower ones, and moves `meta.seq` and the generation itself), no other
/// instance commits in between, and if the first part fails, so does the rest (its jobs
/// may have read what the first part wrote). If the first part commits and the rest does
/// not, the first part's jobs are answered as committed and the rest with the error: a
/// job is acknowledged only once committed, and one that fails leaves nothing.
///
/// Only a group whose writes all waited to its end is cut (nothing of it is in the
/// writer's transaction yet), at the end of a job, where no entity is written on both
/// sides: neither connection then waits for a row the other has locked.
///
/// The first part holds no write lock of its own: it commits under the writer's. Were the
/// writer's session to end meanwhile (its connection lost), PostgreSQL would let that lock
/// go, and another instance's writer, reading `meta.seq` before the first part's commit,
/// would hand out its sequence numbers again. So the first part holds [`FIRST_PART_LOCK`]
/// (shared) and then checks that the writer's session still holds the write lock, before
/// it writes: and every writer, once it has the write lock, waits for that lock to be free
/// before it reads anything (`writer::begin_write`). A first part whose writer is gone fails; one
/// that checked in time commits before any later writer reads. (The writer writes the rest
/// under a savepoint, so that a refused write of its own does not end its hold of the lock
/// before the first part has checked: see `run_batch`.)
pub(super) fn split_off_lower_half(
    tx: &mut PgTx<'_>,
    bounds: &[usize],
    lower: &LowerWriter,
) -> Option<(mpsc::Receiver<LowerResult>, usize)> {
    let n = tx.deferred.waiting();
    if n < SPLIT_AT_LEAST || tx.deferred.depth() != 1 || !tx.deferred.buffering() {
        return None;
    }
    let at = split_point(tx.deferred.waiting_writes(), bounds, n * SPLIT_PERMILLE / 1000)?;
    // The jobs whose writes are in the first half (a job that wrote nothing goes with the rest).
    let jobs = bounds.iter().position(|&b| b == at)? + 1;
    let writes = tx.deferred.take_front(at).ok()?;
    let scopes_of = |w: &[PendingWrite]| -> HashSet<String> { w.iter().filter_map(|w| w.scope().map(str::to_string)).collect() };
    let lower_scopes = scopes_of(&writes);
    let upper_scopes = scopes_of(tx.deferred.waiting_writes());
    let touched: TouchedScopes = tx.touched.iter().filter(|s| lower_scopes.contains(*s)).cloned().collect();
    let seq = writes.iter().filter_map(PendingWrite::seq).max();
    // The addresses of its rows go with it and come back moved (`absorb_written`).
    let rowids = writes
        .iter()
        .filter_map(|w| match w {
            PendingWrite::Put { ty, id, .. } => {
                let key = (ty.clone(), *id);
                tx.cache.rowids.remove(&key).map(|r| (key, r))
            }
            _ => None,
        })
        .collect();
    let (reply, rx) = mpsc::sync_channel(1);
    let start = tx.seq_base;
    if let Err(mpsc::SendError(half)) = lower.to.send(LowerHalf { writes, rowids, touched, start, seq, writer: tx.db.pid, reply }) {
        // The thread is gone: the writes go in here after all.
        tx.deferred.put_front(half.writes);
        return None;
    }
    // The rest's numbers follow the first part's (its commit announces those after them).
    if seq.is_some() {
        tx.seq_base = seq;
    }
    // The writer's own commit announces the rest.
    tx.touched.retain(|s| !lower_scopes.contains(s) || upper_scopes.contains(s));
    Some((rx, jobs))
}

/// Begins the first part's transaction: holds [`FIRST_PART_LOCK`] (shared), then checks
/// that the session `writer` still holds the write lock, in one round trip.
fn begin_first_part(c: &mut Conn, writer: i32) -> StoreResult<()> {
    let messages = c.client.simple_query(&format!(
        "BEGIN READ WRITE; SELECT pg_advisory_xact_lock_shared({FIRST_PART_LOCK}); \
         SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = {writer} \
             AND objsubid = 1 AND ((classid::int8 << 32) | objid::int8) = {WRITE_LOCK})"
    ))?;
    let held = messages.iter().rev().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|v| v == "t"),
        _ => None,
    });
    match held {
        Some(true) => Ok(()),
        _ => Err(StoreError::Database("the group's writer no longer holds the write lock".into())),
    }
}
