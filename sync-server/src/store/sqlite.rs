//! The embedded SQLite store: one writer thread that commits concurrent jobs together
//! (group commit, `synchronous=FULL` so an acknowledged mutation survives power loss) and a
//! small pool of read connections (WAL lets them read while the writer writes).

use std::any::Any;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

use chrono::{DateTime, Utc};
use domain::wire::{MutationResult, Role};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use super::{
    ChildRow, EntityRow, Job, JobFuture, Store, StoreError, StoreResult, TouchedScopes, Tx,
    UserRow,
};

const MIGRATIONS: &[(i64, &str)] =
    &[(1, include_str!("../../../migrations/server-sqlite/0001_init.sql"))];

/// Jobs the writer takes into one transaction at most.
const MAX_GROUP: usize = 512;
const READERS: usize = 4;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

struct WriteMsg {
    job: Job,
    reply: oneshot::Sender<StoreResult<Box<dyn Any + Send>>>,
}

pub struct SqliteStore {
    writer: Mutex<mpsc::Sender<WriteMsg>>,
    /// None for an in-memory database: it has one connection, the writer's.
    readers: Option<Arc<ReaderPool>>,
}

struct ReaderPool {
    path: String,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn take(&self) -> StoreResult<Connection> {
        if let Some(c) = self.idle.lock().map_err(|_| StoreError::Closed)?.pop() {
            return Ok(c);
        }
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(c)
    }
    fn give_back(&self, c: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < READERS {
                idle.push(c);
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, or an in-memory one for
    /// `:memory:`, applies migrations, and starts the writer thread. Committed writes are
    /// announced on `pokes` with the scopes they touched.
    pub fn open(path: &str, pokes: broadcast::Sender<Arc<TouchedScopes>>) -> StoreResult<Self> {
        let memory = path == ":memory:";
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        if !memory {
            let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            if mode.to_lowercase() != "wal" {
                return Err(StoreError::Database(format!("could not enable WAL (got {mode})")));
            }
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        migrate(&conn)?;

        let (tx, rx) = mpsc::channel::<WriteMsg>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, pokes))
            .map_err(|e| StoreError::Database(format!("cannot start writer thread: {e}")))?;
        let readers = (!memory).then(|| {
            Arc::new(ReaderPool { path: path.to_string(), idle: Mutex::new(Vec::new()) })
        });
        Ok(SqliteStore { writer: Mutex::new(tx), readers })
    }

    fn send_to_writer(&self, job: Job) -> JobFuture {
        let (reply, rx) = oneshot::channel();
        let sent = match self.writer.lock() {
            Ok(w) => w.send(WriteMsg { job, reply }).is_ok(),
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

fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<WriteMsg>,
    pokes: broadcast::Sender<Arc<TouchedScopes>>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            for m in batch {
                let _ = m.reply.send(Err(StoreError::Database(format!("cannot begin: {e}"))));
            }
            continue;
        }
        let mut tx = SqliteTx { conn: &conn, touched: BTreeSet::new() };
        let mut done = Vec::with_capacity(batch.len());
        for m in batch {
            let before = tx.touched.clone();
            let outcome = run_job(&mut tx, m.job);
            if outcome.is_err() {
                tx.touched = before;
            }
            done.push((m.reply, outcome));
        }
        let touched = std::mem::take(&mut tx.touched);
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                if !touched.is_empty() {
                    let _ = pokes.send(Arc::new(touched));
                }
                for (reply, outcome) in done {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                let _ = conn.execute_batch("ROLLBACK");
                for (reply, _) in done {
                    let _ = reply.send(Err(StoreError::Database(format!("commit failed: {e}"))));
                }
            }
        }
    }
}

/// Runs one job inside its own savepoint: a failing (or panicking) job is undone alone.
fn run_job(tx: &mut SqliteTx<'_>, job: Job) -> StoreResult<Box<dyn Any + Send>> {
    tx.conn.execute_batch("SAVEPOINT job")?;
    let outcome = match catch_unwind(AssertUnwindSafe(|| job(tx))) {
        Ok(r) => r,
        Err(_) => Err(StoreError::Database("a job panicked; it was rolled back".into())),
    };
    if outcome.is_err() {
        tx.conn.execute_batch("ROLLBACK TO job")?;
    }
    tx.conn.execute_batch("RELEASE job")?;
    outcome
}

