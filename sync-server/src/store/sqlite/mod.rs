//! The embedded SQLite store: one writer thread that commits concurrent jobs together
//! (group commit, `synchronous=FULL` so an acknowledged mutation survives power loss) and a
//! small pool of read connections (WAL lets them read while the writer writes). A
//! commit's sync is left to a syncer thread while the writer runs the next group; nobody
//! hears of a commit before it is synced ([`super::commit_sync`]).

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};

use chrono::Utc;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::{broadcast, oneshot};

use super::commit_sync::{Durability, Publisher, Reply, SyncWal, WriteCounters};
use super::priority::raise_priority;
use super::{commit_sync, GenerationFuture, Job, JobFuture, Store, StoreError, StoreResult, TouchedScopes, WriteStats};

mod checkpoint;
mod db;
mod reads;
mod rows;
mod tx;
mod writer;
#[cfg(test)]
mod tests;

use checkpoint::spawn_checkpointer;
use reads::reader_loop;
use crate::store::scope_heads::ScopeHeads;
use writer::writer_loop;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../../migrations/server-sqlite/0001_init.sql")),
    (2, include_str!("../../../../migrations/server-sqlite/0002_tablets.sql")),
    (3, include_str!("../../../../migrations/server-sqlite/0003_pin_unlocked_at.sql")),
    (4, include_str!("../../../../migrations/server-sqlite/0004_drop_entities_seq.sql")),
];

/// Read connections (one thread each), at least this many; more on machines with more cores.
const MIN_READERS: usize = 4;
const MAX_READERS: usize = 16;
/// Performance: rusqlite caches 16 prepared statements per connection by default, fewer than
/// one push or pull uses, so statements were evicted and parsed again all the time. Room
/// for the pull's merge slots (`tx::MERGE_SLOTS`) besides the rest.
const STATEMENT_CACHE: usize = 512;
/// Performance: WAL pages after which a commit copies the WAL back into the database file
/// (SQLite's default is 1000, about 4 MiB). The writer thread does it, so it costs commit
/// time; under a write rush the same hot pages (the sequence counter, index leaves) are
/// rewritten in every commit, and a longer interval copies each of them once instead of
/// many times (10,000 → 40,000 pages: care weeks +10–20 % in A/B runs). At most about
/// 160 MiB of WAL; durability does not depend on it (a commit is durable once its WAL
/// frames are synced). A long WAL makes readers' page look-ups slower, so an idle writer
/// copies it back at once (see `checkpoint::checkpoint_when_idle`).
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
    /// The newest sequence number the writer wrote in each scope, for the readers' pulls.
    heads: Arc<ScopeHeads>,
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
        // What the writer writes from here on is recorded; what is in the file already is not.
        let head: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'seq'", [], |r| r.get(0))?;
        let heads = Arc::new(ScopeHeads::new(head));

        let (tx, rx) = mpsc::channel::<JobMsg>();
        let counters = Arc::new(WriteCounters::default());
        let durability = Arc::new(Durability::new());
        let publisher = Arc::new(Publisher { counters: counters.clone(), durability: durability.clone(), pokes });
        // An in-memory database has no WAL: its commits settle at once.
        let syncer = if memory { None } else { Some(commit_sync::spawn_syncer(publisher.clone(), sync)?) };
        let checkpoints = if memory { None } else { Some(spawn_checkpointer(path)?) };
        let writer_heads = heads.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                raise_priority("sqlite-writer");
                writer_loop(conn, rx, &publisher, syncer, checkpoints, &writer_heads)
            })
            .map_err(|e| StoreError::Database(format!("cannot start writer thread: {e}")))?;
        let readers = if memory {
            None
        } else {
            let (rtx, rrx) = mpsc::channel::<ReadMsg>();
            let rrx = Arc::new(Mutex::new(rrx));
            let n = std::thread::available_parallelism().map_or(MIN_READERS, |n| n.get()).clamp(MIN_READERS, MAX_READERS);
            for i in 0..n {
                let (path, rrx, durability, heads) = (path.to_string(), rrx.clone(), durability.clone(), heads.clone());
                std::thread::Builder::new()
                    .name(format!("sqlite-reader-{i}"))
                    .spawn(move || reader_loop(path, rrx, durability, heads))
                    .map_err(|e| StoreError::Database(format!("cannot start reader thread: {e}")))?;
            }
            Some(rtx)
        };
        Ok(SqliteStore { writer: Mutex::new(tx), counters, durability, readers, heads })
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

impl Store for SqliteStore {
    fn pull_ranges_skipped(&self) -> Option<u64> {
        Some(self.heads.skipped())
    }

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
