//! The embedded SQLite store: one writer thread that commits concurrent jobs together
//! (group commit, `synchronous=FULL` so an acknowledged mutation survives power loss) and a
//! small pool of read connections (WAL lets them read while the writer writes). A
//! commit's sync is left to a syncer thread while the writer runs the next group; nobody
//! hears of a commit before it is synced ([`super::commit_sync`]).

use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use domain::pin::{PinState, PinVerifier};
use domain::wire::entity::Unit;
use domain::wire::{MutationResult, Role};
use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::value::RawValue;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use super::commit_sync::{self, Durability, Group, Publisher, Reply, Settle, SyncWal, WriteCounters};
use super::deferred::{Deferred, PendingWrite, SavepointDb};
use super::priority::raise_priority;
use super::{
    ChangeRef, ChildRow, DeviceRow, EntityRow, EntityValue, GenerationFuture, Job, JobFuture, PairingRow, StaffPin, Store, StoreError,
    StoreResult, TouchedScopes, Tx, TxCache, UserRow, WriteStats,
};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/server-sqlite/0001_init.sql")),
    (2, include_str!("../../../migrations/server-sqlite/0002_tablets.sql")),
    (3, include_str!("../../../migrations/server-sqlite/0003_pin_unlocked_at.sql")),
    (4, include_str!("../../../migrations/server-sqlite/0004_drop_entities_seq.sql")),
];

/// Scopes whose ranges [`Tx::changes`] reads side by side, each with a statement of its
/// own: a guardian has a dozen scopes plus one per message thread (43 in the benchmark's
/// families); a caller with more (staff, tablets, admins: every child of a unit) reads
/// them in turn. Twice this many statements (with and without tombstones) stay well inside
/// [`STATEMENT_CACHE`].
const MERGE_SLOTS: usize = 64;

/// Jobs the writer takes into one transaction at most.
const MAX_GROUP: usize = 512;
/// Read connections (one thread each), at least this many; more on machines with more cores.
const MIN_READERS: usize = 4;
const MAX_READERS: usize = 16;
/// Performance: rusqlite caches 16 prepared statements per connection by default, fewer than
/// one push or pull uses, so statements were evicted and parsed again all the time. Room
/// for the pull's merge slots ([`MERGE_SLOTS`]) besides the rest.
const STATEMENT_CACHE: usize = 512;
/// Performance: WAL pages after which a commit copies the WAL back into the database file
/// (SQLite's default is 1000, about 4 MiB). The writer thread does it, so it costs commit
/// time; under a write rush the same hot pages (the sequence counter, index leaves) are
/// rewritten in every commit, and a longer interval copies each of them once instead of
/// many times (10,000 → 40,000 pages: care weeks +10–20 % in A/B runs). At most about
/// 160 MiB of WAL; durability does not depend on it (a commit is durable once its WAL
/// frames are synced). A long WAL makes readers' page look-ups slower, so an idle writer
/// copies it back at once (see [`checkpoint_when_idle`]).
const WAL_AUTOCHECKPOINT: u32 = 40_000;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

struct JobMsg {
    job: Job,
    reply: Reply,
}

/// A read job; its answer comes with the latest commit its snapshot may hold.
struct ReadMsg {
    job: Job,
    reply: oneshot::Sender<(StoreResult<Box<dyn Any + Send>>, u64)>,
}

pub struct SqliteStore {
    writer: Mutex<mpsc::Sender<JobMsg>>,
    counters: Arc<WriteCounters>,
    durability: Arc<Durability>,
    /// None for an in-memory database: it has one connection, the writer's.
    readers: Option<mpsc::Sender<ReadMsg>>,
}

/// Performance: reads run on a fixed set of threads, each owning one read-only connection
/// for the life of the store, fed from one queue. (Before, each read took a connection from
/// a small idle list on a `spawn_blocking` thread and opened a new one when the list was
/// empty: under load most reads paid for opening a connection, parsing the schema and
/// re-preparing every statement, then closed it again. Now the prepared-statement caches
/// stay warm and the number of connections is bounded.)
fn reader_loop(path: String, rx: Arc<Mutex<mpsc::Receiver<ReadMsg>>>, durability: Arc<Durability>) {
    let opened = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| c.busy_timeout(std::time::Duration::from_secs(10)).map(|_| c))
    .and_then(|c| tune(&c).map(|_| c));
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let msg = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(ReadMsg { job, reply }) = msg else { return };
        let out = match &opened {
            Err(e) => Err(StoreError::Database(format!("cannot open a read connection: {e}"))),
            Ok(conn) => run_read(conn, job),
        };
        // Read after the snapshot ended: it cannot hold a commit begun later.
        let _ = reply.send((out, durability.began()));
    }
}

/// Performance settings of every connection; none changes a result.
/// - A statement cache large enough for every statement the rules use.
/// - The query planner stability guarantee: the bundled SQLite is built with STAT4, which
///   marks statements to be re-prepared (parsed and planned again) whenever a new value is
///   bound to a parameter the planner looked at; profiles showed most read time spent
///   re-preparing. With QPSG a statement keeps its plan (the plans here are plain index
///   lookups that do not depend on the values).
/// - A larger page cache (32 MiB per connection instead of 2 MiB), so the pages of the
///   lookups every request makes (tokens, users, guardianships, scope sets) stay in memory.
/// - Temporary files in memory: each mutation runs in a savepoint, and SQLite keeps the
///   original of every page a savepoint changes in a sub-journal so it can roll back. That
///   sub-journal was a temporary file, and writing it (`pwrite` per page) took a quarter of
///   the writer thread. It is only ever needed to undo a savepoint inside the open
///   transaction, never to recover after a crash (the WAL does that), so durability is
///   unchanged.
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.execute_batch("PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;")?;
    Ok(())
}

