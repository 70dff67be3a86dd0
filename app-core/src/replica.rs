//! The local SQLite replica of one (server, account): mirrored entities, the pull cursor, the
//! outbox, the needs-attention journal and the notification log. Every state change that must
//! be atomic happens in one SQLite transaction here.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::view::AttentionItem;
use domain::wire::entity::{Notification, NOTIFICATION_TYPE};
use domain::wire::{ChangeOp, MutationResult, MutationStatus, PullResponse};
use domain::RejectCode;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::CoreError;

type Result<T> = std::result::Result<T, CoreError>;

/// The replica's migrations, applied in order; `PRAGMA user_version` holds the last one done.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/replica/0001_init.sql")),
    (2, include_str!("../../migrations/replica/0002_tablet.sql")),
];

pub(crate) mod keys {
    pub const CURSOR: &str = "cursor";
    pub const BOOTSTRAP_GEN: &str = "bootstrap_gen";
    pub const BOOTSTRAPPING: &str = "bootstrapping";
    pub const BASELINE_DONE: &str = "notify_baseline_done";
    pub const OFFSET_MS: &str = "server_offset_ms";
    pub const LAST_SYNC: &str = "last_sync";
    pub const USER: &str = "user";
    pub const ME_CHILDREN: &str = "me_children";
    pub const SERVER_URL: &str = "server_url";
    pub const CLIENT_ID: &str = "client_id";
    pub const SETTINGS: &str = "settings";
    /// Tablet mode: the paired device (`DeviceInfo`; the credential is in the token store).
    pub const DEVICE: &str = "device";
    /// Tablet mode: the running PIN session, so a restart within the idle time stays unlocked.
    pub const PIN_SESSION: &str = "pin_session";
    /// Tablet mode: password unlocks whose reset the next complete pull has not brought yet.
    pub const PIN_RESETS: &str = "pin_resets";
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn parse_uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or(Uuid::nil())
}

/// A mutation of the user's that the views overlay on server state: one still in the outbox,
/// or one the server applied whose result has not been pulled yet.
#[derive(Debug, Clone)]
pub(crate) struct PendingRow {
    pub seq: i64,
    pub id: Uuid,
    pub name: String,
    pub args: Value,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    /// Still waiting for the server's answer (false: applied, awaiting the pull).
    pub in_outbox: bool,
    /// Tablet mode: the staff member who did it (sent as the envelope's `actor`).
    pub actor: Option<Uuid>,
}

/// What applying push results did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Outcomes {
    pub applied: usize,
    pub rejected: usize,
}

/// What applying a pull page did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PageApplied {
    pub changes: usize,
    pub new_notifications: usize,
    pub complete: bool,
}

pub(crate) struct Replica {
    conn: Connection,
}

