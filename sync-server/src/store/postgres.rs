//! The PostgreSQL store, for several stateless server instances on one database
//! (ARCHITECTURE.md, "Scale-out"). Same shape as the SQLite store: one writer thread doing
//! durable group commit, a small pool of reader threads, plus one thread that LISTENs for
//! the pokes every instance announces.
//!
//! # Threads, not tasks
//! The synchronous `postgres` client drives its connection with a runtime of its own, so it
//! must never run (or be dropped) on a tokio worker thread. Every connection here lives and
//! dies on a dedicated std thread fed by a channel; the async side only awaits a oneshot.
//!
//! # Writes: serialized across instances, `seq` in commit order
//! Every write transaction starts with `pg_advisory_xact_lock(WRITE_LOCK)`, so at any moment
//! at most one write transaction, of any instance, is past that line; the lock is released
//! only after its commit is visible to other sessions (PostgreSQL releases locks after
//! marking the transaction committed). This makes the writers of all instances behave like
//! SQLite's single writer:
//!
//! - The rules' read-then-write checks (idempotency by mutation id, one absence per child
//!   and day, one booking per talk slot) cannot race: the second writer's statements run
//!   after the first has committed and see its rows. Write transactions are READ COMMITTED on
//!   purpose: each statement takes a fresh snapshot, and every statement after the lock sees
//!   every earlier writer's commit (a REPEATABLE READ snapshot would have been taken by the
//!   lock statement itself, before the wait).
//! - `seq` is allocated from the `meta` row inside the locked transaction, so sequence
//!   numbers are handed out in commit order: every row with `seq <= n` is committed before
//!   any row with `seq > n` becomes visible. A reader's snapshot therefore always holds a
//!   prefix of the sequence: `max_seq` read in the same snapshot as the rows bounds exactly
//!   what the snapshot can see, and a pull cursor that jumps to it never skips a row that
//!   commits later. (With a database sequence or without the lock, seq 11 could commit
//!   before seq 10, and a pull between the two commits would move its cursor past 10 for
//!   good.)
//! - A large group is written on two connections at once ([`split_off_lower_half`]): its
//!   first part, with the lower sequence numbers, commits as a transaction of its own on a
//!   second connection while the locked transaction still holds the rest, which commits
//!   only after it. The prefix holds, and no other instance commits in between: not even
//!   when the writer's session ends before its first part commits (`FIRST_PART_LOCK`).
//!
//! # Group commit
//! The writer takes every queued job (up to [`MAX_GROUP`]) into one transaction, each job
//! in its own savepoint, and sends results only after `COMMIT` has returned. The writer
//! connection runs with `synchronous_commit = on`, so an acknowledged mutation is in the
//! flushed WAL.
//!
//! # Reads
//! Reader threads run each job in its own `REPEATABLE READ READ ONLY` transaction: one
//! consistent snapshot per job.
//!
//! # The commit generation
//! Every write transaction adds one to `meta.generation` just before its COMMIT, so the
//! value counts every commit of every instance. [`Store::generation`] reads it in a task
//! of its own on the server's runtime: all requests waiting when a read starts share that read, and a request that
//! arrives during a read waits for the next one, so every answer comes from a read that
//! began after the request, and a crowd of no-change pulls costs one round trip a turn
//! instead of a snapshot each ([`crate::pull_cache`]).
//!
//! # Pokes across instances, and the commits each instance knows
//! Every write transaction sends `pg_notify('hub_pokes', '<generation> ["scope", …]')` (the
//! scopes only when it touched some) inside its transaction; PostgreSQL delivers it to every
//! listening session when (and only if) the transaction commits, in commit order. Every
//! instance LISTENs on its own connection, notes the generation as known ([`KnownCommit`]),
//! then forwards the scopes into its local `pokes` channel, its own writes included, so the
//! writer does not broadcast locally. A payload too long for NOTIFY is sent as `["*"]`,
//! which pokes every stream ([`POKE_EVERYONE`]); so is a reconnect of the listener (it may
//! have missed some), which reads the generation again after its LISTEN.
//!
//! The known commit is what a pull that names the commit it must see (`min_commit`, see
//! `docs/protocol.md`) is answered from without a read: generations are handed out under
//! the write lock, so when generation `k` is committed every smaller one is too. While the
//! listener is down nothing is known and every pull reads the generation.
//! Nothing in one instance's memory is needed by another. (The dev clock is per instance:
//! a test that fixes it must fix it on every instance.)

use std::any::Any;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::pin::{PinState, PinVerifier};
use domain::wire::entity::{Unit, ATTENDANCE_TYPE, UNIT_TYPE};
use domain::wire::{MutationResult, Role};
use bytes::{BufMut, BytesMut};
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Row, Statement};
use serde_json::value::RawValue;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use super::deferred::{coalesced, split_point, Deferred, EntityData, PendingOutcome, PendingWrite, SavepointDb};
use super::priority::raise_priority;
use super::{
    ChangeRef, ChildRow, DeviceRow, EntityRow, EntityValue, GenerationFuture, Job, JobFuture, PairingRow, StaffPin, Store, StoreError,
    ReadHint, StoreResult, TouchedScopes, Tx, TxCache, UserRow, WriteStats, POKE_EVERYONE,
};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/server-postgres/0001_init.sql")),
    (2, include_str!("../../../migrations/server-postgres/0002_tablets.sql")),
    (3, include_str!("../../../migrations/server-postgres/0003_generation.sql")),
    (4, include_str!("../../../migrations/server-postgres/0004_pin_unlocked_at.sql")),
    (5, include_str!("../../../migrations/server-postgres/0005_drop_entities_seq.sql")),
    (6, include_str!("../../../migrations/server-postgres/0006_json_columns_as_text.sql")),
];

/// Jobs the writer takes into one transaction at most. Smaller than SQLite's 512: every
/// statement here is a round trip, and the transaction holds the write lock of all
/// instances until it commits; 64 jobs already share one WAL flush (~2 ms) among them.
const MAX_GROUP: usize = 64;
/// Reader threads (and so at most this many read connections) per instance.
const READERS: usize = 4;
/// Taken by every write transaction (transaction-scoped): serializes writers across
/// instances. An arbitrary constant, "hub:wr".
const WRITE_LOCK: i64 = 0x6875_623a_7772;
/// Held (shared, transaction-scoped) by the first part of a split group while it commits,
/// and waited for (taken and let go at once) by every writer after it takes the write lock:
/// see [`split_off_lower_half`]. "hub:lw".
const FIRST_PART_LOCK: i64 = 0x6875_623a_6c77;
/// Taken (session-scoped) while migrating, so instances starting at once migrate once.
const MIGRATE_LOCK: i64 = 0x6875_623a_6d67;
/// The NOTIFY channel of commits and their pokes.
const CHANNEL: &str = "hub_pokes";
/// NOTIFY payloads must stay below 8000 bytes.
const MAX_PAYLOAD: usize = 7900;
/// How often an idle listener looks whether its store was dropped.
const LISTEN_TICK: Duration = Duration::from_millis(250);

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Database(describe(&e))
    }
}

/// The server's message and SQLSTATE when there is one (the plain Display says "db error").
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Text for a PostgreSQL `text` parameter. PostgreSQL text cannot hold U+0000, which JSON
/// strings (and so user input) can carry and SQLite stores; a NUL would fail the statement
/// (a 500 the client retries forever, where SQLite answers). It becomes U+FFFD, the same
/// way in writes and look-ups, so such a value is stored and found again.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_text(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(text)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

type Reply = oneshot::Sender<StoreResult<Box<dyn Any + Send>>>;

struct Msg {
    job: Job,
    reply: Reply,
    /// What a write job will look up, fetched for its whole group first (see `run_batch`).
    hint: Option<ReadHint>,
}

pub struct PostgresStore {
    writer: mpsc::Sender<Msg>,
    generation: tokio::sync::mpsc::UnboundedSender<oneshot::Sender<Option<u64>>>,
    readers: Arc<Mutex<Readers>>,
    /// Tells the listener thread to stop when the store is dropped.
    closed: Arc<AtomicBool>,
    counters: Arc<WriteCounters>,
    known: Arc<KnownCommit>,
}

/// The latest commit generation this instance knows to be committed: noted by its writer
/// after each commit, by the listener for every instance's commit (before it forwards the
/// commit's pokes) and by each read of the generation. Every commit up to it is visible to
/// any snapshot begun after it was noted. Known only while the listener is up (see the
/// module's "Pokes across instances").
///
/// The listener reads the generation itself whenever nothing was announced for a
/// [`LISTEN_TICK`]; if it has not heard from the database for [`KNOWN_FOR`] (a connection
/// that hangs without failing), nothing is known either.
pub(crate) struct KnownCommit {
    generation: AtomicU64,
    listening: AtomicBool,
    /// When the listener last heard from the database, in ms after `since`.
    heard_ms: AtomicU64,
    since: std::time::Instant,
}

/// How long what the listener last heard stays good for (see [`KnownCommit`]).
const KNOWN_FOR: Duration = Duration::from_secs(2);

impl Default for KnownCommit {
    fn default() -> Self {
        KnownCommit {
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            heard_ms: AtomicU64::new(0),
            since: std::time::Instant::now(),
        }
    }
}

impl KnownCommit {
    fn note(&self, generation: u64) {
        self.generation.fetch_max(generation, Ordering::SeqCst);
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The listener heard from the database (a notification or its own read).
    fn heard(&self) {
        self.heard_ms.store(self.elapsed_ms(), Ordering::SeqCst);
    }

    fn get(&self) -> Option<u64> {
        let fresh = self.elapsed_ms().saturating_sub(self.heard_ms.load(Ordering::SeqCst)) < KNOWN_FOR.as_millis() as u64;
        (self.listening.load(Ordering::SeqCst) && fresh).then(|| self.generation.load(Ordering::SeqCst))
    }
}

/// Group-commit counters of this instance, bumped by its writer after each commit.
#[derive(Default)]
struct WriteCounters {
    commits: AtomicU64,
    jobs: AtomicU64,
    largest_group: AtomicU64,
    /// Groups written on two connections at once (see [`split_off_lower_half`]).
    split_groups: AtomicU64,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The writer thread ends when its channel closes (after the jobs still queued), the
        // readers when theirs do; the listener looks at this flag between waits.
        self.closed.store(true, Ordering::Relaxed);
        if let Ok(mut r) = self.readers.lock() {
            r.closed = true;
            r.inboxes.clear();
            r.backlog.clear();
        }
    }
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    stmts: HashMap<String, Statement>,
    /// Performance: scope sets a read on this connection found. They are never deleted
    /// (a cursor names its set by hash), so a pull need not ask for its set again: one
    /// statement fewer a pull.
    known_scope_sets: HashSet<String>,
    /// When a reader began its next read-only transaction ahead, with the last one's
    /// ROLLBACK (see [`read_job`]).
    read_begun: Option<Instant>,
    /// Scope sets (by a hash of their names) whose last page read here was full, so that the
    /// next page of a large first sync is read in order at once (see `changes`): when.
    overflowed: HashMap<u64, Instant>,
    /// Statements run that may write (`execute`, `batch`): a group whose writes all waited
    /// to its end is told by this not moving (see `split_off_lower_half`).
    writes: u64,
    /// The backend's process id on a writer's connection (0 on others): the session whose
    /// write lock the first part of a split group checks (see `split_off_lower_half`).
    pid: i32,
}

/// Bounds [`Conn::known_scope_sets`] and [`Conn::overflowed`]: past it the set starts
/// again (each person's set is then asked for once more).
const KNOWN_SCOPE_SETS: usize = 100_000;

/// How long a scope set whose page overflowed is read in order at once (see `changes`).
const OVERFLOWED_FOR: Duration = Duration::from_secs(60);

impl Conn {
    fn connect(config: &postgres::Config) -> StoreResult<Conn> {
        let client = config.connect(NoTls)?;
        Ok(Conn {
            client,
            stmts: HashMap::new(),
            known_scope_sets: HashSet::new(),
            read_begun: None,
            overflowed: HashMap::new(),
            writes: 0,
            pid: 0,
        })
    }