/// Runs a statement without parameters through the connection's statement cache.
/// Performance: `execute_batch` parses its SQL every time; transaction and savepoint
/// statements run several times per mutation, so they are prepared once per connection.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_read(conn: &Connection, job: Job) -> StoreResult<Box<dyn Any + Send>> {
    exec(conn, "BEGIN")?;
    let out = {
        let mut tx = SqliteTx::new(conn);
        catch_unwind(AssertUnwindSafe(|| job(&mut tx)))
            .unwrap_or_else(|_| Err(StoreError::Database("a read job panicked".into())))
    };
    let _ = exec(conn, "COMMIT");
    out
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, or an in-memory one for
    /// `:memory:`, applies migrations, and starts the writer thread. Committed writes are
    /// announced on `pokes` with the scopes they touched.
    pub fn open(path: &str, pokes: broadcast::Sender<Arc<TouchedScopes>>) -> StoreResult<Self> {
        Self::open_with(path, pokes, commit_sync::sync_all())
    }

    /// [`Self::open`] with the syncer's way of syncing the WAL (tests hold it back or make
    /// it fail).
    pub(crate) fn open_with(path: &str, pokes: broadcast::Sender<Arc<TouchedScopes>>, sync: SyncWal) -> StoreResult<Self> {
        let memory = path == ":memory:";
        // The writer's WAL writes go through `wal_batch`, set up below
        // (`wal_batch::set_up_writer`).
        let conn = if memory {
            Connection::open(path)?
        } else {
            super::wal_batch::register().map_err(StoreError::Database)?;
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), super::wal_batch::VFS_NAME)?
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        if !memory {
            let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            if mode.to_lowercase() != "wal" {
                return Err(StoreError::Database(format!("could not enable WAL (got {mode})")));
            }
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        if !memory {
            super::wal_batch::set_up_writer(&conn).map_err(StoreError::Database)?;
        }
        tune(&conn)?;
        migrate(&conn)?;
        if !memory {
            conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT}"))?;
        }

        let (tx, rx) = mpsc::channel::<JobMsg>();
        let counters = Arc::new(WriteCounters::default());
        let durability = Arc::new(Durability::new());
        let publisher = Arc::new(Publisher { counters: counters.clone(), durability: durability.clone(), pokes });
        // An in-memory database has no WAL: its commits settle at once.
        let syncer = if memory { None } else { Some(commit_sync::spawn_syncer(publisher.clone(), sync)?) };
        let checkpoints = if memory { None } else { Some(spawn_checkpointer(path)?) };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                raise_priority("sqlite-writer");
                writer_loop(conn, rx, &publisher, syncer, checkpoints)
            })
            .map_err(|e| StoreError::Database(format!("cannot start writer thread: {e}")))?;
        let readers = if memory {
            None
        } else {
            let (rtx, rrx) = mpsc::channel::<ReadMsg>();
            let rrx = Arc::new(Mutex::new(rrx));
            let n = std::thread::available_parallelism().map_or(MIN_READERS, |n| n.get()).clamp(MIN_READERS, MAX_READERS);
            for i in 0..n {
                let (path, rrx, durability) = (path.to_string(), rrx.clone(), durability.clone());
                std::thread::Builder::new()
                    .name(format!("sqlite-reader-{i}"))
                    .spawn(move || reader_loop(path, rrx, durability))
                    .map_err(|e| StoreError::Database(format!("cannot start reader thread: {e}")))?;
            }
            Some(rtx)
        };
        Ok(SqliteStore { writer: Mutex::new(tx), counters, durability, readers })
    }

    fn send_to_writer(&self, job: Job) -> JobFuture {
        let (reply, rx) = oneshot::channel();
        let sent = match self.writer.lock() {
            Ok(w) => w.send(JobMsg { job, reply }).is_ok(),
            Err(_) => false,
        };
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Closed);
            }
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let done: Option<i64> = conn
            .query_row("SELECT version FROM schema_migrations WHERE version = ?1", [version], |r| {
                r.get(0)
            })
            .optional()?;
        if done.is_some() {
            continue;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let applied = conn.execute_batch(sql).and_then(|_| {
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, Utc::now().to_rfc3339()],
            )
        });
        match applied {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(StoreError::Database(format!("migration {version}: {e}")));
            }
        }
        tracing::info!(version, "applied migration");
    }
    Ok(())
}

/// Copies the WAL back into the database file while no job waits (the writer has been idle
/// for `EXTERNAL_CHECK`); whether it is done until the next commit. A reader still on an
/// older snapshot keeps part of it from being copied: the next idle moment tries again. A
/// failure is logged once and left to the commits' own checkpoints.
///
/// Performance: after a write rush the WAL can hold up to [`WAL_AUTOCHECKPOINT`] pages, and
/// every page a reader fetches is first looked up in it; copying it back while idle keeps
/// that look-up short and takes the work out of the next rush's commits.
fn checkpoint_when_idle(conn: &Connection) -> bool {
    let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match r {
        Ok((busy, log, copied)) => busy == 0 && log == copied,
        Err(e) => {
            tracing::warn!(error = %e, "idle WAL checkpoint failed");
            true
        }
    }
}

/// Pause of the background checkpointer after each checkpoint: commits in between are
/// copied back together, each page once.
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts the background checkpointer: a thread with its own connection that copies the WAL
/// back into the database file (`PRAGMA wal_checkpoint(PASSIVE)`) after commits, at most
/// once per [`CHECKPOINT_PAUSE`]. The writer pokes it after every commit through the
/// returned sender (of room one, so pokes coalesce); it stops when the writer drops it.
///
/// Performance: the writer's own checkpoints (`wal_autocheckpoint`) copied up to
/// [`WAL_AUTOCHECKPOINT`] pages at a time inside a commit, a twelfth of the writer thread
/// in the care-week rush. A passive checkpoint runs beside the writer without blocking it;
/// what it has copied the writer's checkpoint skips, so when the WAL reaches
/// `WAL_AUTOCHECKPOINT` the writer copies only the rest and the WAL starts over.
/// Durability is unchanged: a commit is durable once its WAL frames are synced, and a
/// checkpoint syncs the database file before it marks frames as copied.
fn spawn_checkpointer(path: &str) -> StoreResult<mpsc::SyncSender<()>> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA synchronous=FULL")?;
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpointer".into())
        .spawn(move || {
            let mut warned = false;
            while rx.recv().is_ok() {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    if !warned {
                        tracing::warn!(error = %e, "background WAL checkpoint failed; the writer's own checkpoints go on");
                        warned = true;
                    }
                }
                std::thread::sleep(CHECKPOINT_PAUSE);
            }
        })
        .map_err(|e| StoreError::Database(format!("cannot start the checkpointer thread: {e}")))?;
    Ok(tx)
}

/// Mutation ids [`Tx::prefetch_outcomes`] asks for in one statement at most.
const OUTCOMES_PER_STATEMENT: usize = 250;

/// How often an idle writer looks for commits by other connections.
const EXTERNAL_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// SQLite's count of commits by *other* connections as seen by `conn` (`PRAGMA
/// data_version`); `None` if it cannot be read (then every check counts as a change).
fn data_version(conn: &Connection) -> Option<i64> {
    conn.prepare_cached("PRAGMA data_version").and_then(|mut st| st.query_row([], |r| r.get(0))).ok()
}

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<JobMsg>,
    publisher: &Publisher,
    syncer: Option<mpsc::Sender<Settle>>,
    checkpoints: Option<mpsc::SyncSender<()>>,
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
        let deferred = syncer.is_some() && super::wal_batch::defer_commit_sync(&conn);
        let committed = if tx.deferred.poisoned {
            Err(StoreError::Database("a job's writes failed half-way; the whole group is undone".into()))
        } else {
            tx.flush_seq().and_then(|_| Ok(exec(&conn, "COMMIT")?))
        };
        let wal = if deferred { super::wal_batch::take_deferred_sync(&conn) } else { None };
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
fn run_job(tx: &mut SqliteTx<'_>, job: Job) -> StoreResult<Box<dyn Any + Send>> {
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

impl Store for SqliteStore {
    fn submit_read(&self, job: Job) -> JobFuture {
        let Some(readers) = &self.readers else {
            return self.send_to_writer(job);
        };
        let (reply, rx) = oneshot::channel();
        let sent = readers.send(ReadMsg { job, reply }).is_ok();
        let durability = self.durability.clone();
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Closed);
            }
            let (out, seen) = rx.await.map_err(|_| StoreError::Closed)?;
            // Nothing read from a commit that is not on disk yet leaves before it is.
            durability.until_settled(seen).await?;
            out
        })
    }

    fn submit_write(&self, job: Job) -> JobFuture {
        self.send_to_writer(job)
    }

    fn generation(&self) -> GenerationFuture {
        // Read now, not when awaited: the value must not be later than the call.
        Box::pin(std::future::ready(Some(self.counters.generation.load(Ordering::SeqCst))))
    }

    fn session_generation(&self) -> Option<u64> {
        Some(self.counters.sessions.load(Ordering::SeqCst))
    }

    fn write_stats(&self) -> Option<WriteStats> {
        let c = &self.counters;
        Some(WriteStats {
            commits: c.commits.load(Ordering::Relaxed),
            jobs: c.jobs.load(Ordering::Relaxed),
            largest_group: c.largest_group.load(Ordering::Relaxed),
            split_groups: 0,
        })
    }
}

