//! The transaction the rules run in ([`Tx`] on SQLite).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::pin::{PinState, PinVerifier};
use domain::wire::MutationResult;
use domain::wire::entity::Unit;
use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::store::deferred::{Deferred, PendingWrite};
use crate::store::{
    ChangeRef, ChildRow, DeviceRow, EntityRow, EntityValue, PairingRow, StaffPin, StoreError, StoreResult,
    TouchedScopes, Tx, TxCache, UserRow,
};

use super::db::SqliteDb;
use crate::store::scope_heads::ScopeHeads;
use super::rows::{
    change_ref, device_from_row, entity_from_row, in_list, opt_ts_col, pairing_from_row, ts, user_from_row, uuid_col,
    uuids, DEVICE_COLS, ENTITY_COLS, PAIRING_COLS, USER_COLS,
};

/// Scopes whose ranges [`Tx::changes`] reads side by side, each with a statement of its
/// own: a guardian has a dozen scopes plus one per message thread (43 in the benchmark's
/// families); a caller with more (staff, tablets, admins: every child of a unit) reads
/// them in turn. Twice this many statements (with and without tombstones) stay well inside
/// [`STATEMENT_CACHE`](super::STATEMENT_CACHE).
pub(super) const MERGE_SLOTS: usize = 64;

/// Mutation ids [`Tx::prefetch_outcomes`] asks for in one statement at most.
pub(super) const OUTCOMES_PER_STATEMENT: usize = 250;

pub(super) struct SqliteTx<'c> {
    /// The connection as is; statements that write, or read `entities`, go through
    /// [`SqliteTx::conn`] instead.
    pub(super) db: &'c Connection,
    pub(super) touched: TouchedScopes,
    pub(super) cache: TxCache,
    /// Performance: the sequence counter (`meta.seq`) of this transaction, once read. Every
    /// entity write takes the next number; counting here and writing `meta.seq` once before
    /// the commit spares an UPDATE of the meta row per entity, and the copy of its page into
    /// the savepoint journal of every mutation. Savepoints keep the value they started with
    /// (`Frame::seq`) and a rollback restores it, so the numbers handed out are exactly those
    /// the database counter would have given.
    seq: Option<i64>,
    seq_dirty: bool,
    /// The counter as this transaction first read it (the writer records the numbers it
    /// handed out after it, `ScopeHeads::record`).
    seq_start: Option<i64>,
    /// A reader's view of the scopes the writer wrote ([`Tx::scopes_written_after`]).
    pub(super) heads: Option<&'c ScopeHeads>,
    /// This transaction wrote `users` or `tokens` (even if rolled back since: counting one
    /// too many only costs a store trip).
    pub(super) wrote_sessions: bool,
    /// The open savepoints of jobs and mutations and their waiting writes.
    pub(super) deferred: Deferred,
    /// Outcomes of a push's mutation ids read at once ([`Tx::prefetch_outcomes`]): the
    /// owner and result text, or none. Exact for the rest of the transaction: outcomes are
    /// only ever added, and storing one drops its entry here.
    pub(super) outcomes: HashMap<Uuid, Option<(String, String)>>,
}

impl<'c> SqliteTx<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        Self::with_cache(conn, TxCache::default())
    }

    /// A transaction starting with what the writer kept from its last commit.
    pub(super) fn with_cache(conn: &'c Connection, cache: TxCache) -> Self {
        SqliteTx {
            db: conn,
            touched: BTreeSet::new(),
            cache,
            seq: None,
            seq_dirty: false,
            seq_start: None,
            heads: None,
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

impl SqliteTx<'_> {
    fn stored_seq(&self) -> StoreResult<i64> {
        Ok(self.db.prepare_cached("SELECT value FROM meta WHERE key = 'seq'")?.query_row([], |r| r.get(0))?)
    }

    pub(super) fn next_seq(&mut self) -> StoreResult<i64> {
        let next = match self.seq {
            Some(s) => s + 1,
            None => {
                let stored = self.stored_seq()?;
                self.seq_start.get_or_insert(stored);
                stored + 1
            }
        };
        self.seq = Some(next);
        self.seq_dirty = true;
        Ok(next)
    }

    /// The counter as first read and the last number handed out, if this transaction
    /// numbered writes that are still in it.
    pub(super) fn numbered(&self) -> Option<(i64, i64)> {
        self.seq_start.zip(self.seq).filter(|(start, end)| end > start)
    }

    /// Writes the counter back; the writer calls it right before COMMIT.
    pub(super) fn flush_seq(&mut self) -> StoreResult<()> {
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

    fn scopes_written_after(&mut self, scopes: &[String], after: i64, max_seq: i64) -> Option<Vec<String>> {
        self.heads?.written_after(scopes, after, max_seq)
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