impl Replica {
    pub fn open(path: &Path) -> Result<Replica> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "replica: WAL not available");
        }
        // FULL: a mutation reported queued survives a power cut, not only a crash.
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        migrate(&mut conn)?;
        let mut r = Replica { conn };
        if r.meta_get::<Uuid>(keys::CLIENT_ID)?.is_none() {
            r.meta_set(keys::CLIENT_ID, &Uuid::new_v4())?;
        }
        Ok(r)
    }

    // ------------------------------------------------------------ meta

    pub fn meta_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        meta_get(&self.conn, key)
    }

    pub fn meta_set<T: Serialize>(&mut self, key: &str, value: &T) -> Result<()> {
        meta_set(&self.conn, key, value)
    }

    pub fn client_id(&self) -> Result<Uuid> {
        self.meta_get(keys::CLIENT_ID)?
            .ok_or_else(|| CoreError::Storage("replica has no client id".into()))
    }

    // ------------------------------------------------------------ outbox

    /// Queues a mutation: one row, one transaction, committed (fsync'd) before returning.
    /// The optimistic effect is the overlay of this row on server state, so it appears in
    /// the very same commit. `actor`: the staff member on a tablet who did it.
    pub fn enqueue(
        &mut self,
        id: Uuid,
        name: &str,
        args: &Value,
        at: DateTime<Utc>,
        actor: Option<Uuid>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO outbox (id, name, args, created_at, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id.to_string(),
                name,
                args.to_string(),
                ts(at),
                actor.map(|a| a.to_string())
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The oldest `limit` outbox rows, in order.
    pub fn outbox(&self, limit: Option<usize>) -> Result<Vec<PendingRow>> {
        let limit = limit.map_or(-1, |l| l as i64);
        let mut st = self.conn.prepare(
            "SELECT seq, id, name, args, created_at, attempts, actor FROM outbox ORDER BY seq LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
            Ok(PendingRow {
                seq: r.get(0)?,
                id: parse_uuid(&r.get::<_, String>(1)?),
                name: r.get(2)?,
                args: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
                created_at: parse_ts(&r.get::<_, String>(4)?),
                attempts: r.get(5)?,
                in_outbox: true,
                actor: r.get::<_, Option<String>>(6)?.map(|a| parse_uuid(&a)),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Settled (applied, not pulled yet) then outbox rows, in the order they were queued.
    pub fn pending(&self) -> Result<Vec<PendingRow>> {
        let mut st = self
            .conn
            .prepare("SELECT seq, id, name, args, created_at, actor FROM settled ORDER BY seq")?;
        let settled = st.query_map([], |r| {
            Ok(PendingRow {
                seq: r.get(0)?,
                id: parse_uuid(&r.get::<_, String>(1)?),
                name: r.get(2)?,
                args: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
                created_at: parse_ts(&r.get::<_, String>(4)?),
                attempts: 0,
                in_outbox: false,
                actor: r.get::<_, Option<String>>(5)?.map(|a| parse_uuid(&a)),
            })
        })?;
        let mut out = settled.collect::<rusqlite::Result<Vec<_>>>()?;
        out.extend(self.outbox(None)?);
        out.sort_by_key(|p| p.seq);
        Ok(out)
    }

    pub fn outbox_count(&self) -> Result<u32> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?)
    }

    /// The highest outbox `seq` ever handed out: every mutation queued later has a higher one
    /// (AUTOINCREMENT never reuses), every one queued before has this or lower.
    pub fn seq_mark(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn attention_count(&self) -> Result<u32> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM attention", [], |r| r.get(0))?)
    }

    /// Counts an attempt to send these rows (kept for the UI and diagnostics).
    pub fn mark_attempt(&mut self, ids: &[Uuid], error: Option<&str>) -> Result<()> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id.to_string(), error],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the server's answers in one transaction: an applied mutation leaves the
    /// outbox (and waits in `settled` for the pull that brings its result); a rejected one
    /// leaves the outbox for the needs-attention journal. A result for an id no longer in
    /// the outbox (answered before, a crash in between) changes nothing.
    pub fn record_results(
        &mut self,
        results: &[MutationResult],
        now: DateTime<Utc>,
        offset_ms: i64,
    ) -> Result<Outcomes> {
        let tx = self.conn.transaction()?;
        let mut out = Outcomes::default();
        for r in results {
            type Row = (i64, String, String, String, Option<String>);
            let row: Option<Row> = tx
                .query_row(
                    "SELECT seq, name, args, created_at, actor FROM outbox WHERE id = ?1",
                    [r.id.to_string()],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    },
                )
                .optional()?;
            let Some((seq, name, args, created_at, actor)) = row else {
                continue;
            };
            tx.execute("DELETE FROM outbox WHERE id = ?1", [r.id.to_string()])?;
            match r.status {
                MutationStatus::Applied => {
                    tx.execute(
                        "INSERT OR REPLACE INTO settled (seq, id, name, args, created_at, applied_at, actor)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![seq, r.id.to_string(), name, args, created_at, ts(now), actor],
                    )?;
                    out.applied += 1;
                }
                MutationStatus::Rejected => {
                    let code = r.code.unwrap_or(RejectCode::InvalidInput);
                    tx.execute(
                        "INSERT OR REPLACE INTO attention
                         (id, seq, name, args, code, message, details, created_at, rejected_at, actor)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![
                            r.id.to_string(),
                            seq,
                            name,
                            args,
                            code.as_str(),
                            r.message.clone().unwrap_or_default(),
                            r.details.as_ref().map(|d| d.to_string()),
                            created_at,
                            ts(now),
                            actor,
                        ],
                    )?;
                    out.rejected += 1;
                }
            }
        }
        meta_set(&tx, keys::OFFSET_MS, &offset_ms)?;
        tx.commit()?;
        Ok(out)
    }

    pub fn attention(&self) -> Result<Vec<AttentionItem>> {
        let mut st = self.conn.prepare(
            "SELECT id, name, args, code, message, created_at, rejected_at FROM attention ORDER BY seq",
        )?;
        let rows = st.query_map([], |r| {
            Ok(AttentionItem {
                id: parse_uuid(&r.get::<_, String>(0)?),
                name: r.get(1)?,
                args: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or(Value::Null),
                code: RejectCode::parse(&r.get::<_, String>(3)?)
                    .unwrap_or(RejectCode::InvalidInput),
                message: r.get(4)?,
                created_at: parse_ts(&r.get::<_, String>(5)?),
                rejected_at: parse_ts(&r.get::<_, String>(6)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn dismiss_attention(&mut self, id: Uuid) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM attention WHERE id = ?1", [id.to_string()])?
            > 0)
    }

    /// Moves a mutation that can never be sent (the server refuses the request itself, not
    /// the mutation) to the journal, as a rejection.
    pub fn reject_locally(
        &mut self,
        id: Uuid,
        code: RejectCode,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let r = MutationResult {
            id,
            status: MutationStatus::Rejected,
            code: Some(code),
            message: Some(message.to_string()),
            details: None,
        };
        let offset: i64 = self.meta_get(keys::OFFSET_MS)?.unwrap_or(0);
        self.record_results(&[r], now, offset)?;
        Ok(())
    }

    // ------------------------------------------------------------ entities

    pub fn entities(&self, ty: &str) -> Result<Vec<Value>> {
        let mut st = self
            .conn
            .prepare("SELECT data FROM entity WHERE type = ?1")?;
        let rows = st.query_map([ty], |r| r.get::<_, String>(0))?;
        decode_rows(ty, rows)
    }

    pub fn entities_of_child(&self, ty: &str, child_id: Uuid) -> Result<Vec<Value>> {
        let mut st = self
            .conn
            .prepare("SELECT data FROM entity WHERE type = ?1 AND child_id = ?2")?;
        let rows = st.query_map(params![ty, child_id.to_string()], |r| r.get::<_, String>(0))?;
        decode_rows(ty, rows)
    }

    pub fn entity(&self, ty: &str, id: Uuid) -> Result<Option<Value>> {
        let s: Option<String> = self
            .conn
            .query_row(
                "SELECT data FROM entity WHERE type = ?1 AND id = ?2",
                params![ty, id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Typed entities of a type; rows that do not parse are skipped (logged).
    pub fn typed<T: DeserializeOwned>(&self, ty: &str) -> Result<Vec<T>> {
        Ok(self
            .entities(ty)?
            .into_iter()
            .filter_map(|v| parse_entity(ty, v))
            .collect())
    }

    pub fn typed_of_child<T: DeserializeOwned>(&self, ty: &str, child_id: Uuid) -> Result<Vec<T>> {
        Ok(self
            .entities_of_child(ty, child_id)?
            .into_iter()
            .filter_map(|v| parse_entity(ty, v))
            .collect())
    }

    pub fn typed_one<T: DeserializeOwned>(&self, ty: &str, id: Uuid) -> Result<Option<T>> {
        Ok(self.entity(ty, id)?.and_then(|v| parse_entity(ty, v)))
    }

    /// Every entity, sorted by type and id (tests compare replicas with the server).
    pub fn dump(&self) -> Result<Vec<(String, Uuid, Value)>> {
        let mut st = self
            .conn
            .prepare("SELECT type, id, data FROM entity ORDER BY type, id")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (ty, id, data) = row?;
            out.push((
                ty,
                parse_uuid(&id),
                serde_json::from_str(&data).unwrap_or(Value::Null),
            ));
        }
        Ok(out)
    }

    // ------------------------------------------------------------ pull

    /// Starts a full snapshot: the next pull goes with a null cursor, and when it completes
    /// every row it did not bring is removed. The outbox is not touched.
    pub fn begin_bootstrap(&mut self) -> Result<()> {
        let tx = self.conn.transaction()?;
        let gen: i64 = meta_get(&tx, keys::BOOTSTRAP_GEN)?.unwrap_or(0);
        meta_set(&tx, keys::BOOTSTRAP_GEN, &(gen + 1))?;
        meta_set(&tx, keys::BOOTSTRAPPING, &true)?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [keys::CURSOR])?;
        tx.commit()?;
        Ok(())
    }

    pub fn cursor(&self) -> Result<Option<String>> {
        self.meta_get(keys::CURSOR)
    }

    /// The newest `settled` row now; a complete pull started after this clears up to it.
    pub fn settle_mark(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM settled", [], |r| {
                r.get(0)
            })?)
    }

    /// Applies one pull page and its cursor in one transaction. On the last page of a pull
    /// (`has_more` false) also: ends a bootstrap (sweeping rows it did not see), clears the
    /// settled mutations the pull has brought back, and records the sync time.
    pub fn apply_page(
        &mut self,
        page: &PullResponse,
        settle_mark: i64,
        now: DateTime<Utc>,
        offset_ms: i64,
    ) -> Result<PageApplied> {
        let tx = self.conn.transaction()?;
        let gen: i64 = meta_get(&tx, keys::BOOTSTRAP_GEN)?.unwrap_or(0);
        let baseline_done: bool = meta_get(&tx, keys::BASELINE_DONE)?.unwrap_or(false);
        let mut applied = PageApplied {
            changes: page.changes.len(),
            ..Default::default()
        };
        for c in &page.changes {
            let id = c.id.to_string();
            match (c.op, &c.data) {
                (ChangeOp::Upsert, Some(data)) => {
                    let child_id = if c.entity_type == domain::wire::entity::CHILD_TYPE {
                        Some(id.clone())
                    } else {
                        data.get("child_id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    };
                    tx.execute(
                        "INSERT INTO entity (type, id, child_id, data, gen) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (type, id) DO UPDATE
                         SET child_id = excluded.child_id, data = excluded.data, gen = excluded.gen",
                        params![c.entity_type, id, child_id, data.to_string(), gen],
                    )?;
                    if c.entity_type == NOTIFICATION_TYPE {
                        let read = data.get("read").and_then(Value::as_bool).unwrap_or(false);
                        // R-NOT-3: each new item once; what was there before this device's
                        // first sync, or arrives already read, is not announced.
                        let state = if !baseline_done || read {
                            "skipped"
                        } else {
                            "pending"
                        };
                        let n = tx.execute(
                            "INSERT OR IGNORE INTO notify_log (id, state, at) VALUES (?1, ?2, ?3)",
                            params![id, state, ts(now)],
                        )?;
                        if n > 0 && state == "pending" {
                            applied.new_notifications += 1;
                        }
                        if read {
                            tx.execute(
                                "UPDATE notify_log SET state = 'skipped' WHERE id = ?1 AND state = 'pending'",
                                [&id],
                            )?;
                        }
                    }
                }
                (ChangeOp::Upsert, None) => {
                    tracing::warn!(ty = %c.entity_type, %id, "pull: upsert without data ignored");
                }
                (ChangeOp::Delete, _) => {
                    tx.execute(
                        "DELETE FROM entity WHERE type = ?1 AND id = ?2",
                        params![c.entity_type, id],
                    )?;
                }
            }
        }
        meta_set(&tx, keys::CURSOR, &page.cursor)?;
        meta_set(&tx, keys::OFFSET_MS, &offset_ms)?;
        if !page.has_more {
            applied.complete = true;
            let bootstrapping: bool = meta_get(&tx, keys::BOOTSTRAPPING)?.unwrap_or(false);
            if bootstrapping {
                let swept = tx.execute("DELETE FROM entity WHERE gen < ?1", [gen])?;
                if swept > 0 {
                    tracing::info!(swept, "bootstrap: removed rows the snapshot no longer has");
                }
                meta_set(&tx, keys::BOOTSTRAPPING, &false)?;
            }
            meta_set(&tx, keys::BASELINE_DONE, &true)?;
            tx.execute("DELETE FROM settled WHERE seq <= ?1", [settle_mark])?;
            meta_set(&tx, keys::LAST_SYNC, &now)?;
        }
        tx.commit()?;
        Ok(applied)
    }

    // ------------------------------------------------------------ notifications

    /// Hands out each pending notification once (R-NOT-3): those whose category's push is
    /// on are returned and marked delivered, the others marked skipped, in one transaction.
    pub fn take_notifications(
        &mut self,
        show: &dyn Fn(&Notification) -> bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Notification>> {
        let tx = self.conn.transaction()?;
        let pending: Vec<(String, Option<String>)> = {
            let mut st = tx.prepare(
                "SELECT l.id, e.data FROM notify_log l
                 LEFT JOIN entity e ON e.type = ?1 AND e.id = l.id
                 WHERE l.state = 'pending' ORDER BY l.at, l.id",
            )?;
            let rows = st.query_map([NOTIFICATION_TYPE], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let mut out = Vec::new();
        for (id, data) in pending {
            let n: Option<Notification> = data.and_then(|d| serde_json::from_str(&d).ok());
            let state = match &n {
                Some(n) if !n.read && show(n) => "delivered",
                _ => "skipped",
            };
            tx.execute(
                "UPDATE notify_log SET state = ?2, at = ?3 WHERE id = ?1",
                params![id, state, ts(now)],
            )?;
            if state == "delivered" {
                if let Some(n) = n {
                    out.push(n);
                }
            }
        }
        tx.commit()?;
        out.sort_by_key(|n| (n.created_at, n.id));
        Ok(out)
    }

    pub fn has_pending_notifications(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM notify_log WHERE state = 'pending')",
            [],
            |r| r.get(0),
        )?)
    }
}

/// Removes a replica's files (an unpaired tablet keeps no children's data). Missing files
/// are fine; the connection must be closed first.
pub(crate) fn remove_files(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn parse_entity<T: DeserializeOwned>(ty: &str, v: Value) -> Option<T> {
    match serde_json::from_value(v) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(ty, error = %e, "replica: entity of unexpected shape skipped");
            None
        }
    }
}

fn meta_get<T: DeserializeOwned>(conn: &Connection, key: &str) -> Result<Option<T>> {
    let s: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?;
    match s {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| CoreError::Storage(format!("replica meta {key}: {e}"))),
    }
}

fn meta_set<T: Serialize>(conn: &Connection, key: &str, value: &T) -> Result<()> {
    let s = serde_json::to_string(value).map_err(CoreError::storage)?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, s],
    )?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (version, sql) in MIGRATIONS {
        if *version <= current {
            continue;
        }
        let tx: Transaction<'_> = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| CoreError::Storage(format!("replica migration {version}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// Decodes entity rows; an unreadable one is logged and skipped rather than failing a view.
fn decode_rows(
    ty: &str,
    rows: impl Iterator<Item = rusqlite::Result<String>>,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for s in rows {
        match serde_json::from_str(&s?) {
            Ok(v) => out.push(v),
            Err(e) => tracing::warn!(ty, error = %e, "replica: unreadable entity skipped"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::wire::Change;
    use serde_json::json;

    fn page(cursor: &str, has_more: bool, changes: Vec<Change>) -> PullResponse {
        PullResponse {
            cursor: cursor.into(),
            has_more,
            server_time: Utc::now(),
            changes,
            commit: None,
        }
    }
    fn up(ty: &str, id: u128, data: Value) -> Change {
        Change {
            entity_type: ty.into(),
            id: Uuid::from_u128(id),
            op: ChangeOp::Upsert,
            data: Some(data),
        }
    }

    #[test]
    fn migrations_apply_once_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.sqlite3");
        let a = Replica::open(&p).unwrap();
        let id = a.client_id().unwrap();
        drop(a);
        let b = Replica::open(&p).unwrap();
        assert_eq!(b.client_id().unwrap(), id);
        let v: i64 = b
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2);
    }

    // A replica from before tablet mode keeps its outbox through migration 2.
    #[test]
    fn a_version_1_replica_migrates_with_its_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.sqlite3");
        {
            let conn = Connection::open(&p).unwrap();
            conn.execute_batch(MIGRATIONS[0].1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO outbox (id, name, args, created_at) VALUES (?1, 'care.clear_day', '{}', ?2)",
                params![Uuid::from_u128(1).to_string(), ts(Utc::now())],
            )
            .unwrap();
        }
        let r = Replica::open(&p).unwrap();
        let rows = r.outbox(None).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].id, rows[0].actor), (Uuid::from_u128(1), None));
        assert_eq!(r.seq_mark().unwrap(), 1);
    }

    #[test]
    fn results_move_rows_out_of_the_outbox_in_one_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Replica::open(&dir.path().join("r.sqlite3")).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let lisa = Uuid::from_u128(9);
        r.enqueue(a, "care.clear_day", &json!({}), Utc::now(), Some(lisa))
            .unwrap();
        r.enqueue(b, "care.clear_day", &json!({}), Utc::now(), None)
            .unwrap();
        assert_eq!(r.seq_mark().unwrap(), 2);
        let res = vec![
            MutationResult::applied(a, None),
            MutationResult::rejected(b, &domain::RuleError::new(RejectCode::DayLocked, "late")),
        ];
        let o = r.record_results(&res, Utc::now(), 5).unwrap();
        assert_eq!((o.applied, o.rejected), (1, 1));
        assert_eq!(r.outbox_count().unwrap(), 0);
        let att = r.attention().unwrap();
        assert_eq!(att.len(), 1);
        assert_eq!(att[0].id, b);
        assert_eq!(att[0].code, RejectCode::DayLocked);
        // Answered again (a retry after a crash): nothing changes.
        let o = r.record_results(&res, Utc::now(), 5).unwrap();
        assert_eq!((o.applied, o.rejected), (0, 0));
        let pending = r.pending().unwrap();
        assert_eq!(pending.len(), 1, "the applied one waits for the pull");
        assert_eq!(
            pending[0].actor,
            Some(lisa),
            "the actor travels to `settled`"
        );
        assert!(r.dismiss_attention(b).unwrap());
        assert_eq!(r.attention_count().unwrap(), 0);
    }

    #[test]
    fn a_bootstrap_sweeps_what_the_snapshot_no_longer_has() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Replica::open(&dir.path().join("r.sqlite3")).unwrap();
        r.begin_bootstrap().unwrap();
        r.apply_page(
            &page(
                "c1",
                false,
                vec![up("news", 1, json!({"id": 1})), up("news", 2, json!({}))],
            ),
            0,
            Utc::now(),
            0,
        )
        .unwrap();
        assert_eq!(r.dump().unwrap().len(), 2);
        r.begin_bootstrap().unwrap();
        assert_eq!(r.cursor().unwrap(), None);
        r.apply_page(
            &page("c2", true, vec![up("news", 2, json!({"v": 2}))]),
            0,
            Utc::now(),
            0,
        )
        .unwrap();
        assert_eq!(
            r.dump().unwrap().len(),
            2,
            "nothing swept before the snapshot completes"
        );
        r.apply_page(
            &page("c3", false, vec![up("news", 3, json!({}))]),
            0,
            Utc::now(),
            0,
        )
        .unwrap();
        let ids: Vec<u128> = r
            .dump()
            .unwrap()
            .iter()
            .map(|(_, id, _)| id.as_u128())
            .collect();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(r.cursor().unwrap().as_deref(), Some("c3"));
    }
}