struct SqliteTx<'c> {
    /// The connection as is; statements that write, or read `entities`, go through
    /// [`SqliteTx::conn`] instead.
    db: &'c Connection,
    touched: TouchedScopes,
    cache: TxCache,
    /// Performance: the sequence counter (`meta.seq`) of this transaction, once read. Every
    /// entity write takes the next number; counting here and writing `meta.seq` once before
    /// the commit spares an UPDATE of the meta row per entity, and the copy of its page into
    /// the savepoint journal of every mutation. Savepoints keep the value they started with
    /// (`Frame::seq`) and a rollback restores it, so the numbers handed out are exactly those
    /// the database counter would have given.
    seq: Option<i64>,
    seq_dirty: bool,
    /// This transaction wrote `users` or `tokens` (even if rolled back since: counting one
    /// too many only costs a store trip).
    wrote_sessions: bool,
    /// The open savepoints of jobs and mutations and their waiting writes.
    deferred: Deferred,
    /// Outcomes of a push's mutation ids read at once ([`Tx::prefetch_outcomes`]): the
    /// owner and result text, or none. Exact for the rest of the transaction: outcomes are
    /// only ever added, and storing one drops its entry here.
    outcomes: HashMap<Uuid, Option<(String, String)>>,
}

/// The SQLite side of [`Deferred`], with the rowids of entities it knows
/// ([`TxCache::rowids`]).
struct SqliteDb<'c, 'r>(&'c Connection, &'r mut HashMap<(String, Uuid), i64>);

impl SavepointDb for SqliteDb<'_, '_> {
    fn open(&mut self, depth: usize) -> StoreResult<()> {
        Ok(exec(self.0, &format!("SAVEPOINT f{depth}"))?)
    }
    fn release(&mut self, depth: usize) -> StoreResult<()> {
        Ok(exec(self.0, &format!("RELEASE f{depth}"))?)
    }
    fn rollback(&mut self, depth: usize) -> StoreResult<()> {
        exec(self.0, &format!("ROLLBACK TO f{depth}"))?;
        Ok(exec(self.0, &format!("RELEASE f{depth}"))?)
    }
    fn write(&mut self, writes: &[&PendingWrite]) -> StoreResult<()> {
        // Each statement taken from the cache once for all the writes passed (a push's).
        let (mut put, mut update, mut outcome) = (None, None, None);
        for w in writes {
            match *w {
                PendingWrite::Put { ty, id, scope, seq, data } => {
                    let json = data.json()?;
                    let key = (ty.clone(), *id);
                    let id = id.to_string();
                    if let Some(&rowid) = self.1.get(&key) {
                        let st = match &mut update {
                            Some(st) => st,
                            None => update.insert(self.0.prepare_cached(UPDATE_ENTITY_BY_ROWID)?),
                        };
                        if st.execute(params![rowid, ty, id, scope, seq, &*json])? == 1 {
                            continue;
                        }
                    }
                    let st = match &mut put {
                        Some(st) => st,
                        None => put.insert(self.0.prepare_cached(INSERT_ENTITY)?),
                    };
                    let rowid = if st.execute(params![ty, id, scope, seq, &*json])? == 1 {
                        self.0.last_insert_rowid()
                    } else {
                        // Already there, and its rowid not known: learnt, then updated by it.
                        let rowid: i64 = self
                            .0
                            .prepare_cached("SELECT rowid FROM entities WHERE type = ?1 AND id = ?2")?
                            .query_row(params![ty, id], |r| r.get(0))?;
                        let st = match &mut update {
                            Some(st) => st,
                            None => update.insert(self.0.prepare_cached(UPDATE_ENTITY_BY_ROWID)?),
                        };
                        st.execute(params![rowid, ty, id, scope, seq, &*json])?;
                        rowid
                    };
                    self.1.insert(key, rowid);
                }
                PendingWrite::Delete { ty, id, seq, .. } => write_delete(self.0, ty, *id, *seq)?,
                PendingWrite::Outcome(o) => {
                    let st = match &mut outcome {
                        Some(st) => st,
                        None => outcome.insert(self.0.prepare_cached(INSERT_OUTCOME)?),
                    };
                    st.execute(params![
                        o.id.to_string(),
                        o.owner.to_string(),
                        o.client_id.to_string(),
                        o.name,
                        o.result,
                        o.at.to_rfc3339()
                    ])?;
                }
            }
        }
        Ok(())
    }
}

const INSERT_OUTCOME: &str =
    "INSERT INTO mutations (id, user_id, client_id, name, result, applied_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// The first write of an entity: a new row, or nothing if the entity has one (then it is
/// updated by [`UPDATE_ENTITY_BY_ROWID`]).
///
/// Performance: this was one upsert `… RETURNING rowid`. SQLite runs RETURNING as a
/// trigger, and a statement with a trigger that may fail half-way keeps the original of
/// every page it changes in a statement journal: a twentieth of the writer thread in the
/// care-week rush. A plain single-row insert needs none.
const INSERT_ENTITY: &str = "INSERT INTO entities (type, id, scope, seq, deleted, data) VALUES (?1, ?2, ?3, ?4, 0, ?5)
     ON CONFLICT (type, id) DO NOTHING";

/// A write of an entity whose row is known: by rowid, and only if that row still holds the
/// entity (otherwise it changes nothing and [`INSERT_ENTITY`] follows).
const UPDATE_ENTITY_BY_ROWID: &str = "UPDATE entities SET scope = ?4, seq = ?5, deleted = 0, data = ?6
     WHERE rowid = ?1 AND type = ?2 AND id = ?3";

fn write_delete(db: &Connection, ty: &str, id: Uuid, seq: i64) -> StoreResult<()> {
    db.prepare_cached("UPDATE entities SET deleted = 1, data = NULL, seq = ?3 WHERE type = ?1 AND id = ?2")?
        .execute(params![ty, id.to_string(), seq])?;
    Ok(())
}

impl<'c> SqliteTx<'c> {
    fn new(conn: &'c Connection) -> Self {
        Self::with_cache(conn, TxCache::default())
    }

