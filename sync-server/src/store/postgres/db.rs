//! Waiting writes into the database: the [`SavepointDb`] the deferred frames write
//! through, and the group's entity puts as few statements as they can be.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::deferred::{EntityData, PendingOutcome, PendingWrite, SavepointDb};
use crate::store::{EntityRow, EntityValue, StoreError, StoreResult, TxCache};

use super::rows::Tid;
use super::{corrupt, text, Conn};

/// The PostgreSQL side of [`Deferred`](crate::store::deferred::Deferred): waiting puts and outcomes go in as one statement
/// each per run (round trips are what this store's writes cost).
///
/// What it writes is noted in the transaction's cache as the entity's state from then on
/// ([`TxCache::wrote_row`]), which the writer keeps after the commit.
pub(super) struct PgDb<'a>(pub(super) &'a mut Conn, pub(super) &'a mut TxCache);

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
