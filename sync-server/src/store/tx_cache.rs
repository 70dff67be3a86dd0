//! The look-ups a transaction remembers (see [`TxCache`]).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::wire::entity::{Unit, UNIT_TYPE};
use uuid::Uuid;

use super::{ChildRow, DeviceRow, EntityRow, EntityValue, UserRow};

/// Performance: look-ups the rules repeat for every mutation, remembered for the rest of
/// one transaction (a write group, or one read job). A push of a tablet's 40 arrivals reads
/// the same unit (a large JSON document), the same staff member's units and each child's
/// roster row again and again; the writer thread, where every write waits its turn, spent
/// a good part of its time on these. Correctness: an entry is dropped when this
/// transaction writes what it caches (`put_entity`/`delete_entity` of that entity, any
/// roster change), and everything is dropped on every rollback (of a mutation's savepoint
/// or a job's), so a cached answer is always the one the database would give. Nothing
/// outlives the transaction: other connections and other server instances are unaffected.
///
/// A rollback drops the entities, and the roster and units too if this transaction wrote
/// any of them (otherwise they are the committed ones, which a rollback does not change).
///
/// The same holds on PostgreSQL: a write transaction holds the write lock (no other
/// instance writes while it runs) and a read job sees one snapshot. Its writer notes what
/// it writes as it goes in ([`TxCache::wrote_row`]), and keeps all of it for its next
/// transaction while no other instance committed in between (`postgres::writer::writer_loop`).
///
/// The embedded SQLite's writer goes one step further and keeps the roster, the units and
/// the entities it read or wrote from one group commit to the next
/// ([`TxCache::after_commit`]): its thread is the only writer of the database, so after a
/// commit they are the committed state until it writes them again. (The tablet rush read
/// each child's roster row once per commit: a tenth of the writer's time; reading each
/// attendance row back from the database and parsing it was another fifth.) Entities the
/// rules wrote are kept as their typed value (`values`), so the next transaction's rules
/// take that value without a read or a parse.
#[derive(Default)]
pub(crate) struct TxCache {
    pub(crate) entities: HashMap<(String, Uuid), Option<EntityRow>>,
    /// Entities last written by [`Tx::put_entity_value`] in this transaction or (SQLite's
    /// writer) one it kept from: the value as the rules saved it.
    pub(crate) values: HashMap<(String, Uuid), Arc<dyn EntityValue>>,
    /// The address of an entity's row, learnt when it was read or written, so that a put of
    /// it updates the row there instead of an upsert that first looks the (type, id) key up
    /// (SQLite: its rowid, half of the upsert's cost; PostgreSQL: its `ctid`, packed, see
    /// `postgres::db::write_puts`). The update also checks type and id, so an address that no
    /// longer holds the entity only costs the upsert after it.
    pub(crate) rowids: HashMap<(String, Uuid), i64>,
    pub(crate) children: HashMap<Uuid, Option<ChildRow>>,
    pub(crate) staff_units: HashMap<Uuid, Vec<Uuid>>,
    pub(crate) guardians: HashMap<Uuid, Vec<Uuid>>,
    /// Parsed units (`Tx::cached_unit`).
    pub(crate) units: HashMap<Uuid, Arc<Unit>>,
    /// PostgreSQL: the callers of pushes, by token hash (see `PgTx::prefetch_callers`): a
    /// session's person and expiry, or none; a device credential's live device, or none.
    /// Only this writer's own writes change them while it keeps them (a write to users,
    /// tokens or devices forgets them all, a device seen forgets that device).
    pub(crate) sessions: HashMap<String, Option<(UserRow, DateTime<Utc>)>>,
    pub(crate) devices: HashMap<String, Option<DeviceRow>>,
    /// This transaction wrote the roster or a unit: what is cached of them may not be
    /// committed.
    wrote_roster_or_unit: bool,
}

/// Roster rows and units a writer keeps between commits at most (then it starts again).
const KEPT_AT_MOST: usize = 200_000;
/// Entities the same, a few hundred bytes each (a day's attendance and care of 50,000
/// children).
const ENTITIES_KEPT_AT_MOST: usize = 100_000;
/// Rowids the same (about a hundred bytes each).
const ROWIDS_KEPT_AT_MOST: usize = 200_000;

impl TxCache {
    /// A cache that knows only where rows are (the second connection of a split
    /// PostgreSQL group, `postgres::split`).
    pub(crate) fn with_rowids(rowids: HashMap<(String, Uuid), i64>) -> Self {
        TxCache { rowids, ..TxCache::default() }
    }