    /// A transaction starting with what the writer kept from its last commit.
    fn with_cache(conn: &'c Connection, cache: TxCache) -> Self {
        SqliteTx {
            db: conn,
            touched: BTreeSet::new(),
            cache,
            seq: None,
            seq_dirty: false,
            wrote_sessions: false,
            deferred: Deferred::default(),
            outcomes: HashMap::new(),
        }
    }

    /// The connection, for a statement that writes or reads `entities` by a query: the
    /// waiting writes go in first, each frame's inside its own savepoint (see [`Deferred`]).
    fn conn(&mut self) -> StoreResult<&'c Connection> {
        self.deferred.materialize(&mut SqliteDb(self.db, &mut self.cache.rowids))?;
        Ok(self.db)
    }
}

fn uuid_col(s: String) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(&s).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn uuids(conn: &Connection, sql: &str, arg: Uuid) -> StoreResult<Vec<Uuid>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map([arg.to_string()], |r| uuid_col(r.get(0)?))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn entity_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntityRow> {
    Ok(EntityRow {
        entity_type: r.get(0)?,
        id: uuid_col(r.get(1)?)?,
        scope: r.get(2)?,
        seq: r.get(3)?,
        deleted: r.get::<_, i64>(4)? != 0,
        data: r.get(5)?,
    })
}

/// A row of [`Tx::changes`]'s query (`type, id, seq, deleted, data`), borrowed.
fn change_ref<'r>(r: &'r rusqlite::Row<'_>, seq: i64) -> StoreResult<ChangeRef<'r>> {
    let text = |i: usize| -> StoreResult<Option<&'r str>> {
        r.get_ref(i)?.as_str_or_null().map_err(|e| StoreError::Corrupt(format!("entities column {i}: {e}")))
    };
    let (Some(entity_type), Some(id)) = (text(0)?, text(1)?) else {
        return Err(StoreError::Corrupt("an entity without a type or id".into()));
    };
    Ok(ChangeRef {
        entity_type,
        id: Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(format!("entity id {id:?}: {e}")))?,
        seq,
        deleted: r.get::<_, i64>(3)? != 0,
        data: r.get_ref(4)?.as_bytes_or_null().map_err(|e| StoreError::Corrupt(format!("entities column 4: {e}")))?,
    })
}

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = r.get(3)?;
    Ok(UserRow {
        id: uuid_col(r.get(0)?)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        role: Role::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, role.into())
        })?,
        locale: r.get(4)?,
        password_hash: r.get(5)?,
        email: r.get(6)?,
        phone: r.get(7)?,
    })
}

/// Instants in the tablet tables: UTC with a fixed number of digits (`…T09:00:00.000000Z`),
/// so that text order is time order and `prune_pairings` can compare in SQL.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ts_col(s: String) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn opt_ts_col(s: Option<String>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    s.map(ts_col).transpose()
}

const DEVICE_COLS: &str = "id, unit_id, name, paired_by, paired_at, last_seen_at, revoked_at, revoked_by";

fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok(DeviceRow {
        id: uuid_col(r.get(0)?)?,
        unit_id: uuid_col(r.get(1)?)?,
        name: r.get(2)?,
        paired_by: uuid_col(r.get(3)?)?,
        paired_at: ts_col(r.get(4)?)?,
        last_seen_at: opt_ts_col(r.get(5)?)?,
        revoked_at: opt_ts_col(r.get(6)?)?,
        revoked_by: r.get::<_, Option<String>>(7)?.map(uuid_col).transpose()?,
    })
}

const PAIRING_COLS: &str =
    "id, unit_id, lookup, secret_hash, created_by, created_at, expires_at, failed_attempts, used_at";

fn pairing_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PairingRow> {
    Ok(PairingRow {
        id: uuid_col(r.get(0)?)?,
        unit_id: uuid_col(r.get(1)?)?,
        lookup: r.get(2)?,
        secret_hash: r.get(3)?,
        created_by: uuid_col(r.get(4)?)?,
        created_at: ts_col(r.get(5)?)?,
        expires_at: ts_col(r.get(6)?)?,
        failed_attempts: r.get(7)?,
        used_at: opt_ts_col(r.get(8)?)?,
    })
}

const USER_COLS: &str = "id, username, display_name, role, locale, password_hash, email, phone";
const ENTITY_COLS: &str = "type, id, scope, seq, deleted, data";

/// `scope IN (?, ?, …)` for a list; SQLite allows 32766 parameters, far above any scope set.
fn in_list(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}

impl SqliteTx<'_> {
    fn stored_seq(&self) -> StoreResult<i64> {
        Ok(self.db.prepare_cached("SELECT value FROM meta WHERE key = 'seq'")?.query_row([], |r| r.get(0))?)
    }

    fn next_seq(&mut self) -> StoreResult<i64> {
        let next = match self.seq {
            Some(s) => s + 1,
            None => self.stored_seq()? + 1,
        };
        self.seq = Some(next);
        self.seq_dirty = true;
        Ok(next)
    }

    /// Writes the counter back; the writer calls it right before COMMIT.
    fn flush_seq(&mut self) -> StoreResult<()> {
        if let (true, Some(s)) = (self.seq_dirty, self.seq) {
            // Never lower it (a fully rolled-back group leaves it as it was).
            self.conn()?
                .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'seq' AND value < ?1")?
                .execute([s])?;
            self.seq_dirty = false;
        }
        Ok(())
    }
}