impl Store for SqliteStore {
    fn submit_read(&self, job: Job) -> JobFuture {
        let Some(pool) = self.readers.clone() else {
            return self.send_to_writer(job);
        };
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = pool.take()?;
                conn.execute_batch("BEGIN")?;
                let out = {
                    let mut tx = SqliteTx { conn: &conn, touched: BTreeSet::new() };
                    catch_unwind(AssertUnwindSafe(|| job(&mut tx)))
                        .unwrap_or_else(|_| Err(StoreError::Database("a read job panicked".into())))
                };
                let _ = conn.execute_batch("COMMIT");
                pool.give_back(conn);
                out
            })
            .await
            .map_err(|_| StoreError::Closed)?
        })
    }

    fn submit_write(&self, job: Job) -> JobFuture {
        self.send_to_writer(job)
    }
}

struct SqliteTx<'c> {
    conn: &'c Connection,
    touched: TouchedScopes,
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
    let data: Option<String> = r.get(5)?;
    let data = match data {
        Some(s) => Some(serde_json::from_str::<Value>(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e))
        })?),
        None => None,
    };
    Ok(EntityRow {
        entity_type: r.get(0)?,
        id: uuid_col(r.get(1)?)?,
        scope: r.get(2)?,
        seq: r.get(3)?,
        deleted: r.get::<_, i64>(4)? != 0,
        data,
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
    fn next_seq(&mut self) -> StoreResult<i64> {
        Ok(self.conn.query_row(
            "UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value",
            [],
            |r| r.get(0),
        )?)
    }
}

impl Tx for SqliteTx<'_> {
    fn savepoint(&mut self) -> StoreResult<()> {
        Ok(self.conn.execute_batch("SAVEPOINT m")?)
    }
    fn release_savepoint(&mut self) -> StoreResult<()> {
        Ok(self.conn.execute_batch("RELEASE m")?)
    }
    fn rollback_savepoint(&mut self) -> StoreResult<()> {
        Ok(self.conn.execute_batch("ROLLBACK TO m; RELEASE m")?)
    }

    fn get_entity(&mut self, ty: &str, id: Uuid) -> StoreResult<Option<EntityRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {ENTITY_COLS} FROM entities WHERE type = ?1 AND id = ?2"))?;
        Ok(st.query_row(params![ty, id.to_string()], entity_from_row).optional()?)
    }

    fn put_entity(&mut self, ty: &str, id: Uuid, scope: &str, data: &Value) -> StoreResult<i64> {
        let seq = self.next_seq()?;
        let mut st = self.conn.prepare_cached(
            "INSERT INTO entities (type, id, scope, seq, deleted, data) VALUES (?1, ?2, ?3, ?4, 0, ?5)
             ON CONFLICT (type, id) DO UPDATE SET scope = excluded.scope, seq = excluded.seq,
                 deleted = 0, data = excluded.data",
        )?;
        st.execute(params![ty, id.to_string(), scope, seq, data.to_string()])?;
        self.touch_scope(scope);
        Ok(seq)
    }

    fn delete_entity(&mut self, ty: &str, id: Uuid) -> StoreResult<bool> {
        let Some(row) = self.get_entity(ty, id)? else { return Ok(false) };
        if row.deleted {
            return Ok(false);
        }
        let seq = self.next_seq()?;
        self.conn.execute(
            "UPDATE entities SET deleted = 1, data = NULL, seq = ?3 WHERE type = ?1 AND id = ?2",
            params![ty, id.to_string(), seq],
        )?;
        self.touch_scope(&row.scope);
        Ok(true)
    }

    fn entities_in_scope(&mut self, ty: &str, scope: &str) -> StoreResult<Vec<EntityRow>> {
        let mut st = self.conn.prepare_cached(&format!(
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
    ) -> StoreResult<Vec<EntityRow>> {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE scope IN ({}) AND seq > ? AND seq <= ? {} ORDER BY seq LIMIT ?",
            in_list(scopes.len()),
            if live_only { "AND deleted = 0" } else { "" },
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut args: Vec<rusqlite::types::Value> =
            scopes.iter().map(|s| rusqlite::types::Value::Text(s.clone())).collect();
        args.push(after.into());
        args.push(up_to.unwrap_or(i64::MAX).into());
        args.push(limit.map(i64::from).unwrap_or(-1).into());
        let rows = st.query_map(rusqlite::params_from_iter(args), entity_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn all_in_scopes(&mut self, scopes: &[String]) -> StoreResult<Vec<EntityRow>> {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE scope IN ({}) ORDER BY seq",
            in_list(scopes.len())
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(scopes.iter()), entity_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn min_cursor_seq(&mut self) -> StoreResult<i64> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = 'min_cursor_seq'", [], |r| r.get(0))?)
    }

    fn max_seq(&mut self) -> StoreResult<i64> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = 'seq'", [], |r| r.get(0))?)
    }

    fn touch_scope(&mut self, scope: &str) {
        if !self.touched.contains(scope) {
            self.touched.insert(scope.to_string());
        }
    }

    fn scope_set(&mut self, hash: &str) -> StoreResult<Option<Vec<String>>> {
        let s: Option<String> = self
            .conn
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

    fn put_scope_set(&mut self, hash: &str, scopes: &[String]) -> StoreResult<()> {
        let json = serde_json::to_string(scopes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO scope_sets (hash, scopes) VALUES (?1, ?2)")?
            .execute(params![hash, json])?;
        Ok(())
    }

    fn insert_user(&mut self, u: &UserRow) -> StoreResult<()> {
        self.conn.execute(
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
            self.conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE username = ?1"))?;
        Ok(st.query_row([username], user_from_row).optional()?)
    }

    fn user_by_id(&mut self, id: Uuid) -> StoreResult<Option<UserRow>> {
        let mut st = self.conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?;
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
        self.conn.prepare_cached(
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
        let cols = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {cols}, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1"
        ))?;
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

    fn revoke_token(&mut self, token_hash: &str) -> StoreResult<bool> {
        Ok(self.conn.execute("DELETE FROM tokens WHERE token_hash = ?1", [token_hash])? > 0)
    }

    fn insert_unit(&mut self, id: Uuid, name: &str) -> StoreResult<()> {
        self.conn.execute("INSERT INTO units (id, name) VALUES (?1, ?2)", params![id.to_string(), name])?;
        Ok(())
    }

    fn insert_group(&mut self, id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO groups_ (id, unit_id) VALUES (?1, ?2)",
            params![id.to_string(), unit_id.to_string()],
        )?;
        Ok(())
    }

    fn insert_class(&mut self, id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO classes (id, unit_id) VALUES (?1, ?2)",
            params![id.to_string(), unit_id.to_string()],
        )?;
        Ok(())
    }

    fn insert_child(&mut self, c: &ChildRow) -> StoreResult<()> {
        self.conn.execute(
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
            self.conn.execute(
                "INSERT INTO child_groups (child_id, group_id) VALUES (?1, ?2)",
                params![c.id.to_string(), g.to_string()],
            )?;
        }
        Ok(())
    }

    fn add_guardian(&mut self, guardian_id: Uuid, child_id: Uuid) -> StoreResult<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO guardianships (guardian_id, child_id) VALUES (?1, ?2)",
            params![guardian_id.to_string(), child_id.to_string()],
        )?;
        // The guardian's scope grows: poke them so their next pull backfills.
        self.touch_scope(&format!("user:{guardian_id}"));
        Ok(())
    }

    fn remove_guardian(&mut self, guardian_id: Uuid, child_id: Uuid) -> StoreResult<bool> {
        let n = self.conn.execute(
            "DELETE FROM guardianships WHERE guardian_id = ?1 AND child_id = ?2",
            params![guardian_id.to_string(), child_id.to_string()],
        )?;
        self.touch_scope(&format!("user:{guardian_id}"));
        Ok(n > 0)
    }

    fn add_staff_unit(&mut self, staff_id: Uuid, unit_id: Uuid) -> StoreResult<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO staff_units (staff_id, unit_id) VALUES (?1, ?2)",
            params![staff_id.to_string(), unit_id.to_string()],
        )?;
        self.touch_scope(&format!("user:{staff_id}"));
        Ok(())
    }

    fn child(&mut self, id: Uuid) -> StoreResult<Option<ChildRow>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, unit_id, class_id, student_user_id, personnummer FROM children WHERE id = ?1",
            )?
            .query_row([id.to_string()], |r| {
                Ok(ChildRow {
                    id: uuid_col(r.get(0)?)?,
                    unit_id: uuid_col(r.get(1)?)?,
                    class_id: r.get::<_, Option<String>>(2)?.map(uuid_col).transpose()?,
                    student_user_id: r.get::<_, Option<String>>(3)?.map(uuid_col).transpose()?,
                    personnummer: r.get(4)?,
                    group_ids: Vec::new(),
                })
            })
            .optional()?;
        let Some(mut child) = row else { return Ok(None) };
        child.group_ids = uuids(self.conn, "SELECT group_id FROM child_groups WHERE child_id = ?1 ORDER BY group_id", id)?;
        Ok(Some(child))
    }

    fn children_of_guardian(&mut self, guardian_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT child_id FROM guardianships WHERE guardian_id = ?1 ORDER BY child_id", guardian_id)
    }

    fn guardians_of(&mut self, child_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT guardian_id FROM guardianships WHERE child_id = ?1 ORDER BY guardian_id", child_id)
    }

    fn child_of_student(&mut self, user_id: Uuid) -> StoreResult<Option<Uuid>> {
        Ok(uuids(self.conn, "SELECT id FROM children WHERE student_user_id = ?1", user_id)?.into_iter().next())
    }

    fn staff_units(&mut self, staff_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT unit_id FROM staff_units WHERE staff_id = ?1 ORDER BY unit_id", staff_id)
    }

    fn staff_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT staff_id FROM staff_units WHERE unit_id = ?1 ORDER BY staff_id", unit_id)
    }

    fn children_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT id FROM children WHERE unit_id = ?1 ORDER BY id", unit_id)
    }

    fn groups_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT id FROM groups_ WHERE unit_id = ?1 ORDER BY id", unit_id)
    }

    fn classes_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT id FROM classes WHERE unit_id = ?1 ORDER BY id", unit_id)
    }

    fn all_units(&mut self) -> StoreResult<Vec<Uuid>> {
        let mut st = self.conn.prepare_cached("SELECT id FROM units ORDER BY id")?;
        let rows = st.query_map([], |r| uuid_col(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn add_thread_participant(&mut self, thread_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO thread_participants (thread_id, user_id) VALUES (?1, ?2)",
            params![thread_id.to_string(), user_id.to_string()],
        )?;
        if n > 0 {
            self.touch_scope(&format!("user:{user_id}"));
        }
        Ok(())
    }

    fn thread_participants(&mut self, thread_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT user_id FROM thread_participants WHERE thread_id = ?1 ORDER BY user_id", thread_id)
    }

    fn threads_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<Uuid>> {
        uuids(self.conn, "SELECT thread_id FROM thread_participants WHERE user_id = ?1 ORDER BY thread_id", user_id)
    }

    fn mutation_outcome(&mut self, id: Uuid) -> StoreResult<Option<(Uuid, MutationResult)>> {
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached("SELECT user_id, result FROM mutations WHERE id = ?1")?
            .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
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
        let json = serde_json::to_string(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn
            .prepare_cached(
                "INSERT INTO mutations (id, user_id, client_id, name, result, applied_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                id.to_string(),
                user_id.to_string(),
                client_id.to_string(),
                name,
                json,
                at.to_rfc3339()
            ])?;
        Ok(())
    }

    fn enqueue_outgoing(
        &mut self,
        channel: &str,
        recipient: &str,
        subject: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO outgoing (channel, recipient, subject, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![channel, recipient, subject, body, at.to_rfc3339()])?;
        Ok(())
    }

    fn is_empty(&mut self) -> StoreResult<bool> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        Ok(n == 0)
    }
}
