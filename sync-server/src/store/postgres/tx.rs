//! The transaction the rules run in ([`Tx`] on PostgreSQL).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use domain::pin::{PinState, PinVerifier};
use domain::wire::MutationResult;
use domain::wire::entity::{Unit, UNIT_TYPE};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::store::deferred::{Deferred, PendingWrite};
use crate::store::scope_heads::ScopeHeads;
use crate::store::{
    ChangeRef, ChildRow, DeviceRow, EntityRow, EntityValue, PairingRow, StaffPin, StoreError, StoreResult,
    TouchedScopes, Tx, TxCache, UserRow,
};

use super::db::PgDb;
use super::people::{People, Person};
use super::rows::{
    child_from_row, count_col, device_from_row, entities, entity_from_row, first_col_uuids, int, pairing_from_row,
    user_cols_of_u, user_from_row, JsonText, CHILD_COLS, DEVICE_COLS, ENTITY_COLS, PAIRING_COLS, USER_COLS,
};
use super::{corrupt, opt_text, text, Conn, KNOWN_SCOPE_SETS, OVERFLOWED_FOR};

pub(super) struct PgTx<'c> {
    /// The connection as is; statements that write, or read `entities` by a query, go
    /// through [`PgTx::conn`] instead.
    pub(super) db: &'c mut Conn,
    pub(super) touched: TouchedScopes,
    pub(super) write: bool,
    /// The roster and parsed units, never entities (see [`TxCache`]).
    pub(super) cache: TxCache,
    /// The open savepoints of jobs and mutations and their waiting writes.
    pub(super) deferred: Deferred,
    /// Performance: the sequence counter (`meta.seq`) of this write transaction, once read;
    /// counted here and written back once before COMMIT (inside the write lock, so still in
    /// commit order). Savepoints restore it on rollback.
    pub(super) seq: Option<i64>,
    seq_dirty: bool,
    /// The counter as this write transaction found it, once it took a number: the
    /// announcement of its commit names the numbers after it (`commits::notify_commit`).
    /// After a split, where the rest's numbers begin (see `split_off_lower_half`).
    pub(super) seq_base: Option<i64>,
    /// Performance: idempotency records fetched for a whole push in one query
    /// ([`Tx::prefetch_outcomes`]): the owner and result text, or none. Exact inside the
    /// write lock; an id whose outcome this transaction stores is dropped from it (the store
    /// is then asked again).
    outcomes: HashMap<Uuid, Option<(Uuid, String)>>,
    /// A read job's person, looked up by token together with what a pull of theirs asks
    /// next (see [`PgTx::person_by_token`]).
    person: Option<PersonRead>,
    /// A reader's: the people its instance remembers between their pulls ([`People`]).
    pub(super) people: Option<&'c People>,
    /// A reader's: the scopes every instance's commits wrote, as its instance recorded them.
    pub(super) heads: Option<&'c ScopeHeads>,
    /// What `heads` told of the pull's scopes when its page was read ahead with the person:
    /// the cursor's number, the scopes read, and the last sequence number recorded by then.
    heard: Option<(i64, Arc<Vec<String>>, i64)>,
    /// What the pull of this read job will likely ask of [`Tx::changes`]: the rows after a
    /// seq, with a limit ([`Tx::expect_changes`]).
    expect: Option<(i64, u32)>,
    /// Those rows, read with the person ([`PgTx::person_by_token`]).
    read_ahead: Option<ReadAhead>,
}

/// Rows of [`Tx::changes`] read before it was asked, in the person's statement: the columns
/// of a change from `offset` on; a row whose type is NULL is no change (the person had none).
struct ReadAhead {
    scopes: Arc<Vec<String>>,
    after: i64,
    limit: u32,
    rows: Vec<postgres::Row>,
    offset: usize,
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
    /// The scopes [`People`] has for the token's next pull (see [`Person::scopes`]).
    scopes: Option<Arc<Vec<String>>>,
}