impl Tx for SqliteTx<'_> {
    fn savepoint(&mut self) -> StoreResult<()> {
        self.deferred.begin(self.seq);
        Ok(())
    }
    fn release_savepoint(&mut self) -> StoreResult<()> {
        self.deferred.release(&mut SqliteDb(self.db, &mut self.cache.rowids))
    }
    fn rollback_savepoint(&mut self) -> StoreResult<()> {
        self.cache.rolled_back();
        self.seq = self.deferred.rollback(&mut SqliteDb(self.db, &mut self.cache.rowids))?;
        Ok(())
    }

    fn get_entity(&mut self, ty: &str, id: Uuid) -> StoreResult<Option<EntityRow>> {
        if let Some(row) = self.deferred.entity(ty, id)? {
            return Ok(row);
        }
        let key = (ty.to_string(), id);
        if let Some(row) = self.cache.entities.get(&key) {
            return Ok(row.clone());
        }
        let mut st = self
            .db
            .prepare_cached("SELECT type, id, scope, seq, deleted, data, rowid FROM entities WHERE type = ?1 AND id = ?2")?;
        let found = st
            .query_row(params![ty, id.to_string()], |r| Ok((entity_from_row(r)?, r.get::<_, i64>(6)?)))
            .optional()?;
        let row = found.map(|(row, rowid)| {
            self.cache.rowids.insert(key.clone(), rowid);
            row
        });
        self.cache.entities.insert(key, row.clone());
        Ok(row)
    }

    fn put_entity(&mut self, ty: &str, id: Uuid, scope: &str, data: &RawValue) -> StoreResult<i64> {
        self.cache.forget(ty, id);
        let seq = self.next_seq()?;
        self.deferred.write(PendingWrite::put(ty, id, scope, seq, data), &mut SqliteDb(self.db, &mut self.cache.rowids))?;
        self.touch_scope(scope);
        Ok(seq)
    }

    fn put_entity_value(&mut self, ty: &str, id: Uuid, scope: &str, value: Arc<dyn EntityValue>) -> StoreResult<i64> {
        let seq = self.next_seq()?;
        self.deferred.write(PendingWrite::put_value(ty, id, scope, seq, value.clone()), &mut SqliteDb(self.db, &mut self.cache.rowids))?;
        self.cache.wrote_value(ty, id, value);
        self.touch_scope(scope);
        Ok(seq)
    }

    fn typed_value(&self, ty: &str, id: Uuid) -> Option<Arc<dyn EntityValue>> {
        // The cache has it while it is the latest write (any other write or a rollback
        // forgets it), and the writer keeps it after the commit.
        self.cache.values.get(&(ty.to_string(), id)).cloned()
    }

    fn delete_entity(&mut self, ty: &str, id: Uuid) -> StoreResult<bool> {
        let Some(row) = self.get_entity(ty, id)? else { return Ok(false) };
        self.cache.forget(ty, id);
        if row.deleted {
            return Ok(false);
        }
        let seq = self.next_seq()?;
        let w = PendingWrite::Delete { ty: ty.to_string(), id, scope: row.scope.clone(), seq };
        self.deferred.write(w, &mut SqliteDb(self.db, &mut self.cache.rowids))?;
        self.touch_scope(&row.scope);
        Ok(true)
    }

    fn entities_in_scope(&mut self, ty: &str, scope: &str) -> StoreResult<Vec<EntityRow>> {
        let mut st = self.conn()?.prepare_cached(&format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE scope = ?1 AND type = ?2 AND deleted = 0 ORDER BY seq"
        ))?;
        let rows = st.query_map(params![scope, ty], entity_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn changes(
        &mut self,
        scopes: &[String],
        after: i64,
        up_to: Option<i64>,
        limit: Option<u32>,
        live_only: bool,
        visit: &mut dyn FnMut(ChangeRef<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        // A scope named twice must not give its rows twice (callers pass sets already).
        let unique: BTreeSet<&String> = scopes.iter().collect();
        if unique.is_empty() || limit == Some(0) {
            return Ok(());
        }
        // Performance: one range of the (scope, seq) index per scope, each already in seq
        // order, merged while they are read, so a page reads the rows it sends and one more
        // per scope, and the rows are visited where SQLite holds them. (With `scope IN (…)
        // ORDER BY seq` SQLite sorted every matching row in a temporary b-tree; reading each
        // scope's range up to the limit and sorting after read and copied a fifth more rows
        // than a first sync sends.) The ranges are read at the same time, so each needs a
        // statement of its own: the SQL differs by a trailing comment so that the statement
        // cache keeps one per slot.
        let conn = self.conn()?;
        let (up_to, n) = (up_to.unwrap_or(i64::MAX), limit.map(i64::from).unwrap_or(-1));
        let live = if live_only { "AND deleted = 0" } else { "" };
        if unique.len() > MERGE_SLOTS {
            // Staff, tablets and admins see every child of a unit: hundreds of scopes, more
            // statements than the cache should hold. Each range in turn with one statement, then
            // sorted (what a first sync of a guardian did before).
            let mut st = conn.prepare_cached(&format!(
                "SELECT {ENTITY_COLS} FROM entities WHERE scope = ?1 AND seq > ?2 AND seq <= ?3 {live} ORDER BY seq LIMIT ?4"
            ))?;
            let mut rows = Vec::new();
            for scope in unique {
                for row in st.query_map(params![scope, after, up_to, n], entity_from_row)? {
                    rows.push(row?);
                }
            }
            rows.sort_unstable_by_key(|r| r.seq);
            rows.truncate(limit.map_or(usize::MAX, |l| l as usize));
            for r in &rows {
                let data = r.data.as_deref().map(str::as_bytes);
                visit(ChangeRef { entity_type: &r.entity_type, id: r.id, seq: r.seq, deleted: r.deleted, data })?;
            }
            return Ok(());
        }
        let mut stmts = Vec::with_capacity(unique.len());
        for slot in 0..unique.len() {
            stmts.push(conn.prepare_cached(&format!(
                "SELECT type, id, seq, deleted, data FROM entities WHERE scope = ?1 AND seq > ?2 AND seq <= ?3 {live} \
                 ORDER BY seq LIMIT ?4 -- {slot}"
            ))?);
        }
        let mut ranges = Vec::with_capacity(stmts.len());
        // The seq of each range's current row; `None` once it is read to its end.
        let mut heads = Vec::with_capacity(stmts.len());
        for (st, scope) in stmts.iter_mut().zip(&unique) {
            let mut rows = st.query(params![scope, after, up_to, n])?;
            rows.advance()?;
            heads.push(rows.get().map(|r| r.get::<_, i64>(2)).transpose()?);
            ranges.push(rows);
        }
        let mut left = limit;
        while left != Some(0) {
            let Some((i, seq)) =
                heads.iter().enumerate().filter_map(|(i, h)| h.map(|s| (i, s))).min_by_key(|&(_, s)| s)
            else {
                break;
            };
            let rows = &mut ranges[i];
            if let Some(r) = rows.get() {
                visit(change_ref(r, seq)?)?;
            }
            rows.advance()?;
            heads[i] = rows.get().map(|r| r.get::<_, i64>(2)).transpose()?;
            left = left.map(|l| l - 1);
        }
        Ok(())
    }

    fn all_in_scopes(&mut self, scopes: &[String]) -> StoreResult<Vec<EntityRow>> {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE scope IN ({}) ORDER BY seq",
            in_list(scopes.len())
        );
        let mut st = self.conn()?.prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(scopes.iter()), entity_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn min_cursor_seq(&mut self) -> StoreResult<i64> {
        Ok(self.db.prepare_cached("SELECT value FROM meta WHERE key = 'min_cursor_seq'")?.query_row([], |r| r.get(0))?)
    }

    fn max_seq(&mut self) -> StoreResult<i64> {
        match self.seq {
            Some(s) => Ok(s),
            None => self.stored_seq(),
        }
    }

    fn touch_scope(&mut self, scope: &str) {
        if !self.touched.contains(scope) {
            self.touched.insert(scope.to_string());
        }
    }

    fn cached_unit(&mut self, id: Uuid) -> Option<Arc<Unit>> {
        self.cache.units.get(&id).cloned()
    }

    fn remember_unit(&mut self, unit: Arc<Unit>) {
        self.cache.units.insert(unit.id, unit);
    }

    fn scope_set(&mut self, hash: &str) -> StoreResult<Option<Vec<String>>> {
        let s: Option<String> = self
            .db
            .prepare_cached("SELECT scopes FROM scope_sets WHERE hash = ?1")?
            .query_row([hash], |r| r.get(0))
            .optional()?;
        match s {
            Some(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("scope set {hash}: {e}"))),
            None => Ok(None),
        }
    }

    fn has_scope_set(&mut self, hash: &str) -> StoreResult<bool> {
        // Performance: every pull asks; the set itself (JSON) is not read or parsed.
        Ok(self.db.prepare_cached("SELECT 1 FROM scope_sets WHERE hash = ?1")?.exists([hash])?)
    }

    fn put_scope_set(&mut self, hash: &str, scopes: &[String]) -> StoreResult<()> {
        let json = serde_json::to_string(scopes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn()?
            .prepare_cached("INSERT OR IGNORE INTO scope_sets (hash, scopes) VALUES (?1, ?2)")?
            .execute(params![hash, json])?;
        Ok(())
    }

    fn insert_user(&mut self, u: &UserRow) -> StoreResult<()> {
        self.cache.roster_changed();
        self.wrote_sessions = true;
        self.conn()?.execute(
            &format!("INSERT INTO users ({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                u.id.to_string(),
                u.username,
                u.display_name,
                u.role.as_str(),
                u.locale,
                u.password_hash,
                u.email,
                u.phone
            ],
        )?;
        Ok(())
    }

    fn user_by_username(&mut self, username: &str) -> StoreResult<Option<UserRow>> {
        let mut st =
            self.db.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE username = ?1"))?;
        Ok(st.query_row([username], user_from_row).optional()?)
    }

    fn user_by_id(&mut self, id: Uuid) -> StoreResult<Option<UserRow>> {
        let mut st = self.db.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?;
        Ok(st.query_row([id.to_string()], user_from_row).optional()?)
    }

    fn insert_token(
        &mut self,
        token_hash: &str,
        user_id: Uuid,
        device_id: Option<&str>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.wrote_sessions = true;
        self.conn()?.prepare_cached(
            "INSERT INTO tokens (token_hash, user_id, device_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            token_hash,
            user_id.to_string(),
            device_id,
            created_at.to_rfc3339(),
            expires_at.to_rfc3339()
        ])?;
        Ok(())
    }

    fn user_for_token(&mut self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserRow>> {
        // Every request asks this: the SQL is a constant (USER_COLS prefixed with `u.`), not
        // built anew each time.
        let mut st = self.db.prepare_cached(
            "SELECT u.id, u.username, u.display_name, u.role, u.locale, u.password_hash, u.email, u.phone, \
             t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1",
        )?;
        let row = st
            .query_row([token_hash], |r| Ok((user_from_row(r)?, r.get::<_, String>(8)?)))
            .optional()?;
        Ok(match row {
            Some((user, expires)) => {
                let expires = DateTime::parse_from_rfc3339(&expires)
                    .map_err(|e| StoreError::Corrupt(format!("token expiry: {e}")))?;
                (expires > now).then_some(user)
            }
            None => None,
        })
    }

    fn token_expires_at(&mut self, token_hash: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let expires: Option<String> = self
            .db
            .prepare_cached("SELECT expires_at FROM tokens WHERE token_hash = ?1")?
            .query_row([token_hash], |r| r.get(0))
            .optional()?;
        expires
            .map(|e| {
                DateTime::parse_from_rfc3339(&e)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|e| StoreError::Corrupt(format!("token expiry: {e}")))
            })
            .transpose()
    }

    fn revoke_token(&mut self, token_hash: &str) -> StoreResult<bool> {
        self.wrote_sessions = true;
        Ok(self.conn()?.execute("DELETE FROM tokens WHERE token_hash = ?1", [token_hash])? > 0)
    }

    fn insert_unit(&mut self, id: Uuid, name: &str) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute("INSERT INTO units (id, name) VALUES (?1, ?2)", params![id.to_string(), name])?;
        Ok(())
    }

    fn insert_group(&mut self, id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute(
            "INSERT INTO groups_ (id, unit_id) VALUES (?1, ?2)",
            params![id.to_string(), unit_id.to_string()],
        )?;
        Ok(())
    }

    fn insert_class(&mut self, id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute(
            "INSERT INTO classes (id, unit_id) VALUES (?1, ?2)",
            params![id.to_string(), unit_id.to_string()],
        )?;
        Ok(())
    }

    fn insert_child(&mut self, c: &ChildRow) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute(
            "INSERT INTO children (id, unit_id, class_id, student_user_id, personnummer) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                c.id.to_string(),
                c.unit_id.to_string(),
                c.class_id.map(|x| x.to_string()),
                c.student_user_id.map(|x| x.to_string()),
                c.personnummer
            ],
        )?;
        for g in &c.group_ids {
            self.conn()?.execute(
                "INSERT INTO child_groups (child_id, group_id) VALUES (?1, ?2)",
                params![c.id.to_string(), g.to_string()],
            )?;
        }
        Ok(())
    }

    fn add_guardian(&mut self, guardian_id: Uuid, child_id: Uuid) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute(
            "INSERT OR IGNORE INTO guardianships (guardian_id, child_id) VALUES (?1, ?2)",
            params![guardian_id.to_string(), child_id.to_string()],
        )?;
        // The guardian's scope grows: poke them so their next pull backfills.
        self.touch_scope(&format!("user:{guardian_id}"));
        Ok(())
    }

    fn remove_guardian(&mut self, guardian_id: Uuid, child_id: Uuid) -> StoreResult<bool> {
        self.cache.roster_changed();
        let n = self.conn()?.execute(
            "DELETE FROM guardianships WHERE guardian_id = ?1 AND child_id = ?2",
            params![guardian_id.to_string(), child_id.to_string()],
        )?;
        self.touch_scope(&format!("user:{guardian_id}"));
        Ok(n > 0)
    }

    fn add_staff_unit(&mut self, staff_id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute(
            "INSERT OR IGNORE INTO staff_units (staff_id, unit_id) VALUES (?1, ?2)",
            params![staff_id.to_string(), unit_id.to_string()],
        )?;
        self.touch_scope(&format!("user:{staff_id}"));
        Ok(())
    }

    fn child(&mut self, id: Uuid) -> StoreResult<Option<ChildRow>> {
        if let Some(c) = self.cache.children.get(&id) {
            return Ok(c.clone());
        }
        // The child and its groups in one statement (every mutation on a child asks).
        let child = self
            .db
            .prepare_cached(
                "SELECT id, unit_id, class_id, student_user_id, personnummer,
                        (SELECT group_concat(group_id) FROM child_groups WHERE child_id = children.id)
                 FROM children WHERE id = ?1",
            )?
            .query_row([id.to_string()], |r| {
                let mut group_ids = match r.get::<_, Option<String>>(5)? {
                    Some(list) => list.split(',').map(|g| uuid_col(g.to_string())).collect::<rusqlite::Result<Vec<_>>>()?,
                    None => Vec::new(),
                };
                group_ids.sort();
                Ok(ChildRow {
                    id: uuid_col(r.get(0)?)?,
                    unit_id: uuid_col(r.get(1)?)?,
                    class_id: r.get::<_, Option<String>>(2)?.map(uuid_col).transpose()?,
                    student_user_id: r.get::<_, Option<String>>(3)?.map(uuid_col).transpose()?,
                    personnummer: r.get(4)?,
                    group_ids,
                })
            })
            .optional()?;
        self.cache.children.insert(id, child.clone());
        Ok(child)
    }

    fn children_of_guardian(&mut self, guardian_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.db, "SELECT child_id FROM guardianships WHERE guardian_id = ?1 ORDER BY child_id", guardian_id)
    }

    fn guardians_of(&mut self, child_id: Uuid) -> StoreResult<Vec<Uuid>> {
        if let Some(g) = self.cache.guardians.get(&child_id) {
            return Ok(g.clone());
        }
        let g = uuids(self.db, "SELECT guardian_id FROM guardianships WHERE child_id = ?1 ORDER BY guardian_id", child_id)?;
        self.cache.guardians.insert(child_id, g.clone());
        Ok(g)
    }

    fn child_of_student(&mut self, user_id: Uuid) -> StoreResult<Option<Uuid>> {
        Ok(uuids(self.db, "SELECT id FROM children WHERE student_user_id = ?1", user_id)?.into_iter().next())
    }

    fn staff_units(&mut self, staff_id: Uuid) -> StoreResult<Vec<Uuid>> {
        if let Some(u) = self.cache.staff_units.get(&staff_id) {
            return Ok(u.clone());
        }
        let u = uuids(self.db, "SELECT unit_id FROM staff_units WHERE staff_id = ?1 ORDER BY unit_id", staff_id)?;
        self.cache.staff_units.insert(staff_id, u.clone());
        Ok(u)
    }

    fn staff_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.db, "SELECT staff_id FROM staff_units WHERE unit_id = ?1 ORDER BY staff_id", unit_id)
    }

    fn children_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.db, "SELECT id FROM children WHERE unit_id = ?1 ORDER BY id", unit_id)
    }

    fn groups_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.db, "SELECT id FROM groups_ WHERE unit_id = ?1 ORDER BY id", unit_id)
    }

    fn classes_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.db, "SELECT id FROM classes WHERE unit_id = ?1 ORDER BY id", unit_id)
    }

    fn all_units(&mut self) -> StoreResult<Vec<Uuid>> {
        let mut st = self.db.prepare_cached("SELECT id FROM units ORDER BY id")?;
        let rows = st.query_map([], |r| uuid_col(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn add_thread_participant(&mut self, thread_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        let n = self.conn()?.execute(
            "INSERT OR IGNORE INTO thread_participants (thread_id, user_id) VALUES (?1, ?2)",
            params![thread_id.to_string(), user_id.to_string()],
        )?;
        if n > 0 {
            self.touch_scope(&format!("user:{user_id}"));
        }
        Ok(())
    }

    fn thread_participants(&mut self, thread_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.db, "SELECT user_id FROM thread_participants WHERE thread_id = ?1 ORDER BY user_id", thread_id)
    }

    fn threads_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.db, "SELECT thread_id FROM thread_participants WHERE user_id = ?1 ORDER BY thread_id", user_id)
    }

    /// Performance: one statement for a push's ids instead of one per mutation (a tablet
    /// pushes forty marks at once), and SQLite visits the index in key order.
    fn prefetch_outcomes(&mut self, ids: &[Uuid]) -> StoreResult<()> {
        // In chunks: a statement takes a bounded number of parameters.
        for chunk in ids.chunks(OUTCOMES_PER_STATEMENT) {
            let sql = format!("SELECT id, user_id, result FROM mutations WHERE id IN ({})", in_list(chunk.len()));
            let mut st = self.db.prepare_cached(&sql)?;
            let mut rows = st.query(rusqlite::params_from_iter(chunk.iter().map(Uuid::to_string)))?;
            for id in chunk {
                self.outcomes.insert(*id, None);
            }
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                self.outcomes.insert(id, Some((r.get(1)?, r.get(2)?)));
            }
        }
        Ok(())
    }

    fn mutation_outcome(&mut self, id: Uuid) -> StoreResult<Option<(Uuid, MutationResult)>> {
        if let Some((owner, result)) = self.deferred.outcome(id) {
            let result = serde_json::from_str(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            return Ok(Some((owner, result)));
        }
        let row: Option<(String, String)> = match self.outcomes.get(&id) {
            Some(known) => known.clone(),
            None => self
                .db
                .prepare_cached("SELECT user_id, result FROM mutations WHERE id = ?1")?
                .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?,
        };
        match row {
            Some((user, result)) => {
                let user = Uuid::parse_str(&user).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let result = serde_json::from_str(&result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Some((user, result)))
            }
            None => Ok(None),
        }
    }

    fn store_mutation_outcome(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        client_id: Uuid,
        name: &str,
        result: &MutationResult,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.outcomes.remove(&id);
        let w = PendingWrite::outcome(id, user_id, client_id, name, result, at)?;
        self.deferred.write(w, &mut SqliteDb(self.db, &mut self.cache.rowids))
    }

    fn insert_device(&mut self, d: &DeviceRow, token_hash: &str) -> StoreResult<()> {
        self.conn()?
            .prepare_cached(&format!("INSERT INTO devices ({DEVICE_COLS}, token_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"))?
            .execute(params![
                d.id.to_string(),
                d.unit_id.to_string(),
                d.name,
                d.paired_by.to_string(),
                ts(d.paired_at),
                d.last_seen_at.map(ts),
                d.revoked_at.map(ts),
                d.revoked_by.map(|x| x.to_string()),
                token_hash
            ])?;
        Ok(())
    }

    fn device(&mut self, id: Uuid) -> StoreResult<Option<DeviceRow>> {
        let mut st = self.db.prepare_cached(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?1"))?;
        Ok(st.query_row([id.to_string()], device_from_row).optional()?)
    }

    fn device_for_token(&mut self, token_hash: &str) -> StoreResult<Option<DeviceRow>> {
        let mut st = self
            .db
            .prepare_cached(&format!("SELECT {DEVICE_COLS} FROM devices WHERE token_hash = ?1 AND revoked_at IS NULL"))?;
        Ok(st.query_row([token_hash], device_from_row).optional()?)
    }

    fn devices_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<DeviceRow>> {
        let mut st = self
            .db
            .prepare_cached(&format!("SELECT {DEVICE_COLS} FROM devices WHERE unit_id = ?1 ORDER BY paired_at, id"))?;
        let rows = st.query_map([unit_id.to_string()], device_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn revoke_device(&mut self, id: Uuid, by: Option<Uuid>, at: DateTime<Utc>) -> StoreResult<bool> {
        let n = self
            .conn()?
            .prepare_cached("UPDATE devices SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL")?
            .execute(params![id.to_string(), ts(at), by.map(|x| x.to_string())])?;
        Ok(n > 0)
    }

    fn set_device_last_seen(&mut self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        self.conn()?
            .prepare_cached("UPDATE devices SET last_seen_at = ?2 WHERE id = ?1")?
            .execute(params![id.to_string(), ts(at)])?;
        Ok(())
    }

    fn insert_pairing(&mut self, p: &PairingRow) -> StoreResult<()> {
        self.conn()?
            .prepare_cached(&format!(
                "INSERT INTO device_pairings ({PAIRING_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                p.id.to_string(),
                p.unit_id.to_string(),
                p.lookup,
                p.secret_hash,
                p.created_by.to_string(),
                ts(p.created_at),
                ts(p.expires_at),
                p.failed_attempts,
                p.used_at.map(ts)
            ])?;
        Ok(())
    }

    fn pairing(&mut self, id: Uuid) -> StoreResult<Option<PairingRow>> {
        let mut st = self.db.prepare_cached(&format!("SELECT {PAIRING_COLS} FROM device_pairings WHERE id = ?1"))?;
        Ok(st.query_row([id.to_string()], pairing_from_row).optional()?)
    }

    fn unused_pairings_by_lookup(&mut self, lookup: &str) -> StoreResult<Vec<PairingRow>> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {PAIRING_COLS} FROM device_pairings WHERE lookup = ?1 AND used_at IS NULL ORDER BY created_at, id"
        ))?;
        let rows = st.query_map([lookup], pairing_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn unused_pairings_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<PairingRow>> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {PAIRING_COLS} FROM device_pairings WHERE unit_id = ?1 AND used_at IS NULL ORDER BY created_at, id"
        ))?;
        let rows = st.query_map([unit_id.to_string()], pairing_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn count_failed_pairing_attempt(&mut self, id: Uuid) -> StoreResult<()> {
        self.conn()?
            .prepare_cached("UPDATE device_pairings SET failed_attempts = failed_attempts + 1 WHERE id = ?1")?
            .execute([id.to_string()])?;
        Ok(())
    }

    fn use_pairing(&mut self, id: Uuid, device_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let n = self
            .conn()?
            .prepare_cached("UPDATE device_pairings SET used_at = ?2, device_id = ?3 WHERE id = ?1 AND used_at IS NULL")?
            .execute(params![id.to_string(), ts(at), device_id.to_string()])?;
        Ok(n > 0)
    }

    fn delete_pairing(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.conn()?.prepare_cached("DELETE FROM device_pairings WHERE id = ?1")?.execute([id.to_string()])? > 0)
    }

    fn prune_pairings(&mut self, before: DateTime<Utc>) -> StoreResult<()> {
        self.conn()?
            .prepare_cached("DELETE FROM device_pairings WHERE used_at IS NULL AND expires_at < ?1")?
            .execute([ts(before)])?;
        Ok(())
    }

    fn staff_pin(&mut self, user_id: Uuid) -> StoreResult<Option<StaffPin>> {
        let mut st = self
            .db
            .prepare_cached("SELECT salt, rounds, hash, failures, locked, unlocked_at FROM staff_pins WHERE user_id = ?1")?;
        Ok(st
            .query_row([user_id.to_string()], |r| {
                Ok(StaffPin {
                    verifier: PinVerifier { salt: r.get(0)?, rounds: r.get(1)?, hash: r.get(2)? },
                    state: PinState {
                        failures: r.get(3)?,
                        locked: r.get::<_, i64>(4)? != 0,
                        unlocked_at: opt_ts_col(r.get(5)?)?,
                    },
                })
            })
            .optional()?)
    }

    fn put_staff_pin(&mut self, user_id: Uuid, pin: &StaffPin) -> StoreResult<()> {
        self.conn()?
            .prepare_cached(
                "INSERT INTO staff_pins (user_id, salt, rounds, hash, failures, locked, unlocked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (user_id) DO UPDATE SET salt = excluded.salt, rounds = excluded.rounds,
                     hash = excluded.hash, failures = excluded.failures, locked = excluded.locked,
                     unlocked_at = excluded.unlocked_at",
            )?
            .execute(params![
                user_id.to_string(),
                pin.verifier.salt,
                pin.verifier.rounds,
                pin.verifier.hash,
                pin.state.failures,
                pin.state.locked as i64,
                pin.state.unlocked_at.map(ts)
            ])?;
        Ok(())
    }

    fn delete_staff_pin(&mut self, user_id: Uuid) -> StoreResult<bool> {
        Ok(self.conn()?.prepare_cached("DELETE FROM staff_pins WHERE user_id = ?1")?.execute([user_id.to_string()])? > 0)
    }

    fn enqueue_outgoing(
        &mut self,
        channel: &str,
        recipient: &str,
        subject: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn()?
            .prepare_cached(
                "INSERT INTO outgoing (channel, recipient, subject, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![channel, recipient, subject, body, at.to_rfc3339()])?;
        Ok(())
    }

    fn is_empty(&mut self) -> StoreResult<bool> {
        let n: i64 = self.conn()?.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        Ok(n == 0)
    }
}

#[cfg(test)]
mod tests {
    //! The deferred savepoints ([`Frame`]): whatever the order of savepoints, writes,
    //! releases and rollbacks, the database ends as it would with a real savepoint each.
    use super::*;

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

    /// A database file in WAL mode in a fresh directory, never checkpointed by itself, with
    /// a table `t`: the directory, the file and the connection.
    fn wal_db(name: &str) -> (std::path::PathBuf, std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("hub-{name}-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hub.db");
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)).unwrap();
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v INTEGER)").unwrap();
        (dir, path, conn)
    }

    #[test]
    fn an_idle_checkpoint_copies_the_committed_wal_into_the_database_file() {
        let (dir, path, conn) = wal_db("idle-checkpoint");
        conn.execute_batch("INSERT INTO t VALUES (7)").unwrap();
        // The database file alone (a copy without its WAL) has only what was copied back.
        let file_alone = |name: &str| {
            let copy = dir.join(name);
            std::fs::copy(&path, &copy).unwrap();
            let c = Connection::open(&copy).unwrap();
            c.query_row("SELECT count(*) FROM sqlite_master WHERE name = 't'", [], |r| r.get::<_, i64>(0)).unwrap()
        };
        assert_eq!(file_alone("before.db"), 0, "the commit is only in the WAL");
        assert!(checkpoint_when_idle(&conn), "no reader holds the WAL back");
        assert_eq!(file_alone("after.db"), 1);
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_background_checkpointer_copies_the_wal_into_the_database_file_beside_the_writer() {
        let (dir, path, conn) = wal_db("background-checkpoint");
        // What the database file alone (a copy without its WAL) holds; `None` while a copy
        // caught the file half-written.
        let file_alone = |name: &str| -> Option<i64> {
            let copy = dir.join(name);
            std::fs::copy(&path, &copy).ok()?;
            let c = Connection::open(&copy).ok()?;
            let n = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).ok();
            drop(c);
            let _ = std::fs::remove_file(&copy);
            n
        };
        let poke = spawn_checkpointer(path.to_str().unwrap()).unwrap();
        // The writer goes on committing (it never idles) while the checkpointer works.
        let mut copied = None;
        for i in 0..200 {
            conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
            poke.try_send(()).ok();
            std::thread::sleep(std::time::Duration::from_millis(20));
            if let Some(n) = file_alone("copy.db").filter(|&n| n > 0) {
                copied = Some((i, n));
                break;
            }
        }
        let (i, n) = copied.expect("the committed rows reached the database file");
        assert!(n <= i + 1, "never more than was committed");
        assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), i + 1);
        drop(poke);
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
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
}