    /// A savepoint of this transaction, or all of it, was rolled back.
    pub(crate) fn rolled_back(&mut self) {
        self.entities.clear();
        self.values.clear();
        // A rolled-back write forgot them when it was made; what was fetched since is
        // what the database holds without it.
        if self.wrote_roster_or_unit {
            self.units.clear();
            self.drop_roster();
        }
    }
    /// `ty`/`id` is written.
    pub(crate) fn forget(&mut self, ty: &str, id: Uuid) {
        let key = (ty.to_string(), id);
        self.values.remove(&key);
        self.forget_read(&key);
    }
    /// `key` is written: what was read of it is no longer so.
    fn forget_read(&mut self, key: &(String, Uuid)) {
        self.entities.remove(key);
        if key.0 == UNIT_TYPE {
            self.units.remove(&key.1);
            self.wrote_roster_or_unit = true;
        }
    }
    /// This transaction writes the roster.
    pub(crate) fn roster_changed(&mut self) {
        self.wrote_roster_or_unit = true;
        self.drop_roster();
    }
    fn drop_roster(&mut self) {
        self.children.clear();
        self.staff_units.clear();
        self.guardians.clear();
    }
    /// `value` is the latest write of `ty`/`id`.
    pub(crate) fn wrote_value(&mut self, ty: &str, id: Uuid, value: Arc<dyn EntityValue>) {
        let key = (ty.to_string(), id);
        self.forget_read(&key);
        // Replaces the value written before, if any (one look-up, one key made).
        self.values.insert(key, value);
    }
    /// PostgreSQL's writer wrote `row` (in this transaction, possibly in a savepoint that a
    /// rollback forgets), `value` being its typed value if the rules gave one: the entity's
    /// state from then on, until it is written again (which forgets it first).
    pub(crate) fn wrote_row(&mut self, row: EntityRow, value: Option<Arc<dyn EntityValue>>) {
        let key = (row.entity_type.clone(), row.id);
        match value {
            Some(v) => self.values.insert(key.clone(), v),
            None => self.values.remove(&key),
        };
        self.entities.insert(key, Some(row));
    }
    /// Takes in what another transaction of this writer wrote (`wrote_row` there), now
    /// committed: the entities' rows, their typed values where it had them, and where the
    /// rows are.
    pub(crate) fn absorb_written(&mut self, other: TxCache) {
        let TxCache { entities, mut values, rowids, .. } = other;
        self.rowids.extend(rowids);
        for (key, row) in entities {
            match values.remove(&key) {
                Some(v) => self.values.insert(key.clone(), v),
                None => self.values.remove(&key),
            };
            self.entities.insert(key, row);
        }
    }
    /// What the only writer of a database keeps for its next transaction once this one has
    /// committed: the roster, the units and the entities, now committed.
    pub(crate) fn after_commit(mut self) -> TxCache {
        if self.entities.len() + self.values.len() > ENTITIES_KEPT_AT_MOST {
            self.entities.clear();
            self.values.clear();
        }
        if self.rowids.len() > ROWIDS_KEPT_AT_MOST {
            self.rowids.clear();
        }
        self.wrote_roster_or_unit = false;
        if self.sessions.len() + self.devices.len() > KEPT_AT_MOST {
            self.sessions.clear();
            self.devices.clear();
        }
        let kept = self.children.len() + self.staff_units.len() + self.guardians.len() + self.units.len();
        if kept > KEPT_AT_MOST {
            self.units.clear();
            self.drop_roster();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: Uuid, seq: i64) -> EntityRow {
        EntityRow { entity_type: "news".into(), id, scope: "unit:a".into(), seq, deleted: false, data: Some("{}".into()) }
    }

    #[test]
    fn what_another_transaction_wrote_replaces_the_row_and_drops_a_typed_value_it_did_not_write() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut kept = TxCache::default();
        kept.wrote_row(row(a, 1), Some(Arc::new(1u32)));
        kept.wrote_row(row(b, 2), Some(Arc::new(2u32)));
        let mut other = TxCache::default();
        other.wrote_row(row(a, 3), None);
        other.wrote_row(row(b, 4), Some(Arc::new(4u32)));
        kept.absorb_written(other);
        let key = |id| ("news".to_string(), id);
        assert_eq!(kept.entities.get(&key(a)).and_then(|r| r.as_ref()).map(|r| r.seq), Some(3));
        assert!(!kept.values.contains_key(&key(a)), "the old typed value of a is gone");
        let v = kept.values.get(&key(b)).and_then(|v| v.as_any().downcast_ref::<u32>().copied());
        assert_eq!(v, Some(4));
    }

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
}
