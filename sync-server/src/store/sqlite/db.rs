//! Waiting writes into the database: the [`SavepointDb`] the deferred frames write through.

use std::collections::HashMap;

use rusqlite::{params, Connection};
use uuid::Uuid;

use crate::store::StoreResult;
use crate::store::deferred::{PendingWrite, SavepointDb};

use super::exec;

/// The SQLite side of [`Deferred`](crate::store::deferred::Deferred), with the rowids of entities it knows
/// ([`TxCache::rowids`](crate::store::TxCache::rowids)).
pub(super) struct SqliteDb<'c, 'r>(pub(super) &'c Connection, pub(super) &'r mut HashMap<(String, Uuid), i64>);

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