    fn stmt(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let st = self.stmt(sql)?;
        Ok(self.client.query(&st, params)?)
    }

    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Option<Row>> {
        let st = self.stmt(sql)?;
        Ok(self.client.query_opt(&st, params)?)
    }

    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Row> {
        let st = self.stmt(sql)?;
        Ok(self.client.query_one(&st, params)?)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        self.writes += 1;
        let st = self.stmt(sql)?;
        Ok(self.client.execute(&st, params)?)
    }

    fn batch(&mut self, sql: &str) -> StoreResult<()> {
        self.writes += 1;
        Ok(self.client.batch_execute(sql)?)
    }
}

fn parse_config(url: &str) -> StoreResult<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e: postgres::Error| StoreError::Database(format!("bad PostgreSQL URL: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("hub-sync-server");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// Runs `f` on a fresh std thread and waits for it: for set-up work that must not run on a
/// tokio worker (the `postgres` client would start a runtime inside the runtime).
fn on_own_thread<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> StoreResult<T> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| StoreError::Database(format!("cannot start thread {name}: {e}")))?
        .join()
        .map_err(|_| StoreError::Database(format!("thread {name} panicked")))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`), applies migrations, starts the writer, readers and
    /// the poke listener. Committed writes of every instance on this database (this one
    /// included) are announced on `pokes` with the scopes they touched.
    pub fn open(url: &str, pokes: broadcast::Sender<Arc<TouchedScopes>>) -> StoreResult<Self> {
        let async_config = parse_config(url)?;
        let config = postgres::Config::from(async_config.clone());
        // The commit generation is read by a task on the caller's runtime (the server's).
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError::Database("the PostgreSQL store is opened outside a tokio runtime".into()))?;

        // Connect the writer and migrate, and start listening, before answering: a poke of
        // any write after `open` returns must reach this instance.
        let cfg = config.clone();
        let writer_conn = on_own_thread("pg-open", move || -> StoreResult<Conn> {
            let mut conn = connect_session(&cfg)?;
            migrate(&mut conn)?;
            Ok(conn)
        })??;
        let cfg = config.clone();
        let known = Arc::new(KnownCommit::default());
        let listen_known = known.clone();
        let listen_conn = on_own_thread("pg-open", move || listen_connect(&cfg, &listen_known))??;

        let closed = Arc::new(AtomicBool::new(false));
        let (writer_tx, writer_rx) = mpsc::channel::<Msg>();
        let cfg = config.clone();
        let counters = Arc::new(WriteCounters::default());
        let (writer_counters, writer_known) = (counters.clone(), known.clone());
        spawn("pg-writer", move || {
            raise_priority("pg-writer");
            writer_loop(cfg, writer_conn, writer_rx, &writer_counters, &writer_known)
        })?;

        let readers = Arc::new(Mutex::new(Readers {
            inboxes: Vec::with_capacity(READERS),
            idle: (0..READERS).rev().collect(),
            backlog: VecDeque::new(),
            closed: false,
        }));
        let (generation, generation_rx) = tokio::sync::mpsc::unbounded_channel();
        runtime.spawn(generation_task(async_config, generation_rx, known.clone()));
        // A reader's transaction waits begun between jobs by design (see `read_job`), which
        // a server-wide `idle_in_transaction_session_timeout` must not end under it: set at
        // the connection's start-up, as a SET in a transaction would be rolled back with it.
        let mut reader_config = config.clone();
        let options = match config.get_options() {
            Some(o) => format!("{o} -c idle_in_transaction_session_timeout=0"),
            None => "-c idle_in_transaction_session_timeout=0".to_string(),
        };
        reader_config.options(&options);
        for i in 0..READERS {
            let (tx, rx) = mpsc::channel::<Msg>();
            if let Ok(mut r) = readers.lock() {
                r.inboxes.push(tx);
            }
            let cfg = reader_config.clone();
            let shared = readers.clone();
            spawn(&format!("pg-reader-{i}"), move || reader_loop(cfg, i, rx, shared))?;
        }

        let cfg = config;
        let (flag, listen_known) = (closed.clone(), known.clone());
        spawn("pg-listener", move || listen_loop(cfg, listen_conn, pokes, flag, listen_known))?;

        Ok(PostgresStore { writer: writer_tx, generation, readers, closed, counters, known })
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> StoreResult<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| StoreError::Database(format!("cannot start thread {name}: {e}")))
}

fn send(to: &mpsc::Sender<Msg>, job: Job, hint: Option<ReadHint>) -> JobFuture {
    let (reply, rx) = oneshot::channel();
    let sent = to.send(Msg { job, reply, hint }).is_ok();
    Box::pin(async move {
        if !sent {
            return Err(StoreError::Closed);
        }
        rx.await.map_err(|_| StoreError::Closed)?
    })
}

impl Store for PostgresStore {
    fn submit_read(&self, job: Job) -> JobFuture {
        let (reply, rx) = oneshot::channel();
        let queued = match self.readers.lock() {
            Ok(mut r) if !r.closed => {
                let msg = Msg { job, reply, hint: None };
                match r.idle.pop() {
                    Some(i) => r.inboxes.get(i).is_some_and(|inbox| inbox.send(msg).is_ok()),
                    None => {
                        r.backlog.push_back(msg);
                        true
                    }
                }
            }
            _ => false,
        };
        Box::pin(async move {
            if !queued {
                return Err(StoreError::Closed);
            }
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn submit_write(&self, job: Job) -> JobFuture {
        send(&self.writer, job, None)
    }

    fn submit_write_hinted(&self, job: Job, hint: ReadHint) -> JobFuture {
        send(&self.writer, job, Some(hint))
    }

    fn generation(&self) -> GenerationFuture {
        let (reply, rx) = oneshot::channel();
        let asked = self.generation.send(reply).is_ok();
        Box::pin(async move {
            if !asked {
                return None;
            }
            rx.await.ok().flatten()
        })
    }

    fn known_commit(&self) -> Option<u64> {
        self.known.get()
    }

    fn last_commit(&self) -> Option<u64> {
        Some(self.known.generation.load(Ordering::SeqCst))
    }

    fn write_stats(&self) -> Option<WriteStats> {
        let c = &self.counters;
        Some(WriteStats {
            commits: c.commits.load(Ordering::Relaxed),
            jobs: c.jobs.load(Ordering::Relaxed),
            largest_group: c.largest_group.load(Ordering::Relaxed),
            split_groups: c.split_groups.load(Ordering::Relaxed),
        })
    }
}

fn migrate(conn: &mut Conn) -> StoreResult<()> {
    // Session lock: a second instance starting now waits here, then finds the work done.
    conn.batch(&format!("SELECT pg_advisory_lock({MIGRATE_LOCK})"))?;
    let result = migrate_locked(conn);
    let unlocked = conn.batch(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"));
    result.and(unlocked)
}

fn migrate_locked(conn: &mut Conn) -> StoreResult<()> {
    conn.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let done = conn.client.query_opt("SELECT version FROM schema_migrations WHERE version = $1", &[version])?;
        if done.is_some() {
            continue;
        }
        conn.batch("BEGIN")?;
        let applied = conn.client.batch_execute(sql).and_then(|_| {
            conn.client.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                &[version],
            )
        });
        match applied {
            Ok(_) => conn.batch("COMMIT")?,
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                return Err(StoreError::Database(format!("migration {version}: {}", describe(&e))));
            }
        }
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Writer

fn writer_loop(
    config: postgres::Config,
    conn: Conn,
    rx: mpsc::Receiver<Msg>,
    counters: &WriteCounters,
    known: &KnownCommit,
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
            Ok((done, generation, cache)) => {
                kept = cache.after_commit();
                kept_at = Some(generation);
                // Before any reply: the answer of a push names a commit this instance knows.
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
                if let Some((generation, done)) = committed {
                    // The group's first half committed on its own (see `split_off_lower_half`).
                    known.note(generation);
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

/// Runs `start` on the connection, connecting first if there is none; if it fails on a
/// connection that turns out closed (the server restarted), reconnects and tries once more.
fn begin<'c>(
    config: &postgres::Config,
    conn: &'c mut Option<Conn>,
    start: impl Fn(&mut Conn) -> StoreResult<()>,
) -> StoreResult<&'c mut Conn> {
    if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
        *conn = None;
    }
    let fresh = conn.is_none();
    if fresh {
        *conn = Some(connect_session(config)?);
    }
    let Some(c) = conn.as_mut() else { return Err(StoreError::Closed) };
    match start(c) {
        Ok(()) => {}
        Err(e) if !fresh && c.client.is_closed() => {
            tracing::warn!(error = %e, "PostgreSQL connection lost; reconnecting");
            *c = connect_session(config)?;
            start(c)?;
        }
        Err(e) => {
            let _ = c.batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(c)
}

/// A writer's connection (the writer's and the second writer's).
///
/// `enable_seqscan = off`: every statement a writer runs finds its rows by a key, and
/// PostgreSQL keeps the plan it made for a prepared statement from the statistics of that
/// moment. `mutations` starts empty and grows by thousands of rows a second in a rush: the
/// group's outcome look-up (`id = ANY($1)`), planned while autovacuum's last `ANALYZE` had
/// seen a few dozen rows, stayed a sequential scan of the whole table until the next one,
/// up to a minute later. In a `psql` copy (40 rows analysed, then 200,000 more) that plan
/// took 751 ms for 1,280 ids, the index 1.7 ms; in the benchmark at 2026-12-06 17:25 tablet
/// marks fell from about 70,000 to 3,600/s for a whole run (docs/benchmarks.md). Off, the
/// planner takes the index whatever the statistics say; a query without one still scans.
fn connect_session(config: &postgres::Config) -> StoreResult<Conn> {
    let mut c = Conn::connect(config)?;
    c.batch("SET synchronous_commit = on; SET enable_seqscan = off")?;
    c.pid = c.query_one("SELECT pg_backend_pid()", &[])?.try_get(0).map_err(corrupt)?;
    Ok(c)
}

type Done = Vec<(Reply, StoreResult<Box<dyn Any + Send>>)>;

/// A group commit that failed: the error, the jobs of a first half that committed on its
/// own with its generation (see [`split_off_lower_half`]), and the replies to fail.
struct Failed {
    error: String,
    committed: Option<(u64, Done)>,
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
/// Returns the replies and the commit's generation; on a failed commit, hands back the
/// replies to fail.
fn run_batch(
    conn: &mut Conn,
    mut batch: Vec<Msg>,
    kept: TxCache,
    lower: Option<&LowerWriter>,
    split_groups: &AtomicU64,
) -> Result<(Done, u64, TxCache), Failed> {
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
            Ok(Ok((generation, written))) => {
                tx.cache.absorb_written(written);
                lower_committed = Some((generation, jobs));
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
            .and_then(|()| notify_commit(tx.db, &touched))
            .and_then(|g| tx.db.batch("COMMIT").map(|()| g))
            .map_err(|e| e.to_string()),
    };
    match finish {
        // What the transaction read and wrote, now committed (see `writer_loop`).
        Ok(generation) => Ok((done, generation, std::mem::take(&mut tx.cache))),
        Err(e) => {
            // After a failed COMMIT the transaction is already gone; ROLLBACK then only warns.
            let _ = tx.db.batch("ROLLBACK");
            let committed = lower_committed.map(|(generation, jobs)| (generation, done.drain(..jobs.min(done.len())).collect()));
            Err(Failed { error: e, committed, replies: done.into_iter().map(|(reply, _)| reply).collect() })
        }
    }
}

// ---------------------------------------------------------------------------------------
// A group written on two connections at once

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
    seq: Option<i64>,
    /// The writer's session, which holds the write lock.
    writer: i32,
    reply: mpsc::SyncSender<LowerResult>,
}

/// The generation of a first half's commit and what it wrote, or why it failed.
type LowerResult = Result<(u64, TxCache), String>;

/// The thread and connection that write the first part of a large group (see
/// [`split_off_lower_half`]).
struct LowerWriter {
    to: mpsc::Sender<LowerHalf>,
}

impl LowerWriter {
    /// Starts the thread; without it every group goes in on the writer's connection alone.
    fn start(config: &postgres::Config) -> Option<LowerWriter> {
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
    let mut written = TxCache { rowids, ..TxCache::default() };
    let result = PgDb(c, &mut written)
        .write(&coalesced(&half.writes))
        .and_then(|()| match half.seq {
            Some(s) => c.execute("UPDATE meta SET value = $1 WHERE key = 'seq' AND value < $1", &[&s]).map(|_| ()),
            None => Ok(()),
        })
        .and_then(|()| notify_commit(c, &half.touched))
        .and_then(|generation| c.batch("COMMIT").map(|()| generation));
    match result {
        Ok(generation) => Ok((generation, written)),
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
/// before it reads anything ([`begin_write`]). A first part whose writer is gone fails; one
/// that checked in time commits before any later writer reads. (The writer writes the rest
/// under a savepoint, so that a refused write of its own does not end its hold of the lock
/// before the first part has checked: see `run_batch`.)
fn split_off_lower_half(
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
    if let Err(mpsc::SendError(half)) = lower.to.send(LowerHalf { writes, rowids, touched, seq, writer: tx.db.pid, reply }) {
        // The thread is gone: the writes go in here after all.
        tx.deferred.put_front(half.writes);
        return None;
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

/// Moves the commit generation and announces it with `touched` to every instance,
/// delivered by PostgreSQL at commit (`<generation>` or `<generation> <scopes>`, see
/// [`parse_notification`]). Returns the generation.
fn notify_commit(conn: &mut Conn, touched: &TouchedScopes) -> StoreResult<u64> {
    let scopes = if touched.is_empty() { String::new() } else { format!(" {}", poke_payload(touched)) };
    let row = conn.query_one(
        "WITH g AS (UPDATE meta SET value = value + 1 WHERE key = 'generation' RETURNING value)
         SELECT value, pg_notify($1, value::text || $2) FROM g",
        &[&CHANNEL, &scopes],
    )?;
    let g: i64 = row.try_get(0).map_err(corrupt)?;
    Ok(g as u64)
}

/// A notification's generation and scopes. An instance of an earlier version sends the
/// scopes alone (no generation); one that cannot be read pokes everyone.
fn parse_notification(payload: &str) -> (Option<u64>, TouchedScopes) {
    let everyone = || BTreeSet::from([POKE_EVERYONE.to_string()]);
    let (generation, scopes) = match payload.split_once(' ') {
        Some((g, rest)) if !g.starts_with('[') => (g.parse::<u64>().ok(), Some(rest)),
        _ if payload.starts_with('[') => (None, Some(payload)),
        _ => (payload.parse::<u64>().ok(), None),
    };
    let scopes = match scopes {
        None if generation.is_some() => BTreeSet::new(),
        None => everyone(),
        Some(s) => serde_json::from_str::<TouchedScopes>(s).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable poke; poking everyone");
            everyone()
        }),
    };
    (generation, scopes)
}

/// The JSON array of touched scopes, or `["*"]` when that would not fit in a NOTIFY.
fn poke_payload(touched: &TouchedScopes) -> String {
    let payload = serde_json::to_string(touched).unwrap_or_default();
    if payload.is_empty() || payload.len() > MAX_PAYLOAD {
        return format!("[\"{POKE_EVERYONE}\"]");
    }
    payload
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

// ---------------------------------------------------------------------------------------
// Readers

/// Read jobs go to the reader that became idle last, whose connection is open and whose
/// statements are prepared (a new connection to a database costs tens of milliseconds), or
/// wait in `backlog` until a reader is free. So a quiet instance uses one read connection,
/// a busy one up to [`READERS`].
struct Readers {
    inboxes: Vec<mpsc::Sender<Msg>>,
    /// Idle readers, the most recently idle on top.
    idle: Vec<usize>,
    backlog: VecDeque<Msg>,
    closed: bool,
}

fn reader_loop(config: postgres::Config, me: usize, inbox: mpsc::Receiver<Msg>, shared: Arc<Mutex<Readers>>) {
    // Connected at the first job, so an idle instance holds only its writer and listener.
    let mut conn: Option<Conn> = None;
    while let Ok(first) = inbox.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            read_job(&config, &mut conn, msg.job, msg.reply);
            let Ok(mut r) = shared.lock() else { return };
            if r.closed {
                return;
            }
            next = r.backlog.pop_front();
            if next.is_none() {
                r.idle.push(me);
            }
        }
    }
}

/// Runs `job` in its own snapshot and answers `reply`, then ends the transaction.
///
/// The answer goes out before the ROLLBACK, so its round trip is not in the answer's
/// latency (a read-only transaction holds nothing another needs). The next job's BEGIN
/// goes with it: a REPEATABLE READ transaction takes its snapshot at its first statement,
/// not at BEGIN (and holds no transaction id until then), so the job still sees every
/// commit made before it started, with one round trip fewer (about 100 µs of a PostgreSQL
/// initial sync's 1.6 ms read job, 2026-12-06). A transaction begun longer ago than
/// [`READ_BEGUN_FOR`] is begun again, so that a connection the database dropped while idle
/// is found (and replaced) by BEGIN, not by the job's first statement; within that time a
/// job on a connection the database has just dropped fails, as one in flight then would.
fn read_job(config: &postgres::Config, conn: &mut Option<Conn>, job: Job, reply: Reply) {
    let begun = conn
        .as_ref()
        .is_some_and(|c| !c.client.is_closed() && c.read_begun.is_some_and(|at| at.elapsed() < READ_BEGUN_FOR));
    let c = match conn.as_mut() {
        Some(c) if begun => c,
        _ => match begin(config, conn, |c| {
            if c.read_begun.take().is_some() {
                c.batch(&format!("ROLLBACK; {BEGIN_READ}"))
            } else {
                c.batch(BEGIN_READ)
            }
        }) {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        },
    };
    c.read_begun = None;
    let out = {
        let mut tx = PgTx::new(c, false);
        catch_unwind(AssertUnwindSafe(|| job(&mut tx)))
            .unwrap_or_else(|_| Err(StoreError::Database("a read job panicked".into())))
    };
    let _ = reply.send(out);
    match c.batch(&format!("ROLLBACK; {BEGIN_READ}")) {
        Ok(()) => c.read_begun = Some(Instant::now()),
        // Lost, or in a state this does not know: the next job connects afresh.
        Err(_) => *conn = None,
    }
}

const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// How long a reader's transaction begun ahead is used (see [`read_job`]): what it saves
/// counts under load, when jobs follow each other closely.
const READ_BEGUN_FOR: Duration = Duration::from_millis(250);

// ---------------------------------------------------------------------------------------
// Generation

/// Answers [`Store::generation`] requests until the store is dropped: every request queued
/// when a read starts gets that read's value; later ones wait for the next read.
///
/// Performance: a task on the server's runtime, not a thread of its own: the answer's
/// socket is polled by the workers that are awake anyway, so a crowd of no-change pulls
/// does not wait for a sleeping thread to be scheduled twice per read.
async fn generation_task(config: tokio_postgres::Config, mut requests: GenerationRequests, known: Arc<KnownCommit>) {
    let mut conn: Option<(tokio_postgres::Client, tokio_postgres::Statement)> = None;
    while let Some(first) = requests.recv().await {
        let mut waiting = vec![first];
        while let Ok(w) = requests.try_recv() {
            waiting.push(w);
        }
        let value = read_generation(&config, &mut conn).await;
        if let Some(g) = value {
            known.note(g);
        }
        for w in waiting {
            let _ = w.send(value);
        }
    }
}

type GenerationRequests = tokio::sync::mpsc::UnboundedReceiver<oneshot::Sender<Option<u64>>>;

/// `meta.generation` as committed now; `None` (nothing answered from memory) when the
/// database cannot be reached.
async fn read_generation(
    config: &tokio_postgres::Config,
    conn: &mut Option<(tokio_postgres::Client, tokio_postgres::Statement)>,
) -> Option<u64> {
    if conn.as_ref().is_some_and(|(c, _)| c.is_closed()) {
        *conn = None;
    }
    if conn.is_none() {
        match generation_connect(config).await {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the commit generation");
                return None;
            }
        }
    }
    let (client, statement) = conn.as_ref()?;
    match client.query_opt(statement, &[]).await {
        Ok(row) => row.and_then(|r| r.try_get::<_, i64>(0).ok()).map(|v| v as u64),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the commit generation");
            *conn = None;
            None
        }
    }
}

async fn generation_connect(
    config: &tokio_postgres::Config,
) -> Result<(tokio_postgres::Client, tokio_postgres::Statement), tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the commit generation's connection ended");
        }
    });
    let statement = client.prepare("SELECT value FROM meta WHERE key = 'generation'").await?;
    Ok((client, statement))
}

/// A child and its groups in one row ([`child_from_row`]), for `Tx::child` and
/// `prefetch_reads`.
const CHILD_COLS: &str = "id, unit_id, class_id, student_user_id, personnummer,
    ARRAY(SELECT group_id FROM child_groups WHERE child_id = children.id ORDER BY group_id)";

/// A child and its groups, as `Tx::child` and `prefetch_reads` select them.
fn child_from_row(r: &postgres::Row) -> StoreResult<ChildRow> {
    Ok(ChildRow {
        id: r.try_get(0).map_err(corrupt)?,
        unit_id: r.try_get(1).map_err(corrupt)?,
        class_id: r.try_get(2).map_err(corrupt)?,
        student_user_id: r.try_get(3).map_err(corrupt)?,
        personnummer: r.try_get(4).map_err(corrupt)?,
        group_ids: r.try_get(5).map_err(corrupt)?,
    })
}

// ---------------------------------------------------------------------------------------
// Listener

/// Connects and LISTENs, then reads the generation: every commit after it will be
/// announced, so from here on the known commit is kept current.
fn listen_connect(config: &postgres::Config, known: &KnownCommit) -> StoreResult<Client> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    hear_generation(&mut client, known)?;
    known.listening.store(true, Ordering::SeqCst);
    Ok(client)
}

/// Reads the generation on the listener's connection into `known`.
fn hear_generation(client: &mut Client, known: &KnownCommit) -> StoreResult<()> {
    let row = client.query_one("SELECT value FROM meta WHERE key = 'generation'", &[])?;
    let g: i64 = row.try_get(0).map_err(corrupt)?;
    known.note(g as u64);
    known.heard();
    Ok(())
}

fn listen_loop(
    config: postgres::Config,
    client: Client,
    pokes: broadcast::Sender<Arc<TouchedScopes>>,
    closed: Arc<AtomicBool>,
    known: Arc<KnownCommit>,
) {
    let mut client = Some(client);
    while !closed.load(Ordering::Relaxed) {
        let Some(c) = client.as_mut() else {
            match listen_connect(&config, &known) {
                Ok(c) => {
                    tracing::info!("poke listener reconnected");
                    client = Some(c);
                    // Whatever was announced while we were away: poke everyone.
                    let _ = pokes.send(Arc::new(BTreeSet::from([POKE_EVERYONE.to_string()])));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "poke listener cannot connect; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            continue;
        };
        let mut lost = false;
        {
            let mut notes = c.notifications();
            let mut it = notes.timeout_iter(LISTEN_TICK);
            loop {
                match postgres::fallible_iterator::FallibleIterator::next(&mut it) {
                    Ok(Some(n)) => {
                        let (generation, scopes) = parse_notification(n.payload());
                        // Known before the poke goes out: a pull it causes names a known commit.
                        if let Some(g) = generation {
                            known.note(g);
                        }
                        known.heard();
                        // No receivers (no open streams) is fine.
                        if !scopes.is_empty() {
                            let _ = pokes.send(Arc::new(scopes));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %describe(&e), "poke listener lost its connection");
                        lost = true;
                        break;
                    }
                }
            }
        }
        // Quiet for a tick: check the connection and the generation.
        if !lost {
            if let Err(e) = hear_generation(c, &known) {
                tracing::warn!(error = %e, "poke listener cannot read the commit generation");
                lost = true;
            }
        }
        if lost || c.is_closed() {
            // Commits announced while away would be missed: nothing is known until LISTEN again.
            known.listening.store(false, Ordering::SeqCst);
            client = None;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The transaction

struct PgTx<'c> {
    /// The connection as is; statements that write, or read `entities` by a query, go
    /// through [`PgTx::conn`] instead.
    db: &'c mut Conn,
    touched: TouchedScopes,
    write: bool,
    /// The roster and parsed units, never entities (see [`TxCache`]).
    cache: TxCache,
    /// The open savepoints of jobs and mutations and their waiting writes.
    deferred: Deferred,
    /// Performance: the sequence counter (`meta.seq`) of this write transaction, once read;
    /// counted here and written back once before COMMIT (inside the write lock, so still in
    /// commit order). Savepoints restore it on rollback.
    seq: Option<i64>,
    seq_dirty: bool,
    /// Performance: idempotency records fetched for a whole push in one query
    /// ([`Tx::prefetch_outcomes`]): the owner and result text, or none. Exact inside the
    /// write lock; an id whose outcome this transaction stores is dropped from it (the store
    /// is then asked again).
    outcomes: HashMap<Uuid, Option<(Uuid, String)>>,
    /// A read job's person, looked up by token together with what a pull of theirs asks
    /// next (see [`PgTx::person_by_token`]).
    person: Option<PersonRead>,
}

/// What a read job fetched with a person's token: the token's expiry, the person's
/// children (as a guardian) and threads, and the sequence counters. Exact for the rest of
/// the job, whose snapshot the look-up began.
struct PersonRead {
    token_hash: String,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    children: Vec<Uuid>,
    threads: Vec<Uuid>,
    seq: i64,
    min_cursor_seq: i64,
}

/// A JSON column (`text` since schema v6) as its bytes, as stored: no copy into a `String`
/// and no parse here.
struct JsonText<'a>(&'a [u8]);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(JsonText(raw))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TEXT
    }
}

/// A row's address in its table (`ctid`) in PostgreSQL's binary form: the block number,
/// then the row's place in that block. Kept packed (`block << 16 | place`) in
/// [`TxCache::rowids`], where SQLite's store keeps its rowids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tid(i64);

impl ToSql for Tid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let block = u32::try_from(self.0 >> 16).map_err(|_| format!("no block {}", self.0 >> 16))?;
        out.put_u32(block);
        out.put_u16((self.0 & 0xffff) as u16);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TID
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Tid {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let raw: [u8; 6] = raw.try_into().map_err(|_| format!("a tid of {} bytes", raw.len()))?;
        let block = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let place = u16::from_be_bytes([raw[4], raw[5]]);
        Ok(Tid(i64::from(block) << 16 | i64::from(place)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TID
    }
}

fn entity_from_row(r: &Row) -> StoreResult<EntityRow> {
    Ok(EntityRow {
        entity_type: r.try_get(0).map_err(corrupt)?,
        id: r.try_get(1).map_err(corrupt)?,
        scope: r.try_get(2).map_err(corrupt)?,
        seq: r.try_get(3).map_err(corrupt)?,
        deleted: r.try_get(4).map_err(corrupt)?,
        data: r.try_get(5).map_err(corrupt)?,
    })
}

fn entities(rows: Vec<Row>) -> StoreResult<Vec<EntityRow>> {
    rows.iter().map(entity_from_row).collect()
}

fn user_from_row(r: &Row) -> StoreResult<UserRow> {
    let role: String = r.try_get(3).map_err(corrupt)?;
    Ok(UserRow {
        id: r.try_get(0).map_err(corrupt)?,
        username: r.try_get(1).map_err(corrupt)?,
        display_name: r.try_get(2).map_err(corrupt)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        locale: r.try_get(4).map_err(corrupt)?,
        password_hash: r.try_get(5).map_err(corrupt)?,
        email: r.try_get(6).map_err(corrupt)?,
        phone: r.try_get(7).map_err(corrupt)?,
    })
}

fn first_col_uuids(rows: Vec<Row>) -> StoreResult<Vec<Uuid>> {
    rows.iter().map(|r| r.try_get::<_, Uuid>(0).map_err(corrupt)).collect()
}

const DEVICE_COLS: &str = "id, unit_id, name, paired_by, paired_at, last_seen_at, revoked_at, revoked_by";

fn device_from_row(r: &Row) -> StoreResult<DeviceRow> {
    Ok(DeviceRow {
        id: r.try_get(0).map_err(corrupt)?,
        unit_id: r.try_get(1).map_err(corrupt)?,
        name: r.try_get(2).map_err(corrupt)?,
        paired_by: r.try_get(3).map_err(corrupt)?,
        paired_at: r.try_get(4).map_err(corrupt)?,
        last_seen_at: r.try_get(5).map_err(corrupt)?,
        revoked_at: r.try_get(6).map_err(corrupt)?,
        revoked_by: r.try_get(7).map_err(corrupt)?,
    })
}

const PAIRING_COLS: &str =
    "id, unit_id, lookup, secret_hash, created_by, created_at, expires_at, failed_attempts, used_at";

/// A count stored as `integer`.
fn count_col(r: &Row, i: usize) -> StoreResult<u32> {
    let n: i32 = r.try_get(i).map_err(corrupt)?;
    u32::try_from(n).map_err(corrupt)
}

fn pairing_from_row(r: &Row) -> StoreResult<PairingRow> {
    Ok(PairingRow {
        id: r.try_get(0).map_err(corrupt)?,
        unit_id: r.try_get(1).map_err(corrupt)?,
        lookup: r.try_get(2).map_err(corrupt)?,
        secret_hash: r.try_get(3).map_err(corrupt)?,
        created_by: r.try_get(4).map_err(corrupt)?,
        created_at: r.try_get(5).map_err(corrupt)?,
        expires_at: r.try_get(6).map_err(corrupt)?,
        failed_attempts: count_col(r, 7)?,
        used_at: r.try_get(8).map_err(corrupt)?,
    })
}

/// A count for an `integer` column.
fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

const USER_COLS: &str = "id, username, display_name, role, locale, password_hash, email, phone";

/// [`USER_COLS`] of a query that names `users` as `u`, and how many they are.
fn user_cols_of_u() -> (String, usize) {
    let cols: Vec<String> = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect();
    (cols.join(", "), cols.len())
}
/// `data` is the JSON text the server wrote (a `text` column since schema v6), and it goes
/// into pull answers as is (see [`EntityRow`]).
const ENTITY_COLS: &str = "type, id, scope, seq, deleted, data";

/// The PostgreSQL side of [`Deferred`]: waiting puts and outcomes go in as one statement
/// each per run (round trips are what this store's writes cost).
///
/// What it writes is noted in the transaction's cache as the entity's state from then on
/// ([`TxCache::wrote_row`]), which the writer keeps after the commit.
struct PgDb<'a>(&'a mut Conn, &'a mut TxCache);

impl SavepointDb for PgDb<'_> {
    fn open(&mut self, depth: usize) -> StoreResult<()> {
        self.0.batch(&format!("SAVEPOINT f{depth}"))
    }
    fn release(&mut self, depth: usize) -> StoreResult<()> {
        self.0.batch(&format!("RELEASE f{depth}"))
    }
    fn rollback(&mut self, depth: usize) -> StoreResult<()> {
        self.0.batch(&format!("ROLLBACK TO f{depth}; RELEASE f{depth}"))
    }
    fn write(&mut self, writes: &[&PendingWrite]) -> StoreResult<()> {
        // Entity writes in order, consecutive puts of distinct entities as one statement (one
        // INSERT cannot update the same row twice); outcomes, another table, all at the end.
        // (`Deferred` hands over its writes coalesced, so a put of an entity already in the
        // statement does not happen; it would be written in order all the same.)
        let mut puts: Vec<(&str, Uuid, &str, i64, Cow<'_, str>)> = Vec::new();
        let mut values: Vec<Option<&Arc<dyn EntityValue>>> = Vec::new();
        // Performance: a set, not a walk of `puts` (a group of care weeks puts about 1,300
        // entities in one statement: the walk was a twentieth of the server's time).
        let mut in_statement: HashSet<(&str, Uuid)> = HashSet::new();
        for w in writes {
            match *w {
                PendingWrite::Put { ty, id, scope, seq, data } => {
                    if !in_statement.insert((ty.as_str(), *id)) {
                        self.put_all(&mut puts, &mut values)?;
                        in_statement.clear();
                        in_statement.insert((ty.as_str(), *id));
                    }
                    puts.push((ty, *id, scope, *seq, data.json()?));
                    values.push(match data {
                        EntityData::Value(v) => Some(v),
                        EntityData::Json(_) => None,
                    });
                }
                PendingWrite::Delete { ty, id, scope, seq } => {
                    self.put_all(&mut puts, &mut values)?;
                    in_statement.clear();
                    self.0.execute(
                        "UPDATE entities SET deleted = true, data = NULL, seq = $3 WHERE type = $1 AND id = $2",
                        &[ty, id, seq],
                    )?;
                    self.1.rowids.remove(&(ty.clone(), *id));
                    let row =
                        EntityRow { entity_type: ty.clone(), id: *id, scope: scope.clone(), seq: *seq, deleted: true, data: None };
                    self.1.wrote_row(row, None);
                }
                PendingWrite::Outcome(_) => {}
            }
        }
        self.put_all(&mut puts, &mut values)?;
        let mut outcomes: Vec<&PendingOutcome> = writes
            .iter()
            .filter_map(|w| match *w {
                PendingWrite::Outcome(o) => Some(&**o),
                _ => None,
            })
            .collect();
        if outcomes.is_empty() {
            return Ok(());
        }
        // Performance: in id order. The app's ids are time-ordered (UUID v7), so the group's
        // records then go to the right end of `mutations`' key, one page after another,
        // instead of back and forth across the last pages in the order the pushes came in.
        outcomes.sort_unstable_by_key(|o| o.id);
        let ids: Vec<Uuid> = outcomes.iter().map(|o| o.id).collect();
        let owners: Vec<Uuid> = outcomes.iter().map(|o| o.owner).collect();
        let clients: Vec<Uuid> = outcomes.iter().map(|o| o.client_id).collect();
        let names: Vec<Cow<'_, str>> = outcomes.iter().map(|o| text(&o.name)).collect();
        let results: Vec<&str> = outcomes.iter().map(|o| o.result.as_str()).collect();
        let ats: Vec<DateTime<Utc>> = outcomes.iter().map(|o| o.at).collect();
        self.0.execute(
            "INSERT INTO mutations (id, user_id, client_id, name, result, applied_at)
             SELECT i, u, c, n, r, a
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[])
                 AS x(i, u, c, n, r, a)",
            &[&ids, &owners, &clients, &names, &results, &ats],
        )?;
        Ok(())
    }
}

impl PgDb<'_> {
    /// Writes `puts` (distinct entities) and notes each as written, `values` being their
    /// typed values; both are emptied.
    fn put_all(
        &mut self,
        puts: &mut Vec<(&str, Uuid, &str, i64, Cow<'_, str>)>,
        values: &mut Vec<Option<&Arc<dyn EntityValue>>>,
    ) -> StoreResult<()> {
        write_puts(self.0, puts, &mut self.1.rowids)?;
        for ((ty, id, scope, seq, data), value) in puts.drain(..).zip(values.drain(..)) {
            let row = EntityRow {
                entity_type: ty.to_string(),
                id,
                scope: scope.to_string(),
                seq,
                deleted: false,
                data: Some(data.into_owned()),
            };
            self.1.wrote_row(row, value.cloned());
        }
        Ok(())
    }
}

/// Writes entities (distinct): those whose row address is in `at` updated there, in one
/// statement, and the others, or one whose address no longer holds its row, upserted in
/// another. `at` learns where each row now is.
///
/// Performance: a tablet rush writes day records the writer has read or written before.
/// The upsert looked each one's key up in the primary key's index and then locked the row
/// it found, a WAL record of its own, before the new version and its index entries; at its
/// address the row is found without the index and updated without that lock. The update
/// also checks type and id and only finds a row its transaction sees, so an address that
/// no longer holds the entity's live row (moved by a write since, rolled back, vacuumed,
/// or another instance's) changes nothing and the upsert writes the entity.
fn write_puts(
    conn: &mut Conn,
    puts: &[(&str, Uuid, &str, i64, Cow<'_, str>)],
    at: &mut HashMap<(String, Uuid), i64>,
) -> StoreResult<()> {
    if puts.is_empty() {
        return Ok(());
    }
    let mut known: Vec<(usize, Tid)> = Vec::new();
    let mut rest: Vec<usize> = Vec::new();
    // One key reused for the look-ups (a map of owned keys).
    let mut key = (String::new(), Uuid::nil());
    let set = |key: &mut (String, Uuid), p: &(&str, Uuid, &str, i64, Cow<'_, str>)| {
        key.0.clear();
        key.0.push_str(p.0);
        key.1 = p.1;
    };
    for (i, p) in puts.iter().enumerate() {
        set(&mut key, p);
        match at.get(&key) {
            Some(&tid) => known.push((i, Tid(tid))),
            None => rest.push(i),
        }
    }
    if !known.is_empty() {
        let tids: Vec<Tid> = known.iter().map(|(_, t)| *t).collect();
        let (types, ids, scopes, seqs, data) = columns(puts, known.iter().map(|(i, _)| *i));
        // Each row updated answers with its put's place in `known` (counted from 1) and
        // where its new version is.
        let rows = conn.query(
            "UPDATE entities e SET scope = x.s, seq = x.q, deleted = false, data = x.d
             FROM unnest($1::tid[], $2::text[], $3::uuid[], $4::text[], $5::int8[], $6::text[])
                 WITH ORDINALITY AS x(c, t, i, s, q, d, n)
             WHERE e.ctid = x.c AND e.type = x.t AND e.id = x.i
             RETURNING x.n, e.ctid",
            &[&tids, &types, &ids, &scopes, &seqs, &data],
        )?;
        let mut moved: Vec<Option<Tid>> = vec![None; known.len()];
        for r in &rows {
            let n: i64 = r.try_get(0).map_err(corrupt)?;
            let slot = usize::try_from(n - 1).ok().and_then(|k| moved.get_mut(k));
            *slot.ok_or_else(|| StoreError::Corrupt(format!("an update answered for put {n}")))? = Some(r.try_get(1).map_err(corrupt)?);
        }
        for ((i, _), now) in known.into_iter().zip(moved) {
            match now {
                Some(now) => {
                    set(&mut key, &puts[i]);
                    if let Some(tid) = at.get_mut(&key) {
                        *tid = now.0;
                    }
                }
                None => rest.push(i),
            }
        }
    }
    if rest.is_empty() {
        return Ok(());
    }
    let (types, ids, scopes, seqs, data) = columns(puts, rest.iter().copied());
    let rows = conn.query(
        "INSERT INTO entities (type, id, scope, seq, deleted, data)
         SELECT t, i, s, q, false, d
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int8[], $5::text[]) AS x(t, i, s, q, d)
         ON CONFLICT (type, id) DO UPDATE SET scope = excluded.scope, seq = excluded.seq,
             deleted = false, data = excluded.data
         RETURNING type, id, ctid",
        &[&types, &ids, &scopes, &seqs, &data],
    )?;
    for r in &rows {
        let tid: Tid = r.try_get(2).map_err(corrupt)?;
        at.insert((r.try_get(0).map_err(corrupt)?, r.try_get(1).map_err(corrupt)?), tid.0);
    }
    Ok(())
}

/// The columns of the puts at `which`, as statement parameters.
#[allow(clippy::type_complexity)]
fn columns<'p>(
    puts: &'p [(&str, Uuid, &str, i64, Cow<'_, str>)],
    which: impl Iterator<Item = usize> + Clone,
) -> (Vec<&'p str>, Vec<Uuid>, Vec<&'p str>, Vec<i64>, Vec<&'p str>) {
    (
        which.clone().map(|i| puts[i].0).collect(),
        which.clone().map(|i| puts[i].1).collect(),
        which.clone().map(|i| puts[i].2).collect(),
        which.clone().map(|i| puts[i].3).collect(),
        which.map(|i| &*puts[i].4).collect(),
    )
}

impl<'c> PgTx<'c> {
    /// A group commit's [`ReadHint`], fetched before its jobs run (see `run_batch`): the
    /// outcomes, the children and their guardians, and the named records together with
    /// the children's units, in four queries. Inside the write lock, like the look-ups'
    /// own prefetches, and kept the same way (a write or a rollback forgets what it
    /// changes).
    fn prefetch_group(&mut self, hint: &ReadHint) -> StoreResult<()> {
        self.prefetch_callers(&hint.session_tokens, &hint.device_tokens)?;
        self.prefetch_outcomes(&hint.outcomes)?;
        let mut read: Vec<Uuid> = hint.children.iter().copied().chain(hint.marks.iter().map(|(c, _)| *c)).collect();
        read.sort_unstable();
        read.dedup();
        self.prefetch_reads(&read, &[])?;
        let want: Vec<Uuid> = hint.children.iter().copied().filter(|c| !self.cache.guardians.contains_key(c)).collect();
        if !want.is_empty() {
            // As `guardians_of` answers: each child's guardians in id order, none for an
            // unknown child.
            let rows = self.db.query(
                "SELECT child_id, guardian_id FROM guardianships WHERE child_id = ANY($1) ORDER BY child_id, guardian_id",
                &[&want],
            )?;
            let mut of: HashMap<Uuid, Vec<Uuid>> = want.iter().map(|c| (*c, Vec::new())).collect();
            for r in rows {
                let child: Uuid = r.try_get(0).map_err(corrupt)?;
                of.entry(child).or_default().push(r.try_get(1).map_err(corrupt)?);
            }
            self.cache.guardians.extend(of);
        }
        let mut entities: Vec<(&str, Uuid)> = hint.entities.iter().map(|(ty, id)| (*ty, *id)).collect();
        for c in &read {
            if let Some(Some(child)) = self.cache.children.get(c) {
                if !self.cache.units.contains_key(&child.unit_id) {
                    entities.push((UNIT_TYPE, child.unit_id));
                }
            }
        }
        entities.sort_unstable();
        entities.dedup();
        self.prefetch_reads(&[], &entities)?;
        // The marks' day records, once their children's units (time zones) are known: named
        // as the rule names them. A child or unit not found here is left to the rule.
        let mut records = Vec::with_capacity(hint.marks.len());
        for (c, at) in &hint.marks {
            let Some(Some(child)) = self.cache.children.get(c) else { continue };
            let (child_id, unit_id) = (child.id, child.unit_id);
            let Some(tz) = self.unit_time_zone(unit_id) else { continue };
            records.push((ATTENDANCE_TYPE, crate::day_ids::attendance_record(child_id, *at, tz).1));
        }
        records.sort_unstable();
        records.dedup();
        self.prefetch_reads(&[], &records)
    }

    /// The sessions and devices of a group's tokens, a query for each kind, as
    /// `user_for_token`, `token_expires_at` and `device_for_token` would find them: a
    /// push's caller without a read job of its own before the push (about 40 µs of a
    /// reader thread and a round trip each), and exact, since nothing but this transaction
    /// writes them while it holds the write lock. Kept, like the roster, from this writer's
    /// commit to its next while no other instance commits in between (`writer_loop`), so a
    /// tablet signed in all day is asked for once.
    fn prefetch_callers(&mut self, sessions: &[String], devices: &[String]) -> StoreResult<()> {
        if !self.write {
            return Ok(());
        }
        let sessions: Vec<&String> = sessions.iter().filter(|h| !self.cache.sessions.contains_key(*h)).collect();
        let devices: Vec<&String> = devices.iter().filter(|h| !self.cache.devices.contains_key(*h)).collect();
        if !sessions.is_empty() {
            let (cols, n) = user_cols_of_u();
            let rows = self.db.query(
                &format!(
                    "SELECT {cols}, t.token_hash, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = ANY($1)"
                ),
                &[&sessions],
            )?;
            self.cache.sessions.extend(sessions.iter().map(|h| (h.to_string(), None)));
            for r in &rows {
                let hash: String = r.try_get(n).map_err(corrupt)?;
                let expires: DateTime<Utc> = r.try_get(n + 1).map_err(corrupt)?;
                self.cache.sessions.insert(hash, Some((user_from_row(r)?, expires)));
            }
        }
        if !devices.is_empty() {
            let rows = self.db.query(
                &format!("SELECT {DEVICE_COLS}, token_hash FROM devices WHERE token_hash = ANY($1) AND revoked_at IS NULL"),
                &[&devices],
            )?;
            let n = DEVICE_COLS.split(", ").count();
            self.cache.devices.extend(devices.iter().map(|h| (h.to_string(), None)));
            for r in &rows {
                let hash: String = r.try_get(n).map_err(corrupt)?;
                self.cache.devices.insert(hash, Some(device_from_row(r)?));
            }
        }
        Ok(())
    }

    /// A write to users, tokens or devices: what `prefetch_callers` fetched may be stale.
    fn callers_changed(&mut self) {
        self.cache.sessions.clear();
        self.cache.devices.clear();
    }

    /// `child` is about to be asked for each of `ids`, and `get_entity` for each of
    /// `entities` (a group's pushes name them, see [`PgTx::prefetch_group`]): fetched in a
    /// query each into the caches the look-ups read. Answers stay those the look-ups would
    /// give; a key not asked for later costs only the fetch.
    fn prefetch_reads(&mut self, ids: &[Uuid], entities: &[(&str, Uuid)]) -> StoreResult<()> {
        // As `prefetch_outcomes`: only inside the write lock, where nothing changes but
        // this transaction's own writes (which forget what they change).
        if !self.write {
            return Ok(());
        }
        let ids: Vec<Uuid> = ids.iter().copied().filter(|id| !self.cache.children.contains_key(id)).collect();
        if !ids.is_empty() {
            let rows = self.db.query(&format!("SELECT {CHILD_COLS} FROM children WHERE id = ANY($1)"), &[&ids])?;
            for id in &ids {
                self.cache.children.insert(*id, None);
            }
            for r in rows {
                let child = child_from_row(&r)?;
                self.cache.children.insert(child.id, Some(child));
            }
        }
        let wanted: Vec<(&str, Uuid)> = entities
            .iter()
            .copied()
            .filter(|(ty, id)| !self.cache.entities.contains_key(&(ty.to_string(), *id)))
            .collect();
        if !wanted.is_empty() {
            let (types, ids): (Vec<&str>, Vec<Uuid>) = wanted.iter().copied().unzip();
            // With each row's address, so that a put of it updates it there (see `write_puts`).
            let rows = self.db.query(
                &format!(
                    "SELECT {ENTITY_COLS}, ctid FROM entities
                     WHERE (type, id) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))"
                ),
                &[&types, &ids],
            )?;
            let at = ENTITY_COLS.split(", ").count();
            for (ty, id) in &wanted {
                self.cache.entities.insert((ty.to_string(), *id), None);
            }
            for r in rows {
                let row = entity_from_row(&r)?;
                let tid: Tid = r.try_get(at).map_err(corrupt)?;
                let key = (row.entity_type.clone(), row.id);
                self.cache.rowids.insert(key.clone(), tid.0);
                self.cache.entities.insert(key, Some(row));
            }
        }
        Ok(())
    }

    /// The time zone of a unit this transaction has read, parsed once (and kept for the
    /// rules, as `entities::unit` keeps it); `None` if it has not read it or cannot parse it.
    fn unit_time_zone(&mut self, id: Uuid) -> Option<domain::time::Tz> {
        if let Some(u) = self.cache.units.get(&id) {
            return domain::time::parse_tz(&u.time_zone).ok();
        }
        let row = self.cache.entities.get(&(UNIT_TYPE.to_string(), id))?.as_ref()?;
        if row.deleted {
            return None;
        }
        let unit: Unit = serde_json::from_str(row.data.as_deref()?).ok()?;
        let tz = domain::time::parse_tz(&unit.time_zone).ok();
        self.cache.units.insert(id, Arc::new(unit));
        tz
    }

    /// A put of `ty`/`id` with the next sequence number, `write` being its pending write.
    fn put_with(
        &mut self,
        ty: &str,
        id: Uuid,
        scope: &str,
        write: impl FnOnce(i64) -> PendingWrite,
    ) -> StoreResult<i64> {
        self.cache.forget(ty, id);
        let seq = self.next_seq()?;
        self.deferred.write(write(seq), &mut PgDb(self.db, &mut self.cache))?;
        self.touch_scope(scope);
        Ok(seq)
    }

    fn new(db: &'c mut Conn, write: bool) -> Self {
        PgTx {
            db,
            touched: BTreeSet::new(),
            write,
            cache: TxCache::default(),
            deferred: Deferred::default(),
            seq: None,
            seq_dirty: false,
            outcomes: HashMap::new(),
            person: None,
        }
    }

    /// A read job's [`Tx::user_for_pull`]: the person, and in the same round trip what
    /// `scope::scopes_for` and `pull::pull` ask next of a guardian (their children with
    /// groups, their threads, the sequence counters) and the token's expiry, kept in
    /// [`PgTx::person`] and the roster cache.
    ///
    /// Performance: a guardian's pull asked these one round trip each, seven before its
    /// changes, each about as long as the query itself; on a loaded 2-core machine they
    /// were a third of a first sync's read job.
    fn person_by_token(&mut self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserRow>> {
        let (cols, n) = user_cols_of_u();
        // The columns after the user's, by their place in the select list.
        let at = |i: usize| n + i;
        // One row per child the person is a guardian of (one with none if none), in id order.
        let rows = self.db.query(
            &format!(
                "SELECT {cols}, t.expires_at,
                     ARRAY(SELECT thread_id FROM thread_participants WHERE user_id = u.id ORDER BY thread_id),
                     (SELECT value FROM meta WHERE key = 'seq'),
                     (SELECT value FROM meta WHERE key = 'min_cursor_seq'),
                     g.child_id, c.unit_id, c.class_id, c.student_user_id, c.personnummer,
                     ARRAY(SELECT group_id FROM child_groups WHERE child_id = c.id ORDER BY group_id)
                 FROM tokens t JOIN users u ON u.id = t.user_id
                 LEFT JOIN guardianships g ON g.guardian_id = u.id
                 LEFT JOIN children c ON c.id = g.child_id
                 WHERE t.token_hash = $1 AND t.expires_at > $2
                 ORDER BY g.child_id"
            ),
            &[&text(token_hash), &now],
        )?;
        let Some(first) = rows.first() else { return Ok(None) };
        let user = user_from_row(first)?;
        let mut children = Vec::with_capacity(rows.len());
        for r in &rows {
            let Some(child_id) = r.try_get::<_, Option<Uuid>>(at(4)).map_err(corrupt)? else { continue };
            children.push(child_id);
            // A guardianship of a child with no row (the foreign key forbids it) reads as
            // `child` would answer it: none.
            let child = match r.try_get::<_, Option<Uuid>>(at(5)).map_err(corrupt)? {
                None => None,
                Some(unit_id) => Some(ChildRow {
                    id: child_id,
                    unit_id,
                    class_id: r.try_get(at(6)).map_err(corrupt)?,
                    student_user_id: r.try_get(at(7)).map_err(corrupt)?,
                    personnummer: r.try_get(at(8)).map_err(corrupt)?,
                    group_ids: r.try_get(at(9)).map_err(corrupt)?,
                }),
            };
            self.cache.children.insert(child_id, child);
        }
        self.person = Some(PersonRead {
            token_hash: token_hash.to_string(),
            user_id: user.id,
            expires_at: first.try_get(at(0)).map_err(corrupt)?,
            children,
            threads: first.try_get(at(1)).map_err(corrupt)?,
            seq: first.try_get(at(2)).map_err(corrupt)?,
            min_cursor_seq: first.try_get(at(3)).map_err(corrupt)?,
        });
        Ok(Some(user))
    }

    /// The person read by token, in a read job, if it is `user_id`.
    fn person(&self, user_id: Uuid) -> Option<&PersonRead> {
        self.person.as_ref().filter(|p| !self.write && p.user_id == user_id)
    }

    /// The connection, for a statement that writes or reads `entities` by a query: the
    /// waiting writes go in first, each frame's inside its own savepoint (see [`Deferred`]).
    fn conn(&mut self) -> StoreResult<&mut Conn> {
        self.deferred.materialize(&mut PgDb(self.db, &mut self.cache))?;
        Ok(self.db)
    }

    fn next_seq(&mut self) -> StoreResult<i64> {
        // Inside the advisory lock: handed out in commit order (see the module comment).
        let next = match self.seq {
            Some(s) => s + 1,
            None => self.meta("seq")? + 1,
        };
        self.seq = Some(next);
        self.seq_dirty = true;
        Ok(next)
    }

    /// Writes the counter back; the writer calls it right before COMMIT.
    fn flush_seq(&mut self) -> StoreResult<()> {
        if let (true, Some(s)) = (self.seq_dirty, self.seq) {
            self.conn()?.execute("UPDATE meta SET value = $1 WHERE key = 'seq' AND value < $1", &[&s])?;
            self.seq_dirty = false;
        }
        Ok(())
    }

    fn uuids(&mut self, sql: &str, arg: Uuid) -> StoreResult<Vec<Uuid>> {
        first_col_uuids(self.db.query(sql, &[&arg])?)
    }

    fn meta(&mut self, key: &str) -> StoreResult<i64> {
        let row = self.db.query_one("SELECT value FROM meta WHERE key = $1", &[&key])?;
        row.try_get(0).map_err(corrupt)
    }
}

impl Tx for PgTx<'_> {
    fn savepoint(&mut self) -> StoreResult<()> {
        self.deferred.begin(self.seq);
        Ok(())
    }
    fn release_savepoint(&mut self) -> StoreResult<()> {
        self.deferred.release(&mut PgDb(self.db, &mut self.cache))
    }
    fn rollback_savepoint(&mut self) -> StoreResult<()> {
        self.cache.rolled_back();
        self.seq = self.deferred.rollback(&mut PgDb(self.db, &mut self.cache))?;
        Ok(())
    }

    fn get_entity(&mut self, ty: &str, id: Uuid) -> StoreResult<Option<EntityRow>> {
        if let Some(row) = self.deferred.entity(ty, id)? {
            return Ok(row);
        }
        // What `prefetch_reads` fetched or this writer wrote (kept from its last commit, see
        // `writer_loop`); a write or rollback forgets it.
        if let Some(row) = self.cache.entities.get(&(ty.to_string(), id)) {
            return Ok(row.clone());
        }
        let row = self
            .db
            .query_opt(&format!("SELECT {ENTITY_COLS} FROM entities WHERE type = $1 AND id = $2"), &[&ty, &id])?;
        row.as_ref().map(entity_from_row).transpose()
    }

    fn put_entity(&mut self, ty: &str, id: Uuid, scope: &str, data: &RawValue) -> StoreResult<i64> {
        self.put_with(ty, id, scope, |seq| PendingWrite::put(ty, id, scope, seq, data))
    }

    fn put_entity_value(&mut self, ty: &str, id: Uuid, scope: &str, value: Arc<dyn EntityValue>) -> StoreResult<i64> {
        self.put_with(ty, id, scope, |seq| PendingWrite::put_value(ty, id, scope, seq, value))
    }

    fn typed_value(&self, ty: &str, id: Uuid) -> Option<Arc<dyn EntityValue>> {
        // A waiting write is the latest; else the cache has a value while it is the latest
        // write (a put forgets it, a rollback forgets all), kept from an earlier commit too.
        self.deferred.value(ty, id).or_else(|| self.cache.values.get(&(ty.to_string(), id)).cloned())
    }

    fn delete_entity(&mut self, ty: &str, id: Uuid) -> StoreResult<bool> {
        self.cache.forget(ty, id);
        let Some(row) = self.get_entity(ty, id)? else { return Ok(false) };
        if row.deleted {
            return Ok(false);
        }
        let seq = self.next_seq()?;
        let w = PendingWrite::Delete { ty: ty.to_string(), id, scope: row.scope.clone(), seq };
        self.deferred.write(w, &mut PgDb(self.db, &mut self.cache))?;
        self.touch_scope(&row.scope);
        Ok(true)
    }

    fn entities_in_scope(&mut self, ty: &str, scope: &str) -> StoreResult<Vec<EntityRow>> {
        entities(self.conn()?.query(
            &format!("SELECT {ENTITY_COLS} FROM entities WHERE scope = $1 AND type = $2 AND NOT deleted ORDER BY seq"),
            &[&scope, &ty],
        )?)
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
        if scopes.is_empty() {
            return Ok(());
        }
        let up_to = up_to.unwrap_or(i64::MAX);
        // Performance: a snapshot's rows are all live, so it does not ask for the flag (a
        // column fewer for each of a first sync's rows to send and read: 3–7 % of its query
        // in `pgbench`).
        let (live, deleted) = if live_only { ("AND NOT deleted", "") } else { ("", ", deleted") };
        // Performance: first the rows in no order, at most one more than the page (a
        // guardian's whole first sync is one page): PostgreSQL 15 reads them with one index
        // scan over all the scopes, and sorting a page of whole rows by seq cost it more than
        // finding them (about 1.5 against 1.0 ms for an initial sync's 1,300 rows), where
        // sorting them here takes microseconds. `LIMIT NULL` is no limit.
        //
        // When there are more rows than the page takes, the rows read so are of no use (a
        // large first sync's page then costs about half as much again), so a scope set whose
        // last page on this connection was full is read in order at once, until a page is
        // not full or for [`OVERFLOWED_FOR`].
        let cap = limit.map(|l| i64::from(l) + 1);
        let conn = self.conn()?;
        let key = cap.map(|_| {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(scopes, &mut h);
            std::hash::Hasher::finish(&h)
        });
        let known_large = key.is_some_and(|k| conn.overflowed.get(&k).is_some_and(|at| at.elapsed() < OVERFLOWED_FOR));
        let mut rows = if known_large {
            Vec::new()
        } else {
            let sql = format!(
                "SELECT type, id, seq, data{deleted} FROM entities WHERE scope = ANY($1) AND seq > $2 AND seq <= $3 {live} LIMIT $4"
            );
            conn.query(&sql, &[&scopes, &after, &up_to, &cap])?
        };
        if known_large || cap.is_some_and(|cap| rows.len() as i64 >= cap) {
            // More rows past `after` than the page takes, so which come first is not known
            // from these: one bounded range scan of (scope, seq) per scope, merged by seq.
            // With `scope = ANY($1) … ORDER BY seq LIMIT n` PostgreSQL 15, once it has
            // statistics, may walk a whole scope set's rows to sort them for each page.
            let sql = format!(
                "SELECT e.* FROM unnest($1::text[]) AS s(scope) CROSS JOIN LATERAL \
                 (SELECT type, id, seq, data{deleted} FROM entities WHERE scope = s.scope AND seq > $2 AND seq <= $3 {live} \
                  ORDER BY seq LIMIT $4) e ORDER BY e.seq LIMIT $4"
            );
            let limit = limit.map(i64::from);
            // A scope named twice is read once (`ANY` above does that by itself).
            let mut unique: Vec<&str> = scopes.iter().map(String::as_str).collect();
            unique.sort_unstable();
            unique.dedup();
            rows = conn.query(&sql, &[&unique, &after, &up_to, &limit])?;
            // Remembered while pages come full; forgotten with the last.
            if let (Some(k), Some(l)) = (key, limit) {
                if rows.len() as i64 >= l {
                    if conn.overflowed.len() >= KNOWN_SCOPE_SETS {
                        conn.overflowed.clear();
                    }
                    conn.overflowed.insert(k, Instant::now());
                } else {
                    conn.overflowed.remove(&k);
                }
            }
        } else {
            let mut keyed = Vec::with_capacity(rows.len());
            for r in rows {
                keyed.push((r.try_get::<_, i64>(2).map_err(corrupt)?, r));
            }
            keyed.sort_unstable_by_key(|(seq, _)| *seq);
            rows = keyed.into_iter().map(|(_, r)| r).collect();
        }
        // Performance: the columns a change needs, `data` as the text it is stored as (see
        // [`JsonText`]) rather than cast to `text`.
        for r in &rows {
            visit(ChangeRef {
                entity_type: r.try_get(0).map_err(corrupt)?,
                id: r.try_get(1).map_err(corrupt)?,
                seq: r.try_get(2).map_err(corrupt)?,
                deleted: !live_only && r.try_get(4).map_err(corrupt)?,
                data: r.try_get::<_, Option<JsonText<'_>>>(3).map_err(corrupt)?.map(|j| j.0),
            })?;
        }
        Ok(())
    }

    fn all_in_scopes(&mut self, scopes: &[String]) -> StoreResult<Vec<EntityRow>> {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        entities(
            self.conn()?
                .query(&format!("SELECT {ENTITY_COLS} FROM entities WHERE scope = ANY($1) ORDER BY seq"), &[&scopes])?,
        )
    }

    fn min_cursor_seq(&mut self) -> StoreResult<i64> {
        match &self.person {
            Some(p) if !self.write => Ok(p.min_cursor_seq),
            _ => self.meta("min_cursor_seq"),
        }
    }

    fn max_seq(&mut self) -> StoreResult<i64> {
        match (self.seq, &self.person) {
            (Some(s), _) => Ok(s),
            (None, Some(p)) if !self.write => Ok(p.seq),
            (None, _) => self.meta("seq"),
        }
    }

    fn touch_scope(&mut self, scope: &str) {
        if self.write && !self.touched.contains(scope) {
            self.touched.insert(scope.to_string());
        }
    }

    fn cached_unit(&mut self, id: Uuid) -> Option<Arc<Unit>> {
        self.cache.units.get(&id).cloned()
    }

    fn remember_unit(&mut self, unit: Arc<Unit>) {
        self.cache.units.insert(unit.id, unit);
    }

    fn has_scope_set(&mut self, hash: &str) -> StoreResult<bool> {
        if self.db.known_scope_sets.contains(hash) {
            return Ok(true);
        }
        let found = self.db.query_opt("SELECT 1 FROM scope_sets WHERE hash = $1", &[&hash])?.is_some();
        // Only a read's: a write transaction may be seeing its own insert, not yet committed.
        if found && !self.write {
            let known = &mut self.db.known_scope_sets;
            if known.len() >= KNOWN_SCOPE_SETS {
                known.clear();
            }
            known.insert(hash.to_string());
        }
        Ok(found)
    }

    fn scope_set(&mut self, hash: &str) -> StoreResult<Option<Vec<String>>> {
        let row = self.db.query_opt("SELECT scopes FROM scope_sets WHERE hash = $1", &[&hash])?;
        row.map(|r| r.try_get::<_, Vec<String>>(0).map_err(corrupt)).transpose()
    }

    fn put_scope_set(&mut self, hash: &str, scopes: &[String]) -> StoreResult<()> {
        self.conn()?.execute(
            "INSERT INTO scope_sets (hash, scopes) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
            &[&hash, &scopes],
        )?;
        Ok(())
    }

    fn insert_user(&mut self, u: &UserRow) -> StoreResult<()> {
        self.cache.roster_changed();
        self.callers_changed();
        self.conn()?.execute(
            &format!("INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
            &[
                &u.id,
                &text(&u.username),
                &text(&u.display_name),
                &u.role.as_str(),
                &text(&u.locale),
                &u.password_hash,
                &opt_text(u.email.as_deref()),
                &opt_text(u.phone.as_deref()),
            ],
        )?;
        Ok(())
    }

    fn user_by_username(&mut self, username: &str) -> StoreResult<Option<UserRow>> {
        let row = self.db.query_opt(&format!("SELECT {USER_COLS} FROM users WHERE username = $1"), &[&text(username)])?;
        row.as_ref().map(user_from_row).transpose()
    }

    fn user_by_id(&mut self, id: Uuid) -> StoreResult<Option<UserRow>> {
        let row = self.db.query_opt(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"), &[&id])?;
        row.as_ref().map(user_from_row).transpose()
    }

    fn insert_token(
        &mut self,
        token_hash: &str,
        user_id: Uuid,
        device_id: Option<&str>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.callers_changed();
        self.conn()?.execute(
            "INSERT INTO tokens (token_hash, user_id, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&text(token_hash), &user_id, &opt_text(device_id), &created_at, &expires_at],
        )?;
        Ok(())
    }

    fn user_for_pull(&mut self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserRow>> {
        if self.write {
            return self.user_for_token(token_hash, now);
        }
        self.person_by_token(token_hash, now)
    }

    fn user_for_token(&mut self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserRow>> {
        if let Some(found) = self.cache.sessions.get(token_hash).filter(|_| self.write) {
            return Ok(found.as_ref().filter(|(_, expires)| *expires > now).map(|(u, _)| u.clone()));
        }
        let (cols, _) = user_cols_of_u();
        let row = self.db.query_opt(
            &format!(
                "SELECT {cols} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2"
            ),
            &[&text(token_hash), &now],
        )?;
        row.as_ref().map(user_from_row).transpose()
    }

    fn token_expires_at(&mut self, token_hash: &str) -> StoreResult<Option<DateTime<Utc>>> {
        if let Some(p) = self.person.as_ref().filter(|p| !self.write && p.token_hash == token_hash) {
            return Ok(Some(p.expires_at));
        }
        if let Some(found) = self.cache.sessions.get(token_hash).filter(|_| self.write) {
            return Ok(found.as_ref().map(|(_, expires)| *expires));
        }
        let row = self.db.query_opt("SELECT expires_at FROM tokens WHERE token_hash = $1", &[&text(token_hash)])?;
        row.map(|r| r.try_get(0)).transpose().map_err(corrupt)
    }

    fn revoke_token(&mut self, token_hash: &str) -> StoreResult<bool> {
        self.callers_changed();
        Ok(self.conn()?.execute("DELETE FROM tokens WHERE token_hash = $1", &[&text(token_hash)])? > 0)
    }

    fn insert_unit(&mut self, id: Uuid, name: &str) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute("INSERT INTO units (id, name) VALUES ($1, $2)", &[&id, &text(name)])?;
        Ok(())
    }

    fn insert_group(&mut self, id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute("INSERT INTO groups_ (id, unit_id) VALUES ($1, $2)", &[&id, &unit_id])?;
        Ok(())
    }

    fn insert_class(&mut self, id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute("INSERT INTO classes (id, unit_id) VALUES ($1, $2)", &[&id, &unit_id])?;
        Ok(())
    }

    fn insert_child(&mut self, c: &ChildRow) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute(
            "INSERT INTO children (id, unit_id, class_id, student_user_id, personnummer) VALUES ($1, $2, $3, $4, $5)",
            &[&c.id, &c.unit_id, &c.class_id, &c.student_user_id, &text(&c.personnummer)],
        )?;
        for g in &c.group_ids {
            self.conn()?.execute("INSERT INTO child_groups (child_id, group_id) VALUES ($1, $2)", &[&c.id, g])?;
        }
        Ok(())
    }

    fn add_guardian(&mut self, guardian_id: Uuid, child_id: Uuid) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute(
            "INSERT INTO guardianships (guardian_id, child_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&guardian_id, &child_id],
        )?;
        // The guardian's scope grows: poke them so their next pull backfills.
        self.touch_scope(&format!("user:{guardian_id}"));
        Ok(())
    }

    fn remove_guardian(&mut self, guardian_id: Uuid, child_id: Uuid) -> StoreResult<bool> {
        self.cache.roster_changed();
        let n = self.conn()?.execute(
            "DELETE FROM guardianships WHERE guardian_id = $1 AND child_id = $2",
            &[&guardian_id, &child_id],
        )?;
        self.touch_scope(&format!("user:{guardian_id}"));
        Ok(n > 0)
    }

    fn add_staff_unit(&mut self, staff_id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.cache.roster_changed();
        self.conn()?.execute(
            "INSERT INTO staff_units (staff_id, unit_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&staff_id, &unit_id],
        )?;
        self.touch_scope(&format!("user:{staff_id}"));
        Ok(())
    }

    fn child(&mut self, id: Uuid) -> StoreResult<Option<ChildRow>> {
        if let Some(c) = self.cache.children.get(&id) {
            return Ok(c.clone());
        }
        // The child and its groups in one round trip.
        let row = self.db.query_opt(&format!("SELECT {CHILD_COLS} FROM children WHERE id = $1"), &[&id])?;
        let child = row.as_ref().map(child_from_row).transpose()?;
        self.cache.children.insert(id, child.clone());
        Ok(child)
    }

    fn children_of_guardian(&mut self, guardian_id: Uuid) -> StoreResult<Vec<Uuid>> {
        if let Some(p) = self.person(guardian_id) {
            return Ok(p.children.clone());
        }
        self.uuids("SELECT child_id FROM guardianships WHERE guardian_id = $1 ORDER BY child_id", guardian_id)
    }

    fn guardians_of(&mut self, child_id: Uuid) -> StoreResult<Vec<Uuid>> {
        if let Some(g) = self.cache.guardians.get(&child_id) {
            return Ok(g.clone());
        }
        let g = self.uuids("SELECT guardian_id FROM guardianships WHERE child_id = $1 ORDER BY guardian_id", child_id)?;
        self.cache.guardians.insert(child_id, g.clone());
        Ok(g)
    }

    fn child_of_student(&mut self, user_id: Uuid) -> StoreResult<Option<Uuid>> {
        Ok(self.uuids("SELECT id FROM children WHERE student_user_id = $1 ORDER BY id LIMIT 1", user_id)?.into_iter().next())
    }

    fn staff_units(&mut self, staff_id: Uuid) -> StoreResult<Vec<Uuid>> {
        if let Some(u) = self.cache.staff_units.get(&staff_id) {
            return Ok(u.clone());
        }
        let u = self.uuids("SELECT unit_id FROM staff_units WHERE staff_id = $1 ORDER BY unit_id", staff_id)?;
        self.cache.staff_units.insert(staff_id, u.clone());
        Ok(u)
    }

    fn staff_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.uuids("SELECT staff_id FROM staff_units WHERE unit_id = $1 ORDER BY staff_id", unit_id)
    }

    fn children_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.uuids("SELECT id FROM children WHERE unit_id = $1 ORDER BY id", unit_id)
    }

    fn groups_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.uuids("SELECT id FROM groups_ WHERE unit_id = $1 ORDER BY id", unit_id)
    }

    fn classes_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.uuids("SELECT id FROM classes WHERE unit_id = $1 ORDER BY id", unit_id)
    }

    fn all_units(&mut self) -> StoreResult<Vec<Uuid>> {
        first_col_uuids(self.db.query("SELECT id FROM units ORDER BY id", &[])?)
    }

    fn add_thread_participant(&mut self, thread_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        let n = self.conn()?.execute(
            "INSERT INTO thread_participants (thread_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&thread_id, &user_id],
        )?;
        if n > 0 {
            self.touch_scope(&format!("user:{user_id}"));
        }
        Ok(())
    }

    fn thread_participants(&mut self, thread_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.uuids("SELECT user_id FROM thread_participants WHERE thread_id = $1 ORDER BY user_id", thread_id)
    }

    fn threads_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<Uuid>> {
        if let Some(p) = self.person(user_id) {
            return Ok(p.threads.clone());
        }
        self.uuids("SELECT thread_id FROM thread_participants WHERE user_id = $1 ORDER BY thread_id", user_id)
    }

    fn mutation_outcome(&mut self, id: Uuid) -> StoreResult<Option<(Uuid, MutationResult)>> {
        if let Some((owner, result)) = self.deferred.outcome(id) {
            let result = serde_json::from_str(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            return Ok(Some((owner, result)));
        }
        if let Some(known) = self.outcomes.get(&id) {
            let Some((owner, result)) = known else { return Ok(None) };
            let result = serde_json::from_str(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            return Ok(Some((*owner, result)));
        }
        let row = self.db.query_opt("SELECT user_id, result FROM mutations WHERE id = $1", &[&id])?;
        let Some(r) = row else { return Ok(None) };
        let user: Uuid = r.try_get(0).map_err(corrupt)?;
        let result: &str = r.try_get(1).map_err(corrupt)?;
        let result = serde_json::from_str(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some((user, result)))
    }

    fn prefetch_outcomes(&mut self, ids: &[Uuid]) -> StoreResult<()> {
        // Only where the answers cannot change under us: the write transaction holds the
        // write lock of every instance (a read job's snapshot would be exact too, but reads
        // never ask).
        if !self.write {
            return Ok(());
        }
        // Those fetched already (for the group) are known, or were written since.
        let ids: Vec<Uuid> = ids.iter().copied().filter(|id| !self.outcomes.contains_key(id)).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let rows = self.db.query("SELECT id, user_id, result FROM mutations WHERE id = ANY($1)", &[&ids])?;
        for id in ids {
            self.outcomes.insert(id, None);
        }
        for r in rows {
            let id: Uuid = r.try_get(0).map_err(corrupt)?;
            self.outcomes.insert(id, Some((r.try_get(1).map_err(corrupt)?, r.try_get(2).map_err(corrupt)?)));
        }
        Ok(())
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
        self.deferred.write(w, &mut PgDb(self.db, &mut self.cache))
    }

    fn insert_device(&mut self, d: &DeviceRow, token_hash: &str) -> StoreResult<()> {
        self.callers_changed();
        self.conn()?.execute(
            &format!("INSERT INTO devices ({DEVICE_COLS}, token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                &d.id,
                &d.unit_id,
                &text(&d.name),
                &d.paired_by,
                &d.paired_at,
                &d.last_seen_at,
                &d.revoked_at,
                &d.revoked_by,
                &text(token_hash),
            ],
        )?;
        Ok(())
    }

    fn device(&mut self, id: Uuid) -> StoreResult<Option<DeviceRow>> {
        let row = self.db.query_opt(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1"), &[&id])?;
        row.as_ref().map(device_from_row).transpose()
    }

    fn device_for_token(&mut self, token_hash: &str) -> StoreResult<Option<DeviceRow>> {
        if let Some(found) = self.cache.devices.get(token_hash).filter(|_| self.write) {
            return Ok(found.clone());
        }
        let row = self.db.query_opt(
            &format!("SELECT {DEVICE_COLS} FROM devices WHERE token_hash = $1 AND revoked_at IS NULL"),
            &[&text(token_hash)],
        )?;
        row.as_ref().map(device_from_row).transpose()
    }

    fn devices_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<DeviceRow>> {
        let rows = self
            .db
            .query(&format!("SELECT {DEVICE_COLS} FROM devices WHERE unit_id = $1 ORDER BY paired_at, id"), &[&unit_id])?;
        rows.iter().map(device_from_row).collect()
    }

    fn revoke_device(&mut self, id: Uuid, by: Option<Uuid>, at: DateTime<Utc>) -> StoreResult<bool> {
        self.callers_changed();
        let n = self.conn()?.execute(
            "UPDATE devices SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
            &[&id, &at, &by],
        )?;
        Ok(n > 0)
    }

    fn set_device_last_seen(&mut self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        // Noted about once a minute per tablet: only that device is forgotten.
        self.cache.devices.retain(|_, d| d.as_ref().is_none_or(|d| d.id != id));
        self.conn()?.execute("UPDATE devices SET last_seen_at = $2 WHERE id = $1", &[&id, &at])?;
        Ok(())
    }

    fn insert_pairing(&mut self, p: &PairingRow) -> StoreResult<()> {
        self.conn()?.execute(
            &format!("INSERT INTO device_pairings ({PAIRING_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                &p.id,
                &p.unit_id,
                &text(&p.lookup),
                &text(&p.secret_hash),
                &p.created_by,
                &p.created_at,
                &p.expires_at,
                &int(p.failed_attempts),
                &p.used_at,
            ],
        )?;
        Ok(())
    }

    fn pairing(&mut self, id: Uuid) -> StoreResult<Option<PairingRow>> {
        let row = self.db.query_opt(&format!("SELECT {PAIRING_COLS} FROM device_pairings WHERE id = $1"), &[&id])?;
        row.as_ref().map(pairing_from_row).transpose()
    }

    fn unused_pairings_by_lookup(&mut self, lookup: &str) -> StoreResult<Vec<PairingRow>> {
        let rows = self.db.query(
            &format!(
                "SELECT {PAIRING_COLS} FROM device_pairings WHERE lookup = $1 AND used_at IS NULL ORDER BY created_at, id"
            ),
            &[&text(lookup)],
        )?;
        rows.iter().map(pairing_from_row).collect()
    }

    fn unused_pairings_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<PairingRow>> {
        let rows = self.db.query(
            &format!(
                "SELECT {PAIRING_COLS} FROM device_pairings WHERE unit_id = $1 AND used_at IS NULL ORDER BY created_at, id"
            ),
            &[&unit_id],
        )?;
        rows.iter().map(pairing_from_row).collect()
    }

    fn count_failed_pairing_attempt(&mut self, id: Uuid) -> StoreResult<()> {
        self.conn()?.execute("UPDATE device_pairings SET failed_attempts = failed_attempts + 1 WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn use_pairing(&mut self, id: Uuid, device_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let n = self.conn()?.execute(
            "UPDATE device_pairings SET used_at = $2, device_id = $3 WHERE id = $1 AND used_at IS NULL",
            &[&id, &at, &device_id],
        )?;
        Ok(n > 0)
    }

    fn delete_pairing(&mut self, id: Uuid) -> StoreResult<bool> {
        Ok(self.conn()?.execute("DELETE FROM device_pairings WHERE id = $1", &[&id])? > 0)
    }

    fn prune_pairings(&mut self, before: DateTime<Utc>) -> StoreResult<()> {
        self.conn()?.execute("DELETE FROM device_pairings WHERE used_at IS NULL AND expires_at < $1", &[&before])?;
        Ok(())
    }

    fn staff_pin(&mut self, user_id: Uuid) -> StoreResult<Option<StaffPin>> {
        let row = self
            .db
            .query_opt("SELECT salt, rounds, hash, failures, locked, unlocked_at FROM staff_pins WHERE user_id = $1", &[&user_id])?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StaffPin {
            verifier: PinVerifier {
                salt: r.try_get(0).map_err(corrupt)?,
                rounds: count_col(&r, 1)?,
                hash: r.try_get(2).map_err(corrupt)?,
            },
            state: PinState {
                failures: count_col(&r, 3)?,
                locked: r.try_get(4).map_err(corrupt)?,
                unlocked_at: r.try_get(5).map_err(corrupt)?,
            },
        }))
    }

    fn put_staff_pin(&mut self, user_id: Uuid, pin: &StaffPin) -> StoreResult<()> {
        self.conn()?.execute(
            "INSERT INTO staff_pins (user_id, salt, rounds, hash, failures, locked, unlocked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (user_id) DO UPDATE SET salt = excluded.salt, rounds = excluded.rounds,
                 hash = excluded.hash, failures = excluded.failures, locked = excluded.locked,
                 unlocked_at = excluded.unlocked_at",
            &[
                &user_id,
                &text(&pin.verifier.salt),
                &int(pin.verifier.rounds),
                &text(&pin.verifier.hash),
                &int(pin.state.failures),
                &pin.state.locked,
                &pin.state.unlocked_at,
            ],
        )?;
        Ok(())
    }

    fn delete_staff_pin(&mut self, user_id: Uuid) -> StoreResult<bool> {
        Ok(self.conn()?.execute("DELETE FROM staff_pins WHERE user_id = $1", &[&user_id])? > 0)
    }

    fn enqueue_outgoing(
        &mut self,
        channel: &str,
        recipient: &str,
        subject: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn()?.execute(
            "INSERT INTO outgoing (channel, recipient, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&text(channel), &text(recipient), &text(subject), &text(body), &at],
        )?;
        Ok(())
    }

    fn is_empty(&mut self) -> StoreResult<bool> {
        let row = self.conn()?.query_one("SELECT NOT EXISTS (SELECT 1 FROM users)", &[])?;
        row.try_get(0).map_err(corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_row_is_what_a_read_sees_is_kept_after_the_commit_and_forgotten_on_a_rollback() {
        let mut cache = TxCache::default();
        let id = Uuid::from_u128(7);
        let key = ("attendance".to_string(), id);
        let row = |seq| EntityRow {
            entity_type: "attendance".into(),
            id,
            scope: "care:1".into(),
            seq,
            deleted: false,
            data: Some(format!("{{\"seq\":{seq}}}")),
        };
        let seq_of = |c: &TxCache| c.entities.get(&key).and_then(|r| r.as_ref()).map(|r| r.seq);
        cache.wrote_row(row(5), Some(Arc::new(serde_json::json!({ "seq": 5 }))));
        assert_eq!(seq_of(&cache), Some(5));
        assert!(cache.values.contains_key(&key), "the rules' typed value with it");
        // A later write as JSON text replaces the row and drops the typed value.
        cache.wrote_row(row(6), None);
        assert_eq!(seq_of(&cache), Some(6));
        assert!(!cache.values.contains_key(&key), "no typed value older than the row");
        let mut kept = cache.after_commit();
        assert_eq!(seq_of(&kept), Some(6), "committed: kept for the next group");
        kept.rolled_back();
        assert_eq!(seq_of(&kept), None, "a rollback forgets every entity");
    }

    #[test]
    fn pokes_too_wide_for_notify_become_poke_everyone() {
        let few: TouchedScopes = ["child:1".to_string(), "user:2".to_string()].into();
        assert_eq!(poke_payload(&few), r#"["child:1","user:2"]"#);
        let many: TouchedScopes = (0..400).map(|i| format!("user:{}", Uuid::from_u128(i))).collect();
        assert_eq!(poke_payload(&many), r#"["*"]"#);
        let back: TouchedScopes = serde_json::from_str(&poke_payload(&many)).unwrap();
        assert!(back.contains(POKE_EVERYONE));
    }

    #[test]
    fn a_notification_names_its_commit_and_its_scopes() {
        let scopes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<TouchedScopes>();
        assert_eq!(parse_notification(r#"42 ["child:1","unit:2"]"#), (Some(42), scopes(&["child:1", "unit:2"])));
        assert_eq!(parse_notification("43"), (Some(43), scopes(&[])), "a commit that touched no scope");
        // An instance of an earlier version sends the scopes alone.
        assert_eq!(parse_notification(r#"["child:1"]"#), (None, scopes(&["child:1"])));
        // What cannot be read pokes everyone; a readable commit is still noted.
        assert_eq!(parse_notification("44 not json"), (Some(44), scopes(&[POKE_EVERYONE])));
        assert_eq!(parse_notification("garbage"), (None, scopes(&[POKE_EVERYONE])));
        assert_eq!(parse_notification(""), (None, scopes(&[POKE_EVERYONE])));
        // The widest payload with the longest commit number still fits in a NOTIFY.
        let many: TouchedScopes = (0..400).map(|i| format!("user:{}", Uuid::from_u128(i))).collect();
        assert!(format!("{} {}", u64::MAX, poke_payload(&many)).len() < 8000);
        let fitting: TouchedScopes = (0..).map(|i| format!("user:{}", Uuid::from_u128(i))).take(MAX_PAYLOAD / 45).collect();
        let payload = poke_payload(&fitting);
        assert_ne!(payload, r#"["*"]"#);
        assert!(format!("{} {payload}", u64::MAX).len() < 8000);
    }

    #[test]
    fn the_known_commit_is_the_greatest_noted_and_only_while_the_listener_hears() {
        let known = KnownCommit::default();
        known.note(5);
        assert_eq!(known.get(), None, "nothing is known before the listener listens");
        known.listening.store(true, Ordering::SeqCst);
        known.heard();
        assert_eq!(known.get(), Some(5));
        known.note(9);
        known.note(7);
        assert_eq!(known.get(), Some(9), "a late notification of an older commit lowers nothing");
        // A listener silent for too long (a connection that hangs): nothing is known.
        let later = KnownCommit { since: std::time::Instant::now() - KNOWN_FOR * 2, ..KnownCommit::default() };
        later.listening.store(true, Ordering::SeqCst);
        assert_eq!(later.get(), None);
        later.heard();
        assert_eq!(later.get(), Some(0));
        known.listening.store(false, Ordering::SeqCst);
        assert_eq!(known.get(), None, "a lost listener knows nothing until it listens again");
    }

    #[test]
    fn postgres_urls_parse_and_get_defaults() {
        let c = parse_config("postgres://hub@127.0.0.1:5432/hub").unwrap();
        assert_eq!(c.get_dbname(), Some("hub"));
        assert_eq!(c.get_application_name(), Some("hub-sync-server"));
        assert!(parse_config("postgres://hub@127.0.0.1:notaport/hub").is_err());
    }
}
