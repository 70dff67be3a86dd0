//! What a write group will look up, fetched before its jobs run, in a few queries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::wire::entity::{ATTENDANCE_TYPE, UNIT_TYPE};
use uuid::Uuid;

use crate::store::{ReadHint, StoreResult, Tx};

use super::corrupt;
use super::rows::{
    child_from_row, device_from_row, entity_from_row, user_cols_of_u, user_from_row, Tid, CHILD_COLS, DEVICE_COLS,
    ENTITY_COLS,
};
use super::tx::PgTx;

impl PgTx<'_> {
    /// A group commit's [`ReadHint`], fetched before its jobs run (see `run_batch`): the
    /// outcomes, the children and their guardians, and the named records together with
    /// the children's units, in four queries. Inside the write lock, like the look-ups'
    /// own prefetches, and kept the same way (a write or a rollback forgets what it
    /// changes).
    pub(super) fn prefetch_group(&mut self, hint: &ReadHint) -> StoreResult<()> {
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
    pub(super) fn callers_changed(&mut self) {
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
}