impl<'c> PgTx<'c> {
    /// The time zone of a unit this transaction has read, parsed once (and kept for the
    /// rules, as `entities::unit` keeps it); `None` if it has not read it or cannot parse it.
    pub(super) fn unit_time_zone(&mut self, id: Uuid) -> Option<domain::time::Tz> {
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

    pub(super) fn new(db: &'c mut Conn, write: bool) -> Self {
        PgTx {
            db,
            touched: BTreeSet::new(),
            write,
            cache: TxCache::default(),
            deferred: Deferred::default(),
            seq: None,
            seq_dirty: false,
            seq_base: None,
            outcomes: HashMap::new(),
            person: None,
            people: None,
            heads: None,
            heard: None,
            expect: None,
            read_ahead: None,
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
    ///
    /// Performance: a person the instance remembers from an earlier pull ([`People`]) is
    /// checked by their `person_gen` alone, read with the counters in this snapshot; about
    /// a third of the database's CPU for a pull that finds a change (2026-12-07).
    fn person_by_token(&mut self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserRow>> {
        let known = self.people.and_then(|p| p.get(token_hash)).filter(|k| k.expires_at > now);
        if let Some(known) = known {
            // Performance: with the changes the pull will likely ask for, read in the same
            // statement (one round trip fewer for a pull that goes to the store), in the
            // scopes written after the cursor as far as this instance has recorded. The pull
            // keeps those only if its snapshot holds no commit recorded later
            // ([`Tx::scopes_written_after`]).
            let ahead = self.expect.zip(known.scopes.clone()).map(|((after, limit), scopes)| {
                match self.heads.and_then(|h| h.view(&scopes, after)) {
                    Some((written, heard)) => {
                        let written = Arc::new(written);
                        self.heard = Some((after, written.clone(), heard));
                        ((after, limit), written)
                    }
                    None => ((after, limit), scopes),
                }
            });
            let rows = match &ahead {
                Some(((after, limit), scopes)) => self.db.query(
                    "SELECT u.person_gen, (SELECT value FROM meta WHERE key = 'seq'),
                         (SELECT value FROM meta WHERE key = 'min_cursor_seq'),
                         e.type, e.id, e.seq, e.data, e.deleted
                     FROM users u LEFT JOIN LATERAL
                         (SELECT type, id, seq, data, deleted FROM entities
                          WHERE scope = ANY($2) AND seq > $3 LIMIT $4) e ON true
                     WHERE u.id = $1",
                    // As `Tx::changes` reads: one row more than its limit.
                    &[&known.user.id, scopes.as_ref(), after, &(i64::from(*limit) + 1)],
                )?,
                None => self
                    .db
                    .query_opt(
                        "SELECT person_gen, (SELECT value FROM meta WHERE key = 'seq'),
                             (SELECT value FROM meta WHERE key = 'min_cursor_seq')
                         FROM users WHERE id = $1",
                        &[&known.user.id],
                    )?
                    .into_iter()
                    .collect(),
            };
            let same = rows.first().is_some_and(|r| r.try_get::<_, i64>(0).is_ok_and(|g| g == known.person_gen));
            if let (true, Some(r)) = (same, rows.first()) {
                let (seq, min_cursor_seq) = (r.try_get(1).map_err(corrupt)?, r.try_get(2).map_err(corrupt)?);
                let mut children = Vec::with_capacity(known.children.len());
                for (id, child) in known.children {
                    children.push(id);
                    self.cache.children.insert(id, child);
                }
                self.person = Some(PersonRead {
                    token_hash: token_hash.to_string(),
                    user_id: known.user.id,
                    expires_at: known.expires_at,
                    children,
                    threads: known.threads,
                    seq,
                    min_cursor_seq,
                    scopes: known.scopes.clone(),
                });
                if let Some(((after, limit), scopes)) = ahead {
                    self.read_ahead = Some(ReadAhead { scopes, after, limit, rows, offset: 3 });
                }
                return Ok(Some(known.user));
            }
        }
        self.read_person_by_token(token_hash, now)
    }

    /// [`PgTx::person_by_token`] read from the tables, and remembered in [`People`].
    fn read_person_by_token(&mut self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserRow>> {
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
                     ARRAY(SELECT group_id FROM child_groups WHERE child_id = c.id ORDER BY group_id),
                     u.person_gen
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
        let person = PersonRead {
            token_hash: token_hash.to_string(),
            user_id: user.id,
            expires_at: first.try_get(at(0)).map_err(corrupt)?,
            children,
            threads: first.try_get(at(1)).map_err(corrupt)?,
            seq: first.try_get(at(2)).map_err(corrupt)?,
            min_cursor_seq: first.try_get(at(3)).map_err(corrupt)?,
            scopes: None,
        };
        if let Some(people) = self.people {
            let children = person.children.iter().map(|id| (*id, self.cache.children.get(id).cloned().flatten())).collect();
            people.remember(
                token_hash,
                Person {
                    user: user.clone(),
                    person_gen: first.try_get(at(10)).map_err(corrupt)?,
                    expires_at: person.expires_at,
                    children,
                    threads: person.threads.clone(),
                    scopes: None,
                },
            );
        }
        self.person = Some(person);
        Ok(Some(user))
    }

    /// Counts up `user_id`'s `person_gen` in this transaction: what a pull reads of them
    /// with their token changed, and what any instance remembers of it is stale ([`People`]).
    fn person_changed(&mut self, user_id: Uuid) -> StoreResult<()> {
        self.conn()?.execute("UPDATE users SET person_gen = person_gen + 1 WHERE id = $1", &[&user_id])?;
        Ok(())
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
            None => {
                let found = self.meta("seq")?;
                self.seq_base.get_or_insert(found);
                found + 1
            }
        };
        self.seq = Some(next);
        self.seq_dirty = true;
        Ok(next)
    }

    /// Writes the counter back; the writer calls it right before COMMIT.
    pub(super) fn flush_seq(&mut self) -> StoreResult<()> {
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
        // A page after a cursor, as a pull asks it: read with the person when they asked
        // exactly this, and what the next pull with the token reads ahead.
        let page_after_cursor = !self.write && up_to.is_none() && limit.is_some() && !live_only;
        let read_ahead = self.read_ahead.take().filter(|a| {
            page_after_cursor && a.after == after && Some(a.limit) == limit && *a.scopes == scopes
        });
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
        let people = self.people;
        let conn = self.conn()?;
        let key = cap.map(|_| {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(scopes, &mut h);
            std::hash::Hasher::finish(&h)
        });
        let known_large = key.is_some_and(|k| conn.overflowed.get(&k).is_some_and(|at| at.elapsed() < OVERFLOWED_FOR));
        // Where a change's columns begin in `rows`.
        let mut offset = 0;
        let mut rows = if known_large {
            Vec::new()
        } else if let Some(a) = read_ahead {
            if let Some(people) = people {
                people.count_read_ahead();
            }
            offset = a.offset;
            // The person's one row when they had no change.
            let mut rows = a.rows;
            rows.retain(|r| r.try_get::<_, Option<&str>>(a.offset).is_ok_and(|t| t.is_some()));
            rows
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
            offset = 0;
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
                keyed.push((r.try_get::<_, i64>(offset + 2).map_err(corrupt)?, r));
            }
            keyed.sort_unstable_by_key(|(seq, _)| *seq);
            rows = keyed.into_iter().map(|(_, r)| r).collect();
        }
        // Performance: the columns a change needs, `data` as the text it is stored as (see
        // [`JsonText`]) rather than cast to `text`.
        for r in &rows {
            visit(ChangeRef {
                entity_type: r.try_get(offset).map_err(corrupt)?,
                id: r.try_get(offset + 1).map_err(corrupt)?,
                seq: r.try_get(offset + 2).map_err(corrupt)?,
                deleted: !live_only && r.try_get(offset + 4).map_err(corrupt)?,
                data: r.try_get::<_, Option<JsonText<'_>>>(offset + 3).map_err(corrupt)?.map(|j| j.0),
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

    fn scopes_written_after(&mut self, scopes: &[String], after: i64, max_seq: i64) -> Option<Vec<String>> {
        // The scopes a pull of this person asks are read ahead with them next time
        // ([`PgTx::person_by_token`]).
        if let (Some(p), Some(people)) = (&self.person, self.people) {
            if !self.write && p.scopes.as_deref().is_none_or(|known| known != scopes) {
                people.remember_scopes(&p.token_hash, Arc::new(scopes.to_vec()));
            }
        }
        let heads = self.heads?;
        // As read ahead, while this snapshot holds no commit recorded since: later commits
        // only add scopes written above `max_seq`, none of whose rows this snapshot holds.
        if let Some((read_after, written, heard)) = self.heard.take() {
            let asked = self.person.as_ref().and_then(|p| p.scopes.as_deref()).is_some_and(|known| known == scopes);
            if asked && read_after == after && max_seq <= heard {
                heads.count_skipped(scopes.len() - written.len());
                if written.is_empty() {
                    // The page, empty, was read with the person all the same.
                    if let Some(people) = self.people {
                        people.count_read_ahead();
                    }
                }
                return Some(written.to_vec());
            }
        }
        // Read ahead in every scope: those rows are here already.
        if self.read_ahead.as_ref().is_some_and(|a| a.after == after && *a.scopes == scopes) {
            return None;
        }
        heads.written_after(scopes, after, max_seq)
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

    fn expect_changes(&mut self, after: i64, limit: u32) {
        if !self.write {
            self.expect = Some((after, limit));
        }
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
        let row = self.conn()?.query_opt("DELETE FROM tokens WHERE token_hash = $1 RETURNING user_id", &[&text(token_hash)])?;
        let Some(r) = row else { return Ok(false) };
        self.person_changed(r.try_get(0).map_err(corrupt)?)?;
        Ok(true)
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
        let n = self.conn()?.execute(
            "INSERT INTO guardianships (guardian_id, child_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&guardian_id, &child_id],
        )?;
        if n > 0 {
            self.person_changed(guardian_id)?;
        }
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
        if n > 0 {
            self.person_changed(guardian_id)?;
        }
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
            self.person_changed(user_id)?;
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
